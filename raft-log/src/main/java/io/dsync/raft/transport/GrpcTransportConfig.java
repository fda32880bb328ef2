package io.dsync.raft.transport;

/**
 * Every tunable of {@link GrpcTransport}, its default and its validation, in one place.
 *
 * @param queueCapacity frames waiting per peer at most (default 4096); when full the oldest
 *     waiting frame is dropped to make room (see {@link GrpcTransport})
 * @param maxQueueBytes encoded bytes waiting per peer at most (default 64 MiB; at least
 *     {@code maxFrameBytes}); past it the oldest frames are dropped
 * @param maxQueueAgeMs a message that waited longer than this for its stream, in ms, is dropped
 *     instead of sent (default 10,000): after an outage the peer gets recent messages, not a
 *     backlog of stale heartbeats
 * @param reconnectInitialMs the first reconnect delay after a stream fails, in ms (default 50)
 * @param reconnectMaxMs the reconnect delay doubles per failed attempt up to this, in ms
 *     (default 2,000); each delay is jittered uniformly into [delay/2, delay]
 * @param connectTimeoutMs how long one TCP connect may take, in ms (default 3,000)
 * @param keepAliveTimeMs the client pings an idle connection this often, in ms (default 10,000;
 *     gRPC raises values below 10 s to 10 s); the server accepts pings this often and pings its
 *     callers on the same period
 * @param keepAliveTimeoutMs a ping unanswered this long closes the connection, in ms (default
 *     5,000): a dead or hung peer is noticed within about keepAliveTime + keepAliveTimeout
 * @param maxFrameBytes the largest frame sent or accepted, in bytes (default 32 MiB; must exceed
 *     {@link io.dsync.raft.RaftConfig#maxBatchBytes()} plus entry overhead); a larger outgoing
 *     frame is dropped and logged, a larger incoming one fails its stream
 */
public record GrpcTransportConfig(
    int queueCapacity,
    long maxQueueBytes,
    long maxQueueAgeMs,
    long reconnectInitialMs,
    long reconnectMaxMs,
    int connectTimeoutMs,
    long keepAliveTimeMs,
    long keepAliveTimeoutMs,
    int maxFrameBytes) {

  /**
   * @throws IllegalArgumentException on a non-positive value, an initial delay above the max, or
   *     a byte bound below the frame size
   */
  public GrpcTransportConfig {
    if (queueCapacity < 1
        || maxQueueAgeMs < 1
        || reconnectInitialMs < 1
        || connectTimeoutMs < 1
        || keepAliveTimeMs < 1
        || keepAliveTimeoutMs < 1
        || maxFrameBytes < 1024) {
      throw new IllegalArgumentException("transport settings must be positive (maxFrameBytes >= 1 KiB)");
    }
    if (maxQueueBytes < maxFrameBytes) {
      throw new IllegalArgumentException("maxQueueBytes must be >= maxFrameBytes");
    }
    if (reconnectMaxMs < reconnectInitialMs) {
      throw new IllegalArgumentException("reconnectMaxMs must be >= reconnectInitialMs");
    }
  }

  /** @return the defaults described on the record */
  public static GrpcTransportConfig defaults() {
    return new GrpcTransportConfig(4096, 64L << 20, 10_000, 50, 2_000, 3_000, 10_000, 5_000, 32 << 20);
  }
}
