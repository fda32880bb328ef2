package io.dsync.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.GroupModel.TopicPartition;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

/**
 * The partition → member assignment of consumer groups on consistent-hash rings: complete and
 * exclusive, and a join or leave moves only the partitions that must move.
 *
 * <p>Movement bounds, and why: on a ring with 150 virtual nodes per member, a member joining
 * {@code n} others owns an arc of about {@code 1/(n+1)} of the circle, with a relative spread of
 * about {@code 1/sqrt(150)} ≈ 8 % (ConsistentHashRing's doc); on top of that, which of {@code P}
 * partitions fall in that arc is like drawing {@code P} keys, a binomial spread of
 * {@code sqrt(P·q·(1-q))} partitions ({@code q = 1/(n+1)}). For 60 partitions and 3 → 4 members the
 * ideal is 15 and one binomial spread is 3.4, so the test allows 15 ± 3 spreads, [5, 25]; over
 * 6,000 partitions the spread is 0.6 % of the keys, so the moved share must be within 25 % ± 5
 * points. These are bounds on a fixed, deterministic outcome (no randomness): they say what the
 * ring promises, and the exact figures are printed.
 */
class GroupAssignorTest {
  /** Topics a (20 partitions), b (24), c (16): 60 partitions. */
  private static final Map<String, Integer> TOPICS = Map.of("a", 20, "b", 24, "c", 16);

  private static SortedMap<String, TreeSet<String>> members(String... ids) {
    SortedMap<String, TreeSet<String>> out = new TreeMap<>();
    for (String id : ids) {
      out.put(id, new TreeSet<>(TOPICS.keySet()));
    }
    return out;
  }

  private static SortedMap<String, List<TopicPartition>> assign(SortedMap<String, TreeSet<String>> subscriptions) {
    return GroupAssignor.assign(subscriptions, t -> TOPICS.getOrDefault(t, 0));
  }

  /** @return partition → owner */
  private static Map<TopicPartition, String> owners(SortedMap<String, List<TopicPartition>> assignment) {
    Map<TopicPartition, String> out = new TreeMap<>((x, y) -> x.topic().equals(y.topic())
        ? Integer.compare(x.partition(), y.partition()) : x.topic().compareTo(y.topic()));
    assignment.forEach((m, ps) -> ps.forEach(p -> assertEquals(null, out.put(p, m), p + " has two owners")));
    return out;
  }

  @Test
  void everyPartitionHasExactlyOneOwnerAndListsAreSorted() {
    SortedMap<String, List<TopicPartition>> a = assign(members("m1", "m2", "m3"));
    assertEquals(60, owners(a).size());
    for (List<TopicPartition> ps : a.values()) {
      for (int i = 1; i < ps.size(); i++) {
        TopicPartition x = ps.get(i - 1);
        TopicPartition y = ps.get(i);
        assertTrue(x.topic().compareTo(y.topic()) < 0 || x.topic().equals(y.topic()) && x.partition() < y.partition(),
            ps.toString());
      }
    }
    // Each of 3 members gets a share; with 60 keys none is starved or hoards.
    a.forEach((m, ps) -> assertTrue(ps.size() >= 10 && ps.size() <= 30, m + " owns " + ps.size()));
  }

  @Test
  void aJoinMovesOnlyPartitionsToTheNewMemberAboutAQuarter() {
    Map<TopicPartition, String> before = owners(assign(members("m1", "m2", "m3")));
    Map<TopicPartition, String> after = owners(assign(members("m1", "m2", "m3", "m4")));
    int moved = 0;
    for (Map.Entry<TopicPartition, String> e : before.entrySet()) {
      String now = after.get(e.getKey());
      if (!now.equals(e.getValue())) {
        assertEquals("m4", now, e.getKey() + " moved between old members");
        moved++;
      }
    }
    assertEquals(after.values().stream().filter("m4"::equals).count(), moved, "m4 owns only what moved");
    System.out.printf("3 -> 4 members: %d of 60 partitions moved (ideal 15)%n", moved);
    assertTrue(moved >= 5 && moved <= 25, "moved " + moved + ", bounds [5, 25] around the ideal 15");
  }

  @Test
  void aLeaveMovesExactlyTheLeaversPartitions() {
    Map<TopicPartition, String> before = owners(assign(members("m1", "m2", "m3", "m4")));
    Map<TopicPartition, String> after = owners(assign(members("m1", "m2", "m4")));
    assertEquals(60, after.size());
    for (Map.Entry<TopicPartition, String> e : before.entrySet()) {
      if (e.getValue().equals("m3")) {
        assertTrue(!after.get(e.getKey()).equals("m3"), e.getKey() + " still on the leaver");
      } else {
        assertEquals(e.getValue(), after.get(e.getKey()), e.getKey() + " moved though its owner stayed");
      }
    }
  }

  @Test
  void movementOverManyPartitionsIsCloseToOneOverNPlusOne() {
    Map<String, Integer> big = Map.of("x", 1000, "y", 1000, "z", 1000, "w", 1000, "v", 1000, "u", 1000);
    SortedMap<String, TreeSet<String>> three = new TreeMap<>();
    for (String m : List.of("alpha", "beta", "gamma")) {
      three.put(m, new TreeSet<>(big.keySet()));
    }
    SortedMap<String, TreeSet<String>> four = new TreeMap<>(three);
    four.put("delta", new TreeSet<>(big.keySet()));
    Map<TopicPartition, String> before = owners(GroupAssignor.assign(three, t -> big.getOrDefault(t, 0)));
    Map<TopicPartition, String> after = owners(GroupAssignor.assign(four, t -> big.getOrDefault(t, 0)));
    long moved = before.entrySet().stream().filter(e -> !after.get(e.getKey()).equals(e.getValue())).count();
    double share = moved / 6000.0;
    System.out.printf("3 -> 4 members: %.1f %% of 6000 partitions moved (ideal 25 %%)%n", share * 100);
    assertTrue(share > 0.20 && share < 0.30, "moved share " + share);
  }

  @Test
  void membersOnlyGetTopicsTheySubscribeToAndMissingTopicsAreSkipped() {
    SortedMap<String, TreeSet<String>> subs = new TreeMap<>();
    subs.put("only-a", new TreeSet<>(List.of("a")));
    subs.put("a-and-gone", new TreeSet<>(List.of("a", "gone")));
    subs.put("only-gone", new TreeSet<>(List.of("gone")));
    SortedMap<String, List<TopicPartition>> a = assign(subs);
    assertEquals(List.of(), a.get("only-gone"), "a deleted topic's partitions go to nobody");
    assertEquals(20, a.get("only-a").size() + a.get("a-and-gone").size());
    a.values().forEach(ps -> ps.forEach(p -> assertEquals("a", p.topic())));
    assertEquals(assign(subs), assign(new TreeMap<>(subs)), "a pure function");
  }
}
