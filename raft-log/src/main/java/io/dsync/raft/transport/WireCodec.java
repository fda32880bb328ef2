package io.dsync.raft.transport;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
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
import io.dsync.raft.proto.AppendEntriesResponseBody;
import io.dsync.raft.proto.HeartbeatBody;
import io.dsync.raft.proto.HeartbeatResponseBody;
import io.dsync.raft.proto.RaftFrame;
import io.dsync.raft.proto.RequestVoteBody;
import io.dsync.raft.proto.RequestVoteResponseBody;
import io.dsync.raft.proto.TimeoutNowBody;
import java.util.ArrayList;
import java.util.List;

/**
 * Maps {@link RaftMessage} to and from its wire form {@link RaftFrame} ({@code raft_wire.proto}).
 * The one place that knows both shapes.
 *
 * <p>Adding a message type: add a body message and a {@code oneof body} case to
 * {@code raft_wire.proto}, then one {@code case} in {@link #encode} and one in {@link #decode}.
 * Both switches are exhaustive without a {@code default}, so the compiler points at them when
 * {@link RaftMessage} or the oneof grows.
 *
 * <p>Log entries travel as {@code repeated bytes}, each the {@link Entry#encode()} bytes the log
 * stores.
 *
 * <p>Stateless and thread-safe.
 */
public final class WireCodec {
  private WireCodec() {}

  /**
   * Encodes a message.
   *
   * @param message any Raft message
   * @return its frame; {@code from}, {@code to} and {@code term} copied from the message
   */
  public static RaftFrame encode(RaftMessage message) {
    RaftFrame.Builder frame =
        RaftFrame.newBuilder().setFrom(message.from()).setTo(message.to()).setTerm(message.term());
    switch (message) {
      case RequestVote m ->
          frame.setRequestVote(
              RequestVoteBody.newBuilder()
                  .setLastLogIndex(m.lastLogIndex())
                  .setLastLogTerm(m.lastLogTerm())
                  .setPreVote(m.preVote())
                  .setTransfer(m.transfer()));
      case RequestVoteResponse m ->
          frame.setRequestVoteResponse(
              RequestVoteResponseBody.newBuilder().setGranted(m.granted()).setPreVote(m.preVote()));
      case AppendEntries m -> {
        AppendEntriesBody.Builder body =
            AppendEntriesBody.newBuilder()
                .setPrevLogIndex(m.prevLogIndex())
                .setPrevLogTerm(m.prevLogTerm())
                .setLeaderCommit(m.leaderCommit());
        for (Entry e : m.entries()) {
          // encode() returns a fresh array nobody else holds, so wrapping it without a copy is safe.
          body.addEntries(UnsafeByteOperations.unsafeWrap(e.encode()));
        }
        frame.setAppendEntries(body);
      }
      case AppendEntriesResponse m ->
          frame.setAppendEntriesResponse(
              AppendEntriesResponseBody.newBuilder()
                  .setSuccess(m.success())
                  .setMatchIndex(m.matchIndex())
                  .setHintIndex(m.hintIndex())
                  .setHintTerm(m.hintTerm()));
      case Heartbeat m -> frame.setHeartbeat(HeartbeatBody.newBuilder().setCommit(m.commit()).setContext(m.context()));
      case HeartbeatResponse m -> frame.setHeartbeatResponse(HeartbeatResponseBody.newBuilder().setContext(m.context()));
      case TimeoutNow m -> frame.setTimeoutNow(TimeoutNowBody.getDefaultInstance());
      case RaftMessage.InstallSnapshot m ->
          frame.setInstallSnapshot(
              io.dsync.raft.proto.InstallSnapshotBody.newBuilder()
                  .setIndex(m.index())
                  .setSnapshotTerm(m.snapshotTerm())
                  .setSeq(m.seq())
                  .setData(UnsafeByteOperations.unsafeWrap(m.data()))
                  .setLast(m.last())
                  .setConfig(UnsafeByteOperations.unsafeWrap(m.config())));
      case RaftMessage.InstallSnapshotResponse m ->
          frame.setInstallSnapshotResponse(
              io.dsync.raft.proto.InstallSnapshotResponseBody.newBuilder()
                  .setIndex(m.index())
                  .setSeq(m.seq())
                  .setInstalled(m.installed()));
      case RaftMessage.ForwardProposal m ->
          frame.setForwardProposal(
              io.dsync.raft.proto.ForwardProposalBody.newBuilder()
                  .setId(m.id())
                  .setCommand(UnsafeByteOperations.unsafeWrap(m.command())));
      case RaftMessage.ForwardRejected m ->
          frame.setForwardRejected(
              io.dsync.raft.proto.ForwardRejectedBody.newBuilder()
                  .setId(m.id())
                  .setReason(m.reason())
                  .setOverloaded(m.overloaded()));
    }
    return frame.build();
  }

  /**
   * Decodes a frame.
   *
   * @param frame a frame from the network
   * @return the message it carries
   * @throws MalformedFrameException if the body is missing or of a type this build does not know
   *     (a newer peer), if {@code from}/{@code to} are empty, if a term or index is negative
   *     (a uint64 above {@link Long#MAX_VALUE}; the signed backtracking hints may be -1), or if an
   *     entry does not decode; the caller drops
   *     the frame, which Raft tolerates like any lost message
   */
  public static RaftMessage decode(RaftFrame frame) {
    String from = frame.getFrom();
    String to = frame.getTo();
    if (from.isEmpty() || to.isEmpty()) {
      throw new MalformedFrameException("frame without from/to");
    }
    long term = nonNegative(frame.getTerm(), "term");
    return switch (frame.getBodyCase()) {
      case REQUEST_VOTE -> {
        RequestVoteBody b = frame.getRequestVote();
        yield new RequestVote(
            from,
            to,
            term,
            nonNegative(b.getLastLogIndex(), "last_log_index"),
            nonNegative(b.getLastLogTerm(), "last_log_term"),
            b.getPreVote(),
            b.getTransfer());
      }
      case REQUEST_VOTE_RESPONSE -> {
        RequestVoteResponseBody b = frame.getRequestVoteResponse();
        yield new RequestVoteResponse(from, to, term, b.getGranted(), b.getPreVote());
      }
      case APPEND_ENTRIES -> {
        AppendEntriesBody b = frame.getAppendEntries();
        List<Entry> entries = new ArrayList<>(b.getEntriesCount());
        for (ByteString bytes : b.getEntriesList()) {
          try {
            entries.add(Entry.decode(bytes.toByteArray()));
          } catch (Entry.CorruptEntryException e) {
            throw new MalformedFrameException("AppendEntries entry: " + e.getMessage());
          }
        }
        yield new AppendEntries(
            from,
            to,
            term,
            nonNegative(b.getPrevLogIndex(), "prev_log_index"),
            nonNegative(b.getPrevLogTerm(), "prev_log_term"),
            List.copyOf(entries),
            nonNegative(b.getLeaderCommit(), "leader_commit"));
      }
      case APPEND_ENTRIES_RESPONSE -> {
        AppendEntriesResponseBody b = frame.getAppendEntriesResponse();
        yield new AppendEntriesResponse(
            from,
            to,
            term,
            b.getSuccess(),
            nonNegative(b.getMatchIndex(), "match_index"),
            b.getHintIndex(),
            b.getHintTerm());
      }
      case HEARTBEAT ->
          new Heartbeat(from, to, term, nonNegative(frame.getHeartbeat().getCommit(), "commit"),
              nonNegative(frame.getHeartbeat().getContext(), "context"));
      case HEARTBEAT_RESPONSE ->
          new HeartbeatResponse(from, to, term, nonNegative(frame.getHeartbeatResponse().getContext(), "context"));
      case TIMEOUT_NOW -> new TimeoutNow(from, to, term);
      case INSTALL_SNAPSHOT -> {
        io.dsync.raft.proto.InstallSnapshotBody b = frame.getInstallSnapshot();
        yield new RaftMessage.InstallSnapshot(from, to, term, nonNegative(b.getIndex(), "index"),
            nonNegative(b.getSnapshotTerm(), "snapshot_term"), b.getSeq(), b.getData().toByteArray(), b.getLast(),
            b.getConfig().toByteArray());
      }
      case INSTALL_SNAPSHOT_RESPONSE -> {
        io.dsync.raft.proto.InstallSnapshotResponseBody b = frame.getInstallSnapshotResponse();
        yield new RaftMessage.InstallSnapshotResponse(from, to, term, nonNegative(b.getIndex(), "index"), b.getSeq(),
            b.getInstalled());
      }
      case FORWARD_PROPOSAL -> {
        io.dsync.raft.proto.ForwardProposalBody b = frame.getForwardProposal();
        yield new RaftMessage.ForwardProposal(from, to, term, b.getId(), b.getCommand().toByteArray());
      }
      case FORWARD_REJECTED -> {
        io.dsync.raft.proto.ForwardRejectedBody b = frame.getForwardRejected();
        yield new RaftMessage.ForwardRejected(from, to, term, b.getId(), b.getReason(), b.getOverloaded());
      }
      case BODY_NOT_SET ->
          throw new MalformedFrameException(
              "frame from " + from + " has no body this build knows (a newer peer?)");
    };
  }

  private static long nonNegative(long value, String field) {
    if (value < 0) {
      throw new MalformedFrameException(field + " out of range: " + Long.toUnsignedString(value));
    }
    return value;
  }

  /**
   * A frame that cannot become a {@link RaftMessage}. Receivers log it, count it and drop the
   * frame; it never takes a node down.
   */
  public static final class MalformedFrameException extends RuntimeException {
    /** @param message what is wrong with the frame */
    public MalformedFrameException(String message) {
      super(message);
    }
  }
}
