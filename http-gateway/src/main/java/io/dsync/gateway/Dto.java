package io.dsync.gateway;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;
import java.util.Map;

/**
 * The JSON shapes of the HTTP API (API.md), as records. Field names become snake_case on the
 * wire. Request fields are boxed so that a missing field can be told from a zero.
 */
final class Dto {
  private Dto() {}

  record CreateTopicRequest(
      String name, Integer partitions, Long retentionMs, Long retentionBytes, Integer deliveryLimit,
      String deadLetterTopic) {}

  record PartitionDto(int partition, long startOffset, long endOffset) {}

  record TopicDto(
      String name, int partitions, long retentionMs, long retentionBytes, int deliveryLimit, String deadLetterTopic,
      long createdMs, List<PartitionDto> partitionOffsets) {}

  record TopicsDto(List<TopicDto> topics) {}

  record RecordDto(String key, RawJson value, String valueBase64, Map<String, String> headers, Integer priority) {}

  record ProduceRequest(List<RecordDto> records, String producerId, Long sequence) {}

  record OffsetDto(int partition, long offset) {}

  record ProduceResponse(List<OffsetDto> offsets) {}


  record CommitDto(String topic, Integer partition, Long offset) {}

  record CommitRequest(List<CommitDto> offsets) {}

  record CommittedDto(String topic, int partition, long offset) {}

  record CommittedResponse(String group, List<CommittedDto> offsets) {}

  /** {@code POST /v1/topics/{topic}/leases}. */
  record LeaseRequest(String group, Integer maxRecords, Long visibilityTimeoutMs, Long maxWaitMs) {}

  /** {@code POST /v1/topics/{topic}/acks}, {@code /releases}, {@code /rejects}. */
  record LeaseIdsRequest(String group, List<String> leaseIds) {}

  /** {@code POST /v1/topics/{topic}/leases/extend}. */
  record ExtendRequest(String group, List<String> leaseIds, Long visibilityTimeoutMs) {}

  record AckResponse(int acked, List<String> unknown) {}

  record ReleaseResponse(int released, int deadLettered, List<String> unknown) {}

  record RejectResponse(int rejected, List<String> unknown) {}

  record ExtendedLeaseDto(String leaseId, long leaseExpiresMs) {}

  record ExtendResponse(int extended, List<ExtendedLeaseDto> leases, List<String> unknown) {}

  record MemberDto(String id, String raftAddress, String httpAddress, String role, long matchIndex) {}

  record StatusDto(
      String nodeId, String role, long term, String leaderId, long commitIndex, long appliedIndex, long lastIndex,
      List<MemberDto> members, @JsonInclude(JsonInclude.Include.NON_NULL) String stateHash) {}

  record LeaderTransferRequest(String to) {}

  record AddMemberRequest(String id, String raftAddress, String httpAddress) {}

  /** {@code POST /v1/debug/faults} (a test hook). */
  record FaultsRequest(List<String> isolate) {}
}
