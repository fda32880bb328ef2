package io.dsync.raft;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.raft.proto.EntryType;
import io.dsync.storage.HardState;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Three {@link RaftCore}s wired together in memory: each node persists its Ready into its own
 * {@link MemoryStableLog}, then sends, then applies, then advances, exactly as the driver does.
 * The network delivers in an order drawn from a seeded {@link Random} (reordering and the odd
 * duplicate) and can cut a node off. After every step the harness checks election safety (at most
 * one leader per term, Raft §5.2) and that every applied entry is on the applier's disk.
 *
 * <p>These are scenarios (election, replication, catch-up, overwrite of an uncommitted suffix,
 * leader clocks that disagree), each run for several seeds; the full randomized simulation comes
 * with the cluster work. A failure names its seed.
 */
class RaftClusterScenarioTest {
  private static final List<String> IDS = List.of("n1", "n2", "n3");

  static List<Long> seeds() {
    List<Long> seeds = new ArrayList<>();
    for (long s = 1; s <= 12; s++) {
      seeds.add(s * 7919);
    }
    return seeds;
  }

  /** The in-memory cluster. */
  private static final class Cluster {
    final Random random;
    final Map<String, RaftCore> cores = new TreeMap<>();
    final Map<String, MemoryStableLog> logs = new TreeMap<>();
    final Map<String, List<Entry>> applied = new TreeMap<>();
    final Map<String, HardState> hardStates = new TreeMap<>();
    final Map<String, LongUnaryOperator> clocks = new TreeMap<>();
    final List<RaftMessage> network = new ArrayList<>();
    final Set<String> isolated = new HashSet<>();
    /** term → the one node that led it. */
    final Map<Long, String> leaders = new TreeMap<>();
    long now = 1_000_000;

    Cluster(long seed) {
      this.random = new Random(seed);
      for (String id : IDS) {
        logs.put(id, new MemoryStableLog());
        applied.put(id, new ArrayList<>());
        hardStates.put(id, HardState.INITIAL);
        clocks.put(id, t -> t);
        cores.put(id, new RaftCore(RaftConfig.defaults(id, IDS), HardState.INITIAL, logs.get(id), 0,
            new Random(random.nextLong())));
      }
    }

    RaftCore core(String id) {
      return cores.get(id);
    }

    /** Persist, send, apply, advance — until the node has nothing to do. */
    void process(String id) {
      RaftCore c = cores.get(id);
      while (c.hasReady()) {
        Ready rd = c.ready();
        if (rd.hardState() != null) {
          HardState old = hardStates.get(id);
          assertTrue(rd.hardState().term() >= old.term(), id + ": term went back " + old + " -> " + rd.hardState());
          hardStates.put(id, rd.hardState());
        }
        logs.get(id).persist(rd);
        for (RaftMessage m : rd.messages()) {
          if (!isolated.contains(m.from()) && !isolated.contains(m.to())) {
            network.add(m);
          }
        }
        for (Entry e : rd.committedEntries()) {
          Entry onDisk = logs.get(id).entry(e.index());
          assertNotNull(onDisk, id + " applies " + e.index() + " which is not on its disk");
          assertEquals(onDisk.term(), e.term(), id + " applies an entry that differs from its disk");
          List<Entry> a = applied.get(id);
          long expected = a.isEmpty() ? 1 : a.get(a.size() - 1).index() + 1;
          assertEquals(expected, e.index(), id + " applied out of order");
          a.add(e);
        }
        c.advance(rd);
      }
      checkElectionSafety();
    }

    void checkElectionSafety() {
      for (RaftCore c : cores.values()) {
        if (c.role() == Role.LEADER) {
          String prev = leaders.putIfAbsent(c.term(), c.id());
          if (prev != null && !prev.equals(c.id())) {
            throw new AssertionError("two leaders in term " + c.term() + ": " + prev + " and " + c.id());
          }
        }
      }
    }

    /** One tick on {@code id}; a cut-off node keeps ticking (and campaigning) on its own. */
    void tick(String id) {
      cores.get(id).tick(clocks.get(id).applyAsLong(now));
      process(id);
    }

    void tickAll() {
      now += 50;
      for (String id : IDS) {
        tick(id);
      }
    }

    /** Delivers every message in flight (and those they cause) in a seeded random order. */
    void deliverAll() {
      int steps = 0;
      while (!network.isEmpty()) {
        if (++steps > 100_000) {
          throw new AssertionError("messages never settle");
        }
        RaftMessage m = network.remove(random.nextInt(network.size()));
        if (isolated.contains(m.from()) || isolated.contains(m.to())) {
          continue; // cut off after it was sent
        }
        if (random.nextInt(20) == 0) {
          network.add(m); // a duplicate, delivered later
        }
        cores.get(m.to()).step(m);
        process(m.to());
      }
    }

    /** Ticks everyone and delivers, round after round, until {@code done} or the rounds run out. */
    void runUntil(java.util.function.BooleanSupplier done, int maxRounds, String what) {
      for (int r = 0; r < maxRounds; r++) {
        if (done.getAsBoolean()) {
          return;
        }
        tickAll();
        deliverAll();
      }
      if (!done.getAsBoolean()) {
        throw new AssertionError("not reached after " + maxRounds + " rounds: " + what + "; " + describe());
      }
    }

    /** Makes {@code id} campaign by ticking only it, then lets the votes flow. */
    void elect(String id) {
      RaftCore c = cores.get(id);
      for (int i = 0; i < 100 && c.role() != Role.LEADER; i++) {
        now += 50;
        tick(id);
        deliverAll();
      }
      assertEquals(Role.LEADER, c.role(), id + " did not win: " + describe());
    }

    String leader() {
      String found = null;
      for (RaftCore c : cores.values()) {
        if (c.role() == Role.LEADER && !isolated.contains(c.id())) {
          if (found == null || c.term() > cores.get(found).term()) {
            found = c.id();
          }
        }
      }
      return found;
    }

    void propose(String id, String... commands) {
      List<byte[]> bytes = new ArrayList<>();
      for (String s : commands) {
        bytes.add(s.getBytes(UTF_8));
      }
      cores.get(id).propose(bytes, clocks.get(id).applyAsLong(now));
      process(id);
    }

    /** Heartbeats until every listed node applied up to {@code index}. */
    void settle(long index, String... ids) {
      runUntil(() -> {
        for (String id : ids) {
          List<Entry> a = applied.get(id);
          if (a.isEmpty() || a.get(a.size() - 1).index() < index) {
            return false;
          }
        }
        return true;
      }, 200, "apply up to " + index + " on " + List.of(ids));
    }

    /**
     * Heartbeats until a leader is known and every node has applied its whole log (a node that
     * was cut off may force a new election when it comes back: there is no PreVote yet).
     */
    void converge() {
      runUntil(() -> {
        String l = leader();
        if (l == null) {
          return false;
        }
        long last = cores.get(l).lastIndex();
        for (String id : IDS) {
          List<Entry> a = applied.get(id);
          if (cores.get(id).lastIndex() != last || a.isEmpty() || a.get(a.size() - 1).index() != last) {
            return false;
          }
        }
        return true;
      }, 300, "every node applied the leader's whole log");
    }

    List<String> appliedCommands(String id) {
      return applied.get(id).stream().filter(e -> e.type() == EntryType.ENTRY_NORMAL)
          .map(e -> new String(e.data(), UTF_8)).toList();
    }

    String describe() {
      StringBuilder b = new StringBuilder();
      for (RaftCore c : cores.values()) {
        b.append(c.id()).append('{').append(c.role()).append(" t").append(c.term()).append(" last")
            .append(c.lastIndex()).append(" commit").append(c.commitIndex()).append(" applied")
            .append(applied.get(c.id()).size()).append(isolated.contains(c.id()) ? " cut" : "").append("} ");
      }
      return b.toString();
    }
  }

  /** Runs a scenario, naming the seed if it fails. */
  private static void withSeed(long seed, Consumer<Cluster> scenario) {
    Cluster cluster = new Cluster(seed);
    try {
      scenario.accept(cluster);
    } catch (AssertionError | RuntimeException e) {
      throw new AssertionError("failed with seed " + seed + " (rerun that seed): " + e.getMessage()
          + "\n  state: " + cluster.describe(), e);
    }
  }

  /** Committed logs agree: each node's applied entries are a prefix of the longest one. */
  private static void assertAppliedAgree(Cluster c) {
    List<Entry> longest = List.of();
    for (List<Entry> a : c.applied.values()) {
      if (a.size() > longest.size()) {
        longest = a;
      }
    }
    for (Map.Entry<String, List<Entry>> a : c.applied.entrySet()) {
      List<Entry> mine = a.getValue();
      for (int i = 0; i < mine.size(); i++) {
        Entry x = mine.get(i);
        Entry y = longest.get(i);
        assertTrue(x.index() == y.index() && x.term() == y.term() && x.type() == y.type()
                && java.util.Arrays.equals(x.data(), y.data()) && x.timestampMs() == y.timestampMs(),
            a.getKey() + " applied a different entry at " + x.index() + " (state-machine safety, §5.4.3)");
      }
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void electsExactlyOneLeaderWhomEveryoneFollows(long seed) {
    withSeed(seed, c -> {
      c.runUntil(() -> c.leader() != null, 200, "a leader");
      // Let the term settle (a split vote may still be under way), then check everyone agrees.
      for (int i = 0; i < 5; i++) {
        c.tickAll();
        c.deliverAll();
      }
      String leader = c.leader();
      assertNotNull(leader, c.describe());
      long term = c.core(leader).term();
      long leaders = c.cores.values().stream().filter(x -> x.role() == Role.LEADER).count();
      assertEquals(1, leaders, c.describe());
      for (RaftCore x : c.cores.values()) {
        assertEquals(term, x.term(), x.id() + " is in another term");
        assertEquals(leader, x.leaderId(), x.id() + " follows someone else");
      }
    });
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void proposalsReplicateAndCommitIdenticallyOnAllThree(long seed) {
    withSeed(seed, c -> {
      c.runUntil(() -> c.leader() != null, 200, "a leader");
      String leader = c.leader();
      List<String> sent = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        String[] batch = new String[1 + i % 3];
        for (int j = 0; j < batch.length; j++) {
          batch[j] = "p" + sent.size();
          sent.add(batch[j]);
        }
        c.propose(leader, batch);
        if (i % 4 == 0) {
          c.deliverAll();
        }
      }
      long last = c.core(leader).lastIndex();
      c.settle(last, "n1", "n2", "n3");
      assertEquals(leader, c.leader(), "leadership changed although nothing failed");
      for (String id : IDS) {
        assertEquals(sent, c.appliedCommands(id), id + " applied other commands");
        assertEquals(last, c.core(id).commitIndex());
      }
      assertAppliedAgree(c);
      assertEquals(c.logs.get("n1").all().size(), c.logs.get("n2").all().size());
    });
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void aFollowerThatWasCutOffCatchesUp(long seed) {
    withSeed(seed, c -> {
      c.elect("n1");
      c.propose("n1", "before");
      c.settle(c.core("n1").lastIndex(), "n1", "n2", "n3");

      c.isolated.add("n3");
      List<String> during = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        during.add("during" + i);
        c.propose("n1", "during" + i);
        if (i % 7 == 0) {
          c.tickAll();
          c.deliverAll();
        }
      }
      long last = c.core("n1").lastIndex();
      c.settle(last, "n1", "n2");
      assertEquals(2, c.applied.get("n3").size(), "a cut-off follower must not apply anything new");
      assertEquals(Role.LEADER, c.core("n1").role(), "n1 and n2 are a majority");
      assertEquals(last, c.core("n1").commitIndex(), "a majority commits without n3");

      c.isolated.remove("n3");
      c.converge();
      List<String> expected = new ArrayList<>(List.of("before"));
      expected.addAll(during);
      for (String id : IDS) {
        assertEquals(expected, c.appliedCommands(id));
      }
      assertAppliedAgree(c);
      assertEquals(c.logs.get("n1").all().size(), c.logs.get("n3").all().size(), "n3's disk caught up too");
    });
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void aNodeMissingCommittedEntriesCannotBeElected(long seed) {
    withSeed(seed, c -> {
      c.elect("n1");
      c.isolated.add("n3");
      for (int i = 0; i < 10; i++) {
        c.propose("n1", "x" + i);
      }
      long committed = c.core("n1").lastIndex();
      c.settle(committed, "n1", "n2");

      // The leader goes away; the stale n3 comes back and campaigns first.
      c.isolated.remove("n3");
      c.isolated.add("n1");
      for (int i = 0; i < 100 && c.core("n3").role() != Role.CANDIDATE; i++) {
        c.now += 50;
        c.tick("n3");
      }
      c.deliverAll();
      assertFalse(c.core("n3").role() == Role.LEADER, "n2 voted for a candidate whose log lacks committed entries (§5.4.1)");

      c.runUntil(() -> c.leader() != null && !c.leader().equals("n1"), 300, "a new leader among n2, n3");
      assertEquals("n2", c.leader(), "only n2 holds every committed entry");
      assertFalse(c.leaders.containsValue("n3"), "n3 led a term: " + c.leaders);
      c.isolated.remove("n1");
      c.converge();
      List<String> expected = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        expected.add("x" + i);
      }
      for (String id : IDS) {
        assertEquals(expected, c.appliedCommands(id), id);
      }
      assertAppliedAgree(c);
    });
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void aNewLeaderOverwritesTheOldLeadersUncommittedSuffix(long seed) {
    withSeed(seed, c -> {
      c.elect("n1");
      c.propose("n1", "committed");
      c.settle(c.core("n1").lastIndex(), "n1", "n2", "n3");
      long committed = c.core("n1").commitIndex();

      // n1 is cut off and keeps accepting proposals it can never commit.
      c.isolated.add("n1");
      c.propose("n1", "lost1", "lost2");
      c.propose("n1", "lost3");
      c.tick("n1");
      assertEquals(committed + 3, c.logs.get("n1").all().size(), "the old leader persisted its suffix");
      assertEquals(committed, c.core("n1").commitIndex(), "without a majority nothing commits");

      // n2 and n3 elect a new leader of a later term, which commits its own entries.
      c.runUntil(() -> c.leader() != null && !c.leader().equals("n1"), 300, "a new leader among n2, n3");
      String newLeader = c.leader();
      assertTrue(c.core(newLeader).term() > c.core("n1").term());
      c.propose(newLeader, "new1");
      c.propose(newLeader, "new2");
      long last = c.core(newLeader).lastIndex();
      c.settle(last, "n2", "n3");
      for (int i = 0; i < 2 * RaftConfig.defaults("n1", IDS).electionTicks(); i++) {
        c.tick("n1"); // at most two election timeouts alone
      }
      assertNotEquals(Role.LEADER, c.core("n1").role(),
          "cut off from its quorum for an election timeout, n1 stepped down (CheckQuorum, thesis §6.2)");

      // Healed, n1 steps down, drops lost1..lost3 and takes the new leader's entries.
      c.isolated.remove("n1");
      c.converge();
      assertTrue(c.core("n1").term() > 1, "n1 moved on to a later term");
      List<String> expected = List.of("committed", "new1", "new2");
      for (String id : IDS) {
        assertEquals(expected, c.appliedCommands(id), id);
      }
      for (Entry e : c.logs.get("n1").all()) {
        assertFalse(new String(e.data(), UTF_8).startsWith("lost"), "n1's disk still holds " + e);
      }
      assertEquals(c.logs.get(newLeader).all().size(), c.logs.get("n1").all().size());
      assertAppliedAgree(c);
    });
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void entryTimestampsNeverGoBackWhenLeadersClocksDisagree(long seed) {
    withSeed(seed, c -> {
      // n1's clock is an hour ahead of n2's and n3's.
      c.clocks.put("n1", t -> t + 3_600_000);
      c.elect("n1");
      c.propose("n1", "a", "b");
      c.settle(c.core("n1").lastIndex(), "n1", "n2", "n3");

      c.isolated.add("n1");
      c.runUntil(() -> c.leader() != null && !c.leader().equals("n1"), 300, "a new leader among n2, n3");
      String newLeader = c.leader();
      c.propose(newLeader, "c");
      c.settle(c.core(newLeader).lastIndex(), "n2", "n3");

      List<Entry> log = c.logs.get(newLeader).all();
      for (int i = 1; i < log.size(); i++) {
        assertTrue(log.get(i).timestampMs() >= log.get(i - 1).timestampMs(),
            "timestamp went back at index " + log.get(i).index() + " after a leader change: "
                + log.get(i - 1).timestampMs() + " -> " + log.get(i).timestampMs());
      }
    });
  }
}
