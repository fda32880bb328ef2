package io.dsync.raft.transport;

import io.dsync.raft.RaftMessage;
import io.dsync.raft.Transport;
import java.util.function.Consumer;

/**
 * One node's {@link Transport} on an {@link InMemoryNetwork}; made by {@link
 * InMemoryNetwork#join}. Sending only puts the message in flight; the network's driver decides
 * when (and whether) it is delivered. Thread-safe.
 */
public final class InMemoryTransport implements Transport {
  private final InMemoryNetwork network;
  private final String nodeId;
  private volatile Consumer<RaftMessage> receiver;

  InMemoryTransport(InMemoryNetwork network, String nodeId) {
    this.network = network;
    this.nodeId = nodeId;
  }

  /** @return the node id this transport joined with */
  public String nodeId() {
    return nodeId;
  }

  /**
   * Puts {@code message} in flight (or drops it if this transport is closed or the link is
   * blocked). Never blocks.
   *
   * @throws IllegalArgumentException if {@code message.from()} is not this node: a bug in the
   *     caller, surfaced at once in a simulation
   */
  @Override
  public void send(RaftMessage message) {
    network.send(this, message);
  }

  /**
   * Registers the receiver; messages delivered before this are dropped.
   *
   * @param receiver called on the thread that calls {@link InMemoryNetwork#deliver}
   */
  @Override
  public void onReceive(Consumer<RaftMessage> receiver) {
    this.receiver = receiver;
  }

  /** Takes this node off the network, dropping its messages in flight. Idempotent. */
  @Override
  public void close() {
    network.leave(this);
  }

  Consumer<RaftMessage> receiver() {
    return receiver;
  }
}
