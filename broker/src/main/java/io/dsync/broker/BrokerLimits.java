package io.dsync.broker;

import java.util.regex.Pattern;

/**
 * The explicit limits of the broker's API. Every limit is checked before anything is proposed;
 * crossing one is a {@link ErrorKind#BAD_REQUEST} or {@link ErrorKind#PAYLOAD_TOO_LARGE}.
 *
 * @param maxRecordsPerBatch records in one produce request (default 10,000)
 * @param maxRecordBytes the encoded size of one record (key + value + headers), in bytes
 *     (default 1 MiB)
 * @param maxPartitions partitions of one topic (default 1,024)
 * @param maxFetchRecords {@code max_records} of one fetch (default 10,000)
 * @param maxFetchBytes bytes of record values one fetch returns at most (default 16 MiB)
 * @param maxWaitMs the longest long-poll, in ms (default 60,000)
 * @param writeTimeoutMs how long a write waits to be committed and applied before answering
 *     {@link ErrorKind#OVERLOADED}, in ms (default 10,000)
 * @param maxInFlightPerGroup records one queue group may hold leased at once on one topic
 *     (default 10,000); a lease at the cap gets fewer records or none
 * @param maxLeaseRecords {@code max_records} of one lease (default 1,000)
 * @param maxLeaseIds lease ids in one ack, release, reject or extend (default 1,000)
 * @param maxVisibilityTimeoutMs the longest lease, in ms (default 12 h, as SQS)
 */
public record BrokerLimits(
    int maxRecordsPerBatch,
    int maxRecordBytes,
    int maxPartitions,
    int maxFetchRecords,
    long maxFetchBytes,
    long maxWaitMs,
    long writeTimeoutMs,
    int maxInFlightPerGroup,
    int maxLeaseRecords,
    int maxLeaseIds,
    long maxVisibilityTimeoutMs) {

  /** Topic and group names: Kafka's rule, 1-249 characters of {@code [a-zA-Z0-9._-]}. */
  public static final Pattern NAME = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

  /** Header keys: 1-256 characters, header values up to 4096 characters. */
  public static final int MAX_HEADER_KEY = 256;

  /** @see #MAX_HEADER_KEY */
  public static final int MAX_HEADER_VALUE = 4096;

  /** The highest record priority (priorities are 0-9). */
  public static final int MAX_PRIORITY = 9;

  /**
   * Queue groups one topic may have at most: each keeps cursors and in-flight state on every
   * replica until the topic is deleted, so a client that invents a group per request must not
   * grow every node's heap without bound. A lease for one more group is a 409.
   */
  public static final int MAX_QUEUE_GROUPS_PER_TOPIC = 1_000;

  /** The queue limits' defaults; see the record's parameters. */
  static final int DEFAULT_MAX_IN_FLIGHT_PER_GROUP = 10_000;

  /** The limits of the topics and records API with the queue limits' defaults. */
  public BrokerLimits(int maxRecordsPerBatch, int maxRecordBytes, int maxPartitions, int maxFetchRecords,
      long maxFetchBytes, long maxWaitMs, long writeTimeoutMs) {
    this(maxRecordsPerBatch, maxRecordBytes, maxPartitions, maxFetchRecords, maxFetchBytes, maxWaitMs, writeTimeoutMs,
        DEFAULT_MAX_IN_FLIGHT_PER_GROUP, 1_000, 1_000, 12L * 3600 * 1000);
  }

  /** @return the defaults listed on the record */
  public static BrokerLimits defaults() {
    return new BrokerLimits(10_000, 1 << 20, 1024, 10_000, 16L << 20, 60_000, 10_000);
  }

  /** @return a copy with another {@link #maxInFlightPerGroup} */
  public BrokerLimits withMaxInFlightPerGroup(int n) {
    return new BrokerLimits(maxRecordsPerBatch, maxRecordBytes, maxPartitions, maxFetchRecords, maxFetchBytes, maxWaitMs,
        writeTimeoutMs, n, maxLeaseRecords, maxLeaseIds, maxVisibilityTimeoutMs);
  }

  /** @throws IllegalArgumentException if a limit is not positive */
  public BrokerLimits {
    if (maxRecordsPerBatch < 1 || maxRecordBytes < 1 || maxPartitions < 1 || maxFetchRecords < 1
        || maxFetchBytes < 1 || maxWaitMs < 0 || writeTimeoutMs < 1 || maxInFlightPerGroup < 1
        || maxLeaseRecords < 1 || maxLeaseIds < 1 || maxVisibilityTimeoutMs < 1) {
      throw new IllegalArgumentException("broker limits must be positive");
    }
  }

  /**
   * @param what "topic" or "group", for the message
   * @param name the name to check
   * @throws BrokerException BAD_REQUEST if the name breaks {@link #NAME}
   */
  public static void checkName(String what, String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new BrokerException(
          ErrorKind.BAD_REQUEST,
          what + " name must be 1-249 characters of [a-zA-Z0-9._-], got "
              + (name == null ? "none" : "'" + abbreviate(name) + "'"));
    }
  }

  static String abbreviate(String s) {
    return s.length() <= 64 ? s : s.substring(0, 64) + "...";
  }
}
