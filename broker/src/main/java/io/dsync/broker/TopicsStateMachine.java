package io.dsync.broker;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.PartitionInfo;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.Model.TopicInfo;
import io.dsync.broker.proto.Command;
import io.dsync.broker.proto.CommitOffsets;
import io.dsync.broker.proto.CreateTopic;
import io.dsync.broker.proto.OffsetCommit;
import io.dsync.broker.proto.PartitionMeta;
import io.dsync.broker.proto.Produce;
import io.dsync.broker.proto.TopicMeta;
import io.dsync.raft.Entry;
import io.dsync.raft.StateMachine;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.Bytes;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import io.dsync.storage.StateStore.StateBatch;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The topics state machine: topics with partitions, records with offsets, consumer groups'
 * committed offsets, and (delegated) consumer-group membership ({@link ConsumerGroups}) and
 * idempotent producers' windows ({@link ProducerWindows}).
 *
 * <p>State lives in six column families, written in one batch with {@code lastApplied} (the last
 * two, {@code groups} and {@code producers}, are described on their classes):
 * {@code topics} (name → {@link TopicMeta}), {@code partitions} (topic id, partition →
 * {@link PartitionMeta}: start and end offset), {@code records} (topic id, partition, offset →
 * {@code StoredRecord}; BlobDB on, since values are large) and {@code offsets} (group, topic,
 * partition → committed offset and the topic's id). A topic's id is the index of the entry that
 * created it, so a topic deleted and created again never sees the old records, nor the offsets
 * groups committed on the old topic (they stay on disk, keyed by name, but carry the old id).
 *
 * <p>Determinism: the only clock is {@link Entry#timestampMs()}; collections iterated inside
 * {@link #apply} are sorted ({@link TreeMap}, {@link TreeSet}).
 *
 * <p>Thread safety: {@link #apply} runs on the apply thread only. Readers on any thread see the
 * state as of the last applied batch: the topic views are immutable and published only after the
 * batch is committed to RocksDB, so a reader never sees an offset whose record is not readable.
 */
public final class TopicsStateMachine implements StateMachine {
  private static final Logger log = LoggerFactory.getLogger(TopicsStateMachine.class);

  /** The column families this state machine keeps its state in. */
  public static final List<StateColumnFamily> COLUMN_FAMILIES =
      List.of(
          new StateColumnFamily("topics", false),
          new StateColumnFamily("partitions", false),
          new StateColumnFamily("records", true),
          new StateColumnFamily("offsets", false),
          ConsumerGroups.COLUMN_FAMILY,
          ProducerWindows.COLUMN_FAMILY);

  /** An immutable view of one topic, replaced whenever a batch changes it. */
  record TopicView(TopicMeta meta, long[] startOffsets, long[] endOffsets) {
    TopicInfo info() {
      List<PartitionInfo> ps = new ArrayList<>(endOffsets.length);
      for (int p = 0; p < endOffsets.length; p++) {
        ps.add(new PartitionInfo(p, startOffsets[p], endOffsets[p]));
      }
      return new TopicInfo(
          new TopicConfig(meta.getName(), meta.getPartitions(), meta.getRetentionMs(), meta.getRetentionBytes(),
              meta.getDeliveryLimit(), meta.getDeadLetterTopic()),
          meta.getCreatedMs(), ps);
    }
  }

  /**
   * The partitions of one topic incarnation (its {@link TopicView}, mutated in place while a batch
   * applies) whose end offsets changed in the current batch; their metadata is written once, at
   * the end of the batch.
   */
  private record Touched(TopicView view, TreeSet<Integer> partitions) {}

  private final StateStore store;
  private final Column topicsCf;
  private final Column partitionsCf;
  private final Column recordsCf;
  private final Column offsetsCf;
  /** The apply thread's working state; published copies go to {@link #published}. */
  private final TreeMap<String, TopicView> working = new TreeMap<>();
  private final ConcurrentSkipListMap<String, TopicView> published = new ConcurrentSkipListMap<>();
  private final Consumer<List<String>> onTopicsChanged;
  private final ConsumerGroups groups;
  private final ProducerWindows producers;

  /**
   * Recovers the state machine from its column families.
   *
   * @param store the node's state store, opened with {@link #COLUMN_FAMILIES}
   * @param onTopicsChanged called on the apply thread after each batch, with the sorted names of
   *     topics whose records or offsets changed (to wake long polls); must not block
   */
  public TopicsStateMachine(StateStore store, Consumer<List<String>> onTopicsChanged) {
    this(store, onTopicsChanged, ProducerWindows.MAX_PRODUCERS);
  }

  /** Same, remembering at most {@code maxProducers} idempotent producers ({@link ProducerWindows}). */
  TopicsStateMachine(StateStore store, Consumer<List<String>> onTopicsChanged, int maxProducers) {
    this.store = store;
    this.groups = new ConsumerGroups(store);
    this.producers = new ProducerWindows(store, maxProducers);
    this.topicsCf = store.column("topics");
    this.partitionsCf = store.column("partitions");
    this.recordsCf = store.column("records");
    this.offsetsCf = store.column("offsets");
    this.onTopicsChanged = onTopicsChanged;
    load();
  }

  /** Rebuilds the in-memory views from the column families (at start, and after a snapshot). */
  private void load() {
    working.clear();
    for (KeyValue kv : topicsCf.scan(new byte[0], new byte[] {(byte) 0xFF}, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      TopicMeta meta = parseMeta(kv.value());
      long[] start = new long[meta.getPartitions()];
      long[] end = new long[meta.getPartitions()];
      for (int p = 0; p < meta.getPartitions(); p++) {
        byte[] v = partitionsCf.get(partitionKey(meta.getId(), p));
        if (v != null) {
          PartitionMeta pm = parsePartition(v);
          start[p] = pm.getStartOffset();
          end[p] = pm.getEndOffset();
        }
      }
      working.put(meta.getName(), new TopicView(meta, start, end));
    }
    published.keySet().retainAll(working.keySet());
    // Readers get copies: apply advances the working arrays in place before it commits.
    working.forEach((name, v) -> published.put(name, new TopicView(v.meta(), v.startOffsets().clone(),
        v.endOffsets().clone())));
  }

  /**
   * The state was replaced by a snapshot from the leader: reload the views and wake every long
   * poll, since any topic may have changed.
   */
  @Override
  public void restored() {
    TreeSet<String> names = new TreeSet<>(published.keySet());
    load();
    groups.load();
    producers.load();
    names.addAll(published.keySet());
    onTopicsChanged.accept(List.copyOf(names));
  }

  @Override
  public long lastApplied() {
    return store.lastApplied();
  }

  @Override
  public List<Object> apply(List<Entry> entries) {
    List<Object> results = new ArrayList<>(entries.size());
    TreeSet<String> changed = new TreeSet<>();
    TreeMap<Long, Touched> touchedPartitions = new TreeMap<>();
    StateBatch batch = store.newBatch();
    try {
      for (Entry e : entries) {
        if (e.type() != EntryType.ENTRY_NORMAL) {
          results.add(null);
          continue;
        }
        Object result;
        try {
          Command c = CommandCodec.decode(e.data());
          result = switch (c.getBodyCase()) {
            case CREATE_TOPIC -> createTopic(batch, c.getCreateTopic(), e, changed);
            case DELETE_TOPIC -> deleteTopic(batch, c.getDeleteTopic().getName(), changed);
            case PRODUCE -> produce(batch, c.getProduce(), e, changed, touchedPartitions);
            case COMMIT_OFFSETS -> commitOffsets(batch, c.getCommitOffsets());
            case JOIN_GROUP -> groups.join(batch, c.getJoinGroup(), e);
            case LEAVE_GROUP -> groups.leave(batch, c.getLeaveGroup());
            case REMOVE_MEMBERS -> groups.remove(batch, c.getRemoveMembers());
            case TICK -> tick(batch, e.timestampMs(), changed);
            default -> new BrokerException(ErrorKind.BAD_REQUEST, "command not handled: " + c.getBodyCase());
          };
        } catch (CommandCodec.UnsupportedCommandException ex) {
          // Deterministic on every node of this version: the entry changes nothing.
          log.error("entry {} skipped: {}", e.index(), ex.getMessage());
          result = new BrokerException(ErrorKind.BAD_REQUEST, ex.getMessage());
        }
        results.add(result);
      }
      for (Touched t : touchedPartitions.values()) {
        TopicView v = t.view();
        if (working.get(v.meta().getName()) != v) {
          continue; // deleted later in this batch (and maybe recreated): its partitions went with it
        }
        for (int p : t.partitions()) {
          batch.put(partitionsCf, partitionKey(v.meta().getId(), p), partitionMeta(v.startOffsets()[p], v.endOffsets()[p]));
        }
      }
      store.commit(batch, entries.get(entries.size() - 1).index());
    } catch (RuntimeException ex) {
      batch.close();
      throw ex;
    }
    groups.publish();
    producers.committed();
    for (String name : changed) {
      TopicView v = working.get(name);
      if (v == null) {
        published.remove(name);
      } else {
        published.put(name, new TopicView(v.meta(), v.startOffsets().clone(), v.endOffsets().clone()));
      }
    }
    if (!changed.isEmpty()) {
      onTopicsChanged.accept(List.copyOf(changed));
    }
    return results;
  }

  private Object createTopic(StateBatch batch, CreateTopic c, Entry e, TreeSet<String> changed) {
    if (working.containsKey(c.getName())) {
      return new BrokerException(ErrorKind.CONFLICT, "topic '" + c.getName() + "' already exists");
    }
    TopicMeta meta =
        TopicMeta.newBuilder()
            .setName(c.getName())
            .setId(e.index())
            .setPartitions(c.getPartitions())
            .setRetentionMs(c.getRetentionMs())
            .setRetentionBytes(c.getRetentionBytes())
            .setDeliveryLimit(c.getDeliveryLimit())
            .setDeadLetterTopic(c.getDeadLetterTopic())
            .setCreatedMs(e.timestampMs())
            .build();
    batch.put(topicsCf, utf8(c.getName()), meta.toByteArray());
    for (int p = 0; p < c.getPartitions(); p++) {
      batch.put(partitionsCf, partitionKey(meta.getId(), p), partitionMeta(0, 0));
    }
    TopicView v = new TopicView(meta, new long[c.getPartitions()], new long[c.getPartitions()]);
    working.put(c.getName(), v);
    changed.add(c.getName());
    groups.topicChanged(batch, c.getName());
    return v.info();
  }

  private Object deleteTopic(StateBatch batch, String name, TreeSet<String> changed) {
    TopicView v = working.remove(name);
    if (v == null) {
      return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + name + "' does not exist");
    }
    long id = v.meta().getId();
    batch.delete(topicsCf, utf8(name));
    batch.deleteRange(partitionsCf, partitionKey(id, 0), partitionKey(id + 1, 0));
    batch.deleteRange(recordsCf, recordKey(id, 0, 0), recordKey(id + 1, 0, 0));
    changed.add(name);
    groups.topicChanged(batch, name);
    return Boolean.TRUE;
  }

  private Object produce(
      StateBatch batch, Produce c, Entry e, TreeSet<String> changed, TreeMap<Long, Touched> touched) {
    boolean idempotent = !c.getProducerId().isEmpty();
    if (idempotent) {
      Object first = producers.replay(c.getProducerId(), c.getSequence(), c.getTopic());
      if (first != null) {
        return first; // a retry (its first answer) or a refusal: nothing is appended
      }
    }
    long timestampMs = e.timestampMs();
    TopicView v = working.get(c.getTopic());
    if (v == null) {
      return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + c.getTopic() + "' does not exist");
    }
    int n = c.getRecordsCount();
    for (int i = 0; i < n; i++) {
      int p = c.getPartitions(i);
      if (p < 0 || p >= v.endOffsets().length) {
        return new BrokerException(ErrorKind.BAD_REQUEST, "partition " + p + " out of range");
      }
    }
    long id = v.meta().getId();
    RecordPosition[] positions = new RecordPosition[n];
    long[] end = v.endOffsets();
    for (int i = 0; i < n; i++) {
      int p = c.getPartitions(i);
      long offset = end[p]++;
      ByteString record = c.getRecords(i);
      batch.put(recordsCf, recordKey(id, p, offset), CommandCodec.storedRecord(timestampMs, record));
      positions[i] = new RecordPosition(p, offset);
      touched.computeIfAbsent(id, k -> new Touched(v, new TreeSet<>())).partitions().add(p);
    }
    changed.add(c.getTopic());
    if (idempotent) {
      producers.record(batch, c.getProducerId(), c.getSequence(), c.getTopic(), Arrays.asList(positions), e.index());
    }
    return Arrays.asList(positions);
  }

  /**
   * Expires everything due at {@code nowMs} (the tick entry's timestamp). Each part of the state
   * that keeps deadlines expires its own here and reports its next deadline through {@link
   * #nextDeadlineMs()}.
   */
  private Object tick(StateBatch batch, long nowMs, TreeSet<String> changed) {
    return Boolean.TRUE;
  }

  /**
   * The earliest deadline (lease expiry, session expiry) in the applied state, in ms since the
   * epoch on the leader's clock, or {@link Long#MAX_VALUE} when nothing waits for time. The
   * leader proposes a {@code Tick} once its clock passes it ({@link Broker}).
   *
   * <p>Thread safety: any thread; reflects the last applied batch.
   */
  public long nextDeadlineMs() {
    return Long.MAX_VALUE;
  }

  private Object commitOffsets(StateBatch batch, CommitOffsets c) {
    for (OffsetCommit o : c.getOffsetsList()) {
      TopicView v = working.get(o.getTopic());
      if (v == null) {
        return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + o.getTopic() + "' does not exist");
      }
      if (o.getPartition() >= v.endOffsets().length) {
        return new BrokerException(ErrorKind.BAD_REQUEST, "partition " + o.getPartition() + " out of range");
      }
    }
    for (OffsetCommit o : c.getOffsetsList()) {
      long topicId = working.get(o.getTopic()).meta().getId();
      batch.put(offsetsCf, offsetKey(c.getGroup(), o.getTopic(), o.getPartition()), offsetValue(o.getOffset(), topicId));
    }
    return Boolean.TRUE;
  }

  // ------------------------------------------------------------------ reads (any thread)

  /** @return the consumer groups' applied state (reads from any thread) */
  ConsumerGroups groups() {
    return groups;
  }

  /** @return the published view of {@code topic}, or {@code null} */
  TopicView view(String topic) {
    return published.get(topic);
  }

  /** @return every topic, sorted by name */
  List<TopicInfo> topics() {
    List<TopicInfo> out = new ArrayList<>();
    for (TopicView v : published.values()) {
      out.add(v.info());
    }
    return out;
  }

  /**
   * Reads up to {@code maxRecords} records of a partition from {@code offset}, bounded by the
   * published end offset.
   */
  List<FetchedRecord> read(TopicView v, int partition, long offset, int maxRecords, long maxBytes) {
    long id = v.meta().getId();
    long end = v.endOffsets()[partition];
    List<FetchedRecord> out = new ArrayList<>();
    if (offset >= end) {
      return out;
    }
    List<KeyValue> kvs =
        recordsCf.scan(recordKey(id, partition, offset), recordKey(id, partition, end), maxRecords, maxBytes);
    for (KeyValue kv : kvs) {
      out.add(CommandCodec.decodeStored(Bytes.getLong(kv.key(), 12), kv.value()));
    }
    return out;
  }

  /** @return the group's committed offsets, for one topic or (topic null) all, sorted */
  List<CommittedOffset> committedOffsets(String group, String topic) {
    byte[] prefix = topic == null ? concat(utf8(group), new byte[] {0}) : concat(utf8(group), new byte[] {0}, utf8(topic), new byte[] {0});
    byte[] upper = prefix.clone();
    upper[upper.length - 1] = 1;
    List<CommittedOffset> out = new ArrayList<>();
    for (KeyValue kv : offsetsCf.scan(prefix, upper, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      byte[] k = kv.key();
      int g = indexOf(k, 0);
      int t = indexOf(k, g + 1);
      String topicName = new String(k, g + 1, t - g - 1, StandardCharsets.UTF_8);
      int partition = Bytes.getInt(k, t + 1);
      TopicView v = published.get(topicName);
      byte[] value = kv.value();
      // 8-byte values predate the topic id: they cannot be told apart, so they count.
      if (v != null && (value.length < 16 || Bytes.getLong(value, 8) == v.meta().getId())) {
        out.add(new CommittedOffset(topicName, partition, Bytes.getLong(value, 0)));
      }
    }
    return out;
  }


  // ------------------------------------------------------------------ keys

  static byte[] recordKey(long topicId, int partition, long offset) {
    byte[] k = new byte[20];
    Bytes.putLong(k, 0, topicId);
    Bytes.putInt(k, 8, partition);
    Bytes.putLong(k, 12, offset);
    return k;
  }

  static byte[] partitionKey(long topicId, int partition) {
    byte[] k = new byte[12];
    Bytes.putLong(k, 0, topicId);
    Bytes.putInt(k, 8, partition);
    return k;
  }

  static byte[] offsetKey(String group, String topic, int partition) {
    byte[] p = new byte[4];
    Bytes.putInt(p, 0, partition);
    return concat(utf8(group), new byte[] {0}, utf8(topic), new byte[] {0}, p);
  }

  /** @return a committed offset's value: the offset, then the id of the topic it was committed on */
  private static byte[] offsetValue(long offset, long topicId) {
    byte[] v = new byte[16];
    Bytes.putLong(v, 0, offset);
    Bytes.putLong(v, 8, topicId);
    return v;
  }

  private static byte[] partitionMeta(long start, long end) {
    return PartitionMeta.newBuilder().setStartOffset(start).setEndOffset(end).build().toByteArray();
  }

  private static TopicMeta parseMeta(byte[] b) {
    try {
      return TopicMeta.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt topic metadata", e);
    }
  }

  private static PartitionMeta parsePartition(byte[] b) {
    try {
      return PartitionMeta.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt partition metadata", e);
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[]... parts) {
    int n = 0;
    for (byte[] p : parts) {
      n += p.length;
    }
    byte[] out = new byte[n];
    int off = 0;
    for (byte[] p : parts) {
      System.arraycopy(p, 0, out, off, p.length);
      off += p.length;
    }
    return out;
  }

  private static int indexOf(byte[] b, int from) {
    for (int i = from; i < b.length; i++) {
      if (b[i] == 0) {
        return i;
      }
    }
    return b.length;
  }

}
