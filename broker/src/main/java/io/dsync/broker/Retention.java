package io.dsync.broker;

import io.dsync.broker.CommandCodec.StoredHeader;
import io.dsync.broker.TopicsStateMachine.Apply;
import io.dsync.broker.TopicsStateMachine.TopicView;
import io.dsync.storage.Bytes;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Topic retention (Kafka's {@code retention.ms} and {@code retention.bytes}), the part of {@link
 * TopicsStateMachine} that removes the oldest records of each partition: those whose timestamp
 * (the produce entry's) is {@code retention_ms} or more before a tick's timestamp, and, per
 * partition, the oldest ones while the partition's retained bytes exceed {@code retention_bytes}.
 * Removal moves the partition's log start offset and deletes the records (one {@code
 * deleteRange}) and their priority-index entries. docs/architecture.md, "Retention", tells the
 * whole story.
 *
 * <p><b>When.</b> Only in apply, at a {@code Tick} entry, at the entry's timestamp ({@link
 * #enforce}); nothing else removes records. The leader proposes ticks when its clock passes
 * {@link TopicsStateMachine#nextDeadlineMs()}, to which this contributes {@link #nextDeadlineMs()}:
 * the earliest due over all partitions — the oldest retained record's timestamp + {@code
 * retention_ms}, or the time a partition grew past its byte bound, or the time an ack released a
 * pin — but not earlier than {@link #CHECK_INTERVAL_MS} after the last tick applied; and at once
 * while a previous tick ran out of budget. So steady traffic causes at most about one tick per
 * second, and an idle topic none.
 *
 * <p><b>Bounded work.</b> One tick examines at most {@link #MAX_RECORDS_PER_TICK} records and
 * {@link #MAX_BYTES_PER_TICK} bytes of record values over all partitions; the rest waits for the
 * next tick, which the leader proposes at once.
 *
 * <p><b>Queue consumption.</b> The start offset of a partition never passes the lowest offset that
 * any queue group has in flight on it ({@code LEASED} or {@code AVAILABLE} again): such a record
 * is <em>pinned</em> until it is acked or dead-lettered ({@link #unpinned}). Records that some
 * queue group never received are removed all the same (as in Kafka); {@link
 * Model.RetentionStats#undeliveredRecords()}
 * counts them, once per group.
 *
 * <p><b>Bytes counted</b> per record: the length of its value in the {@code records} column family,
 * i.e. the encoded {@code StoredRecord} (the producer's encoded record — key, value, headers,
 * priority — plus the timestamp and the priority-index key, about 10–20 bytes). Not the 20-byte
 * key, not the priority-index entry, not RocksDB's overhead or compression.
 *
 * <p><b>Determinism.</b> Which records a tick removes is a function of the applied state and the
 * tick's timestamp only: candidates are the partitions whose first record is due by time ({@code
 * timeDue}, from the stored timestamps) and those over their byte bound (from the stored byte
 * counts), taken in a fixed order, with the budget counted in records and bytes examined. The
 * in-memory marks of pinned partitions only keep them out of the candidates and the deadline;
 * a node that lost them (restart) examines such a partition without reading a record or writing
 * anything, so the outcome is the same.
 *
 * <p>Thread safety: everything but {@link #nextDeadlineMs()} and {@link #stats()} runs on the
 * apply thread; those two may be called from any thread and reflect the last published batch.
 */
final class Retention {
  /** The most records one tick examines, over all partitions. */
  static final int MAX_RECORDS_PER_TICK = 4096;

  /** The most bytes of record values one tick reads, over all partitions (8 MiB). */
  static final long MAX_BYTES_PER_TICK = 8L << 20;

  /**
   * The least time between two ticks that retention asks for, in ms (unless a tick ran out of
   * budget): a record is removed at its due, or up to this much later when a tick ran shortly
   * before, so that steady traffic causes about one tick per second rather than one per produce
   * or ack.
   */
  static final long CHECK_INTERVAL_MS = 1000;

  /** A partition of one topic incarnation. */
  record PartitionRef(long topicId, int partition) implements Comparable<PartitionRef> {
    @Override
    public int compareTo(PartitionRef o) {
      int c = Long.compare(topicId, o.topicId);
      return c != 0 ? c : Integer.compare(partition, o.partition);
    }
  }

  /** When a partition's first record is due for time retention: its timestamp + retention_ms. */
  record Due(long dueMs, PartitionRef ref) implements Comparable<Due> {
    @Override
    public int compareTo(Due o) {
      int c = Long.compare(dueMs, o.dueMs);
      return c != 0 ? c : ref.compareTo(o.ref);
    }
  }

  /** What one tick may still examine. */
  private static final class Budget {
    int records = MAX_RECORDS_PER_TICK;
    long bytes = MAX_BYTES_PER_TICK;

    boolean left() {
      return records > 0 && bytes > 0;
    }
  }

  private final QueueState queue;
  private final Column recordsCf;
  /** Working views of the topics that have retention, by id. */
  private final TreeMap<Long, TopicView> views = new TreeMap<>();
  /** For time-retained partitions with records: the timestamp of the record at the start offset. */
  private final TreeMap<PartitionRef, Long> firstTimestampMs = new TreeMap<>();
  /** Time-retained partitions with records, not pinned, by when their first record is due. */
  private final TreeSet<Due> timeDue = new TreeSet<>();
  /** Byte-retained partitions over their bound, not pinned. */
  private final TreeSet<PartitionRef> overBytes = new TreeSet<>();
  /** Partitions held back by a record in flight for a queue group: the record's offset. */
  private final TreeMap<PartitionRef, Long> pinned = new TreeMap<>();
  /**
   * Deadline hint (ms) besides the time dues: a partition grew past its byte bound, or a pin was
   * released; {@link Long#MAX_VALUE} for none.
   */
  private long wantedAtMs = Long.MAX_VALUE;
  /** The timestamp of the last tick applied (not persisted: a hint). */
  private long lastTickMs = Long.MIN_VALUE;
  /** Deadline hint to continue at once, not rate-limited: the last tick ran out of budget. */
  private long continueAtMs = Long.MAX_VALUE;
  private volatile long nextDeadlineMs = Long.MAX_VALUE;
  private volatile long removedRecords;
  private volatile long removedBytes;
  private volatile long undelivered;
  private volatile int pinnedPartitions;

  /**
   * @param store the node's state store, with the topics' {@code records} column family
   * @param queue the queue state of the same state machine: pins and the priority index
   */
  Retention(StateStore store, QueueState queue) {
    this.queue = queue;
    this.recordsCf = store.column("records");
  }

  /**
   * Rebuilds the bookkeeping from the topics' working views (at start and after a snapshot):
   * reads the first record of every time-retained partition. Pinned marks start empty; the first
   * tick finds them again.
   */
  void load(Collection<TopicView> topics) {
    views.clear();
    firstTimestampMs.clear();
    timeDue.clear();
    overBytes.clear();
    pinned.clear();
    continueAtMs = Long.MAX_VALUE;
    for (TopicView v : topics) {
      if (!hasRetention(v)) {
        continue;
      }
      long id = v.meta().getId();
      views.put(id, v);
      for (int p = 0; p < v.endOffsets().length; p++) {
        PartitionRef ref = new PartitionRef(id, p);
        if (v.startOffsets()[p] < v.endOffsets()[p]) {
          arm(v, ref, v.meta().getRetentionMs() > 0 ? timestampAt(id, p, v.startOffsets()[p]) : null);
        }
      }
    }
    wantedAtMs = overBytes.isEmpty() ? Long.MAX_VALUE : Long.MIN_VALUE;
    publish();
  }

  /** Publishes the deadline hint and the pinned count after a batch. Apply thread. */
  void publish() {
    long h = wantedAtMs;
    if (!timeDue.isEmpty()) {
      h = Math.min(h, timeDue.first().dueMs());
    }
    if (h != Long.MAX_VALUE) {
      h = Math.max(h, plus(lastTickMs, CHECK_INTERVAL_MS)); // at most one retention tick a second...
    }
    nextDeadlineMs = Math.min(h, continueAtMs); // ...unless the last one ran out of budget
    pinnedPartitions = pinned.size();
  }

  /** A topic was created (also a dead-letter topic on demand): track it if it has retention. */
  void created(TopicView v) {
    if (hasRetention(v)) {
      views.put(v.meta().getId(), v);
    }
  }

  /** A topic incarnation was deleted: forget its partitions. */
  void deleted(long topicId) {
    TopicView v = views.remove(topicId);
    if (v == null) {
      return;
    }
    PartitionRef from = new PartitionRef(topicId, 0);
    PartitionRef to = new PartitionRef(topicId, Integer.MAX_VALUE);
    for (var e : firstTimestampMs.subMap(from, true, to, true).entrySet()) {
      timeDue.remove(new Due(plus(e.getValue(), v.meta().getRetentionMs()), e.getKey()));
    }
    firstTimestampMs.subMap(from, true, to, true).clear();
    overBytes.subSet(from, true, to, true).clear();
    pinned.subMap(from, true, to, true).clear();
  }

  /**
   * A record was appended to a partition (its end offset and retained bytes already count it).
   *
   * @param timestampMs the appending entry's timestamp
   */
  void appended(TopicView v, int partition, long timestampMs) {
    long id = v.meta().getId();
    if (views.get(id) != v) {
      return; // no retention
    }
    PartitionRef ref = new PartitionRef(id, partition);
    if (pinned.containsKey(ref)) {
      return; // examined again once the pin is released
    }
    long r = v.meta().getRetentionMs();
    if (r > 0 && !firstTimestampMs.containsKey(ref)) {
      firstTimestampMs.put(ref, timestampMs); // the partition was empty
      timeDue.add(new Due(plus(timestampMs, r), ref));
    }
    long b = v.meta().getRetentionBytes();
    if (b > 0 && v.retainedBytes()[partition] > b && overBytes.add(ref)) {
      wantedAtMs = Math.min(wantedAtMs, timestampMs);
    }
  }

  /**
   * A queue group no longer has a record in flight (acked or dead-lettered): if that record held
   * the partition's retention back, the partition becomes a candidate again and the leader is
   * asked for a tick.
   *
   * @param nowMs the entry's timestamp
   */
  void unpinned(long topicId, int partition, long offset, long nowMs) {
    PartitionRef ref = new PartitionRef(topicId, partition);
    Long at = pinned.get(ref);
    if (at == null || offset > at) {
      return;
    }
    pinned.remove(ref);
    TopicView v = views.get(topicId);
    arm(v, ref, firstTimestampMs.get(ref));
    wantedAtMs = Math.min(wantedAtMs, nowMs); // ask for a tick (rate-limited by the check interval)
  }

  /**
   * Enforces retention at a tick: examines the candidate partitions — first those whose first
   * record is due by time, oldest due first, then those over their byte bound, by (topic id,
   * partition) — until the per-tick budget is spent. Must run before anything else in the tick
   * writes, since it reads records from the committed state.
   *
   * @param nowMs the tick entry's timestamp
   * @return how many records were removed
   */
  int enforce(Apply a, long nowMs) {
    Budget budget = new Budget();
    continueAtMs = Long.MAX_VALUE;
    lastTickMs = nowMs;
    int removed = 0;
    TreeSet<PartitionRef> done = new TreeSet<>();
    List<Due> byTime = new ArrayList<>(timeDue.headSet(new Due(nowMs, new PartitionRef(Long.MAX_VALUE, Integer.MAX_VALUE))));
    for (Due d : byTime) {
      if (!budget.left()) {
        break;
      }
      removed += enforce(a, d.ref(), nowMs, budget);
      done.add(d.ref());
    }
    for (PartitionRef ref : new ArrayList<>(overBytes)) {
      if (!budget.left()) {
        break;
      }
      if (!done.contains(ref)) {
        removed += enforce(a, ref, nowMs, budget);
      }
    }
    boolean more = !budget.left()
        && (!overBytes.isEmpty() || (!timeDue.isEmpty() && timeDue.first().dueMs() <= nowMs));
    if (more) {
      continueAtMs = nowMs;
    }
    wantedAtMs = overBytes.isEmpty() ? Long.MAX_VALUE : nowMs;
    return removed;
  }

  /** Enforces retention on one partition within the budget; re-arms or pins it. */
  private int enforce(Apply a, PartitionRef ref, long nowMs, Budget budget) {
    TopicView v = views.get(ref.topicId());
    long id = ref.topicId();
    int p = ref.partition();
    long retentionMs = v.meta().getRetentionMs();
    long retentionBytes = v.meta().getRetentionBytes();
    Long first = firstTimestampMs.get(ref);
    if (first != null) {
      timeDue.remove(new Due(plus(first, retentionMs), ref));
    }
    overBytes.remove(ref);
    long start = v.startOffsets()[p];
    long end = v.endOffsets()[p];
    long pin = queue.lowestInFlight(id, p);
    long limit = Math.min(end, pin);
    long retained = v.retainedBytes()[p];
    long newStart = start;
    Long nextFirst = null;
    List<StoredHeader> gone = new ArrayList<>();
    if (limit > start) {
      for (KeyValue kv : recordsCf.scan(TopicsStateMachine.recordKey(id, p, start),
          TopicsStateMachine.recordKey(id, p, limit), budget.records, budget.bytes)) {
        StoredHeader h = CommandCodec.storedHeader(kv.value());
        budget.records--;
        budget.bytes -= kv.value().length;
        boolean expired = retentionMs > 0 && plus(h.timestampMs(), retentionMs) <= nowMs;
        boolean over = retentionBytes > 0 && retained > retentionBytes;
        if (!expired && !over) {
          nextFirst = h.timestampMs();
          break;
        }
        retained -= kv.value().length;
        newStart = Bytes.getLong(kv.key(), 12) + 1;
        gone.add(h);
      }
      if (nextFirst == null && newStart < limit) {
        budget.bytes = 0; // the scan stopped short of a record that would pass the byte budget
      }
    }
    if (newStart > start) {
      a.batch.deleteRange(recordsCf, TopicsStateMachine.recordKey(id, p, start),
          TopicsStateMachine.recordKey(id, p, newStart));
      undelivered += queue.dropIndexEntries(a, id, gone);
      removedRecords += newStart - start;
      removedBytes += v.retainedBytes()[p] - retained;
      v.startOffsets()[p] = newStart;
      v.retainedBytes()[p] = retained;
      a.touch(v, p);
    }
    if (newStart == end) {
      firstTimestampMs.remove(ref);
      return (int) (newStart - start);
    }
    if (retentionMs > 0 && nextFirst == null) {
      nextFirst = newStart == start && first != null ? first : timestampAt(id, p, newStart);
    }
    boolean due = (retentionMs > 0 && plus(nextFirst, retentionMs) <= nowMs)
        || (retentionBytes > 0 && retained > retentionBytes);
    if (due && newStart == pin) {
      if (retentionMs > 0) {
        firstTimestampMs.put(ref, nextFirst);
      }
      pinned.put(ref, pin);
    } else {
      arm(v, ref, nextFirst);
    }
    return (int) (newStart - start);
  }

  /**
   * Makes a partition with records a candidate: its time due from {@code firstMs} (the timestamp
   * of its first record; ignored without time retention), and over its byte bound if it is.
   */
  private void arm(TopicView v, PartitionRef ref, Long firstMs) {
    long r = v.meta().getRetentionMs();
    if (r > 0) {
      firstTimestampMs.put(ref, firstMs);
      timeDue.add(new Due(plus(firstMs, r), ref));
    }
    long b = v.meta().getRetentionBytes();
    if (b > 0 && v.retainedBytes()[ref.partition()] > b) {
      overBytes.add(ref);
    }
  }

  /** @return the timestamp of a stored record, read from the committed state */
  private long timestampAt(long topicId, int partition, long offset) {
    byte[] v = recordsCf.get(TopicsStateMachine.recordKey(topicId, partition, offset));
    if (v == null) {
      throw new IllegalStateException("record " + topicId + "/" + partition + "/" + offset
          + " is missing although it is at or above the partition's start offset");
    }
    return CommandCodec.storedHeader(v).timestampMs();
  }

  private static boolean hasRetention(TopicView v) {
    return v.meta().getRetentionMs() > 0 || v.meta().getRetentionBytes() > 0;
  }

  /** @return {@code a + b}, or {@link Long#MAX_VALUE} on overflow (both are non-negative here) */
  private static long plus(long a, long b) {
    long s = a + b;
    return ((a ^ s) & (b ^ s)) < 0 ? (a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE) : s;
  }

  // ------------------------------------------------------------------ reads (any thread)

  /**
   * @return when the leader should next propose a tick for retention, ms since the epoch on the
   *     leader's clock, or {@link Long#MAX_VALUE}; a hint only, as of the last published batch.
   *     Any thread.
   */
  long nextDeadlineMs() {
    return nextDeadlineMs;
  }

  /** @return this node's retention counters. Any thread. */
  Model.RetentionStats stats() {
    return new Model.RetentionStats(removedRecords, removedBytes, undelivered, pinnedPartitions);
  }
}
