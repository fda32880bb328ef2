package io.dsync.broker.ring;

import com.dynatrace.hash4j.hashing.Hasher64;
import com.dynatrace.hash4j.hashing.Hashing;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * An immutable consistent-hash ring that places keys onto members.
 *
 * <p><b>Algorithm.</b> This is the consistent hashing scheme of Karger, Lehman, Leighton, Panigrahy,
 * Levine and Lewin, "Consistent hashing and random trees: distributed caching protocols for
 * relieving hot spots on the World Wide Web", STOC 1997. The hash space is the 64-bit circle of
 * {@code long} values read as <em>unsigned</em> numbers ({@code 0 .. 2^64-1}, wrapping back to 0).
 * Each member is placed at {@link #virtualNodesPerMember()} points on the circle: virtual node
 * {@code i} (for {@code 0 <= i < virtualNodesPerMember}) of member {@code m} sits at {@code
 * xxh3_64(utf8(memberName(m) + "#" + i))}. A key hashes to {@code xxh3_64(keyBytes)} and belongs to
 * the first virtual node clockwise from it, i.e. the one with the smallest position {@code >=} the
 * key hash (unsigned), wrapping round to the smallest position on the ring if there is none. When
 * two virtual nodes of different members land on exactly the same position, the member that comes
 * first in the members' natural ({@link Comparable}) order owns that position.
 *
 * <p><b>Why virtual nodes.</b> With one point per member, the arc each member owns is the gap to its
 * predecessor, whose length varies widely (the largest of {@code n} gaps is about {@code ln n / n}
 * of the circle), so load is badly unbalanced. Giving each member {@code v} points makes its share
 * a sum of {@code v} independent gaps, whose relative spread shrinks roughly like {@code
 * 1/sqrt(v)}; it also spreads a departing member's keys over many survivors instead of dumping
 * them all on one neighbour. {@link #DEFAULT_VIRTUAL_NODES} ({@value #DEFAULT_VIRTUAL_NODES}) is a
 * common compromise between balance and ring size.
 *
 * <p><b>Movement.</b> Adding one member to a ring of {@code n} moves about {@code 1/(n+1)} of the
 * keys, all of them to the new member; removing a member moves exactly the keys it owned, and
 * nothing else.
 *
 * <p><b>Shape.</b> Positions are stored in a sorted {@code long[]} (unsigned order, duplicates
 * removed) with a parallel {@code int[]} of indices into the sorted member list; lookup is a binary
 * search, {@code O(log(n * v))}. Construction is {@code O(n * v * log(n * v))} and allocates {@code
 * O(n * v)}.
 *
 * <p><b>Determinism.</b> Everything is a pure function of the member set, the virtual-node count
 * and the member names: the input collection's iteration order is irrelevant (members are sorted
 * by natural order), no hash-map iteration order is used, and there is no randomness or seed. The
 * ring can therefore be rebuilt independently on every replica of a replicated state machine and
 * give identical answers. This requires that {@code compareTo} on {@code M} is consistent and that
 * the {@code memberName} function is deterministic.
 *
 * <p><b>Thread safety.</b> Instances are immutable after construction and safe to share between
 * threads without synchronisation. "Mutators" ({@link #withMember}, {@link #withoutMember}) return
 * new rings and leave the receiver unchanged.
 *
 * @param <M> member type; its natural order defines {@link #members()} order and tie-breaking, and
 *     must be consistent with {@code equals} (two members comparing equal are duplicates)
 */
public final class ConsistentHashRing<M extends Comparable<M>> {

  /** Default number of virtual nodes per member, used by callers that have no better figure. */
  public static final int DEFAULT_VIRTUAL_NODES = 150;

  /** XXH3 64-bit, unseeded. hash4j hashers are stateless and thread-safe. */
  private static final Hasher64 XXH3 = Hashing.xxh3_64();

  private final List<M> members; // sorted, unmodifiable
  private final int virtualNodesPerMember;
  private final Function<M, String> memberName;
  private final long[] positions; // sorted by Long.compareUnsigned, no duplicates
  private final int[] owners; // owners[j] = index into members of the owner of positions[j]

  private ConsistentHashRing(
      List<M> sortedMembers,
      int virtualNodesPerMember,
      Function<M, String> memberName,
      long[] positions,
      int[] owners) {
    this.members = sortedMembers;
    this.virtualNodesPerMember = virtualNodesPerMember;
    this.memberName = memberName;
    this.positions = positions;
    this.owners = owners;
  }

  /**
   * Builds a ring over {@code members}.
   *
   * <p>The input order does not matter: members are sorted by natural order, so any two calls with
   * the same set of members, the same {@code virtualNodesPerMember} and an equivalent {@code
   * memberName} produce rings that answer every lookup identically. An empty collection is allowed
   * and gives an empty ring, on which lookups throw {@link IllegalStateException}. The collection is
   * copied; later changes to it do not affect the ring.
   *
   * @param members the members; none may be {@code null}, and no two may compare equal
   * @param virtualNodesPerMember number of points each member gets on the ring, at least 1 (see
   *     {@link #DEFAULT_VIRTUAL_NODES})
   * @param memberName deterministic function giving the stable name from which a member's virtual
   *     node positions are derived ({@code memberName(m) + "#" + i}, UTF-8); must not return {@code
   *     null}. Members should have distinct names; if two share a name their virtual nodes
   *     coincide and the one first in natural order owns all of them.
   * @param <M> member type
   * @return a new immutable ring
   * @throws NullPointerException if {@code members}, any element of it, {@code memberName}, or a
   *     name it returns is {@code null}
   * @throws IllegalArgumentException if {@code virtualNodesPerMember < 1}, if two members compare
   *     equal, or if {@code members.size() * virtualNodesPerMember} exceeds the maximum array size
   */
  public static <M extends Comparable<M>> ConsistentHashRing<M> of(
      Collection<M> members, int virtualNodesPerMember, Function<M, String> memberName) {
    Objects.requireNonNull(members, "members");
    Objects.requireNonNull(memberName, "memberName");
    if (virtualNodesPerMember < 1) {
      throw new IllegalArgumentException(
          "virtualNodesPerMember must be >= 1, got " + virtualNodesPerMember);
    }
    List<M> sorted = new ArrayList<>(members.size());
    for (M m : members) {
      sorted.add(Objects.requireNonNull(m, "members must not contain null"));
    }
    sorted.sort(Comparator.naturalOrder());
    for (int i = 1; i < sorted.size(); i++) {
      if (sorted.get(i - 1).compareTo(sorted.get(i)) == 0) {
        throw new IllegalArgumentException("duplicate member: " + sorted.get(i));
      }
    }
    return build(List.copyOf(sorted), virtualNodesPerMember, memberName);
  }

  /** Builds the position arrays for already sorted, duplicate-free members. */
  private static <M extends Comparable<M>> ConsistentHashRing<M> build(
      List<M> sortedMembers, int virtualNodesPerMember, Function<M, String> memberName) {
    int total;
    try {
      total = Math.multiplyExact(sortedMembers.size(), virtualNodesPerMember);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(
          "too many virtual nodes: "
              + sortedMembers.size()
              + " members x "
              + virtualNodesPerMember
              + " virtual nodes",
          e);
    }
    // Sort (position, memberIndex) pairs: unsigned position first, then member order, so that on
    // equal positions the member first in natural order comes first and is the one kept.
    long[] pos = new long[total];
    int[] own = new int[total];
    Integer[] order = new Integer[total];
    int k = 0;
    for (int mi = 0; mi < sortedMembers.size(); mi++) {
      M m = sortedMembers.get(mi);
      String name = Objects.requireNonNull(memberName.apply(m), "memberName returned null");
      for (int i = 0; i < virtualNodesPerMember; i++) {
        pos[k] = hashString(name + "#" + i);
        own[k] = mi;
        order[k] = k;
        k++;
      }
    }
    Arrays.sort(
        order,
        (a, b) -> {
          int c = Long.compareUnsigned(pos[a], pos[b]);
          return c != 0 ? c : Integer.compare(own[a], own[b]);
        });
    long[] positions = new long[total];
    int[] owners = new int[total];
    int n = 0;
    for (int j = 0; j < total; j++) {
      int e = order[j];
      if (n > 0 && positions[n - 1] == pos[e]) {
        continue; // same position: earlier (lower member index) entry already owns it
      }
      positions[n] = pos[e];
      owners[n] = own[e];
      n++;
    }
    if (n < total) {
      positions = Arrays.copyOf(positions, n);
      owners = Arrays.copyOf(owners, n);
    }
    return new ConsistentHashRing<>(
        sortedMembers, virtualNodesPerMember, memberName, positions, owners);
  }

  private static long hashString(String s) {
    return XXH3.hashBytesToLong(s.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Returns the member that owns {@code key}, hashing its bytes with 64-bit XXH3.
   *
   * <p>Thread-safe; does not modify or retain {@code key}.
   *
   * @param key the key bytes (may be empty)
   * @return the owning member, never {@code null}
   * @throws NullPointerException if {@code key} is {@code null}
   * @throws IllegalStateException if the ring has no members
   */
  public M memberFor(byte[] key) {
    Objects.requireNonNull(key, "key");
    return memberForHash(XXH3.hashBytesToLong(key));
  }

  /**
   * Returns the member that owns {@code key}; equivalent to {@code
   * memberFor(key.getBytes(StandardCharsets.UTF_8))}.
   *
   * <p>Thread-safe.
   *
   * @param key the key (may be empty)
   * @return the owning member, never {@code null}
   * @throws NullPointerException if {@code key} is {@code null}
   * @throws IllegalStateException if the ring has no members
   */
  public M memberFor(String key) {
    Objects.requireNonNull(key, "key");
    return memberFor(key.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Returns the member owning the ring position {@code hash}: the owner of the first virtual node
   * whose position is {@code >= hash} as an unsigned 64-bit value, wrapping to the lowest position
   * if there is none. Use this when the caller has already hashed the key with 64-bit XXH3 (or
   * deliberately places by some other 64-bit value).
   *
   * <p>Thread-safe; {@code O(log(members * virtualNodesPerMember))}.
   *
   * @param hash a 64-bit position, read as unsigned
   * @return the owning member, never {@code null}
   * @throws IllegalStateException if the ring has no members
   */
  public M memberForHash(long hash) {
    if (positions.length == 0) {
      throw new IllegalStateException("consistent hash ring has no members; cannot place a key");
    }
    // Lower bound: first index j with positions[j] >= hash (unsigned).
    int lo = 0;
    int hi = positions.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(positions[mid], hash) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo == positions.length) {
      lo = 0; // wrap around the circle
    }
    return members.get(owners[lo]);
  }

  /**
   * Returns the members of this ring in ascending natural order.
   *
   * <p>Thread-safe.
   *
   * @return an unmodifiable, sorted list (empty for an empty ring); never {@code null}
   */
  public List<M> members() {
    return members;
  }

  /**
   * Returns the number of virtual nodes each member has on the ring.
   *
   * <p>Thread-safe.
   *
   * @return the value given at construction, always {@code >= 1}
   */
  public int virtualNodesPerMember() {
    return virtualNodesPerMember;
  }

  /**
   * Returns a new ring with {@code member} added, using the same virtual-node count and name
   * function. The result is identical to building a ring from scratch over the enlarged member set.
   * This ring is unchanged.
   *
   * <p>Thread-safe.
   *
   * @param member the member to add
   * @return a new immutable ring containing {@code member}
   * @throws NullPointerException if {@code member} is {@code null}, or the name function returns
   *     {@code null} for it
   * @throws IllegalArgumentException if {@code member} (or one comparing equal to it) is already a
   *     member, or the ring would become too large
   */
  public ConsistentHashRing<M> withMember(M member) {
    Objects.requireNonNull(member, "member");
    List<M> next = new ArrayList<>(members.size() + 1);
    next.addAll(members);
    next.add(member);
    return of(next, virtualNodesPerMember, memberName);
  }

  /**
   * Returns a new ring with {@code member} removed, using the same virtual-node count and name
   * function. The result is identical to building a ring from scratch over the reduced member set;
   * removing the last member gives an empty ring. This ring is unchanged.
   *
   * <p>Thread-safe.
   *
   * @param member the member to remove
   * @return a new immutable ring without {@code member}
   * @throws NullPointerException if {@code member} is {@code null}
   * @throws IllegalArgumentException if no member of this ring compares equal to {@code member}
   */
  public ConsistentHashRing<M> withoutMember(M member) {
    Objects.requireNonNull(member, "member");
    List<M> next = new ArrayList<>(members.size());
    boolean found = false;
    for (M m : members) {
      if (m.compareTo(member) == 0) {
        found = true;
      } else {
        next.add(m);
      }
    }
    if (!found) {
      throw new IllegalArgumentException("not a member: " + member);
    }
    return build(List.copyOf(next), virtualNodesPerMember, memberName);
  }

  /**
   * Returns a short description: member count, virtual nodes per member and distinct positions.
   *
   * @return a human-readable summary, never {@code null}
   */
  @Override
  public String toString() {
    return "ConsistentHashRing{members="
        + members.size()
        + ", virtualNodesPerMember="
        + virtualNodesPerMember
        + ", positions="
        + positions.length
        + "}";
  }
}
