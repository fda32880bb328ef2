package io.dsync.broker;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.proto.Command;
import io.dsync.broker.proto.CommitOffsets;
import io.dsync.broker.proto.CreateTopic;
import io.dsync.broker.proto.DeleteTopic;
import io.dsync.broker.proto.JoinGroup;
import io.dsync.broker.proto.LeaveGroup;
import io.dsync.broker.proto.Lease;
import io.dsync.broker.proto.LeaseRef;
import io.dsync.broker.proto.LeaseSettle;
import io.dsync.broker.proto.OffsetCommit;
import io.dsync.broker.proto.Produce;
import io.dsync.broker.proto.Record;
import io.dsync.broker.proto.RemoveMembers;
import io.dsync.broker.proto.StoredRecord;
import io.dsync.broker.proto.Tick;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The versioned binary codec of the broker's commands (protobuf, {@code broker.proto}). Every
 * Raft entry of type normal holds one encoded {@link Command}. Stateless and thread-safe.
 */
public final class CommandCodec {
  /** The command encoding this build writes, and the only one it reads. */
  public static final int VERSION = 1;

  private CommandCodec() {}

  /** A command that this build cannot read: a newer version, an unknown body, or garbage. */
  public static final class UnsupportedCommandException extends RuntimeException {
    /** @param message what is wrong */
    public UnsupportedCommandException(String message) {
      super(message);
    }
  }

  /**
   * Decodes a command and checks its version and body.
   *
   * @param bytes an encoded {@link Command}
   * @return the command
   * @throws UnsupportedCommandException if the bytes do not parse, the version is not
   *     {@link #VERSION}, or the body is unknown to this build
   */
  public static Command decode(byte[] bytes) {
    Command c;
    try {
      c = Command.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new UnsupportedCommandException("undecodable command: " + e.getMessage());
    }
    if (c.getVersion() != VERSION) {
      throw new UnsupportedCommandException(
          "command version " + c.getVersion() + " is not supported by this build (it reads version "
              + VERSION + "); upgrade this node");
    }
    if (c.getBodyCase() == Command.BodyCase.BODY_NOT_SET) {
      throw new UnsupportedCommandException(
          "command has no body this build knows (a newer command type?); upgrade this node");
    }
    return c;
  }

  /** @return the encoded create-topic command */
  public static byte[] createTopic(TopicConfig t) {
    return wrap(Command.newBuilder().setCreateTopic(
        CreateTopic.newBuilder()
            .setName(t.name())
            .setPartitions(t.partitions())
            .setRetentionMs(t.retentionMs())
            .setRetentionBytes(t.retentionBytes())
            .setDeliveryLimit(t.deliveryLimit())
            .setDeadLetterTopic(t.deadLetterTopic())));
  }

  /** @return the encoded delete-topic command */
  public static byte[] deleteTopic(String name) {
    return wrap(Command.newBuilder().setDeleteTopic(DeleteTopic.newBuilder().setName(name)));
  }

  /**
   * A produce command without priorities, the form written before they were carried: apply then
   * reads each record's priority from the record itself. For tests and old entries; {@link
   * Broker} uses {@link #produce(String, int[], int[], List)}.
   *
   * @param topic the topic
   * @param partitions partition of each record, same length as {@code records}
   * @param records the records, each encoded with {@link #encodeRecord}
   * @return the encoded produce command
   */
  public static byte[] produce(String topic, int[] partitions, List<byte[]> records) {
    return produce(topic, partitions, null, records, null, 0);
  }

  /**
   * The same as {@link #produce(String, int[], List)}, idempotent when {@code producerId} is given.
   *
   * @param producerId the producer, or {@code null} for a plain produce
   * @param sequence the batch's sequence number (ignored without a producer)
   * @return the encoded produce command
   */
  public static byte[] produce(String topic, int[] partitions, List<byte[]> records, String producerId, long sequence) {
    return produce(topic, partitions, null, records, producerId, sequence);
  }

  /** The same as {@link #produce(String, int[], int[], List, String, long)} without a producer. */
  public static byte[] produce(String topic, int[] partitions, int[] priorities, List<byte[]> records) {
    return produce(topic, partitions, priorities, records, null, 0);
  }

  /**
   * @param topic the topic
   * @param partitions partition of each record, same length as {@code records}
   * @param priorities priority (0-9) of each record, same length as {@code records}, or null to
   *     leave them out (apply then decodes the records to find them)
   * @param records the records, each encoded with {@link #encodeRecord}
   * @param producerId the producer (idempotent produce), or {@code null}
   * @param sequence the batch's sequence number (ignored without a producer)
   * @return the encoded produce command
   */
  public static byte[] produce(String topic, int[] partitions, int[] priorities, List<byte[]> records,
      String producerId, long sequence) {
    return produce(topic, 0, partitions, priorities, records, producerId, sequence);
  }

  /**
   * The same as {@link #produce(String, int[], int[], List, String, long)} for the topic
   * incarnation {@code topicId} (apply refuses it for another incarnation of the name).
   *
   * @param topicId the id of the topic the records were placed for, or 0 for unchecked
   */
  public static byte[] produce(String topic, long topicId, int[] partitions, int[] priorities, List<byte[]> records,
      String producerId, long sequence) {
    Produce.Builder p = Produce.newBuilder().setTopic(topic).setTopicId(topicId);
    if (producerId != null) {
      p.setProducerId(producerId).setSequence(sequence);
    }
    for (int i = 0; i < partitions.length; i++) {
      p.addPartitions(partitions[i]);
      p.addRecords(UnsafeByteOperations.unsafeWrap(records.get(i))); // never modified after encoding
      if (priorities != null) {
        p.addPriorities(priorities[i]);
      }
    }
    return wrap(Command.newBuilder().setProduce(p));
  }

  /**
   * @param topic the topic
   * @param group the queue group
   * @param maxRecords at most this many records
   * @param visibilityTimeoutMs how long each lease lasts from the entry's timestamp, in ms
   * @param maxInFlight the group's cap of leased records (the leader's limit)
   * @return the encoded lease command
   */
  public static byte[] lease(String topic, String group, int maxRecords, long visibilityTimeoutMs, int maxInFlight) {
    return lease(topic, group, maxRecords, visibilityTimeoutMs, maxInFlight, 0);
  }

  /**
   * The same, with a byte budget.
   *
   * @param maxBytes the most stored record bytes the lease hands out (at least one record); 0: no limit
   * @return the encoded lease command
   */
  public static byte[] lease(String topic, String group, int maxRecords, long visibilityTimeoutMs, int maxInFlight,
      long maxBytes) {
    return wrap(Command.newBuilder().setLease(Lease.newBuilder().setTopic(topic).setGroup(group)
        .setMaxRecords(maxRecords).setVisibilityTimeoutMs(visibilityTimeoutMs).setMaxInFlight(maxInFlight)
        .setMaxBytes(maxBytes).setMaxGroups(BrokerLimits.MAX_QUEUE_GROUPS_PER_TOPIC)));
  }

  /** What a {@link LeaseSettle} command does with the leases it names. */
  public enum Settlement {
    /** The record is done for the group. */
    ACK,
    /** The record is available again now. */
    RELEASE,
    /** The record goes to the dead-letter topic now. */
    REJECT,
    /** The lease lasts longer. */
    EXTEND
  }

  /**
   * @param settlement what to do
   * @param topic the topic
   * @param group the queue group
   * @param leases the leases, as parsed from their ids
   * @param visibilityTimeoutMs for {@link Settlement#EXTEND}: the new lease length from the
   *     entry's timestamp, in ms; ignored otherwise
   * @return the encoded command
   */
  public static byte[] settle(Settlement settlement, String topic, String group, List<LeaseId> leases,
      long visibilityTimeoutMs) {
    LeaseSettle.Builder b = LeaseSettle.newBuilder().setTopic(topic).setGroup(group);
    for (LeaseId id : leases) {
      b.addLeases(LeaseRef.newBuilder().setTopicId(id.topicId()).setPartition(id.partition()).setOffset(id.offset())
          .setDeliveryCount(id.deliveryCount()));
    }
    if (settlement == Settlement.EXTEND) {
      b.setVisibilityTimeoutMs(visibilityTimeoutMs);
    }
    Command.Builder c = Command.newBuilder();
    switch (settlement) {
      case ACK -> c.setAck(b);
      case RELEASE -> c.setRelease(b);
      case REJECT -> c.setReject(b);
      case EXTEND -> c.setExtend(b);
    }
    return wrap(c);
  }

  /** @return the encoded commit-offsets command */
  public static byte[] commitOffsets(String group, List<CommittedOffset> offsets) {
    CommitOffsets.Builder b = CommitOffsets.newBuilder().setGroup(group);
    for (CommittedOffset o : offsets) {
      b.addOffsets(OffsetCommit.newBuilder().setTopic(o.topic()).setPartition(o.partition()).setOffset(o.offset()));
    }
    return wrap(Command.newBuilder().setCommitOffsets(b));
  }

  /**
   * @param memberId the member's id, or {@code null} to let the state machine name it
   * @param topics the subscribed topics, sorted and distinct
   * @return the encoded join-group command
   */
  public static byte[] joinGroup(String group, String memberId, List<String> topics, long sessionTimeoutMs) {
    return wrap(Command.newBuilder().setJoinGroup(JoinGroup.newBuilder().setGroup(group)
        .setMemberId(memberId == null ? "" : memberId).addAllTopics(topics).setSessionTimeoutMs(sessionTimeoutMs)));
  }

  /** @return the encoded leave-group command */
  public static byte[] leaveGroup(String group, String memberId) {
    return wrap(Command.newBuilder().setLeaveGroup(LeaveGroup.newBuilder().setGroup(group).setMemberId(memberId)));
  }

  /**
   * @param memberIds the members to remove
   * @param joinedIndexes each member's incarnation (parallel to {@code memberIds})
   * @param reason why, for the log (e.g. {@code session-timeout})
   * @return the encoded remove-members command
   */
  public static byte[] removeMembers(String group, List<String> memberIds, List<Long> joinedIndexes, String reason) {
    return wrap(Command.newBuilder().setRemoveMembers(RemoveMembers.newBuilder().setGroup(group)
        .addAllMemberIds(memberIds).addAllJoinedIndexes(joinedIndexes).setReason(reason)));
  }

  /** @return the encoded tick command (its time is the entry's timestamp) */
  public static byte[] tick() {
    return wrap(Command.newBuilder().setTick(Tick.getDefaultInstance()));
  }

  /** @return {@code r} encoded as a {@link Record} */
  public static byte[] encodeRecord(RecordIn r) {
    Record.Builder b = Record.newBuilder().setValue(UnsafeByteOperations.unsafeWrap(r.value())).setBinary(r.binary()).setPriority(r.priority());
    if (r.key() != null) {
      b.setHasKey(true).setKey(r.key());
    }
    for (Header h : r.headers()) {
      b.addHeaders(io.dsync.broker.proto.Header.newBuilder().setKey(h.key()).setValue(h.value()));
    }
    return b.build().toByteArray();
  }

  /**
   * Builds the stored form of a record ({@link StoredRecord}) from its already encoded
   * {@link Record} bytes, without decoding them, with no priority-index key (as records were
   * stored before retention existed).
   *
   * @param timestampMs the entry's timestamp
   * @param record an encoded {@link Record}
   * @return the encoded {@link StoredRecord}
   */
  public static byte[] storedRecord(long timestampMs, ByteString record) {
    return storedRecord(timestampMs, record, 0, 0, 0);
  }

  /**
   * Builds the stored form of a record ({@link StoredRecord}) from its already encoded
   * {@link Record} bytes, without decoding them: protobuf's encoding (fields in number order, zero
   * index fields left out) except that the timestamp is always written.
   *
   * @param timestampMs the entry's timestamp
   * @param record an encoded {@link Record}
   * @param priority the record's priority, 0-9 (its priority-index key, with the next two)
   * @param entryIndex the index of the entry that appended it, {@code >= 1}; 0 for none
   * @param position its position among the records that entry appended to the topic
   * @return the encoded {@link StoredRecord}
   */
  public static byte[] storedRecord(long timestampMs, ByteString record, int priority, long entryIndex, int position) {
    int size = CodedOutputStream.computeInt64Size(1, timestampMs) + CodedOutputStream.computeBytesSize(2, record);
    if (priority != 0) {
      size += CodedOutputStream.computeUInt32Size(3, priority);
    }
    if (entryIndex != 0) {
      size += CodedOutputStream.computeInt64Size(4, entryIndex);
    }
    if (position != 0) {
      size += CodedOutputStream.computeUInt32Size(5, position);
    }
    byte[] out = new byte[size];
    CodedOutputStream cos = CodedOutputStream.newInstance(out);
    try {
      cos.writeInt64(1, timestampMs);
      cos.writeBytes(2, record);
      if (priority != 0) {
        cos.writeUInt32(3, priority);
      }
      if (entryIndex != 0) {
        cos.writeInt64(4, entryIndex);
      }
      if (position != 0) {
        cos.writeUInt32(5, position);
      }
      cos.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new IllegalStateException("sizing bug in storedRecord", e);
    }
    return out;
  }

  /**
   * What retention needs of a stored record, read without decoding the record itself.
   *
   * @param timestampMs when the leader appended it, ms since the epoch
   * @param priority its priority (with {@code entryIndex} and {@code position}: its key in the
   *     queue's priority index)
   * @param entryIndex the appending entry's index; 0 if the record was stored without its index key
   * @param position its position among the records that entry appended to the topic
   */
  public record StoredHeader(long timestampMs, int priority, long entryIndex, int position) {
    /** @return whether the record carries its priority-index key */
    public boolean hasIndexKey() {
      return entryIndex != 0;
    }
  }

  /**
   * Reads a stored record's timestamp and priority-index key, skipping the record bytes.
   *
   * @param bytes an encoded {@link StoredRecord}
   * @return its header
   * @throws UnsupportedCommandException if the bytes do not parse
   */
  public static StoredHeader storedHeader(byte[] bytes) {
    com.google.protobuf.CodedInputStream in = com.google.protobuf.CodedInputStream.newInstance(bytes);
    long ts = 0;
    int priority = 0;
    long entry = 0;
    int position = 0;
    try {
      for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
        switch (tag) {
          case (1 << 3) -> ts = in.readInt64();
          case (3 << 3) -> priority = in.readUInt32();
          case (4 << 3) -> entry = in.readInt64();
          case (5 << 3) -> position = in.readUInt32();
          default -> in.skipField(tag);
        }
      }
    } catch (IOException e) {
      throw new UnsupportedCommandException("undecodable stored record: " + e.getMessage());
    }
    return new StoredHeader(ts, priority, entry, position);
  }

  /**
   * Decodes a stored record.
   *
   * @param offset its offset (from the key)
   * @param bytes an encoded {@link StoredRecord}
   * @return the record
   * @throws UnsupportedCommandException if the bytes do not parse
   */
  public static FetchedRecord decodeStored(long offset, byte[] bytes) {
    try {
      StoredRecord s = StoredRecord.parseFrom(bytes);
      Record r = s.getRecord();
      List<Header> headers = new ArrayList<>(r.getHeadersCount());
      for (io.dsync.broker.proto.Header h : r.getHeadersList()) {
        headers.add(new Header(h.getKey(), h.getValue()));
      }
      return new FetchedRecord(
          offset, r.getHasKey() ? r.getKey() : null, r.getValue().toByteArray(), r.getBinary(), headers,
          r.getPriority(), s.getTimestampMs());
    } catch (InvalidProtocolBufferException e) {
      throw new UnsupportedCommandException("undecodable stored record at offset " + offset);
    }
  }

  private static byte[] wrap(Command.Builder b) {
    return b.setVersion(VERSION).build().toByteArray();
  }
}
