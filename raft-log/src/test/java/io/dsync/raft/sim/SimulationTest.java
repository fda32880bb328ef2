package io.dsync.raft.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.raft.sim.SimStats.Stat;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The randomized Raft simulation suite (see {@link Simulation}).
 *
 * <p>System properties (passed on the mvn command line, they reach the forked test JVM):
 *
 * <ul>
 *   <li>{@code dsync.sim.seeds} — how many seeds (default 500); e.g. 10000 for the long run
 *   <li>{@code dsync.sim.firstSeed} — the first seed (default 1); seeds are consecutive
 *   <li>{@code dsync.sim.steps} — chaos steps per seed (default {@link Simulation#DEFAULT_STEPS})
 *   <li>{@code dsync.sim.threads} — runs in parallel (default 1; the machine is shared)
 *   <li>{@code dsync.sim.seed} — replay only this seed (failures print it)
 *   <li>{@code dsync.sim.verbose} — with {@code dsync.sim.seed}: print every event
 * </ul>
 *
 * <p>Output goes to {@code raft-log/target/surefire-reports/io.dsync.raft.sim.SimulationTest-output.txt}.
 */
class SimulationTest {
  private static long longProperty(String name, long dflt) {
    String v = System.getProperty(name);
    return v == null || v.isBlank() ? dflt : Long.parseLong(v.trim());
  }

  @Test
  void randomSchedulesKeepRaftSafeAndLive() throws Exception {
    long steps = longProperty("dsync.sim.steps", Simulation.DEFAULT_STEPS);
    Simulation.Options options = Simulation.Options.defaults().withSteps(steps);
    String one = System.getProperty("dsync.sim.seed");
    if (one != null && !one.isBlank()) {
      long seed = Long.parseLong(one.trim());
      if (Boolean.getBoolean("dsync.sim.verbose")) {
        options = options.withVerbose(System.out);
      }
      Simulation.Result r = new Simulation(seed, options).run();
      System.out.println("seed " + seed + " passed: " + r.profile() + "\n" + r.stats());
      return;
    }
    long first = longProperty("dsync.sim.firstSeed", 1);
    int count = (int) longProperty("dsync.sim.seeds", 500);
    int threads = (int) longProperty("dsync.sim.threads", 1);

    long t0 = System.nanoTime();
    SimStats total = new SimStats();
    List<SimulationFailure> failures = new ArrayList<>();
    long slowestMs = -1;
    long slowestSeed = -1;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<Object>> results = new ArrayList<>();
      Simulation.Options opts = options;
      for (long s = first; s < first + count; s++) {
        long seed = s;
        results.add(pool.submit(() -> {
          try {
            return new Simulation(seed, opts).run();
          } catch (SimulationFailure f) {
            return f;
          }
        }));
      }
      for (Future<Object> f : results) {
        Object o = f.get();
        if (o instanceof Simulation.Result r) {
          total.merge(r.stats());
          if (r.stats().get(Stat.HEAL_TO_LIVE_MS) > slowestMs) {
            slowestMs = r.stats().get(Stat.HEAL_TO_LIVE_MS);
            slowestSeed = r.seed();
          }
        } else {
          failures.add((SimulationFailure) o);
        }
      }
    } finally {
      pool.shutdownNow();
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    System.out.printf("Raft simulation: %d seeds from %d, %d chaos steps each, %d thread(s), %.1f s%n",
        count, first, steps, threads, secs);
    System.out.printf("  %d passed, %d failed; %.0f steps/s; mean %.0f ms from heal to liveness%n",
        count - failures.size(), failures.size(), total.get(Stat.STEPS) / secs,
        total.get(Stat.RUNS) == 0 ? 0.0 : (double) total.get(Stat.HEAL_TO_LIVE_MS) / total.get(Stat.RUNS));
    System.out.printf("  slowest to liveness: seed %d, %d ms after healing%n", slowestSeed, slowestMs);
    System.out.print(total);
    if (!failures.isEmpty()) {
      StringBuilder seeds = new StringBuilder();
      for (SimulationFailure f : failures.subList(0, Math.min(50, failures.size()))) {
        seeds.append("\n  seed ").append(f.seed()).append(": ").append(f.property());
      }
      System.out.println("failing seeds:" + seeds);
      fail(failures.size() + " of " + count + " seeds failed:" + seeds + "\n\nfirst failure:\n"
          + failures.get(0).getMessage(), failures.get(0));
    }
  }

  /** The same seed must give the same run, event for event — otherwise a seed replays nothing. */
  @Test
  void sameSeedSameRun() {
    for (long seed : new long[] {3, 42, 1234567}) {
      Simulation.Result a = Simulation.replay(seed);
      Simulation.Result b = Simulation.replay(seed);
      assertEquals(a.fingerprint(), b.fingerprint(), "seed " + seed + " ran differently twice");
      assertEquals(a.stats(), b.stats(), "seed " + seed + " counted differently twice");
    }
  }
}
