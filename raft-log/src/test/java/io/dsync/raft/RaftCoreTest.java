package io.dsync.raft;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.raft.RaftMessage.AppendEntries;
import io.dsync.raft.RaftMessage.RequestVote;
import io.dsync.raft.RaftMessage.RequestVoteResponse;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.HardState;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Drives one {@link RaftCore} by hand, playing the driver's part (persist the Ready, then
 * advance): leadership of a one-voter group, persist-before-commit, exactly-once in-order
 * delivery of committed entries, refusal of proposals off the leader, votes persisted before
 * they are sent, commit rules of Raft §5.3 and §5.4.2, election timing (§5.2), timestamps
 * that never go back (also across a restart), and a leader's disk reads for lagging followers
 * bounded per driver cycle while their catch-up still completes.
 */
class RaftCoreTest {

  /** A core plus the fake disk and the applied entries a driver would keep. */
  private static final class Driven {
    final MemoryStableLog log;
    final RaftCore core;
    final List<Entry> applied = new ArrayList<>();
    HardState hardState;
    /** Runs just before each {@link RaftCore#ready()}, i.e. at the end of each driver cycle. */
    Runnable beforeReady = () -> {};

    Driven(RaftConfig config, MemoryStableLog log, HardState hardState, long lastApplied) {
      this(config, log, log, hardState, lastApplied);
    }

    /** A core that reads its disk through {@code view} (e.g. one that counts) over {@code log}. */
    Driven(RaftConfig config, MemoryStableLog log, RaftCore.StableLog view, HardState hardState, long lastApplied) {
      this.log = log;
      this.hardState = hardState;
      this.core = new RaftCore(config, hardState, view, lastApplied, new Random(42));
    }

    /** Runs Ready/advance cycles until the core has nothing left to do. */
    List<RaftMessage> drain() {
      List<RaftMessage> sent = new ArrayList<>();
      while (core.hasReady()) {
        beforeReady.run();
        Ready rd = core.ready();
        if (rd.hardState() != null) {
          hardState = rd.hardState();
        }
        log.persist(rd);
        sent.addAll(rd.messages());
        applied.addAll(rd.committedEntries());
        core.advance(rd);
      }
      return sent;
    }
  }

  /** Raft as in the paper: no PreVote, no CheckQuorum (those have their own tests). */
  private static RaftConfig classic(String id) {
    RaftConfig d = RaftConfig.defaults(id, List.of("n1", "n2", "n3"));
    return new RaftConfig(id, d.voters(), d.tickMs(), d.electionTicks(), d.heartbeatTicks(), d.maxProposalQueue(),
        d.maxBatchBytes(), d.maxApplyQueue(), false, false, d.maxAppendBytes(), d.maxInflightAppends());
  }

  private static RaftConfig single() {
    return RaftConfig.defaults("n1", List.of("n1"));
  }

  private static Driven fresh(RaftConfig config) {
    return new Driven(config, new MemoryStableLog(), HardState.INITIAL, 0);
  }

  private static List<byte[]> commands(String... s) {
    List<byte[]> out = new ArrayList<>();
    for (String c : s) {
      out.add(c.getBytes(UTF_8));
    }
    return out;
  }

  private static String text(Entry e) {
    return new String(e.data(), UTF_8);
  }

  @Test
  void oneVoterBecomesLeaderOnFirstTickAndCommitsItsNoopOnlyOnceStable() {
    Driven d = fresh(single());
    assertEquals(Role.FOLLOWER, d.core.role());
    assertFalse(d.core.hasReady(), "a fresh core has nothing to do before its first tick");

    d.core.tick(1_000);
    assertEquals(Role.LEADER, d.core.role());
    assertEquals(1, d.core.term());
    assertEquals("n1", d.core.leaderId());

    Ready rd = d.core.ready();
    assertEquals(new HardState(1, "n1"), rd.hardState(), "term and self-vote must be saved");
    assertEquals(1, rd.entries().size());
    Entry noop = rd.entries().get(0);
    assertEquals(1, noop.index());
    assertEquals(1, noop.term());
    assertEquals(EntryType.ENTRY_NOOP, noop.type());
    assertEquals(1_000, noop.timestampMs());
    assertTrue(rd.committedEntries().isEmpty(), "nothing is committed before it is on disk");
    assertEquals(0, d.core.commitIndex());
    assertTrue(rd.messages().isEmpty(), "a one-voter group sends nothing");

    d.log.persist(rd);
    d.core.advance(rd);
    assertEquals(1, d.core.stableIndex());
    assertEquals(1, d.core.commitIndex());
    Ready rd2 = d.core.ready();
    assertNull(rd2.hardState(), "an unchanged hard state is not saved again");
    assertTrue(rd2.entries().isEmpty());
    assertEquals(List.of(noop), rd2.committedEntries());
    d.core.advance(rd2);
    assertFalse(d.core.hasReady());
  }

  @Test
  void proposalsCommitOnlyAfterAdvanceReportsThemStable() {
    Driven d = fresh(single());
    d.core.tick(1_000);
    d.drain();
    assertEquals(1, d.core.commitIndex());

    long first = d.core.propose(commands("a", "b", "c"), 2_000);
    assertEquals(2, first);
    assertEquals(4, d.core.lastIndex());
    assertEquals(1, d.core.commitIndex(), "a proposal is not committed before it is persisted");
    assertEquals(1, d.core.stableIndex());

    Ready rd = d.core.ready();
    assertEquals(2, rd.entriesFromIndex());
    assertEquals(List.of("a", "b", "c"), rd.entries().stream().map(RaftCoreTest::text).toList());
    assertTrue(rd.committedEntries().isEmpty(), "entries to persist are not handed out for apply in the same Ready");
    assertEquals(1, d.core.commitIndex(), "ready() alone must not commit");

    d.log.persist(rd);
    d.core.advance(rd);
    assertEquals(4, d.core.stableIndex());
    assertEquals(4, d.core.commitIndex(), "once stable, a one-voter leader commits");
    Ready rd2 = d.core.ready();
    assertEquals(List.of(2L, 3L, 4L), rd2.committedEntries().stream().map(Entry::index).toList());
    d.core.advance(rd2);
  }

  @Test
  void committedEntriesComeOutOnceAndInOrder() {
    Driven d = fresh(single());
    d.core.tick(1_000);
    int next = 0;
    for (int round = 0; round < 20; round++) {
      List<String> batch = new ArrayList<>();
      for (int i = 0; i <= round % 4; i++) {
        batch.add("c" + next++);
      }
      d.core.propose(commands(batch.toArray(String[]::new)), 1_000 + round);
      if (round % 3 == 0) {
        d.drain(); // sometimes several proposals are persisted in one Ready, sometimes one
      }
    }
    d.drain();
    assertFalse(d.core.hasReady());
    assertTrue(d.core.ready().committedEntries().isEmpty(), "nothing is handed out twice");

    List<Long> indexes = d.applied.stream().map(Entry::index).toList();
    for (int i = 0; i < indexes.size(); i++) {
      assertEquals(i + 1L, indexes.get(i), "applied indexes must be 1, 2, 3, ... without gaps or repeats: " + indexes);
    }
    assertEquals(d.core.lastIndex(), indexes.size());
    List<String> data = d.applied.stream().filter(e -> e.type() == EntryType.ENTRY_NORMAL).map(RaftCoreTest::text).toList();
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < next; i++) {
      expected.add("c" + i);
    }
    assertEquals(expected, data);
    assertEquals(d.log.all(), d.applied, "what was applied is exactly what is on disk");
  }

  @Test
  void proposeOnNonLeaderThrowsNotLeader() {
    Driven solo = fresh(single());
    NotLeaderException before = assertThrows(NotLeaderException.class, () -> solo.core.propose(commands("x"), 1));
    assertNull(before.leaderId());

    // A member of a three-voter group that hears from nobody only becomes a candidate.
    Driven lonely = fresh(classic("n1"));
    for (int i = 0; i < 40; i++) {
      lonely.core.tick(i);
      lonely.drain();
    }
    assertEquals(Role.CANDIDATE, lonely.core.role());
    assertThrows(NotLeaderException.class, () -> lonely.core.propose(commands("x"), 1));

    // A follower that heard from the leader names it.
    Driven follower = fresh(classic("n2"));
    follower.core.step(new AppendEntries("n1", "n2", 3, 0, 0, List.of(), 0));
    follower.drain();
    assertEquals(Role.FOLLOWER, follower.core.role());
    NotLeaderException e = assertThrows(NotLeaderException.class, () -> follower.core.propose(commands("x"), 1));
    assertEquals("n1", e.leaderId());
    assertEquals(0, follower.core.lastIndex(), "a refused proposal appends nothing");
  }

  @Test
  void candidateSavesItsVoteInTheReadyThatSendsTheRequests() {
    Driven c = fresh(classic("n1"));
    Ready rd = null;
    for (int i = 0; i < 40 && c.core.role() != Role.CANDIDATE; i++) {
      c.core.tick(i);
    }
    assertEquals(Role.CANDIDATE, c.core.role());
    rd = c.core.ready();
    assertEquals(new HardState(1, "n1"), rd.hardState(), "the self-vote is durable before any RequestVote leaves");
    assertEquals(2, rd.messages().size());
    assertTrue(rd.messages().stream().allMatch(m -> m instanceof RequestVote rv && rv.term() == 1));
    c.core.advance(rd);

    // A voter grants once per term and saves the vote before answering.
    Driven voter = fresh(classic("n2"));
    voter.core.step(new RequestVote("n1", "n2", 1, 0, 0));
    Ready vr = voter.core.ready();
    assertEquals(new HardState(1, "n1"), vr.hardState());
    assertEquals(List.of(new RequestVoteResponse("n2", "n1", 1, true)), vr.messages());
    voter.core.advance(vr);
    voter.core.step(new RequestVote("n3", "n2", 1, 0, 0));
    Ready vr2 = voter.core.ready();
    assertNull(vr2.hardState());
    assertEquals(List.of(new RequestVoteResponse("n2", "n3", 1, false)), vr2.messages(), "one vote per term (§5.2)");
  }

  @Test
  void aLeaderCommitsEarlierTermsEntriesOnlyThroughAnEntryOfItsOwnTerm() {
    MemoryStableLog log = new MemoryStableLog();
    Entry e1 = new Entry(1, 1, EntryType.ENTRY_NORMAL, 10, "a".getBytes(UTF_8));
    Entry e2 = new Entry(2, 1, EntryType.ENTRY_NORMAL, 11, "b".getBytes(UTF_8));
    log.persist(new Ready(null, 1, List.of(e1, e2), List.of(), List.of()));
    Driven d = new Driven(classic("n2"), log, new HardState(1, "n1"), 0);
    for (int i = 0; i < 40 && d.core.role() != Role.CANDIDATE; i++) {
      d.core.tick(100 + i);
    }
    d.drain();
    assertEquals(2, d.core.term());
    d.core.step(new RequestVoteResponse("n3", "n2", 2, true));
    assertEquals(Role.LEADER, d.core.role());
    d.drain(); // the no-op of term 2 at index 3 is now on the leader's disk

    // n3 reports it holds 1..2 (e.g. it answered a heartbeat): a majority has the term-1
    // entries, but counting replicas commits only entries of the current term (§5.4.2, Figure 8).
    d.core.step(new RaftMessage.AppendEntriesResponse("n3", "n2", 2, true, 2));
    assertEquals(0, d.core.commitIndex(), "a term-1 entry was committed by counting replicas in term 2");
    d.drain();
    assertTrue(d.applied.isEmpty());

    d.core.step(new RaftMessage.AppendEntriesResponse("n3", "n2", 2, true, 3));
    assertEquals(3, d.core.commitIndex(), "the term-2 no-op on a majority commits it and everything before");
    d.drain();
    assertEquals(List.of(1L, 2L, 3L), d.applied.stream().map(Entry::index).toList());
  }

  @Test
  void aFollowerCommitsNoFurtherThanTheLastEntryTheLeaderVouchedFor() {
    MemoryStableLog log = new MemoryStableLog();
    List<Entry> old = new ArrayList<>();
    for (long i = 1; i <= 3; i++) {
      old.add(new Entry(i, 1, EntryType.ENTRY_NORMAL, i, ("old" + i).getBytes(UTF_8)));
    }
    log.persist(new Ready(null, 1, old, List.of(), List.of()));
    Driven f = new Driven(classic("n3"), log, new HardState(1, "n1"), 0);

    // The term-2 leader vouches for 1..2 only (its entry 3 differs and comes in a later message);
    // its commit index 3 says nothing about our entry 3 (Figure 2: min(leaderCommit, last new)).
    f.core.step(new AppendEntries("n2", "n3", 2, 1, 1, List.of(old.get(1)), 3));
    assertEquals(2, f.core.commitIndex(), "committed an entry the leader never matched");
    f.drain();
    assertEquals(List.of(1L, 2L), f.applied.stream().map(Entry::index).toList());

    Entry mine = new Entry(3, 2, EntryType.ENTRY_NOOP, 50, new byte[0]);
    f.core.step(new AppendEntries("n2", "n3", 2, 2, 1, List.of(mine), 3));
    f.drain();
    assertEquals(3, f.core.commitIndex());
    assertEquals(2, f.applied.get(2).term(), "the conflicting entry 3 was replaced before it was applied");
    assertEquals(2, f.log.entry(3).term());
  }

  @Test
  void aCandidateWaitsAFullRandomizedTimeoutBeforeItsNextElection() {
    RaftConfig config = classic("n1");
    Driven c = fresh(config);
    int ticks = 200;
    for (int i = 0; i < ticks; i++) {
      c.core.tick(i);
      c.drain();
    }
    // Each election waits at least electionTicks (§5.2), so 200 ticks hold at most 20 of them.
    long elections = c.core.term();
    assertTrue(elections >= ticks / (2 * config.electionTicks()) && elections <= ticks / config.electionTicks(),
        "a candidate that hears nothing started " + elections + " elections in " + ticks + " ticks");
  }

  @Test
  void timestampsNeverGoBackWhenTheClockDoes() {
    Driven d = fresh(single());
    d.core.tick(5_000);
    d.core.propose(commands("a"), 6_000);
    d.core.propose(commands("b"), 3_000); // the clock stepped back
    d.core.tick(1_000);
    d.core.propose(commands("c"), 2_000);
    d.core.propose(commands("d"), 7_000);
    d.drain();
    List<Long> stamps = d.log.all().stream().map(Entry::timestampMs).toList();
    assertEquals(List.of(5_000L, 6_000L, 6_000L, 6_000L, 7_000L), stamps);
  }

  @Test
  void timestampsNeverGoBackAcrossARestart() {
    Driven d = fresh(single());
    d.core.tick(9_000);
    d.core.propose(commands("a"), 10_000);
    d.drain();
    assertEquals(2, d.applied.size());

    // Restart with everything applied (nothing left in memory) and a clock that is behind.
    Driven r = new Driven(single(), d.log, d.hardState, 2);
    r.core.tick(4_000);
    r.core.propose(commands("b"), 4_001);
    r.drain();
    List<Entry> all = r.log.all();
    for (int i = 1; i < all.size(); i++) {
      assertTrue(all.get(i).timestampMs() >= all.get(i - 1).timestampMs(),
          "timestamp went back at index " + all.get(i).index() + ": " + all);
    }
  }

  @Test
  void restartHandsOutOnlyEntriesAfterLastApplied() {
    Driven d = fresh(single());
    d.core.tick(1);
    d.core.propose(commands("a", "b", "c", "d"), 2);
    d.drain();
    assertEquals(5, d.applied.size());

    // The state machine had applied up to 3 when the node stopped.
    Driven r = new Driven(single(), d.log, d.hardState, 3);
    assertEquals(3, r.core.commitIndex());
    assertEquals(5, r.core.lastIndex());
    assertEquals(1, r.core.term());
    assertFalse(r.core.hasReady(), "entries after lastApplied are not applied before a leader commits them");
    r.core.tick(3);
    assertEquals(Role.LEADER, r.core.role());
    assertEquals(2, r.core.term());
    r.drain();
    assertEquals(List.of(4L, 5L, 6L), r.applied.stream().map(Entry::index).toList());
    assertEquals(EntryType.ENTRY_NOOP, r.applied.get(2).type());
    assertArrayEquals("d".getBytes(UTF_8), r.applied.get(1).data());
    assertNotNull(r.log.entry(6));
  }

  // ---------------------------------------------------------------- catch-up from disk

  /** A disk that counts the entry bytes {@link #entries} reads, as the leader's catch-up does. */
  private static final class CountingLog implements RaftCore.StableLog {
    final MemoryStableLog disk;
    /** Bytes read since the last {@link #endCycle}. */
    long sinceCycle;
    /** The most bytes read in one cycle so far. */
    long maxCycle;

    CountingLog(MemoryStableLog disk) {
      this.disk = disk;
    }

    @Override
    public long lastIndex() {
      return disk.lastIndex();
    }

    @Override
    public Entry entry(long index) {
      return disk.entry(index);
    }

    @Override
    public List<Entry> entries(long from, long toExclusive, long maxBytes) {
      List<Entry> out = disk.entries(from, toExclusive, maxBytes);
      for (Entry e : out) {
        sinceCycle += e.approximateBytes();
      }
      return out;
    }

    /** Ends a driver cycle: checks its reads against {@code limit} and starts counting anew. */
    void endCycle(long limit) {
      assertTrue(sinceCycle <= limit,
          "one driver cycle read " + sinceCycle + " bytes from disk; the budget allows " + limit);
      maxCycle = Math.max(maxCycle, sinceCycle);
      sinceCycle = 0;
    }
  }

  // Proves followers learn a commit in the leader's very next Ready, without waiting for a
  // heartbeat tick (etcd's commit broadcast), and that a follower already told by a message in
  // the same Ready gets no second one.
  @Test
  void followersLearnACommitAtOnceWithoutWaitingForAHeartbeat() {
    java.util.Map<String, Driven> nodes = new java.util.TreeMap<>();
    for (String id : List.of("n1", "n2", "n3")) {
      nodes.put(id, fresh(classic(id)));
    }
    Driven n1 = nodes.get("n1");
    for (int i = 0; i < 40 && n1.core.role() != Role.CANDIDATE; i++) {
      n1.core.tick(100 + i);
    }
    List<RaftMessage> out = n1.drain();
    for (int i = 0; i < 10 && !out.isEmpty(); i++) {
      out = deliver(nodes, out); // election, the no-op, its commit: all without another tick
    }
    assertEquals(Role.LEADER, n1.core.role());
    long noop = n1.core.lastIndex();
    assertEquals(noop, n1.core.commitIndex());
    for (String f : List.of("n2", "n3")) {
      assertEquals(noop, nodes.get(f).core.commitIndex(), f + " learned the no-op's commit without a tick");
    }

    n1.core.propose(commands("x"), 200);
    List<RaftMessage> appends = n1.drain();
    List<RaftMessage> responses = deliver(java.util.Map.of("n2", nodes.get("n2"), "n3", nodes.get("n3")), appends);
    n1.core.step(responses.get(0)); // one response is a majority with the leader: "x" commits
    List<RaftMessage> sent = n1.drain();
    assertEquals(noop + 1, n1.core.commitIndex());
    String acked = responses.get(0).from();
    assertEquals(List.of(new RaftMessage.Heartbeat("n1", acked, n1.core.term(), noop + 1, 0)),
        sent.stream().filter(m -> m.to().equals(acked)).toList(),
        "the follower that holds the entry is told of its commit at once");
    assertTrue(sent.stream().noneMatch(m -> !m.to().equals(acked) && m instanceof RaftMessage.Heartbeat),
        "the other follower's match is behind: min(commit, match) tells it nothing new yet");
    n1.core.step(responses.get(1));
    List<RaftMessage> second = n1.drain();
    String other = responses.get(1).from();
    assertEquals(List.of(new RaftMessage.Heartbeat("n1", other, n1.core.term(), noop + 1, 0)), second,
        "once it acknowledges, it is told too, once");
    deliver(nodes, second);
    assertEquals(noop + 1, nodes.get(other).core.commitIndex());
    assertTrue(n1.drain().isEmpty(), "nothing more to say without new entries or ticks");
  }

  /** {@code n} term-1 entries of {@code size} bytes each, indexes 1..n. */
  private static MemoryStableLog diskOf(int n, int size) {
    List<Entry> entries = new ArrayList<>();
    for (int i = 1; i <= n; i++) {
      byte[] data = new byte[size];
      data[0] = (byte) i;
      entries.add(new Entry(i, 1, EntryType.ENTRY_NORMAL, i, data));
    }
    MemoryStableLog log = new MemoryStableLog();
    log.persist(new Ready(null, 1, entries, List.of(), List.of()));
    return log;
  }

  /** Hands every message to its addressee (dropping those to nodes not in {@code nodes}). */
  private static List<RaftMessage> deliver(java.util.Map<String, Driven> nodes, List<RaftMessage> messages) {
    for (RaftMessage m : messages) {
      Driven to = nodes.get(m.to());
      if (to != null) {
        to.core.step(m);
      }
    }
    List<RaftMessage> out = new ArrayList<>();
    for (Driven d : nodes.values()) {
      out.addAll(d.drain());
    }
    return out;
  }

  /**
   * A leader restarted with {@code n} entries all applied, so none of them is in memory any more
   * (the core keeps only entries after the last one handed out for apply): a follower that needs
   * them is served from the stable log alone. Elected by routing the votes through {@code nodes};
   * the messages still to deliver are left in {@code pending}.
   */
  private static Driven leaderOverDisk(
      java.util.Map<String, Driven> nodes, CountingLog disk, int n, long limit, List<RaftMessage> pending) {
    Driven leader = new Driven(classic("n1"), disk.disk, disk, new HardState(1, null), n);
    nodes.put("n1", leader);
    leader.beforeReady = () -> disk.endCycle(limit);
    disk.sinceCycle = 0; // the constructor scans the log for configuration entries
    for (int i = 0; i < 40 && leader.core.role() != Role.CANDIDATE; i++) {
      leader.core.tick(100 + i);
    }
    List<RaftMessage> out = leader.drain();
    for (int i = 0; i < 4 && leader.core.role() != Role.LEADER; i++) {
      out = deliver(nodes, out);
    }
    assertEquals(Role.LEADER, leader.core.role());
    pending.addAll(out);
    return leader;
  }

  @Test
  void aLeaderReadsAtMostItsDiskBudgetPerCycleWhileAFollowerCatchesUp() {
    // n1 leads with 2,560 entries of 4 KiB (about 10 MiB) on disk only; n2 holds them too, n3
    // holds nothing. Pipelining to n3 in REPLICATE would allow 64 messages of 1 MiB per cycle,
    // so without the budget the first streaming cycle reads the whole 10 MiB at once.
    int n = 2_560;
    int size = 4_096;
    RaftConfig config = classic("n1");
    assertEquals(4L << 20, config.maxStableReadBytes(), "the default budget");
    long limit = config.maxStableReadBytes() + size + 32; // an append always carries one entry
    CountingLog disk = new CountingLog(diskOf(n, size));
    MemoryStableLog n2disk = new MemoryStableLog();
    n2disk.persist(new Ready(null, 1, disk.disk.all(), List.of(), List.of()));
    java.util.Map<String, Driven> nodes = new java.util.TreeMap<>();
    nodes.put("n2", new Driven(classic("n2"), n2disk, new HardState(1, null), n));
    Driven n3 = new Driven(classic("n3"), new MemoryStableLog(), HardState.INITIAL, 0);
    nodes.put("n3", n3);
    List<RaftMessage> pending = new ArrayList<>();
    Driven leader = leaderOverDisk(nodes, disk, n, limit, pending);

    // No ticks and no proposals from here on: the followers' responses alone must carry n3
    // from index 1 to the end, a budget's worth per cycle.
    int rounds = 0;
    while (leader.core.matchIndexes().get("n3") < leader.core.lastIndex()) {
      assertTrue(++rounds <= 50, "n3 did not catch up in 50 rounds: at " + n3.core.lastIndex()
          + " of " + leader.core.lastIndex() + ", messages pending " + pending.size());
      pending = deliver(nodes, pending);
    }
    assertTrue(disk.maxCycle > config.maxAppendBytes(),
        "a cycle pipelined several appends from disk (else the budget was never tested): " + disk.maxCycle);
    assertEquals(leader.log.all(), n3.log.all(), "n3's log is the leader's, in order and without gaps");
  }

  @Test
  void aFollowerDeferredWithNothingInFlightResumesAtTheNextTick() {
    // Two followers need everything from index 1. n2 comes first and takes each cycle's budget;
    // n3 is deferred with nothing in flight, so no response of its own will bring it back.
    int n = 1_500;
    int size = 4_096;
    RaftConfig config = classic("n1");
    long limit = config.maxStableReadBytes() + size + 32;
    CountingLog disk = new CountingLog(diskOf(n, size));
    java.util.Map<String, Driven> nodes = new java.util.TreeMap<>();
    Driven n2 = new Driven(classic("n2"), new MemoryStableLog(), HardState.INITIAL, 0);
    Driven n3 = new Driven(classic("n3"), new MemoryStableLog(), HardState.INITIAL, 0);
    nodes.put("n2", n2);
    nodes.put("n3", n3);
    List<RaftMessage> pending = new ArrayList<>();
    Driven leader = leaderOverDisk(nodes, disk, n, limit, pending);

    for (int rounds = 0; !pending.isEmpty(); rounds++) {
      assertTrue(rounds < 50, "the cluster did not settle in 50 rounds without ticks");
      pending = deliver(nodes, pending);
    }
    assertEquals(leader.core.lastIndex(), n2.core.lastIndex(), "n2 caught up on responses alone");
    assertTrue(n3.core.lastIndex() < leader.core.lastIndex(),
        "n3 should have been deferred behind n2 (else this test exercises nothing): " + n3.core.lastIndex());

    // Nothing is in flight and nothing is proposed: the next tick alone resumes n3's catch-up.
    leader.core.tick(1_000);
    pending = leader.drain();
    assertTrue(pending.stream().anyMatch(m -> m instanceof AppendEntries ae && ae.to().equals("n3")
            && !ae.entries().isEmpty() && ae.entries().get(0).index() == n3.core.lastIndex() + 1),
        "the tick sent n3 nothing to catch up with: " + pending);
    for (int rounds = 0; n3.core.lastIndex() < leader.core.lastIndex(); rounds++) {
      assertTrue(rounds < 50, "n3 did not catch up in 50 rounds: at " + n3.core.lastIndex());
      pending = deliver(nodes, pending);
      if (rounds % 5 == 4) {
        leader.core.tick(1_000 + rounds);
        pending.addAll(leader.drain());
      }
    }
    assertEquals(leader.log.all(), n3.log.all());
    assertEquals(leader.log.all(), n2.log.all());
  }
}
