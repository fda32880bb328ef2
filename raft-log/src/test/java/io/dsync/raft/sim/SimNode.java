package io.dsync.raft.sim;

import io.dsync.raft.Entry;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.RaftCore;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.Ready;
import io.dsync.raft.Role;
import io.dsync.storage.HardState;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

/**
 * One simulated node: a {@link RaftCore} with a driver that does what {@code RaftNode} does, a
 * durable {@link SimDisk}, a drifting clock, and a state machine that only records what it
 * applied.
 *
 * <h2>Crash model (why it matches {@code RaftNode})</h2>
 *
 * {@code RaftNode.handleReady} does, in order: (1) save the hard state (one fsync'd RocksDB
 * write), (2) append the entries (one fsync'd WriteBatch: delete the replaced suffix, put the new
 * entries), (3) send the messages one by one, (4) queue the committed entries for the apply
 * thread, (5) {@code advance}. Every write is fsync'd before the next step, so what a crash loses
 * is exactly the steps not yet reached: a crash "during" a Ready is a cut point between two of
 * those steps (or between two sends). {@link #handleReadys} models that: a node with an armed
 * crash stops at a random cut point of its next Ready and loses everything volatile — the core
 * (role, commit index, leader progress, vote tallies), the Ready's remaining steps, the apply
 * queue and the pending proposals — while the hard state and entries written before the cut
 * survive. Because persist comes before send, a message is never sent about state a crash could
 * lose ("writes not yet fsync'd are lost" can only lose writes nobody has heard of).
 *
 * <p>The state machine follows the {@code StateMachine} contract: it persists its effects and its
 * {@code lastApplied} atomically, so {@link #applied} survives a crash; entries still in the apply
 * queue do not, and a restarted core re-delivers them (it starts with {@code commitIndex =
 * lastApplied}).
 */
final class SimNode {
  /** A proposal waiting for its entry to be applied, like {@code RaftNode}'s future. */
  record Pending(long term, byte[] data, boolean isFinal) {}

  final int idx;
  final String id;
  final SimDisk disk = new SimDisk();

  /** {@code null} while crashed. */
  RaftCore core;
  /** Bumped on every crash and restart, so that timers of an old incarnation are ignored. */
  int incarnation;

  // Clock: nowMs = floor(simUs * (1 + drift) / 1000) + offsetMs.
  double drift;
  long offsetMs;

  /** The state machine's durable lastApplied. */
  long applied;
  /** Batches handed to the "apply thread" and not yet applied (volatile). */
  final ArrayDeque<List<Entry>> applyQueue = new ArrayDeque<>();
  boolean applyScheduled;
  /** index → proposal waiting for that index to be applied (volatile). */
  final TreeMap<Long, Pending> pending = new TreeMap<>();

  /** Highest commit index this node reported, all checked against the committed log. */
  long verifiedCommit;
  /** If positive, the node crashes inside its {@code crashInReadys}-th Ready from now. */
  int crashInReadys;
  /** If positive, the crash that comes restarts the node this many µs later. */
  long rebootAfterUs;
  /** Role and term last noted in the trace. */
  Role lastRole;
  long lastTerm = -1;

  SimNode(int idx) {
    this.idx = idx;
    this.id = "n" + (idx + 1);
  }

  boolean up() {
    return core != null;
  }

  long nowMs(long simUs) {
    return Math.floorDiv((long) Math.floor(simUs * (1 + drift)), 1000L) + offsetMs;
  }

  /** Changes the drift rate at {@code simUs} without making the clock jump. */
  void setDrift(long simUs, double newDrift) {
    long before = nowMs(simUs);
    drift = newDrift;
    offsetMs += before - nowMs(simUs);
  }

  /** @return the sim-time length of {@code tickMs} of this node's clock, in µs */
  long tickIntervalUs(long tickMs) {
    return Math.max(1, Math.round(tickMs * 1000.0 / (1 + drift)));
  }

  /** Starts (or restarts) the core from what is on disk, as {@code RaftNode}'s constructor does. */
  void start(RaftConfig config, Random random) {
    core = new RaftCore(config, disk.hardState(), disk, applied, random);
    incarnation++;
    rebootAfterUs = 0;
    crashInReadys = 0;
    lastRole = core.role();
    lastTerm = core.term();
  }

  /** Loses everything volatile. */
  void crash() {
    core = null;
    incarnation++;
    applyQueue.clear();
    applyScheduled = false;
    pending.clear();
    crashInReadys = 0;
    lastRole = null;
  }

  /**
   * The driver loop: while the core has work, persist, send, queue for apply, advance — stopping
   * at a random cut point if a crash is armed.
   *
   * @return whether the node crashed
   */
  boolean handleReadys(Simulation sim) {
    int guard = 0;
    while (core.hasReady()) {
      if (++guard > 100_000) {
        throw new Violation("driver", id + ": hasReady() stays true after 100000 Readys");
      }
      Ready rd = core.ready();
      List<RaftMessage> msgs = rd.messages();
      // Cut points: 0 before the hard state, 1 before the entries, 2 + k before message k,
      // 2 + msgs.size() before the apply hand-off (after all sends).
      int cut = crashInReadys > 0 && --crashInReadys == 0 ? sim.random().nextInt(3 + msgs.size()) : -1;
      if (cut == 0) {
        sim.crashDuringReady(this, "before saving the hard state");
        return true;
      }
      if (rd.hardState() != null) {
        HardState old = disk.hardState();
        sim.invariants().onHardState(this, old, rd.hardState());
        disk.saveHardState(rd.hardState());
      }
      if (cut == 1) {
        sim.crashDuringReady(this, "after the hard state, before appending " + rd.entries().size() + " entries");
        return true;
      }
      if (!rd.entries().isEmpty()) {
        disk.append(rd.entriesFromIndex(), rd.entries());
        sim.invariants().onAppend(this, rd.entriesFromIndex(), rd.entries().size());
      }
      for (int k = 0; k < msgs.size(); k++) {
        if (cut == 2 + k) {
          sim.crashDuringReady(this, "after persisting, having sent " + k + " of " + msgs.size() + " messages");
          return true;
        }
        sim.send(this, msgs.get(k));
      }
      if (cut == 2 + msgs.size()) {
        sim.crashDuringReady(this, "after sending, before handing " + rd.committedEntries().size() + " entries to apply");
        return true;
      }
      if (!rd.committedEntries().isEmpty()) {
        applyQueue.add(new ArrayList<>(rd.committedEntries()));
        sim.scheduleApply(this);
      }
      core.advance(rd);
    }
    return false;
  }

  String describe() {
    if (core == null) {
      return id + "{DOWN hs=" + disk.hardState().term() + "/" + disk.hardState().votedFor() + " disk=" + disk.lastIndex()
          + " applied=" + applied + "}";
    }
    return id + "{" + core.role() + " t" + core.term() + " leader=" + core.leaderId() + " commit=" + core.commitIndex()
        + " last=" + core.lastIndex() + " stable=" + core.stableIndex() + " disk=" + disk.lastIndex() + " applied="
        + applied + " drift=" + String.format("%+.3f", drift) + "}";
  }
}
