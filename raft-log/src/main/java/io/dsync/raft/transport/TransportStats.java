package io.dsync.raft.transport;

import java.util.EnumMap;
import java.util.Map;

/**
 * A snapshot of a transport's counters since it started. Immutable.
 *
 * @param sent frames handed to a peer's stream
 * @param received messages handed to this node's receiver
 * @param authRefusals incoming calls refused for bad or missing cluster credentials
 * @param streamFailures outgoing streams that ended (each is followed by a reconnect)
 * @param dropped messages dropped, by reason (every reason present, zero if none)
 */
public record TransportStats(
    long sent, long received, long authRefusals, long streamFailures, Map<DropReason, Long> dropped) {

  /** Copies {@code dropped} and fills missing reasons with zero. */
  public TransportStats {
    EnumMap<DropReason, Long> all = new EnumMap<>(DropReason.class);
    for (DropReason r : DropReason.values()) {
      all.put(r, dropped.getOrDefault(r, 0L));
    }
    dropped = Map.copyOf(all);
  }

  /** @return the messages dropped for {@code reason} */
  public long dropped(DropReason reason) {
    return dropped.get(reason);
  }

  /** Why a message was dropped. Raft tolerates every one of these like a lost packet. */
  public enum DropReason {
    /** Outgoing: the peer's queue was full (frames or bytes); the oldest frame made room. */
    QUEUE_FULL,
    /** Outgoing: waited longer than {@link GrpcTransportConfig#maxQueueAgeMs()}. */
    STALE,
    /** Outgoing: addressed to a node that is not a known peer, or sent with another node's id. */
    UNKNOWN_PEER,
    /** Outgoing: its frame exceeds {@link GrpcTransportConfig#maxFrameBytes()}. */
    TOO_LARGE,
    /** Incoming: not decodable (e.g. a body type from a newer build); outgoing: not encodable. */
    MALFORMED,
    /** Incoming: the frame's {@code from} is not the authenticated caller. */
    WRONG_SENDER,
    /** Incoming: the frame's {@code to} is not this node. */
    WRONG_RECEIVER,
    /** Incoming: no receiver registered yet, or the receiver threw. */
    NO_RECEIVER,
    /** Either way: the transport (or the in-memory link) was closed or partitioned. */
    CLOSED,
    /** Either way: the peer is cut off by the fault-injection test hook {@link GrpcTransport#isolate}. */
    ISOLATED
  }
}
