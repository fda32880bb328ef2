package io.dsync.broker;

import com.google.protobuf.InvalidProtocolBufferException;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.proto.ProducerBatch;
import io.dsync.broker.proto.ProducerState;
import io.dsync.storage.Bytes;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import io.dsync.storage.StateStore.StateBatch;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Idempotent produce (Kafka's idempotent producer): per {@code producer_id}, the answers of its
 * last {@link #WINDOW} batches, so that a retried batch appends nothing and gets its first answer.
 *
 * <p><b>Rule.</b> The window of a producer holds its {@link #WINDOW} highest sequences applied
 * (like Kafka's five in-flight batches), each with its topic and the offsets it got. A batch with
 * {@code (producer_id, sequence)}:
 * <ul>
 *   <li>in the window, same topic → the first answer, nothing appended;
 *   <li>in the window, another topic → {@link ErrorKind#CONFLICT} (a sequence names one batch);
 *   <li>below the window while the window is full → {@link ErrorKind#CONFLICT} "sequence too old":
 *       it may have been applied and forgotten, so neither appending nor answering is safe;
 *   <li>otherwise it was never applied: appended, and remembered (the lowest sequence leaves a
 *       full window).
 * </ul>
 * Sequences need not be consecutive (only unique per producer); a refused batch is not remembered.
 *
 * <p><b>Bound.</b> At most {@code maxProducers} producers (default {@value #MAX_PRODUCERS}) are
 * remembered; a new producer beyond that evicts the one whose last appended batch is the oldest
 * (least recently used by entry index — deterministic on every replica). A retry from an evicted
 * producer is appended again (at-least-once, as without a producer id).
 *
 * <p><b>Storage.</b> The {@code producers} column family: {@code 's' · producer_id} →
 * {@link ProducerState}, and {@code 'i' · last index (8 bytes BE) · producer_id} → empty, the LRU
 * order, loaded at start. A batch's offsets are stored as the partition of each record plus the
 * first offset per partition (offsets of one batch are contiguous per partition).
 *
 * <p>Thread safety: apply thread only. Changes made within a batch are read back from an
 * in-memory overlay until {@link #committed()}.
 */
final class ProducerWindows {
  /** The column family of the producers. */
  static final StateColumnFamily COLUMN_FAMILY = new StateColumnFamily("producers", false);

  /** Batches remembered per producer (Kafka's max in-flight requests of an idempotent producer). */
  static final int WINDOW = 5;

  /** Producers remembered by default. */
  static final int MAX_PRODUCERS = 100_000;

  private static final byte STATE = 's';
  private static final byte LRU = 'i';

  private final Column cf;
  private final int maxProducers;
  /** producer → the index of the entry that last appended for it; and the reverse, for eviction. */
  private final TreeMap<String, Long> lastIndex = new TreeMap<>();
  private final TreeMap<Long, String> byLastIndex = new TreeMap<>();
  /** States written by the batch being applied (not yet readable from the column family). */
  private final TreeMap<String, ProducerState> pending = new TreeMap<>();

  /**
   * @param store the state store, opened with {@link #COLUMN_FAMILY}
   * @param maxProducers how many producers to remember, at least 1
   */
  ProducerWindows(StateStore store, int maxProducers) {
    if (maxProducers < 1) {
      throw new IllegalArgumentException("maxProducers must be >= 1");
    }
    this.cf = store.column(COLUMN_FAMILY.name());
    this.maxProducers = maxProducers;
    load();
  }

  /** Reloads the LRU order from the column family (at start and after a snapshot). */
  void load() {
    lastIndex.clear();
    byLastIndex.clear();
    pending.clear();
    for (KeyValue kv : cf.scan(new byte[] {LRU}, new byte[] {LRU + 1}, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      long index = Bytes.getLong(kv.key(), 1);
      String producer = new String(kv.key(), 9, kv.key().length - 9, StandardCharsets.UTF_8);
      lastIndex.put(producer, index);
      byLastIndex.put(index, producer);
    }
  }

  /** The batch was committed: its states are now in the column family. */
  void committed() {
    pending.clear();
  }

  /** @return how many producers are remembered */
  int size() {
    return lastIndex.size();
  }

  /**
   * Looks a batch up before it is appended.
   *
   * @param topicId the id of the topic's current incarnation (0 if it does not exist): a batch
   *     remembered for an earlier incarnation (deleted and created again since) is appended again,
   *     since its offsets no longer name its records
   * @return {@code null} to append it; the first answer ({@code List<RecordPosition>}) of a
   *     retried batch; or a CONFLICT {@link BrokerException}
   */
  Object replay(String producerId, long sequence, String topic, long topicId) {
    ProducerState s = state(producerId);
    if (s == null) {
      return null;
    }
    for (ProducerBatch b : s.getBatchesList()) {
      if (b.getSequence() == sequence) {
        if (!b.getTopic().equals(topic)) {
          return new BrokerException(ErrorKind.CONFLICT, "sequence " + sequence + " of producer '" + producerId
              + "' was used for topic '" + b.getTopic() + "', not '" + topic + "'");
        }
        if (b.getTopicId() != 0 && b.getTopicId() != topicId) {
          return null; // the topic was deleted and created again: the remembered offsets are void
        }
        return positions(b);
      }
    }
    long lowest = s.getBatches(0).getSequence();
    if (s.getBatchesCount() >= WINDOW && sequence < lowest) {
      return new BrokerException(ErrorKind.CONFLICT, "sequence too old: producer '" + producerId
          + "' remembers only its last " + WINDOW + " batches, from sequence " + lowest,
          Map.of("lowest_sequence", lowest));
    }
    return null;
  }

  /**
   * Remembers an appended batch (after {@link #replay} returned {@code null} for it).
   *
   * @param index the entry's index (the LRU clock)
   * @param positions the answer the batch got, in record order
   */
  void record(StateBatch batch, String producerId, long sequence, String topic, long topicId,
      List<RecordPosition> positions, long index) {
    ProducerState old = state(producerId);
    List<ProducerBatch> batches = new ArrayList<>(old == null ? List.of() : old.getBatchesList());
    batches.removeIf(b -> b.getSequence() == sequence); // a batch appended again to a re-created topic
    batches.add(encode(sequence, topic, positions).toBuilder().setTopicId(topicId).build());
    batches.sort(Comparator.comparingLong(ProducerBatch::getSequence));
    if (batches.size() > WINDOW) {
      batches = batches.subList(batches.size() - WINDOW, batches.size());
    }
    Long previous = lastIndex.get(producerId);
    if (previous != null) {
      byLastIndex.remove(previous);
      batch.delete(cf, lruKey(previous, producerId));
    } else {
      while (lastIndex.size() >= maxProducers) {
        evictOldest(batch);
      }
    }
    ProducerState s = ProducerState.newBuilder()
        .setProducerId(producerId).setLastIndex(index).addAllBatches(batches).build();
    pending.put(producerId, s);
    lastIndex.put(producerId, index);
    byLastIndex.put(index, producerId);
    batch.put(cf, stateKey(producerId), s.toByteArray());
    batch.put(cf, lruKey(index, producerId), new byte[0]);
  }

  private void evictOldest(StateBatch batch) {
    Map.Entry<Long, String> oldest = byLastIndex.pollFirstEntry();
    lastIndex.remove(oldest.getValue());
    pending.remove(oldest.getValue());
    batch.delete(cf, stateKey(oldest.getValue()));
    batch.delete(cf, lruKey(oldest.getKey(), oldest.getValue()));
  }

  private ProducerState state(String producerId) {
    if (!lastIndex.containsKey(producerId)) {
      return null;
    }
    ProducerState s = pending.get(producerId);
    if (s != null) {
      return s;
    }
    byte[] v = cf.get(stateKey(producerId));
    if (v == null) {
      return null;
    }
    try {
      return ProducerState.parseFrom(v);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt producer state of '" + producerId + "'", e);
    }
  }

  static ProducerBatch encode(long sequence, String topic, List<RecordPosition> positions) {
    ProducerBatch.Builder b = ProducerBatch.newBuilder().setSequence(sequence).setTopic(topic);
    TreeMap<Integer, Long> first = new TreeMap<>();
    for (RecordPosition p : positions) {
      b.addPartitions(p.partition());
      first.putIfAbsent(p.partition(), p.offset());
    }
    first.forEach((p, o) -> b.addFirstPartitions(p).addFirstOffsets(o));
    return b.build();
  }

  static List<RecordPosition> positions(ProducerBatch b) {
    TreeMap<Integer, Long> next = new TreeMap<>();
    for (int i = 0; i < b.getFirstPartitionsCount(); i++) {
      next.put(b.getFirstPartitions(i), b.getFirstOffsets(i));
    }
    RecordPosition[] out = new RecordPosition[b.getPartitionsCount()];
    for (int i = 0; i < out.length; i++) {
      int p = b.getPartitions(i);
      long offset = next.get(p);
      next.put(p, offset + 1);
      out[i] = new RecordPosition(p, offset);
    }
    return Arrays.asList(out);
  }

  private static byte[] stateKey(String producerId) {
    byte[] id = producerId.getBytes(StandardCharsets.UTF_8);
    byte[] k = new byte[1 + id.length];
    k[0] = STATE;
    System.arraycopy(id, 0, k, 1, id.length);
    return k;
  }

  private static byte[] lruKey(long index, String producerId) {
    byte[] id = producerId.getBytes(StandardCharsets.UTF_8);
    byte[] k = new byte[9 + id.length];
    k[0] = LRU;
    Bytes.putLong(k, 1, index);
    System.arraycopy(id, 0, k, 9, id.length);
    return k;
  }
}
