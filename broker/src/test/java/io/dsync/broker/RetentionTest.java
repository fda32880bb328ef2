package io.dsync.broker;

import static io.dsync.broker.StateMachineHarness.T0;
import static io.dsync.broker.StateMachineHarness.machine;
import static io.dsync.broker.StateMachineHarness.one;
import static io.dsync.broker.StateMachineHarness.assertError;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.CommandCodec.Settlement;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.QueueState.Leased;
import io.dsync.broker.QueueState.Settled;
import io.dsync.broker.TopicsStateMachine.TopicView;
import io.dsync.broker.proto.PartitionMeta;
import io.dsync.raft.Entry;
import io.dsync.storage.Bytes;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.KeyValue;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Retention applied straight to a {@link TopicsStateMachine} on real RocksDB, with hand-made
 * entries and timestamps (docs/architecture.md, "Retention"): time retention at the tick's time
 * and not before, byte retention keeping the newest records under the bound, the start offset
 * and the records and index column families, records in flight for a queue group holding
 * retention back until acked, expired and acked, or dead-lettered, never-leased records removed
 * and counted, the per-tick budget continued by the next tick, the leader's deadline (no ticks for
 * an idle or a pinned topic), recovery from disk (also of metadata without a byte count), and
 * determinism across batchings and restarts.
 */
class RetentionTest {
  @TempDir Path dir;

  private StateMachineHarness h;

  @BeforeEach
  void openHarness() {
    h = new StateMachineHarness(dir);
  }

  @AfterEach
  void closeAll() {
    h.close();
  }

  /** Entries at a clock the test sets. */
  private static class Log extends StateMachineHarness.ClockedLog {}

  private static byte[] topic(String name, int partitions, long retentionMs, long retentionBytes) {
    return CommandCodec.createTopic(new TopicConfig(name, partitions, retentionMs, retentionBytes, 5, ""));
  }

  /** {@code n} records of {@code size} value bytes on {@code partition}, priority 0, named {@code prefix0..}. */
  private static byte[] produce(String topic, int partition, String prefix, int n, int size) {
    int[] parts = new int[n];
    int[] prios = new int[n];
    List<byte[]> records = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      parts[i] = partition;
      String v = prefix + i;
      String padded = v + "x".repeat(Math.max(0, size - v.length()));
      records.add(CommandCodec.encodeRecord(new RecordIn(null, ("\"" + padded + "\"").getBytes(UTF_8), false, List.of(), 0)));
    }
    return CommandCodec.produce(topic, parts, prios, records);
  }

  private static byte[] lease(String topic, String group, int max, long visibilityMs) {
    return CommandCodec.lease(topic, group, max, visibilityMs, 10_000);
  }

  private static List<LeaseId> ids(Leased l) {
    return l.deliveries().stream().map(d -> new LeaseId(l.topicId(), d.partition(), d.offset(), d.deliveryCount())).toList();
  }

  private static long start(TopicsStateMachine sm, String topic, int p) {
    return sm.view(topic).startOffsets()[p];
  }

  /** @return the offsets of the partition's records stored in the records column family */
  private static List<Long> storedOffsets(NodeStorage s, TopicsStateMachine sm, String topic, int p) {
    long id = sm.view(topic).meta().getId();
    List<Long> out = new ArrayList<>();
    for (KeyValue kv : s.state().column("records").scan(TopicsStateMachine.recordKey(id, p, 0),
        TopicsStateMachine.recordKey(id, p, Long.MAX_VALUE), Integer.MAX_VALUE, Long.MAX_VALUE)) {
      out.add(Bytes.getLong(kv.key(), 12));
    }
    return out;
  }

  /** @return the stored value length of each of the partition's records, by offset */
  private static List<Long> storedSizes(NodeStorage s, TopicsStateMachine sm, String topic, int p) {
    long id = sm.view(topic).meta().getId();
    List<Long> out = new ArrayList<>();
    for (KeyValue kv : s.state().column("records").scan(TopicsStateMachine.recordKey(id, p, 0),
        TopicsStateMachine.recordKey(id, p, Long.MAX_VALUE), Integer.MAX_VALUE, Long.MAX_VALUE)) {
      out.add((long) kv.value().length);
    }
    return out;
  }

  /** @return the summed stored value lengths of the partition's records */
  private static long storedBytes(NodeStorage s, TopicsStateMachine sm, String topic, int p) {
    long id = sm.view(topic).meta().getId();
    long sum = 0;
    for (KeyValue kv : s.state().column("records").scan(TopicsStateMachine.recordKey(id, p, 0),
        TopicsStateMachine.recordKey(id, p, Long.MAX_VALUE), Integer.MAX_VALUE, Long.MAX_VALUE)) {
      sum += kv.value().length;
    }
    return sum;
  }

  /** @return the (partition, offset) each priority-index entry of the topic points to */
  private static List<String> indexed(NodeStorage s, TopicsStateMachine sm, String topic) {
    long id = sm.view(topic).meta().getId();
    List<String> out = new ArrayList<>();
    for (KeyValue kv : s.state().column("queue_index").scan(Bytes.longKey(id), Bytes.longKey(id + 1),
        Integer.MAX_VALUE, Long.MAX_VALUE)) {
      out.add(Bytes.getInt(kv.value(), 0) + "/" + Bytes.getLong(kv.value(), 4));
    }
    return out;
  }

  private static List<Long> range(long from, long toExclusive) {
    List<Long> out = new ArrayList<>();
    for (long i = from; i < toExclusive; i++) {
      out.add(i);
    }
    return out;
  }

  // ------------------------------------------------------------------ time

  @Test
  void timeRetentionRemovesExactlyTheRecordsDueAtTheTicksTimeAndNotBefore() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("t", 2, 10_000, -1)));
    for (int i = 0; i < 5; i++) { // offsets 0-4 on both partitions at T0+1000 .. T0+5000
      one(sm, log.at(T0 + 1000 * (i + 1), produce("t", 0, "a" + i + "-", 1, 10)));
      one(sm, log.entry(produce("t", 1, "b" + i + "-", 1, 10)));
    }
    assertEquals(T0 + 1000 + 10_000, sm.nextDeadlineMs(), "the leader is asked for a tick once the oldest record is due");

    one(sm, log.at(T0 + 1000 + 10_000 - 1, CommandCodec.tick()));
    assertEquals(0, start(sm, "t", 0), "a record due 1 ms later stays");
    assertEquals(range(0, 5), storedOffsets(s, sm, "t", 0));

    one(sm, log.at(T0 + 3000 + 10_000, CommandCodec.tick())); // records at T0+1000..3000 are due
    for (int p = 0; p < 2; p++) {
      assertEquals(3, start(sm, "t", p));
      assertEquals(range(3, 5), storedOffsets(s, sm, "t", p), "records below the start are deleted");
      assertEquals(storedBytes(s, sm, "t", p), sm.view("t").retainedBytes()[p]);
      assertNull(sm.readRecord(sm.view("t").meta().getId(), p, 2));
    }
    assertEquals(List.of("0/3", "1/3", "0/4", "1/4"), indexed(s, sm, "t"), "index entries go with their records");
    assertEquals(T0 + 4000 + 10_000, sm.nextDeadlineMs(), "the next record's due");
    assertEquals(6, sm.retention().stats().removedRecords());

    one(sm, log.at(T0 + 60_000, CommandCodec.tick()));
    assertEquals(5, start(sm, "t", 0));
    assertEquals(5, sm.view("t").endOffsets()[0], "the end offset stays");
    assertEquals(0, sm.view("t").retainedBytes()[0]);
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs(), "an empty topic asks for no tick");
    assertEquals(List.of(), indexed(s, sm, "t"));

    // The next record starts the clock again, at its own timestamp.
    one(sm, log.at(T0 + 70_000, produce("t", 0, "c", 1, 10)));
    assertEquals(T0 + 80_000, sm.nextDeadlineMs());
    one(sm, log.at(T0 + 79_900, CommandCodec.tick())); // a tick for something else, just before the due
    assertEquals(T0 + 79_900 + Retention.CHECK_INTERVAL_MS, sm.nextDeadlineMs(),
        "at most one retention tick a second: the due waits for the check interval");
    assertEquals(5, sm.read(sm.view("t"), 0, 5, 10, Long.MAX_VALUE).get(0).offset());
  }

  @Test
  void topicsWithoutRetentionKeepEverythingAndAskForNoTick() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("forever", 1, -1, -1)));
    one(sm, log.entry(produce("forever", 0, "v", 50, 100)));
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs());
    one(sm, log.at(T0 + 365L * 24 * 3600 * 1000, CommandCodec.tick()));
    assertEquals(0, start(sm, "forever", 0));
    assertEquals(range(0, 50), storedOffsets(s, sm, "forever", 0));
  }

  // ------------------------------------------------------------------ bytes

  @Test
  void byteRetentionKeepsTheNewestRecordsUnderTheBoundPerPartition() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("b", 2, -1, 1000)));
    one(sm, log.entry(produce("b", 0, "r", 10, 200))); // 10 records of about 215 bytes stored
    one(sm, log.entry(produce("b", 1, "s", 3, 200)));  // under the bound: untouched
    List<Long> sizes = storedSizes(s, sm, "b", 0);
    assertEquals(sizes.stream().mapToLong(Long::longValue).sum(), sm.view("b").retainedBytes()[0],
        "the count is the stored value lengths");
    assertEquals(T0, sm.nextDeadlineMs(), "over the bound: a tick at once");

    one(sm, log.at(T0 + 5, CommandCodec.tick()));
    int first = 10; // the longest suffix that fits the bound
    long kept = 0;
    while (first > 0 && kept + sizes.get(first - 1) <= 1000) {
      kept += sizes.get(--first);
    }
    assertTrue(first > 0 && first < 9, "the test needs some records removed and several kept: " + sizes);
    assertEquals(first, start(sm, "b", 0));
    assertEquals(range(first, 10), storedOffsets(s, sm, "b", 0), "the newest records stay");
    assertEquals(kept, sm.view("b").retainedBytes()[0]);
    assertEquals(0, start(sm, "b", 1), "the bound is per partition");
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs());
    assertEquals(sizes.stream().limit(first).mapToLong(Long::longValue).sum(), sm.retention().stats().removedBytes());
    one(sm, log.at(T0 + 10, produce("b", 0, "more", 5, 200)));
    assertEquals(T0 + 5 + Retention.CHECK_INTERVAL_MS, sm.nextDeadlineMs(), "over again: a second after the last tick");
  }

  @Test
  void timeAndByteRetentionTogetherRemoveWhicheverIsMore() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("tb", 1, 10_000, 1000)));
    one(sm, log.at(T0 + 1000, produce("tb", 0, "old", 2, 10)));
    one(sm, log.at(T0 + 20_000, produce("tb", 0, "new", 3, 10)));
    one(sm, log.at(T0 + 20_001, CommandCodec.tick()));
    assertEquals(2, start(sm, "tb", 0), "the old ones by time; the new ones fit the bound");
    one(sm, log.entry(produce("tb", 0, "big", 6, 200)));
    one(sm, log.entry(CommandCodec.tick()));
    assertTrue(sm.view("tb").retainedBytes()[0] <= 1000);
    assertEquals(storedBytes(s, sm, "tb", 0), sm.view("tb").retainedBytes()[0]);
    assertEquals(sm.view("tb").endOffsets()[0] - storedOffsets(s, sm, "tb", 0).size(), start(sm, "tb", 0));
  }

  // ------------------------------------------------------------------ bounded work

  @Test
  void aTickExaminesABoundedNumberOfRecordsAndTheNextTickContinues() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    int n = 2 * Retention.MAX_RECORDS_PER_TICK + 100;
    one(sm, log.at(T0, topic("big", 1, 1000, -1)));
    one(sm, log.entry(produce("big", 0, "v", n, 5)));
    long t = T0 + 5000;
    one(sm, log.at(t, CommandCodec.tick()));
    assertEquals(Retention.MAX_RECORDS_PER_TICK, start(sm, "big", 0));
    assertTrue(sm.nextDeadlineMs() <= t, "the leader is asked to tick again at once");
    one(sm, log.at(t + 20, CommandCodec.tick()));
    assertEquals(2 * Retention.MAX_RECORDS_PER_TICK, start(sm, "big", 0));
    one(sm, log.at(t + 40, CommandCodec.tick()));
    assertEquals(n, start(sm, "big", 0));
    assertEquals(List.of(), storedOffsets(s, sm, "big", 0));
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs(), "done: no more ticks");
  }

  // ------------------------------------------------------------------ queue consumption

  @Test
  void recordsInFlightForAQueueGroupHoldTheStartOffsetUntilTheirLeaseResolves() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("q", 1, 10_000, -1)));
    one(sm, log.at(T0 + 1000, produce("q", 0, "v", 5, 10)));
    Leased first = assertInstanceOf(Leased.class, one(sm, log.at(T0 + 2000, lease("q", "g", 2, 60_000)))); // 0, 1
    Leased other = assertInstanceOf(Leased.class, one(sm, log.entry(lease("q", "h", 1, 60_000))));       // 0
    assertEquals(List.of(0L, 1L), first.deliveries().stream().map(QueueState.Delivery::offset).toList());

    long t = T0 + 20_000; // every record is due by time
    one(sm, log.at(t, CommandCodec.tick()));
    assertEquals(0, start(sm, "q", 0), "offset 0 is leased by g and h");
    assertEquals(1, sm.retention().stats().pinnedPartitions());
    assertTrue(sm.nextDeadlineMs() > t, "a pinned partition asks for no tick (the lease expiries do)");
    assertEquals(T0 + 2000 + 60_000, sm.nextDeadlineMs(), "the next deadline is the leases' expiry");

    one(sm, log.at(t + 1, CommandCodec.settle(Settlement.ACK, "q", "g", ids(first).subList(0, 1), 0)));
    one(sm, log.at(t + 2, CommandCodec.tick()));
    assertEquals(0, start(sm, "q", 0), "h still holds offset 0");
    one(sm, log.at(t + 3, CommandCodec.settle(Settlement.ACK, "q", "h", ids(other), 0)));
    assertEquals(t + 2 + Retention.CHECK_INTERVAL_MS, sm.nextDeadlineMs(),
        "releasing the pin asks for a tick, a second after the last one");
    one(sm, log.at(t + 4, CommandCodec.tick()));
    assertEquals(1, start(sm, "q", 0), "offset 1 is still leased by g");
    assertEquals(range(1, 5), storedOffsets(s, sm, "q", 0));

    // g's lease of offset 1 expires: AVAILABLE again, still held; redelivered and acked: removed.
    long expired = T0 + 2000 + 60_000;
    one(sm, log.at(expired, CommandCodec.tick()));
    assertEquals(1, start(sm, "q", 0), "a record available again for redelivery stays");
    Leased again = assertInstanceOf(Leased.class, one(sm, log.at(expired + 1, lease("q", "g", 1, 60_000))));
    assertEquals(1, again.deliveries().get(0).offset());
    assertEquals(2, again.deliveries().get(0).deliveryCount());
    Settled acked = assertInstanceOf(Settled.class,
        one(sm, log.at(expired + 2, CommandCodec.settle(Settlement.ACK, "q", "g", ids(again), 0))));
    assertEquals(1, acked.settled());
    one(sm, log.at(expired + 3, CommandCodec.tick()));
    assertEquals(5, start(sm, "q", 0), "nothing in flight: everything due is removed");
    assertEquals(0, sm.retention().stats().pinnedPartitions());
    // g never got offsets 2-4 and h never got 1-4: removed all the same, and counted.
    assertEquals(3 + 4, sm.retention().stats().undeliveredRecords());
  }

  @Test
  void aDeadLetteredRecordReleasesThePinAndTheCopyKeepsTheValue() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("d", 1, 10_000, -1)));
    one(sm, log.at(T0 + 1000, produce("d", 0, "v", 2, 10)));
    Leased l = assertInstanceOf(Leased.class, one(sm, log.entry(lease("d", "g", 1, 60_000))));
    one(sm, log.at(T0 + 20_000, CommandCodec.tick()));
    assertEquals(0, start(sm, "d", 0));
    one(sm, log.at(T0 + 20_001, CommandCodec.settle(Settlement.REJECT, "d", "g", ids(l), 0)));
    one(sm, log.at(T0 + 20_002, CommandCodec.tick()));
    assertEquals(2, start(sm, "d", 0));
    TopicView dlq = sm.view("d.dlq");
    assertNotNull(dlq);
    assertEquals("\"v0xxxxxxxx\"", new String(sm.read(dlq, 0, 0, 1, Long.MAX_VALUE).get(0).value(), UTF_8));
  }

  @Test
  void aGroupLeasesOnlyRetainedRecordsAfterRetention() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("r", 2, 10_000, -1)));
    one(sm, log.at(T0 + 1000, produce("r", 0, "old", 3, 10)));
    Leased l = assertInstanceOf(Leased.class, one(sm, log.entry(lease("r", "g", 1, 1000))));
    one(sm, log.entry(CommandCodec.settle(Settlement.ACK, "r", "g", ids(l), 0)));
    one(sm, log.at(T0 + 15_000, produce("r", 1, "new", 2, 10)));
    one(sm, log.at(T0 + 15_001, CommandCodec.tick()));
    assertEquals(3, start(sm, "r", 0));
    assertEquals(List.of("1/0", "1/1"), indexed(s, sm, "r"));
    assertEquals(2, sm.retention().stats().undeliveredRecords(), "g never got old1 and old2");
    Leased next = assertInstanceOf(Leased.class, one(sm, log.entry(lease("r", "g", 10, 1000))));
    assertEquals(List.of("1/0", "1/1"), next.deliveries().stream().map(d -> d.partition() + "/" + d.offset()).toList());
    Leased fresh = assertInstanceOf(Leased.class, one(sm, log.entry(lease("r", "fresh", 10, 1000))));
    assertEquals(2, fresh.deliveries().size(), "a new group starts at the earliest retained record");
  }

  // ------------------------------------------------------------------ recovery and determinism

  @Test
  void aReopenedStoreKeepsStartOffsetsBytesAndDeadlines() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("t", 2, 10_000, 2000)));
    one(sm, log.at(T0 + 1000, produce("t", 0, "a", 4, 100)));
    one(sm, log.at(T0 + 2000, produce("t", 1, "b", 4, 100)));
    one(sm, log.at(T0 + 11_500, CommandCodec.tick()));
    assertEquals(4, start(sm, "t", 0));
    assertEquals(0, start(sm, "t", 1));
    long[] bytes = sm.view("t").retainedBytes().clone();
    assertEquals(T0 + 12_500, sm.nextDeadlineMs(), "p1's due, but a second after the last tick");
    long[] digest = s.state().digest();
    h.close(s);

    NodeStorage again = h.open("a");
    TopicsStateMachine back = machine(again);
    assertArrayEquals(new long[] {4, 0}, back.view("t").startOffsets());
    assertArrayEquals(bytes, back.view("t").retainedBytes());
    assertEquals(T0 + 12_000, back.nextDeadlineMs(), "p1's due (the last tick's time is not kept)");
    assertArrayEquals(digest, again.state().digest());
    one(back, log.at(T0 + 12_000, CommandCodec.tick()));
    assertEquals(4, start(back, "t", 1));
  }

  @Test
  void metadataWithoutAByteCountIsSummedFromTheRecordsAtLoad() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.at(T0, topic("old", 1, -1, 500)));
    one(sm, log.entry(produce("old", 0, "v", 3, 100)));
    long id = sm.view("old").meta().getId();
    long bytes = sm.view("old").retainedBytes()[0];
    StateStore st = s.state();
    StateStore.StateBatch b = st.newBatch(); // as written before retention existed
    b.put(st.column("partitions"), TopicsStateMachine.partitionKey(id, 0),
        PartitionMeta.newBuilder().setStartOffset(0).setEndOffset(3).build().toByteArray());
    st.commit(b, st.lastApplied());
    h.close(s);
    TopicsStateMachine back = machine(h.open("a"));
    assertEquals(bytes, back.view("old").retainedBytes()[0]);
  }

  @Test
  void aRestartWhileAPartitionIsPinnedGivesTheSameStateAsNoRestart() {
    NodeStorage steady = h.open("steady");
    TopicsStateMachine a = machine(steady);
    Log log = new Log();
    List<Entry> before = new ArrayList<>();
    before.add(log.at(T0, topic("p", 2, 5000, 600)));
    before.add(log.at(T0 + 1000, produce("p", 0, "v", 6, 100)));
    before.add(log.entry(produce("p", 1, "w", 6, 100)));
    before.add(log.entry(lease("p", "g", 1, 60_000)));
    before.add(log.at(T0 + 10_000, CommandCodec.tick())); // p0 pinned at 0; p1 cut by time
    List<Object> r = a.apply(before);
    Leased l = assertInstanceOf(Leased.class, r.get(3));
    List<Entry> after = new ArrayList<>();
    after.add(log.at(T0 + 10_001, produce("p", 1, "x", 9, 100)));
    after.add(log.at(T0 + 12_000, CommandCodec.tick()));
    after.add(log.entry(CommandCodec.settle(Settlement.ACK, "p", "g", ids(l), 0)));
    after.add(log.at(T0 + 13_000, produce("p", 1, "y", 9, 100)));
    after.add(log.entry(CommandCodec.tick()));
    a.apply(after);

    NodeStorage restarted = h.open("restarted");
    machine(restarted).apply(before);
    h.close(restarted);
    NodeStorage reopened = h.open("restarted");
    TopicsStateMachine b = machine(reopened);
    b.apply(after);
    assertArrayEquals(steady.state().digest(), reopened.state().digest());
    assertArrayEquals(a.view("p").startOffsets(), b.view("p").startOffsets());
    assertEquals(6, start(a, "p", 0));
  }

  /**
   * A seeded mix of produces (of varied sizes), leases, acks, rejects, ticks and topic churn on
   * topics with time, byte and both retentions; each entry applied to {@code reference} as it is
   * made, so acks can name real lease ids.
   */
  private static List<Entry> workload(long seed, int n, TopicsStateMachine reference, List<String> results) {
    Random r = new Random(seed);
    List<LeaseId> seen = new ArrayList<>();
    Log log = new Log() {
      @Override
      Entry entry(byte[] command) {
        Entry e = super.entry(command);
        Object o = one(reference, e);
        results.add(o instanceof BrokerException x ? x.kind() + ": " + x.getMessage() : String.valueOf(o));
        if (o instanceof Leased l) {
          seen.addAll(ids(l));
        }
        return e;
      }
    };
    String[] names = {"time", "bytes", "both"};
    long[][] settings = {{3000, -1}, {-1, 2500}, {4000, 4000}};
    for (int i = 0; i < names.length; i++) {
      log.entry(topic(names[i], 1 + r.nextInt(3), settings[i][0], settings[i][1]));
    }
    for (int i = 0; i < n; i++) {
      log.now += r.nextInt(300);
      int ti = r.nextInt(names.length);
      String t = names[ti];
      int op = r.nextInt(100);
      if (op < 40) {
        log.entry(produce(t, r.nextInt(3), "v" + i + "-", 1 + r.nextInt(20), 10 + r.nextInt(300)));
      } else if (op < 55) {
        log.entry(lease(t, "g" + r.nextInt(2), 1 + r.nextInt(4), 200 + r.nextInt(3000)));
      } else if (op < 70 && !seen.isEmpty()) {
        List<LeaseId> ids = List.of(seen.get(seen.size() - 1 - r.nextInt(Math.min(seen.size(), 4))),
            seen.get(r.nextInt(seen.size())));
        Settlement what = r.nextInt(5) == 0 ? Settlement.REJECT : Settlement.ACK;
        log.entry(CommandCodec.settle(what, t, "g" + r.nextInt(2), ids, 0));
      } else if (op < 97) {
        log.entry(CommandCodec.tick());
      } else if (op < 98) {
        log.entry(CommandCodec.deleteTopic(t));
      } else {
        log.entry(topic(t, 1 + r.nextInt(3), settings[ti][0], settings[ti][1]));
      }
    }
    return log.all;
  }

  private static List<String> applyInBatches(TopicsStateMachine sm, List<Entry> entries, int maxBatch, long seed) {
    Random r = new Random(seed);
    List<String> results = new ArrayList<>();
    for (int i = 0; i < entries.size(); ) {
      int size = Math.min(entries.size() - i, 1 + r.nextInt(maxBatch));
      for (Object o : sm.apply(entries.subList(i, i + size))) {
        results.add(o instanceof BrokerException e ? e.kind() + ": " + e.getMessage() : String.valueOf(o));
      }
      i += size;
    }
    return results;
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 42})
  void theSameEntriesInDifferentBatchingsGiveTheSameResultsAndDigest(long seed) {
    NodeStorage one = h.open("one");
    List<String> r1 = new ArrayList<>();
    TopicsStateMachine reference = machine(one);
    List<Entry> entries = workload(seed, 1500, reference, r1);
    NodeStorage some = h.open("some");
    NodeStorage all = h.open("all");
    List<String> r2 = applyInBatches(machine(some), entries, 40, seed + 1);
    List<String> r3 = applyInBatches(machine(all), entries, entries.size(), seed + 2);
    assertEquals(r1, r2, "results depend on batching (seed " + seed + ")");
    assertEquals(r1, r3, "results depend on batching (seed " + seed + ")");
    assertArrayEquals(one.state().digest(), some.state().digest());
    assertArrayEquals(one.state().digest(), all.state().digest());
    // Restarting halfway (losing the in-memory bookkeeping) changes nothing either.
    NodeStorage half = h.open("half");
    int mid = entries.size() / 2;
    machine(half).apply(entries.subList(0, mid));
    h.close(half);
    NodeStorage reopened = h.open("half");
    machine(reopened).apply(entries.subList(mid, entries.size()));
    assertArrayEquals(one.state().digest(), reopened.state().digest());
    assertTrue(reference.retention().stats().removedRecords() > 100,
        "the workload should remove records: " + reference.retention().stats());
    assertTrue(reference.retention().stats().undeliveredRecords() > 0, reference.retention().stats().toString());
  }
}
