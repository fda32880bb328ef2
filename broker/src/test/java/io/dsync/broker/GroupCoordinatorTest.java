package io.dsync.broker;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.broker.GroupModel.GroupInfo;
import io.dsync.broker.GroupModel.MemberInfo;
import io.dsync.broker.GroupModel.Membership;
import io.dsync.broker.GroupModel.TopicPartition;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.raft.RaftConfig;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer-group coordinator and idempotent produce through the {@link Broker} facade on a
 * one-node group in a temp dir, with a clock the test moves ({@code Broker.open} takes it): joins,
 * heartbeats, leaves and assignments; sessions that lapse are removed by the leader's sweeper and
 * heartbeats keep them; a restarted leader starts every session afresh; refused requests propose
 * nothing; windows of idempotent producers survive a restart.
 *
 * <p>No timing asserts: the sweeper is driven by calling {@code sweep()} (the background sweeper
 * runs too, on the same clock, which only moves when the test moves it); one test waits, in a
 * bounded loop, for the background sweeper alone.
 */
class GroupCoordinatorTest {
  @TempDir Path dir;

  private final AtomicLong clock = new AtomicLong(1_800_000_000_000L);
  private Broker broker;

  @BeforeEach
  void open() {
    broker = openBroker();
    broker.createTopic(new TopicConfig("orders", 6, 0, 0, 0, null));
    broker.createTopic(new TopicConfig("audit", 2, 0, 0, 0, null));
    startSessions();
  }

  /**
   * Makes the coordinator take up this term's sessions now (the first sweep of a leader's term
   * starts every session afresh), so that later joins' session starts are not reset by it.
   */
  private void startSessions() {
    try {
      groups().sweep().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @AfterEach
  void close() {
    if (broker != null) {
      broker.close();
    }
  }

  private Broker openBroker() {
    return TestBrokers.openReady(dir, clock::get);
  }

  /** Closes the broker, lets {@code downMs} pass on the clock, and opens it again. */
  private void restart(long downMs) {
    broker.close();
    broker = null;
    clock.addAndGet(downMs);
    broker = openBroker();
    startSessions();
  }

  private GroupCoordinator groups() {
    return broker.groups();
  }

  private static BrokerException refused(ErrorKind kind, Executable call) {
    BrokerException e = assertThrows(BrokerException.class, call);
    assertEquals(kind, e.kind(), e.getMessage());
    return e;
  }

  private List<String> members(String group) {
    return groups().describe(group).members().stream().map(MemberInfo::memberId).toList();
  }

  /** Runs one sweep and waits for what it proposed to be applied. */
  private void sweep() throws Exception {
    groups().sweep().get(10, TimeUnit.SECONDS);
  }

  @Test
  void joinHeartbeatLeaveAndTheAssignmentsCoverEveryPartitionOnce() {
    Membership a = groups().join("g", "a", List.of("orders", "audit"), 10_000);
    assertEquals(1, a.generation());
    assertEquals(8, a.assignment().size(), "alone, a owns all 8 partitions");
    Membership b = groups().join("g", "b", List.of("orders"), 10_000);
    assertEquals(2, b.generation());
    Membership a2 = groups().heartbeat("g", "a");
    assertEquals(2, a2.generation(), "a learns the new generation from its heartbeat");
    TreeSet<String> owned = new TreeSet<>();
    for (TopicPartition tp : a2.assignment()) {
      assertTrue(owned.add(tp.topic() + "/" + tp.partition()), tp.toString());
    }
    for (TopicPartition tp : b.assignment()) {
      assertEquals("orders", tp.topic(), "b subscribes to orders only");
      assertTrue(owned.add(tp.topic() + "/" + tp.partition()), tp + " owned twice");
    }
    assertEquals(8, owned.size());
    assertTrue(a2.assignment().contains(new TopicPartition("audit", 0)) && a2.assignment().contains(new TopicPartition("audit", 1)));

    GroupInfo g = groups().describe("g");
    assertEquals(2, g.generation());
    assertEquals(List.of("a", "b"), g.members().stream().map(MemberInfo::memberId).toList());
    assertEquals(List.of("audit", "orders"), g.members().get(0).topics());
    assertEquals(clock.get(), g.members().get(0).joinedMs(), "the join entry's timestamp, from the broker's clock");
    assertEquals(a2.assignment(), g.members().get(0).assignment());
    assertEquals(b.assignment(), g.members().get(1).assignment());

    // Joining again with the same topics is idempotent.
    assertEquals(b, groups().join("g", "b", List.of("orders", "orders"), 10_000));
    assertEquals(3, groups().leave("g", "b"));
    Membership alone = groups().heartbeat("g", "a");
    assertEquals(new Membership("a", 3, a.assignment()), alone, "b's partitions came back to a");
    refused(ErrorKind.NOT_FOUND, () -> groups().heartbeat("g", "b"));
    refused(ErrorKind.NOT_FOUND, () -> groups().leave("g", "b"));

    Membership named = groups().join("g", null, List.of("audit"), 10_000);
    assertTrue(named.memberId().startsWith("member-"), named.memberId());
    assertEquals(named, groups().heartbeat("g", named.memberId()));
  }

  @Test
  void refusedRequestsProposeNothing() {
    groups().join("g", "a", List.of("orders"), 10_000);
    // The log on disk: written before a write returns (Raft's status getters may lag a moment).
    long last = broker.storage().log().lastIndex();
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "b", List.of("orders"), 999));
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "b", List.of("orders"), 300_001));
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "b", List.of(), 10_000));
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "b", null, 10_000));
    List<String> many = new ArrayList<>();
    for (int i = 0; i <= GroupCoordinator.MAX_TOPICS_PER_MEMBER; i++) {
      many.add("orders");
    }
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "b", many, 10_000));
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "b", List.of("no good"), 10_000));
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("g", "has space", List.of("orders"), 10_000));
    refused(ErrorKind.BAD_REQUEST, () -> groups().join("bad group", "b", List.of("orders"), 10_000));
    refused(ErrorKind.NOT_FOUND, () -> groups().join("g", "b", List.of("orders", "nope"), 10_000));
    refused(ErrorKind.NOT_FOUND, () -> groups().heartbeat("nope", "a"));
    refused(ErrorKind.NOT_FOUND, () -> groups().heartbeat("g", "nope"));
    refused(ErrorKind.BAD_REQUEST, () -> groups().heartbeat("g", "has space"));
    refused(ErrorKind.NOT_FOUND, () -> groups().leave("g", "nope"));
    refused(ErrorKind.NOT_FOUND, () -> groups().describe("nope"));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("orders", List.of(json("1")), "no good", 0));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("orders", List.of(json("1")), "p", -1));
    assertEquals(last, broker.storage().log().lastIndex(), "a refused request proposed something");
    assertEquals(List.of("a"), members("g"));
  }

  @Test
  void aLapsedSessionIsRemovedByTheLeaderAndHeartbeatsKeepOthers() throws Exception {
    groups().join("g", "quiet", List.of("orders"), 1_000);
    groups().join("g", "alive", List.of("orders"), 1_000);
    for (int i = 0; i < 3; i++) {
      clock.addAndGet(700);
      groups().heartbeat("g", "alive");
      sweep();
      if (i == 0) {
        assertEquals(List.of("alive", "quiet"), members("g"), "700 ms is within quiet's session");
      }
    }
    // 2,100 ms without a heartbeat from quiet: removed, a new generation; alive stays.
    assertEquals(List.of("alive"), members("g"));
    assertEquals(3, groups().describe("g").generation());
    Membership alive = groups().heartbeat("g", "alive");
    assertEquals(6, alive.assignment().size(), "alive took over quiet's partitions");
    BrokerException gone = refused(ErrorKind.NOT_FOUND, () -> groups().heartbeat("g", "quiet"));
    assertTrue(gone.getMessage().contains("join again"), gone.getMessage());

    // The removed member joins again: a new incarnation with a fresh session.
    groups().join("g", "quiet", List.of("orders"), 1_000);
    clock.addAndGet(900);
    groups().heartbeat("g", "alive");
    sweep();
    assertEquals(List.of("alive", "quiet"), members("g"));
    clock.addAndGet(900);
    groups().heartbeat("g", "quiet");
    sweep();
    assertEquals(List.of("alive", "quiet"), members("g"));
    clock.addAndGet(1_001);
    sweep();
    assertEquals(List.of(), members("g"), "both lapsed");
    assertEquals(5, groups().describe("g").generation(), "one removal of both: one generation");
  }

  @Test
  void theBackgroundSweeperRemovesALapsedMemberOnItsOwn() throws Exception {
    groups().join("g", "a", List.of("orders"), 1_000);
    clock.addAndGet(1_001);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!members("g").isEmpty()) {
      if (System.nanoTime() > deadline) {
        fail("the sweeper did not remove the lapsed member within 10 s");
      }
      Thread.sleep(10);
    }
    assertEquals(2, groups().describe("g").generation());
  }

  @Test
  void aNewLeaderStartsEverySessionAfresh() throws Exception {
    groups().join("g", "a", List.of("orders"), 1_000);
    groups().join("g", "b", List.of("audit"), 5_000);
    restart(60_000); // down far longer than both sessions, counted from their joins
    sweep();
    assertEquals(List.of("a", "b"), members("g"), "the new leader counts sessions from when it took over");
    assertEquals(2, groups().describe("g").generation(), "groups survive the restart");
    clock.addAndGet(1_001);
    sweep();
    assertEquals(List.of("b"), members("g"));
    clock.addAndGet(4_000);
    sweep();
    assertEquals(List.of(), members("g"));
  }

  @Test
  void aTopicDeletedUnderAGroupLeavesTheAssignmentAndComesBack() {
    groups().join("g", "a", List.of("orders", "audit"), 10_000);
    broker.deleteTopic("audit");
    Membership m = groups().heartbeat("g", "a");
    assertEquals(2, m.generation());
    assertTrue(m.assignment().stream().allMatch(tp -> tp.topic().equals("orders")), m.toString());
    assertEquals(List.of("audit", "orders"), groups().describe("g").members().get(0).topics(), "still subscribed");
    refused(ErrorKind.NOT_FOUND, () -> groups().join("g", "b", List.of("audit"), 10_000));
    broker.createTopic(new TopicConfig("audit", 3, 0, 0, 0, null));
    m = groups().heartbeat("g", "a");
    assertEquals(3, m.generation());
    assertEquals(9, m.assignment().size());
  }

  private static RecordIn json(String value) {
    return new RecordIn(null, value.getBytes(UTF_8), false, List.of(), 0);
  }

  @Test
  void idempotentProduceAnswersRetriesAndSurvivesARestart() {
    List<RecordPosition> first = broker.produce("orders", List.of(json("1"), json("2"), json("3")), "p1", 0);
    String before = broker.topic("orders").toString();
    assertEquals(first, broker.produce("orders", List.of(json("1"), json("2"), json("3")), "p1", 0));
    assertEquals(before, broker.topic("orders").toString(), "the retry appended nothing");
    List<RecordPosition> third = null;
    for (long s = 1; s <= 5; s++) {
      List<RecordPosition> r = broker.produce("orders", List.of(json("x")), "p1", s);
      third = s == 3 ? r : third;
    }
    BrokerException old = refused(ErrorKind.CONFLICT, () -> broker.produce("orders", List.of(json("1")), "p1", 0));
    assertTrue(old.getMessage().startsWith("sequence too old"), old.getMessage());
    String after = broker.topic("orders").toString();
    restart(0);
    assertEquals(third, broker.produce("orders", List.of(json("x")), "p1", 3), "remembered across the restart");
    refused(ErrorKind.CONFLICT, () -> broker.produce("orders", List.of(json("1")), "p1", 0));
    assertEquals(after, broker.topic("orders").toString());
    assertFalse(broker.produce("orders", List.of(json("y")), "p1", 6).isEmpty(), "new sequences go on");
  }
}
