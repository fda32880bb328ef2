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
import io.dsync.broker.proto.LeaseSettle;
import io.dsync.broker.proto.OffsetCommit;
import io.dsync.broker.proto.PartitionMeta;
import io.dsync.broker.proto.Produce;
import io.dsync.broker.proto.Record;
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
 * committed offsets, (delegated) consumer-group membership ({@link ConsumerGroups}),
 * idempotent producers' windows ({@link ProducerWindows}), queue consumption ({@link
 * QueueState}: leases, acks, priorities, dead letters) and retention ({@link Retention}: the
 * oldest records removed by time and bytes at ticks).
 *
 * <p>State lives in these column families, written in one batch with {@code lastApplied}
 * ({@code groups}, {@code producers} and the {@code queue_*} ones are described on their classes):
 * {@code topics} (name → {@link TopicMeta}), {@code partitions} (topic id, partition →
 * {@link PartitionMeta}: log start offset, end offset, retained bytes), {@code records} (topic
 * id, partition, offset → {@code StoredRecord}; BlobDB on, since values are large) and {@code offsets} (group, topic,
 * partition → committed offset and the topic's id). A topic's id is the index of the entry that
 * created it, so a topic deleted and created again never sees the old records, nor the offsets
 * groups committed on the old topic (they stay on disk, keyed by name, but carry the old id).
 * The queue's three column families are described on {@link QueueState}.
 *
 * <p>Reads inside apply: a queue command reads the priority index and records. Writes gathered in
 * the current batch are not visible to reads until committed, so before a queue command (lease,
 * ack, release, reject, extend, tick) the batch so far is committed with the previous entry's
 * index as {@code lastApplied} and a new batch is opened ({@link Apply#readable}). Every command
 * therefore reads exactly the effects of the entries before it, however entries are batched.
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
          ProducerWindows.COLUMN_FAMILY,
          QueueState.COLUMN_FAMILIES.get(0),
          QueueState.COLUMN_FAMILIES.get(1),
          QueueState.COLUMN_FAMILIES.get(2));

  /**
   * A view of one topic: readers get immutable copies, published after each batch; apply mutates
   * its working view's arrays in place.
   *
   * @param meta the topic's settings
   * @param startOffsets per partition, the log start offset (the first record retention kept)
   * @param endOffsets per partition, the offset the next record gets
   * @param retainedBytes per partition, the bytes of the records in {@code [start, end)} as
   *     {@link Retention} counts them (stored value lengths)
   */
  record TopicView(TopicMeta meta, long[] startOffsets, long[] endOffsets, long[] retainedBytes) {
    /** @return a copy for readers */
    TopicView copy() {
      return new TopicView(meta, startOffsets.clone(), endOffsets.clone(), retainedBytes.clone());
    }

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

  /**
   * What one {@link #apply} call gathers: the open batch (replaced when {@link #readable} commits
   * it), the topics whose records or offsets changed, the partitions whose metadata must be
   * written, and the entry being applied. Apply thread only.
   */
  final class Apply {
    StateBatch batch;
    final TreeSet<String> changed = new TreeSet<>();
    private final TreeMap<Long, Touched> touched = new TreeMap<>();
    /** The entry being applied. */
    Entry entry;
    /** The last entry whose effects are complete in {@link #batch} (or already committed). */
    private long previousIndex = -1;
    /** Index positions used by records this entry appended outside a produce (dead letters). */
    private int appended;
    /** Topics this entry created on demand (dead-letter topics), to give each its own id. */
    private int created;

    private Apply(StateBatch batch) {
      this.batch = batch;
    }

    /** Marks a partition whose offsets or retained bytes changed: its metadata is written at the end of the batch. */
    void touch(TopicView v, int partition) {
      touched.computeIfAbsent(v.meta().getId(), k -> new Touched(v, new TreeSet<>())).partitions().add(partition);
      changed.add(v.meta().getName());
    }

    /** @return the next index position for a record this entry appends outside a produce */
    int nextPosition() {
      return appended++;
    }

    /**
     * Makes everything earlier entries of this call wrote visible to reads: commits the batch so
     * far (with the previous entry's index as {@code lastApplied}) and opens a new one. Call only
     * between entries, never in the middle of one, so what is on disk is always the effect of a
     * prefix of the log.
     */
    void readable() {
      if (batch.count() == 0 && touched.isEmpty()) {
        return;
      }
      writeTouched(this);
      StateBatch b = batch;
      batch = null;
      store.commit(b, previousIndex);
      batch = store.newBatch();
    }
  }

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
  private final QueueState queue;
  private final Retention retention;

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
    this.queue = new QueueState(store, this);
    this.retention = new Retention(store, queue);
    load();
  }

  /** Rebuilds the in-memory views from the column families (at start, and after a snapshot). */
  private void load() {
    working.clear();
    for (KeyValue kv : topicsCf.scan(new byte[0], new byte[] {(byte) 0xFF}, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      TopicMeta meta = parseMeta(kv.value());
      long[] start = new long[meta.getPartitions()];
      long[] end = new long[meta.getPartitions()];
      long[] bytes = new long[meta.getPartitions()];
      for (int p = 0; p < meta.getPartitions(); p++) {
        byte[] v = partitionsCf.get(partitionKey(meta.getId(), p));
        if (v != null) {
          PartitionMeta pm = parsePartition(v);
          start[p] = pm.getStartOffset();
          end[p] = pm.getEndOffset();
          // Metadata written before retention existed has no byte count: sum the records once.
          bytes[p] = pm.hasRetainedBytes() ? pm.getRetainedBytes() : storedBytes(meta.getId(), p, start[p], end[p]);
        }
      }
      working.put(meta.getName(), new TopicView(meta, start, end, bytes));
    }
    published.keySet().retainAll(working.keySet());
    // Readers get copies: apply advances the working arrays in place before it commits.
    working.forEach((name, v) -> published.put(name, v.copy()));
    TreeMap<Long, String> names = new TreeMap<>();
    working.forEach((name, v) -> names.put(v.meta().getId(), name));
    queue.load(names);
    retention.load(working.values());
  }

  /** @return the summed value lengths of a partition's records in {@code [start, end)} */
  private long storedBytes(long topicId, int partition, long start, long end) {
    long sum = 0;
    long from = start;
    while (from < end) {
      List<KeyValue> kvs = recordsCf.scan(recordKey(topicId, partition, from), recordKey(topicId, partition, end),
          10_000, 64L << 20);
      if (kvs.isEmpty()) {
        break;
      }
      for (KeyValue kv : kvs) {
        sum += kv.value().length;
      }
      from = Bytes.getLong(kvs.get(kvs.size() - 1).key(), 12) + 1;
    }
    return sum;
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
    Apply a = new Apply(store.newBatch());
    try {
      for (Entry e : entries) {
        a.entry = e;
        a.appended = 0;
        a.created = 0;
        if (e.type() != EntryType.ENTRY_NORMAL) {
          results.add(null);
          a.previousIndex = e.index();
          continue;
        }
        Object result;
        try {
          Command c = CommandCodec.decode(e.data());
          result = switch (c.getBodyCase()) {
            case CREATE_TOPIC -> createTopic(a, c.getCreateTopic(), e);
            case DELETE_TOPIC -> deleteTopic(a, c.getDeleteTopic().getName());
            case PRODUCE -> produce(a, c.getProduce());
            case COMMIT_OFFSETS -> commitOffsets(a.batch, c.getCommitOffsets());
            case JOIN_GROUP -> groups.join(a.batch, c.getJoinGroup(), e);
            case LEAVE_GROUP -> groups.leave(a.batch, c.getLeaveGroup());
            case REMOVE_MEMBERS -> groups.remove(a.batch, c.getRemoveMembers());
            case LEASE -> {
              a.readable();
              yield queue.lease(a, c.getLease(), working.get(c.getLease().getTopic()));
            }
            case ACK -> settle(a, CommandCodec.Settlement.ACK, c.getAck());
            case RELEASE -> settle(a, CommandCodec.Settlement.RELEASE, c.getRelease());
            case REJECT -> settle(a, CommandCodec.Settlement.REJECT, c.getReject());
            case EXTEND -> settle(a, CommandCodec.Settlement.EXTEND, c.getExtend());
            case TICK -> {
              a.readable();
              yield tick(a, e.timestampMs());
            }
            default -> new BrokerException(ErrorKind.BAD_REQUEST, "command not handled: " + c.getBodyCase());
          };
        } catch (CommandCodec.UnsupportedCommandException ex) {
          // Deterministic on every node of this version: the entry changes nothing.
          log.error("entry {} skipped: {}", e.index(), ex.getMessage());
          result = new BrokerException(ErrorKind.BAD_REQUEST, ex.getMessage());
        }
        results.add(result);
        a.previousIndex = e.index();
      }
      writeTouched(a);
      StateBatch last = a.batch;
      a.batch = null;
      store.commit(last, entries.get(entries.size() - 1).index());
    } catch (RuntimeException ex) {
      if (a.batch != null) {
        a.batch.close();
      }
      throw ex;
    }
    groups.publish();
    producers.committed();
    queue.publish();
    retention.publish();
    TreeSet<String> changed = a.changed;
    for (String name : changed) {
      TopicView v = working.get(name);
      if (v == null) {
        published.remove(name);
      } else {
        published.put(name, v.copy());
      }
    }
    if (!changed.isEmpty()) {
      onTopicsChanged.accept(List.copyOf(changed));
    }
    return results;
  }

  /** Writes the metadata of the partitions whose offsets or retained bytes changed, and forgets them. */
  private void writeTouched(Apply a) {
    for (Touched t : a.touched.values()) {
      TopicView v = t.view();
      if (working.get(v.meta().getName()) != v) {
        continue; // deleted later in this batch (and maybe recreated): its partitions went with it
      }
      for (int p : t.partitions()) {
        a.batch.put(partitionsCf, partitionKey(v.meta().getId(), p),
            partitionMeta(v.startOffsets()[p], v.endOffsets()[p], v.retainedBytes()[p]));
      }
    }
    a.touched.clear();
  }

  private Object settle(Apply a, CommandCodec.Settlement what, LeaseSettle c) {
    if (what != CommandCodec.Settlement.ACK && what != CommandCodec.Settlement.EXTEND) {
      a.readable(); // release and reject may copy a record to the dead-letter topic: they read; ack and extend do not
    }
    return queue.settle(a, what, c, working.get(c.getTopic()));
  }

  private Object createTopic(Apply a, CreateTopic c, Entry e) {
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
    return createView(a, meta).info();
  }

  /** Writes a new topic's metadata and empty partitions, and makes it a working view. */
  private TopicView createView(Apply a, TopicMeta meta) {
    a.batch.put(topicsCf, utf8(meta.getName()), meta.toByteArray());
    for (int p = 0; p < meta.getPartitions(); p++) {
      a.batch.put(partitionsCf, partitionKey(meta.getId(), p), partitionMeta(0, 0, 0));
    }
    int n = meta.getPartitions();
    TopicView v = new TopicView(meta, new long[n], new long[n], new long[n]);
    working.put(meta.getName(), v);
    retention.created(v);
    a.changed.add(meta.getName());
    groups.topicChanged(a.batch, meta.getName()); // also a dead-letter topic created on demand
    return v;
  }

  private Object deleteTopic(Apply a, String name) {
    TopicView v = working.remove(name);
    if (v == null) {
      return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + name + "' does not exist");
    }
    long id = v.meta().getId();
    a.batch.delete(topicsCf, utf8(name));
    a.batch.deleteRange(partitionsCf, partitionKey(id, 0), partitionKey(id + 1, 0));
    a.batch.deleteRange(recordsCf, recordKey(id, 0, 0), recordKey(id + 1, 0, 0));
    queue.dropTopic(a, id);
    retention.deleted(id);
    a.changed.add(name);
    groups.topicChanged(a.batch, name);
    return Boolean.TRUE;
  }

  private Object produce(Apply a, Produce c) {
    boolean idempotent = !c.getProducerId().isEmpty();
    if (idempotent) {
      TopicView target = working.get(c.getTopic());
      Object first = producers.replay(c.getProducerId(), c.getSequence(), c.getTopic(),
          target == null ? 0 : target.meta().getId());
      if (first != null) {
        return first; // a retry (its first answer) or a refusal: nothing is appended
      }
    }
    TopicView v = working.get(c.getTopic());
    if (v == null) {
      return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + c.getTopic() + "' does not exist");
    }
    if (c.getTopicId() != 0 && c.getTopicId() != v.meta().getId()) {
      // A follower that lagged placed the records for a deleted incarnation of this topic name.
      return new BrokerException(ErrorKind.CONFLICT, "topic '" + c.getTopic()
          + "' was deleted and created again while this batch was on its way; nothing was appended, retry");
    }
    int n = c.getRecordsCount();
    for (int i = 0; i < n; i++) {
      int p = c.getPartitions(i);
      if (p < 0 || p >= v.endOffsets().length) {
        return new BrokerException(ErrorKind.BAD_REQUEST, "partition " + p + " out of range");
      }
    }
    int[] priorities = priorities(c);
    if (priorities == null) {
      return new BrokerException(ErrorKind.BAD_REQUEST, "priorities must be 0-" + BrokerLimits.MAX_PRIORITY
          + ", one per record");
    }
    RecordPosition[] positions = new RecordPosition[n];
    for (int i = 0; i < n; i++) {
      int p = c.getPartitions(i);
      positions[i] = new RecordPosition(p, append(a, v, p, c.getRecords(i), priorities[i], i));
    }
    if (idempotent) {
      producers.record(a.batch, c.getProducerId(), c.getSequence(), c.getTopic(), v.meta().getId(), Arrays.asList(positions),
          a.entry.index());
    }
    return Arrays.asList(positions);
  }

  /**
   * @return each record's priority: from the command, or, for entries written before produce
   *     carried them, decoded from the records; null if they are malformed
   */
  private static int[] priorities(Produce c) {
    int n = c.getRecordsCount();
    int[] out = new int[n];
    if (c.getPrioritiesCount() == n) {
      for (int i = 0; i < n; i++) {
        out[i] = c.getPriorities(i);
      }
    } else if (c.getPrioritiesCount() == 0) {
      for (int i = 0; i < n; i++) {
        try {
          out[i] = Record.parseFrom(c.getRecords(i)).getPriority();
        } catch (InvalidProtocolBufferException e) {
          out[i] = 0; // stored as given, as it always was; it can be fetched, and leased at priority 0
        }
      }
    } else {
      return null;
    }
    for (int p : out) {
      if (p < 0 || p > BrokerLimits.MAX_PRIORITY) {
        return null;
      }
    }
    return out;
  }

  /**
   * Appends one record to a partition: the record, its priority-index entry, and the partition's
   * end offset (written at the end of the batch). The produce path, and the dead-letter path.
   *
   * @param position the record's position among the records this entry appends to the topic
   * @return the record's offset
   */
  long append(Apply a, TopicView v, int partition, ByteString record, int priority, int position) {
    long id = v.meta().getId();
    long offset = v.endOffsets()[partition]++;
    long now = a.entry.timestampMs();
    byte[] stored = CommandCodec.storedRecord(now, record, priority, a.entry.index(), position);
    a.batch.put(recordsCf, recordKey(id, partition, offset), stored);
    v.retainedBytes()[partition] += stored.length;
    queue.index(a, id, priority, position, partition, offset, stored.length);
    a.touch(v, partition);
    retention.appended(v, partition, now);
    return offset;
  }

  /** @return the working view of a topic, or null (apply thread) */
  TopicView workingView(String name) {
    return working.get(name);
  }

  /**
   * The dead-letter topic of {@code source}, created on demand with 1 partition (dead letters in
   * one total order), unlimited retention, the default delivery limit and its own default
   * dead-letter topic. Its id must be unique although the entry may create several such topics
   * (a tick dead-letters for many topics): {@code 2^62 | entry index << 16 | n}, n counting the
   * topics this entry created; ids of topics created by {@code CreateTopic} are entry indexes,
   * far below 2^62.
   *
   * @return the dead-letter topic's working view, or null if it would be {@code source} itself
   */
  TopicView deadLetterTopic(Apply a, TopicView source) {
    String name = source.meta().getDeadLetterTopic().isEmpty()
        ? defaultDeadLetterTopic(source.meta().getName()) : source.meta().getDeadLetterTopic();
    TopicView v = working.get(name);
    if (v != null || name.equals(source.meta().getName())) {
      return v == source ? null : v;
    }
    long index = a.entry.index();
    if (index >= (1L << 46) || a.created >= (1 << 16)) {
      throw new IllegalStateException("dead-letter topic ids exhausted at entry " + index);
    }
    TopicMeta meta = TopicMeta.newBuilder()
        .setName(name)
        .setId((1L << 62) | (index << 16) | a.created++)
        .setPartitions(1)
        .setRetentionMs(-1)
        .setRetentionBytes(-1)
        .setDeliveryLimit(QueueState.DEFAULT_DELIVERY_LIMIT)
        .setDeadLetterTopic(defaultDeadLetterTopic(name))
        .setCreatedMs(a.entry.timestampMs())
        .build();
    log.info("created dead-letter topic '{}' of '{}'", name, source.meta().getName());
    return createView(a, meta);
  }

  /**
   * @param topic a topic name
   * @return its default dead-letter topic, {@code {topic}.dlq}, with the name shortened so that
   *     the result stays within 249 characters
   */
  static String defaultDeadLetterTopic(String topic) {
    String name = topic.length() > 245 ? topic.substring(0, 245) + ".dlq" : topic + ".dlq";
    // A 249-character name ending in ".dlq" would shorten to itself: a topic that is its own
    // dead-letter topic keeps its poison records forever. Shorten one more character.
    return name.equals(topic) ? topic.substring(0, 244) + ".dlq" : name;
  }

  /**
   * Expires everything due at {@code nowMs} (the tick entry's timestamp). Each part of the state
   * that keeps deadlines expires its own here and reports its next deadline through {@link
   * #nextDeadlineMs()}. Retention goes first: it reads records from the committed state, which
   * the tick has not written to yet (and it never removes a record in flight, the only ones
   * expiry touches).
   */
  private Object tick(Apply a, long nowMs) {
    retention.enforce(a, nowMs);
    queue.expire(a, nowMs);
    return Boolean.TRUE;
  }

  /**
   * The earliest deadline (lease expiry, retention due) in the applied state, in ms since the
   * epoch on the leader's clock, or {@link Long#MAX_VALUE} when nothing waits for time. The
   * leader proposes a {@code Tick} once its clock passes it ({@link Broker}).
   *
   * <p>Thread safety: any thread; reflects the last applied batch.
   */
  public long nextDeadlineMs() {
    return Math.min(queue.nextDeadlineMs(), retention.nextDeadlineMs());
  }

  /** @return the retention part of the state (apply thread; {@link Retention#stats()}: any thread) */
  Retention retention() {
    return retention;
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

  /** @return the queue part of the state (reads: any thread) */
  QueueState queue() {
    return queue;
  }

  /**
   * Reads one record of a topic incarnation (any thread).
   *
   * @return the record, or null if it is not stored (the topic was deleted, or retention)
   */
  FetchedRecord readRecord(long topicId, int partition, long offset) {
    byte[] v = recordsCf.get(recordKey(topicId, partition, offset));
    return v == null ? null : CommandCodec.decodeStored(offset, v);
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

  private static byte[] partitionMeta(long start, long end, long retainedBytes) {
    return PartitionMeta.newBuilder().setStartOffset(start).setEndOffset(end).setRetainedBytes(retainedBytes).build()
        .toByteArray();
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
