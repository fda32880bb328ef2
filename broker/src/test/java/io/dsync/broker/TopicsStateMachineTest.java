package io.dsync.broker;

import static io.dsync.broker.StateMachineHarness.one;
import static io.dsync.broker.StateMachineHarness.assertError;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.PartitionInfo;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.Model.TopicInfo;
import io.dsync.broker.TopicsStateMachine.TopicView;
import io.dsync.broker.proto.Command;
import io.dsync.broker.proto.DeleteTopic;
import io.dsync.raft.Entry;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore.KeyValue;
import io.dsync.storage.StorageOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Applies Raft entries straight to a {@link TopicsStateMachine} on real RocksDB: topic lifecycle,
 * contiguous offsets per partition, consumer-group offsets, unreadable entries, recovery from
 * disk, and the determinism check of DESIGN.md — the same entries applied to two fresh stores
 * in different batch sizes give byte-identical state column families.
 */
class TopicsStateMachineTest {
  private static final byte[] MAX_KEY = filled(64, (byte) 0xFF);

  @TempDir Path dir;

  private final List<NodeStorage> opened = new ArrayList<>();
  private final List<List<String>> changes = new ArrayList<>();

  @AfterEach
  void closeAll() {
    opened.forEach(NodeStorage::close);
  }

  private static byte[] filled(int n, byte b) {
    byte[] out = new byte[n];
    Arrays.fill(out, b);
    return out;
  }

  private NodeStorage open(String name) {
    NodeStorage s = NodeStorage.open(dir.resolve(name), StorageOptions.defaults(), TopicsStateMachine.COLUMN_FAMILIES);
    opened.add(s);
    return s;
  }

  private void close(NodeStorage s) {
    opened.remove(s);
    s.close();
  }

  private TopicsStateMachine machine(NodeStorage s) {
    return new TopicsStateMachine(s.state(), changes::add);
  }

  /** Hands out consecutive entries, stamped one second apart. */
  private static final class Log {
    long next = 1;
    final List<Entry> all = new ArrayList<>();

    Entry normal(byte[] command) {
      Entry e = new Entry(next, 1, EntryType.ENTRY_NORMAL, 1_700_000_000_000L + next * 1000, command);
      next++;
      all.add(e);
      return e;
    }

    Entry noop() {
      Entry e = new Entry(next, 1, EntryType.ENTRY_NOOP, 1_700_000_000_000L + next * 1000, new byte[0]);
      next++;
      all.add(e);
      return e;
    }
  }

  private static TopicConfig topic(String name, int partitions) {
    return new TopicConfig(name, partitions, -1, -1, 5, name + ".dlq");
  }

  private static byte[] produce(String topic, int[] partitions, String... values) {
    List<byte[]> records = new ArrayList<>();
    for (String v : values) {
      records.add(CommandCodec.encodeRecord(
          new RecordIn("k-" + v, v.getBytes(UTF_8), false, List.of(new Header("h", v)), 1)));
    }
    return CommandCodec.produce(topic, partitions, records);
  }

  private static List<String> values(List<FetchedRecord> records) {
    return records.stream().map(r -> new String(r.value(), UTF_8)).toList();
  }

  private static List<FetchedRecord> readAll(TopicsStateMachine sm, String topic, int partition) {
    TopicView v = sm.view(topic);
    return sm.read(v, partition, 0, Integer.MAX_VALUE, Long.MAX_VALUE);
  }

  private static List<PartitionInfo> partitions(TopicsStateMachine sm, String topic) {
    return sm.view(topic).info().partitions();
  }

  @Test
  void noTopicNameIsItsOwnDefaultDeadLetterTopic() {
    assertEquals("orders.dlq", TopicsStateMachine.defaultDeadLetterTopic("orders"));
    String longest = "x".repeat(245) + ".dlq"; // 249 characters: shortening to 245 + ".dlq" gives itself back
    String dlq = TopicsStateMachine.defaultDeadLetterTopic(longest);
    assertTrue(!dlq.equals(longest) && dlq.length() <= 249 && dlq.endsWith(".dlq"), dlq);
    for (int len = 240; len <= 249; len++) {
      String name = "y".repeat(len - 4) + ".dlq";
      String d = TopicsStateMachine.defaultDeadLetterTopic(name);
      assertTrue(!d.equals(name) && d.length() <= 249, name.length() + " -> " + d.length());
    }
  }

  @Test
  void topicsAreCreatedRefusedWhenDuplicateDeletedAndRecreatedFresh() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();

    Entry create = log.normal(CommandCodec.createTopic(topic("t", 3)));
    TopicInfo info = assertInstanceOf(TopicInfo.class, one(sm, create));
    assertEquals(topic("t", 3), info.config());
    assertEquals(create.timestampMs(), info.createdMs());
    assertEquals(List.of(new PartitionInfo(0, 0, 0), new PartitionInfo(1, 0, 0), new PartitionInfo(2, 0, 0)), info.partitions());
    assertEquals(List.of(info), sm.topics());
    assertEquals(List.of(List.of("t")), changes);

    assertError(ErrorKind.CONFLICT, one(sm, log.normal(CommandCodec.createTopic(topic("t", 8)))));
    assertEquals(List.of(info), sm.topics(), "a duplicate create changes nothing");

    one(sm, log.normal(produce("t", new int[] {0, 2}, "x", "y")));
    assertEquals(Boolean.TRUE, one(sm, log.normal(CommandCodec.deleteTopic("t"))));
    assertNull(sm.view("t"));
    assertTrue(sm.topics().isEmpty());
    assertError(ErrorKind.NOT_FOUND, one(sm, log.normal(CommandCodec.deleteTopic("t"))));
    assertError(ErrorKind.NOT_FOUND, one(sm, log.normal(produce("t", new int[] {0}, "z"))));
    assertTrue(s.state().column("records").scan(new byte[0], MAX_KEY, 100, Long.MAX_VALUE).isEmpty(),
        "deleting a topic deletes its records");
    assertTrue(s.state().column("partitions").scan(new byte[0], MAX_KEY, 100, Long.MAX_VALUE).isEmpty());

    Entry recreate = log.normal(CommandCodec.createTopic(topic("t", 2)));
    TopicInfo again = assertInstanceOf(TopicInfo.class, one(sm, recreate));
    assertEquals(2, again.partitions().size());
    assertEquals(recreate.timestampMs(), again.createdMs());
    assertEquals(recreate.index(), sm.view("t").meta().getId(), "a recreated topic gets a new id");
    assertTrue(readAll(sm, "t", 0).isEmpty(), "a recreated topic does not see the old records");
    assertEquals(List.of(new PartitionInfo(0, 0, 0), new PartitionInfo(1, 0, 0)), partitions(sm, "t"));
    assertEquals(recreate.index(), s.state().lastApplied());
  }

  // Proves a batch placed for a deleted incarnation of a topic name (a lagging follower's view)
  // is refused by apply and appends nothing, while the current incarnation's id is accepted.
  @Test
  void aProducePlacedForAnEarlierIncarnationOfTheTopicIsRefused() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    Entry first = log.normal(CommandCodec.createTopic(topic("t", 4)));
    one(sm, first);
    one(sm, log.normal(CommandCodec.deleteTopic("t")));
    Entry second = log.normal(CommandCodec.createTopic(topic("t", 2)));
    one(sm, second);
    List<byte[]> records = List.of(CommandCodec.encodeRecord(
        new RecordIn("k", "v".getBytes(UTF_8), false, List.of(), 0)));

    assertError(ErrorKind.CONFLICT, one(sm, log.normal(
        CommandCodec.produce("t", first.index(), new int[] {1}, new int[] {0}, records, null, 0))));
    assertEquals(List.of(new PartitionInfo(0, 0, 0), new PartitionInfo(1, 0, 0)), partitions(sm, "t"),
        "nothing appended");
    assertEquals(List.of(new RecordPosition(1, 0)), one(sm, log.normal(
        CommandCodec.produce("t", second.index(), new int[] {1}, new int[] {0}, records, null, 0))));
  }

  @Test
  void produceAssignsContiguousOffsetsPerPartition() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.normal(CommandCodec.createTopic(topic("p", 3))));

    Entry first = log.normal(produce("p", new int[] {0, 1, 0, 2, 0}, "a0", "b0", "a1", "c0", "a2"));
    assertEquals(List.of(new RecordPosition(0, 0), new RecordPosition(1, 0), new RecordPosition(0, 1),
        new RecordPosition(2, 0), new RecordPosition(0, 2)), one(sm, first));

    // Several produces in one batch continue each partition where it left off.
    Entry second = log.normal(produce("p", new int[] {1, 1, 0}, "b1", "b2", "a3"));
    Entry third = log.normal(produce("p", new int[] {2}, "c1"));
    List<Object> results = sm.apply(List.of(second, third));
    assertEquals(List.of(new RecordPosition(1, 1), new RecordPosition(1, 2), new RecordPosition(0, 3)), results.get(0));
    assertEquals(List.of(new RecordPosition(2, 1)), results.get(1));
    assertEquals(List.of(new PartitionInfo(0, 0, 4), new PartitionInfo(1, 0, 3), new PartitionInfo(2, 0, 2)), partitions(sm, "p"));

    List<FetchedRecord> p0 = readAll(sm, "p", 0);
    assertEquals(List.of("a0", "a1", "a2", "a3"), values(p0));
    assertEquals(List.of(0L, 1L, 2L, 3L), p0.stream().map(FetchedRecord::offset).toList());
    assertEquals(first.timestampMs(), p0.get(0).timestampMs());
    assertEquals(second.timestampMs(), p0.get(3).timestampMs(), "a record carries its entry's timestamp");
    assertEquals("k-a3", p0.get(3).key());
    assertEquals(List.of(new Header("h", "a3")), p0.get(3).headers());
    assertEquals(List.of("b0", "b1", "b2"), values(readAll(sm, "p", 1)));
    assertEquals(List.of("b1", "b2"), values(sm.read(sm.view("p"), 1, 1, 10, Long.MAX_VALUE)));

    // A produce with one bad partition writes none of its records.
    assertError(ErrorKind.BAD_REQUEST, one(sm, log.normal(produce("p", new int[] {0, 3}, "ok", "bad"))));
    assertEquals(List.of(new PartitionInfo(0, 0, 4), new PartitionInfo(1, 0, 3), new PartitionInfo(2, 0, 2)), partitions(sm, "p"));
    assertEquals(9, s.state().column("records").scan(new byte[0], MAX_KEY, 100, Long.MAX_VALUE).size());
  }

  @Test
  void consumerGroupsCommitOffsets() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.normal(CommandCodec.createTopic(topic("a", 2))));
    one(sm, log.normal(CommandCodec.createTopic(topic("b", 1))));

    assertEquals(Boolean.TRUE, one(sm, log.normal(CommandCodec.commitOffsets("g",
        List.of(new CommittedOffset("b", 0, 1), new CommittedOffset("a", 1, 7), new CommittedOffset("a", 0, 5))))));
    assertEquals(Boolean.TRUE, one(sm, log.normal(CommandCodec.commitOffsets("g2", List.of(new CommittedOffset("a", 0, 99))))));
    assertEquals(Boolean.TRUE, one(sm, log.normal(CommandCodec.commitOffsets("g", List.of(new CommittedOffset("a", 0, 9))))));

    assertEquals(List.of(new CommittedOffset("a", 0, 9), new CommittedOffset("a", 1, 7), new CommittedOffset("b", 0, 1)),
        sm.committedOffsets("g", null), "sorted by topic and partition; the later commit wins");
    assertEquals(List.of(new CommittedOffset("b", 0, 1)), sm.committedOffsets("g", "b"));
    assertEquals(List.of(new CommittedOffset("a", 0, 99)), sm.committedOffsets("g2", null));
    assertTrue(sm.committedOffsets("nobody", null).isEmpty());

    // A commit naming an unknown topic or partition writes none of its offsets.
    assertError(ErrorKind.NOT_FOUND, one(sm, log.normal(CommandCodec.commitOffsets("g",
        List.of(new CommittedOffset("a", 0, 1000), new CommittedOffset("zz", 0, 1))))));
    assertError(ErrorKind.BAD_REQUEST, one(sm, log.normal(CommandCodec.commitOffsets("g",
        List.of(new CommittedOffset("a", 0, 1000), new CommittedOffset("a", 2, 1))))));
    assertEquals(new CommittedOffset("a", 0, 9), sm.committedOffsets("g", "a").get(0));

    // A deleted and recreated topic starts without the old incarnation's offsets.
    one(sm, log.normal(CommandCodec.deleteTopic("a")));
    assertEquals(List.of(new CommittedOffset("b", 0, 1)), sm.committedOffsets("g", null));
    one(sm, log.normal(CommandCodec.createTopic(topic("a", 2))));
    assertEquals(List.of(new CommittedOffset("b", 0, 1)), sm.committedOffsets("g", null),
        "offsets committed for the deleted topic came back with the new one");
    assertTrue(sm.committedOffsets("g2", null).isEmpty());
    one(sm, log.normal(CommandCodec.commitOffsets("g", List.of(new CommittedOffset("a", 1, 3)))));
    assertEquals(List.of(new CommittedOffset("a", 1, 3)), sm.committedOffsets("g", "a"));
  }

  @Test
  void noOpsAndUnreadableCommandsAdvanceLastAppliedAndChangeNothing() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    byte[] v2 = Command.newBuilder().setVersion(2).setDeleteTopic(DeleteTopic.newBuilder().setName("x")).build().toByteArray();
    List<Object> results = sm.apply(List.of(log.noop(), log.normal(new byte[] {0x0F, 0x01}), log.normal(v2),
        log.normal(CommandCodec.createTopic(topic("x", 1)))));
    assertNull(results.get(0));
    assertError(ErrorKind.BAD_REQUEST, results.get(1));
    assertError(ErrorKind.BAD_REQUEST, results.get(2));
    assertTrue(((BrokerException) results.get(2)).getMessage().contains("version 2"));
    assertInstanceOf(TopicInfo.class, results.get(3), "a later good command in the same batch still applies");
    assertEquals(4, s.state().lastApplied());
    assertEquals(1, sm.topics().size());
  }

  @Test
  void aTopicDeletedAndRecreatedSmallerInOneBatchKeepsItsNewShape() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    one(sm, log.normal(CommandCodec.createTopic(topic("t", 4))));
    List<Object> results = sm.apply(List.of(
        log.normal(produce("t", new int[] {3, 1}, "old3", "old1")),
        log.normal(CommandCodec.deleteTopic("t")),
        log.normal(CommandCodec.createTopic(topic("t", 2))),
        log.normal(produce("t", new int[] {1}, "new1"))));
    assertEquals(List.of(new RecordPosition(1, 0)), results.get(3));
    assertEquals(List.of(new PartitionInfo(0, 0, 0), new PartitionInfo(1, 0, 1)), partitions(sm, "t"));
    assertEquals(List.of("new1"), values(readAll(sm, "t", 1)));

    close(s);
    NodeStorage again = open("a");
    assertEquals(List.of(new PartitionInfo(0, 0, 0), new PartitionInfo(1, 0, 1)), partitions(machine(again), "t"));
  }

  @Test
  void aReopenedStoreRecoversTheSameViews() {
    NodeStorage s = open("a");
    TopicsStateMachine sm = machine(s);
    Log log = new Log();
    sm.apply(List.of(log.normal(CommandCodec.createTopic(topic("orders", 3))),
        log.normal(CommandCodec.createTopic(topic("audit", 1))),
        log.normal(produce("orders", new int[] {0, 1, 2, 0}, "o1", "o2", "o3", "o4"))));
    sm.apply(List.of(log.normal(produce("audit", new int[] {0, 0}, "a1", "a2")),
        log.normal(CommandCodec.commitOffsets("billing", List.of(new CommittedOffset("orders", 0, 2)))),
        log.noop()));
    List<TopicInfo> topics = sm.topics();
    List<String> orders0 = describe(readAll(sm, "orders", 0));
    List<String> audit0 = describe(readAll(sm, "audit", 0));
    List<CommittedOffset> offsets = sm.committedOffsets("billing", null);
    long lastApplied = s.state().lastApplied();
    close(s);

    NodeStorage reopened = open("a");
    TopicsStateMachine back = machine(reopened);
    assertEquals(lastApplied, back.lastApplied());
    assertEquals(topics, back.topics());
    assertEquals(orders0, describe(readAll(back, "orders", 0)));
    assertEquals(audit0, describe(readAll(back, "audit", 0)));
    assertEquals(offsets, back.committedOffsets("billing", null));
    assertEquals(List.of(new RecordPosition(0, 2)), one(back, log.normal(produce("orders", new int[] {0}, "o5"))),
        "offsets continue where they were before the restart");
  }

  private static List<String> describe(List<FetchedRecord> records) {
    return records.stream().map(r -> r.offset() + "|" + r.key() + "|" + new String(r.value(), UTF_8) + "|" + r.binary()
        + "|" + r.headers() + "|" + r.priority() + "|" + r.timestampMs()).toList();
  }

  // ------------------------------------------------------------------ determinism

  /** A seeded mix of every command, valid and not, over a few topics that come and go. */
  private static List<Entry> workload(long seed, int n) {
    Random r = new Random(seed);
    Log log = new Log();
    String[] names = {"a", "b", "c"};
    for (int i = 0; i < n; i++) {
      String t = names[r.nextInt(names.length)];
      int op = r.nextInt(100);
      if (op < 12) {
        log.normal(CommandCodec.createTopic(topic(t, 1 + r.nextInt(4))));
      } else if (op < 18) {
        log.normal(CommandCodec.deleteTopic(t));
      } else if (op < 75) {
        int count = 1 + r.nextInt(6);
        int[] parts = new int[count];
        List<byte[]> records = new ArrayList<>();
        for (int j = 0; j < count; j++) {
          parts[j] = r.nextInt(r.nextInt(10) == 0 ? 6 : 2); // sometimes out of range
          byte[] value = new byte[r.nextInt(r.nextInt(20) == 0 ? 2048 : 64)];
          r.nextBytes(value);
          records.add(CommandCodec.encodeRecord(new RecordIn(r.nextBoolean() ? "key" + r.nextInt(50) : null, value,
              true, r.nextBoolean() ? List.of() : List.of(new Header("n", Integer.toString(j))), r.nextInt(10))));
        }
        log.normal(CommandCodec.produce(t, parts, records));
      } else if (op < 90) {
        log.normal(CommandCodec.commitOffsets("g" + r.nextInt(3),
            List.of(new CommittedOffset(t, r.nextInt(3), r.nextInt(1000)))));
      } else if (op < 96) {
        log.noop();
      } else {
        byte[] garbage = new byte[1 + r.nextInt(8)];
        r.nextBytes(garbage);
        log.normal(garbage);
      }
    }
    return log.all;
  }

  /** Applies {@code entries} in batches whose sizes are drawn from {@code batchSeed}; returns results. */
  private static List<String> applyInBatches(TopicsStateMachine sm, List<Entry> entries, int maxBatch, long batchSeed) {
    Random r = new Random(batchSeed);
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

  private static void assertStateIdentical(NodeStorage x, NodeStorage y) {
    assertEquals(x.state().lastApplied(), y.state().lastApplied(), "lastApplied differs");
    for (StateColumnFamily cf : TopicsStateMachine.COLUMN_FAMILIES) {
      List<KeyValue> a = x.state().column(cf.name()).scan(new byte[0], MAX_KEY, Integer.MAX_VALUE, Long.MAX_VALUE);
      List<KeyValue> b = y.state().column(cf.name()).scan(new byte[0], MAX_KEY, Integer.MAX_VALUE, Long.MAX_VALUE);
      assertEquals(a.size(), b.size(), cf.name() + ": different number of keys");
      for (int i = 0; i < a.size(); i++) {
        assertArrayEquals(a.get(i).key(), b.get(i).key(), cf.name() + ": key " + i + " differs");
        assertArrayEquals(a.get(i).value(), b.get(i).value(), cf.name() + ": value of key " + i + " differs");
      }
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 20250101})
  void theSameEntriesInDifferentBatchSizesGiveByteIdenticalState(long seed) {
    List<Entry> entries = workload(seed, 600);
    NodeStorage one = open("one-by-one");
    NodeStorage batched = open("batched");
    NodeStorage whole = open("whole");
    List<String> r1 = applyInBatches(machine(one), entries, 1, seed);
    List<String> r2 = applyInBatches(machine(batched), entries, 50, seed + 1);
    List<String> r3 = applyInBatches(machine(whole), entries, entries.size(), seed + 2);
    String at = " (seed " + seed + ")";
    assertEquals(r1, r2, "results depend on batch sizes" + at);
    assertEquals(r1, r3, "results depend on batch sizes" + at);
    assertStateIdentical(one, batched);
    assertStateIdentical(one, whole);
    assertEquals(entries.get(entries.size() - 1).index(), one.state().lastApplied());
    long records = one.state().column("records").scan(new byte[0], MAX_KEY, Integer.MAX_VALUE, Long.MAX_VALUE).size();
    assertTrue(records > 10, "the workload should leave records to compare, left " + records + at);
    assertNotNull(one.state().column("offsets").scan(new byte[0], MAX_KEY, 1, Long.MAX_VALUE));
  }
}
