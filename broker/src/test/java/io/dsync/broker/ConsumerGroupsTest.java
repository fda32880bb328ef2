package io.dsync.broker;

import static io.dsync.broker.StateMachineHarness.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.ConsumerGroups.Joined;
import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.proto.GroupMember;
import io.dsync.broker.proto.GroupState;
import io.dsync.raft.Entry;
import io.dsync.storage.NodeStorage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consumer-group membership as applied by the state machine on real RocksDB: joins, rejoins,
 * leaves, removals by the leader, generations, the broker-chosen member id, topics coming and
 * going; and, for groups and idempotent producers together, determinism (the same entries in
 * different batchings give the same {@code StateStore.digest()}) and recovery after reopening.
 */
class ConsumerGroupsTest {
  @TempDir Path dir;

  private StateMachineHarness h;
  private NodeStorage store;
  private TopicsStateMachine sm;

  @BeforeEach
  void open() {
    h = new StateMachineHarness(dir);
    store = h.open("a");
    sm = StateMachineHarness.machine(store);
    h.apply(sm, CommandCodec.createTopic(topic("orders", 6)));
    h.apply(sm, CommandCodec.createTopic(topic("audit", 2)));
  }

  @AfterEach
  void close() {
    h.close();
  }

  private static TopicConfig topic(String name, int partitions) {
    return new TopicConfig(name, partitions, -1, -1, 5, name + ".dlq");
  }

  private Joined join(String group, String member, long timeoutMs, String... topics) {
    return assertInstanceOf(Joined.class,
        h.apply(sm, CommandCodec.joinGroup(group, member, List.of(topics), timeoutMs)));
  }

  private GroupState group(String name) {
    return sm.groups().group(name);
  }

  private static List<String> ids(GroupState g) {
    return g.getMembersList().stream().map(GroupMember::getMemberId).toList();
  }

  @Test
  void joinsRejoinsAndLeavesMoveTheGenerationOnlyOnChanges() {
    Joined a = join("g", "a", 10_000, "orders");
    assertEquals(new Joined("a", 1, a.joinedIndex()), a);
    assertEquals(h.next - 1, a.joinedIndex(), "the incarnation is the join entry's index");
    assertEquals(2, join("g", "b", 10_000, "orders", "audit").generation());

    // Same id, same topics: idempotent (the answer has the current generation). A new timeout is
    // stored without a new generation.
    Joined same = new Joined("a", 2, a.joinedIndex());
    assertEquals(same, join("g", "a", 10_000, "orders"));
    assertEquals(same, join("g", "a", 20_000, "orders"));
    assertEquals(20_000, group("g").getMembers(0).getSessionTimeoutMs());
    assertEquals(2, group("g").getGeneration());

    // Other topics: a new generation, same incarnation and join time.
    Joined changed = join("g", "a", 20_000, "audit", "orders", "audit");
    assertEquals(new Joined("a", 3, a.joinedIndex()), changed);
    assertEquals(List.of("audit", "orders"), group("g").getMembers(0).getTopicsList(), "sorted, distinct");
    assertEquals(StateMachineHarness.timestampOf(a.joinedIndex()), group("g").getMembers(0).getJoinedMs());

    assertEquals(4L, h.apply(sm, CommandCodec.leaveGroup("g", "a")));
    assertEquals(List.of("b"), ids(group("g")));
    assertError(ErrorKind.NOT_FOUND, h.apply(sm, CommandCodec.leaveGroup("g", "a")));
    assertError(ErrorKind.NOT_FOUND, h.apply(sm, CommandCodec.leaveGroup("nope", "a")));
    assertEquals(4, group("g").getGeneration(), "a refused leave changes nothing");

    // The last member leaves: the group stays, with its generation, so generations never go back.
    assertEquals(5L, h.apply(sm, CommandCodec.leaveGroup("g", "b")));
    assertEquals(List.of(), ids(group("g")));
    assertEquals(6, join("g", "a", 10_000, "orders").generation());
    assertNull(group("other"), "groups exist once joined");
  }

  @Test
  void theBrokerNamesAMemberFromTheEntryIndexWithoutCollisions() {
    long index = h.next;
    Joined named = join("g", null, 10_000, "orders");
    assertEquals("member-" + index, named.memberId());
    // A client that picked the id the next join would get does not lose its membership to it.
    long nextIndex = h.next + 1;
    join("g", "member-" + nextIndex, 10_000, "orders");
    Joined second = join("g", null, 10_000, "audit");
    assertEquals("member-" + nextIndex + "-1", second.memberId());
    assertEquals(List.of("member-" + index, "member-" + nextIndex, "member-" + nextIndex + "-1"), ids(group("g")));
  }

  @Test
  void removalsTakeOnlyTheSameIncarnationAndSkipUnknownMembers() {
    Joined a = join("g", "a", 10_000, "orders");
    Joined b = join("g", "b", 10_000, "orders");
    Object r = h.apply(sm, CommandCodec.removeMembers("g", List.of("a", "b", "ghost"),
        List.of(a.joinedIndex(), b.joinedIndex() + 99, 1L), "session-timeout"));
    assertEquals(List.of("a"), r, "b is another incarnation than the sweeper saw; ghost is unknown");
    assertEquals(List.of("b"), ids(group("g")));
    assertEquals(3, group("g").getGeneration());
    assertEquals(List.of(), h.apply(sm, CommandCodec.removeMembers("g", List.of("a"), List.of(a.joinedIndex()),
        "session-timeout")));
    assertEquals(3, group("g").getGeneration(), "removing nobody makes no generation");
    assertEquals(List.of(), h.apply(sm, CommandCodec.removeMembers("nope", List.of("a"), List.of(0L), "x")));
  }

  @Test
  void creatingOrDeletingASubscribedTopicMakesANewGeneration() {
    join("g", "a", 10_000, "orders");
    join("other", "x", 10_000, "audit");
    h.apply(sm, CommandCodec.deleteTopic("orders"));
    assertEquals(2, group("g").getGeneration(), "the assignment lost orders");
    assertEquals(List.of("orders"), group("g").getMembers(0).getTopicsList(), "members stay subscribed");
    assertEquals(1, group("other").getGeneration(), "not subscribed to orders");
    h.apply(sm, CommandCodec.createTopic(topic("orders", 3)));
    assertEquals(3, group("g").getGeneration());
    h.apply(sm, CommandCodec.createTopic(topic("unrelated", 3)));
    assertEquals(3, group("g").getGeneration());
  }

  @Test
  void aFullGroupRefusesNewMembersButNotKnownOnes() {
    List<Entry> joins = new ArrayList<>();
    for (int i = 0; i < ConsumerGroups.MAX_MEMBERS; i++) {
      joins.add(h.entry(CommandCodec.joinGroup("big", "m" + i, List.of("orders"), 10_000)));
    }
    sm.apply(joins);
    assertEquals(ConsumerGroups.MAX_MEMBERS, group("big").getMembersCount());
    assertError(ErrorKind.CONFLICT, h.apply(sm, CommandCodec.joinGroup("big", "one-more", List.of("orders"), 10_000)));
    assertEquals(ConsumerGroups.MAX_MEMBERS, group("big").getGeneration());
    assertEquals(ConsumerGroups.MAX_MEMBERS + 1, join("big", "m7", 10_000, "audit").generation());
  }

  @Test
  void readersSeeAGroupOnlyAfterItsBatchIsCommitted() {
    Entry e = h.entry(CommandCodec.joinGroup("g", "a", List.of("orders"), 10_000));
    assertNull(group("g"));
    sm.apply(List.of(e));
    assertEquals(List.of("a"), ids(group("g")));
  }

  // ------------------------------------------------------------------ recovery and determinism

  @Test
  void groupsAndProducerWindowsSurviveReopeningTheStore() {
    join("g", "a", 10_000, "orders");
    join("g", "b", 15_000, "orders", "audit");
    h.apply(sm, CommandCodec.leaveGroup("g", "a"));
    join("h", null, 10_000, "audit");
    Object first = h.apply(sm, produce("orders", "p1", 7, 0, 1, 0));
    GroupState g = group("g");
    GroupState hh = group("h");
    String ordersBefore = sm.view("orders").info().toString();
    h.close(store);

    store = h.open("a");
    sm = StateMachineHarness.machine(store);
    assertEquals(g, group("g"));
    assertEquals(hh, group("h"));
    assertEquals(first, h.apply(sm, produce("orders", "p1", 7, 0, 1, 0)), "the retry still gets its first answer");
    assertEquals(ordersBefore, sm.view("orders").info().toString(), "the retry appended nothing");
    assertEquals(4, join("g", "c", 10_000, "orders").generation(), "generations continue (a, b, a left, c)");
  }

  @Test
  void aFollowerThatInstallsASnapshotSeesTheGroupsAndWindows() {
    join("g", "a", 10_000, "orders");
    Object first = h.apply(sm, produce("orders", "p1", 3, 1));
    NodeStorage follower = h.open("follower");
    TopicsStateMachine fsm = StateMachineHarness.machine(follower);
    List<io.dsync.storage.StateStore.ColumnKeyValue> pairs = new ArrayList<>();
    try (io.dsync.storage.StateStore.Reader r = store.state().openReader()) {
      for (List<io.dsync.storage.StateStore.ColumnKeyValue> chunk = r.next(null, null, 1 << 20); !chunk.isEmpty();
          chunk = r.next(chunk.get(chunk.size() - 1).column(), chunk.get(chunk.size() - 1).key(), 1 << 20)) {
        pairs.addAll(chunk);
      }
      follower.state().restore(List.of(pairs), r.lastApplied());
    }
    fsm.restored();
    assertEquals(group("g"), fsm.groups().group("g"));
    Entry retry = h.entry(produce("orders", "p1", 3, 1));
    assertEquals(first, fsm.apply(List.of(retry)).get(0), "the follower answers the retry like the leader");
    assertEquals(first, sm.apply(List.of(retry)).get(0));
    assertEquals(store.state().digest()[1], follower.state().digest()[1], "both hold the same state");
  }

  private static byte[] produce(String topic, String producer, long sequence, int... partitions) {
    List<byte[]> records = new ArrayList<>();
    for (int p : partitions) {
      records.add(CommandCodec.encodeRecord(new RecordIn(null, ("\"" + p + "\"").getBytes(), false, List.of(), 0)));
    }
    return CommandCodec.produce(topic, partitions, records, producer, sequence);
  }

  /** A seeded mix of group, idempotent-produce and topic commands, valid and not. */
  private static List<Entry> workload(StateMachineHarness log, long seed, int n) {
    Random r = new Random(seed);
    String[] topics = {"a", "b", "c"};
    for (int i = 0; i < n; i++) {
      String t = topics[r.nextInt(topics.length)];
      String group = "g" + r.nextInt(3);
      String member = r.nextInt(5) == 0 ? null : "m" + r.nextInt(6);
      int op = r.nextInt(100);
      if (op < 8) {
        log.entry(CommandCodec.createTopic(topic(t, 1 + r.nextInt(4))));
      } else if (op < 12) {
        log.entry(CommandCodec.deleteTopic(t));
      } else if (op < 35) {
        List<String> subs = new ArrayList<>(Arrays.asList(topics).subList(0, 1 + r.nextInt(3)));
        log.entry(CommandCodec.joinGroup(group, member, subs, 1_000 + r.nextInt(3) * 1_000));
      } else if (op < 45) {
        log.entry(CommandCodec.leaveGroup(group, "m" + r.nextInt(6)));
      } else if (op < 52) {
        log.entry(CommandCodec.removeMembers(group, List.of("m" + r.nextInt(6), "m" + r.nextInt(6)),
            List.of(0L, (long) r.nextInt(50)), "session-timeout"));
      } else if (op < 90) {
        int count = 1 + r.nextInt(4);
        int[] parts = new int[count];
        List<byte[]> records = new ArrayList<>();
        for (int j = 0; j < count; j++) {
          parts[j] = r.nextInt(2);
          records.add(CommandCodec.encodeRecord(new RecordIn(null, new byte[] {'1'}, false,
              List.of(new Header("j", Integer.toString(j))), 0)));
        }
        String producer = r.nextInt(4) == 0 ? null : "p" + r.nextInt(6);
        log.entry(CommandCodec.produce(t, parts, records, producer, r.nextInt(10)));
      } else {
        log.entry(CommandCodec.commitOffsets(group, List.of(new CommittedOffset(t, 0, r.nextInt(100)))));
      }
    }
    return log.all;
  }

  private static List<String> applyInBatches(TopicsStateMachine m, List<Entry> entries, int maxBatch, long seed) {
    Random r = new Random(seed);
    List<String> results = new ArrayList<>();
    for (int i = 0; i < entries.size(); ) {
      int size = Math.min(entries.size() - i, 1 + r.nextInt(maxBatch));
      for (Object o : m.apply(entries.subList(i, i + size))) {
        results.add(o instanceof BrokerException e ? e.kind() + ": " + e.getMessage() : String.valueOf(o));
      }
      i += size;
    }
    return results;
  }

  @ParameterizedTest(name = "seed {0}")
  @ValueSource(longs = {1, 2, 3, 20261123})
  void theSameEntriesInDifferentBatchingsGiveTheSameDigest(long seed) {
    StateMachineHarness log = new StateMachineHarness(dir);
    List<Entry> entries = workload(log, seed, 800);
    NodeStorage one = h.open("one-" + seed);
    NodeStorage some = h.open("some-" + seed);
    NodeStorage all = h.open("all-" + seed);
    // Few producers remembered, so evictions happen inside batches too.
    List<String> r1 = applyInBatches(StateMachineHarness.machine(one, 5), entries, 1, seed);
    List<String> r2 = applyInBatches(StateMachineHarness.machine(some, 5), entries, 40, seed + 1);
    List<String> r3 = applyInBatches(StateMachineHarness.machine(all, 5), entries, entries.size(), seed + 2);
    assertEquals(r1, r2, "results depend on batching (seed " + seed + ")");
    assertEquals(r1, r3, "results depend on batching (seed " + seed + ")");
    long[] d = one.state().digest();
    assertEquals(d[0], entries.size());
    assertEquals(d[1], some.state().digest()[1], "state depends on batching (seed " + seed + ")");
    assertEquals(d[1], all.state().digest()[1], "state depends on batching (seed " + seed + ")");
    long groups = one.state().column("groups").scan(new byte[0], new byte[] {(byte) 0xFF}, 100, Long.MAX_VALUE).size();
    long producers = one.state().column("producers").scan(new byte[0], new byte[] {(byte) 0xFF}, 100, Long.MAX_VALUE).size();
    assertTrue(groups > 0 && producers > 0, "the workload leaves groups (" + groups + ") and producers (" + producers + ")");
    assertTrue(r1.stream().anyMatch(s -> s.startsWith("CONFLICT: sequence too old")), "windows were exercised");
  }
}
