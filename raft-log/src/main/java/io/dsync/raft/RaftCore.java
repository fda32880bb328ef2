package io.dsync.raft;

import io.dsync.raft.RaftMessage.AppendEntries;
import io.dsync.raft.RaftMessage.AppendEntriesResponse;
import io.dsync.raft.RaftMessage.Heartbeat;
import io.dsync.raft.RaftMessage.HeartbeatResponse;
import io.dsync.raft.RaftMessage.RequestVote;
import io.dsync.raft.RaftMessage.RequestVoteResponse;
import io.dsync.raft.RaftMessage.TimeoutNow;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.HardState;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The Raft protocol as a pure, single-threaded state machine (the shape of etcd's {@code raft}):
 * inputs are {@link #tick(long)}, {@link #step(RaftMessage)} and {@link #propose(List, long)};
 * the output is a {@link Ready} of what to persist, send and apply. It performs no I/O, reads no
 * clock and draws randomness only from the seeded {@link Random} it is given, so a simulation
 * can replay any schedule exactly.
 *
 * <p>Implements leader election (§5.2), log replication with the consistency check (§5.3), the
 * election restriction (§5.4.1), and commits only entries of the current term by counting
 * replicas (§5.4.2), using a no-op entry at the start of each term (§8); PreVote (thesis §9.6),
 * CheckQuorum and leader stickiness (§6.2, §4.2.3), leadership transfer (§3.10), heartbeats that
 * carry a safe commit index, and flow control with PROBE/REPLICATE progress and a bounded window
 * of pipelined appends (etcd's tracker); log compaction with InstallSnapshot (§7) and ReadIndex
 * (thesis §6.4). Membership changes come next.
 *
 * <p>Log layout: entries up to {@link #stableIndex()} are on disk (read through
 * {@link StableLog}); every entry after the last one handed out for apply is also kept in memory,
 * so applying never reads the disk. Only a leader sending to a follower that lags behind the
 * in-memory entries reads them back, at most {@link RaftConfig#maxStableReadBytes()} per
 * {@link #ready()} cycle, so that one catch-up cannot hold up the driver thread.
 *
 * <p>Not thread-safe: one driver thread owns it.
 */
public final class RaftCore {
  /** Read access to the entries already on disk. */
  public interface StableLog {
    /** @return the index of the last entry on disk, or 0 when there is none */
    long lastIndex();

    /** @return the entry at {@code index}, or {@code null} if not on disk */
    Entry entry(long index);

    /** @return entries {@code [from, toExclusive)} in order, at least one if non-empty, about {@code maxBytes} at most */
    List<Entry> entries(long from, long toExclusive, long maxBytes);

    /** @return the last index compacted away (covered by the state snapshot), 0 if none */
    default long snapshotIndex() {
      return 0;
    }

    /** @return the term of the entry at {@link #snapshotIndex()}, 0 if none */
    default long snapshotTerm() {
      return 0;
    }

    /**
     * @return the cluster configuration at {@link #snapshotIndex()}, or null when the snapshot
     *     metadata holds none (no snapshot, or data written before membership changes existed)
     */
    default Membership snapshotConfig() {
      return null;
    }

    /**
     * The config entries in {@code [from, toExclusive)}, in order. Read once, at start.
     * The default reads every entry; implementations may skip the others cheaply.
     */
    default List<Entry> configEntries(long from, long toExclusive) {
      List<Entry> out = new ArrayList<>();
      for (long i = from; i < toExclusive; ) {
        List<Entry> chunk = entries(i, toExclusive, 64L << 20);
        if (chunk.isEmpty()) {
          break;
        }
        for (Entry e : chunk) {
          if (e.type() == EntryType.ENTRY_CONFIG) {
            out.add(e);
          }
        }
        i += chunk.size();
      }
      return out;
    }
  }

  private final String id;
  private final RaftConfig config;
  private final StableLog stable;
  private final Random random;
  /**
   * The configurations in the log (Ongaro thesis §4.1: a node uses the latest, committed or not),
   * by the index of their entry; the first is the one at the snapshot index (from the snapshot's
   * metadata, or the bootstrap configuration at index 0). Truncating a config entry reverts to
   * the one before it; compaction folds everything up to the snapshot into its first key.
   */
  private final TreeMap<Long, Membership> configs = new TreeMap<>();
  /** Bumped whenever {@link #configs} changes, so the driver republishes it only then. */
  private long configVersion;
  private Membership membership;
  private List<String> voters;
  private int quorum;

  private long term;
  private String votedFor;
  private String leaderId;
  private Role role = Role.FOLLOWER;
  private HardState savedHardState;

  /** Entries (appliedHandedOut, lastIndex], in memory; index of the first is {@code memFrom}. */
  private final ArrayList<Entry> mem = new ArrayList<>();
  private long memFrom;
  private long stableIndex;
  private long commitIndex;
  /** The highest commit index a leader's AppendEntries named (unclamped), for {@link #leaderCommit()}. */
  private long leaderCommitSeen;
  private long appliedHandedOut;

  private final Map<String, Progress> progress = new TreeMap<>();
  private final TreeSet<String> votesGranted = new TreeSet<>();
  private final TreeSet<String> votesRejected = new TreeSet<>();
  private long termStartIndex;
  private String leadTransferee;
  private long snapshotIndex;
  private long snapshotTerm;
  private RaftMessage.InstallSnapshot pendingChunk;
  /** ReadIndex requests waiting for a quorum's heartbeat acknowledgements, oldest first. */
  private final java.util.ArrayDeque<PendingRead> pendingReads = new java.util.ArrayDeque<>();
  private final List<Ready.ReadState> readStates = new ArrayList<>();

  private static final class PendingRead {
    final long context;
    final long index;
    final TreeSet<String> acks = new TreeSet<>();

    PendingRead(long context, long index) {
      this.context = context;
      this.index = index;
    }
  }
  private final List<String> snapshotRequests = new ArrayList<>();
  private List<RaftMessage> outbox = new ArrayList<>();
  /**
   * Entry bytes the leader may still read from {@link #stable} for AppendEntries before the next
   * {@link #ready()}, which refills it to {@link RaftConfig#maxStableReadBytes()}. Goes below zero
   * by less than one entry: a read that starts within the budget returns at least one entry.
   */
  private long stableReadBudget;

  private int electionElapsed;
  private int heartbeatElapsed;
  private int randomizedElectionTimeout;
  private long lastTimestampMs;

  private enum ProgressState {
    PROBE,
    REPLICATE,
    SNAPSHOT
  }

  /**
   * A follower's replication progress as the leader sees it (etcd's {@code tracker.Progress}):
   * {@code match} is the highest index known replicated there, {@code next} the next to send.
   */
  private static final class Progress {
    long match;
    long next;
    ProgressState state = ProgressState.PROBE;
    boolean probeSent;
    boolean recentActive;
    long matchAtLastHeartbeat;
    int stalledHeartbeats;
    /** Last index of each AppendEntries in flight (REPLICATE only), oldest first. */
    final java.util.ArrayDeque<Long> inflight = new java.util.ArrayDeque<>();
    /**
     * Whether the last {@code sendAppend} stopped only because the disk-read budget was spent:
     * the leader's next tick sends again, so a follower with nothing in flight (no response to
     * wait for) still catches up.
     */
    boolean readDeferred;
    /** The highest commit index a message to this follower carried (for {@link #broadcastCommit}). */
    long commitSent;

    Progress(long next) {
      this.next = next;
    }

    void becomeProbe(long newNext) {
      state = ProgressState.PROBE;
      stalledHeartbeats = 0;
      next = newNext;
      probeSent = false;
      inflight.clear();
    }

    void becomeSnapshot() {
      state = ProgressState.SNAPSHOT;
      stalledHeartbeats = 0;
      probeSent = false;
      inflight.clear();
    }

    void becomeReplicate() {
      state = ProgressState.REPLICATE;
      next = match + 1;
      probeSent = false;
      inflight.clear();
    }
  }

  /**
   * Restores a node from its durable state.
   *
   * @param config the node's configuration
   * @param hardState the saved term and vote
   * @param stable the entries on disk
   * @param lastApplied the state machine's applied index; entries after it are loaded into memory
   * @param random the source of randomized election timeouts (seeded in simulations)
   */
  public RaftCore(RaftConfig config, HardState hardState, StableLog stable, long lastApplied, Random random) {
    this.id = config.nodeId();
    this.config = config;
    this.stable = stable;
    this.random = random;
    this.term = hardState.term();
    this.votedFor = hardState.votedFor();
    this.savedHardState = hardState;
    this.snapshotIndex = stable.snapshotIndex();
    this.snapshotTerm = stable.snapshotTerm();
    this.stableIndex = Math.max(stable.lastIndex(), snapshotIndex);
    if (lastApplied > stableIndex) {
      throw new IllegalStateException(
          "state machine applied " + lastApplied + " but the log ends at " + stableIndex);
    }
    this.appliedHandedOut = lastApplied;
    this.commitIndex = lastApplied;
    this.memFrom = lastApplied + 1;
    for (long i = memFrom; i <= stableIndex; ) {
      List<Entry> chunk = stable.entries(i, stableIndex + 1, 64L << 20);
      mem.addAll(chunk);
      i += chunk.size();
      if (chunk.isEmpty()) {
        throw new IllegalStateException("log hole at " + i);
      }
    }
    Membership snapshotConfig = stable.snapshotConfig();
    configs.put(snapshotIndex, snapshotConfig != null ? snapshotConfig : config.bootstrapMembership());
    for (Entry e : stable.configEntries(snapshotIndex + 1, memFrom)) {
      configs.put(e.index(), Membership.decode(e.data()));
    }
    for (Entry e : mem) {
      if (e.type() == EntryType.ENTRY_CONFIG) {
        configs.put(e.index(), Membership.decode(e.data()));
        }
    }
    applyMembership(configs.lastEntry().getValue());
    stableReadBudget = config.maxStableReadBytes();
    // Stamps never go back, across restarts too: start from the last entry, in memory or not.
    Entry last = mem.isEmpty() ? (stableIndex > 0 ? stable.entry(stableIndex) : null) : mem.get(mem.size() - 1);
    if (last != null) {
      lastTimestampMs = last.timestampMs();
    }
    resetElectionTimeout();
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Advances logical time by one tick.
   *
   * @param nowMs the driver's clock, used only to stamp entries this node appends as leader
   */
  public void tick(long nowMs) {
    observeTime(nowMs);
    if (role == Role.LEADER) {
      tickLeader();
      return;
    }
    electionElapsed++;
    if (voters.contains(id) && (voters.size() == 1 || electionElapsed >= randomizedElectionTimeout)) {
      electionElapsed = 0;
      if (config.preVote() && voters.size() > 1) {
        preCampaign();
      } else {
        campaign(false);
      }
    }
  }

  private void tickLeader() {
    if (++heartbeatElapsed >= config.heartbeatTicks()) {
      heartbeatElapsed = 0;
      for (Map.Entry<String, Progress> e : progress.entrySet()) {
        Progress pr = e.getValue();
        long ctx = pendingReads.isEmpty() ? 0 : pendingReads.peekLast().context;
        sendHeartbeat(e.getKey(), pr, ctx);
        // A lost AppendEntries in REPLICATE is noticed when a later one is rejected; if it was
        // the last one, nothing follows: after half an election timeout without progress on
        // what is in flight, fall back to PROBE and resend from the match index.
        if (pr.state == ProgressState.SNAPSHOT) {
          // A transfer that has not completed within a few election timeouts is given up; the
          // next append attempt asks the driver for a fresh one.
          if (++pr.stalledHeartbeats * config.heartbeatTicks() >= 6 * config.electionTicks()) {
            pr.becomeProbe(pr.match + 1);
          }
        } else if (pr.state == ProgressState.REPLICATE && !pr.inflight.isEmpty()) {
          pr.stalledHeartbeats = pr.match == pr.matchAtLastHeartbeat ? pr.stalledHeartbeats + 1 : 0;
          if (pr.stalledHeartbeats * config.heartbeatTicks() >= Math.max(2, config.electionTicks() / 2)) {
            pr.becomeProbe(pr.match + 1);
            sendAppend(e.getKey());
          }
        } else {
          pr.stalledHeartbeats = 0;
        }
        pr.matchAtLastHeartbeat = pr.match;
      }
    }
    if (++electionElapsed >= config.electionTicks()) {
      electionElapsed = 0;
      // Thesis §6.2 (CheckQuorum): a leader that has not heard from a quorum in an election
      // timeout may be partitioned away; it steps down rather than serve stale leadership.
      if (config.checkQuorum() && voters.size() > 1) {
        int active = membership.isVoter(id) ? 1 : 0;
        for (Map.Entry<String, Progress> e : progress.entrySet()) {
          if (e.getValue().recentActive && membership.isVoter(e.getKey())) {
            active++; // learners neither vote nor keep a leader in office
          }
          e.getValue().recentActive = false;
        }
        if (active < quorum) {
          becomeFollower(term, null);
          return;
        }
      }
      if (leadTransferee != null) {
        leadTransferee = null; // the transfer did not complete within an election timeout
      }
    }
    if (heartbeatElapsed == 0) {
      maybePromoteLearner();
    }
    // Catch-up cut short by the disk-read budget resumes at the latest here (a response from the
    // follower resumes it earlier, but one with nothing in flight sends none).
    for (Map.Entry<String, Progress> e : progress.entrySet()) {
      if (e.getValue().readDeferred) {
        sendAppend(e.getKey());
      }
    }
  }

  /**
   * Promotes one learner that has caught up (thesis §4.2.1: a new server joins as a non-voting
   * member until its log is close to the leader's, so adding it costs no availability): in
   * REPLICATE, within {@link RaftConfig#maxInflightAppends()} entries of the commit index.
   */
  private void maybePromoteLearner() {
    if (!canChangeConfig()) {
      return;
    }
    for (String learner : membership.learners()) {
      Progress pr = progress.get(learner);
      if (pr != null && pr.state == ProgressState.REPLICATE && pr.match + config.maxInflightAppends() >= commitIndex) {
        Membership.Member m = membership.members().get(learner);
        appendConfig(membership.with(new Membership.Member(m.id(), m.raftAddress(), m.httpAddress(), true)));
        return;
      }
    }
  }

  /**
   * Appends commands as new entries of the current term.
   *
   * @param commands command bytes, in order
   * @param nowMs the leader's clock, stamped on the entries (clamped so that stamps never go
   *     back along the log: not below any entry this node holds or held, whoever appended it)
   * @return the index of the first new entry
   * @throws NotLeaderException if this node is not the leader, or is handing leadership over
   */
  public long propose(List<byte[]> commands, long nowMs) {
    return propose(commands, null, nowMs);
  }

  /**
   * The same as {@link #propose(List, long)}, each entry tagged with the follower that forwarded
   * its command ({@link Entry#originNode()}, {@link Entry#originId()}).
   *
   * @param origins parallel to {@code commands}: the forwarding node's id and its proposal id, or
   *     {@code null} for a command proposed here; {@code origins} itself may be {@code null}
   */
  public long propose(List<byte[]> commands, List<Map.Entry<String, Long>> origins, long nowMs) {
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "not the leader; leader is " + leaderId);
    }
    if (leadTransferee != null) {
      throw new NotLeaderException(null, "leadership is being transferred to " + leadTransferee);
    }
    observeTime(nowMs);
    long first = lastIndex() + 1;
    for (int i = 0; i < commands.size(); i++) {
      Map.Entry<String, Long> o = origins == null ? null : origins.get(i);
      mem.add(o == null
          ? new Entry(lastIndex() + 1, term, EntryType.ENTRY_NORMAL, lastTimestampMs, commands.get(i))
          : new Entry(lastIndex() + 1, term, EntryType.ENTRY_NORMAL, lastTimestampMs, commands.get(i), o.getKey(),
              o.getValue()));
    }
    broadcastAppend();
    maybeCommit();
    return first;
  }

  /**
   * Starts handing leadership to {@code target} (thesis §3.10): proposals are refused, the target
   * is brought up to date, then told to campaign at once ({@link TimeoutNow}). Abandoned if it
   * does not complete within an election timeout.
   *
   * @param target a voter other than this node
   * @throws NotLeaderException if this node is not the leader
   * @throws IllegalArgumentException if {@code target} is not another voter
   */
  public void transferLeadership(String target) {
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "only the leader can transfer leadership; leader is " + leaderId);
    }
    if (target.equals(id)) {
      return;
    }
    if (!progress.containsKey(target) || !membership.isVoter(target)) {
      throw new IllegalArgumentException("'" + target + "' is not a voter of this cluster: " + voters);
    }
    leadTransferee = target;
    electionElapsed = 0;
    Progress pr = progress.get(target);
    if (pr.match == lastIndex()) {
      outbox.add(new TimeoutNow(id, target, term));
    } else {
      sendAppend(target);
    }
  }

  /**
   * Asks for a linearizable read point (Ongaro thesis §6.4, ReadIndex): the current commit index,
   * confirmed by a round of heartbeats acknowledged by a quorum, so that no newer leader can have
   * committed anything this node does not know. The answer comes as a {@link Ready.ReadState}
   * with {@code context}; serve the read once the state machine applied its index.
   *
   * @param context a positive id, increasing from call to call on this node
   * @throws NotLeaderException if this node is not the leader, or has not yet committed an entry
   *     of its term (its commit index may then be stale, §6.4 step 1)
   */
  public void readIndex(long context) {
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "not the leader; leader is " + leaderId);
    }
    if (commitIndex < termStartIndex) {
      throw new NotLeaderException(id, "the new leader has not committed an entry of its term yet; retry");
    }
    if (voters.size() == 1 && voters.contains(id)) {
      readStates.add(new Ready.ReadState(context, commitIndex));
      return;
    }
    pendingReads.addLast(new PendingRead(context, commitIndex));
    for (Map.Entry<String, Progress> e : progress.entrySet()) {
      sendHeartbeat(e.getKey(), e.getValue(), context);
    }
  }

  /**
   * Handles a message from a peer.
   *
   * @param m the message; messages not addressed to this node are ignored
   */
  public void step(RaftMessage m) {
    if (!id.equals(m.to()) || m instanceof RaftMessage.ForwardProposal || m instanceof RaftMessage.ForwardRejected) {
      return; // forwarded proposals are RaftNode's: not Raft RPCs, their terms change nothing here
    }
    if (m.term() > term) {
      if (m instanceof RequestVote rv) {
        // Thesis §4.2.3 / §6.2: while a follower hears from a leader it ignores candidates, so a
        // node that was cut off cannot depose a working leader. A transfer overrides this.
        boolean inLease = config.checkQuorum() && leaderId != null && electionElapsed < config.electionTicks();
        if (inLease && !rv.transfer()) {
          return;
        }
        if (rv.preVote()) {
          handleRequestVote(rv); // a pre-vote changes no term
          return;
        }
        becomeFollower(m.term(), null);
      } else if (m instanceof RequestVoteResponse r && r.preVote() && r.granted()) {
        // a granted pre-vote carries the future term; it is counted below, the term stays
      } else {
        boolean fromLeader = m instanceof AppendEntries || m instanceof Heartbeat || m instanceof TimeoutNow
            || m instanceof RaftMessage.InstallSnapshot;
        becomeFollower(m.term(), fromLeader ? m.from() : null);
      }
    } else if (m.term() < term) {
      if (m instanceof AppendEntries || m instanceof Heartbeat || m instanceof RaftMessage.InstallSnapshot) {
        // A stale leader learns the new term from the reply and steps down (needed with
        // CheckQuorum/PreVote, where a higher-term node may otherwise never reach it).
        outbox.add(new AppendEntriesResponse(id, m.from(), term, false, 0, -1, -1)); // only the term matters
      } else if (m instanceof RequestVote rv) {
        outbox.add(new RequestVoteResponse(id, rv.from(), term, false, rv.preVote()));
      }
      return;
    }
    switch (m) {
      case RequestVote rv -> handleRequestVote(rv);
      case RequestVoteResponse r -> handleVoteResponse(r);
      case AppendEntries ae -> handleAppendEntries(ae);
      case AppendEntriesResponse r -> handleAppendResponse(r);
      case Heartbeat hb -> handleHeartbeat(hb);
      case HeartbeatResponse r -> handleHeartbeatResponse(r);
      case TimeoutNow t -> handleTimeoutNow(t);
      case RaftMessage.InstallSnapshot is -> handleInstallSnapshot(is);
      case RaftMessage.InstallSnapshotResponse r -> handleInstallSnapshotResponse(r);
      case RaftMessage.ForwardProposal f -> throw new AssertionError("unreachable: returned above");
      case RaftMessage.ForwardRejected r -> throw new AssertionError("unreachable: returned above");
    }
  }

  // ---------------------------------------------------------------- outputs

  /** @return whether {@link #ready()} has anything to do */
  public boolean hasReady() {
    return !outbox.isEmpty()
        || pendingChunk != null
        || !snapshotRequests.isEmpty()
        || !readStates.isEmpty()
        || !currentHardState().equals(savedHardState)
        || lastIndex() > stableIndex
        || Math.min(commitIndex, stableIndex) > appliedHandedOut
        || commitToBroadcast();
  }

  /** @return whether a follower has not been told of a commit it could learn ({@link #broadcastCommit}) */
  private boolean commitToBroadcast() {
    if (role != Role.LEADER) {
      return false;
    }
    for (Map.Entry<String, Progress> e : progress.entrySet()) {
      if (owesCommit(e.getKey(), e.getValue())) {
        return true;
      }
    }
    return false;
  }

  /**
   * Collects the work for the driver. Call {@link #advance(Ready)} once it is done, before any
   * other input. Also starts a new driver cycle for the leader's disk reads: the inputs stepped
   * between two calls share {@link RaftConfig#maxStableReadBytes()} bytes of entries read back
   * from the stable log for lagging followers.
   */
  public Ready ready() {
    stableReadBudget = config.maxStableReadBytes();
    if (role == Role.LEADER) {
      broadcastCommit();
    }
    HardState hs = currentHardState();
    // Entries never share a Ready with a snapshot's last chunk: they are persisted after it.
    boolean installing = pendingChunk != null && pendingChunk.last();
    List<Entry> toPersist = !installing && lastIndex() > stableIndex
        ? List.copyOf(memSlice(stableIndex + 1, lastIndex() + 1)) : List.of();
    RaftMessage.InstallSnapshot chunk = pendingChunk;
    pendingChunk = null;
    // Raft §7: the last chunk replaces the state machine's state with the snapshot's, which
    // already contains every entry up to its index; the driver installs it before applying. So
    // a Ready that installs a snapshot applies nothing: entries committed in the same batch (a
    // heartbeat stepped just before the chunk) would otherwise be applied a second time, on top
    // of the restored state. advance() then resumes applying after the snapshot's index.
    long applyTo = chunk != null && chunk.last() ? appliedHandedOut : Math.min(commitIndex, stableIndex);
    List<Entry> toApply =
        applyTo > appliedHandedOut ? List.copyOf(memSlice(appliedHandedOut + 1, applyTo + 1)) : List.of();
    List<RaftMessage> msgs = outbox;
    outbox = new ArrayList<>();
    List<String> snapshots = List.copyOf(snapshotRequests);
    snapshotRequests.clear();
    List<Ready.ReadState> reads = List.copyOf(readStates);
    readStates.clear();
    return new Ready(hs.equals(savedHardState) ? null : hs, stableIndex + 1, toPersist, msgs, toApply, chunk,
        snapshots, reads);
  }

  /**
   * Tells followers at once when the commit index moved past what they were last told, as etcd's
   * leader does after a commit (a {@link Heartbeat} carrying {@code min(commit, match)}); every
   * AppendEntries and heartbeat records what it told ({@code Progress.commitSent}), so a follower
   * already told in this batch gets nothing more. Without it, a follower learned of a commit only
   * with the next append or heartbeat (up to a heartbeat interval later), and a client waiting on
   * a follower (a forwarded proposal answers once the follower applied it; follower reads) waited
   * that long too.
   */
  private void broadcastCommit() {
    for (Map.Entry<String, Progress> e : progress.entrySet()) {
      Progress pr = e.getValue();
      if (owesCommit(e.getKey(), pr)) {
        sendHeartbeat(e.getKey(), pr, 0);
      }
    }
  }

  /** @return whether follower {@code peer} could learn a commit no message told it yet */
  private boolean owesCommit(String peer, Progress pr) {
    return !peer.equals(id) && Math.min(commitIndex, pr.match) > pr.commitSent;
  }

  /** Queues a heartbeat carrying {@code min(commit, match)} (§5.3: only entries it holds) and the read context. */
  private void sendHeartbeat(String peer, Progress pr, long context) {
    long c = Math.min(pr.match, commitIndex);
    outbox.add(new Heartbeat(id, peer, term, c, context));
    pr.commitSent = Math.max(pr.commitSent, c);
  }

  /**
   * Records that the driver persisted, sent and queued for apply what {@code rd} asked.
   *
   * @param rd the value returned by the last {@link #ready()}
   */
  public void advance(Ready rd) {
    if (rd.hardState() != null) {
      savedHardState = rd.hardState();
    }
    if (rd.snapshotChunk() != null && rd.snapshotChunk().last()) {
      // The driver replaced the state with the snapshot and emptied the log (Raft §7: "discard
      // the entire log"); the log now starts after the snapshot.
      RaftMessage.InstallSnapshot c = rd.snapshotChunk();
      // Raft §7: entries after the snapshot are kept when the log holds the snapshot's last
      // entry (same index and term) — they may have been acknowledged to the leader already.
      List<Entry> suffix = List.of();
      if (lastIndex() > c.index() && termAt(c.index()) == c.snapshotTerm() && c.index() + 1 >= memFrom) {
        suffix = List.copyOf(memSlice(c.index() + 1, lastIndex() + 1));
      }
      long oldStable = stableIndex;
      mem.clear();
      mem.addAll(suffix);
      memFrom = c.index() + 1;
      stableIndex = Math.max(c.index(), Math.min(oldStable, c.index() + suffix.size()));
      snapshotIndex = c.index();
      snapshotTerm = c.snapshotTerm();
      commitIndex = Math.max(commitIndex, c.index());
      appliedHandedOut = c.index();
      Membership snapshotConfig = c.config().length > 0 ? Membership.decode(c.config()) : configAt(c.index());
      configs.clear();
      configs.put(c.index(), snapshotConfig);
      for (Entry e : suffix) {
        if (e.type() == EntryType.ENTRY_CONFIG) {
          configs.put(e.index(), Membership.decode(e.data()));
        }
      }
      applyMembership(configs.lastEntry().getValue());
      return;
    }
    if (!rd.entries().isEmpty()) {
      stableIndex = rd.entries().get(rd.entries().size() - 1).index();
      if (role == Role.LEADER) {
        maybeCommit();
      }
    }
    if (!rd.committedEntries().isEmpty()) {
      appliedHandedOut = rd.committedEntries().get(rd.committedEntries().size() - 1).index();
      int drop = (int) (appliedHandedOut - memFrom + 1);
      mem.subList(0, drop).clear();
      memFrom = appliedHandedOut + 1;
    }
  }

  // ---------------------------------------------------------------- status

  /** @return this node's id */
  public String id() {
    return id;
  }

  /** @return the current term */
  public long term() {
    return term;
  }

  /** @return the current role */
  public Role role() {
    return role;
  }

  /** @return the leader of the current term as far as this node knows, or {@code null} */
  public String leaderId() {
    return leaderId;
  }

  /** @return the highest index known to be committed */
  public long commitIndex() {
    return commitIndex;
  }

  /**
   * @return the leader's commit index as far as this node knows: its own on the leader; on a
   *     follower the highest one an AppendEntries carried (before clamping to this node's log), so
   *     {@code leaderCommit() - applied} tells how far behind the cluster this node is. Commit
   *     indexes never go back, so it needs no reset at a term change.
   */
  public long leaderCommit() {
    return Math.max(commitIndex, leaderCommitSeen);
  }

  /** @return the index of the last entry, durable or not */
  public long lastIndex() {
    return memFrom + mem.size() - 1;
  }

  /** @return the index of the last entry on disk */
  public long stableIndex() {
    return stableIndex;
  }

  /** @return the voting members, sorted */
  public List<String> voters() {
    return voters;
  }

  /**
   * @return each member's (voters' and learners') match index as the leader tracks it (this node:
   *     its stable index); empty unless leader
   */
  public Map<String, Long> matchIndexes() {
    if (role != Role.LEADER) {
      return Map.of();
    }
    Map<String, Long> out = new TreeMap<>();
    for (String v : membership.members().keySet()) {
      Progress pr = progress.get(v);
      out.put(v, v.equals(id) ? stableIndex : pr == null ? 0 : pr.match);
    }
    return Collections.unmodifiableMap(out);
  }

  // ---------------------------------------------------------------- elections (§5.2)

  /** Thesis §9.6: ask whether we could win before disturbing anyone with a higher term. */
  private void preCampaign() {
    role = Role.PRE_CANDIDATE;
    leaderId = null;
    votesGranted.clear();
    votesRejected.clear();
    votesGranted.add(id);
    resetElectionTimeout();
    long lastIndex = lastIndex();
    long lastTerm = termAt(lastIndex);
    for (String peer : voters) {
      if (!peer.equals(id)) {
        outbox.add(new RequestVote(id, peer, term + 1, lastIndex, lastTerm, true, false));
      }
    }
  }

  private void campaign(boolean transfer) {
    role = Role.CANDIDATE;
    term++;
    votedFor = id;
    leaderId = null;
    votesGranted.clear();
    votesRejected.clear();
    votesGranted.add(id);
    // §5.2: a candidate restarts its randomized timeout at the start of each election and waits
    // for it to elapse before the next; without the reset it would campaign again on every tick.
    electionElapsed = 0;
    resetElectionTimeout();
    if (votesGranted.size() >= quorum) {
      becomeLeader();
      return;
    }
    long lastIndex = lastIndex();
    long lastTerm = termAt(lastIndex);
    for (String peer : voters) {
      if (!peer.equals(id)) {
        outbox.add(new RequestVote(id, peer, term, lastIndex, lastTerm, false, transfer));
      }
    }
  }

  private void handleRequestVote(RequestVote rv) {
    long myLastIndex = lastIndex();
    long myLastTerm = termAt(myLastIndex);
    // §5.4.1: the candidate's log must be at least as up-to-date as ours.
    boolean upToDate = rv.lastLogTerm() > myLastTerm
        || (rv.lastLogTerm() == myLastTerm && rv.lastLogIndex() >= myLastIndex);
    if (rv.preVote()) {
      // A pre-vote is granted on the log alone and changes nothing here.
      boolean grant = rv.term() > term && upToDate;
      outbox.add(new RequestVoteResponse(id, rv.from(), grant ? rv.term() : term, grant, true));
      if (grant && role == Role.PRE_CANDIDATE && yieldsTo(rv, myLastTerm, myLastIndex)) {
        // Two followers whose timeouts fired close together would both pass their pre-votes and
        // then split the real vote, costing a whole extra election timeout. The one with the
        // weaker claim (older log, or the same log and the larger id) stands down and restarts its
        // timer: the other one, which it just granted, completes the election. Liveness only: a
        // pre-vote changes no durable state (thesis §9.6).
        becomeFollower(term, null);
      }
      return;
    }
    boolean grant = rv.term() == term && (votedFor == null || votedFor.equals(rv.from())) && upToDate;
    if (grant) {
      votedFor = rv.from();
      electionElapsed = 0;
    }
    outbox.add(new RequestVoteResponse(id, rv.from(), term, grant, false));
  }

  /**
   * @return whether the pre-candidate {@code rv.from()} has the stronger claim than this
   *     pre-candidate: a more up-to-date log (Raft §5.4.1), or the same log and a smaller id
   */
  private boolean yieldsTo(RequestVote rv, long myLastTerm, long myLastIndex) {
    if (rv.lastLogTerm() != myLastTerm) {
      return rv.lastLogTerm() > myLastTerm;
    }
    if (rv.lastLogIndex() != myLastIndex) {
      return rv.lastLogIndex() > myLastIndex;
    }
    return rv.from().compareTo(id) < 0;
  }

  private void handleVoteResponse(RequestVoteResponse r) {
    boolean counts = r.preVote()
        ? role == Role.PRE_CANDIDATE && (r.granted() ? r.term() == term + 1 : r.term() == term)
        : role == Role.CANDIDATE && r.term() == term;
    if (!counts) {
      return;
    }
    if (!membership.isVoter(r.from())) {
      return; // a learner's (or a stranger's) vote does not count (thesis §4.2.1)
    }
    (r.granted() ? votesGranted : votesRejected).add(r.from());
    if (votesGranted.size() >= quorum) {
      if (role == Role.PRE_CANDIDATE) {
        campaign(false);
      } else {
        becomeLeader();
      }
    } else if (votesRejected.size() >= quorum) {
      becomeFollower(term, null);
    }
  }

  private void handleTimeoutNow(TimeoutNow t) {
    if (role != Role.LEADER && voters.contains(id)) {
      campaign(true); // thesis §3.10: no pre-vote, and voters grant despite their leader lease
    }
  }

  private void becomeFollower(long newTerm, String leader) {
    while (!pendingReads.isEmpty()) {
      readStates.add(new Ready.ReadState(pendingReads.removeFirst().context, -1)); // refused
    }
    if (newTerm > term) {
      term = newTerm;
      votedFor = null;
    }
    role = Role.FOLLOWER;
    leaderId = leader;
    leadTransferee = null;
    electionElapsed = 0;
    resetElectionTimeout();
  }

  private void becomeLeader() {
    role = Role.LEADER;
    leaderId = id;
    leadTransferee = null;
    heartbeatElapsed = 0;
    electionElapsed = 0;
    progress.clear();
    for (String peer : membership.members().keySet()) {
      if (!peer.equals(id)) {
        progress.put(peer, new Progress(lastIndex() + 1));
      }
    }
    // §8: a no-op of the new term lets earlier terms' entries commit (§5.4.2).
    termStartIndex = lastIndex() + 1;
    mem.add(new Entry(termStartIndex, term, EntryType.ENTRY_NOOP, lastTimestampMs, new byte[0]));
    broadcastAppend();
    maybeCommit();
  }

  // ---------------------------------------------------------------- replication (§5.3)

  private void broadcastAppend() {
    for (String peer : progress.keySet()) {
      sendAppend(peer);
    }
  }

  /**
   * Sends what the follower lacks, as flow control allows: in PROBE one message at a time until
   * the follower answers; in REPLICATE optimistically (pipelined), up to
   * {@link RaftConfig#maxInflightAppends()} messages of at most {@link RaftConfig#maxAppendBytes()}
   * each (etcd's {@code tracker.Progress} states). Entries no longer in memory are read from disk
   * only while {@link #stableReadBudget} lasts; past it the follower is marked
   * {@link Progress#readDeferred} and served again on its next response or the next tick. Only
   * the timing of messages changes: what is sent, and every safety check, is as before.
   */
  private void sendAppend(String peer) {
    Progress pr = progress.get(peer);
    pr.readDeferred = false;
    while (true) {
      if (pr.state == ProgressState.SNAPSHOT) {
        return; // the driver is streaming a snapshot; appends resume once it is installed
      }
      if (pr.next <= snapshotIndex) {
        // The entries this follower needs were compacted away (Raft §7): send a snapshot.
        pr.becomeSnapshot();
        snapshotRequests.add(peer);
        return;
      }
      if (pr.state == ProgressState.PROBE && pr.probeSent) {
        return;
      }
      if (pr.state == ProgressState.REPLICATE
          && (pr.next > lastIndex() || pr.inflight.size() >= config.maxInflightAppends())) {
        return;
      }
      long prev = pr.next - 1;
      List<Entry> entries;
      if (pr.next > lastIndex()) {
        entries = List.of();
      } else if (pr.next >= memFrom) {
        entries = entriesFrom(pr.next, config.maxAppendBytes());
      } else {
        if (stableReadBudget <= 0) {
          pr.readDeferred = true; // resumed by the next response or tick, after ready() refills
          return;
        }
        entries = entriesFrom(pr.next, Math.min(config.maxAppendBytes(), stableReadBudget));
        for (Entry e : entries) {
          stableReadBudget -= e.approximateBytes();
        }
      }
      outbox.add(new AppendEntries(id, peer, term, prev, termAt(prev), entries, commitIndex));
      // the follower takes min(commit, last entry sent) from it (§5.3)
      pr.commitSent = Math.max(pr.commitSent, Math.min(commitIndex, entries.isEmpty() ? prev : entries.getLast().index()));
      if (pr.state == ProgressState.PROBE) {
        pr.probeSent = true;
        return;
      }
      long last = entries.get(entries.size() - 1).index();
      pr.inflight.addLast(last);
      pr.next = last + 1;
    }
  }

  private void handleAppendEntries(AppendEntries ae) {
    leaderCommitSeen = Math.max(leaderCommitSeen, ae.leaderCommit());
    becomeFollowerOf(ae.from());
    long prev = ae.prevLogIndex();
    boolean matches = prev <= commitIndex || (prev <= lastIndex() && termAt(prev) == ae.prevLogTerm());
    if (!matches) {
      long hintIndex = Math.min(prev - 1, lastIndex());
      outbox.add(new AppendEntriesResponse(id, ae.from(), term, false, prev, hintIndex, termAt(hintIndex)));
      return;
    }
    for (Entry e : ae.entries()) {
      if (e.index() <= commitIndex) {
        continue; // committed entries are identical on every node (Log Matching)
      }
      if (e.index() <= lastIndex()) {
        if (termAt(e.index()) == e.term()) {
          continue;
        }
        truncateFrom(e.index());
      }
      mem.add(e);
      onAppended(e);
      // A follower that becomes leader must not stamp below an earlier leader's clock.
      observeTime(e.timestampMs());
    }
    long lastNew = prev + ae.entries().size();
    if (ae.leaderCommit() > commitIndex) {
      commitIndex = Math.max(commitIndex, Math.min(ae.leaderCommit(), lastNew));
    }
    outbox.add(new AppendEntriesResponse(id, ae.from(), term, true, lastNew, lastNew, -1));
  }

  private void handleHeartbeat(Heartbeat hb) {
    becomeFollowerOf(hb.from());
    // hb.commit <= this follower's match index at the leader, so those entries are ours.
    long commit = Math.min(hb.commit(), lastIndex());
    if (commit > commitIndex) {
      commitIndex = commit;
    }
    outbox.add(new HeartbeatResponse(id, hb.from(), term, hb.context()));
  }

  private void becomeFollowerOf(String leader) {
    if (role != Role.FOLLOWER || !leader.equals(leaderId)) {
      becomeFollower(term, leader);
    }
    electionElapsed = 0;
  }

  /**
   * @return the progress of the follower that sent {@code r}, marked recently active
   *     (CheckQuorum), or null when this node does not lead or the sender is not a peer
   */
  private Progress respondent(RaftMessage r) {
    if (role != Role.LEADER) {
      return null;
    }
    Progress pr = progress.get(r.from());
    if (pr != null) {
      pr.recentActive = true;
    }
    return pr;
  }

  private void handleAppendResponse(AppendEntriesResponse r) {
    Progress pr = respondent(r);
    if (pr == null) {
      return;
    }
    if (r.success()) {
      boolean advanced = r.matchIndex() > pr.match;
      if (advanced) {
        pr.match = r.matchIndex();
        pr.next = Math.max(pr.next, pr.match + 1);
        while (!pr.inflight.isEmpty() && pr.inflight.peekFirst() <= pr.match) {
          pr.inflight.removeFirst();
        }
        maybeCommit();
      }
      if (pr.state == ProgressState.PROBE && r.matchIndex() >= pr.next - 1) {
        pr.becomeReplicate(); // the probe matched: stream from here
      }
      if (advanced && r.from().equals(leadTransferee) && pr.match == lastIndex()) {
        outbox.add(new TimeoutNow(id, r.from(), term));
      }
      sendAppend(r.from());
      return;
    }
    // A rejection: stale ones (for a probe already answered, or below the match) are ignored.
    if (r.matchIndex() <= pr.match || (pr.state == ProgressState.PROBE && r.matchIndex() != pr.next - 1)) {
      return;
    }
    // Fast backtracking: skip every entry of a term above the follower's hint term at once.
    long next = Math.min(r.hintIndex(), r.matchIndex() - 1);
    if (r.hintTerm() >= 0) {
      while (next > pr.match && termAt(next) > r.hintTerm()) {
        next--;
      }
    }
    pr.becomeProbe(Math.max(pr.match + 1, next + 1));
    sendAppend(r.from());
  }

  private void handleHeartbeatResponse(HeartbeatResponse r) {
    Progress pr = respondent(r);
    if (pr == null) {
      return;
    }
    if (pr.state == ProgressState.PROBE) {
      pr.probeSent = false; // a heartbeat round trip unpauses a probe whose message was lost
    }
    if (r.context() > 0) {
      // The follower still follows this term's leader as of read `context`: it acknowledges
      // every read requested up to then (contexts increase).
      for (PendingRead pending : pendingReads) {
        if (pending.context <= r.context() && membership.isVoter(r.from())) {
          pending.acks.add(r.from());
        }
      }
      int self = membership.isVoter(id) ? 1 : 0;
      while (!pendingReads.isEmpty() && pendingReads.peekFirst().acks.size() + self >= quorum) {
        PendingRead done = pendingReads.removeFirst();
        readStates.add(new Ready.ReadState(done.context, done.index));
      }
    }
    if (pr.match < lastIndex()) {
      sendAppend(r.from());
    }
  }

  private void handleInstallSnapshot(RaftMessage.InstallSnapshot is) {
    becomeFollowerOf(is.from());
    if (is.index() <= commitIndex) {
      // Already holds everything the snapshot covers: nothing to install.
      outbox.add(new RaftMessage.InstallSnapshotResponse(id, is.from(), term, commitIndex, is.seq(), true));
      return;
    }
    pendingChunk = is; // written by the driver before the acknowledgement below goes out
    outbox.add(new RaftMessage.InstallSnapshotResponse(id, is.from(), term, is.index(), is.seq(), is.last()));
  }

  private void handleInstallSnapshotResponse(RaftMessage.InstallSnapshotResponse r) {
    Progress pr = respondent(r);
    if (pr == null) {
      return;
    }
    if (r.installed()) {
      pr.match = Math.max(pr.match, r.index());
      pr.becomeProbe(pr.match + 1);
      maybeCommit();
      sendAppend(r.from());
    }
  }

  /**
   * Records that the driver compacted the log: entries up to {@code index} are gone from disk and
   * their effect lives in the state snapshot (Raft §7).
   *
   * @param index the last compacted index; at most the last index handed out for apply
   * @param term the term of the entry at {@code index}
   * @throws IllegalArgumentException if {@code index} was not applied yet
   */
  public void compacted(long index, long term) {
    if (index > appliedHandedOut) {
      throw new IllegalArgumentException("cannot compact " + index + " beyond the applied " + appliedHandedOut);
    }
    if (index > snapshotIndex) {
      Membership at = configAt(index);
      configs.headMap(index, true).clear();
      configs.put(index, at);
      configVersion++;
      snapshotIndex = index;
      snapshotTerm = term;
    }
  }

  /** @return the last compacted index (0 if none) */
  public long snapshotIndex() {
    return snapshotIndex;
  }

  private void maybeCommit() {
    if (voters.isEmpty()) {
      return;
    }
    long[] matches = new long[voters.size()];
    int i = 0;
    for (String v : voters) {
      Progress pr = progress.get(v);
      // A leader that is removing itself replicates the change without counting itself (thesis §4.2.2).
      matches[i++] = v.equals(id) ? stableIndex : pr == null ? 0 : pr.match;
    }
    java.util.Arrays.sort(matches);
    long quorumIndex = matches[voters.size() - quorum];
    // §5.4.2: only entries of the current term are committed by counting replicas.
    if (quorumIndex > commitIndex && quorumIndex >= termStartIndex) {
      commitIndex = quorumIndex;
      if (!membership.isVoter(id) && configs.lastKey() <= commitIndex) {
        stepDownRemoved();
      }
    }
  }

  /**
   * Thesis §4.2.2: a leader whose removal is committed steps down. It hands leadership to the most
   * up-to-date voter at once (TimeoutNow), so the cluster need not wait an election timeout.
   */
  private void stepDownRemoved() {
    String best = null;
    long bestMatch = -1;
    for (String v : voters) {
      Progress pr = progress.get(v);
      if (pr != null && pr.match > bestMatch) {
        best = v;
        bestMatch = pr.match;
      }
    }
    if (best != null && bestMatch == lastIndex()) {
      outbox.add(new TimeoutNow(id, best, term));
    }
    becomeFollower(term, null);
  }

  // ---------------------------------------------------------------- membership (thesis §4)

  /**
   * Adds a learner (thesis §4.2.1): it receives the log and is promoted to voter by the leader
   * once caught up.
   *
   * @param member the new member (its {@code voter} flag is ignored: it starts as a learner)
   * @return the index of the config entry; the change is in effect on this node at once and
   *     done once that index is committed
   * @throws NotLeaderException if this node does not lead (or is handing leadership over)
   * @throws IllegalStateException if a configuration change is still uncommitted or this leader
   *     has not committed an entry of its term yet (retry shortly)
   * @throws IllegalArgumentException if the id is already a member
   */
  public long addLearner(Membership.Member member) {
    checkCanChangeConfig();
    if (membership.members().containsKey(member.id())) {
      throw new IllegalArgumentException("'" + member.id() + "' is already a member");
    }
    return appendConfig(membership.with(
        new Membership.Member(member.id(), member.raftAddress(), member.httpAddress(), false)));
  }

  /**
   * Removes a voter or a learner: one voter at a time, so any majority of the old configuration
   * overlaps any majority of the new one (thesis §4.1). Removing the leader itself is allowed: it
   * keeps leading until the change commits, not counting itself, then steps down (§4.2.2).
   *
   * @param memberId the member to remove
   * @return the index of the config entry
   * @throws NotLeaderException if this node does not lead
   * @throws IllegalStateException if a configuration change is still uncommitted or this leader
   *     has not committed an entry of its term yet
   * @throws IllegalArgumentException if it is not a member, or is the last voter
   */
  public long removeMember(String memberId) {
    checkCanChangeConfig();
    if (!membership.members().containsKey(memberId)) {
      throw new IllegalArgumentException("'" + memberId + "' is not a member");
    }
    if (membership.isVoter(memberId) && voters.size() == 1) {
      throw new IllegalArgumentException("'" + memberId + "' is the last voter; it cannot be removed");
    }
    return appendConfig(membership.without(memberId));
  }

  private void checkCanChangeConfig() {
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "not the leader; leader is " + leaderId);
    }
    if (leadTransferee != null) {
      throw new NotLeaderException(null, "leadership is being transferred to " + leadTransferee);
    }
    if (!canChangeConfig()) {
      throw new IllegalStateException(commitIndex < termStartIndex
          ? "the new leader has not committed an entry of its term yet; retry"
          : "a configuration change is in progress (entry " + configs.lastKey() + "); retry once it commits");
    }
  }

  /**
   * Thesis §4.1: one change at a time — the previous config entry must be committed — and, to
   * close the single-server-change bug Ongaro described on raft-dev (2015), not before this
   * leader committed an entry of its own term.
   */
  private boolean canChangeConfig() {
    return role == Role.LEADER && leadTransferee == null && configs.lastKey() <= commitIndex
        && commitIndex >= termStartIndex;
  }

  private long appendConfig(Membership next) {
    Entry e = new Entry(lastIndex() + 1, term, EntryType.ENTRY_CONFIG, lastTimestampMs, next.encode());
    mem.add(e);
    onAppended(e);
    broadcastAppend();
    maybeCommit();
    return e.index();
  }

  /** A config entry takes effect as soon as it is in the log (thesis §4.1). */
  private void onAppended(Entry e) {
    if (e.type() == EntryType.ENTRY_CONFIG) {
      configs.put(e.index(), Membership.decode(e.data()));
      applyMembership(configs.lastEntry().getValue());
    }
  }

  private void applyMembership(Membership m) {
    configVersion++;
    membership = m;
    voters = m.voters();
    quorum = voters.size() / 2 + 1;
    if (role == Role.LEADER) {
      for (String peer : m.members().keySet()) {
        if (!peer.equals(id) && !progress.containsKey(peer)) {
          progress.put(peer, new Progress(lastIndex() + 1));
        }
      }
      progress.keySet().removeIf(p -> !m.members().containsKey(p));
      if (leadTransferee != null && !m.isVoter(leadTransferee)) {
        leadTransferee = null;
      }
    }
  }

  /** @return a counter that changes whenever {@link #configHistory()} would change */
  public long configVersion() {
    return configVersion;
  }

  /**
   * @return a copy of the configurations from the snapshot index on, by the index where each
   *     took effect (for the driver's snapshot sender, which runs on another thread)
   */
  public java.util.NavigableMap<Long, Membership> configHistory() {
    return Collections.unmodifiableNavigableMap(new TreeMap<>(configs));
  }

  /** @return the configuration in effect: the latest in the log, committed or not */
  public Membership membership() {
    return membership;
  }

  /**
   * @param index a log index at or after the snapshot index
   * @return the configuration in effect at {@code index} (the latest config entry at or before it)
   */
  public Membership configAt(long index) {
    Map.Entry<Long, Membership> e = configs.floorEntry(index);
    return e != null ? e.getValue() : configs.firstEntry().getValue();
  }

  // ---------------------------------------------------------------- log access

  private void truncateFrom(long index) {
    if (index <= commitIndex) {
      throw new IllegalStateException("refusing to truncate committed entry " + index);
    }
    mem.subList((int) (index - memFrom), mem.size()).clear();
    stableIndex = Math.min(stableIndex, index - 1);
    if (configs.lastKey() >= index) {
      configs.tailMap(index, true).clear(); // the configuration reverts (thesis §4.1)
      applyMembership(configs.lastEntry().getValue());
    }
  }

  /** @return the term of the entry at {@code index}, 0 for index 0, -1 if unknown */
  long termAt(long index) {
    if (index == 0) {
      return 0;
    }
    if (index >= memFrom && index <= lastIndex()) {
      return mem.get((int) (index - memFrom)).term();
    }
    if (index == snapshotIndex) {
      return snapshotTerm;
    }
    if (index < snapshotIndex) {
      return -1; // compacted away
    }
    Entry e = index <= stableIndex ? stable.entry(index) : null;
    return e == null ? -1 : e.term();
  }

  private List<Entry> memSlice(long from, long toExclusive) {
    return mem.subList((int) (from - memFrom), (int) (toExclusive - memFrom));
  }

  private List<Entry> entriesFrom(long from, long maxBytes) {
    if (from >= memFrom) {
      List<Entry> out = new ArrayList<>();
      long bytes = 0;
      for (long i = from; i <= lastIndex(); i++) {
        Entry e = mem.get((int) (i - memFrom));
        if (!out.isEmpty() && bytes + e.approximateBytes() > maxBytes) {
          break;
        }
        out.add(e);
        bytes += e.approximateBytes();
      }
      return out;
    }
    return stable.entries(from, memFrom, maxBytes);
  }

  private HardState currentHardState() {
    return new HardState(term, votedFor);
  }

  private void resetElectionTimeout() {
    randomizedElectionTimeout = config.electionTicks() + random.nextInt(config.electionTicks());
  }

  private void observeTime(long nowMs) {
    if (nowMs > lastTimestampMs) {
      lastTimestampMs = nowMs;
    }
  }
}
