package io.dsync.raft;

import java.util.Map;
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

  /**
   * Replaces the address book with the members of the cluster configuration, after a
   * membership change (Ongaro thesis §4): new members are connected, removed ones forgotten.
   * Thread-safe. The default does nothing (transports that route by id alone).
   *
   * @param raftAddresses every member's {@code host:port} by id, this node's included (ignored);
   *     members with an empty address are kept as they are
   */
  default void updatePeers(Map<String, String> raftAddresses) {}

  /** @return whether this transport can reach other nodes at all ({@link #LOCAL} cannot) */
  default boolean reachesPeers() {
    return true;
  }

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
        public boolean reachesPeers() {
          return false;
        }

        @Override
        public void close() {}
      };
}
