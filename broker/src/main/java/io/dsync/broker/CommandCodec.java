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
   * @param topic the topic
   * @param partitions partition of each record, same length as {@code records}
   * @param records the records, each encoded with {@link #encodeRecord}
   * @return the encoded produce command
   */
  public static byte[] produce(String topic, int[] partitions, List<byte[]> records) {
    return produce(topic, partitions, records, null, 0);
  }

  /**
   * The same as {@link #produce(String, int[], List)}, idempotent when {@code producerId} is given.
   *
   * @param producerId the producer, or {@code null} for a plain produce
   * @param sequence the batch's sequence number (ignored without a producer)
   * @return the encoded produce command
   */
  public static byte[] produce(String topic, int[] partitions, List<byte[]> records, String producerId, long sequence) {
    Produce.Builder p = Produce.newBuilder().setTopic(topic);
    if (producerId != null) {
      p.setProducerId(producerId).setSequence(sequence);
    }
    for (int i = 0; i < partitions.length; i++) {
      p.addPartitions(partitions[i]);
      p.addRecords(UnsafeByteOperations.unsafeWrap(records.get(i))); // never modified after encoding
    }
    return wrap(Command.newBuilder().setProduce(p));
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
   * {@link Record} bytes, without decoding them.
   *
   * @param timestampMs the entry's timestamp
   * @param record an encoded {@link Record}
   * @return the encoded {@link StoredRecord}
   */
  public static byte[] storedRecord(long timestampMs, ByteString record) {
    int size = CodedOutputStream.computeInt64Size(1, timestampMs) + CodedOutputStream.computeBytesSize(2, record);
    byte[] out = new byte[size];
    CodedOutputStream cos = CodedOutputStream.newInstance(out);
    try {
      cos.writeInt64(1, timestampMs);
      cos.writeBytes(2, record);
      cos.checkNoSpaceLeft();
    } catch (IOException e) {
      throw new IllegalStateException("sizing bug in storedRecord", e);
    }
    return out;
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
