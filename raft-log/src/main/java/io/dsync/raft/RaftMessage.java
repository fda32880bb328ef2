package io.dsync.raft;

import java.util.List;

/**
 * Messages between Raft peers (Raft §5, Figure 2). Every message carries the sender's term; a
 * receiver with a lower term adopts it and becomes follower (§5.1).
 */
public sealed interface RaftMessage {
  /** @return the sender's node id */
  String from();

  /** @return the receiver's node id */
  String to();

  /** @return the sender's current term */
  long term();

  /**
   * RequestVote RPC (§5.2, §5.4.1), or a pre-vote (thesis §9.6).
   *
   * @param term the candidate's term; for a pre-vote, the term it would campaign in (its term + 1)
   * @param lastLogIndex index of the candidate's last entry
   * @param lastLogTerm term of the candidate's last entry
   * @param preVote whether this is a pre-vote: granting it changes no state on the voter
   * @param transfer whether the candidate campaigns because the leader handed over leadership
   *     (TimeoutNow): voters then grant even while they hear from a leader (thesis §3.10)
   */
  record RequestVote(
      String from, String to, long term, long lastLogIndex, long lastLogTerm, boolean preVote, boolean transfer)
      implements RaftMessage {
    /** A real (not pre-, not transfer) vote request. */
    public RequestVote(String from, String to, long term, long lastLogIndex, long lastLogTerm) {
      this(from, to, term, lastLogIndex, lastLogTerm, false, false);
    }
  }

  /**
   * Reply to {@link RequestVote}.
   *
   * @param term for a granted pre-vote, the term of the request; otherwise the voter's term
   * @param preVote whether it answers a pre-vote
   */
  record RequestVoteResponse(String from, String to, long term, boolean granted, boolean preVote)
      implements RaftMessage {
    /** The reply to a real vote request. */
    public RequestVoteResponse(String from, String to, long term, boolean granted) {
      this(from, to, term, granted, false);
    }
  }

  /**
   * AppendEntries RPC (§5.3): replicates {@code entries} after {@code prevLogIndex}; empty
   * entries make a heartbeat.
   *
   * @param leaderCommit the leader's commit index
   */
  record AppendEntries(
      String from,
      String to,
      long term,
      long prevLogIndex,
      long prevLogTerm,
      List<Entry> entries,
      long leaderCommit)
      implements RaftMessage {}

  /**
   * Reply to {@link AppendEntries}.
   *
   * @param success whether the entries matched and were appended
   * @param matchIndex on success, the index of the last entry known to match the leader's log;
   *     on failure, the {@code prevLogIndex} that did not match
   * @param hintIndex on failure, the highest index at which the follower's log may match:
   *     {@code min(prevLogIndex - 1, lastIndex)}
   * @param hintTerm on failure, the term of the follower's entry at {@code hintIndex} (-1 unknown):
   *     the leader skips back over all its entries of higher terms in one step (fast backtracking,
   *     Raft §5.3 end; etcd's {@code findConflictByTerm})
   */
  record AppendEntriesResponse(
      String from, String to, long term, boolean success, long matchIndex, long hintIndex, long hintTerm)
      implements RaftMessage {
    /** A reply without a backtracking hint. */
    public AppendEntriesResponse(String from, String to, long term, boolean success, long matchIndex) {
      this(from, to, term, success, matchIndex, success ? matchIndex : matchIndex - 1, -1);
    }
  }

  /**
   * A leader's heartbeat (etcd's {@code MsgHeartbeat}): keeps followers from campaigning and
   * carries a commit index the follower is known to hold.
   *
   * @param commit {@code min(leader's commitIndex, this follower's matchIndex)}: safe to commit
   * @param context the newest ReadIndex request this heartbeat confirms leadership for (0 none)
   */
  record Heartbeat(String from, String to, long term, long commit, long context) implements RaftMessage {
    /** A heartbeat that confirms no read. */
    public Heartbeat(String from, String to, long term, long commit) {
      this(from, to, term, commit, 0);
    }
  }

  /**
   * Reply to {@link Heartbeat}: tells the leader the follower is alive (CheckQuorum) and, echoing
   * the context, still follows it (ReadIndex, thesis §6.4).
   */
  record HeartbeatResponse(String from, String to, long term, long context) implements RaftMessage {
    /** A reply that echoes no read context. */
    public HeartbeatResponse(String from, String to, long term) {
      this(from, to, term, 0);
    }
  }

  /**
   * Leadership transfer: the leader tells an up-to-date follower to campaign at once
   * (thesis §3.10).
   */
  record TimeoutNow(String from, String to, long term) implements RaftMessage {}

  /**
   * One chunk of a state snapshot, sent to a follower whose next entry the leader has compacted
   * away (Raft §7, Figure 13; chunked as in the paper's {@code offset}/{@code done}). The
   * transfer is resumable: chunks are numbered, each is acknowledged, a lost one is resent.
   *
   * @param index the last log index the snapshot includes
   * @param snapshotTerm the term of that entry
   * @param seq the chunk's number, from 0
   * @param data the chunk (an encoded {@code SnapshotChunkData}: state key/values)
   * @param last whether this is the final chunk
   * @param config the encoded cluster configuration at {@code index} ({@link Membership#encode()});
   *     empty when unknown (the follower keeps its own)
   */
  record InstallSnapshot(
      String from, String to, long term, long index, long snapshotTerm, int seq, byte[] data, boolean last,
      byte[] config)
      implements RaftMessage {
    /** A chunk that carries no configuration. */
    public InstallSnapshot(
        String from, String to, long term, long index, long snapshotTerm, int seq, byte[] data, boolean last) {
      this(from, to, term, index, snapshotTerm, seq, data, last, new byte[0]);
    }
  }

  /**
   * Acknowledges a snapshot chunk.
   *
   * @param index the snapshot's last included index
   * @param seq the chunk acknowledged
   * @param installed whether the follower now holds the whole snapshot (its last chunk, or a state
   *     already at or past {@code index})
   */
  record InstallSnapshotResponse(String from, String to, long term, long index, int seq, boolean installed)
      implements RaftMessage {}

  /**
   * A follower's proposal sent on to the leader, which appends it with the follower as the
   * entry's origin ({@link Entry#originNode()}); the follower completes its caller's future when
   * it applies that entry. Not a Raft RPC: {@link RaftNode} handles it, {@link RaftCore} never
   * sees it, and its term is informational.
   *
   * @param id the follower's id for the proposal, unique per follower process
   * @param command the encoded command
   */
  record ForwardProposal(String from, String to, long term, long id, byte[] command) implements RaftMessage {}

  /**
   * The leader's (or a former leader's) refusal of a {@link ForwardProposal}.
   *
   * @param id the refused proposal's id
   * @param reason for the follower's caller
   * @param overloaded {@code true}: the leader's proposal queue was full; {@code false}: the
   *     receiver is not the leader
   */
  record ForwardRejected(String from, String to, long term, long id, String reason, boolean overloaded)
      implements RaftMessage {}
}
