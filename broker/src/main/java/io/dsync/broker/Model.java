package io.dsync.broker;

import java.util.List;

/** The broker's request and response shapes, independent of JSON. Immutable records. */
public final class Model {
  private Model() {}

  /**
   * Settings of a new topic.
   *
   * @param name topic name ({@link BrokerLimits#NAME})
   * @param partitions number of partitions, 1 to {@link BrokerLimits#maxPartitions()}
   * @param retentionMs how long records are kept, in ms; -1 for ever
   * @param retentionBytes how many bytes per partition are kept; -1 for no bound
   * @param deliveryLimit deliveries of a leased record before it goes to the dead-letter topic
   * @param deadLetterTopic the dead-letter topic's name ({@code {name}.dlq} by default)
   */
  public record TopicConfig(
      String name, int partitions, long retentionMs, long retentionBytes, int deliveryLimit, String deadLetterTopic) {}

  /**
   * A partition's offsets: records {@code [startOffset, endOffset)} are readable.
   *
   * @param partition the partition number, from 0
   * @param startOffset the first readable offset
   * @param endOffset the offset the next record gets (the high watermark on this node)
   */
  public record PartitionInfo(int partition, long startOffset, long endOffset) {}

  /**
   * A topic as stored.
   *
   * @param config its settings
   * @param createdMs when it was created (leader clock, ms since the epoch)
   * @param partitions each partition's offsets
   */
  public record TopicInfo(TopicConfig config, long createdMs, List<PartitionInfo> partitions) {}

  /** A record header (ordered, duplicates allowed, as in Kafka). */
  public record Header(String key, String value) {}

  /**
   * A record to produce.
   *
   * @param key the partitioning key, or {@code null} to spread records evenly
   * @param value the value bytes: UTF-8 JSON text, or opaque bytes when {@code binary}
   * @param binary whether the value is opaque bytes (sent and returned as base64)
   * @param headers headers, in order
   * @param priority 0-9, higher is leased first
   */
  public record RecordIn(String key, byte[] value, boolean binary, List<Header> headers, int priority) {}

  /**
   * Where a produced record landed.
   *
   * @param partition its partition
   * @param offset its offset in that partition
   */
  public record RecordPosition(int partition, long offset) {}

  /**
   * A record read back.
   *
   * @param offset its offset
   * @param key its key or {@code null}
   * @param value value bytes (UTF-8 JSON text unless {@code binary})
   * @param binary whether the value is opaque bytes
   * @param headers its headers
   * @param priority its priority
   * @param timestampMs when the leader appended it, ms since the epoch
   */
  public record FetchedRecord(
      long offset, String key, byte[] value, boolean binary, List<Header> headers, int priority, long timestampMs) {}

  /**
   * The answer of a fetch.
   *
   * @param records the records, in offset order
   * @param nextOffset the offset to fetch next
   * @param highWatermark the partition's end offset on this node
   */
  public record FetchResult(List<FetchedRecord> records, long nextOffset, long highWatermark) {}

  /**
   * A consumer group's committed offset for one partition.
   *
   * @param topic the topic
   * @param partition the partition
   * @param offset the next offset the group will read
   */
  public record CommittedOffset(String topic, int partition, long offset) {}

  /**
   * A record handed out by a lease (queue consumption).
   *
   * @param leaseId names this delivery ({@link LeaseId}); ack, release, reject or extend with it
   * @param partition the record's partition
   * @param deliveryCount which delivery this is: 1 the first time, +1 per redelivery
   * @param leaseExpiresMs when the lease ends, ms since the epoch on the leader's clock (the
   *     lease entry's timestamp + the visibility timeout); after it the record is redelivered
   * @param record the record (offset, key, value, headers, priority, timestamp)
   */
  public record LeasedRecord(String leaseId, int partition, int deliveryCount, long leaseExpiresMs,
      FetchedRecord record) {}

  /**
   * A lease whose expiry an extend moved.
   *
   * @param leaseId the lease id, as the client sent it
   * @param leaseExpiresMs its new expiry, ms since the epoch on the leader's clock
   */
  public record ExtendedLease(String leaseId, long leaseExpiresMs) {}

  /**
   * The answer to an ack, release, reject or extend.
   *
   * @param settled how many leases were acked, released, rejected or extended
   * @param deadLettered of those, how many records went to the dead-letter topic (every reject;
   *     a release of a record that reached the delivery limit)
   * @param unknown the lease ids (as sent, in request order) that name no live lease of the
   *     group: unknown, expired, of an earlier delivery, or already settled
   * @param extended for an extend, each extended lease with its new expiry; empty otherwise
   */
  public record LeaseOutcome(int settled, int deadLettered, List<String> unknown, List<ExtendedLease> extended) {}

  /**
   * What retention did on one node since it started (each node counts what it applies itself;
   * not persisted). Retention: docs/architecture.md, "Retention".
   *
   * @param removedRecords records removed by retention
   * @param removedBytes their bytes, as {@code retention_bytes} counts them (stored value lengths)
   * @param undeliveredRecords (record, queue group) pairs where retention removed a record that
   *     the group — existing at the time — had not yet leased: records that group never receives
   * @param pinnedPartitions partitions whose retention is held back right now by a record in
   *     flight for some queue group (as of the last tick; 0 after a restart until a tick)
   */
  public record RetentionStats(long removedRecords, long removedBytes, long undeliveredRecords, int pinnedPartitions) {}
}
