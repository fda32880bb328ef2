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
   * RequestVote RPC (§5.2, §5.4.1).
   *
   * @param lastLogIndex index of the candidate's last entry
   * @param lastLogTerm term of the candidate's last entry
   */
  record RequestVote(String from, String to, long term, long lastLogIndex, long lastLogTerm)
      implements RaftMessage {}

  /** Reply to {@link RequestVote}. */
  record RequestVoteResponse(String from, String to, long term, boolean granted)
      implements RaftMessage {}

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
   *     on failure, a hint: the follower's last index, from which the leader backs off
   */
  record AppendEntriesResponse(String from, String to, long term, boolean success, long matchIndex)
      implements RaftMessage {}
}
