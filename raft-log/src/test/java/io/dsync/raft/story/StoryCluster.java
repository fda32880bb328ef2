package io.dsync.raft.story;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.dsync.raft.Entry;
import io.dsync.raft.NotLeaderException;
import io.dsync.raft.Membership;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.RaftCore;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.RaftMessage.AppendEntries;
import io.dsync.raft.RaftMessage.AppendEntriesResponse;
import io.dsync.raft.RaftMessage.Heartbeat;
import io.dsync.raft.RaftMessage.HeartbeatResponse;
import io.dsync.raft.RaftMessage.InstallSnapshot;
import io.dsync.raft.RaftMessage.InstallSnapshotResponse;
import io.dsync.raft.RaftMessage.RequestVote;
import io.dsync.raft.RaftMessage.RequestVoteResponse;
import io.dsync.raft.RaftMessage.TimeoutNow;
import io.dsync.raft.Ready;
import io.dsync.raft.Role;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.HardState;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The world of one story: {@link RaftCore}s wired by a scripted network, driven exactly as
 * {@code RaftNode} drives a core (save the hard state, install a snapshot chunk, append entries,
 * send, apply, start snapshot transfers, answer reads, advance). Nothing moves unless a command
 * says so: a node's clock advances only when it is ticked, a message arrives only when delivered.
 *
 * <p>Determinism: the cores draw their election timeouts from {@link Random}s seeded from the
 * {@code cluster} command's {@code seed}; messages wait in one FIFO queue, in send order, and are
 * delivered in that order.
 *
 * <p>After every input the harness checks Election Safety (one leader per term, Raft §5.2), that
 * a hard state's term never goes back, and State Machine Safety (every node applies the same
 * entry at an index, in order, §5.4.3); a violation fails the story whatever its expected output.
 *
 * <p>Not thread-safe.
 */
final class StoryCluster {
  /** A command the script got wrong (unknown, bad arguments): fails the story. */
  static final class ScriptError extends RuntimeException {
    ScriptError(String message) {
      super(message);
    }
  }

  /** An error the protocol reports to its caller (not the leader, ...): printed as {@code error: ...}. */
  static final class Refused extends RuntimeException {
    Refused(String message) {
      super(message);
    }
  }

  private static final long TICK_MS = 50;

  /** One node: its durable state outlives {@link #core}, which is {@code null} while it is down. */
  private static final class Node {
    final String id;
    final RaftConfig config;
    final StoryLog disk = new StoryLog();
    HardState hardState = HardState.INITIAL;
    /** The state machine's applied index: durable (dsync's state lives in RocksDB with it). */
    long applied;
    RaftCore core;
    /** RequestVotes this node ever sent (to see that an election timeout fired). */
    long votesRequested;

    Node(String id, RaftConfig config) {
      this.id = id;
      this.config = config;
    }
  }

  private final Map<String, Node> nodes = new LinkedHashMap<>();
  private final Random seeds;
  /** Messages in flight, oldest first. */
  private final List<RaftMessage> network = new ArrayList<>();
  /** Cut links, as "from>to". */
  private final Set<String> cut = new HashSet<>();
  private final Map<Long, String> leaderOfTerm = new TreeMap<>();
  private final Map<Long, Entry> appliedAt = new HashMap<>();
  /** Which node asked for each read context. */
  private final Map<Long, String> reads = new HashMap<>();
  private long nextReadContext = 1;
  private long now = 1_000_000;

  private List<String> out = new ArrayList<>();
  private String indent = "";

  private StoryCluster(List<String> ids, Map<String, String> options) {
    RaftConfig d = RaftConfig.defaults(ids.get(0), ids);
    long seed = longOption(options, "seed", 1);
    boolean preVote = boolOption(options, "prevote", d.preVote());
    boolean checkQuorum = boolOption(options, "checkquorum", d.checkQuorum());
    int election = (int) longOption(options, "election", 10); // pinned: the stories were written for 10 ticks
    int heartbeat = (int) longOption(options, "heartbeat", d.heartbeatTicks());
    long maxAppendBytes = longOption(options, "max-append-bytes", d.maxAppendBytes());
    int maxInflight = (int) longOption(options, "max-inflight", d.maxInflightAppends());
    if (!options.isEmpty()) {
      throw new ScriptError("unknown cluster option(s) " + options.keySet()
          + "; known: seed prevote checkquorum election heartbeat max-append-bytes max-inflight");
    }
    this.seeds = new Random(seed);
    for (String id : ids) {
      RaftConfig c = new RaftConfig(id, ids, TICK_MS, election, heartbeat, d.maxProposalQueue(), d.maxBatchBytes(),
          d.maxApplyQueue(), preVote, checkQuorum, maxAppendBytes, maxInflight);
      Node n = new Node(id, c);
      nodes.put(id, n);
      start(n);
    }
  }

  /** {@code cluster <id>... [seed=N] [prevote=B] [checkquorum=B] [election=T] [heartbeat=T] ...} */
  static StoryCluster create(List<String> args) {
    List<String> ids = new ArrayList<>();
    Map<String, String> options = new LinkedHashMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (eq > 0) {
        options.put(a.substring(0, eq), a.substring(eq + 1));
      } else {
        ids.add(a);
      }
    }
    if (ids.isEmpty()) {
      throw new ScriptError("cluster needs node ids, e.g. `cluster n1 n2 n3`");
    }
    try {
      return new StoryCluster(ids, options);
    } catch (IllegalArgumentException e) {
      throw new ScriptError("bad cluster: " + e.getMessage());
    }
  }

  private void start(Node n) {
    n.core = new RaftCore(n.config, n.hardState, n.disk, n.applied, new Random(seeds.nextLong()));
  }

  // ------------------------------------------------------------------ commands

  /**
   * Runs one command.
   *
   * @return the lines it printed
   * @throws ScriptError if the command or its arguments are wrong
   * @throws Refused if the protocol refused the request
   */
  List<String> execute(String command, List<String> args) {
    out = new ArrayList<>();
    indent = "";
    switch (command) {
      case "tick" -> tick(args);
      case "tick-heartbeat" -> tickRounds(nodesOf(args, 1), nodes.values().iterator().next().config.heartbeatTicks());
      case "tick-election" -> tickRounds(nodesOf(args, 1), nodes.values().iterator().next().config.electionTicks());
      case "campaign" -> campaign(one(args));
      case "propose" -> propose(args);
      case "transfer-leadership" -> transfer(args);
      case "read-index" -> readIndex(one(args));
      case "deliver" -> deliver(args, false);
      case "deliver-all" -> deliverAll(args);
      case "deliver-batched" -> deliverBatched(args);
      case "drop" -> deliver(args, true);
      case "isolate" -> isolate(nodesOf(args, 1));
      case "heal" -> heal(nodesOf(args, 0));
      case "crash" -> crash(one(args));
      case "restart" -> restart(one(args));
      case "compact" -> compact(args);
      case "status" -> status(nodesOf(args, 0));
      case "progress" -> progress(live(one(args)));
      case "log" -> log(nodesOf(args, 1));
      case "add-node" -> addNode(args);
      case "add-learner" -> changeMembership(args, true);
      case "remove-member" -> changeMembership(args, false);
      case "members" -> members(nodesOf(args, 0));
      default -> throw new ScriptError("unknown command `" + command + "`");
    }
    return out;
  }

  /** {@code tick <node>... [count]}: count rounds (default 1), each ticking every listed node once. */
  private void tick(List<String> args) {
    int count = 1;
    List<String> ids = args;
    if (!args.isEmpty() && args.get(args.size() - 1).matches("\\d+")) {
      count = Integer.parseInt(args.get(args.size() - 1));
      ids = args.subList(0, args.size() - 1);
    }
    tickRounds(nodesOf(ids, 1), count);
  }

  private void tickRounds(List<Node> ns, int rounds) {
    for (int r = 0; r < rounds; r++) {
      now += TICK_MS;
      for (Node n : ns) {
        input(live(n), () -> n.core.tick(now));
      }
    }
  }

  /**
   * {@code campaign <node>}: ticks the node alone until its randomized election timeout fires
   * (it asks for pre-votes or votes). The core has no "campaign now" input; this is the same
   * thing said with time.
   */
  private void campaign(Node n) {
    live(n);
    if (n.core.role() == Role.LEADER) {
      throw new Refused(n.id + " is the leader");
    }
    long before = n.votesRequested;
    int limit = 2 * n.config.electionTicks() + 1;
    for (int i = 0; i < limit; i++) {
      now += TICK_MS;
      input(n, () -> n.core.tick(now));
      if (n.votesRequested > before || n.core.role() == Role.LEADER) {
        return;
      }
    }
    throw new AssertionError(n.id + " did not campaign within " + limit + " ticks");
  }

  /** {@code propose <leader> <command>... [pad=N]}: one batch; pad fills each command with '.' to N bytes. */
  private void propose(List<String> args) {
    if (args.size() < 2) {
      throw new ScriptError("usage: propose <node> <command>... [pad=N]");
    }
    Node n = node(args.get(0));
    int pad = 0;
    List<byte[]> commands = new ArrayList<>();
    for (String a : args.subList(1, args.size())) {
      if (a.startsWith("pad=")) {
        pad = (int) number("pad", a.substring(4));
      }
    }
    for (String a : args.subList(1, args.size())) {
      if (!a.startsWith("pad=")) {
        commands.add(a.length() >= pad ? a.getBytes(UTF_8) : (a + ".".repeat(pad - a.length())).getBytes(UTF_8));
      }
    }
    long[] first = new long[1];
    input(live(n), () -> first[0] = n.core.propose(commands, now));
    List<String> appended = new ArrayList<>();
    for (long i = first[0]; i < first[0] + commands.size(); i++) {
      appended.add(i + "/" + n.core.term());
    }
    out.add(0, n.id + " appended " + String.join(" ", appended));
  }

  /** {@code transfer-leadership <leader> <target>} (thesis §3.10). */
  private void transfer(List<String> args) {
    if (args.size() != 2) {
      throw new ScriptError("usage: transfer-leadership <leader> <target>");
    }
    Node n = node(args.get(0));
    input(live(n), () -> n.core.transferLeadership(args.get(1)));
  }

  /** {@code read-index <node>}: asks for a read point with the next context (thesis §6.4). */
  private void readIndex(Node n) {
    long context = nextReadContext;
    reads.put(context, n.id);
    out.add(n.id + " read#" + context + " requested");
    try {
      input(live(n), () -> n.core.readIndex(context));
    } catch (Refused e) {
      reads.remove(context);
      throw e;
    }
    nextReadContext++;
  }

  /**
   * {@code deliver [filter]...} delivers the messages in flight now (not those they cause), in
   * send order; {@code drop} loses them instead. A filter {@code n2} selects messages to n2,
   * {@code n2->n1} those from n2 to n1; several filters select any of them; none selects all.
   */
  private void deliver(List<String> filters, boolean dropThem) {
    List<RaftMessage> batch = new ArrayList<>();
    for (Iterator<RaftMessage> it = network.iterator(); it.hasNext(); ) {
      RaftMessage m = it.next();
      if (matches(m, filters)) {
        batch.add(m);
        it.remove();
      }
    }
    for (RaftMessage m : batch) {
      if (dropThem) {
        out.add("dropped " + format(m));
      } else {
        deliverOne(m);
      }
    }
  }

  /**
   * {@code deliver-batched [filter]...}: delivers the selected messages as RaftNode receives a
   * burst: each recipient steps all of its messages, then runs its Ready loop once (RaftNode
   * drains its inbox before calling {@code ready()}).
   */
  private void deliverBatched(List<String> filters) {
    Map<String, List<RaftMessage>> byRecipient = new LinkedHashMap<>();
    for (Iterator<RaftMessage> it = network.iterator(); it.hasNext(); ) {
      RaftMessage m = it.next();
      if (matches(m, filters)) {
        byRecipient.computeIfAbsent(m.to(), k -> new ArrayList<>()).add(m);
        it.remove();
      }
    }
    for (Map.Entry<String, List<RaftMessage>> e : byRecipient.entrySet()) {
      Node to = nodes.get(e.getKey());
      List<RaftMessage> steps = new ArrayList<>();
      for (RaftMessage m : e.getValue()) {
        if (isCut(m.from(), m.to())) {
          out.add(format(m) + " (lost: partitioned)");
        } else if (to.core == null) {
          out.add(format(m) + " (lost: " + m.to() + " is down)");
        } else {
          out.add(format(m));
          steps.add(m);
        }
      }
      if (!steps.isEmpty()) {
        indent = "  ";
        input(to, () -> steps.forEach(to.core::step));
        indent = "";
      }
    }
  }

  /** {@code deliver-all}: delivers until nothing is in flight, including what the deliveries cause. */
  private void deliverAll(List<String> args) {
    if (!args.isEmpty()) {
      throw new ScriptError("deliver-all takes no arguments (use deliver with filters)");
    }
    int steps = 0;
    while (!network.isEmpty()) {
      if (++steps > 10_000) {
        throw new AssertionError("messages never settle: " + network.size() + " in flight");
      }
      deliverOne(network.remove(0));
    }
  }

  private void deliverOne(RaftMessage m) {
    Node to = nodes.get(m.to());
    if (isCut(m.from(), m.to())) {
      out.add(format(m) + " (lost: partitioned)");
      return;
    }
    if (to.core == null) {
      out.add(format(m) + " (lost: " + m.to() + " is down)");
      return;
    }
    out.add(format(m));
    indent = "  ";
    input(to, () -> to.core.step(m));
    indent = "";
  }

  private boolean matches(RaftMessage m, List<String> filters) {
    if (filters.isEmpty()) {
      return true;
    }
    for (String f : filters) {
      int arrow = f.indexOf("->");
      if (arrow >= 0) {
        String from = f.substring(0, arrow);
        String to = f.substring(arrow + 2);
        node(from);
        node(to);
        if (m.from().equals(from) && m.to().equals(to)) {
          return true;
        }
      } else if (node(f).id.equals(m.to())) {
        return true;
      }
    }
    return false;
  }

  /** {@code isolate <node>...}: cuts the listed group off from every other node, both ways. */
  private void isolate(List<Node> group) {
    Set<String> in = group.stream().map(n -> n.id).collect(Collectors.toSet());
    for (String a : in) {
      for (String b : nodes.keySet()) {
        if (!in.contains(b)) {
          cut.add(a + ">" + b);
          cut.add(b + ">" + a);
        }
      }
    }
  }

  /** {@code heal [node]...}: restores the links of the listed nodes (all links without arguments). */
  private void heal(List<Node> ns) {
    if (ns.isEmpty()) {
      cut.clear();
      return;
    }
    for (Node n : ns) {
      cut.removeIf(link -> link.startsWith(n.id + ">") || link.endsWith(">" + n.id));
    }
  }

  private boolean isCut(String from, String to) {
    return cut.contains(from + ">" + to);
  }

  /**
   * {@code crash <node>}: the process dies. Its volatile state (role, leader, commit index,
   * progress, votes counted, the messages it had not yet sent or received) is lost; its hard
   * state, its log and its state machine (with the applied index) stay on disk.
   */
  private void crash(Node n) {
    live(n);
    n.core = null;
    int lost = 0;
    for (Iterator<RaftMessage> it = network.iterator(); it.hasNext(); ) {
      RaftMessage m = it.next();
      if (m.from().equals(n.id) || m.to().equals(n.id)) {
        it.remove();
        lost++;
      }
    }
    out.add(n.id + " crashed" + (lost > 0 ? "; " + lost + " message(s) to or from it lost" : ""));
  }

  /** {@code restart <node>}: a new core from the node's disk (hard state, log, applied index). */
  private void restart(Node n) {
    if (n.core != null) {
      throw new ScriptError(n.id + " is running; crash it first");
    }
    start(n);
    out.add(n.id + " restarted: " + statusLine(n));
  }

  /**
   * {@code add-node <id>}: a new node that joins an existing cluster: it starts with no
   * configuration (it neither campaigns nor counts) and waits to be added by the leader.
   */
  private void addNode(List<String> args) {
    if (args.size() != 1) {
      throw new ScriptError("usage: add-node <id>");
    }
    String id = args.get(0);
    if (nodes.containsKey(id)) {
      throw new ScriptError(id + " already exists");
    }
    RaftConfig t = nodes.values().iterator().next().config;
    Node n = new Node(id, new RaftConfig(id, List.of(), t.tickMs(), t.electionTicks(), t.heartbeatTicks(),
        t.maxProposalQueue(), t.maxBatchBytes(), t.maxApplyQueue(), t.preVote(), t.checkQuorum(), t.maxAppendBytes(),
        t.maxInflightAppends()));
    nodes.put(id, n);
    start(n);
    out.add(id + " started, waiting to be added: " + statusLine(n));
  }

  /** {@code add-learner <leader> <id>} / {@code remove-member <leader> <id>} (thesis §4). */
  private void changeMembership(List<String> args, boolean add) {
    if (args.size() != 2) {
      throw new ScriptError("usage: " + (add ? "add-learner" : "remove-member") + " <leader> <id>");
    }
    Node n = live(node(args.get(0)));
    String id = args.get(1);
    long[] index = new long[1];
    input(n, () -> index[0] = add ? n.core.addLearner(new Membership.Member(id, "", "", false)) : n.core.removeMember(id));
    out.add(n.id + " appended config " + index[0] + ": " + n.core.configAt(index[0]));
  }

  /** {@code members [node]...}: the configuration each node uses (the latest in its log). */
  private void members(List<Node> ns) {
    for (Node n : ns.isEmpty() ? List.copyOf(nodes.values()) : ns) {
      out.add(n.id + " " + (n.core == null ? "down" : n.core.membership().toString()));
    }
  }

  /** {@code compact <node> <index>}: the driver purges the log through index (Raft §7). */
  private void compact(List<String> args) {
    if (args.size() != 2) {
      throw new ScriptError("usage: compact <node> <index>");
    }
    Node n = live(node(args.get(0)));
    long index = number("index", args.get(1));
    if (index > n.applied) {
      throw new Refused("cannot compact " + index + " beyond the applied " + n.applied);
    }
    long term = n.disk.compact(index, n.core.configAt(index));
    n.core.compacted(index, term);
    out.add(n.id + " compacted its log through " + index + "/" + term);
  }

  /** {@code status [node]...}: one line per node. */
  private void status(List<Node> ns) {
    for (Node n : ns.isEmpty() ? List.copyOf(nodes.values()) : ns) {
      out.add(statusLine(n));
    }
  }

  /** {@code progress <leader>}: the match index the leader holds for each voter (itself: its disk). */
  private void progress(Node n) {
    if (n.core.role() != Role.LEADER) {
      throw new Refused(n.id + " is not the leader");
    }
    n.core.matchIndexes().forEach((id, match) -> out.add(id + " match=" + match));
  }

  private String statusLine(Node n) {
    if (n.core == null) {
      return n.id + " down term=" + n.hardState.term() + " last=" + n.disk.lastIndex();
    }
    RaftCore c = n.core;
    StringBuilder b = new StringBuilder(n.id).append(' ').append(roleName(c.role())).append(" term=").append(c.term())
        .append(" commit=").append(c.commitIndex()).append(" last=").append(c.lastIndex());
    if (c.role() != Role.LEADER && c.leaderId() != null) {
      b.append(" leader=").append(c.leaderId());
    }
    if (c.membership().isLearner(n.id)) {
      b.append(" (learner)");
    } else if (!c.membership().isVoter(n.id)) {
      b.append(" (not a member)");
    }
    List<String> unreachable = nodes.keySet().stream().filter(p -> isCut(n.id, p)).toList();
    if (unreachable.size() == nodes.size() - 1) {
      b.append(" (isolated)");
    } else if (!unreachable.isEmpty()) {
      b.append(" (cut from ").append(String.join(" ", unreachable)).append(')');
    }
    return b.toString();
  }

  /** {@code log <node>...}: each node's disk: the snapshot it starts after, then index/term data. */
  private void log(List<Node> ns) {
    for (Node n : ns) {
      String prefix = "";
      if (ns.size() > 1) {
        out.add(n.id + ":");
        prefix = "  ";
      }
      if (n.disk.snapshotIndex() > 0) {
        out.add(prefix + "snapshot " + n.disk.snapshotIndex() + "/" + n.disk.snapshotTerm());
      }
      List<Entry> all = n.disk.all();
      if (all.isEmpty() && n.disk.snapshotIndex() == 0) {
        out.add(prefix + "(empty)");
      }
      for (Entry e : all) {
        out.add(prefix + e.index() + "/" + e.term() + " " + data(e));
      }
    }
  }

  // ------------------------------------------------------------------ the driver

  /**
   * Feeds one input to a node, then runs its Ready loop; prints how its role, term, leader and
   * commit index changed, then what the Ready loop reported (snapshots, reads).
   */
  private void input(Node n, Runnable in) {
    RaftCore c = n.core;
    Role role = c.role();
    long term = c.term();
    String leader = c.leaderId();
    long commit = c.commitIndex();
    try {
      in.run();
    } catch (NotLeaderException | IllegalArgumentException | IllegalStateException e) {
      throw new Refused(e.getMessage());
    }
    List<String> readyEvents = process(n);
    if (c.role() != role || c.term() != term || !java.util.Objects.equals(c.leaderId(), leader)) {
      String l = c.role() != Role.LEADER && c.leaderId() != null ? " leader=" + c.leaderId() : "";
      out.add(indent + n.id + " -> " + roleName(c.role()) + " term=" + c.term() + l);
    }
    if (c.commitIndex() != commit) {
      out.add(indent + n.id + " commit " + commit + " -> " + c.commitIndex());
    }
    for (String e : readyEvents) {
      out.add(indent + e);
    }
  }

  /** Persist, install, send, apply, advance — until the node has nothing to do (RaftNode.handleReady). */
  private List<String> process(Node n) {
    List<String> events = new ArrayList<>();
    RaftCore c = n.core;
    while (c.hasReady()) {
      Ready rd = c.ready();
      if (rd.hardState() != null) {
        if (rd.hardState().term() < n.hardState.term()) {
          throw new AssertionError(n.id + ": saved term went back " + n.hardState + " -> " + rd.hardState());
        }
        n.hardState = rd.hardState();
      }
      InstallSnapshot chunk = rd.snapshotChunk();
      if (chunk != null && chunk.last()) {
        n.disk.installSnapshot(chunk.index(), chunk.snapshotTerm(),
            chunk.config().length > 0 ? Membership.decode(chunk.config()) : null);
        n.applied = chunk.index(); // the state machine now is the leader's state at that index
        events.add(n.id + " installed snapshot " + chunk.index() + "/" + chunk.snapshotTerm());
      }
      n.disk.persist(rd.entriesFromIndex(), rd.entries());
      for (RaftMessage m : rd.messages()) {
        send(m);
      }
      for (Entry e : rd.committedEntries()) {
        apply(n, e);
      }
      for (String peer : rd.sendSnapshotTo()) {
        // The driver streams the state; here one last chunk stands for the whole transfer.
        send(new InstallSnapshot(n.id, peer, c.term(), n.disk.snapshotIndex(), n.disk.snapshotTerm(), 0, new byte[0],
            true, c.configAt(n.disk.snapshotIndex()).encode()));
        events.add(n.id + " sends snapshot " + n.disk.snapshotIndex() + "/" + n.disk.snapshotTerm() + " to " + peer);
      }
      for (Ready.ReadState rs : rd.readStates()) {
        events.add(reads.get(rs.context()) + " read#" + rs.context()
            + (rs.index() < 0 ? " refused" : " confirmed at index " + rs.index()));
      }
      c.advance(rd);
    }
    checkElectionSafety();
    return events;
  }

  private void send(RaftMessage m) {
    if (m instanceof RequestVote) {
      nodes.get(m.from()).votesRequested++;
    }
    Node to = nodes.get(m.to());
    if (isCut(m.from(), m.to()) || to == null || to.core == null) {
      return; // the partition (or a dead process) swallows it
    }
    network.add(m);
  }

  private void apply(Node n, Entry e) {
    if (e.index() != n.applied + 1) {
      throw new AssertionError(n.id + " applies " + e.index() + " after " + n.applied + " (out of order)");
    }
    Entry onDisk = n.disk.entry(e.index());
    if (onDisk == null || onDisk.term() != e.term()) {
      throw new AssertionError(n.id + " applies " + e.index() + "/" + e.term() + " which is not on its disk");
    }
    Entry first = appliedAt.putIfAbsent(e.index(), e);
    if (first != null && (first.term() != e.term() || !Arrays.equals(first.data(), e.data()))) {
      throw new AssertionError("State Machine Safety (§5.4.3) violated: " + n.id + " applies " + e.index() + "/"
          + e.term() + " but " + first.index() + "/" + first.term() + " was applied there before");
    }
    n.applied = e.index();
  }

  private void checkElectionSafety() {
    for (Node n : nodes.values()) {
      if (n.core != null && n.core.role() == Role.LEADER) {
        String prev = leaderOfTerm.putIfAbsent(n.core.term(), n.id);
        if (prev != null && !prev.equals(n.id)) {
          throw new AssertionError("Election Safety (§5.2) violated: two leaders in term " + n.core.term() + ": "
              + prev + " and " + n.id);
        }
      }
    }
  }

  // ------------------------------------------------------------------ printing

  static String format(RaftMessage m) {
    String head = m.from() + "->" + m.to() + " ";
    return head + switch (m) {
      case RequestVote rv -> (rv.preVote() ? "PreVote" : "RequestVote") + " term=" + rv.term() + " last="
          + rv.lastLogIndex() + "/" + rv.lastLogTerm() + (rv.transfer() ? " transfer" : "");
      case RequestVoteResponse r -> (r.preVote() ? "PreVoteResponse" : "RequestVoteResponse") + " term=" + r.term()
          + (r.granted() ? " granted" : " rejected");
      case AppendEntries ae -> "AppendEntries term=" + ae.term() + " prev=" + ae.prevLogIndex() + "/"
          + ae.prevLogTerm() + " entries=[" + ae.entries().stream().map(e -> e.index() + "/" + e.term())
              .collect(Collectors.joining(" ")) + "] commit=" + ae.leaderCommit();
      case AppendEntriesResponse r -> "AppendEntriesResponse term=" + r.term() + (r.success()
          ? " ok match=" + r.matchIndex()
          : r.hintIndex() < 0 ? " rejected (stale term)"
              : " rejected prev=" + r.matchIndex() + " hint=" + r.hintIndex() + "/" + r.hintTerm());
      case Heartbeat hb -> "Heartbeat term=" + hb.term() + " commit=" + hb.commit()
          + (hb.context() > 0 ? " read#" + hb.context() : "");
      case HeartbeatResponse r -> "HeartbeatResponse term=" + r.term() + (r.context() > 0 ? " read#" + r.context() : "");
      case TimeoutNow t -> "TimeoutNow term=" + t.term();
      case InstallSnapshot is -> "InstallSnapshot term=" + is.term() + " snapshot=" + is.index() + "/"
          + is.snapshotTerm();
      case InstallSnapshotResponse r -> "InstallSnapshotResponse term=" + r.term() + " index=" + r.index()
          + (r.installed() ? " installed" : "");
      case RaftMessage.ForwardProposal f -> "ForwardProposal id=" + f.id();
      case RaftMessage.ForwardRejected r -> "ForwardRejected id=" + r.id() + (r.overloaded() ? " overloaded" : "");
    };
  }

  private static String data(Entry e) {
    if (e.type() == EntryType.ENTRY_NOOP) {
      return "(no-op)";
    }
    if (e.type() == EntryType.ENTRY_CONFIG) {
      return "(config " + Membership.decode(e.data()) + ")";
    }
    String s = new String(e.data(), UTF_8);
    if (s.length() > 24) {
      return s.replaceAll("\\.+$", "") + " (" + e.data().length + " bytes)";
    }
    return s.isEmpty() ? "\"\"" : s;
  }

  private static String roleName(Role r) {
    return switch (r) {
      case FOLLOWER -> "follower";
      case PRE_CANDIDATE -> "pre-candidate";
      case CANDIDATE -> "candidate";
      case LEADER -> "leader";
    };
  }

  // ------------------------------------------------------------------ arguments

  private Node node(String id) {
    Node n = nodes.get(id);
    if (n == null) {
      throw new ScriptError("no node `" + id + "` in this cluster " + nodes.keySet());
    }
    return n;
  }

  private static Node live(Node n) {
    if (n.core == null) {
      throw new ScriptError(n.id + " is down; restart it first");
    }
    return n;
  }

  private Node one(List<String> args) {
    if (args.size() != 1) {
      throw new ScriptError("expected one node, got " + args);
    }
    return node(args.get(0));
  }

  private List<Node> nodesOf(List<String> args, int min) {
    if (args.size() < min) {
      throw new ScriptError("expected at least " + min + " node(s)");
    }
    List<Node> ns = new ArrayList<>();
    for (String a : args) {
      ns.add(node(a));
    }
    return ns;
  }

  private static long longOption(Map<String, String> options, String key, long dflt) {
    String v = options.remove(key);
    return v == null ? dflt : number(key, v);
  }

  private static long number(String what, String v) {
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new ScriptError(what + " must be a number: " + v);
    }
  }

  private static boolean boolOption(Map<String, String> options, String key, boolean dflt) {
    String v = options.remove(key);
    if (v == null) {
      return dflt;
    }
    if (!v.equals("true") && !v.equals("false")) {
      throw new ScriptError(key + " must be true or false: " + v);
    }
    return Boolean.parseBoolean(v);
  }
}
