package io.dsync.broker;

import static io.dsync.broker.StateMachineHarness.T0;
import static io.dsync.broker.StateMachineHarness.machine;
import static io.dsync.broker.StateMachineHarness.one;
import static io.dsync.broker.StateMachineHarness.assertError;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.CommandCodec.Settlement;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.QueueState.Delivery;
import io.dsync.broker.QueueState.Leased;
import io.dsync.broker.QueueState.Settled;
import io.dsync.raft.Entry;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StateStore;
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
 * Queue consumption applied straight to a {@link TopicsStateMachine} on real RocksDB, with
 * hand-made entries and timestamps: priorities and strict-priority starvation, leases, expiry by
 * ticks, acks of expired leases, release, reject, the delivery limit and the dead-letter topic
 * with its provenance headers, independent groups, the in-flight cap, extends, topic deletion,
 * produce and lease in one apply call, recovery (reopen and snapshot restore), and determinism
 * across batchings.
 */
class QueueStateMachineTest {
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

  /** Entries at the test's clock, and the lease ids handed out (for workloads that apply as they go). */
  private static class Log extends StateMachineHarness.ClockedLog {
    final List<LeaseId> seen = new ArrayList<>();
  }

  private static TopicConfig topic(String name, int partitions, int deliveryLimit) {
    return new TopicConfig(name, partitions, -1, -1, deliveryLimit, "");
  }

  /** A produce of records named by {@code values}, with the given partitions and priorities. */
  private static byte[] produce(String topic, int[] partitions, int[] priorities, String... values) {
    List<byte[]> records = new ArrayList<>();
    for (int i = 0; i < values.length; i++) {
      records.add(CommandCodec.encodeRecord(new RecordIn("k-" + values[i], ("\"" + values[i] + "\"").getBytes(UTF_8),
          false, List.of(new Header("h", values[i])), priorities[i])));
    }
    return CommandCodec.produce(topic, partitions, priorities, records);
  }

  /** {@code n} records on partition 0 with priority 0, named {@code prefix0..}. */
  private static byte[] produceN(String topic, String prefix, int n) {
    int[] parts = new int[n];
    String[] values = new String[n];
    for (int i = 0; i < n; i++) {
      values[i] = prefix + i;
    }
    return produce(topic, parts, new int[n], values);
  }

  private static byte[] lease(String topic, String group, int max, long visibilityMs) {
    return CommandCodec.lease(topic, group, max, visibilityMs, 10_000);
  }

  private static byte[] settle(Settlement what, String topic, String group, List<LeaseId> ids) {
    return CommandCodec.settle(what, topic, group, ids, 0);
  }

  private static Leased leased(TopicsStateMachine sm, Entry e) {
    return assertInstanceOf(Leased.class, one(sm, e));
  }

  private static Settled settled(TopicsStateMachine sm, Entry e) {
    return assertInstanceOf(Settled.class, one(sm, e));
  }

  private static List<LeaseId> ids(Leased l) {
    return l.deliveries().stream().map(d -> new LeaseId(l.topicId(), d.partition(), d.offset(), d.deliveryCount())).toList();
  }

  /** The leased records' values (the name given at produce). */
  private static List<String> values(TopicsStateMachine sm, Leased l) {
    return l.deliveries().stream().map(d -> value(sm.readRecord(l.topicId(), d.partition(), d.offset()))).toList();
  }

  private static String value(FetchedRecord r) {
    String json = new String(r.value(), UTF_8);
    return json.substring(1, json.length() - 1);
  }

  private static List<Integer> deliveryCounts(Leased l) {
    return l.deliveries().stream().map(Delivery::deliveryCount).toList();
  }

  private static List<FetchedRecord> readAll(TopicsStateMachine sm, String topic) {
    TopicsStateMachine.TopicView v = sm.view(topic);
    List<FetchedRecord> out = new ArrayList<>();
    for (int p = 0; p < v.endOffsets().length; p++) {
      out.addAll(sm.read(v, p, 0, Integer.MAX_VALUE, Long.MAX_VALUE));
    }
    return out;
  }

  private static String header(FetchedRecord r, String key) {
    return r.headers().stream().filter(h -> h.key().equals(key)).map(Header::value).findFirst().orElse(null);
  }

  // ------------------------------------------------------------------ order

  @Test
  void higherPrioritiesFirstThenLogOrderAcrossPartitions() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 3, 5))));
    one(sm, log.entry(produce("t", new int[] {0, 1, 2, 0}, new int[] {0, 9, 5, 9}, "p0-a", "p9-a", "p5-a", "p9-b")));
    one(sm, log.entry(produce("t", new int[] {2, 1, 0}, new int[] {9, 0, 5}, "p9-c", "p0-b", "p5-b")));
    // The form without priorities in the command (entries written before they were carried).
    List<byte[]> legacy = List.of(CommandCodec.encodeRecord(new RecordIn(null, "\"p9-d\"".getBytes(UTF_8), false,
        List.of(), 9)));
    one(sm, log.entry(CommandCodec.produce("t", new int[] {1}, legacy)));

    Leased first = leased(sm, log.entry(lease("t", "g", 3, 30_000)));
    assertEquals(List.of("p9-a", "p9-b", "p9-c"), values(sm, first));
    Leased rest = leased(sm, log.entry(lease("t", "g", 100, 30_000)));
    assertEquals(List.of("p9-d", "p5-a", "p5-b", "p0-a", "p0-b"), values(sm, rest));
    assertEquals(List.of(9, 5, 5, 0, 0), rest.deliveries().stream().map(Delivery::priority).toList());
    assertEquals(List.of(1, 1, 1, 1, 1), deliveryCounts(rest), "first deliveries");
    assertTrue(leased(sm, log.entry(lease("t", "g", 100, 30_000))).deliveries().isEmpty(), "every record once");
  }

  @Test
  void strictPriorityLowerPrioritiesWaitWhileHigherOnesAreAvailable() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 2, 5))));
    one(sm, log.entry(produce("t", new int[] {0, 1}, new int[] {1, 1}, "low-0", "low-1")));
    for (int round = 0; round < 5; round++) {
      one(sm, log.entry(produce("t", new int[] {round % 2}, new int[] {2}, "high-" + round)));
      Leased l = leased(sm, log.entry(lease("t", "g", 1, 30_000)));
      assertEquals(List.of("high-" + round), values(sm, l), "a newer higher-priority record goes first, round " + round);
      one(sm, log.entry(settle(Settlement.ACK, "t", "g", ids(l))));
    }
    assertEquals(List.of("low-0", "low-1"), values(sm, leased(sm, log.entry(lease("t", "g", 10, 30_000)))));
  }

  // ------------------------------------------------------------------ expiry, ack, release

  @Test
  void anExpiredLeaseIsRedeliveredWithDeliveryCountPlusOneAfterATick() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 2)));
    Leased first = leased(sm, log.at(T0 + 1000, lease("t", "g", 1, 5_000)));
    assertEquals(List.of(1), deliveryCounts(first));
    assertEquals(T0 + 6000, first.deliveries().get(0).leaseExpiresMs());
    assertEquals(T0 + 6000, sm.nextDeadlineMs(), "the tick deadline is the lease's expiry");

    one(sm, log.at(T0 + 5999, CommandCodec.tick()));
    assertEquals(T0 + 6000, sm.nextDeadlineMs(), "not due yet");
    one(sm, log.at(T0 + 6000, CommandCodec.tick()));
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs());

    Leased again = leased(sm, log.at(T0 + 7000, lease("t", "g", 2, 5_000)));
    assertEquals(List.of("r0", "r1"), values(sm, again), "the expired record comes back before the newer one");
    assertEquals(List.of(2, 1), deliveryCounts(again));
    assertNotEquals(ids(first).get(0), ids(again).get(0), "each delivery has its own lease id");
  }

  @Test
  void anAckAfterExpiryIsUnknownAndTheRecordIsRedeliveredNotLost() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 1)));
    Leased first = leased(sm, log.at(T0, lease("t", "g", 1, 1_000)));

    // No tick has run: the lease is still in the state, but expired at the ack's timestamp.
    Settled late = settled(sm, log.at(T0 + 1000, settle(Settlement.ACK, "t", "g", ids(first))));
    assertEquals(0, late.settled());
    assertEquals(List.of(0), late.unknown());

    Leased again = leased(sm, log.at(T0 + 1001, lease("t", "g", 1, 1_000)));
    assertEquals(List.of("r0"), values(sm, again));
    assertEquals(List.of(2), deliveryCounts(again));
    Settled stale = settled(sm, log.entry(settle(Settlement.ACK, "t", "g", ids(first))));
    assertEquals(List.of(0), stale.unknown(), "an ack of an earlier delivery does not touch the current lease");
    Settled ok = settled(sm, log.entry(settle(Settlement.ACK, "t", "g", List.of(ids(again).get(0), ids(again).get(0)))));
    assertEquals(1, ok.settled());
    assertEquals(List.of(1), ok.unknown(), "the same id twice: the second finds nothing");
    one(sm, log.at(T0 + 100_000, CommandCodec.tick()));
    assertTrue(leased(sm, log.entry(lease("t", "g", 1, 1_000))).deliveries().isEmpty(), "acked: never again");
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs());
  }

  @Test
  void aReleasedRecordComesBackBeforeNewerRecordsWithItsDeliveryCount() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 3)));
    Leased first = leased(sm, log.entry(lease("t", "g", 1, 30_000)));
    Settled released = settled(sm, log.entry(settle(Settlement.RELEASE, "t", "g", ids(first))));
    assertEquals(new Settled(1, 0, List.of(), List.of()), released);
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs(), "a released record has no lease to expire");
    Leased next = leased(sm, log.entry(lease("t", "g", 2, 30_000)));
    assertEquals(List.of("r0", "r1"), values(sm, next));
    assertEquals(List.of(2, 1), deliveryCounts(next));
    Settled unknown = settled(sm, log.entry(settle(Settlement.RELEASE, "t", "g", ids(first))));
    assertEquals(List.of(0), unknown.unknown());
  }

  @Test
  void extendMovesTheExpiryOfLiveLeasesOnly() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 2)));
    Leased l = leased(sm, log.at(T0, lease("t", "g", 2, 1_000)));
    LeaseId bogus = new LeaseId(l.topicId(), 0, 99, 1);
    Settled ext = settled(sm, log.at(T0 + 500, CommandCodec.settle(Settlement.EXTEND, "t", "g",
        List.of(ids(l).get(0), bogus), 10_000)));
    assertEquals(1, ext.settled());
    assertEquals(List.of(1), ext.unknown());
    assertEquals(List.of(T0 + 10_500, 0L), ext.leaseExpiresMs());
    one(sm, log.at(T0 + 1000, CommandCodec.tick()));
    assertEquals(T0 + 10_500, sm.nextDeadlineMs(), "r1 expired; r0 was extended");
    Leased again = leased(sm, log.entry(lease("t", "g", 5, 1_000)));
    assertEquals(List.of("r1"), values(sm, again));
    Settled acked = settled(sm, log.entry(settle(Settlement.ACK, "t", "g", List.of(ids(l).get(0)))));
    assertEquals(1, acked.settled(), "an extended lease is acked with the same id");
  }

  // ------------------------------------------------------------------ dead letters

  @Test
  void rejectCopiesTheRecordToTheDeadLetterTopicWithProvenance() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("orders", 2, 5))));
    one(sm, log.entry(produce("orders", new int[] {1}, new int[] {7}, "bad")));
    Leased l = leased(sm, log.entry(lease("orders", "billing", 1, 30_000)));
    assertNull(sm.view("orders.dlq"), "created on demand");
    Entry reject = log.entry(settle(Settlement.REJECT, "orders", "billing", ids(l)));
    assertEquals(new Settled(1, 1, List.of(), List.of()), one(sm, reject));

    TopicsStateMachine.TopicView dlq = sm.view("orders.dlq");
    assertNotNull(dlq);
    assertEquals(1, dlq.endOffsets().length);
    FetchedRecord copy = sm.read(dlq, 0, 0, 10, Long.MAX_VALUE).get(0);
    assertEquals("bad", value(copy));
    assertEquals("k-bad", copy.key());
    assertEquals(7, copy.priority());
    assertEquals(reject.timestampMs(), copy.timestampMs());
    assertEquals(List.of(new Header("h", "bad"), new Header("dsync-source-topic", "orders"),
        new Header("dsync-source-partition", "1"), new Header("dsync-source-offset", "0"),
        new Header("dsync-delivery-count", "1"), new Header("dsync-dlq-reason", "rejected"),
        new Header("dsync-dlq-group", "billing")), copy.headers());
    assertEquals("orders.dlq.dlq", dlq.meta().getDeadLetterTopic());

    // The dead-letter topic is a topic like any other: its records can be leased too.
    Leased fromDlq = leased(sm, log.entry(lease("orders.dlq", "ops", 10, 30_000)));
    assertEquals(List.of("bad"), values(sm, fromDlq));
    assertTrue(leased(sm, log.entry(lease("orders", "billing", 1, 30_000))).deliveries().isEmpty(),
        "a rejected record is done for its group");

    // Dead-lettered again, from the dead-letter topic: each provenance header appears once.
    one(sm, log.entry(settle(Settlement.REJECT, "orders.dlq", "ops", ids(fromDlq))));
    FetchedRecord twice = readAll(sm, "orders.dlq.dlq").get(0);
    assertEquals(List.of(new Header("h", "bad"), new Header("dsync-source-topic", "orders.dlq"),
        new Header("dsync-source-partition", "0"), new Header("dsync-source-offset", "0"),
        new Header("dsync-delivery-count", "1"), new Header("dsync-dlq-reason", "rejected"),
        new Header("dsync-dlq-group", "ops")), twice.headers());
  }

  @Test
  void pastTheDeliveryLimitExpiredAndReleasedRecordsGoToTheDeadLetterTopic() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(new TopicConfig("t", 1, -1, -1, 2, "parking"))));
    one(sm, log.entry(produceN("t", "r", 2)));
    long now = T0;
    for (int delivery = 1; delivery <= 2; delivery++) {
      Leased l = leased(sm, log.at(now, lease("t", "g", 1, 1_000)));
      assertEquals(List.of("r0"), values(sm, l));
      assertEquals(List.of(delivery), deliveryCounts(l));
      now += 1_000;
      one(sm, log.at(now, CommandCodec.tick()));
    }
    List<FetchedRecord> parked = readAll(sm, "parking");
    assertEquals(List.of("r0"), parked.stream().map(QueueStateMachineTest::value).toList());
    assertEquals("expired", header(parked.get(0), "dsync-dlq-reason"));
    assertEquals("2", header(parked.get(0), "dsync-delivery-count"));

    // r1: leased twice, released the second time: at the limit, so released to the DLQ.
    leased(sm, log.at(now, lease("t", "g", 1, 1_000)));
    one(sm, log.at(now += 1_000, CommandCodec.tick()));
    Leased second = leased(sm, log.at(now, lease("t", "g", 1, 1_000)));
    assertEquals(List.of(2), deliveryCounts(second));
    assertEquals(new Settled(1, 1, List.of(), List.of()), one(sm, log.entry(settle(Settlement.RELEASE, "t", "g", ids(second)))));
    parked = readAll(sm, "parking");
    assertEquals(List.of("r0", "r1"), parked.stream().map(QueueStateMachineTest::value).toList());
    assertEquals("released", header(parked.get(1), "dsync-dlq-reason"));
    assertTrue(leased(sm, log.at(now + 60_000, lease("t", "g", 10, 1_000))).deliveries().isEmpty(), "nothing left");
    assertEquals(Long.MAX_VALUE, sm.nextDeadlineMs());
  }

  // ------------------------------------------------------------------ groups and the cap

  @Test
  void groupsConsumeIndependently() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 2, 5))));
    one(sm, log.entry(produce("t", new int[] {0, 1, 0}, new int[] {0, 0, 0}, "a", "b", "c")));
    for (String g : List.of("g1", "g2", "g3")) {
      Leased l = leased(sm, log.entry(lease("t", g, 10, 30_000)));
      assertEquals(List.of("a", "b", "c"), values(sm, l), g + " gets every record");
      if (!g.equals("g3")) {
        one(sm, log.entry(settle(Settlement.ACK, "t", g, ids(l))));
      }
    }
    one(sm, log.entry(produce("t", new int[] {1}, new int[] {0}, "d")));
    assertEquals(List.of("d"), values(sm, leased(sm, log.entry(lease("t", "g1", 10, 30_000)))));
    assertEquals(List.of("d"), values(sm, leased(sm, log.entry(lease("t", "g3", 10, 30_000)))));
    assertError(ErrorKind.NOT_FOUND, one(sm, log.entry(settle(Settlement.ACK, "t", "never", List.of(new LeaseId(1, 0, 0, 1))))));
    assertError(ErrorKind.NOT_FOUND, one(sm, log.entry(lease("nope", "g1", 1, 1000))));
  }

  @Test
  void aGroupHoldsAtMostItsInFlightCap() {
    TopicsStateMachine sm = machine(h.open("a"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 10)));
    Leased l = leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 3)));
    assertEquals(List.of("r0", "r1", "r2"), values(sm, l));
    assertTrue(leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 3))).deliveries().isEmpty());
    assertEquals(3, sm.queue().summary(l.topicId(), "g").leased());
    assertTrue(!sm.queue().mayLease(l.topicId(), "g", 3), "the long-poll hint agrees");
    assertTrue(sm.queue().mayLease(l.topicId(), "g", 4));
    one(sm, log.entry(settle(Settlement.ACK, "t", "g", ids(l).subList(0, 1))));
    assertEquals(List.of("r3"), values(sm, leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 3)))));
  }

  @Test
  void aTopicHasAtMostItsLimitOfQueueGroups() {
    TopicsStateMachine sm = machine(h.open("groups-limit"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 3)));
    java.util.function.Function<String, byte[]> lease = group -> io.dsync.broker.proto.Command.newBuilder()
        .setVersion(CommandCodec.VERSION)
        .setLease(io.dsync.broker.proto.Lease.newBuilder().setTopic("t").setGroup(group).setMaxRecords(1)
            .setVisibilityTimeoutMs(30_000).setMaxInFlight(10).setMaxGroups(2))
        .build().toByteArray();
    assertEquals(List.of("r0"), values(sm, leased(sm, log.entry(lease.apply("a")))));
    assertEquals(List.of("r0"), values(sm, leased(sm, log.entry(lease.apply("b")))));
    assertError(ErrorKind.CONFLICT, one(sm, log.entry(lease.apply("c"))));
    // The existing groups go on; the refused one left nothing behind.
    assertEquals(List.of("r1"), values(sm, leased(sm, log.entry(lease.apply("a")))));
    assertEquals(null, sm.queue().summary(sm.view("t").meta().getId(), "c"));
  }

  @Test
  void aLeaseKeepsToItsByteBudgetButAlwaysHandsOutOneRecord() {
    TopicsStateMachine sm = machine(h.open("budget"));
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 1, 5))));
    one(sm, log.entry(produceN("t", "r", 6)));
    // A budget below one record's size: one record per lease, never none, never more.
    Leased first = leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 100, 1)));
    assertEquals(List.of("r0"), values(sm, first));
    assertEquals(List.of("r1"), values(sm, leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 100, 1)))));
    // Records available again (released) keep to the budget too, and come first (they are older).
    one(sm, log.entry(settle(Settlement.RELEASE, "t", "g", ids(first))));
    assertEquals(List.of("r0"), values(sm, leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 100, 1)))));
    // No budget: the rest at once, in order; nothing skipped by the budgeted leases.
    assertEquals(List.of("r2", "r3", "r4", "r5"),
        values(sm, leased(sm, log.entry(CommandCodec.lease("t", "g", 10, 30_000, 100, 0)))));
  }

  // ------------------------------------------------------------------ batches, deletion, recovery

  @Test
  void produceLeaseAckAndDeadLettersInOneApplyCallSeeEachOther() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    List<Object> results = sm.apply(List.of(
        log.entry(CommandCodec.createTopic(topic("t", 2, 5))),
        log.entry(produce("t", new int[] {0, 1}, new int[] {3, 4}, "x", "y")),
        log.entry(lease("t", "g", 1, 30_000))));
    Leased l = assertInstanceOf(Leased.class, results.get(2));
    assertEquals(List.of("y"), values(sm, l), "the lease read the index written by the produce before it");
    LeaseId y = ids(l).get(0);

    results = sm.apply(List.of(
        log.entry(settle(Settlement.REJECT, "t", "g", List.of(y))),
        log.entry(lease("t.dlq", "ops", 5, 30_000)),
        log.entry(produce("t", new int[] {1}, new int[] {9}, "z")),
        log.entry(lease("t", "g", 5, 30_000))));
    assertEquals(new Settled(1, 1, List.of(), List.of()), results.get(0));
    assertEquals(List.of("y"), values(sm, assertInstanceOf(Leased.class, results.get(1))),
        "the dead-letter copy written in the same call is leased");
    assertEquals(List.of("z", "x"), values(sm, assertInstanceOf(Leased.class, results.get(3))));
    assertEquals(log.all.get(log.all.size() - 1).index(), s.state().lastApplied());
  }

  @Test
  void deletingATopicRemovesItsQueueState() {
    NodeStorage s = h.open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 2, 5))));
    one(sm, log.entry(CommandCodec.createTopic(topic("other", 1, 5))));
    one(sm, log.entry(produce("t", new int[] {0, 1}, new int[] {1, 2}, "a", "b")));
    one(sm, log.entry(produceN("other", "o", 1)));
    Leased l = leased(sm, log.at(T0 + 10, lease("t", "g", 1, 1_000)));
    leased(sm, log.at(T0 + 20, lease("other", "g", 1, 5_000)));
    assertEquals(T0 + 1010, sm.nextDeadlineMs());

    one(sm, log.entry(CommandCodec.deleteTopic("t")));
    assertEquals(T0 + 5020, sm.nextDeadlineMs(), "the deleted topic's leases no longer expire");
    assertNull(sm.queue().summary(l.topicId(), "g"));
    byte[] from = io.dsync.storage.Bytes.longKey(l.topicId());
    byte[] to = io.dsync.storage.Bytes.longKey(l.topicId() + 1);
    for (String cf : List.of("queue_index", "queue_groups", "queue_leases")) {
      assertTrue(s.state().column(cf).scan(from, to, 10, Long.MAX_VALUE).isEmpty(), cf + " of the deleted topic");
    }
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 2, 5))));
    assertError(ErrorKind.NOT_FOUND, one(sm, log.entry(settle(Settlement.ACK, "t", "g", ids(l)))));
    assertTrue(leased(sm, log.entry(lease("t", "g", 1, 1_000))).deliveries().isEmpty(), "a re-created topic starts empty");
  }

  /** A fixed story whose state after each step a recovered machine must continue. */
  private static Leased story(TopicsStateMachine sm, Log log) {
    one(sm, log.entry(CommandCodec.createTopic(topic("t", 2, 3))));
    one(sm, log.entry(produce("t", new int[] {0, 1, 0, 1}, new int[] {0, 5, 5, 0}, "a", "b", "c", "d")));
    Leased first = leased(sm, log.at(T0 + 1000, lease("t", "g", 2, 10_000)));
    assertEquals(List.of("b", "c"), values(sm, first));
    one(sm, log.entry(settle(Settlement.RELEASE, "t", "g", ids(first).subList(1, 2))));
    return first;
  }

  private static void continueStory(TopicsStateMachine sm, Log log, Leased first) {
    assertEquals(T0 + 11_000, sm.nextDeadlineMs());
    Leased next = leased(sm, log.at(T0 + 2000, lease("t", "g", 1, 10_000)));
    assertEquals(List.of("c"), values(sm, next), "the released record first");
    assertEquals(List.of(2), deliveryCounts(next));
    assertEquals(1, settled(sm, log.entry(settle(Settlement.ACK, "t", "g", ids(first).subList(0, 1)))).settled(),
        "a lease from before the restart is acked");
    one(sm, log.at(T0 + 12_000, CommandCodec.tick()));
    assertEquals(List.of("c", "a", "d"), values(sm, leased(sm, log.entry(lease("t", "g", 5, 10_000)))));
  }

  @Test
  void aReopenedStoreKeepsLeasesCursorsAndDeadlines() {
    NodeStorage s = h.open("a");
    Log log = new Log();
    Leased first = story(machine(s), log);
    h.close(s);
    continueStory(machine(h.open("a")), log, first);
  }

  @Test
  void aRestoredSnapshotKeepsLeasesCursorsAndDeadlines() {
    NodeStorage leader = h.open("leader");
    Log log = new Log();
    Leased first = story(machine(leader), log);
    NodeStorage follower = h.open("follower");
    TopicsStateMachine sm = machine(follower);
    try (StateStore.Reader r = leader.state().openReader()) {
      List<List<StateStore.ColumnKeyValue>> chunks = new ArrayList<>();
      chunks.add(r.next(null, null, Long.MAX_VALUE));
      follower.state().restore(chunks, r.lastApplied());
    }
    sm.restored();
    assertArrayEquals(leader.state().digest(), follower.state().digest());
    continueStory(sm, log, first);
  }

  // ------------------------------------------------------------------ determinism

  /**
   * A seeded mix of produces, leases, settlements (of real lease ids, stale ones and made-up
   * ones), ticks and topic churn. Each entry is applied to {@code reference} one at a time as it
   * is made, so that settlements can name the lease ids that earlier leases really handed out.
   *
   * @param results the reference's results, one string per entry
   */
  private static List<Entry> workload(long seed, int n, TopicsStateMachine reference, List<String> results) {
    Random r = new Random(seed);
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
    String[] names = {"a", "b"};
    for (String t : names) {
      log.entry(CommandCodec.createTopic(topic(t, 1 + r.nextInt(3), 1 + r.nextInt(3))));
    }
    for (int i = 0; i < n; i++) {
      log.now += r.nextInt(400);
      String t = names[r.nextInt(names.length)];
      int op = r.nextInt(100);
      if (op < 30) {
        int count = 1 + r.nextInt(5);
        int[] parts = new int[count];
        int[] prios = new int[count];
        String[] values = new String[count];
        for (int j = 0; j < count; j++) {
          parts[j] = r.nextInt(2);
          prios[j] = r.nextInt(10);
          values[j] = "v" + i + "-" + j;
        }
        log.entry(produce(t, parts, prios, values));
      } else if (op < 55) {
        log.entry(CommandCodec.lease(t, "g" + r.nextInt(2), 1 + r.nextInt(4), 200 + r.nextInt(1500), 2 + r.nextInt(6)));
      } else if (op < 80 && !log.seen.isEmpty()) {
        Settlement what = Settlement.values()[r.nextInt(4)];
        List<LeaseId> seen = log.seen;
        List<LeaseId> ids = List.of(seen.get(seen.size() - 1 - r.nextInt(Math.min(seen.size(), 4))),
            seen.get(r.nextInt(seen.size())), new LeaseId(r.nextInt(4) + 1, r.nextInt(2), r.nextInt(20), 1 + r.nextInt(3)));
        log.entry(CommandCodec.settle(what, t, "g" + r.nextInt(2), ids, 100 + r.nextInt(1000)));
      } else if (op < 95) {
        log.entry(CommandCodec.tick());
      } else if (op < 97) {
        log.entry(CommandCodec.deleteTopic(t));
      } else {
        log.entry(CommandCodec.createTopic(topic(t, 1 + r.nextInt(3), 1 + r.nextInt(3))));
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
    List<Entry> entries = workload(seed, 800, machine(one), r1);
    NodeStorage some = h.open("some");
    NodeStorage all = h.open("all");
    List<String> r2 = applyInBatches(machine(some), entries, 40, seed + 1);
    List<String> r3 = applyInBatches(machine(all), entries, entries.size(), seed + 2);
    assertEquals(r1, r2, "results depend on batching (seed " + seed + ")");
    assertEquals(r1, r3, "results depend on batching (seed " + seed + ")");
    assertArrayEquals(one.state().digest(), some.state().digest());
    assertArrayEquals(one.state().digest(), all.state().digest());
    long leases = r1.stream().filter(x -> x.startsWith("Leased") && x.contains("Delivery")).count();
    long settled = r1.stream().filter(x -> x.startsWith("Settled[settled=") && !x.startsWith("Settled[settled=0")).count();
    long deadLettered = r1.stream().filter(x -> x.matches("Settled\\[.*deadLettered=[1-9].*")).count();
    long redelivered = r1.stream().filter(x -> x.contains("deliveryCount=2")).count();
    assertTrue(leases > 50 && settled > 5 && deadLettered > 1 && redelivered > 10,
        "the workload should lease, settle, dead-letter and redeliver: " + leases + ", " + settled + ", " + deadLettered
            + ", " + redelivered);
  }

  @Test
  void leaseIdsRoundTripAndMalformedOnesAreRefused() {
    LeaseId id = new LeaseId((1L << 62) | 12345, 7, 1_000_000_000_000L, 3);
    assertEquals(id, LeaseId.parse(id.encode()));
    assertEquals("2s.0.1b.1", new LeaseId(100, 0, 47, 1).encode());
    for (String bad : List.of("", "1.2.3", "1.2.3.4.5", "1..3.4", "01.2.3.4", "1.2.3.0", "A.2.3.4", "1.2.3.4 ",
        "1.2.3.-4", "zzzzzzzzzzzzz.0.0.1", "1.zzzzzz.0.1", "1.2.3." + "1".repeat(60))) {
      BrokerException e = assertThrows(BrokerException.class, () -> LeaseId.parse(bad), bad);
      assertEquals(ErrorKind.BAD_REQUEST, e.kind());
    }
  }
}
