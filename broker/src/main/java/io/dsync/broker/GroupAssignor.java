package io.dsync.broker;

import io.dsync.broker.GroupModel.TopicPartition;
import io.dsync.broker.ring.ConsistentHashRing;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.ToIntFunction;

/**
 * Assigns a consumer group's partitions to its members on consistent-hash rings (the partition
 * → member use of the ring in DESIGN.md).
 *
 * <p><b>Rule.</b> For each topic some member subscribes to (and that exists), a ring is built from
 * the members subscribed to that topic ({@link ConsistentHashRing}, {@value
 * ConsistentHashRing#DEFAULT_VIRTUAL_NODES} virtual nodes, XXH3, a member's virtual nodes named
 * from its id); partition {@code p} of topic {@code t} goes to the ring's member for the key
 * {@code "t/p"}. So a member joining takes about {@code 1/(n+1)} of each topic's partitions, all
 * from the others and nothing moves between the others; a member leaving gives away exactly its
 * own partitions. Every partition of a subscribed, existing topic has exactly one owner.
 *
 * <p><b>Determinism.</b> A pure function of the members, their subscriptions and the partition
 * counts: no clock, no randomness, sorted inputs; so every node computes the same assignment from
 * the same applied state, and the state machine need not store it.
 *
 * <p>Thread safety: stateless; safe from any thread. Cost: one ring per distinct set of
 * subscribers ({@code O(m·150·log)}) plus one lookup per partition.
 */
public final class GroupAssignor {
  private GroupAssignor() {}

  /**
   * Computes the assignment.
   *
   * @param subscriptions each member's id → the topics it subscribes to
   * @param partitionsOf a topic's partition count, or a negative number (or 0) when the topic does
   *     not exist (its partitions are then assigned to nobody)
   * @return member id → its partitions, sorted by topic then partition; every member is a key
   *     (with an empty list when it owns nothing)
   */
  public static SortedMap<String, List<TopicPartition>> assign(
      SortedMap<String, ? extends SortedSet<String>> subscriptions, ToIntFunction<String> partitionsOf) {
    TreeMap<String, TreeSet<String>> subscribers = new TreeMap<>(); // topic -> its members
    subscriptions.forEach((member, topics) -> {
      for (String t : topics) {
        subscribers.computeIfAbsent(t, k -> new TreeSet<>()).add(member);
      }
    });
    SortedMap<String, List<TopicPartition>> out = new TreeMap<>();
    subscriptions.keySet().forEach(m -> out.put(m, new ArrayList<>()));
    // Members often share their subscriptions: one ring per distinct member set. Only looked up.
    Map<TreeSet<String>, ConsistentHashRing<String>> rings = new HashMap<>();
    for (Map.Entry<String, TreeSet<String>> e : subscribers.entrySet()) {
      String topic = e.getKey();
      int partitions = partitionsOf.applyAsInt(topic);
      if (partitions <= 0) {
        continue;
      }
      ConsistentHashRing<String> ring = rings.computeIfAbsent(e.getValue(), GroupAssignor::ring);
      for (int p = 0; p < partitions; p++) {
        out.get(ring.memberFor(topic + "/" + p)).add(new TopicPartition(topic, p));
      }
    }
    out.replaceAll((m, list) -> List.copyOf(list));
    return out;
  }

  /** The ring of a set of member ids: each member's virtual nodes are {@code "id#i"}. */
  static ConsistentHashRing<String> ring(TreeSet<String> members) {
    return ConsistentHashRing.of(members, ConsistentHashRing.DEFAULT_VIRTUAL_NODES, id -> id);
  }
}
