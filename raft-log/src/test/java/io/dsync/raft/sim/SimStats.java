package io.dsync.raft.sim;

import java.util.Arrays;

/** Counters of what a run (or a suite of runs) did and injected. Not thread-safe. */
public final class SimStats {
  /** What is counted. */
  public enum Stat {
    RUNS("runs"),
    STEPS("steps"),
    SIM_MS("simulated ms"),
    TICKS("ticks"),
    SENT("messages sent"),
    DELIVERED("delivered"),
    LOST("lost (random)"),
    DROPPED_PARTITION("dropped by a partition"),
    DROPPED_DOWN("dropped at a crashed node"),
    DUPLICATED("duplicated"),
    HELD_BACK("held back (long delay)"),
    PROPOSE_CALLS("propose calls"),
    NOT_LEADER("propose refused (not leader)"),
    COMMANDS("commands proposed"),
    ACKNOWLEDGED("commands acknowledged"),
    OVERWRITTEN("commands overwritten (not acknowledged)"),
    APPLIED("entries applied"),
    PARTITION_SYMMETRIC("partitions, symmetric"),
    PARTITION_ONE_WAY("partitions, one-way"),
    HEALS("heals"),
    CRASHES_IDLE("crashes between steps"),
    CRASHES_MID_READY("crashes inside a Ready"),
    LEADER_CHURN("new leaders set to crash within 20 Readys"),
    RESTARTS("restarts"),
    REBOOTS("quick reboots (crash then restart within 2 election timeouts)"),
    DRIFT_CHANGES("clock drift changes"),
    CLOCK_STEPS("clock steps"),
    WEATHER("loss/dup/delay rate changes"),
    MEMBERSHIP_CHANGES("membership changes appended (add learner, remove)"),
    MEMBERSHIP_REFUSED("membership changes refused (one in progress, no leader)"),
    TERMS_WITH_LEADER("terms with a leader"),
    COMMITTED("committed entries"),
    HEAL_TO_LIVE_MS("ms from heal to liveness"),
    MAX_HEAL_TO_LIVE_MS("max ms from heal to liveness"),
    MAX_IN_FLIGHT("max events pending (messages in flight + timers)");

    final String label;

    Stat(String label) {
      this.label = label;
    }
  }

  private final long[] counts = new long[Stat.values().length];

  void inc(Stat s) {
    counts[s.ordinal()]++;
  }

  void add(Stat s, long n) {
    counts[s.ordinal()] += n;
  }

  void max(Stat s, long n) {
    counts[s.ordinal()] = Math.max(counts[s.ordinal()], n);
  }

  /** @return the count of {@code s} */
  public long get(Stat s) {
    return counts[s.ordinal()];
  }

  /** Adds {@code other}'s counts into this one (maxima stay maxima). */
  public void merge(SimStats other) {
    for (Stat s : Stat.values()) {
      if (s == Stat.MAX_HEAL_TO_LIVE_MS || s == Stat.MAX_IN_FLIGHT) {
        max(s, other.get(s));
      } else {
        add(s, other.get(s));
      }
    }
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    for (Stat s : Stat.values()) {
      b.append(String.format("  %-42s %,d%n", s.label, counts[s.ordinal()]));
    }
    return b.toString();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SimStats s && Arrays.equals(counts, s.counts);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(counts);
  }
}
