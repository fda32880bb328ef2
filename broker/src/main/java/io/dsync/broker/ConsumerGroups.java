package io.dsync.broker;

import com.google.protobuf.InvalidProtocolBufferException;
import io.dsync.broker.proto.GroupMember;
import io.dsync.broker.proto.GroupState;
import io.dsync.broker.proto.JoinGroup;
import io.dsync.broker.proto.LeaveGroup;
import io.dsync.broker.proto.RemoveMembers;
import io.dsync.raft.Entry;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import io.dsync.storage.StateStore.StateBatch;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The applied state of consumer-group membership (Kafka's group coordinator state, without the
 * in-memory sessions, which live at the leader in {@link GroupCoordinator}): per group a
 * generation and its members (id, subscribed topics, session timeout, the entry that added it).
 *
 * <p>State lives in the {@code groups} column family: group name → {@link GroupState} (members
 * sorted by id). A group stays once created, with its generation, even when its last member
 * leaves, so a generation never goes back. The assignment is not stored: it is a pure function of
 * the members and the topics ({@link GroupAssignor}).
 *
 * <p>Generation: +1 on every applied change of the member set or of a member's topics, and when a
 * topic some member subscribes to is created or deleted (the assignment changes then too, as in
 * Kafka's metadata-triggered rebalance). A join that changes nothing, or only the session timeout,
 * keeps the generation.
 *
 * <p>Determinism: the only clock is the entry's timestamp; only sorted collections are iterated;
 * a member id the broker chooses comes from the entry index.
 *
 * <p>Thread safety: the apply methods run on the apply thread only, inside {@link
 * TopicsStateMachine#apply}; {@link #group} and {@link #groups} are safe from any thread and see
 * the state as of the last committed batch ({@link #publish}).
 */
final class ConsumerGroups {
  private static final Logger log = LoggerFactory.getLogger(ConsumerGroups.class);

  /** The column family of the groups. */
  static final StateColumnFamily COLUMN_FAMILY = new StateColumnFamily("groups", false);

  /** Most members in one group; a join beyond it is a {@link ErrorKind#CONFLICT}. */
  static final int MAX_MEMBERS = 1_000;

  /** The outcome of an applied join: the member's id, the generation after it, its incarnation. */
  record Joined(String memberId, long generation, long joinedIndex) {}

  private final Column cf;
  /** The apply thread's state; protobuf messages are immutable, so published values are shared. */
  private final TreeMap<String, GroupState> working = new TreeMap<>();
  private final ConcurrentSkipListMap<String, GroupState> published = new ConcurrentSkipListMap<>();
  /** Groups changed by the batch being applied, published after its commit. */
  private final TreeSet<String> changed = new TreeSet<>();

  /** Recovers the groups from {@code store}'s {@code groups} column family. */
  ConsumerGroups(StateStore store) {
    this.cf = store.column(COLUMN_FAMILY.name());
    load();
  }

  /** Rebuilds the in-memory state from the column family (at start and after a snapshot). */
  void load() {
    working.clear();
    changed.clear();
    for (KeyValue kv : cf.scan(new byte[0], new byte[] {(byte) 0xFF}, Integer.MAX_VALUE, Long.MAX_VALUE)) {
      GroupState g = parse(kv.value());
      working.put(g.getGroup(), g);
    }
    published.keySet().retainAll(working.keySet());
    published.putAll(working);
  }

  /** Makes the changes of the batch just committed visible to readers (apply thread). */
  void publish() {
    for (String name : changed) {
      GroupState g = working.get(name);
      if (g == null) {
        published.remove(name);
      } else {
        published.put(name, g);
      }
    }
    changed.clear();
  }

  // ------------------------------------------------------------------ apply (apply thread)

  /**
   * Applies a join: adds the member (a new generation), changes its topics (a new generation), or
   * finds it already so (same generation; a different session timeout is stored).
   *
   * @return {@link Joined}, or a {@link BrokerException} (BAD_REQUEST: no topics or no positive
   *     session timeout; CONFLICT: the group holds {@link #MAX_MEMBERS} members)
   */
  Object join(StateBatch batch, JoinGroup c, Entry e) {
    if (c.getTopicsCount() == 0 || c.getSessionTimeoutMs() <= 0) {
      return new BrokerException(ErrorKind.BAD_REQUEST, "a join needs topics and a positive session timeout");
    }
    GroupState g = working.getOrDefault(c.getGroup(), GroupState.newBuilder().setGroup(c.getGroup()).build());
    TreeMap<String, GroupMember> members = members(g);
    List<String> topics = List.copyOf(new TreeSet<>(c.getTopicsList()));
    String id = c.getMemberId().isEmpty() ? newMemberId(members, e.index()) : c.getMemberId();
    GroupMember existing = members.get(id);
    if (existing != null && existing.getTopicsList().equals(topics)) {
      if (existing.getSessionTimeoutMs() != c.getSessionTimeoutMs()) {
        members.put(id, existing.toBuilder().setSessionTimeoutMs(c.getSessionTimeoutMs()).build());
        put(batch, g, g.getGeneration(), members);
      }
      return new Joined(id, g.getGeneration(), existing.getJoinedIndex());
    }
    if (existing == null && members.size() >= MAX_MEMBERS) {
      return new BrokerException(ErrorKind.CONFLICT,
          "group '" + c.getGroup() + "' is full: it has " + MAX_MEMBERS + " members");
    }
    GroupMember m = GroupMember.newBuilder()
        .setMemberId(id)
        .addAllTopics(topics)
        .setSessionTimeoutMs(c.getSessionTimeoutMs())
        .setJoinedIndex(existing == null ? e.index() : existing.getJoinedIndex())
        .setJoinedMs(existing == null ? e.timestampMs() : existing.getJoinedMs())
        .build();
    members.put(id, m);
    long generation = g.getGeneration() + 1;
    put(batch, g, generation, members);
    return new Joined(id, generation, m.getJoinedIndex());
  }

  /**
   * Applies a member's own leave.
   *
   * @return the generation after it ({@code Long}), or a NOT_FOUND {@link BrokerException}
   */
  Object leave(StateBatch batch, LeaveGroup c) {
    GroupState g = working.get(c.getGroup());
    TreeMap<String, GroupMember> members = g == null ? new TreeMap<>() : members(g);
    if (members.remove(c.getMemberId()) == null) {
      return notAMember(c.getGroup(), c.getMemberId());
    }
    long generation = g.getGeneration() + 1;
    put(batch, g, generation, members);
    return generation;
  }

  /**
   * Applies the leader's removal of members (session timeouts). A member is removed only if its
   * joined index still matches (the same incarnation); others are skipped.
   *
   * @return the ids removed, sorted ({@code List<String>}; empty when none, and then the
   *     generation did not move)
   */
  Object remove(StateBatch batch, RemoveMembers c) {
    GroupState g = working.get(c.getGroup());
    if (g == null) {
      return List.of();
    }
    TreeMap<String, GroupMember> members = members(g);
    TreeSet<String> removed = new TreeSet<>();
    for (int i = 0; i < c.getMemberIdsCount(); i++) {
      GroupMember m = members.get(c.getMemberIds(i));
      long incarnation = i < c.getJoinedIndexesCount() ? c.getJoinedIndexes(i) : 0;
      if (m != null && (incarnation == 0 || m.getJoinedIndex() == incarnation)) {
        members.remove(m.getMemberId());
        removed.add(m.getMemberId());
      }
    }
    if (!removed.isEmpty()) {
      put(batch, g, g.getGeneration() + 1, members);
      log.info("group {}: removed {} ({})", c.getGroup(), removed, c.getReason());
    }
    return List.copyOf(removed);
  }

  /**
   * A topic was created or deleted: every group with a member subscribed to it gets a new
   * generation, since its assignment changes.
   */
  void topicChanged(StateBatch batch, String topic) {
    for (GroupState g : List.copyOf(working.values())) {
      for (GroupMember m : g.getMembersList()) {
        if (m.getTopicsList().contains(topic)) {
          put(batch, g, g.getGeneration() + 1, members(g));
          break;
        }
      }
    }
  }

  // ------------------------------------------------------------------ reads (any thread)

  /** @return the group as last committed, or {@code null} if it never had a member */
  GroupState group(String name) {
    return published.get(name);
  }

  /** @return every group as last committed, sorted by name (a snapshot of the map's values) */
  List<GroupState> groups() {
    return List.copyOf(published.values());
  }

  // ------------------------------------------------------------------ internals

  static TreeMap<String, GroupMember> members(GroupState g) {
    TreeMap<String, GroupMember> out = new TreeMap<>();
    for (GroupMember m : g.getMembersList()) {
      out.put(m.getMemberId(), m);
    }
    return out;
  }

  /** {@code member-<index>}, or with a suffix in the unlikely case a client chose that id. */
  private static String newMemberId(TreeMap<String, GroupMember> members, long index) {
    String id = "member-" + index;
    for (int k = 1; members.containsKey(id); k++) {
      id = "member-" + index + "-" + k;
    }
    return id;
  }

  private void put(StateBatch batch, GroupState old, long generation, TreeMap<String, GroupMember> members) {
    GroupState g = old.toBuilder().setGeneration(generation).clearMembers().addAllMembers(members.values()).build();
    working.put(g.getGroup(), g);
    changed.add(g.getGroup());
    batch.put(cf, g.getGroup().getBytes(StandardCharsets.UTF_8), g.toByteArray());
  }

  static BrokerException notAMember(String group, String memberId) {
    return new BrokerException(ErrorKind.NOT_FOUND, "member '" + memberId + "' is not in group '" + group
        + "' (it left or its session timed out): join again");
  }

  private static GroupState parse(byte[] b) {
    try {
      return GroupState.parseFrom(b);
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException("corrupt group state", e);
    }
  }
}
