package io.dsync.raft.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import io.dsync.raft.Entry;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.RaftMessage.AppendEntries;
import io.dsync.raft.RaftMessage.AppendEntriesResponse;
import io.dsync.raft.RaftMessage.Heartbeat;
import io.dsync.raft.RaftMessage.HeartbeatResponse;
import io.dsync.raft.RaftMessage.RequestVote;
import io.dsync.raft.RaftMessage.RequestVoteResponse;
import io.dsync.raft.RaftMessage.TimeoutNow;
import io.dsync.raft.proto.AppendEntriesBody;
import io.dsync.raft.proto.EntryType;
import io.dsync.raft.proto.RaftFrame;
import io.dsync.raft.proto.RequestVoteBody;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class WireCodecTest {
  /** One sample of every message type; {@link #samplesCoverEveryMessageType} keeps it complete. */
  static List<RaftMessage> samples() {
    List<Entry> entries =
        List.of(
            new Entry(7, 2, EntryType.ENTRY_NOOP, 1_700_000_000_000L, new byte[0]),
            new Entry(8, 3, EntryType.ENTRY_NORMAL, 1_700_000_000_123L, "hello".getBytes(StandardCharsets.UTF_8)),
            new Entry(9, 3, EntryType.ENTRY_CONFIG, 0, new byte[] {0, -1, 127, -128}),
            // forwarded by a follower: the origin travels with the entry
            new Entry(10, 3, EntryType.ENTRY_NORMAL, 1_700_000_000_200L, new byte[] {5}, "n2", -7_000_000_000L));
    return List.of(
        new RequestVote("a", "b", 5, 42, 4),
        new RequestVote("node-1", "node.2", Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE),
        new RequestVote("a", "b", 6, 42, 4, true, false), // pre-vote
        new RequestVote("a", "b", 6, 42, 4, false, true), // after TimeoutNow
        new RequestVoteResponse("b", "a", 5, true),
        new RequestVoteResponse("b", "a", 0, false),
        new RequestVoteResponse("b", "a", 6, true, true),
        new AppendEntries("a", "b", 3, 6, 2, entries, 8),
        new AppendEntries("a", "c", 3, 9, 3, List.of(), 9), // heartbeat
        new AppendEntriesResponse("b", "a", 3, true, 9),
        new AppendEntriesResponse("c", "a", 3, false, 0), // hints -1, -1
        new AppendEntriesResponse("c", "a", 3, false, 12, 10, 2),
        new Heartbeat("a", "b", 3, 8),
        new HeartbeatResponse("b", "a", 3),
        new TimeoutNow("a", "c", 3),
        new RaftMessage.InstallSnapshot("a", "b", 3, 120, 2, 4, new byte[] {1, 2, 3}, false),
        new RaftMessage.InstallSnapshot("a", "b", 3, 120, 2, 5, new byte[0], true),
        new RaftMessage.InstallSnapshotResponse("b", "a", 3, 120, 4, false),
        new RaftMessage.InstallSnapshotResponse("b", "a", 3, 120, 5, true),
        new RaftMessage.ForwardProposal("b", "a", 3, Long.MIN_VALUE + 1, "cmd".getBytes(StandardCharsets.UTF_8)),
        new RaftMessage.ForwardRejected("a", "b", 3, 42, "node a is not the leader", false),
        new RaftMessage.ForwardRejected("a", "b", 3, -1, "queue full", true));
  }

  @Test
  void everyMessageTypeRoundTripsThroughBytes() throws Exception {
    for (RaftMessage m : samples()) {
      byte[] wire = WireCodec.encode(m).toByteArray();
      RaftMessage back = WireCodec.decode(RaftFrame.parseFrom(wire));
      assertSameMessage(m, back);
    }
  }

  @Test
  void samplesCoverEveryMessageType() {
    // A new RaftMessage type fails here until it gets a sample (and so a round trip above).
    Set<Class<?>> covered = samples().stream().map(Object::getClass).collect(Collectors.toSet());
    Set<Class<?>> all = Stream.of(RaftMessage.class.getPermittedSubclasses()).collect(Collectors.toSet());
    assertEquals(all, covered);
  }

  @Test
  void entriesTravelAsTheirLogEncoding() {
    AppendEntries m = (AppendEntries) samples().stream()
        .filter(x -> x instanceof AppendEntries a && !a.entries().isEmpty()).findFirst().orElseThrow();
    AppendEntriesBody body = WireCodec.encode(m).getAppendEntries();
    assertEquals(4, body.getEntriesCount());
    for (int i = 0; i < 4; i++) {
      assertArrayEquals(m.entries().get(i).encode(), body.getEntries(i).toByteArray());
    }
  }

  @Test
  void anUnknownBodyTypeIsRefusedNotCrashed() throws Exception {
    // What a newer peer's frame with oneof case 99 looks like to this build.
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    out.writeString(1, "a");
    out.writeString(2, "b");
    out.writeUInt64(3, 7);
    out.writeBytes(99, ByteString.copyFromUtf8("something new"));
    out.flush();
    RaftFrame frame = RaftFrame.parseFrom(bytes.toByteArray());
    assertEquals(RaftFrame.BodyCase.BODY_NOT_SET, frame.getBodyCase());
    assertThrows(WireCodec.MalformedFrameException.class, () -> WireCodec.decode(frame));
  }

  @Test
  void malformedFramesAreRefused() {
    RaftFrame ok = WireCodec.encode(samples().get(0));
    assertThrows(WireCodec.MalformedFrameException.class,
        () -> WireCodec.decode(ok.toBuilder().setFrom("").build()));
    assertThrows(WireCodec.MalformedFrameException.class,
        () -> WireCodec.decode(ok.toBuilder().setTo("").build()));
    assertThrows(WireCodec.MalformedFrameException.class,
        () -> WireCodec.decode(ok.toBuilder().setTerm(-1).build())); // uint64 above Long.MAX_VALUE
    assertThrows(WireCodec.MalformedFrameException.class,
        () -> WireCodec.decode(ok.toBuilder()
            .setRequestVote(RequestVoteBody.newBuilder().setLastLogIndex(-5)).build()));
    RaftFrame badEntry =
        WireCodec.encode(new AppendEntries("a", "c", 3, 9, 3, List.of(), 9)).toBuilder()
            .setAppendEntries(AppendEntriesBody.newBuilder()
                .addEntries(ByteString.copyFromUtf8("not an entry at all, definitely")))
            .build();
    assertThrows(WireCodec.MalformedFrameException.class, () -> WireCodec.decode(badEntry));
  }

  /** Records compare arrays by identity, so entries are compared field by field. */
  static void assertSameMessage(RaftMessage expected, RaftMessage actual) {
    assertEquals(expected.getClass(), actual.getClass());
    if (expected instanceof AppendEntries e && actual instanceof AppendEntries a) {
      assertEquals(List.of(e.from(), e.to(), e.term(), e.prevLogIndex(), e.prevLogTerm(), e.leaderCommit()),
          List.of(a.from(), a.to(), a.term(), a.prevLogIndex(), a.prevLogTerm(), a.leaderCommit()));
      assertEquals(e.entries().size(), a.entries().size());
      for (int i = 0; i < e.entries().size(); i++) {
        Entry x = e.entries().get(i);
        Entry y = a.entries().get(i);
        assertEquals(List.of(x.index(), x.term(), x.type(), x.timestampMs(), x.originNode(), x.originId()),
            List.of(y.index(), y.term(), y.type(), y.timestampMs(), y.originNode(), y.originId()));
        assertArrayEquals(x.data(), y.data());
      }
    } else if (expected instanceof RaftMessage.InstallSnapshot e && actual instanceof RaftMessage.InstallSnapshot a) {
      assertEquals(List.of(e.from(), e.to(), e.term(), e.index(), e.snapshotTerm(), e.seq(), e.last()),
          List.of(a.from(), a.to(), a.term(), a.index(), a.snapshotTerm(), a.seq(), a.last()));
      assertArrayEquals(e.data(), a.data()); // records compare arrays by identity
    } else if (expected instanceof RaftMessage.ForwardProposal e && actual instanceof RaftMessage.ForwardProposal a) {
      assertEquals(List.of(e.from(), e.to(), e.term(), e.id()), List.of(a.from(), a.to(), a.term(), a.id()));
      assertArrayEquals(e.command(), a.command());
    } else {
      assertEquals(expected, actual);
    }
  }
}
