package io.dsync.broker;

import io.dsync.broker.GroupModel.GroupInfo;
import io.dsync.broker.GroupModel.MemberInfo;
import io.dsync.broker.GroupModel.Membership;
import io.dsync.broker.GroupModel.TopicPartition;
import io.dsync.broker.TopicsStateMachine.TopicView;
import io.dsync.broker.proto.GroupMember;
import io.dsync.broker.proto.GroupState;
import io.dsync.raft.RaftNode;
import io.dsync.raft.Role;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consumer-group coordinator (Kafka's group coordinator, stream consumption): joins, leaves
 * and heartbeats of group members, their partition assignment, and session timeouts.
 *
 * <p><b>Membership is in the log, heartbeats are not.</b> Joins and leaves are Raft commands
 * applied by {@code ConsumerGroups}; the assignment is computed from the applied state by {@link
 * GroupAssignor}. A heartbeat writes nothing: it is served by the leader (followers forward it),
 * which keeps each member's last heartbeat time in memory. A sweeper on the leader ({@value
 * #SWEEP_INTERVAL_MS} ms period, a virtual thread) proposes {@code RemoveMembers} for the members
 * whose session timeout passed since their last heartbeat (or join); applying it makes a new
 * generation on every node. A member removed that way gets 404 on its next heartbeat and must
 * join again (Kafka's UNKNOWN_MEMBER_ID).
 *
 * <p><b>A new leader</b> knows no heartbeat times: it starts every member's session afresh, from
 * the moment it first sees the member in its applied state after it confirmed its leadership and
 * caught up (one ReadIndex per term) — as etcd refreshes every lease on a new leader. So a failover
 * lengthens sessions by at most the time to elect and catch up, and never expires a live member
 * because of it. Time is the broker's clock ({@code clockMs}); it never enters the state machine
 * except as the join entry's timestamp.
 *
 * <p><b>Limits</b>: session timeouts {@value #MIN_SESSION_TIMEOUT_MS}–{@value
 * #MAX_SESSION_TIMEOUT_MS} ms (default {@value #DEFAULT_SESSION_TIMEOUT_MS}); 1–{@value
 * #MAX_TOPICS_PER_MEMBER} topics per member, each existing when joining (a topic deleted later
 * stays subscribed, and its partitions leave the assignment until it exists again); 1,000 members
 * per group. Member ids follow the names rule ({@link BrokerLimits#NAME}); without one, the
 * broker names the member {@code member-<entry index>}.
 *
 * <p>Thread safety: every public method is safe from any thread; answers come from the state
 * applied on this node (for heartbeats, the leader's, confirmed current for its term).
 */
public final class GroupCoordinator implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GroupCoordinator.class);

  /** The shortest session timeout a member may ask for, in ms. */
  public static final long MIN_SESSION_TIMEOUT_MS = 1_000;

  /** The longest session timeout a member may ask for, in ms. */
  public static final long MAX_SESSION_TIMEOUT_MS = 300_000;

  /** The session timeout of a join that gives none, in ms (Kafka's default since 3.0). */
  public static final long DEFAULT_SESSION_TIMEOUT_MS = 45_000;

  /** Most topics one member subscribes to. */
  public static final int MAX_TOPICS_PER_MEMBER = 100;

  /** How often the leader's sweeper looks for lapsed sessions, in ms. */
  static final long SWEEP_INTERVAL_MS = 100;

  /** One member incarnation: a member removed and joined again is a new session. */
  private record SessionKey(String group, String memberId, long joinedIndex) {}

  private final TopicsStateMachine state;
  private final ConsumerGroups groups;
  private final RaftNode raft;
  private final LongSupplier clockMs;
  private final Function<byte[], Object> write;
  private final Runnable awaitLinearizable;
  /** Last heartbeat (or join, or first sighting in this term) of each member, on this leader's clock. */
  private final ConcurrentHashMap<SessionKey, Long> lastHeartbeatMs = new ConcurrentHashMap<>();
  /** Groups with a RemoveMembers proposal in flight (one at a time per group). */
  private final Set<String> removing = ConcurrentHashMap.newKeySet();
  /** How long the sweeper waits for one RemoveMembers proposal before it may propose again, in ms. */
  private static final long REMOVE_TIMEOUT_MS = 10_000;
  /** The term whose sessions {@link #lastHeartbeatMs} holds; -1 when not leading. Guarded by this. */
  private long sessionsTerm = -1;
  private volatile boolean closed;
  private Thread sweeper;

  /**
   * @param state the state machine (topics and groups, as applied on this node)
   * @param raft the Raft node (role, term, proposals of the sweeper)
   * @param clockMs this node's clock, ms
   * @param write proposes a command and returns its applied result (throws {@link BrokerException})
   * @param awaitLinearizable confirms leadership and waits for the applied state to catch up
   *     (throws {@link BrokerException} NO_LEADER)
   */
  GroupCoordinator(TopicsStateMachine state, RaftNode raft, LongSupplier clockMs, Function<byte[], Object> write,
      Runnable awaitLinearizable) {
    this.state = state;
    this.groups = state.groups();
    this.raft = raft;
    this.clockMs = clockMs;
    this.write = write;
    this.awaitLinearizable = awaitLinearizable;
  }

  /** Starts the leader-side session sweeper (a virtual thread). */
  void start() {
    sweeper = Thread.ofVirtual().name("dsync-group-sweeper").start(this::sweepLoop);
  }

  // ------------------------------------------------------------------ API

  /**
   * Joins a member to a group, or joins it again (Kafka's JoinGroup). A new member, or a known
   * member with other topics, makes a new generation; a known member with the same topics changes
   * nothing but its session timeout. The member's session starts (again) now.
   *
   * @param group the group (created by its first join)
   * @param memberId the member's id, or {@code null} to have the broker name it (a retried join
   *     without an id then makes a second member; the first one expires with its session)
   * @param topics 1–{@value #MAX_TOPICS_PER_MEMBER} existing topics; duplicates count once
   * @param sessionTimeoutMs {@value #MIN_SESSION_TIMEOUT_MS}–{@value #MAX_SESSION_TIMEOUT_MS} ms
   * @return the member's id, the generation and its assignment
   * @throws BrokerException BAD_REQUEST (names, topics, timeout), NOT_FOUND (a topic), CONFLICT
   *     (the group is full), NO_LEADER, OVERLOADED
   */
  public Membership join(String group, String memberId, List<String> topics, long sessionTimeoutMs) {
    BrokerLimits.checkName("group", group);
    if (memberId != null) {
      BrokerLimits.checkName("member", memberId);
    }
    if (topics == null || topics.isEmpty() || topics.size() > MAX_TOPICS_PER_MEMBER) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "topics must list 1-" + MAX_TOPICS_PER_MEMBER + " topics");
    }
    TreeSet<String> subscribed = new TreeSet<>();
    for (String t : topics) {
      BrokerLimits.checkName("topic", t);
      subscribed.add(t);
    }
    for (String t : subscribed) {
      if (state.view(t) == null) {
        throw new BrokerException(ErrorKind.NOT_FOUND, "topic '" + t + "' does not exist");
      }
    }
    if (sessionTimeoutMs < MIN_SESSION_TIMEOUT_MS || sessionTimeoutMs > MAX_SESSION_TIMEOUT_MS) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "session_timeout_ms must be " + MIN_SESSION_TIMEOUT_MS + "-"
          + MAX_SESSION_TIMEOUT_MS + ", got " + sessionTimeoutMs);
    }
    GroupState g = groups.group(group);
    if (g != null && g.getMembersCount() >= ConsumerGroups.MAX_MEMBERS
        && (memberId == null || !ConsumerGroups.members(g).containsKey(memberId))) {
      throw new BrokerException(ErrorKind.CONFLICT,
          "group '" + group + "' is full: it has " + ConsumerGroups.MAX_MEMBERS + " members");
    }
    ConsumerGroups.Joined joined = (ConsumerGroups.Joined) write.apply(
        CommandCodec.joinGroup(group, memberId, List.copyOf(subscribed), sessionTimeoutMs));
    lastHeartbeatMs.put(new SessionKey(group, joined.memberId(), joined.joinedIndex()), clockMs.getAsLong());
    GroupState now = groups.group(group);
    if (now == null || !ConsumerGroups.members(now).containsKey(joined.memberId())) {
      return new Membership(joined.memberId(), joined.generation(), List.of()); // removed at once since
    }
    return new Membership(joined.memberId(), now.getGeneration(), assignment(now).get(joined.memberId()));
  }

  /**
   * A member's heartbeat (Kafka's Heartbeat, answering like SyncGroup): on the leader, restarts
   * the member's session and answers its current generation and assignment. Writes nothing.
   *
   * @return the member's id, the group's generation and the member's assignment
   * @throws BrokerException BAD_REQUEST (names), NOT_FOUND (no such group or member: it left or
   *     its session expired; join again), NO_LEADER (this node does not lead, or is a new leader
   *     not yet caught up: retry)
   */
  public Membership heartbeat(String group, String memberId) {
    BrokerLimits.checkName("group", group);
    BrokerLimits.checkName("member", memberId);
    if (raft.role() != Role.LEADER) {
      String leader = raft.leaderId();
      throw new BrokerException(ErrorKind.NO_LEADER, "heartbeats go to the leader; this node does not lead",
          leader == null ? Map.of() : Map.of("leader_id", leader));
    }
    startTermIfNew();
    GroupState g = groups.group(group);
    GroupMember m = g == null ? null : ConsumerGroups.members(g).get(memberId);
    if (m == null) {
      throw ConsumerGroups.notAMember(group, memberId);
    }
    lastHeartbeatMs.put(new SessionKey(group, memberId, m.getJoinedIndex()), clockMs.getAsLong());
    return new Membership(memberId, g.getGeneration(), assignment(g).get(memberId));
  }

  /**
   * A member leaves (Kafka's LeaveGroup): a new generation without it.
   *
   * @return the group's generation after the leave
   * @throws BrokerException BAD_REQUEST (names), NOT_FOUND (no such group or member), NO_LEADER,
   *     OVERLOADED
   */
  public long leave(String group, String memberId) {
    BrokerLimits.checkName("group", group);
    BrokerLimits.checkName("member", memberId);
    GroupState g = groups.group(group);
    if (g == null || !ConsumerGroups.members(g).containsKey(memberId)) {
      throw ConsumerGroups.notAMember(group, memberId);
    }
    long generation = (Long) write.apply(CommandCodec.leaveGroup(group, memberId));
    lastHeartbeatMs.keySet().removeIf(k -> k.group().equals(group) && k.memberId().equals(memberId));
    return generation;
  }

  /**
   * Describes a group as applied on this node: generation, members, their topics and assignments.
   *
   * @throws BrokerException BAD_REQUEST (name), NOT_FOUND (no member ever joined it)
   */
  public GroupInfo describe(String group) {
    BrokerLimits.checkName("group", group);
    GroupState g = groups.group(group);
    if (g == null) {
      throw new BrokerException(ErrorKind.NOT_FOUND, "group '" + group + "' does not exist (no member ever joined it)");
    }
    SortedMap<String, List<TopicPartition>> assignment = assignment(g);
    List<MemberInfo> members = new ArrayList<>(g.getMembersCount());
    for (GroupMember m : g.getMembersList()) {
      members.add(new MemberInfo(m.getMemberId(), List.copyOf(m.getTopicsList()), m.getSessionTimeoutMs(),
          m.getJoinedMs(), assignment.get(m.getMemberId())));
    }
    return new GroupInfo(g.getGroup(), g.getGeneration(), members);
  }

  /** Stops the sweeper. */
  @Override
  public void close() {
    closed = true;
    if (sweeper != null) {
      sweeper.interrupt();
    }
  }

  // ------------------------------------------------------------------ sessions (leader side)

  /**
   * One pass of the sweeper: on the leader, proposes {@code RemoveMembers} (reason {@code
   * session-timeout}) for every group with members whose session lapsed, at most one proposal in
   * flight per group. Off the leader, forgets every heartbeat time.
   *
   * @return completes when the proposals made by this pass are applied or failed
   */
  CompletableFuture<Void> sweep() {
    if (raft.role() != Role.LEADER) {
      forgetSessions();
      return CompletableFuture.completedFuture(null);
    }
    try {
      startTermIfNew();
    } catch (BrokerException e) {
      return CompletableFuture.completedFuture(null); // not caught up or deposed: next pass
    }
    long now = clockMs.getAsLong();
    Set<SessionKey> live = new HashSet<>();
    List<CompletableFuture<?>> proposals = new ArrayList<>();
    for (GroupState g : groups.groups()) {
      List<String> ids = new ArrayList<>();
      List<Long> incarnations = new ArrayList<>();
      for (GroupMember m : g.getMembersList()) {
        SessionKey k = new SessionKey(g.getGroup(), m.getMemberId(), m.getJoinedIndex());
        live.add(k);
        Long seen = lastHeartbeatMs.putIfAbsent(k, now);
        if (seen != null && now - seen > m.getSessionTimeoutMs()) {
          ids.add(m.getMemberId());
          incarnations.add(m.getJoinedIndex());
        }
      }
      if (!ids.isEmpty() && removing.add(g.getGroup())) {
        try {
          // Bounded: a proposal whose outcome never arrives must not block this group's removals.
          proposals.add(raft.propose(CommandCodec.removeMembers(g.getGroup(), ids, incarnations, "session-timeout"))
              .orTimeout(REMOVE_TIMEOUT_MS, java.util.concurrent.TimeUnit.MILLISECONDS)
              .whenComplete((r, t) -> removing.remove(g.getGroup())));
        } catch (RuntimeException e) { // deposed, overloaded or closing: the next pass tries again
          removing.remove(g.getGroup());
        }
      }
    }
    lastHeartbeatMs.keySet().retainAll(live);
    return CompletableFuture.allOf(proposals.stream().map(f -> f.handle((r, t) -> null)).toArray(CompletableFuture[]::new));
  }

  /**
   * On the first call in a new term of leadership, waits until this leader's applied state is
   * current (ReadIndex) and starts every session afresh.
   */
  private void startTermIfNew() {
    long term = raft.term();
    synchronized (this) {
      if (term == sessionsTerm) {
        return;
      }
    }
    awaitLinearizable.run();
    synchronized (this) {
      if (sessionsTerm != term) {
        lastHeartbeatMs.clear();
        sessionsTerm = term;
        log.info("leading in term {}: every consumer-group session starts afresh", term);
      }
    }
  }

  private synchronized void forgetSessions() {
    if (sessionsTerm != -1) {
      sessionsTerm = -1;
      lastHeartbeatMs.clear();
    }
  }

  private void sweepLoop() {
    while (!closed) {
      try {
        Thread.sleep(SWEEP_INTERVAL_MS);
      } catch (InterruptedException e) {
        return;
      }
      try {
        sweep();
      } catch (RuntimeException e) {
        if (!closed) {
          log.warn("consumer-group session sweep failed; retrying", e);
        }
      }
    }
  }

  // ------------------------------------------------------------------ internals

  /** The last assignment computed per group, valid while the group's published state is that object. */
  private record CachedAssignment(GroupState state, SortedMap<String, List<TopicPartition>> assignment) {}

  private final ConcurrentHashMap<String, CachedAssignment> assignments = new ConcurrentHashMap<>();

  /**
   * The group's assignment, computed once per published state (a join, leave or topic change
   * publishes a new {@link GroupState} object and bumps the generation), not on every heartbeat:
   * building the rings costs 150 virtual nodes per member.
   */
  private SortedMap<String, List<TopicPartition>> assignment(GroupState g) {
    CachedAssignment c = assignments.get(g.getGroup());
    if (c != null && c.state() == g) {
      return c.assignment();
    }
    SortedMap<String, List<TopicPartition>> computed = java.util.Collections.unmodifiableSortedMap(computeAssignment(g));
    assignments.put(g.getGroup(), new CachedAssignment(g, computed));
    return computed;
  }

  private SortedMap<String, List<TopicPartition>> computeAssignment(GroupState g) {
    TreeMap<String, TreeSet<String>> subscriptions = new TreeMap<>();
    for (GroupMember m : g.getMembersList()) {
      subscriptions.put(m.getMemberId(), new TreeSet<>(m.getTopicsList()));
    }
    return GroupAssignor.assign(subscriptions, t -> {
      TopicView v = state.view(t);
      return v == null ? 0 : v.endOffsets().length;
    });
  }
}
