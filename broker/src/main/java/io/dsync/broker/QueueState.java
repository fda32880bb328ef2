package io.dsync.broker;

import com.google.protobuf.InvalidProtocolBufferException;
import io.dsync.broker.TopicsStateMachine.Apply;
import io.dsync.broker.TopicsStateMachine.TopicView;
import io.dsync.broker.proto.Lease;
import io.dsync.broker.proto.LeaseRef;
import io.dsync.broker.proto.LeaseSettle;
import io.dsync.broker.proto.QueueCursor;
import io.dsync.broker.proto.QueueGroup;
import io.dsync.broker.proto.QueueLease;
import io.dsync.broker.proto.QueueRecordState;
import io.dsync.broker.proto.Record;
import io.dsync.broker.proto.StoredRecord;
import io.dsync.storage.Bytes;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Queue consumption (share groups, SQS-style), the part of {@link TopicsStateMachine} that leases
 * a topic's records to queue groups: each (topic, group) consumes every record once, higher
 * priorities first and FIFO within a priority, with visibility timeouts, redelivery, a delivery
 * limit and a dead-letter topic. docs/architecture.md, "Queue consumption", tells the whole story.
 *
 * <p>State, in three column families written in the apply batch:
 *
 * <ul>
 *   <li>{@code queue_index}: (topic id 8, 9 - priority 1, entry index 8, position in the entry
 *       4) → (partition 4, offset 8); one entry per produced record, written at produce, so that
 *       byte order is lease order: priority descending, then log order across partitions;
 *       deleted with its record by retention ({@link #dropIndexEntries});
 *   <li>{@code queue_groups}: (topic id 8, group) → {@link QueueGroup}: per priority, the last
 *       index key handed out to the group (its cursor);
 *   <li>{@code queue_leases}: (topic id 8, group, 0, partition 4, offset 8) → {@link QueueLease}:
 *       every record in flight for the group (leased, or available again after a release or an
 *       expiry). Acked and dead-lettered records have no entry: they are behind the cursors.
 * </ul>
 *
 * <p>In memory (apply thread only, rebuilt from the column families by {@link #load}): each
 * group's in-flight records by (partition, offset), its available-again records by index key,
 * its leased count, and one expiry queue for all groups sorted by (expiry, group, record).
 *
 * <p>Determinism: time is the entry's timestamp; only sorted collections; reads of the index
 * and of records happen only at command boundaries where {@link TopicsStateMachine} has
 * committed what earlier entries wrote ({@code Apply.readable}), so what a command reads does
 * not depend on how entries were batched.
 *
 * <p>Thread safety: the mutating methods run on the apply thread. {@link #summary}, {@link
 * #mayLease} and {@link #nextDeadlineMs} may be called from any thread and see the state as of
 * the last published batch (index reads see committed RocksDB state, which is never behind it).
 */
final class QueueState {
  private static final Logger log = LoggerFactory.getLogger(QueueState.class);

  /** The column families of queue consumption. */
  static final List<StateColumnFamily> COLUMN_FAMILIES = List.of(
      new StateColumnFamily("queue_index", false),
      new StateColumnFamily("queue_groups", false),
      new StateColumnFamily("queue_leases", false));

  /** Delivery limit used when a topic's metadata holds 0 (the API always stores 1-1000). */
  static final int DEFAULT_DELIVERY_LIMIT = 5;

  /** Header names a dead-lettered copy carries, saying where it came from and why. */
  static final String SOURCE_TOPIC = "dsync-source-topic";
  static final String SOURCE_PARTITION = "dsync-source-partition";
  static final String SOURCE_OFFSET = "dsync-source-offset";
  static final String DELIVERY_COUNT = "dsync-delivery-count";
  static final String DLQ_REASON = "dsync-dlq-reason";
  static final String DLQ_GROUP = "dsync-dlq-group";

  private static final List<String> PROVENANCE =
      List.of(SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, DELIVERY_COUNT, DLQ_REASON, DLQ_GROUP);

  // ------------------------------------------------------------------ in-memory keys

  /**
   * A record's position in the priority index: priority (higher first), then the produce
   * entry's index and the record's position in it (log order).
   */
  record IndexKey(int priority, long entryIndex, int position) implements Comparable<IndexKey> {
    @Override
    public int compareTo(IndexKey o) {
      int c = Integer.compare(o.priority, priority);
      if (c != 0) {
        return c;
      }
      c = Long.compare(entryIndex, o.entryIndex);
      return c != 0 ? c : Integer.compare(position, o.position);
    }
  }

  /** A record of a topic. */
  record RecordRef(int partition, long offset) implements Comparable<RecordRef> {
    @Override
    public int compareTo(RecordRef o) {
      int c = Integer.compare(partition, o.partition);
      return c != 0 ? c : Long.compare(offset, o.offset);
    }
  }

  /** A queue group of one topic incarnation. */
  record GroupKey(long topicId, String group) implements Comparable<GroupKey> {
    @Override
    public int compareTo(GroupKey o) {
      int c = Long.compare(topicId, o.topicId);
      return c != 0 ? c : group.compareTo(o.group);
    }
  }

  /** A lease's end, in the expiry queue. */
  record Expiry(long expiresMs, GroupKey group, RecordRef record) implements Comparable<Expiry> {
    @Override
    public int compareTo(Expiry o) {
      int c = Long.compare(expiresMs, o.expiresMs);
      if (c != 0) {
        return c;
      }
      c = group.compareTo(o.group);
      return c != 0 ? c : record.compareTo(o.record);
    }
  }

  /** One record in flight for one group: leased, or available again. Apply thread only. */
  private static final class InFlight {
    final RecordRef ref;
    final IndexKey index;
    /** The stored record's size in bytes (0: unknown). */
    final int bytes;
    boolean leased;
    int deliveryCount;
    long expiresMs;

    InFlight(RecordRef ref, IndexKey index, int bytes) {
      this.ref = ref;
      this.index = index;
      this.bytes = bytes;
    }
  }

  /** One queue group's working state. Apply thread only. */
  private static final class Group {
    final GroupKey key;
    final String topic;
    final IndexKey[] cursors = new IndexKey[BrokerLimits.MAX_PRIORITY + 1];
    final TreeMap<RecordRef, InFlight> inFlight = new TreeMap<>();
    final TreeMap<IndexKey, InFlight> available = new TreeMap<>();
    int leased;

    Group(GroupKey key, String topic) {
      this.key = key;
      this.topic = topic;
    }
  }

  /**
   * What readers see of a group after the last batch.
   *
   * @param cursors per priority (index = priority) the last index key handed out, or null
   * @param leased records leased now (expired leases count until a tick or lease expires them)
   * @param available records available again (released or expired), handed out before new ones
   */
  record GroupSummary(List<IndexKey> cursors, int leased, int available) {}

  // ------------------------------------------------------------------ results of apply

  /**
   * One record handed out by a lease.
   *
   * @param partition its partition
   * @param offset its offset
   * @param priority its priority
   * @param deliveryCount which delivery this is, from 1
   * @param leaseExpiresMs when the lease ends (entry timestamp + visibility timeout), ms since
   *     the epoch on the leader's clock
   */
  record Delivery(int partition, long offset, int priority, int deliveryCount, long leaseExpiresMs) {}

  /**
   * The result of a lease command.
   *
   * @param topicId the topic incarnation the records belong to (to read them back)
   * @param deliveries the records, in lease order (priority descending, then log order)
   */
  record Leased(long topicId, List<Delivery> deliveries) {}

  /**
   * The result of an ack, release, reject or extend.
   *
   * @param settled leases acked, released, rejected or extended
   * @param deadLettered of those, records that went to the dead-letter topic
   * @param unknown indexes (in the command's order) of leases that are not live leases of the
   *     group: unknown, of an earlier delivery, already settled, or expired at the entry's time
   * @param leaseExpiresMs for an extend, per lease in the command's order, the new expiry (0 for
   *     unknown ones); empty otherwise
   */
  record Settled(int settled, int deadLettered, List<Integer> unknown, List<Long> leaseExpiresMs) {}

  private final TopicsStateMachine topics;
  private final Column indexCf;
  private final Column groupsCf;
  private final Column leasesCf;
  private final Column recordsCf;
  private final TreeMap<GroupKey, Group> groups = new TreeMap<>();
  private final TreeSet<Expiry> expiries = new TreeSet<>();
  /** Groups changed by the batch being applied, to publish after it is committed. */
  private final TreeSet<GroupKey> touched = new TreeSet<>();
  private final ConcurrentSkipListMap<GroupKey, GroupSummary> published = new ConcurrentSkipListMap<>();
  private volatile long nextDeadlineMs = Long.MAX_VALUE;

  /**
   * @param store the node's state store, opened with {@link #COLUMN_FAMILIES} and the topics'
   *     {@code records} column family
   * @param topics the state machine this is part of: working topic views, the append path and
   *     dead-letter topics come from it
   */
  QueueState(StateStore store, TopicsStateMachine topics) {
    this.topics = topics;
    this.indexCf = store.column("queue_index");
    this.groupsCf = store.column("queue_groups");
    this.leasesCf = store.column("queue_leases");
    this.recordsCf = store.column("records");
  }

  /**
   * Rebuilds the working state from the column families and publishes it (at start and after a
   * snapshot was installed).
   *
   * @param topicNames each live topic's name by its id
   */
  void load(TreeMap<Long, String> topicNames) {
    groups.clear();
    expiries.clear();
    touched.clear();
    for (KeyValue kv : groupsCf.scan(new byte[0], new byte[] {(byte) 0xFF}, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      long topicId = Bytes.getLong(kv.key(), 0);
      String name = topicNames.get(topicId);
      if (name == null) {
        continue; // cannot happen: deleting a topic deletes its groups
      }
      GroupKey key = new GroupKey(topicId, new String(kv.key(), 8, kv.key().length - 8, StandardCharsets.UTF_8));
      Group g = new Group(key, name);
      for (QueueCursor c : parseGroup(kv.value()).getCursorsList()) {
        g.cursors[c.getPriority()] = new IndexKey(c.getPriority(), c.getEntryIndex(), c.getPosition());
      }
      groups.put(key, g);
    }
    for (KeyValue kv : leasesCf.scan(new byte[0], new byte[] {(byte) 0xFF}, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      byte[] k = kv.key();
      GroupKey key = new GroupKey(Bytes.getLong(k, 0), new String(k, 8, k.length - 8 - 13, StandardCharsets.UTF_8));
      Group g = groups.get(key);
      if (g == null) {
        continue; // cannot happen: a lease is written with its group
      }
      QueueLease l = parseLease(kv.value());
      InFlight f = new InFlight(new RecordRef(Bytes.getInt(k, k.length - 12), Bytes.getLong(k, k.length - 8)),
          new IndexKey(l.getPriority(), l.getEntryIndex(), l.getPosition()), l.getBytes());
      f.deliveryCount = l.getDeliveryCount();
      g.inFlight.put(f.ref, f);
      if (l.getState() == QueueRecordState.QUEUE_RECORD_LEASED) {
        f.leased = true;
        f.expiresMs = l.getExpiresMs();
        g.leased++;
        expiries.add(new Expiry(f.expiresMs, key, f.ref));
      } else {
        g.available.put(f.index, f);
      }
    }
    published.clear();
    groups.forEach((k, g) -> published.put(k, summarize(g)));
    nextDeadlineMs = expiries.isEmpty() ? Long.MAX_VALUE : expiries.first().expiresMs();
  }

  /** Publishes the groups changed by the batch just committed. Apply thread. */
  void publish() {
    for (GroupKey k : touched) {
      Group g = groups.get(k);
      if (g == null) {
        published.remove(k);
      } else {
        published.put(k, summarize(g));
      }
    }
    touched.clear();
    nextDeadlineMs = expiries.isEmpty() ? Long.MAX_VALUE : expiries.first().expiresMs();
  }

  private static GroupSummary summarize(Group g) {
    return new GroupSummary(Arrays.asList(g.cursors.clone()), g.leased, g.available.size());
  }

  // ------------------------------------------------------------------ apply (apply thread)

  /**
   * Writes a produced record's priority-index entry. Called for every appended record.
   *
   * @param position the record's position among the records the entry appends to the topic
   * @param bytes the stored record's size, so that a lease can keep to a byte budget without
   *     reading records
   */
  void index(Apply a, long topicId, int priority, int position, int partition, long offset, int bytes) {
    byte[] v = new byte[16];
    Bytes.putInt(v, 0, partition);
    Bytes.putLong(v, 4, offset);
    Bytes.putInt(v, 12, bytes);
    a.batch.put(indexCf, indexKey(topicId, priority, a.entry.index(), position), v);
  }

  /**
   * Leases records to a group (creating it on its first lease): first expires the group's due
   * leases, then hands out, priority by priority from 9 down to 0, the records available again
   * (oldest index key first) and then new records from the index above the group's cursor, until
   * {@code max_records} or the in-flight cap is reached. Strict priority: a lower priority gets
   * nothing while a higher one has records to hand out.
   *
   * @param v the topic's working view, or null if it does not exist
   * @return {@link Leased}, or a NOT_FOUND {@link BrokerException} for an unknown topic
   */
  Object lease(Apply a, Lease c, TopicView v) {
    if (v == null) {
      return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + c.getTopic() + "' does not exist");
    }
    long id = v.meta().getId();
    long now = a.entry.timestampMs();
    GroupKey key = new GroupKey(id, c.getGroup());
    Group g = groups.get(key);
    if (g == null) {
      int existing = groups.subMap(new GroupKey(id, ""), true, new GroupKey(id + 1, ""), false).size();
      if (c.getMaxGroups() > 0 && existing >= c.getMaxGroups()) {
        return new BrokerException(ErrorKind.CONFLICT, "topic '" + v.meta().getName() + "' has " + existing
            + " queue groups, the most it may have; group '" + c.getGroup() + "' cannot start");
      }
      g = new Group(key, v.meta().getName());
      groups.put(key, g);
      writeGroup(a, g);
    }
    expireDue(a, g, now);
    int room = Math.min(c.getMaxRecords(), c.getMaxInFlight() - g.leased);
    long until = now + c.getVisibilityTimeoutMs();
    List<Delivery> out = new ArrayList<>();
    boolean cursorMoved = false;
    // A byte budget (the leader's fetch limit) so one lease cannot pull a gigabyte of large
    // records into one answer; always at least one record, so a large one is never stuck.
    long budget = c.getMaxBytes() > 0 ? c.getMaxBytes() : Long.MAX_VALUE;
    long bytes = 0;
    for (int p = BrokerLimits.MAX_PRIORITY; p >= 0 && room > 0; p--) {
      Iterator<InFlight> again = g.available
          .subMap(new IndexKey(p, Long.MIN_VALUE, Integer.MIN_VALUE), true, new IndexKey(p, Long.MAX_VALUE, Integer.MAX_VALUE), true)
          .values().iterator();
      while (room > 0 && again.hasNext()) {
        InFlight f = again.next();
        if (!out.isEmpty() && bytes + f.bytes > budget) {
          room = 0;
          break;
        }
        again.remove();
        deliver(a, g, f, until, out);
        bytes += f.bytes;
        room--;
      }
      if (room == 0) {
        break;
      }
      IndexKey cursor = g.cursors[p];
      byte[] from = cursor == null ? priorityStart(id, p) : after(indexKey(id, p, cursor.entryIndex(), cursor.position()));
      for (KeyValue kv : indexCf.scan(from, priorityStart(id, p - 1), room, Long.MAX_VALUE)) {
        IndexKey ik = new IndexKey(p, Bytes.getLong(kv.key(), 9), Bytes.getInt(kv.key(), 17));
        RecordRef ref = new RecordRef(Bytes.getInt(kv.value(), 0), Bytes.getLong(kv.value(), 4));
        int size = kv.value().length >= 16 ? Bytes.getInt(kv.value(), 12) : 0;
        if (ref.offset() < v.startOffsets()[ref.partition()]) {
          g.cursors[p] = ik;
          cursorMoved = true;
          continue; // removed by retention, index entry kept (stored before records carried its key)
        }
        if (!out.isEmpty() && bytes + size > budget) {
          room = 0; // over the byte budget: this record stays for the next lease (cursor not moved past it)
          break;
        }
        g.cursors[p] = ik;
        cursorMoved = true;
        InFlight f = new InFlight(ref, ik, size);
        g.inFlight.put(ref, f);
        deliver(a, g, f, until, out);
        bytes += size;
        room--;
      }
    }
    if (cursorMoved) {
      writeGroup(a, g);
    }
    touched.add(key);
    return new Leased(id, out);
  }

  private void deliver(Apply a, Group g, InFlight f, long until, List<Delivery> out) {
    f.deliveryCount++;
    f.leased = true;
    f.expiresMs = until;
    g.leased++;
    expiries.add(new Expiry(until, g.key, f.ref));
    writeLease(a, g, f);
    out.add(new Delivery(f.ref.partition(), f.ref.offset(), f.index.priority(), f.deliveryCount, until));
  }

  /**
   * Acks, releases, rejects or extends leases of a group. A lease id that does not name a live
   * lease of the group (unknown record, an earlier delivery, already settled, another topic
   * incarnation, or expired at the entry's timestamp even if no tick has expired it yet) is
   * reported in {@link Settled#unknown()} and changes nothing.
   *
   * @param v the topic's working view, or null if it does not exist
   * @return {@link Settled}, or a NOT_FOUND {@link BrokerException} for an unknown topic or group
   */
  Object settle(Apply a, CommandCodec.Settlement what, LeaseSettle c, TopicView v) {
    if (v == null) {
      return new BrokerException(ErrorKind.NOT_FOUND, "topic '" + c.getTopic() + "' does not exist");
    }
    Group g = groups.get(new GroupKey(v.meta().getId(), c.getGroup()));
    if (g == null) {
      return unknownGroup(c.getTopic(), c.getGroup());
    }
    long now = a.entry.timestampMs();
    int settled = 0;
    int deadLettered = 0;
    List<Integer> unknown = new ArrayList<>();
    List<Long> expires = new ArrayList<>();
    for (int i = 0; i < c.getLeasesCount(); i++) {
      LeaseRef ref = c.getLeases(i);
      InFlight f = ref.getTopicId() == g.key.topicId()
          ? g.inFlight.get(new RecordRef(ref.getPartition(), ref.getOffset())) : null;
      if (f == null || !f.leased || f.deliveryCount != ref.getDeliveryCount() || f.expiresMs <= now) {
        unknown.add(i);
        if (what == CommandCodec.Settlement.EXTEND) {
          expires.add(0L);
        }
        continue;
      }
      settled++;
      switch (what) {
        case ACK -> {
          unlease(g, f);
          forget(a, g, f);
        }
        case RELEASE -> {
          unlease(g, f);
          if (comeBack(a, g, f, v, "released")) {
            deadLettered++;
          }
        }
        case REJECT -> {
          unlease(g, f);
          deadLetter(a, g, f, v, "rejected");
          deadLettered++;
        }
        case EXTEND -> {
          expiries.remove(new Expiry(f.expiresMs, g.key, f.ref));
          f.expiresMs = now + c.getVisibilityTimeoutMs();
          expiries.add(new Expiry(f.expiresMs, g.key, f.ref));
          writeLease(a, g, f);
          expires.add(f.expiresMs);
        }
      }
    }
    if (settled > 0) {
      touched.add(g.key);
      a.changed.add(g.topic); // a freed slot or a record available again may end a long poll
    }
    return new Settled(settled, deadLettered, unknown, expires);
  }

  /** The most leases one tick expires; the next tick continues (its deadline is still due). */
  static final int MAX_EXPIRIES_PER_TICK = 10_000;

  static BrokerException unknownGroup(String topic, String group) {
    return new BrokerException(ErrorKind.NOT_FOUND,
        "queue group '" + group + "' has never leased from topic '" + topic + "'");
  }

  /**
   * Expires every lease due at {@code nowMs} (a tick's timestamp), across all topics and groups.
   *
   * @return how many leases expired
   */
  int expire(Apply a, long nowMs) {
    int n = 0;
    // Bounded work per tick (one entry, one batch): the rest stays due, so the leader ticks again at once.
    while (n < MAX_EXPIRIES_PER_TICK && !expiries.isEmpty() && expiries.first().expiresMs() <= nowMs) {
      Expiry x = expiries.first();
      Group g = groups.get(x.group());
      expire(a, g, g.inFlight.get(x.record()));
      n++;
    }
    return n;
  }

  /** Expires the due leases of one group (a lease command does it first, whatever the ticks). */
  private void expireDue(Apply a, Group g, long nowMs) {
    List<RecordRef> due = new ArrayList<>();
    for (Expiry x : expiries) {
      if (x.expiresMs() > nowMs) {
        break;
      }
      if (x.group().equals(g.key)) {
        due.add(x.record());
      }
    }
    for (RecordRef r : due) {
      expire(a, g, g.inFlight.get(r));
    }
  }

  private void expire(Apply a, Group g, InFlight f) {
    a.changed.add(g.topic); // a freed slot may end a long poll, whatever becomes of the record
    unlease(g, f);
    TopicView v = topics.workingView(g.topic);
    comeBack(a, g, f, v, "expired");
  }

  /** Ends a record's lease in memory (the caller writes what becomes of it). */
  private void unlease(Group g, InFlight f) {
    if (!expiries.remove(new Expiry(f.expiresMs, g.key, f.ref))) {
      throw new IllegalStateException("lease of " + f.ref + " in " + g.key + " missing from the expiry queue");
    }
    f.leased = false;
    f.expiresMs = 0;
    g.leased--;
    touched.add(g.key);
  }

  /**
   * A record whose lease ended without an ack: available again, or to the dead-letter topic once
   * its deliveries reached the topic's delivery limit.
   *
   * @return whether it was dead-lettered
   */
  private boolean comeBack(Apply a, Group g, InFlight f, TopicView v, String reason) {
    int limit = v.meta().getDeliveryLimit() == 0 ? DEFAULT_DELIVERY_LIMIT : v.meta().getDeliveryLimit();
    if (f.deliveryCount >= limit) {
      deadLetter(a, g, f, v, reason);
      return true;
    }
    g.available.put(f.index, f);
    writeLease(a, g, f);
    a.changed.add(g.topic);
    return false;
  }

  /**
   * The record is done for the group: no entry left (it is behind the cursor). If it held the
   * partition's retention back, retention may move past it now.
   */
  private void forget(Apply a, Group g, InFlight f) {
    g.inFlight.remove(f.ref);
    g.available.remove(f.index);
    a.batch.delete(leasesCf, leaseKey(g.key, f.ref));
    touched.add(g.key);
    topics.retention().unpinned(g.key.topicId(), f.ref.partition(), f.ref.offset(), a.entry.timestampMs());
  }

  /**
   * Copies the record to the topic's dead-letter topic (created on demand) with provenance
   * headers (replacing any it already had), in the same batch as forgetting it, so both happen or neither. If there is no record
   * to copy (retention removed it) it is only forgotten, with a warning. If the dead-letter topic
   * would be the topic itself (refused when topics are created, so only hand-made state) the
   * record stays available instead: never dropped.
   */
  private void deadLetter(Apply a, Group g, InFlight f, TopicView v, String reason) {
    long id = g.key.topicId();
    byte[] stored = recordsCf.get(TopicsStateMachine.recordKey(id, f.ref.partition(), f.ref.offset()));
    if (stored == null) {
      log.warn("{}/{}/{}: no record left to dead-letter for group {} (removed by retention)", g.topic,
          f.ref.partition(), f.ref.offset(), g.key.group());
      forget(a, g, f);
      return;
    }
    TopicView dlq = topics.deadLetterTopic(a, v);
    if (dlq == null) {
      log.error("{}: its dead-letter topic is itself; {}/{} stays available to group {}", g.topic,
          f.ref.partition(), f.ref.offset(), g.key.group());
      g.available.put(f.index, f);
      writeLease(a, g, f);
      return;
    }
    Record r;
    try {
      r = StoredRecord.parseFrom(stored).getRecord();
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt stored record " + g.topic + "/" + f.ref, e);
    }
    // Provenance headers replace earlier ones (a dead letter of a dead-letter topic): the HTTP
    // API shows headers as a JSON object, where a name must appear once.
    Record.Builder b = r.toBuilder().clearHeaders();
    for (io.dsync.broker.proto.Header h : r.getHeadersList()) {
      if (!PROVENANCE.contains(h.getKey())) {
        b.addHeaders(h);
      }
    }
    Record copy = b
        .addHeaders(header(SOURCE_TOPIC, g.topic))
        .addHeaders(header(SOURCE_PARTITION, Integer.toString(f.ref.partition())))
        .addHeaders(header(SOURCE_OFFSET, Long.toString(f.ref.offset())))
        .addHeaders(header(DELIVERY_COUNT, Integer.toString(f.deliveryCount)))
        .addHeaders(header(DLQ_REASON, reason))
        .addHeaders(header(DLQ_GROUP, g.key.group()))
        .build();
    int partition = f.ref.partition() % dlq.endOffsets().length;
    topics.append(a, dlq, partition, copy.toByteString(), r.getPriority(), a.nextPosition());
    forget(a, g, f);
  }

  private static io.dsync.broker.proto.Header header(String key, String value) {
    return io.dsync.broker.proto.Header.newBuilder().setKey(key).setValue(value).build();
  }

  /**
   * The lowest offset of a partition that some queue group has in flight ({@code LEASED} or
   * {@code AVAILABLE} again): retention must not move the partition's start offset past it.
   * Apply thread.
   *
   * @return that offset, or {@link Long#MAX_VALUE} if no group has a record of the partition in
   *     flight
   */
  long lowestInFlight(long topicId, int partition) {
    long lowest = Long.MAX_VALUE;
    RecordRef first = new RecordRef(partition, Long.MIN_VALUE);
    for (Group g : groups.subMap(new GroupKey(topicId, ""), true, new GroupKey(topicId + 1, ""), false).values()) {
      RecordRef r = g.inFlight.ceilingKey(first);
      if (r != null && r.partition() == partition) {
        lowest = Math.min(lowest, r.offset());
      }
    }
    return lowest;
  }

  /**
   * Retention removed records: deletes their priority-index entries (records stored without
   * their index key keep theirs; a lease skips them) and counts, for each record, the queue groups
   * of the topic that had not yet leased it — their cursor of the record's priority had not
   * reached it. None of the records is in flight ({@link #lowestInFlight}). Apply thread.
   *
   * @param removed the removed records' stored headers
   * @return the number of (record, group) pairs where the group never got the record
   */
  int dropIndexEntries(Apply a, long topicId, List<CommandCodec.StoredHeader> removed) {
    var of = groups.subMap(new GroupKey(topicId, ""), true, new GroupKey(topicId + 1, ""), false).values();
    int undelivered = 0;
    for (CommandCodec.StoredHeader h : removed) {
      if (!h.hasIndexKey()) {
        continue;
      }
      a.batch.delete(indexCf, indexKey(topicId, h.priority(), h.entryIndex(), h.position()));
      IndexKey k = new IndexKey(h.priority(), h.entryIndex(), h.position());
      for (Group g : of) {
        IndexKey cursor = g.cursors[h.priority()];
        if (cursor == null || cursor.compareTo(k) < 0) {
          undelivered++;
        }
      }
    }
    return undelivered;
  }

  /** Deletes every queue entry of a deleted topic incarnation, in the batch and in memory. */
  void dropTopic(Apply a, long topicId) {
    NavigableMap<GroupKey, Group> of =
        groups.subMap(new GroupKey(topicId, ""), true, new GroupKey(topicId + 1, ""), false);
    for (Group g : of.values()) {
      for (InFlight f : g.inFlight.values()) {
        if (f.leased) {
          expiries.remove(new Expiry(f.expiresMs, g.key, f.ref));
        }
      }
      touched.add(g.key);
    }
    of.clear();
    byte[] from = Bytes.longKey(topicId);
    byte[] to = Bytes.longKey(topicId + 1);
    a.batch.deleteRange(indexCf, from, to);
    a.batch.deleteRange(groupsCf, from, to);
    a.batch.deleteRange(leasesCf, from, to);
  }

  private void writeGroup(Apply a, Group g) {
    QueueGroup.Builder b = QueueGroup.newBuilder();
    for (IndexKey c : g.cursors) {
      if (c != null) {
        b.addCursors(QueueCursor.newBuilder().setPriority(c.priority()).setEntryIndex(c.entryIndex())
            .setPosition(c.position()));
      }
    }
    a.batch.put(groupsCf, groupKey(g.key), b.build().toByteArray());
  }

  private void writeLease(Apply a, Group g, InFlight f) {
    QueueLease l = QueueLease.newBuilder()
        .setState(f.leased ? QueueRecordState.QUEUE_RECORD_LEASED : QueueRecordState.QUEUE_RECORD_AVAILABLE)
        .setDeliveryCount(f.deliveryCount)
        .setExpiresMs(f.expiresMs)
        .setPriority(f.index.priority())
        .setEntryIndex(f.index.entryIndex())
        .setPosition(f.index.position())
        .setBytes(f.bytes)
        .build();
    a.batch.put(leasesCf, leaseKey(g.key, f.ref), l.toByteArray());
  }

  // ------------------------------------------------------------------ reads (any thread)

  /** @return the group's state as of the last batch, or null if it never leased */
  GroupSummary summary(long topicId, String group) {
    return published.get(new GroupKey(topicId, group));
  }

  /**
   * A cheap, read-only hint for long polls: could a lease by {@code group} hand out a record now?
   * True if the group holds fewer than {@code maxInFlight} leased records and has a record
   * available again or any index entry above one of its cursors (at most ten one-key index
   * reads). May be stale by the batch being applied; the lease command decides.
   *
   * @param topicId the topic incarnation
   */
  boolean mayLease(long topicId, String group, int maxInFlight) {
    GroupSummary s = summary(topicId, group);
    if (s != null && s.leased() >= maxInFlight) {
      return false;
    }
    if (s != null && s.available() > 0) {
      return true;
    }
    for (int p = BrokerLimits.MAX_PRIORITY; p >= 0; p--) {
      IndexKey c = s == null ? null : s.cursors().get(p);
      byte[] from = c == null ? priorityStart(topicId, p) : after(indexKey(topicId, p, c.entryIndex(), c.position()));
      if (!indexCf.scan(from, priorityStart(topicId, p - 1), 1, Long.MAX_VALUE).isEmpty()) {
        return true;
      }
    }
    return false;
  }

  /**
   * @return the earliest lease expiry as of the last batch (ms since the epoch, leader clock), or
   *     {@link Long#MAX_VALUE} when nothing is leased. Any thread.
   */
  long nextDeadlineMs() {
    return nextDeadlineMs;
  }

  // ------------------------------------------------------------------ keys

  /** @return (topic id, 9 - priority, entry index, position): 21 bytes, byte order = lease order */
  static byte[] indexKey(long topicId, int priority, long entryIndex, int position) {
    byte[] k = new byte[21];
    Bytes.putLong(k, 0, topicId);
    k[8] = (byte) (BrokerLimits.MAX_PRIORITY - priority);
    Bytes.putLong(k, 9, entryIndex);
    Bytes.putInt(k, 17, position);
    return k;
  }

  /**
   * @return the smallest index key of {@code priority} (9 bytes); for priority -1, the end of
   *     priority 0
   */
  private static byte[] priorityStart(long topicId, int priority) {
    byte[] k = new byte[9];
    Bytes.putLong(k, 0, topicId);
    k[8] = (byte) (BrokerLimits.MAX_PRIORITY - priority);
    return k;
  }

  /** @return the smallest key greater than {@code key} */
  private static byte[] after(byte[] key) {
    return Arrays.copyOf(key, key.length + 1);
  }

  private static byte[] groupKey(GroupKey g) {
    byte[] name = g.group().getBytes(StandardCharsets.UTF_8);
    byte[] k = new byte[8 + name.length];
    Bytes.putLong(k, 0, g.topicId());
    System.arraycopy(name, 0, k, 8, name.length);
    return k;
  }

  /** @return (topic id, group, 0, partition, offset); group names never hold a 0 byte */
  private static byte[] leaseKey(GroupKey g, RecordRef r) {
    byte[] name = g.group().getBytes(StandardCharsets.UTF_8);
    byte[] k = new byte[8 + name.length + 13];
    Bytes.putLong(k, 0, g.topicId());
    System.arraycopy(name, 0, k, 8, name.length);
    Bytes.putInt(k, 8 + name.length + 1, r.partition());
    Bytes.putLong(k, 8 + name.length + 5, r.offset());
    return k;
  }

  private static QueueGroup parseGroup(byte[] b) {
    try {
      return QueueGroup.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt queue group", e);
    }
  }

  private static QueueLease parseLease(byte[] b) {
    try {
      return QueueLease.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt queue lease", e);
    }
  }
}
