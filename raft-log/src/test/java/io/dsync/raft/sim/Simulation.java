package io.dsync.raft.sim;

import io.dsync.raft.Entry;
import io.dsync.raft.Membership;
import io.dsync.raft.NotLeaderException;
import io.dsync.raft.OverloadedException;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.Role;
import io.dsync.raft.sim.SimStats.Stat;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A deterministic simulation of a Raft cluster: every node's {@code RaftCore} in one thread, an
 * in-memory network, a simulated clock, and a seeded scheduler that injects faults — message
 * loss, delay, duplication and reordering, symmetric and one-way partitions, crashes (between
 * steps and inside a Ready, see {@link SimNode}) with restart, and clock drift and steps. After
 * every step it checks the safety properties ({@link Invariants}); after the chaos it heals
 * everything and checks liveness: a leader is elected, accepts a new proposal, and every
 * acknowledged proposal is applied on every node. Faults lean towards the interesting cases:
 * half of the crashes and of the symmetric partitions hit the leader, and some new leaders are
 * set to crash within their first Readys (the no-op and catch-up rounds, where Raft's Figure 8
 * lives).
 *
 * <p>A proposal is acknowledged, as by {@code RaftNode}'s future, when the node that took it
 * applies that index with the term it was proposed in (same incarnation: a crash fails it).
 *
 * <h2>Scheduling</h2>
 *
 * A discrete-event loop: one priority queue of timed events ordered by (time, sequence number) —
 * message deliveries, node ticks (every {@code tickMs} of the node's own drifting clock), apply
 * batches, client proposals, fault events and reboots. A step pops the earliest event, moves the
 * clock to it and runs it. Random delays on messages reorder them. (Picking the next event by
 * time rather than uniformly keeps timeouts meaningful: a node times out only if its own clock
 * says so, and drift can make one node's timer fire early relative to the others'.) All choices come from one
 * {@link Random} seeded with the run's seed; nothing iterates a hash-ordered collection and
 * nothing reads the wall clock, so the same seed gives the same run, event for event
 * ({@link Result#fingerprint()}).
 *
 * <h2>Messages are opaque</h2>
 *
 * The harness routes by {@link RaftMessage#from()} and {@link RaftMessage#to()} only; it never
 * looks at a message's type or builds one, so it keeps working when the core grows new message
 * kinds (PreVote, TimeoutNow, ...). It drives the core only through its public API.
 *
 * <p>Not thread-safe; one run per instance. Runs are independent and can go in parallel.
 */
public final class Simulation {
  /** Chaos-phase steps per run by default; sized so that 500 runs take well under a minute. */
  public static final long DEFAULT_STEPS = 30_000;

  /**
   * How a run is shaped apart from its seed.
   *
   * @param steps events in the chaos phase
   * @param livenessMs simulated time allowed, after healing, to reach liveness, in ms
   * @param traceLength how many of the last events a failure prints
   * @param verbose if not {@code null}, every event is printed there as it happens
   * @param storyOnly print only the notable events to {@code verbose}, not every tick and message
   * @param chaos whether the scheduler injects random faults and proposals
   */
  public record Options(
      long steps, long livenessMs, int traceLength, PrintStream verbose, boolean storyOnly, boolean chaos) {
    /** @return the suite's defaults */
    public static Options defaults() {
      return new Options(DEFAULT_STEPS, 60_000, 80, null, false, true);
    }

    /** @return these options with {@code s} chaos steps */
    public Options withSteps(long s) {
      return new Options(s, livenessMs, traceLength, verbose, storyOnly, chaos);
    }

    /** @return these options printing every event to {@code out} */
    public Options withVerbose(PrintStream out) {
      return new Options(steps, livenessMs, traceLength, out, false, chaos);
    }

    /**
     * @return options for a scripted scenario: no random faults or proposals (the script makes
     *     them), and its story — faults, proposals, acknowledgements, role changes — printed to
     *     {@code out}
     */
    public static Options script(PrintStream out) {
      return new Options(0, 60_000, 80, out, true, false);
    }
  }

  /**
   * A passed run.
   *
   * @param seed its seed
   * @param profile the profile drawn from the seed
   * @param stats what happened
   * @param fingerprint a hash of every event in order: equal seeds must give equal fingerprints
   */
  public record Result(long seed, FaultProfile profile, SimStats stats, long fingerprint) {}

  private enum Kind { DELIVER, TICK, APPLY, PROPOSE, CHAOS, RESTART }

  private enum Phase { CHAOS, HEALED }

  private record Event(long timeUs, long seq, Kind kind, int node, int incarnation, RaftMessage msg) {}

  private record TraceItem(long step, long timeUs, Event event, String note) {}

  private final long seed;
  private final Options options;
  private final Random random;
  private final FaultProfile profile;
  private final SimNode[] nodes;
  private final List<String> voters;
  private final TreeMap<String, Integer> indexOfId = new TreeMap<>();
  private final Invariants invariants;
  private final SimStats stats = new SimStats();
  private final PriorityQueue<Event> queue =
      new PriorityQueue<>((a, b) -> a.timeUs != b.timeUs ? Long.compare(a.timeUs, b.timeUs) : Long.compare(a.seq, b.seq));
  private final TraceItem[] trace;
  /** Acknowledged commands, kept in scripted runs only (random runs would hold too many). */
  private final TreeSet<String> acknowledgedCommands = new TreeSet<>();

  private int traceNext;
  private long traceCount;

  private boolean begun;
  private long seq;
  private long step;
  private long nowUs;
  private long fingerprint = 1;
  private Phase phase = Phase.CHAOS;
  private long healedAtUs;
  private long proposalSeq;

  // Network weather and partitions: blocked[from][to].
  private double loss;
  private double duplicate;
  private double longDelay;
  private final boolean[][] blocked;

  // Acknowledged proposals and the final liveness proposal.
  private long maxAckedIndex;
  private boolean finalAcked;
  private int finalNode = -1;
  private int finalIncarnation;
  private long finalTerm;

  /**
   * @param seed the seed: it alone determines the run (with {@code options})
   * @param options steps and reporting
   */
  public Simulation(long seed, Options options) {
    this(seed, options, null);
  }

  private Simulation(long seed, Options options, FaultProfile fixed) {
    this.seed = seed;
    this.options = options;
    this.random = new Random(seed);
    FaultProfile drawn = FaultProfile.draw(random);
    this.profile = fixed != null ? fixed : drawn;
    this.nodes = new SimNode[profile.nodeCount()];
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < nodes.length; i++) {
      nodes[i] = new SimNode(i);
      ids.add(nodes[i].id);
      indexOfId.put(nodes[i].id, i);
    }
    this.voters = List.copyOf(ids);
    this.blocked = new boolean[nodes.length][nodes.length];
    this.invariants = new Invariants(this, nodes);
    this.trace = new TraceItem[Math.max(1, options.traceLength())];
  }

  /**
   * A cluster for a scripted scenario: {@code nodeCount} nodes with the default Raft timing
   * (tick 50 ms, election 10 ticks), a loss-free network with delays under 5 ms, and no random
   * faults or proposals; its story is printed to {@code out}.
   */
  public static Simulation scripted(long seed, int nodeCount, PrintStream out) {
    FaultProfile calm = new FaultProfile(nodeCount, 50, 10, 1, 8L << 20, 0, 0, 0, 5_000, 1, 0.01, 2000, 1, 1, 0, 0);
    return new Simulation(seed, Options.script(out), calm);
  }

  /**
   * Runs {@code seed} with the default options — the same run the suite ran for that seed.
   *
   * @throws SimulationFailure if a property breaks
   */
  public static Result replay(long seed) {
    return new Simulation(seed, Options.defaults()).run();
  }

  /**
   * Runs the whole simulation: chaos for {@code options.steps()} steps, then heal and check
   * liveness.
   *
   * @throws SimulationFailure naming the seed if a property breaks or the core throws
   */
  public Result run() {
    return guard(() -> {
      begin();
      while (step < options.steps()) {
        stepOnce();
      }
      return finish();
    });
  }

  /** Runs {@code body}, turning a broken property or a core exception into a failure. */
  private <T> T guard(Supplier<T> body) {
    try {
      return body.get();
    } catch (Violation v) {
      throw failure(v.property, v.getMessage(), v);
    } catch (SimulationFailure f) {
      throw f;
    } catch (RuntimeException | AssertionError e) {
      throw failure("core or driver exception", e.toString(), e);
    }
  }

  private void begin() {
    if (begun) {
      return;
    }
    begun = true;
    for (SimNode n : nodes) {
      n.drift = (2 * random.nextDouble() - 1) * profile.maxDrift();
      n.offsetMs = 1_700_000_000_000L + random.nextLong(2 * profile.maxSkewMs() + 1) - profile.maxSkewMs();
      start(n);
    }
    if (options.chaos()) {
      weather();
      schedule(Kind.CHAOS, expMs(profile.chaosMeanMs()), -1, 0, null);
      schedule(Kind.PROPOSE, expMs(profile.proposalMeanMs()), -1, 0, null);
    }
  }

  /** Heals everything, checks liveness, and sums up the run. */
  private Result finish() {
    healEverything();
    long maxSteps = step + 20_000_000;
    long healStep = step;
    while (!live()) {
      if (nowUs - healedAtUs > options.livenessMs() * 1000 || step > maxSteps) {
        throw new Violation("liveness", "no leader with every acknowledged proposal applied everywhere "
            + (nowUs - healedAtUs) / 1000 + " ms (" + (step - healStep) + " steps) after healing; " + queue.size()
            + " events pending");
      }
      if (step % 64 == 0) {
        readdMissing();
      }
      stepOnce();
    }
    long healMs = (nowUs - healedAtUs) / 1000;
    note(null, "LIVE: " + someLeader().id + " leads term " + someLeader().core.term() + ", every acknowledged proposal"
        + " (up to index " + maxAckedIndex + ") is applied on every node, " + healMs + " ms after healing");
    stats.add(Stat.HEAL_TO_LIVE_MS, healMs);
    stats.max(Stat.MAX_HEAL_TO_LIVE_MS, healMs);
    stats.inc(Stat.RUNS);
    stats.add(Stat.STEPS, step);
    stats.add(Stat.SIM_MS, nowUs / 1000);
    stats.add(Stat.TERMS_WITH_LEADER, invariants.termsWithLeader());
    stats.add(Stat.COMMITTED, invariants.committedLength());
    return new Result(seed, profile, stats, fingerprint);
  }

  // ------------------------------------------------------------------ scripted scenarios

  /** Runs the cluster for {@code ms} of simulated time (checking every step). */
  public void runFor(long ms) {
    guard(() -> {
      begin();
      long until = nowUs + ms * 1000;
      while (queue.peek().timeUs <= until) {
        stepOnce();
      }
      nowUs = until;
      return null;
    });
  }

  /**
   * Runs until {@code done} holds, for at most {@code maxMs} of simulated time.
   *
   * @throws SimulationFailure if it does not
   */
  public void runUntil(String what, BooleanSupplier done, long maxMs) {
    guard(() -> {
      begin();
      long until = nowUs + maxMs * 1000;
      while (!done.getAsBoolean()) {
        if (nowUs > until) {
          throw new Violation("scenario", "not reached within " + maxMs + " ms: " + what);
        }
        stepOnce();
      }
      note(null, "reached: " + what);
      return null;
    });
  }

  /** @return the id of the up node that leads the highest term, or {@code null} */
  public String leader() {
    SimNode l = someLeader();
    return l == null ? null : l.id;
  }

  /** @return the term of node {@code id} (its saved term if it is down) */
  public long term(String id) {
    SimNode n = node(id);
    return n.up() ? n.core.term() : n.disk.hardState().term();
  }

  /** @return the applied index of node {@code id}'s state machine */
  public long applied(String id) {
    return node(id).applied;
  }

  /** @return the node ids */
  public List<String> nodeIds() {
    return voters;
  }

  /** Cuts every link to and from {@code id}. */
  public void isolate(String id) {
    int x = node(id).idx;
    for (int i = 0; i < nodes.length; i++) {
      blocked[x][i] = i != x;
      blocked[i][x] = i != x;
    }
    note(null, "isolate " + id + "; blocked " + blockedLinks());
  }

  /** Restores every link. */
  public void healNetwork() {
    heal();
    note(null, "heal the network");
  }

  /**
   * Proposes {@code command} on node {@code id}, as a client would.
   *
   * @return whether the node took it (it believed it was the leader)
   */
  public boolean propose(String id, String command) {
    return guard(() -> {
      begin();
      SimNode n = node(id);
      long before = stats.get(Stat.COMMANDS);
      proposeOn(n, List.of(command.getBytes(StandardCharsets.UTF_8)), false, null);
      invariants.afterStep(n);
      return stats.get(Stat.COMMANDS) > before;
    });
  }

  /** @return whether a proposal of {@code command} was acknowledged to its client */
  public boolean acknowledged(String command) {
    return acknowledgedCommands.contains(command);
  }

  /** Crashes node {@code id} now. */
  public void crash(String id) {
    SimNode n = node(id);
    note(null, "crash " + id);
    n.crash();
  }

  /** Restarts the crashed node {@code id} from its disk. */
  public void restart(String id) {
    guard(() -> restart(node(id), null));
  }

  /**
   * Heals everything and checks liveness, like the end of a random run.
   *
   * @throws SimulationFailure if no leader emerges or an acknowledged proposal is not applied
   *     everywhere in time
   */
  public Result healAndCheckLiveness() {
    return guard(this::finish);
  }

  private SimNode node(String id) {
    Integer i = indexOfId.get(id);
    if (i == null) {
      throw new IllegalArgumentException("no node " + id + " in " + voters);
    }
    return nodes[i];
  }

  // ------------------------------------------------------------------ the event loop

  private void stepOnce() {
    Event ev = queue.poll();
    if (ev == null) {
      throw new Violation("scheduler", "no event left");
    }
    nowUs = ev.timeUs;
    step++;
    stats.max(Stat.MAX_IN_FLIGHT, queue.size());
    fingerprint = SimDisk.mix(fingerprint * 31 + ev.timeUs * 7 + ev.kind.ordinal() * 131 + ev.node);
    if (ev.msg != null) {
      fingerprint = SimDisk.mix(fingerprint + ev.msg.from().hashCode() * 17L + ev.msg.to().hashCode()
          + ev.msg.term() * 1009 + ev.msg.getClass().getName().hashCode());
    }
    SimNode touched =
        switch (ev.kind) {
          case DELIVER -> deliver(ev);
          case TICK -> tick(ev);
          case APPLY -> apply(ev);
          case PROPOSE -> propose(ev);
          case CHAOS -> chaos(ev);
          case RESTART -> reboot(ev);
        };
    if (touched != null && touched.up()) {
      invariants.afterStep(touched);
      noteRoleChange(touched);
    }
  }

  /** Notes in the trace when a node changes role or term: the story of a run. */
  private void noteRoleChange(SimNode n) {
    Role r = n.core.role();
    long t = n.core.term();
    if (r != n.lastRole || t != n.lastTerm) {
      n.lastRole = r;
      n.lastTerm = t;
      note(null, "  => " + n.id + " is " + r + " in term " + t + (r == Role.LEADER ? " (log " + n.core.lastIndex()
          + ", commit " + n.core.commitIndex() + ")" : ""));
      if (r == Role.LEADER && phase == Phase.CHAOS && options.chaos() && n.crashInReadys == 0
          && random.nextDouble() < profile.leaderChurn()) {
        // A new leader's first rounds (the no-op, catching followers up) are where Raft is subtle.
        n.crashInReadys = 1 + random.nextInt(20);
        stats.inc(Stat.LEADER_CHURN);
        note(null, "  arm a crash of new leader " + n.id + " inside its Ready #" + n.crashInReadys + " from now");
      }
    }
  }

  private void schedule(Kind kind, long delayUs, int node, int incarnation, RaftMessage msg) {
    queue.add(new Event(nowUs + delayUs, seq++, kind, node, incarnation, msg));
  }

  private long expMs(long meanMs) {
    return Math.max(1, (long) (-Math.log(1 - random.nextDouble()) * meanMs * 1000));
  }

  private SimNode deliver(Event ev) {
    SimNode n = nodes[ev.node];
    RaftMessage m = ev.msg;
    if (!n.up()) {
      stats.inc(Stat.DROPPED_DOWN);
      note(ev, "drop (down) ");
      return null;
    }
    int from = indexOfId.get(m.from());
    if (blocked[from][ev.node]) {
      stats.inc(Stat.DROPPED_PARTITION);
      note(ev, "drop (partition) ");
      return null;
    }
    stats.inc(Stat.DELIVERED);
    note(ev, null);
    n.core.step(m);
    n.handleReadys(this);
    return n;
  }

  private SimNode tick(Event ev) {
    SimNode n = nodes[ev.node];
    if (n.incarnation != ev.incarnation || !n.up()) {
      return null; // a timer of a crashed incarnation
    }
    stats.inc(Stat.TICKS);
    note(ev, null);
    n.core.tick(n.nowMs(nowUs));
    n.handleReadys(this);
    if (n.up()) {
      schedule(Kind.TICK, n.tickIntervalUs(profile.tickMs()), n.idx, n.incarnation, null);
    }
    return n;
  }

  private SimNode apply(Event ev) {
    SimNode n = nodes[ev.node];
    if (n.incarnation != ev.incarnation || !n.up()) {
      return null;
    }
    n.applyScheduled = false;
    int count = 0;
    while (!n.applyQueue.isEmpty()) {
      for (Entry e : n.applyQueue.poll()) {
        invariants.onApply(n, e);
        n.applied = e.index();
        count++;
        SimNode.Pending p = n.pending.remove(e.index());
        if (p != null) {
          if (p.term() == e.term()) {
            if (!Arrays.equals(p.data(), e.data())) {
              throw new Violation("acknowledgement", n.id + " acknowledges index " + e.index() + " of term " + e.term()
                  + " but the applied command is not the one proposed");
            }
            stats.inc(Stat.ACKNOWLEDGED);
            maxAckedIndex = Math.max(maxAckedIndex, e.index());
            finalAcked |= p.isFinal();
            if (!options.chaos()) {
              String c = new String(e.data(), StandardCharsets.UTF_8);
              acknowledgedCommands.add(c);
              note(null, n.id + " acknowledges \"" + c + "\" (index " + e.index() + ", term " + e.term() + ")");
            }
          } else {
            stats.inc(Stat.OVERWRITTEN);
            if (!options.chaos()) {
              note(null, n.id + " fails the proposal at index " + e.index() + " of term " + p.term()
                  + ": a leader of term " + e.term() + " overwrote it");
            }
          }
        }
      }
    }
    stats.add(Stat.APPLIED, count);
    note(ev, "apply " + count + " entries on " + n.id + ", applied=" + n.applied);
    return n;
  }

  /** The driver handed committed entries to the apply thread. */
  void scheduleApply(SimNode n) {
    if (!n.applyScheduled) {
      n.applyScheduled = true;
      long delay = random.nextDouble() < profile.slowApply() ? random.nextLong(200_000) : random.nextLong(2_000);
      schedule(Kind.APPLY, 1 + delay, n.idx, n.incarnation, null);
    }
  }

  /** The driver sends {@code m}: the network loses, delays or duplicates it. */
  void send(SimNode sender, RaftMessage m) {
    stats.inc(Stat.SENT);
    Integer to = indexOfId.get(m.to());
    if (to == null || !sender.id.equals(m.from())) {
      throw new Violation("message routing", sender.id + " sent a message from " + m.from() + " to " + m.to() + ": " + m);
    }
    if (blocked[sender.idx][to]) {
      stats.inc(Stat.DROPPED_PARTITION);
      return;
    }
    if (loss > 0 && random.nextDouble() < loss) {
      stats.inc(Stat.LOST);
      return;
    }
    schedule(Kind.DELIVER, delayUs(), to, 0, m);
    if (duplicate > 0 && random.nextDouble() < duplicate) {
      stats.inc(Stat.DUPLICATED);
      schedule(Kind.DELIVER, delayUs(), to, 0, m);
    }
  }

  private long delayUs() {
    long d = 50 + random.nextLong(profile.baseDelayMaxUs());
    if (longDelay > 0 && random.nextDouble() < longDelay) {
      stats.inc(Stat.HELD_BACK);
      d += random.nextLong(profile.longDelayMaxUs());
    }
    return d;
  }

  // ------------------------------------------------------------------ clients

  private SimNode propose(Event ev) {
    if (phase != Phase.CHAOS) {
      return null;
    }
    schedule(Kind.PROPOSE, expMs(profile.proposalMeanMs()), -1, 0, null);
    List<SimNode> up = new ArrayList<>();
    List<SimNode> leaders = new ArrayList<>();
    for (SimNode n : nodes) {
      if (n.up()) {
        up.add(n);
        if (n.core.role() == Role.LEADER) {
          leaders.add(n);
        }
      }
    }
    if (up.isEmpty()) {
      return null;
    }
    // Clients mostly find the leader (a redirect), sometimes ask whoever they know.
    SimNode target = !leaders.isEmpty() && random.nextInt(10) < 8
        ? leaders.get(random.nextInt(leaders.size()))
        : up.get(random.nextInt(up.size()));
    int count = 1 + random.nextInt(3);
    List<byte[]> commands = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      byte[] tag = ("c" + (++proposalSeq) + ":").getBytes(StandardCharsets.UTF_8);
      byte[] data = Arrays.copyOf(tag, tag.length + random.nextInt(100));
      for (int k = tag.length; k < data.length; k++) {
        data[k] = (byte) random.nextInt(256);
      }
      commands.add(data);
    }
    proposeOn(target, commands, false, ev);
    return target;
  }

  private void proposeOn(SimNode target, List<byte[]> commands, boolean isFinal, Event ev) {
    stats.inc(Stat.PROPOSE_CALLS);
    try {
      long first = target.core.propose(commands, target.nowMs(nowUs));
      long term = target.core.term();
      for (int i = 0; i < commands.size(); i++) {
        target.pending.put(first + i, new SimNode.Pending(term, commands.get(i), isFinal));
      }
      stats.add(Stat.COMMANDS, commands.size());
      note(ev, "propose " + commands.size() + (isFinal ? " final" : "") + " on " + target.id + " -> indexes " + first
          + ".." + (first + commands.size() - 1) + " term " + term);
    } catch (NotLeaderException | OverloadedException e) {
      stats.inc(Stat.NOT_LEADER);
      note(ev, "propose " + commands.size() + " on " + target.id + " -> refused: " + e.getMessage());
    }
    target.handleReadys(this);
  }

  // ------------------------------------------------------------------ faults

  private SimNode chaos(Event ev) {
    if (phase != Phase.CHAOS) {
      return null;
    }
    schedule(Kind.CHAOS, expMs(profile.chaosMeanMs()), -1, 0, null);
    int w = random.nextInt(100);
    if (w < 14) {
      partitionSymmetric(ev);
    } else if (w < 24) {
      partitionOneWay(ev);
    } else if (w < 38) {
      heal();
      stats.inc(Stat.HEALS);
      note(ev, "heal the network");
    } else if (w < 50) {
      return crash(ev, false);
    } else if (w < 60) {
      return crash(ev, true);
    } else if (w < 76) {
      return restartOne(ev);
    } else if (w < 90) {
      SimNode n = nodes[random.nextInt(nodes.length)];
      n.setDrift(nowUs, (2 * random.nextDouble() - 1) * profile.maxDrift());
      stats.inc(Stat.DRIFT_CHANGES);
      String step = "";
      if (random.nextInt(10) < 3) {
        long jump = random.nextLong(6001) - 3000;
        n.offsetMs += jump;
        stats.inc(Stat.CLOCK_STEPS);
        step = String.format(", clock steps %+d ms", jump);
      }
      note(ev, String.format("%s clock drift now %+.4f%s", n.id, n.drift, step));
    } else if (w < 95) {
      return changeMembership(ev); // checked after the step: removing a voter may commit at once
    } else {
      weather();
      stats.inc(Stat.WEATHER);
      note(ev, String.format("network: loss %.3f, duplicate %.3f, held back %.3f", loss, duplicate, longDelay));
    }
    return null;
  }

  /**
   * Asks the leader for a membership change (Ongaro thesis §4): add a non-member back as a
   * learner (promoted by the leader once caught up), or remove a member (the leader itself
   * included), keeping at least two voters.
   */
  private SimNode changeMembership(Event ev) {
    SimNode leader = someLeader();
    if (leader == null) {
      note(ev, "membership: no leader to ask");
      return null;
    }
    Membership m = leader.core.membership();
    List<String> missing = voters.stream().filter(id -> !m.members().containsKey(id)).toList();
    try {
      if (!missing.isEmpty() && (m.voters().size() <= 2 || random.nextBoolean())) {
        String id = missing.get(random.nextInt(missing.size()));
        long index = leader.core.addLearner(new Membership.Member(id, "", "", false));
        note(ev, "membership: " + leader.id + " adds learner " + id + " at " + index);
      } else if (m.voters().size() > 2) {
        List<String> members = List.copyOf(m.members().keySet());
        String id = members.get(random.nextInt(members.size()));
        long index = leader.core.removeMember(id);
        note(ev, "membership: " + leader.id + " removes " + id + " at " + index);
      } else {
        return null;
      }
      stats.inc(Stat.MEMBERSHIP_CHANGES);
    } catch (NotLeaderException | IllegalStateException | IllegalArgumentException e) {
      stats.inc(Stat.MEMBERSHIP_REFUSED);
      note(ev, "membership: refused by " + leader.id + ": " + e.getMessage());
    }
    leader.handleReadys(this);
    return leader;
  }

  /** After healing: the leader adds back, one at a time, every node that is not a member. */
  private void readdMissing() {
    SimNode leader = someLeader();
    if (leader == null) {
      return;
    }
    Membership m = leader.core.membership();
    for (String id : voters) {
      if (!m.members().containsKey(id)) {
        try {
          long index = leader.core.addLearner(new Membership.Member(id, "", "", false));
          note(null, "membership: " + leader.id + " adds " + id + " back as a learner at " + index);
          leader.handleReadys(this);
          invariants.afterStep(leader);
        } catch (NotLeaderException | IllegalStateException | IllegalArgumentException e) {
          // a change is still committing: try again later
        }
        return;
      }
    }
  }

  private void weather() {
    loss = random.nextDouble() * profile.maxLoss();
    duplicate = random.nextDouble() * profile.maxDuplicate();
    longDelay = random.nextDouble() * profile.maxLongDelay();
  }

  private void heal() {
    for (boolean[] row : blocked) {
      Arrays.fill(row, false);
    }
  }

  private void partitionSymmetric(Event ev) {
    if (random.nextInt(10) < 7) {
      heal();
    }
    int n = nodes.length;
    int side = 1 + random.nextInt((1 << n) - 2); // a proper, non-empty subset
    SimNode leader = someLeader();
    if (leader != null && random.nextBoolean()) {
      // Put the leader in a minority: the interesting case (a stale leader keeps taking writes).
      side = 1 << leader.idx;
      for (int extra = random.nextInt((n - 1) / 2 + 1); extra > 0; extra--) {
        side |= 1 << random.nextInt(n);
      }
      if (Integer.bitCount(side) > (n - 1) / 2) {
        side = 1 << leader.idx;
      }
    }
    for (int a = 0; a < n; a++) {
      for (int b = 0; b < n; b++) {
        if (((side >> a) & 1) != ((side >> b) & 1)) {
          blocked[a][b] = true;
        }
      }
    }
    stats.inc(Stat.PARTITION_SYMMETRIC);
    note(ev, "partition " + sideNames(side, true) + " | " + sideNames(side, false) + "; blocked " + blockedLinks());
  }

  private void partitionOneWay(Event ev) {
    if (random.nextInt(10) < 7) {
      heal();
    }
    int n = nodes.length;
    int mode = random.nextInt(3);
    int x = random.nextInt(n);
    String what;
    if (mode == 0) {
      int links = 1 + random.nextInt(n);
      for (int i = 0; i < links; i++) {
        int a = random.nextInt(n);
        int b = (a + 1 + random.nextInt(n - 1)) % n;
        blocked[a][b] = true;
      }
      what = "one-way links";
    } else if (mode == 1) {
      for (int a = 0; a < n; a++) {
        blocked[a][x] = a != x;
      }
      what = nodes[x].id + " cannot receive";
    } else {
      for (int b = 0; b < n; b++) {
        blocked[x][b] = b != x;
      }
      what = nodes[x].id + " cannot send";
    }
    stats.inc(Stat.PARTITION_ONE_WAY);
    note(ev, "partition (" + what + "); blocked " + blockedLinks());
  }

  /**
   * Crashes a node — half the time the leader, if there is one — either now or at a cut point
   * inside its next Ready. A reboot restarts it soon after (within two election timeouts), which
   * is when a forgotten vote or a lost write would matter most.
   */
  private SimNode crash(Event ev, boolean reboot) {
    List<SimNode> up = new ArrayList<>();
    for (SimNode n : nodes) {
      if (n.up() && n.crashInReadys == 0) {
        up.add(n);
      }
    }
    if (up.isEmpty()) {
      note(ev, "crash: nobody to crash");
      return null;
    }
    SimNode leader = someLeader();
    SimNode n = leader != null && leader.crashInReadys == 0 && random.nextBoolean()
        ? leader
        : up.get(random.nextInt(up.size()));
    if (reboot) {
      n.rebootAfterUs = 1 + random.nextLong(2L * profile.electionTicks() * profile.tickMs() * 1000);
    }
    String after = reboot ? ", restart " + n.rebootAfterUs / 1000 + " ms later" : "";
    if (random.nextBoolean()) {
      note(ev, "crash " + n.id + " (between steps" + after + ")");
      n.crash();
      stats.inc(Stat.CRASHES_IDLE);
      scheduleReboot(n);
    } else {
      n.crashInReadys = 1 + random.nextInt(3);
      note(ev, "arm a crash of " + n.id + " inside its Ready #" + n.crashInReadys + " from now" + after);
    }
    return null;
  }

  private void scheduleReboot(SimNode n) {
    if (n.rebootAfterUs > 0) {
      stats.inc(Stat.REBOOTS);
      schedule(Kind.RESTART, n.rebootAfterUs, n.idx, n.incarnation, null);
      n.rebootAfterUs = 0;
    }
  }

  private SimNode reboot(Event ev) {
    SimNode n = nodes[ev.node];
    if (phase != Phase.CHAOS || n.up() || n.incarnation != ev.incarnation) {
      return null;
    }
    return restart(n, ev);
  }

  /** @return a node that believes it leads (the one of the highest term), or {@code null} */
  private SimNode someLeader() {
    SimNode found = null;
    for (SimNode n : nodes) {
      if (n.up() && n.core.role() == Role.LEADER && (found == null || n.core.term() > found.core.term())) {
        found = n;
      }
    }
    return found;
  }

  /** The driver hit an armed crash's cut point. */
  void crashDuringReady(SimNode n, String where) {
    n.crash();
    stats.inc(Stat.CRASHES_MID_READY);
    note(null, "  ... " + n.id + " crashes inside a Ready, " + where);
    scheduleReboot(n);
  }

  private SimNode restartOne(Event ev) {
    List<SimNode> down = new ArrayList<>();
    for (SimNode n : nodes) {
      if (!n.up()) {
        down.add(n);
      }
    }
    if (down.isEmpty()) {
      note(ev, "restart: nobody is down");
      return null;
    }
    return restart(down.get(random.nextInt(down.size())), ev);
  }

  private SimNode restart(SimNode n, Event ev) {
    start(n);
    stats.inc(Stat.RESTARTS);
    note(ev, "restart " + n.id + ": term " + n.disk.hardState().term() + ", vote " + n.disk.hardState().votedFor()
        + ", log " + n.disk.lastIndex() + ", applied " + n.applied);
    n.handleReadys(this);
    return n;
  }

  private void start(SimNode n) {
    RaftConfig config = profile.raftConfig(n.id, voters);
    n.start(config, new Random(random.nextLong()));
    schedule(Kind.TICK, 1 + random.nextLong(n.tickIntervalUs(profile.tickMs())), n.idx, n.incarnation, null);
  }

  // ------------------------------------------------------------------ liveness

  private void healEverything() {
    phase = Phase.HEALED;
    healedAtUs = nowUs;
    heal();
    loss = 0;
    duplicate = 0;
    longDelay = 0;
    StringBuilder restarted = new StringBuilder();
    for (SimNode n : nodes) {
      n.crashInReadys = 0;
      if (!n.up()) {
        start(n);
        n.handleReadys(this);
        restarted.append(' ').append(n.id);
      }
    }
    note(null, "HEAL: network healed, faults off, restarted:" + (restarted.isEmpty() ? " none" : restarted));
  }

  /**
   * Liveness: every node is up, one leader holds the highest term, it acknowledged a fresh
   * proposal, and every node applied every acknowledged proposal.
   */
  private boolean live() {
    long maxTerm = 0;
    for (SimNode n : nodes) {
      maxTerm = Math.max(maxTerm, n.core.term());
    }
    SimNode leader = null;
    for (SimNode n : nodes) {
      if (n.core.role() == Role.LEADER && n.core.term() == maxTerm) {
        leader = n;
      }
    }
    if (leader == null) {
      return false;
    }
    if (!finalAcked) {
      if (finalNode != leader.idx || finalIncarnation != leader.incarnation || finalTerm != leader.core.term()) {
        finalNode = leader.idx;
        finalIncarnation = leader.incarnation;
        finalTerm = leader.core.term();
        proposeOn(leader, List.of(("final@" + finalTerm).getBytes(StandardCharsets.UTF_8)), true, null);
        invariants.afterStep(leader);
      }
      return false;
    }
    for (SimNode n : nodes) {
      if (n.applied < maxAckedIndex) {
        return false;
      }
    }
    return true;
  }

  // ------------------------------------------------------------------ reporting

  /** @return the random source of this run (for the drivers' cut points) */
  Random random() {
    return random;
  }

  /** @return the checker */
  Invariants invariants() {
    return invariants;
  }

  /** @return the current step number */
  long step() {
    return step;
  }

  /** Records a step (or a note inside one) in the trace ring. */
  private void note(Event ev, String note) {
    TraceItem item = new TraceItem(step, nowUs, ev, note);
    trace[traceNext] = item;
    traceNext = (traceNext + 1) % trace.length;
    traceCount++;
    if (options.verbose() != null && (!options.storyOnly() || isStory(item))) {
      options.verbose().println(format(item));
    }
  }

  private static boolean isStory(TraceItem t) {
    return t.event == null || t.event.kind == Kind.CHAOS || t.event.kind == Kind.RESTART
        || (t.event.kind == Kind.PROPOSE && t.note != null);
  }

  private String format(TraceItem t) {
    String what;
    Event ev = t.event;
    if (ev == null) {
      what = t.note;
    } else {
      what = switch (ev.kind) {
        case DELIVER -> (t.note == null ? "" : t.note) + describe(ev.msg);
        case TICK -> "tick " + nodes[ev.node].id + (options.verbose() != null ? " " + nodes[ev.node].describe() : "");
        default -> t.note;
      };
    }
    return String.format("  #%-7d %10.3f ms  %s", t.step, t.timeUs / 1000.0, what);
  }

  private static String describe(RaftMessage m) {
    String s = m.toString();
    if (s.length() > 240) {
      s = s.substring(0, 240) + "...";
    }
    return m.from() + " -> " + m.to() + "  " + s;
  }

  private String sideNames(int side, boolean in) {
    StringBuilder b = new StringBuilder("{");
    for (int i = 0; i < nodes.length; i++) {
      if (((side >> i) & 1) == (in ? 1 : 0)) {
        b.append(b.length() > 1 ? "," : "").append(nodes[i].id);
      }
    }
    return b.append('}').toString();
  }

  private String blockedLinks() {
    StringBuilder b = new StringBuilder();
    for (int a = 0; a < nodes.length; a++) {
      for (int c = 0; c < nodes.length; c++) {
        if (blocked[a][c]) {
          b.append(b.isEmpty() ? "" : " ").append(nodes[a].id).append("-x>").append(nodes[c].id);
        }
      }
    }
    return b.isEmpty() ? "none" : b.toString();
  }

  private SimulationFailure failure(String property, String detail, Throwable cause) {
    StringBuilder b = new StringBuilder();
    b.append("Raft simulation failed: ").append(detail).append('\n');
    b.append("  seed ").append(seed).append(" — replay: Simulation.replay(").append(seed).append("L)")
        .append(options.steps() != DEFAULT_STEPS ? " with Options.withSteps(" + options.steps() + ")" : "")
        .append(", or mvn ... -Dtest=SimulationTest -Ddsync.sim.seed=").append(seed)
        .append(options.steps() != DEFAULT_STEPS ? " -Ddsync.sim.steps=" + options.steps() : "").append('\n');
    b.append("  phase ").append(phase).append(", step ").append(step).append(", at ")
        .append(String.format("%.3f", nowUs / 1000.0)).append(" ms\n");
    b.append("  profile: ").append(profile).append('\n');
    b.append("  nodes:\n");
    for (SimNode n : nodes) {
      b.append("    ").append(n.describe()).append('\n');
    }
    b.append("  blocked links: ").append(blockedLinks()).append('\n');
    b.append("  ").append(invariants).append('\n');
    long shown = Math.min(traceCount, trace.length);
    b.append("  last ").append(shown).append(" events:\n");
    for (long i = 0; i < shown; i++) {
      TraceItem t = trace[(int) ((traceNext - shown + i + trace.length) % trace.length)];
      b.append(format(t)).append('\n');
    }
    return new SimulationFailure(seed, property, b.toString(), cause);
  }
}
