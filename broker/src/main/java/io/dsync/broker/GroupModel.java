package io.dsync.broker;

import java.util.List;

/**
 * The consumer-group shapes of the broker's API (Kafka terms), independent of JSON. Immutable
 * records.
 */
public final class GroupModel {
  private GroupModel() {}

  /**
   * One partition of one topic.
   *
   * @param topic the topic
   * @param partition the partition, from 0
   */
  public record TopicPartition(String topic, int partition) {}

  /**
   * What a member learns when it joins or heartbeats (Kafka's JoinGroup/SyncGroup answer).
   *
   * @param memberId the member's id (given, or chosen by the broker on a first join)
   * @param generation the group's generation in the applied state the answer comes from
   * @param assignment the partitions this member owns in that generation, sorted by topic and
   *     partition; only partitions of topics that exist
   */
  public record Membership(String memberId, long generation, List<TopicPartition> assignment) {}

  /**
   * One member of a group as {@code GET /v1/groups/{group}} shows it.
   *
   * @param memberId its id
   * @param topics the topics it subscribes to, sorted (deleted topics stay listed)
   * @param sessionTimeoutMs how long the leader waits for its next heartbeat, in ms
   * @param joinedMs when it joined (the leader's clock on the join entry, ms since the epoch)
   * @param assignment the partitions it owns, sorted by topic and partition
   */
  public record MemberInfo(
      String memberId, List<String> topics, long sessionTimeoutMs, long joinedMs, List<TopicPartition> assignment) {}

  /**
   * A group as {@code GET /v1/groups/{group}} shows it.
   *
   * @param group the group's name
   * @param generation its generation (0 before the first join; it never goes back, even when the
   *     group becomes empty)
   * @param members its members, sorted by id (possibly empty)
   */
  public record GroupInfo(String group, long generation, List<MemberInfo> members) {}
}
