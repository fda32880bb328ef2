package io.dsync.raft.transport;

import com.google.protobuf.InvalidProtocolBufferException;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.proto.RaftFrame;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * A network of {@link InMemoryTransport}s in one JVM for the deterministic simulation and tests.
 * It has no threads and no clock: a sent message waits in flight until the caller decides what
 * happens to it, so a seeded simulation controls delivery order, loss, delay, duplication and
 * partitions, and reruns identically from its seed.
 *
 * <h2>API</h2>
 *
 * <ul>
 *   <li>{@link #join(String)} makes a node's transport; {@link InMemoryTransport#close()} takes
 *       it off the network (a crash): every message in flight to or from it is dropped, as a real
 *       connection's would be. The same id may {@link #join} again afterwards (a restart).
 *   <li>{@link InMemoryTransport#send} appends an {@link Envelope} to the in-flight list with the
 *       next sequence number; {@link #pending()} lists them in send order.
 *   <li>The caller then picks, in any order: {@link #deliver} (hand to the receiver now), {@link
 *       #drop} (lose), {@link #duplicate} (send the same message again as a new envelope), or
 *       leaves it pending (delay). Delivering envelopes out of sequence order is a reorder.
 *       {@link #deliverAll()} delivers everything pending in send order (FIFO, no faults).
 *   <li>Partitions: {@link #block}/{@link #unblock} one direction of one link, {@link #isolate}/
 *       {@link #rejoin} a node from every link, {@link #healAll()}. A blocked link drops the
 *       message at send time, and at delivery time if it was blocked while in flight.
 * </ul>
 *
 * <p>Receivers run synchronously on the thread that calls {@link #deliver}, outside the network's
 * lock, so a receiver may send (its messages become pending, never delivered recursively).
 * Exceptions from a receiver propagate to the caller: in a simulation they are bugs to see.
 *
 * <p>With {@code throughCodec}, every message is encoded to bytes by {@link WireCodec} and decoded
 * back at send time, so the simulation also exercises the wire format and receivers never share
 * objects with senders.
 *
 * <p>Thread-safe (every method synchronizes on the network), though a deterministic simulation
 * drives it from one thread.
 */
public final class InMemoryNetwork {
  /**
   * One message in flight.
   *
   * @param seq its sequence number, unique in this network and increasing in send order
   * @param message the message; {@code message.from()}/{@code to()} say where it goes
   */
  public record Envelope(long seq, RaftMessage message) {}

  private final boolean throughCodec;
  private final Map<String, InMemoryTransport> nodes = new TreeMap<>();
  private final LinkedHashMap<Long, Envelope> inFlight = new LinkedHashMap<>();
  private final Set<List<String>> blocked = new HashSet<>();
  private final Set<String> isolated = new HashSet<>();
  private long nextSeq = 1;
  private long delivered;
  private long dropped;

  /** A network that hands messages over as objects (fastest). */
  public InMemoryNetwork() {
    this(false);
  }

  /** @param throughCodec whether every message makes a round trip through {@link WireCodec} */
  public InMemoryNetwork(boolean throughCodec) {
    this.throughCodec = throughCodec;
  }

  /**
   * Puts a node on the network.
   *
   * @param nodeId the node's id
   * @return its transport, open until {@link InMemoryTransport#close()}
   * @throws IllegalStateException if a node with this id is already on the network
   */
  public synchronized InMemoryTransport join(String nodeId) {
    if (nodes.containsKey(nodeId)) {
      throw new IllegalStateException(nodeId + " is already on the network");
    }
    InMemoryTransport t = new InMemoryTransport(this, nodeId);
    nodes.put(nodeId, t);
    return t;
  }

  /** @return the envelopes in flight, in send order; a snapshot */
  public synchronized List<Envelope> pending() {
    return List.copyOf(inFlight.values());
  }

  /** @return how many envelopes are in flight */
  public synchronized int pendingCount() {
    return inFlight.size();
  }

  /**
   * Takes {@code envelope} out of flight and hands its message to the receiver, on this thread.
   *
   * @return true if a receiver got it; false if it was not in flight (already delivered or
   *     dropped), or was dropped now because its link is blocked or its receiver is not on the
   *     network or registered no receiver
   */
  public boolean deliver(Envelope envelope) {
    Consumer<RaftMessage> receiver;
    synchronized (this) {
      if (inFlight.remove(envelope.seq()) == null) {
        return false;
      }
      RaftMessage m = envelope.message();
      InMemoryTransport to = nodes.get(m.to());
      receiver = to == null ? null : to.receiver();
      if (receiver == null || isBlocked(m.from(), m.to())) {
        dropped++;
        return false;
      }
      delivered++;
    }
    receiver.accept(envelope.message());
    return true;
  }

  /**
   * Delivers every envelope in flight when called, in send order; messages sent by receivers
   * meanwhile stay pending.
   *
   * @return how many were handed to a receiver
   */
  public int deliverAll() {
    int n = 0;
    for (Envelope e : pending()) {
      if (deliver(e)) {
        n++;
      }
    }
    return n;
  }

  /**
   * Loses {@code envelope}.
   *
   * @return false if it was not in flight
   */
  public synchronized boolean drop(Envelope envelope) {
    if (inFlight.remove(envelope.seq()) == null) {
      return false;
    }
    dropped++;
    return true;
  }

  /**
   * Sends {@code envelope}'s message again, as a new envelope at the end of the in-flight list
   * (whether or not the original is still in flight).
   *
   * @return the new envelope
   */
  public synchronized Envelope duplicate(Envelope envelope) {
    Envelope copy = new Envelope(nextSeq++, envelope.message());
    inFlight.put(copy.seq(), copy);
    return copy;
  }

  /** Blocks messages from {@code from} to {@code to} (one direction) until {@link #unblock}. */
  public synchronized void block(String from, String to) {
    blocked.add(List.of(from, to));
  }

  /** Reopens the link from {@code from} to {@code to}. */
  public synchronized void unblock(String from, String to) {
    blocked.remove(List.of(from, to));
  }

  /** Cuts {@code nodeId} off from every other node, both directions, until {@link #rejoin}. */
  public synchronized void isolate(String nodeId) {
    isolated.add(nodeId);
  }

  /** Undoes {@link #isolate} (links blocked one by one stay blocked). */
  public synchronized void rejoin(String nodeId) {
    isolated.remove(nodeId);
  }

  /** Removes every partition: all blocks and isolations. */
  public synchronized void healAll() {
    blocked.clear();
    isolated.clear();
  }

  /** @return whether messages from {@code from} to {@code to} are currently lost */
  public synchronized boolean isBlocked(String from, String to) {
    return isolated.contains(from) || isolated.contains(to) || blocked.contains(List.of(from, to));
  }

  /** @return messages handed to receivers so far */
  public synchronized long deliveredCount() {
    return delivered;
  }

  /** @return messages lost so far: dropped by the caller, by partitions, or by a node leaving */
  public synchronized long droppedCount() {
    return dropped;
  }

  // --- called by InMemoryTransport ---------------------------------------------------------

  synchronized void send(InMemoryTransport sender, RaftMessage message) {
    if (!message.from().equals(sender.nodeId())) {
      throw new IllegalArgumentException(
          sender.nodeId() + " sent a message claiming to be from " + message.from());
    }
    if (nodes.get(sender.nodeId()) != sender || isBlocked(message.from(), message.to())) {
      dropped++; // a closed node's send, or a partitioned link
      return;
    }
    RaftMessage m = throughCodec ? roundTrip(message) : message;
    Envelope e = new Envelope(nextSeq++, m);
    inFlight.put(e.seq(), e);
  }

  synchronized void leave(InMemoryTransport node) {
    if (nodes.get(node.nodeId()) != node) {
      return;
    }
    nodes.remove(node.nodeId());
    List<Long> gone = new ArrayList<>();
    inFlight.forEach((seq, e) -> {
      if (e.message().from().equals(node.nodeId()) || e.message().to().equals(node.nodeId())) {
        gone.add(seq);
      }
    });
    gone.forEach(inFlight::remove);
    dropped += gone.size();
  }

  private static RaftMessage roundTrip(RaftMessage message) {
    try {
      return WireCodec.decode(RaftFrame.parseFrom(WireCodec.encode(message).toByteArray()));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("a frame we just encoded does not parse", e);
    }
  }
}
