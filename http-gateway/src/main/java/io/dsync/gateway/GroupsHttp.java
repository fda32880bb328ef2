package io.dsync.gateway;

import io.dsync.broker.Broker;
import io.dsync.broker.GroupCoordinator;
import io.dsync.broker.GroupModel.GroupInfo;
import io.dsync.broker.GroupModel.MemberInfo;
import io.dsync.broker.GroupModel.Membership;
import io.dsync.broker.GroupModel.TopicPartition;
import io.javalin.http.Context;
import java.util.List;

/**
 * The consumer-group membership routes (API.md "Consumer groups"): join, heartbeat, leave and
 * describe. Each handler reads the request, calls one {@link GroupCoordinator} method and writes
 * JSON; refusals are {@link io.dsync.broker.BrokerException}s, which {@link HttpApi} turns into
 * problems. Joins, heartbeats and leaves run on the leader (followers forward them); describe is
 * a read of the node's applied state. Thread-safe (stateless).
 */
final class GroupsHttp {
  /** {@code POST /v1/groups/{group}/members}. */
  record JoinRequest(String memberId, List<String> topics, Long sessionTimeoutMs) {}

  /** A partition of a topic. */
  record TopicPartitionDto(String topic, int partition) {}

  /** The answer of a join or heartbeat. */
  record MembershipDto(String memberId, long generation, List<TopicPartitionDto> assignment) {}

  /** The answer of a leave: the group's generation without the member. */
  record LeaveResponse(String group, String memberId, long generation) {}

  /** One member in {@link GroupDto}. */
  record GroupMemberDto(
      String memberId, List<String> topics, long sessionTimeoutMs, long joinedMs, List<TopicPartitionDto> assignment) {}

  /** {@code GET /v1/groups/{group}}. */
  record GroupDto(String group, long generation, List<GroupMemberDto> members) {}

  private final Broker broker;

  GroupsHttp(Broker broker) {
    this.broker = broker;
  }

  void join(Context ctx) {
    JoinRequest req = HttpApi.body(ctx, JoinRequest.class);
    if (req.topics() == null) {
      throw new HttpApi.BadInput("'topics' (the topics to consume) is required");
    }
    long timeout = req.sessionTimeoutMs() == null ? GroupCoordinator.DEFAULT_SESSION_TIMEOUT_MS : req.sessionTimeoutMs();
    ctx.json(dto(broker.groups().join(ctx.pathParam("group"), req.memberId(), req.topics(), timeout)));
  }

  void heartbeat(Context ctx) {
    ctx.json(dto(broker.groups().heartbeat(ctx.pathParam("group"), ctx.pathParam("member_id"))));
  }

  void leave(Context ctx) {
    String group = ctx.pathParam("group");
    String member = ctx.pathParam("member_id");
    ctx.json(new LeaveResponse(group, member, broker.groups().leave(group, member)));
  }

  void describe(Context ctx) {
    GroupInfo g = broker.groups().describe(ctx.pathParam("group"));
    List<GroupMemberDto> members = g.members().stream().map(GroupsHttp::dto).toList();
    ctx.json(new GroupDto(g.group(), g.generation(), members));
  }

  private static GroupMemberDto dto(MemberInfo m) {
    return new GroupMemberDto(m.memberId(), m.topics(), m.sessionTimeoutMs(), m.joinedMs(), dto(m.assignment()));
  }

  private static MembershipDto dto(Membership m) {
    return new MembershipDto(m.memberId(), m.generation(), dto(m.assignment()));
  }

  private static List<TopicPartitionDto> dto(List<TopicPartition> assignment) {
    return assignment.stream().map(tp -> new TopicPartitionDto(tp.topic(), tp.partition())).toList();
  }
}
