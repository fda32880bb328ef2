package io.dsync.raft.sim;

import io.dsync.raft.Entry;
import io.dsync.raft.Role;
import io.dsync.storage.HardState;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The safety properties of Raft (Ongaro &amp; Ousterhout 2014, Figure 3), checked on the nodes'
 * durable state after every simulation step, plus a few driver-level ones. All are incremental,
 * so a check costs O(nodes + new entries) per step, not O(log length):
 *
 * <ul>
 *   <li><b>Election safety</b> (§5.2): at most one leader per term, over the whole run (crashed
 *       and restarted nodes included) — a map term → leader.
 *   <li><b>Log matching</b> (§5.3): if two logs hold an entry with the same index and term, they
 *       are identical up to it. Checked as: every (index, term) ever written to any disk always
 *       comes with the same prefix hash (see {@link SimDisk}). This is stronger than comparing
 *       current logs pairwise: it also compares a log with the logs of the past.
 *   <li><b>Leader completeness</b> (§5.4): an entry committed in term {@code c} is in the log of
 *       every leader of a term {@code > c}. A committed entry is recorded when a node first
 *       reports a commit index covering it; its commit term is bounded above by the reporting
 *       node's term (a commit index travels only in messages of the committing leader's term or
 *       later) — an upper bound keeps the check sound: a stale leader of an older term that is
 *       still in office (no CheckQuorum) is not wrongly blamed.
 *   <li><b>State-machine safety</b> (§5.4.3): every node applies, at each index, the same entry
 *       as every other node; i.e. each node's applied sequence is a prefix of the longest one.
 *   <li>Also: each node's reported commit prefix equals the committed log; an entry a node knew
 *       to be committed is never removed from its disk; hard-state terms never go back and a
 *       vote, once saved, is never changed within its term; entries are applied in order, from
 *       the node's own disk; entry stamps never go back along the committed log (the core's
 *       promise to the state machines, whose only clock they are).
 * </ul>
 */
final class Invariants {
  private record IndexTerm(long index, long term) {}

  private record Writer(long prefixHash, int node, long step) {}

  private final SimNode[] nodes;
  private final Simulation sim;
  /** term → index of the node that led it. */
  private final TreeMap<Long, Integer> leaderOfTerm = new TreeMap<>();
  /** (index, term) → the prefix hash it was first written with (lookups only: no iteration). */
  private final Map<IndexTerm, Writer> firstWrite = new HashMap<>();

  // The committed log, 1-based: what any node reported committed, in index order.
  private int committed;
  private long[] cPrefix = new long[256];
  private long[] cEntryHash = new long[256];
  private long[] cTerm = new long[256];
  /** Upper bound on the term in which the entry was committed; non-decreasing. */
  private long[] cCommitTerm = new long[256];
  private long[] cStamp = new long[256];

  Invariants(Simulation sim, SimNode[] nodes) {
    this.sim = sim;
    this.nodes = nodes;
  }

  /** @return how many terms had a leader */
  int termsWithLeader() {
    return leaderOfTerm.size();
  }

  /** @return the length of the committed log */
  long committedLength() {
    return committed;
  }

  /** A hard state is about to be saved. */
  void onHardState(SimNode n, HardState old, HardState now) {
    if (now.term() < old.term()) {
      throw new Violation("durable term", n.id + " saves term " + now.term() + " after " + old.term());
    }
    if (now.term() == old.term() && old.votedFor() != null && !old.votedFor().equals(now.votedFor())) {
      throw new Violation("one vote per term",
          n.id + " changes its saved vote in term " + now.term() + " from " + old.votedFor() + " to " + now.votedFor());
    }
  }

  /** At most one leader per term, ever. */
  private void checkElectionSafety(SimNode n) {
    if (n.core.role() == Role.LEADER) {
      Integer prev = leaderOfTerm.putIfAbsent(n.core.term(), n.idx);
      if (prev != null && prev != n.idx) {
        throw new Violation("election safety",
            "two leaders in term " + n.core.term() + ": " + nodes[prev].id + " and " + n.id);
      }
    }
  }

  /** Entries {@code [from, from + count)} were just written to {@code n}'s disk. */
  void onAppend(SimNode n, long from, int count) {
    // A second leader of a term shows first as a clash of its entries with the first one's;
    // name the cause rather than the symptom.
    checkElectionSafety(n);
    SimDisk d = n.disk;
    for (long i = from; i < from + count; i++) {
      Entry e = d.entry(i);
      long p = d.prefixHash(i);
      Writer w = firstWrite.putIfAbsent(new IndexTerm(i, e.term()), new Writer(p, n.idx, sim.step()));
      if (w != null && w.prefixHash != p) {
        throw new Violation("log matching",
            n.id + " wrote entry (index " + i + ", term " + e.term() + ") after a log that differs from the one "
                + nodes[w.node].id + " had under the same (index, term) at step " + w.step);
      }
    }
    if (from <= n.verifiedCommit) {
      long c = n.verifiedCommit;
      if (d.lastIndex() < c || d.prefixHash(c) != cPrefix[(int) c]) {
        throw new Violation("committed entry removed",
            n.id + " rewrote its log from " + from + " although it had reported index " + c + " committed");
      }
    }
  }

  /** Called after every step for the node the step touched (if it is up). */
  void afterStep(SimNode n) {
    checkElectionSafety(n);
    long c = Math.min(n.core.commitIndex(), n.disk.lastIndex());
    if (c > n.verifiedCommit) {
      long known = Math.min(c, committed);
      if (known > 0 && n.disk.prefixHash(known) != cPrefix[(int) known]) {
        throw new Violation("committed log",
            n.id + " reports commit index " + c + " but its log up to " + known
                + " differs from the entries committed earlier (first difference at "
                + firstDifference(n.disk, known) + ")");
      }
      for (long i = committed + 1; i <= c; i++) {
        record(n, n.disk.entry(i));
      }
      n.verifiedCommit = c;
    }
    checkLeaderCompleteness();
  }

  private void record(SimNode n, Entry e) {
    int i = ++committed;
    if (i >= cPrefix.length) {
      int len = cPrefix.length * 2;
      cPrefix = Arrays.copyOf(cPrefix, len);
      cEntryHash = Arrays.copyOf(cEntryHash, len);
      cTerm = Arrays.copyOf(cTerm, len);
      cCommitTerm = Arrays.copyOf(cCommitTerm, len);
      cStamp = Arrays.copyOf(cStamp, len);
    }
    cPrefix[i] = n.disk.prefixHash(i);
    cEntryHash[i] = SimDisk.entryHash(e);
    cTerm[i] = e.term();
    cCommitTerm[i] = Math.max(n.core.term(), cCommitTerm[i - 1]);
    cStamp[i] = e.timestampMs();
    if (i > 1 && cStamp[i] < cStamp[i - 1]) {
      throw new Violation("entry stamps",
          "committed entry " + i + " is stamped " + cStamp[i] + " ms, before entry " + (i - 1) + " (" + cStamp[i - 1]
              + " ms): a state machine would see time go back");
    }
  }

  /** Every leader in office holds every entry committed in an earlier term. */
  void checkLeaderCompleteness() {
    for (SimNode l : nodes) {
      if (!l.up() || l.core.role() != Role.LEADER || committed == 0) {
        continue;
      }
      long t = l.core.term();
      // The highest committed index whose commit term is below t (cCommitTerm is non-decreasing).
      int lo = 0;
      int hi = committed;
      while (lo < hi) {
        int mid = (lo + hi + 1) >>> 1;
        if (cCommitTerm[mid] < t) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      if (lo == 0) {
        continue;
      }
      if (l.disk.lastIndex() < lo || l.disk.prefixHash(lo) != cPrefix[lo]) {
        long missing = firstDifference(l.disk, lo);
        throw new Violation("leader completeness",
            l.id + " leads term " + t + " but lacks committed entry " + missing + " (term " + cTerm[(int) missing]
                + ", committed by term " + cCommitTerm[(int) missing] + " at the latest); its log has "
                + (l.disk.entry(missing) == null ? "nothing" : "term " + l.disk.termAt(missing)) + " there");
      }
    }
  }

  /** An entry reaches {@code n}'s state machine. */
  void onApply(SimNode n, Entry e) {
    long i = e.index();
    if (i != n.applied + 1) {
      throw new Violation("apply order", n.id + " applies " + i + " after " + n.applied);
    }
    Entry onDisk = n.disk.entry(i);
    long h = SimDisk.entryHash(e);
    if (onDisk == null || SimDisk.entryHash(onDisk) != h) {
      throw new Violation("apply from the log", n.id + " applies entry " + i + " (term " + e.term()
          + ") which is not the one on its disk (" + (onDisk == null ? "none" : "term " + onDisk.term()) + ")");
    }
    if (i > committed) {
      throw new Violation("state-machine safety",
          n.id + " applies entry " + i + " but no node ever reported it committed (committed log ends at " + committed + ")");
    }
    if (cEntryHash[(int) i] != h) {
      throw new Violation("state-machine safety", n.id + " applies entry " + i + " (term " + e.term()
          + ") but the committed entry there has term " + cTerm[(int) i] + " or other content");
    }
  }

  /** @return the first index in {@code [1, upTo]} where {@code d} differs from the committed log */
  private long firstDifference(SimDisk d, long upTo) {
    for (long i = 1; i <= upTo; i++) {
      Entry e = d.entry(i);
      if (e == null || SimDisk.entryHash(e) != cEntryHash[(int) i]) {
        return i;
      }
    }
    return upTo;
  }

  @Override
  public String toString() {
    return "committed=" + committed + " leaders=" + leaderOfTerm;
  }
}
