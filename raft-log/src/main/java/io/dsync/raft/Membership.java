package io.dsync.raft;

import com.google.protobuf.InvalidProtocolBufferException;
import io.dsync.raft.proto.ClusterConfig;
import io.dsync.raft.proto.ClusterMember;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A cluster configuration (Ongaro thesis §4.1): the members by id, each a voter or a learner,
 * with the addresses peers and clients reach it at. Changed one server at a time (thesis §4.1:
 * any two majorities of configurations that differ by one voter overlap), through {@code
 * ENTRY_CONFIG} log entries that carry the whole new configuration; a node uses the latest one in
 * its log, committed or not.
 *
 * <p>Learners (thesis §4.2.1, etcd's learners) receive the log so that a new server catches up
 * before it can affect availability; they neither vote nor count towards commitment.
 *
 * <p>Immutable and thread-safe.
 *
 * @param members the members by id (sorted)
 */
public record Membership(SortedMap<String, Member> members) {
  /** The empty configuration of a node that waits to be added to an existing cluster. */
  public static final Membership EMPTY = new Membership(new TreeMap<>());

  /**
   * One member.
   *
   * @param id the node id
   * @param raftAddress host:port of its peer transport, or "" when not known
   * @param httpAddress host:port of its HTTP gateway, or "" when not known
   * @param voter whether it votes and counts for commitment (false: a learner)
   */
  public record Member(String id, String raftAddress, String httpAddress, boolean voter) {
    /** Checks the fields; addresses may be empty but not null. */
    public Member {
      if (id == null || id.isEmpty() || raftAddress == null || httpAddress == null) {
        throw new IllegalArgumentException("a member needs an id and non-null addresses");
      }
    }
  }

  /** Copies the map, so the configuration cannot change under its users. */
  public Membership {
    members = Collections.unmodifiableSortedMap(new TreeMap<>(members));
  }

  /**
   * A configuration of voters only (the bootstrap configuration of a new cluster).
   *
   * @param voters the voters' ids
   * @param addresses each voter's {@code [raftAddress, httpAddress]}, where known
   * @return the configuration
   */
  public static Membership ofVoters(List<String> voters, Map<String, List<String>> addresses) {
    TreeMap<String, Member> m = new TreeMap<>();
    for (String v : voters) {
      List<String> a = addresses.getOrDefault(v, List.of("", ""));
      m.put(v, new Member(v, a.get(0), a.get(1), true));
    }
    return new Membership(m);
  }

  /** @return the voters' ids, sorted */
  public List<String> voters() {
    List<String> out = new ArrayList<>();
    for (Member m : members.values()) {
      if (m.voter()) {
        out.add(m.id());
      }
    }
    return out;
  }

  /** @return the learners' ids, sorted */
  public List<String> learners() {
    List<String> out = new ArrayList<>();
    for (Member m : members.values()) {
      if (!m.voter()) {
        out.add(m.id());
      }
    }
    return out;
  }

  /** @return whether {@code id} is a voter */
  public boolean isVoter(String id) {
    Member m = members.get(id);
    return m != null && m.voter();
  }

  /** @return whether {@code id} is a learner */
  public boolean isLearner(String id) {
    Member m = members.get(id);
    return m != null && !m.voter();
  }

  /** @return this configuration with {@code m} added or replaced */
  public Membership with(Member m) {
    TreeMap<String, Member> copy = new TreeMap<>(members);
    copy.put(m.id(), m);
    return new Membership(copy);
  }

  /** @return this configuration without {@code id} */
  public Membership without(String id) {
    TreeMap<String, Member> copy = new TreeMap<>(members);
    copy.remove(id);
    return new Membership(copy);
  }

  /** @return the encoded {@link ClusterConfig} (the data of a config entry) */
  public byte[] encode() {
    return toProto().toByteArray();
  }

  /** @return the configuration as its protobuf message, members sorted by id */
  public ClusterConfig toProto() {
    ClusterConfig.Builder b = ClusterConfig.newBuilder();
    for (Member m : members.values()) {
      b.addMembers(ClusterMember.newBuilder().setId(m.id()).setRaftAddress(m.raftAddress())
          .setHttpAddress(m.httpAddress()).setLearner(!m.voter()));
    }
    return b.build();
  }

  /**
   * Decodes a configuration.
   *
   * @param bytes an encoded {@link ClusterConfig}
   * @return the configuration
   * @throws Entry.CorruptEntryException if the bytes do not parse or name a member twice
   */
  public static Membership decode(byte[] bytes) {
    try {
      return fromProto(ClusterConfig.parseFrom(bytes));
    } catch (InvalidProtocolBufferException e) {
      throw new Entry.CorruptEntryException("undecodable cluster configuration: " + e.getMessage());
    }
  }

  /**
   * @param c a configuration message
   * @return the configuration
   * @throws Entry.CorruptEntryException if it names a member twice or has an empty id
   */
  public static Membership fromProto(ClusterConfig c) {
    TreeMap<String, Member> m = new TreeMap<>();
    for (ClusterMember cm : c.getMembersList()) {
      if (cm.getId().isEmpty() || m.put(cm.getId(),
          new Member(cm.getId(), cm.getRaftAddress(), cm.getHttpAddress(), !cm.getLearner())) != null) {
        throw new Entry.CorruptEntryException("cluster configuration with an empty or repeated member id");
      }
    }
    return new Membership(m);
  }

  @Override
  public String toString() {
    return "voters=" + voters() + " learners=" + learners();
  }
}
