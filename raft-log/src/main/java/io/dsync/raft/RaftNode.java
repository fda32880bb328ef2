package io.dsync.raft;

import io.dsync.storage.NodeStorage;
import io.dsync.storage.RaftLogStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The driver around {@link RaftCore}: it owns the Raft thread, the apply thread, the timer and
 * the disk, and turns proposals into applied results.
 *
 * <p>The write path: callers {@link #propose} commands into a bounded queue; the Raft thread
 * drains every waiting proposal (up to {@link RaftConfig#maxBatchBytes()}) into one
 * {@link Ready}, appends it to the log in one {@code WriteBatch} with one fsync (group commit),
 * sends messages, and hands committed entries to the apply thread, which applies them in
 * batches and completes the proposals' futures with the state machine's results. While the
 * apply thread works on one batch, the Raft thread is already fsyncing the next.
 *
 * <p>Backpressure: a full proposal queue refuses new proposals at once with
 * {@link OverloadedException}; a full apply queue blocks the Raft thread, which then stops
 * draining proposals, so the proposal queue fills and refuses. Memory stays bounded.
 *
 * <p>A follower's {@link #proposeAnywhere} sends the command to the leader over the transport
 * and completes when this node applies the entry the leader appended for it (etcd's forwarded
 * {@code MsgProp}).
 *
 * <p>Thread safety: {@link #propose}, {@link #proposeAnywhere}, {@link #readIndex},
 * {@link #transferLeadership}, {@link #onApplied}, the status getters and {@link #close()} may be
 * called from any thread.
 */
public final class RaftNode implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RaftNode.class);
  private static final Object TICK = new Object();
  private static final Object WAKE = new Object();

  private final RaftConfig config;
  private final NodeStorage storage;
  private final StateMachine stateMachine;
  private final Transport transport;
  private final LongSupplier clockMs;
  private final RaftMetrics metrics;
  private final RaftCore core;

  private final ArrayBlockingQueue<Proposal> proposals;
  private final LinkedBlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
  private final BlockingQueue<List<Entry>> applyQueue;
  private final Map<Long, Proposal> pending = new ConcurrentHashMap<>();
  private final AtomicBoolean wakePending = new AtomicBoolean();
  private final List<LongConsumer> appliedListeners = new CopyOnWriteArrayList<>();

  private final Thread raftThread;
  private final Thread applyThread;
  private final Thread tickThread;
  private volatile boolean running;
  private volatile Throwable failure;

  private volatile Role role = Role.FOLLOWER;
  private volatile long term;
  private volatile String leaderId;
  private volatile long commitIndex;
  private volatile long leaderCommit;
  private volatile long lastIndex;
  private volatile long appliedIndex;
  private volatile Map<String, Long> matchIndexes = Map.of();
  private volatile Membership membership;
  /** The configurations from the snapshot index on (RaftCore#configHistory), for snapshot senders. */
  private volatile java.util.NavigableMap<Long, Membership> configHistory;
  private long publishedConfigVersion = -1;

  // Log compaction and snapshots (Raft §7).
  private static final byte[] SNAPSHOT_META_KEY = "snapshot_meta".getBytes(java.nio.charset.StandardCharsets.UTF_8);
  private static final byte[] RESTORE_PENDING_KEY = "restore_pending".getBytes(java.nio.charset.StandardCharsets.UTF_8);
  private static final long SNAPSHOT_CHUNK_BYTES = 1L << 20;
  private volatile long snapshotIndex;
  private volatile long snapshotTerm;
  /** The configuration at {@link #snapshotIndex}, or null if the snapshot metadata holds none. */
  private volatile Membership snapshotConfig;
  private long bytesSinceCompaction;
  /** Whether a compaction's state flush runs on {@link #compactor} (Raft thread only). */
  private boolean compactionRunning;
  /** The running compaction's flush, so a snapshot install can wait for it (Raft thread only). */
  private java.util.concurrent.Future<?> compactionFlush;
  /**
   * Flushes the state before a log compaction, off the Raft thread: a flush of several 64 MiB
   * memtables takes long enough that a leader doing it inline missed its heartbeats and lost
   * leadership under load (seen in {@code bench/cluster.sh produce}).
   */
  private final java.util.concurrent.ExecutorService compactor;

  /** A compaction's flush finished (or failed); the Raft thread purges the log. */
  private record CompactionFlushed(long index, long term, Membership config, Throwable error) {}
  private long lastHandedToApply;
  private final Map<String, SnapshotSender> senders = new ConcurrentHashMap<>();
  private final java.nio.file.Path stagingFile;
  private long stagingIndex = -1;
  private long stagingTerm;
  private Membership stagingConfig;
  private int expectedSeq;

  /**
   * A proposal waiting for the Raft thread; {@code originNode}/{@code originId} name the follower
   * that forwarded it ({@code null}/0 for one proposed here).
   */
  private record Proposal(byte[] command, CompletableFuture<Object> future, long[] termHolder, String originNode,
      long originId) {
    Proposal(byte[] command, CompletableFuture<Object> future, long[] termHolder) {
      this(command, future, termHolder, null, 0);
    }
  }

  /** A proposal this node forwarded to the leader, waiting for its entry to be applied here. */
  private record Forwarded(CompletableFuture<Object> future, long term) {}

  /** This node's forwarded proposals by id (the entry's {@link Entry#originId()}). */
  private final Map<Long, Forwarded> forwarded = new ConcurrentHashMap<>();
  /**
   * Ids for forwarded proposals; random start, so that entries a previous run of this node
   * forwarded (still being applied after a restart) never match a new proposal's id.
   */
  private final java.util.concurrent.atomic.AtomicLong forwardIds =
      new java.util.concurrent.atomic.AtomicLong(new java.security.SecureRandom().nextLong());

  /**
   * Builds a node from its durable state; call {@link #start()} to run it.
   *
   * @param config Raft settings
   * @param storage the node's open storage (the log and hard state are read from it)
   * @param stateMachine the state machines, already recovered to their {@code lastApplied}
   * @param transport the peer transport ({@link Transport#LOCAL} for a one-voter group)
   * @param clockMs the wall clock in ms, used only to stamp entries and drive ticks
   * @param metrics where to report
   * @param random the source of election-timeout randomness
   */
  public RaftNode(
      RaftConfig config,
      NodeStorage storage,
      StateMachine stateMachine,
      Transport transport,
      LongSupplier clockMs,
      RaftMetrics metrics,
      Random random) {
    this.config = config;
    this.storage = storage;
    this.stateMachine = stateMachine;
    this.transport = transport;
    this.clockMs = clockMs;
    this.metrics = metrics;
    this.proposals = new ArrayBlockingQueue<>(config.maxProposalQueue());
    this.applyQueue = new ArrayBlockingQueue<>(config.maxApplyQueue());
    this.stagingFile = storage.dir().resolveSibling(storage.dir().getFileName() + ".snapshot-staging");
    byte[] meta = storage.meta().get(SNAPSHOT_META_KEY);
    if (meta != null) {
      io.dsync.raft.proto.SnapshotMeta m = parseMeta(meta);
      this.snapshotIndex = m.getIndex();
      this.snapshotTerm = m.getTerm();
      this.snapshotConfig = m.hasConfig() ? Membership.fromProto(m.getConfig()) : null;
    }
    finishPendingRestore();
    RaftLogStore logStore = storage.log();
    RaftCore.StableLog stable =
        new RaftCore.StableLog() {
          @Override
          public long lastIndex() {
            return logStore.lastIndex();
          }

          @Override
          public Entry entry(long index) {
            byte[] b = logStore.get(index);
            return b == null ? null : Entry.decode(b);
          }

          @Override
          public List<Entry> entries(long from, long toExclusive, long maxBytes) {
            List<Entry> out = new ArrayList<>();
            for (byte[] b : logStore.read(from, toExclusive, maxBytes)) {
              out.add(Entry.decode(b));
            }
            return out;
          }

          @Override
          public long snapshotIndex() {
            return snapshotIndex;
          }

          @Override
          public long snapshotTerm() {
            return snapshotTerm;
          }

          @Override
          public Membership snapshotConfig() {
            return snapshotConfig;
          }
        };
    this.appliedIndex = stateMachine.lastApplied();
    this.lastHandedToApply = appliedIndex;
    this.core = new RaftCore(config, storage.meta().loadHardState(), stable, appliedIndex, random);
    this.lastIndex = core.lastIndex();
    this.commitIndex = core.commitIndex();
    this.term = core.term();
    publishMembership();
    transport.onReceive(m -> enqueue(m));
    this.raftThread = Thread.ofPlatform().name("raft-" + config.nodeId()).unstarted(this::raftLoop);
    this.applyThread = Thread.ofPlatform().name("apply-" + config.nodeId()).unstarted(this::applyLoop);
    this.tickThread = Thread.ofPlatform().daemon().name("tick-" + config.nodeId()).unstarted(this::tickLoop);
    this.compactor = java.util.concurrent.Executors.newSingleThreadExecutor(
        Thread.ofPlatform().daemon().name("compact-" + config.nodeId()).factory());
  }

  /** Starts the threads. */
  public void start() {
    running = true;
    applyThread.start();
    raftThread.start();
    tickThread.start();
  }

  /**
   * Proposes one command. The future completes with the state machine's result once the command
   * is committed and applied, or exceptionally with {@link NotLeaderException} if this node is
   * not the leader or its entry was overwritten by another leader's.
   *
   * @param command the encoded command
   * @return the future result
   * @throws OverloadedException at once when the proposal queue is full
   * @throws NotLeaderException at once when this node knows it is not the leader
   * @throws IllegalStateException if the node is stopped or failed
   */
  public CompletableFuture<Object> propose(byte[] command) {
    checkRunning();
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "this node is not the leader");
    }
    Proposal p = new Proposal(command, new CompletableFuture<>(), new long[1]);
    if (!proposals.offer(p)) {
      metrics.proposalsRejected.inc();
      throw new OverloadedException(
          "proposal queue full (" + config.maxProposalQueue() + " waiting); retry shortly");
    }
    metrics.proposals.inc();
    wake();
    return p.future;
  }

  /**
   * Proposes a command from any node: on the leader as {@link #propose(byte[])}; on a follower the
   * command is sent to the leader over the peer transport ({@link RaftMessage.ForwardProposal}),
   * the leader appends it with this node as the entry's origin, and the future completes when
   * this node applies that entry, with this node's state machine result (the same as the
   * leader's: apply is deterministic). So the caller also reads its own write from this node.
   *
   * <p>The future fails with {@link NotLeaderException} when the leader refuses (it no longer
   * leads) or the term changes first (a new leader may or may not have the entry: the outcome is
   * unknown), with {@link OverloadedException} when the leader's proposal queue is full, and with
   * {@link java.util.concurrent.TimeoutException} after {@code timeoutMs} (e.g. the message was
   * lost).
   *
   * @param command the encoded command
   * @param timeoutMs how long a forwarded proposal may wait for its entry, in ms ({@code > 0})
   * @return the future result
   * @throws NotLeaderException at once when no leader is known
   * @throws OverloadedException at once when the proposal queue, or this node's forwarded
   *     proposals, are at {@link RaftConfig#maxProposalQueue()}
   * @throws IllegalStateException if the node is stopped or failed
   */
  public CompletableFuture<Object> proposeAnywhere(byte[] command, long timeoutMs) {
    checkRunning();
    // Term before leader: publishStatus writes them the other way round, so a leader read here is
    // never older than the term (an old term with a new leader is refused by the leader's check).
    long t = term;
    String leader = leaderId;
    if (role == Role.LEADER || leader == null || leader.equals(config.nodeId())) {
      return propose(command);
    }
    if (forwarded.size() >= config.maxProposalQueue()) {
      metrics.proposalsRejected.inc();
      throw new OverloadedException(
          "forwarded proposals full (" + config.maxProposalQueue() + " waiting); retry shortly");
    }
    long id = forwardIds.incrementAndGet();
    CompletableFuture<Object> f = new CompletableFuture<>();
    forwarded.put(id, new Forwarded(f, t));
    f.orTimeout(timeoutMs, TimeUnit.MILLISECONDS).whenComplete((r, e) -> {
      if (forwarded.remove(id) != null && e instanceof java.util.concurrent.TimeoutException) {
        metrics.forwardedProposals.labelValues("failed").inc();
      }
    });
    metrics.proposals.inc();
    transport.send(new RaftMessage.ForwardProposal(config.nodeId(), leader, t, id, command));
    return f;
  }

  /** On the transport's thread: a follower's proposal; queue it if this node leads, else refuse. */
  private void acceptForwarded(RaftMessage.ForwardProposal fp) {
    Membership m = membership;
    if (role != Role.LEADER || !running || fp.term() != term || m == null || !m.members().containsKey(fp.from())) {
      // Not leading, or the sender knew another term (it failed or will fail this proposal at its
      // term change: appending it now would only widen the window of an unknown outcome), or the
      // sender is not a member (it would never apply the entry, so it could never answer).
      transport.send(new RaftMessage.ForwardRejected(config.nodeId(), fp.from(), term, fp.id(),
          "node " + config.nodeId() + " is not the leader of term " + fp.term()
              + (leaderId == null ? "" : "; the leader is " + leaderId), false));
      return;
    }
    Proposal p = new Proposal(fp.command(), new CompletableFuture<>(), new long[1], fp.from(), fp.id());
    if (!proposals.offer(p)) {
      metrics.proposalsRejected.inc();
      transport.send(new RaftMessage.ForwardRejected(config.nodeId(), fp.from(), term, fp.id(),
          "the leader's proposal queue is full (" + config.maxProposalQueue() + " waiting); retry shortly", true));
      return;
    }
    metrics.forwardedAccepted.inc();
    wake();
  }

  /** The leader refused one of this node's forwarded proposals. */
  private void forwardRejected(RaftMessage.ForwardRejected r) {
    Forwarded w = forwarded.remove(r.id());
    if (w != null) {
      w.future().completeExceptionally(r.overloaded() ? new OverloadedException(r.reason())
          : new NotLeaderException(null, r.reason()));
      metrics.forwardedProposals.labelValues("refused").inc();
    }
  }

  /**
   * Fails this node's forwarded proposals sent in a term below {@code beforeTerm}
   * ({@link Long#MAX_VALUE}: all of them) with {@code error}, counting each as failed. Any thread.
   */
  private void failForwarded(long beforeTerm, RuntimeException error) {
    for (Map.Entry<Long, Forwarded> e : forwarded.entrySet()) {
      if (e.getValue().term() < beforeTerm && forwarded.remove(e.getKey(), e.getValue())) {
        metrics.forwardedProposals.labelValues("failed").inc();
        e.getValue().future().completeExceptionally(error);
      }
    }
  }

  /**
   * Asks this node, if it leads, to hand leadership to {@code target} (thesis §3.10). Returns at
   * once; watch {@link #leaderId()} for the outcome. While the transfer runs (at most an election
   * timeout) proposals are refused with {@link NotLeaderException}.
   *
   * @param target a voter's id
   * @throws NotLeaderException if this node is not the leader
   * @throws IllegalArgumentException if {@code target} is not a voter
   */
  public void transferLeadership(String target) {
    checkRunning();
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "only the leader can transfer leadership");
    }
    if (!membership.isVoter(target)) {
      throw new IllegalArgumentException("'" + target + "' is not a voter: " + membership.voters());
    }
    enqueue(new TransferRequest(target));
  }

  private record TransferRequest(String target) {}

  /** A membership change for the Raft thread: add {@code add} as a learner, or remove {@code remove}. */
  private record MembershipRequest(Membership.Member add, String remove, Proposal proposal) {}

  /**
   * Adds a node as a learner (Ongaro thesis §4.2.1); the leader promotes it to voter by itself
   * once it has caught up. The future completes (with null) once the config entry is committed
   * and applied on this node.
   *
   * @param member the new member's id and addresses
   * @return the future; fails with {@link NotLeaderException} (not the leader),
   *     {@link IllegalStateException} (a change is in progress, or the leader is too new: retry)
   *     or {@link IllegalArgumentException} (already a member)
   * @throws NotLeaderException at once when this node knows it is not the leader
   */
  public CompletableFuture<Object> addLearner(Membership.Member member) {
    return changeMembership(new MembershipRequest(member, null, null));
  }

  /**
   * Removes a member, one voter at a time (thesis §4.1); the leader may remove itself (§4.2.2).
   *
   * @param memberId the member to remove
   * @return the future, completed once the config entry is committed and applied here; fails
   *     like {@link #addLearner}'s ({@link IllegalArgumentException}: not a member, or the last
   *     voter)
   * @throws NotLeaderException at once when this node knows it is not the leader
   */
  public CompletableFuture<Object> removeMember(String memberId) {
    return changeMembership(new MembershipRequest(null, memberId, null));
  }

  private CompletableFuture<Object> changeMembership(MembershipRequest r) {
    checkRunning();
    if (role != Role.LEADER) {
      throw new NotLeaderException(leaderId, "this node is not the leader");
    }
    Proposal p = new Proposal(null, new CompletableFuture<>(), new long[1]);
    enqueue(new MembershipRequest(r.add(), r.remove(), p));
    return p.future;
  }

  /** @return the cluster configuration in effect on this node (the latest in its log) */
  public Membership membership() {
    return membership;
  }

  private record ReadRequest(long context, CompletableFuture<Long> future) {}

  private final java.util.concurrent.atomic.AtomicLong readContexts = new java.util.concurrent.atomic.AtomicLong();
  private final Map<Long, CompletableFuture<Long>> readsAwaitingQuorum = new ConcurrentHashMap<>();
  private final java.util.concurrent.ConcurrentSkipListMap<Long, java.util.Queue<CompletableFuture<Long>>>
      readsAwaitingApply = new java.util.concurrent.ConcurrentSkipListMap<>();

  /**
   * A linearizable read point (Ongaro thesis §6.4, ReadIndex): completes with an index once a
   * quorum confirmed this node still leads and this node applied up to that index, so a read of
   * the local state afterwards reflects every write acknowledged before the call. Costs one
   * heartbeat round trip, no log write.
   *
   * @return the future read index; fails with {@link NotLeaderException} when this node does not
   *     lead (or stops leading before the quorum answers)
   */
  public CompletableFuture<Long> readIndex() {
    checkRunning();
    CompletableFuture<Long> f = new CompletableFuture<>();
    if (role != Role.LEADER) {
      f.completeExceptionally(new NotLeaderException(leaderId, "this node is not the leader"));
      return f;
    }
    enqueue(new ReadRequest(readContexts.incrementAndGet(), f));
    return f;
  }

  private void completeReads(List<Ready.ReadState> states) {
    for (Ready.ReadState rs : states) {
      CompletableFuture<Long> f = readsAwaitingQuorum.remove(rs.context());
      if (f == null) {
        continue;
      }
      if (rs.index() < 0) {
        f.completeExceptionally(new NotLeaderException(null, "leadership changed before the read was confirmed"));
      } else {
        awaitApplied(rs.index(), f);
      }
    }
  }

  private void awaitApplied(long index, CompletableFuture<Long> f) {
    if (appliedIndex >= index) {
      f.complete(index);
      return;
    }
    readsAwaitingApply.computeIfAbsent(index, i -> new java.util.concurrent.ConcurrentLinkedQueue<>()).add(f);
    if (appliedIndex >= index) {
      // The apply thread may have passed index meanwhile and even dropped the queue just joined;
      // completing here directly covers both (a second completion is a no-op).
      f.complete(index);
    }
  }

  private void releaseReads(long applied) {
    for (Map.Entry<Long, java.util.Queue<CompletableFuture<Long>>> e : readsAwaitingApply.headMap(applied, true).entrySet()) {
      CompletableFuture<Long> f;
      while ((f = e.getValue().poll()) != null) {
        f.complete(e.getKey());
      }
      readsAwaitingApply.remove(e.getKey(), e.getValue());
    }
  }

  /**
   * Registers a callback run on the apply thread after each applied batch, with the new applied
   * index (used to wake long polls). It must be quick and must not block.
   */
  public void onApplied(LongConsumer listener) {
    appliedListeners.add(listener);
  }

  /** @return this node's configuration */
  public RaftConfig config() {
    return config;
  }

  /** @return the role as of the last Raft step */
  public Role role() {
    return role;
  }

  /** @return the current term */
  public long term() {
    return term;
  }

  /** @return the known leader, or {@code null} */
  public String leaderId() {
    return leaderId;
  }

  /** @return the commit index */
  public long commitIndex() {
    return commitIndex;
  }

  /**
   * @return how many committed entries this node has yet to apply, as far as it knows the
   *     leader's commit index ({@link RaftCore#leaderCommit()}): 0 on a node that keeps up; large
   *     on one that restarted or catches up. Thread-safe (published by the Raft thread).
   */
  public long applyLag() {
    return Math.max(0, leaderCommit - appliedIndex);
  }

  /** @return the applied index: every entry up to it is in the state machines */
  public long appliedIndex() {
    return appliedIndex;
  }

  /** @return the last log index */
  public long lastIndex() {
    return lastIndex;
  }

  /** @return each voter's match index (leader only; empty otherwise) */
  public Map<String, Long> matchIndexes() {
    return matchIndexes;
  }

  /** @return the number of proposals waiting for the Raft thread */
  public int proposalQueueDepth() {
    return proposals.size();
  }

  /** @return whether the node is running and has not failed */
  public boolean isHealthy() {
    return running && failure == null;
  }

  private void checkRunning() {
    if (failure != null) {
      throw new IllegalStateException("raft node failed: " + failure, failure);
    }
    if (!running) {
      throw new IllegalStateException("raft node is not running");
    }
  }

  private void enqueue(Object event) {
    if (event instanceof RaftMessage.ForwardProposal fp) {
      acceptForwarded(fp);
      return;
    }
    if (event instanceof RaftMessage.ForwardRejected r) {
      forwardRejected(r);
      return;
    }
    if (event instanceof RaftMessage.InstallSnapshotResponse r) {
      SnapshotSender sender = senders.get(r.from());
      if (sender != null) {
        sender.acks.offer(r);
      }
    }
    inbox.offer(event);
  }

  private void wake() {
    if (wakePending.compareAndSet(false, true)) {
      inbox.offer(WAKE);
    }
  }

  private void tickLoop() {
    while (running) {
      try {
        Thread.sleep(config.tickMs());
      } catch (InterruptedException e) {
        return;
      }
      enqueue(TICK);
    }
  }

  private void raftLoop() {
    List<Object> events = new ArrayList<>();
    List<Proposal> batch = new ArrayList<>();
    List<byte[]> commands = new ArrayList<>();
    try {
      while (running) {
        Object first = inbox.poll(config.tickMs(), TimeUnit.MILLISECONDS);
        if (first != null) {
          events.add(first);
          inbox.drainTo(events);
        }
        wakePending.set(false);
        for (Object ev : events) {
          if (ev == TICK) {
            core.tick(clockMs.getAsLong());
          } else if (ev instanceof RaftMessage.InstallSnapshot is) {
            if (acceptChunk(is)) {
              if (is.last()) {
                // Persist and acknowledge whatever came before on its own, so the snapshot's
                // install never shares a Ready with entries.
                while (core.hasReady()) {
                  handleReady(core.ready());
                }
              }
              core.step(is);
            }
          } else if (ev instanceof RaftMessage m) {
            core.step(m);
          } else if (ev instanceof ReadRequest rr) {
            readsAwaitingQuorum.put(rr.context(), rr.future());
            try {
              core.readIndex(rr.context());
            } catch (NotLeaderException e) {
              readsAwaitingQuorum.remove(rr.context());
              rr.future().completeExceptionally(e);
            }
          } else if (ev instanceof MembershipRequest mr) {
            try {
              long index = mr.add() != null ? core.addLearner(mr.add()) : core.removeMember(mr.remove());
              mr.proposal().termHolder[0] = core.term();
              track(index, mr.proposal());
            } catch (RuntimeException e) {
              mr.proposal().future.completeExceptionally(e);
            }
          } else if (ev instanceof CompactionFlushed cf) {
            finishCompaction(cf);
          } else if (ev instanceof TransferRequest t) {
            try {
              core.transferLeadership(t.target());
            } catch (NotLeaderException | IllegalArgumentException e) {
              log.info("leadership transfer to {} not started: {}", t.target(), e.getMessage());
            }
          }
        }
        events.clear();
        drainProposals(batch, commands);
        while (core.hasReady()) {
          handleReady(core.ready());
        }
        if (bytesSinceCompaction >= config.compactLogBytes()) {
          compactLog();
        }
        publishStatus();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable t) {
      fail(t);
    }
  }

  private void drainProposals(List<Proposal> batch, List<byte[]> commands) {
    long bytes = 0;
    Proposal p;
    boolean anyForwarded = false;
    while (bytes < config.maxBatchBytes() && (p = proposals.poll()) != null) {
      batch.add(p);
      commands.add(p.command);
      bytes += p.command.length;
      anyForwarded |= p.originNode() != null;
    }
    if (batch.isEmpty()) {
      return;
    }
    List<Map.Entry<String, Long>> origins = null;
    if (anyForwarded) {
      origins = new ArrayList<>(batch.size());
      for (Proposal q : batch) {
        origins.add(q.originNode() == null ? null : Map.entry(q.originNode(), q.originId()));
      }
    }
    try {
      long index = core.propose(commands, origins, clockMs.getAsLong());
      long t = core.term();
      for (Proposal q : batch) {
        q.termHolder[0] = t;
        track(index++, q);
      }
    } catch (NotLeaderException e) {
      for (Proposal q : batch) {
        q.future.completeExceptionally(e);
        if (q.originNode() != null) {
          transport.send(new RaftMessage.ForwardRejected(config.nodeId(), q.originNode(), core.term(), q.originId(),
              e.getMessage(), false));
        }
      }
    }
    batch.clear();
    commands.clear();
    if (!proposals.isEmpty()) {
      wake();
    }
  }

  /**
   * Waits for the entry at {@code index} to be applied for {@code p}. A proposal still waiting at
   * that index belongs to an entry a later leader overwrote (this node lost leadership with it
   * uncommitted and leads again): its outcome is known now — it failed — so its future must not
   * be dropped silently (a caller waiting without a timeout would wait forever).
   */
  private void track(long index, Proposal p) {
    Proposal old = pending.put(index, p);
    if (old != null) {
      old.future.completeExceptionally(
          new NotLeaderException(null, "the entry at " + index + " was overwritten by another leader's"));
    }
  }

  private void handleReady(Ready rd) throws InterruptedException {
    if (rd.hardState() != null) {
      storage.meta().saveHardState(rd.hardState());
    }
    if (rd.snapshotChunk() != null) {
      writeChunk(rd.snapshotChunk());
    }
    if (!rd.entries().isEmpty()) {
      List<byte[]> encoded = new ArrayList<>(rd.entries().size());
      for (Entry e : rd.entries()) {
        byte[] b = e.encode();
        encoded.add(b);
        bytesSinceCompaction += b.length;
      }
      long t0 = System.nanoTime();
      storage.log().append(rd.entriesFromIndex(), encoded);
      metrics.appendSeconds.observe((System.nanoTime() - t0) / 1e9);
      metrics.appendBatchEntries.observe(rd.entries().size());
    }
    for (RaftMessage m : rd.messages()) {
      transport.send(m);
    }
    if (!rd.committedEntries().isEmpty()) {
      applyQueue.put(rd.committedEntries());
      lastHandedToApply = rd.committedEntries().get(rd.committedEntries().size() - 1).index();
    }
    for (String peer : rd.sendSnapshotTo()) {
      startSnapshotSender(peer);
    }
    if (!rd.readStates().isEmpty()) {
      completeReads(rd.readStates());
    }
    core.advance(rd);
  }

  /**
   * On a term change or a shorter log: proposals whose entries are no longer in the log (a new leader's shorter
   * log replaced this node's uncommitted tail) failed; say so now rather than when — if ever —
   * the log grows back to their index.
   */
  private void failTruncatedProposals() {
    long last = core.lastIndex();
    for (Long index : new ArrayList<>(pending.keySet())) {
      if (index > last) {
        Proposal p = pending.remove(index);
        if (p != null) {
          p.future.completeExceptionally(
              new NotLeaderException(core.leaderId(), "the entry at " + index + " was discarded by a new leader"));
        }
      }
    }
  }

  /** Publishes the configuration when it changed, and points the transport at its members. */
  private void publishMembership() {
    if (core.configVersion() == publishedConfigVersion) {
      return;
    }
    publishedConfigVersion = core.configVersion();
    Membership m = core.membership();
    configHistory = core.configHistory();
    if (!m.equals(membership)) {
      if (membership != null) {
        log.info("node {}: cluster configuration is now {}", config.nodeId(), m);
      }
      membership = m;
      if (!m.members().isEmpty()) {
        Map<String, String> addresses = new java.util.TreeMap<>();
        m.members().forEach((id, member) -> addresses.put(id, member.raftAddress()));
        transport.updatePeers(addresses);
      }
    }
  }

  private void publishStatus() {
    Role r = core.role();
    if (r != role && (r == Role.CANDIDATE || r == Role.PRE_CANDIDATE)) {
      metrics.elections.inc();
    }
    if (r != role) {
      log.info("node {} is now {} in term {}", config.nodeId(), r, core.term());
    }
    role = r;
    if (core.term() != term || core.lastIndex() < lastIndex) {
      failTruncatedProposals();
    }
    boolean termChanged = core.term() != term;
    term = core.term();
    leaderId = core.leaderId();
    commitIndex = core.commitIndex();
    leaderCommit = core.leaderCommit();
    lastIndex = core.lastIndex();
    matchIndexes = core.matchIndexes();
    if (termChanged && !forwarded.isEmpty()) {
      // after publishing the new term: a failed caller sees it
      failForwarded(term, new NotLeaderException(leaderId,
          "the leader changed (term " + term + ") before the forwarded write was applied here; its outcome is unknown"));
    }
    publishMembership();
    metrics.term.set(term);
    metrics.commitIndex.set(commitIndex);
    metrics.lastIndex.set(lastIndex);
    metrics.isLeader.set(r == Role.LEADER ? 1 : 0);
    metrics.proposalQueueDepth.set(proposals.size());
  }

  // ------------------------------------------------------------------ compaction and snapshots

  /**
   * Starts a compaction: the log is to be purged up to the applied index minus {@link
   * RaftConfig#compactTrailingEntries()}; the state column families, flushed first, are the
   * snapshot of everything purged (Raft §7). The flush runs on {@link #compactor} (the Raft thread
   * keeps sending heartbeats meanwhile); {@link #finishCompaction} purges. Raft thread only; one
   * compaction at a time.
   */
  private void compactLog() {
    if (compactionRunning) {
      return;
    }
    long index = Math.min(appliedIndex, core.commitIndex()) - config.compactTrailingEntries();
    if (index <= storage.log().firstIndex() || index <= snapshotIndex) {
      return;
    }
    byte[] b = storage.log().get(index);
    if (b == null) {
      return;
    }
    long term = Entry.decode(b).term();
    Membership at = core.configAt(index);
    compactionRunning = true;
    bytesSinceCompaction = 0;
    compactionFlush = compactor.submit(() -> {
      Throwable error = null;
      try {
        storage.flush(); // the apply thread applied up to index >= this: its state is in the memtables flushed
      } catch (Throwable t) {
        error = t;
      }
      enqueue(new CompactionFlushed(index, term, at, error));
    });
  }

  /** Waits for a compaction's flush still running on {@link #compactor}; its outcome arrives as an event. */
  private void awaitCompactionFlush() throws InterruptedException {
    java.util.concurrent.Future<?> f = compactionFlush;
    if (f != null) {
      try {
        f.get();
      } catch (java.util.concurrent.ExecutionException e) {
        // reported through its CompactionFlushed event
      }
    }
  }

  /**
   * On the Raft thread, once the state up to {@code cf.index()} is on disk: records the snapshot
   * metadata and purges the log up to it, unless a snapshot installed meanwhile already covers it.
   *
   * @throws StorageException (via {@link #fail}) if the flush failed
   */
  private void finishCompaction(CompactionFlushed cf) {
    compactionRunning = false;
    if (cf.error() != null) {
      throw cf.error() instanceof RuntimeException re ? re : new IllegalStateException(cf.error());
    }
    long index = cf.index();
    if (index <= storage.log().firstIndex() || index <= snapshotIndex) {
      return;
    }
    byte[] b = storage.log().get(index);
    if (b == null || Entry.decode(b).term() != cf.term()) {
      return; // replaced by an installed snapshot's log meanwhile
    }
    storage.meta().put(SNAPSHOT_META_KEY, meta(index, cf.term(), cf.config()));
    storage.log().purgePrefix(index);
    core.compacted(index, cf.term());
    snapshotIndex = index;
    snapshotTerm = cf.term();
    snapshotConfig = cf.config();
    log.info("node {} compacted its log up to {} (term {})", config.nodeId(), index, cf.term());
  }

  private static byte[] meta(long index, long term, Membership config) {
    io.dsync.raft.proto.SnapshotMeta.Builder b = io.dsync.raft.proto.SnapshotMeta.newBuilder().setIndex(index).setTerm(term);
    if (config != null) {
      b.setConfig(config.toProto());
    }
    return b.build().toByteArray();
  }

  private static io.dsync.raft.proto.SnapshotMeta parseMeta(byte[] b) {
    try {
      return io.dsync.raft.proto.SnapshotMeta.parseFrom(b);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt snapshot metadata", e);
    }
  }

  /**
   * Follower side: takes chunks in order. Chunk 0 starts a new staging file; a repeated chunk is
   * acknowledged again (its first acknowledgement was lost); anything else out of order is
   * dropped, and the leader resends.
   */
  private boolean acceptChunk(RaftMessage.InstallSnapshot is) {
    if (is.seq() == 0) {
      return true;
    }
    if (is.index() == stagingIndex && is.seq() == expectedSeq) {
      return true;
    }
    if (is.index() == stagingIndex && is.seq() < expectedSeq && is.term() == core.term()) {
      transport.send(new RaftMessage.InstallSnapshotResponse(
          config.nodeId(), is.from(), core.term(), is.index(), is.seq(), false));
    }
    return false;
  }

  private void writeChunk(RaftMessage.InstallSnapshot is) throws InterruptedException {
    try {
      if (is.seq() == 0) {
        java.nio.file.Files.deleteIfExists(stagingFile);
        stagingIndex = is.index();
        stagingTerm = is.snapshotTerm();
        stagingConfig = null;
        expectedSeq = 0;
      }
      try (java.io.DataOutputStream out = new java.io.DataOutputStream(new java.io.BufferedOutputStream(
          java.nio.file.Files.newOutputStream(stagingFile, java.nio.file.StandardOpenOption.CREATE,
              java.nio.file.StandardOpenOption.APPEND)))) {
        out.writeInt(is.data().length);
        out.write(is.data());
      }
      expectedSeq = is.seq() + 1;
      if (is.config().length > 0) {
        stagingConfig = Membership.decode(is.config());
      }
      if (!is.last()) {
        return;
      }
      try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(stagingFile,
          java.nio.file.StandardOpenOption.WRITE)) {
        ch.force(true);
      }
    } catch (java.io.IOException e) {
      throw new io.dsync.storage.StorageException("cannot stage snapshot chunk " + is.seq(), e);
    }
    // Let the apply thread finish what it was given, then swap the state under it.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (appliedIndex < lastHandedToApply || !applyQueue.isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("apply thread did not drain before installing a snapshot");
      }
      Thread.sleep(1);
    }
    awaitCompactionFlush(); // the state is replaced next: no flush of it may still run
    storage.meta().put(RESTORE_PENDING_KEY, meta(stagingIndex, stagingTerm, stagingConfig));
    finishPendingRestore();
    stagingIndex = -1;
    expectedSeq = 0;
  }

  /**
   * Installs the staged snapshot named by the restore-pending marker: replace the state, empty
   * the log, record the snapshot, drop the marker. Idempotent, so a crash in the middle is
   * finished at the next start.
   */
  private void finishPendingRestore() {
    byte[] pending = storage.meta().get(RESTORE_PENDING_KEY);
    if (pending == null) {
      return;
    }
    io.dsync.raft.proto.SnapshotMeta m = parseMeta(pending);
    List<List<io.dsync.storage.StateStore.ColumnKeyValue>> chunks = new ArrayList<>();
    try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(
        java.nio.file.Files.newInputStream(stagingFile)))) {
      while (in.available() > 0) {
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        List<io.dsync.storage.StateStore.ColumnKeyValue> pairs = new ArrayList<>();
        for (io.dsync.raft.proto.StateKeyValue kv : io.dsync.raft.proto.SnapshotChunkData.parseFrom(data).getPairsList()) {
          pairs.add(new io.dsync.storage.StateStore.ColumnKeyValue(kv.getColumn(), kv.getKey().toByteArray(),
              kv.getValue().toByteArray()));
        }
        chunks.add(pairs);
      }
    } catch (java.io.IOException e) {
      throw new io.dsync.storage.StorageException("cannot read the staged snapshot " + stagingFile, e);
    }
    storage.state().restore(chunks, m.getIndex());
    storage.meta().put(SNAPSHOT_META_KEY, pending); // the marker is the snapshot's metadata
    // Raft §7: keep the entries after the snapshot if the log holds its last entry (same term);
    // otherwise discard the whole log.
    byte[] at = storage.log().get(m.getIndex());
    boolean keepSuffix = at != null && Entry.decode(at).term() == m.getTerm();
    storage.log().purgePrefix(keepSuffix ? m.getIndex() : Math.max(m.getIndex(), storage.log().lastIndex()));
    storage.meta().delete(RESTORE_PENDING_KEY);
    try {
      java.nio.file.Files.deleteIfExists(stagingFile);
    } catch (java.io.IOException ignored) {
      // a leftover staging file is replaced by the next snapshot
    }
    snapshotIndex = m.getIndex();
    snapshotTerm = m.getTerm();
    snapshotConfig = m.hasConfig() ? Membership.fromProto(m.getConfig()) : snapshotConfig;
    appliedIndex = m.getIndex();
    // Entries up to the snapshot are never applied here: proposals waiting on them (a deposed
    // leader's uncommitted tail) cannot learn their outcome from this node.
    for (Long index : new ArrayList<>(this.pending.keySet())) {
      if (index <= m.getIndex()) {
        Proposal p = this.pending.remove(index);
        if (p != null) {
          p.future.completeExceptionally(
              new NotLeaderException(null, "replaced by a snapshot from the leader; the outcome is unknown"));
        }
      }
    }
    // Likewise forwarded proposals: an entry inside the snapshot is never applied here, so its
    // result never comes; one after it may still be, but which is which is not known.
    failForwarded(Long.MAX_VALUE,
        new NotLeaderException(null, "this node installed a snapshot from the leader; the outcome is unknown"));
    lastHandedToApply = m.getIndex();
    stateMachine.restored();
    log.info("node {} installed a snapshot at index {} (term {})", config.nodeId(), m.getIndex(), m.getTerm());
  }

  private void startSnapshotSender(String peer) {
    senders.computeIfAbsent(peer, p -> {
      SnapshotSender s = new SnapshotSender(p, core.term());
      Thread.ofVirtual().name("snapshot-" + config.nodeId() + "-" + p).start(s);
      return s;
    });
  }

  /**
   * Leader side: streams a consistent view of the state to one follower in chunks of about
   * 1 MiB, one at a time, each resent until acknowledged (up to 10 times, 2 s apart).
   */
  private final class SnapshotSender implements Runnable {
    final String peer;
    final long term;
    final java.util.concurrent.BlockingQueue<RaftMessage.InstallSnapshotResponse> acks =
        new LinkedBlockingQueue<>();

    SnapshotSender(String peer, long term) {
      this.peer = peer;
      this.term = term;
    }

    @Override
    public void run() {
      try (io.dsync.storage.StateStore.Reader reader = storage.state().openReader()) {
        long index = reader.lastApplied();
        long sTerm = termOf(index);
        List<io.dsync.storage.StateStore.ColumnKeyValue> current = reader.next(null, null, SNAPSHOT_CHUNK_BYTES);
        for (int seq = 0; ; seq++) {
          List<io.dsync.storage.StateStore.ColumnKeyValue> next = current.isEmpty() ? List.of()
              : reader.next(current.get(current.size() - 1).column(), current.get(current.size() - 1).key(),
                  SNAPSHOT_CHUNK_BYTES);
          boolean last = next.isEmpty();
          io.dsync.raft.proto.SnapshotChunkData.Builder data = io.dsync.raft.proto.SnapshotChunkData.newBuilder();
          for (io.dsync.storage.StateStore.ColumnKeyValue kv : current) {
            data.addPairs(io.dsync.raft.proto.StateKeyValue.newBuilder().setColumn(kv.column())
                .setKey(com.google.protobuf.ByteString.copyFrom(kv.key()))
                .setValue(com.google.protobuf.ByteString.copyFrom(kv.value())));
          }
          RaftMessage.InstallSnapshot chunk = new RaftMessage.InstallSnapshot(
              config.nodeId(), peer, term, index, sTerm, seq, data.build().toByteArray(), last,
              last ? configAtApplied(index) : new byte[0]);
          RaftMessage.InstallSnapshotResponse ack = sendUntilAcked(chunk);
          if (ack == null || ack.installed() || last) {
            return;
          }
          current = next;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException e) {
        log.warn("snapshot to {} failed: {}", peer, e.toString());
      } finally {
        senders.remove(peer);
      }
    }

    private RaftMessage.InstallSnapshotResponse sendUntilAcked(RaftMessage.InstallSnapshot chunk)
        throws InterruptedException {
      for (int attempt = 0; attempt < 10; attempt++) {
        if (!running || role != Role.LEADER || RaftNode.this.term != term) {
          return null;
        }
        transport.send(chunk);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
          RaftMessage.InstallSnapshotResponse r = acks.poll(left, TimeUnit.NANOSECONDS);
          if (r != null && r.index() >= chunk.index() && (r.seq() == chunk.seq() || r.installed())) {
            return r;
          }
        }
      }
      log.warn("snapshot chunk {} to {} not acknowledged; giving up", chunk.seq(), peer);
      return null;
    }
  }

  /** @return the encoded configuration in effect at applied index {@code index} */
  private byte[] configAtApplied(long index) {
    java.util.Map.Entry<Long, Membership> e = configHistory.floorEntry(index);
    return (e != null ? e.getValue() : configHistory.firstEntry().getValue()).encode();
  }

  private long termOf(long index) {
    if (index == snapshotIndex) {
      return snapshotTerm;
    }
    byte[] b = storage.log().get(index);
    if (b == null) {
      throw new IllegalStateException("no term known for index " + index);
    }
    return Entry.decode(b).term();
  }

  private void applyLoop() {
    List<List<Entry>> batches = new ArrayList<>();
    List<Entry> entries = new ArrayList<>();
    try {
      while (running || !applyQueue.isEmpty()) {
        List<Entry> first = applyQueue.poll(100, TimeUnit.MILLISECONDS);
        if (first == null) {
          continue;
        }
        batches.add(first);
        applyQueue.drainTo(batches);
        for (List<Entry> b : batches) {
          entries.addAll(b);
        }
        long t0 = System.nanoTime();
        List<Object> results = stateMachine.apply(entries);
        metrics.applySeconds.observe((System.nanoTime() - t0) / 1e9);
        long applied = entries.get(entries.size() - 1).index();
        appliedIndex = applied; // before completing futures: a caller that sees its write sees this index
        for (int i = 0; i < entries.size(); i++) {
          Entry e = entries.get(i);
          if (!forwarded.isEmpty() && config.nodeId().equals(e.originNode())) {
            Forwarded w = forwarded.remove(e.originId());
            if (w != null) {
              w.future().complete(results.get(i));
              metrics.forwardedProposals.labelValues("applied").inc();
            }
          }
          Proposal p = pending.remove(e.index());
          if (p != null) {
            if (p.termHolder[0] == e.term()) {
              p.future.complete(results.get(i));
            } else {
              p.future.completeExceptionally(
                  new NotLeaderException(null, "leadership changed; the proposal was not committed"));
            }
          }
        }
        metrics.appliedIndex.set(applied);
        if (!readsAwaitingApply.isEmpty()) {
          releaseReads(applied);
        }
        for (LongConsumer l : appliedListeners) {
          l.accept(applied);
        }
        batches.clear();
        entries.clear();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Throwable t) {
      fail(t);
    }
  }

  private void fail(Throwable t) {
    log.error("raft node {} failed; it stops serving writes", config.nodeId(), t);
    failure = t;
    running = false;
    failPending(new IllegalStateException("raft node failed: " + t));
  }

  private void failPending(RuntimeException e) {
    readsAwaitingQuorum.values().forEach(f -> f.completeExceptionally(e));
    readsAwaitingQuorum.clear();
    readsAwaitingApply.values().forEach(q -> q.forEach(f -> f.completeExceptionally(e)));
    readsAwaitingApply.clear();
    Proposal p;
    while ((p = proposals.poll()) != null) {
      p.future.completeExceptionally(e);
    }
    for (Long index : new ArrayList<>(pending.keySet())) {
      Proposal q = pending.remove(index);
      if (q != null) {
        q.future.completeExceptionally(e);
      }
    }
    failForwarded(Long.MAX_VALUE, e);
  }

  /**
   * Stops the threads (waiting for the apply thread to finish what was committed) and fails
   * proposals still waiting. Does not close the storage or the transport.
   */
  @Override
  public void close() {
    running = false;
    tickThread.interrupt();
    try {
      raftThread.join(5_000);
      applyThread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    compactor.close(); // waits for a flush in progress: the caller closes the storage next
    failPending(new IllegalStateException("raft node stopped"));
  }
}
