package io.dsync.raft;

import java.util.function.Consumer;

/**
 * Carries {@link RaftMessage}s between peers. Implementations: a network transport for real
 * clusters, an in-memory one for the deterministic simulation, and {@link #LOCAL} for a
 * one-voter group.
 *
 * <p>Delivery is best effort: messages may be lost, duplicated or reordered; Raft copes.
 * {@link #send} must not block on the network.
 */
public interface Transport extends AutoCloseable {
  /** Queues {@code message} for its {@link RaftMessage#to()} peer. Thread-safe. */
  void send(RaftMessage message);

  /** Registers the receiver of messages addressed to this node (called once, before start). */
  void onReceive(Consumer<RaftMessage> receiver);

  /** Stops sending and receiving. */
  @Override
  void close();

  /** A transport for a group with no peers: sending anything is a bug. */
  Transport LOCAL =
      new Transport() {
        @Override
        public void send(RaftMessage message) {
          throw new IllegalStateException("no peers to send to: " + message);
        }

        @Override
        public void onReceive(Consumer<RaftMessage> receiver) {}

        @Override
        public void close() {}
      };
}
