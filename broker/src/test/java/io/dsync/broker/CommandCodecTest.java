package io.dsync.broker;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.dsync.broker.CommandCodec.UnsupportedCommandException;
import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.proto.Command;
import io.dsync.broker.proto.CreateTopic;
import io.dsync.broker.proto.DeleteTopic;
import io.dsync.broker.proto.Produce;
import io.dsync.broker.proto.Record;
import io.dsync.broker.proto.StoredRecord;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round-trips every command type and the stored record form through {@link CommandCodec}, and
 * checks that what this build cannot read (another version, no known body, garbage) is refused
 * with {@link UnsupportedCommandException} and a message that says why.
 */
class CommandCodecTest {

  private static final List<RecordIn> RECORDS = List.of(
      new RecordIn("user-42", "{\"a\":1}".getBytes(UTF_8), false, List.of(), 0),
      new RecordIn(null, "{\"b\":[1,2]}".getBytes(UTF_8), false, List.of(), 9),
      new RecordIn("k", new byte[] {0, (byte) 0xFF, 7, (byte) 0x80, 0}, true,
          List.of(new Header("trace", "abc"), new Header("trace", "def"), new Header("émoji", "☃")), 3),
      new RecordIn("", new byte[0], true, List.of(new Header("h", "")), 5));

  /** The record as the codec reads it back, compared field by field (byte arrays by content). */
  private static void assertSameRecord(RecordIn in, FetchedRecord out, long offset, long timestampMs) {
    assertEquals(offset, out.offset());
    assertEquals(in.key(), out.key(), "a missing key stays missing and an empty key stays empty");
    assertArrayEquals(in.value(), out.value());
    assertEquals(in.binary(), out.binary());
    assertEquals(in.headers(), out.headers(), "headers keep their order and duplicates");
    assertEquals(in.priority(), out.priority());
    assertEquals(timestampMs, out.timestampMs());
  }

  @Test
  void createTopicRoundTrips() {
    TopicConfig t = new TopicConfig("orders.v2", 12, 86_400_000, -1, 7, "orders.v2.dlq");
    Command c = CommandCodec.decode(CommandCodec.createTopic(t));
    assertEquals(CommandCodec.VERSION, c.getVersion());
    assertEquals(Command.BodyCase.CREATE_TOPIC, c.getBodyCase());
    CreateTopic ct = c.getCreateTopic();
    assertEquals(t, new TopicConfig(ct.getName(), ct.getPartitions(), ct.getRetentionMs(), ct.getRetentionBytes(),
        ct.getDeliveryLimit(), ct.getDeadLetterTopic()));
  }

  @Test
  void deleteTopicRoundTrips() {
    Command c = CommandCodec.decode(CommandCodec.deleteTopic("orders"));
    assertEquals(Command.BodyCase.DELETE_TOPIC, c.getBodyCase());
    assertEquals(DeleteTopic.newBuilder().setName("orders").build(), c.getDeleteTopic());
  }

  @Test
  void produceRoundTripsKeysNoKeysHeadersBinaryAndPriority() throws Exception {
    int[] partitions = {3, 0, 7, 3};
    List<byte[]> encoded = new ArrayList<>();
    for (RecordIn r : RECORDS) {
      encoded.add(CommandCodec.encodeRecord(r));
    }
    Command c = CommandCodec.decode(CommandCodec.produce("events", partitions, encoded));
    assertEquals(Command.BodyCase.PRODUCE, c.getBodyCase());
    Produce p = c.getProduce();
    assertEquals("events", p.getTopic());
    assertEquals(List.of(3, 0, 7, 3), p.getPartitionsList());
    assertEquals(RECORDS.size(), p.getRecordsCount());
    for (int i = 0; i < RECORDS.size(); i++) {
      assertArrayEquals(encoded.get(i), p.getRecords(i).toByteArray(), "record bytes travel untouched");
      byte[] stored = CommandCodec.storedRecord(1_700_000_000_000L + i, p.getRecords(i));
      assertSameRecord(RECORDS.get(i), CommandCodec.decodeStored(100 + i, stored), 100 + i, 1_700_000_000_000L + i);
    }
    Record noKey = Record.parseFrom(encoded.get(1));
    assertFalse(noKey.getHasKey());
    Record emptyKey = Record.parseFrom(encoded.get(3));
    assertTrue(emptyKey.getHasKey(), "an empty key is a key");
  }

  @Test
  void commitOffsetsRoundTrips() {
    List<CommittedOffset> offsets = List.of(new CommittedOffset("a", 0, 0), new CommittedOffset("a", 5, 1L << 40),
        new CommittedOffset("b.c", 1023, 17));
    Command c = CommandCodec.decode(CommandCodec.commitOffsets("billing-group", offsets));
    assertEquals(Command.BodyCase.COMMIT_OFFSETS, c.getBodyCase());
    assertEquals("billing-group", c.getCommitOffsets().getGroup());
    List<CommittedOffset> back = c.getCommitOffsets().getOffsetsList().stream()
        .map(o -> new CommittedOffset(o.getTopic(), o.getPartition(), o.getOffset())).toList();
    assertEquals(offsets, back);
  }

  @Test
  void tickRoundTripsWithNoBody() {
    Command c = CommandCodec.decode(CommandCodec.tick());
    assertEquals(Command.BodyCase.TICK, c.getBodyCase());
    assertEquals(CommandCodec.VERSION, c.getVersion());
  }

  @Test
  void produceCarriesPrioritiesWhenGiven() {
    List<byte[]> encoded = new ArrayList<>();
    RECORDS.forEach(r -> encoded.add(CommandCodec.encodeRecord(r)));
    Produce with = CommandCodec.decode(CommandCodec.produce("t", new int[] {0, 0, 1, 1}, new int[] {0, 9, 3, 5}, encoded))
        .getProduce();
    assertEquals(List.of(0, 9, 3, 5), with.getPrioritiesList());
    Produce without = CommandCodec.decode(CommandCodec.produce("t", new int[] {0, 0, 1, 1}, encoded)).getProduce();
    assertEquals(0, without.getPrioritiesCount(), "the older form leaves them out");
  }

  @Test
  void leaseAndSettlementsRoundTrip() {
    Command lease = CommandCodec.decode(CommandCodec.lease("jobs", "workers", 10, 30_000, 500));
    assertEquals(Command.BodyCase.LEASE, lease.getBodyCase());
    assertEquals("jobs", lease.getLease().getTopic());
    assertEquals("workers", lease.getLease().getGroup());
    assertEquals(10, lease.getLease().getMaxRecords());
    assertEquals(30_000, lease.getLease().getVisibilityTimeoutMs());
    assertEquals(500, lease.getLease().getMaxInFlight());

    List<LeaseId> ids = List.of(new LeaseId(7, 2, 99, 3), new LeaseId((1L << 62) | 5, 0, 0, 1));
    for (CommandCodec.Settlement what : CommandCodec.Settlement.values()) {
      Command c = CommandCodec.decode(CommandCodec.settle(what, "jobs", "workers", ids, 60_000));
      io.dsync.broker.proto.LeaseSettle s = switch (what) {
        case ACK -> c.getAck();
        case RELEASE -> c.getRelease();
        case REJECT -> c.getReject();
        case EXTEND -> c.getExtend();
      };
      assertEquals(what.name(), c.getBodyCase().name());
      assertEquals("jobs", s.getTopic());
      assertEquals("workers", s.getGroup());
      assertEquals(ids, s.getLeasesList().stream()
          .map(r -> new LeaseId(r.getTopicId(), r.getPartition(), r.getOffset(), r.getDeliveryCount())).toList());
      assertEquals(what == CommandCodec.Settlement.EXTEND ? 60_000 : 0, s.getVisibilityTimeoutMs());
    }
  }

  @Test
  void storedRecordIsTheProtobufEncodingAndDecodesBack() throws Exception {
    for (RecordIn r : RECORDS) {
      ByteString record = ByteString.copyFrom(CommandCodec.encodeRecord(r));
      for (long ts : new long[] {0, 1, 1_700_000_000_123L, Long.MAX_VALUE, -5}) {
        byte[] hand = CommandCodec.storedRecord(ts, record);
        StoredRecord proto = StoredRecord.newBuilder().setTimestampMs(ts).setRecord(Record.parseFrom(record)).build();
        assertEquals(proto, StoredRecord.parseFrom(hand), "the hand-rolled StoredRecord must parse as protobuf's (ts " + ts + ")");
        if (ts != 0) { // protobuf leaves a zero timestamp out; the hand-rolled form always writes it
          assertArrayEquals(proto.toByteArray(), hand, "and be byte for byte protobuf's encoding (ts " + ts + ")");
        }
        assertSameRecord(r, CommandCodec.decodeStored(9, hand), 9, ts);
      }
    }
    FetchedRecord empty = CommandCodec.decodeStored(0, CommandCodec.storedRecord(0, ByteString.EMPTY));
    assertNull(empty.key());
    assertArrayEquals(new byte[0], empty.value());
  }

  @Test
  void storedRecordsCarryTheirPriorityIndexKeyForRetention() throws Exception {
    ByteString record = ByteString.copyFrom(CommandCodec.encodeRecord(RECORDS.get(0)));
    long[][] keys = {{0, 1, 0}, {9, 1L << 40, 70_000}, {3, 12, 1}, {0, 5, 9}};
    for (long[] k : keys) {
      byte[] hand = CommandCodec.storedRecord(1_700_000_000_123L, record, (int) k[0], k[1], (int) k[2]);
      StoredRecord proto = StoredRecord.newBuilder().setTimestampMs(1_700_000_000_123L).setRecord(Record.parseFrom(record))
          .setIndexPriority((int) k[0]).setIndexEntry(k[1]).setIndexPosition((int) k[2]).build();
      assertArrayEquals(proto.toByteArray(), hand, "protobuf's encoding, index fields included");
      CommandCodec.StoredHeader h = CommandCodec.storedHeader(hand);
      assertEquals(new CommandCodec.StoredHeader(1_700_000_000_123L, (int) k[0], k[1], (int) k[2]), h);
      assertTrue(h.hasIndexKey());
      assertSameRecord(RECORDS.get(0), CommandCodec.decodeStored(4, hand), 4, 1_700_000_000_123L);
    }
    CommandCodec.StoredHeader legacy = CommandCodec.storedHeader(CommandCodec.storedRecord(42, record));
    assertEquals(42, legacy.timestampMs());
    assertFalse(legacy.hasIndexKey(), "records stored before retention have no index key");
    assertThrows(UnsupportedCommandException.class, () -> CommandCodec.storedHeader(new byte[] {(byte) 0x0A, 5}));
  }

  @Test
  void anUnknownVersionIsRefusedAndNamesTheVersion() {
    byte[] v2 = Command.newBuilder().setVersion(2).setDeleteTopic(DeleteTopic.newBuilder().setName("x")).build().toByteArray();
    UnsupportedCommandException e = assertThrows(UnsupportedCommandException.class, () -> CommandCodec.decode(v2));
    assertTrue(e.getMessage().contains("version 2") && e.getMessage().contains("reads version 1"), e.getMessage());

    byte[] v0 = Command.newBuilder().setDeleteTopic(DeleteTopic.newBuilder().setName("x")).build().toByteArray();
    UnsupportedCommandException e0 = assertThrows(UnsupportedCommandException.class, () -> CommandCodec.decode(v0));
    assertTrue(e0.getMessage().contains("version 0"), "a command without a version is refused: " + e0.getMessage());
  }

  @Test
  void aCommandWithNoKnownBodyIsRefused() {
    byte[] none = Command.newBuilder().setVersion(1).build().toByteArray();
    UnsupportedCommandException e = assertThrows(UnsupportedCommandException.class, () -> CommandCodec.decode(none));
    assertTrue(e.getMessage().contains("no body"), e.getMessage());

    // Version 1 with a body field this build does not know (field 70, length 0): a newer command.
    byte[] future = {0x08, 0x01, (byte) 0xB2, 0x04, 0x00};
    UnsupportedCommandException f = assertThrows(UnsupportedCommandException.class, () -> CommandCodec.decode(future));
    assertTrue(f.getMessage().contains("no body") && f.getMessage().contains("upgrade"), f.getMessage());
  }

  @Test
  void consumerGroupCommandsAndIdempotentProduceRoundTrip() {
    Command join = CommandCodec.decode(CommandCodec.joinGroup("billing", null, List.of("a", "b"), 45_000));
    assertEquals(io.dsync.broker.proto.JoinGroup.newBuilder().setGroup("billing").setMemberId("")
        .addTopics("a").addTopics("b").setSessionTimeoutMs(45_000).build(), join.getJoinGroup());
    Command leave = CommandCodec.decode(CommandCodec.leaveGroup("billing", "m1"));
    assertEquals("m1", leave.getLeaveGroup().getMemberId());
    Command remove = CommandCodec.decode(CommandCodec.removeMembers("billing", List.of("m1", "m2"), List.of(7L, 9L),
        "session-timeout"));
    assertEquals(List.of("m1", "m2"), remove.getRemoveMembers().getMemberIdsList());
    assertEquals(List.of(7L, 9L), remove.getRemoveMembers().getJoinedIndexesList());
    assertEquals("session-timeout", remove.getRemoveMembers().getReason());
    Command p = CommandCodec.decode(CommandCodec.produce("t", new int[] {1}, List.of(new byte[] {1}), "p-1", 42));
    assertEquals("p-1", p.getProduce().getProducerId());
    assertEquals(42, p.getProduce().getSequence());
    assertEquals("", CommandCodec.decode(CommandCodec.produce("t", new int[] {1}, List.of(new byte[] {1})))
        .getProduce().getProducerId(), "no producer: a plain produce");
  }

  @Test
  void garbageIsRefusedAsUndecodable() {
    List<byte[]> garbage = List.of(
        new byte[] {0x0F},                                  // field 1 with wire type 7: no such type
        new byte[] {0x52, 0x05, 0x0A},                      // create_topic says 5 bytes, has 1
        new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF}, // a varint that never ends
        "hello, not a command".getBytes(UTF_8));
    for (byte[] g : garbage) {
      UnsupportedCommandException e = assertThrows(UnsupportedCommandException.class, () -> CommandCodec.decode(g));
      assertTrue(e.getMessage().startsWith("undecodable command"), e.getMessage());
    }
    UnsupportedCommandException s = assertThrows(UnsupportedCommandException.class,
        () -> CommandCodec.decodeStored(77, new byte[] {0x12, 0x09, 0x01}));
    assertTrue(s.getMessage().contains("offset 77"), s.getMessage());
  }
}
