package io.dsync.raft;

/** A node's role in its current term (Raft §5.1). Learners come with membership changes. */
public enum Role {
  /** Accepts entries from a leader; votes. */
  FOLLOWER,
  /** Asking for pre-votes before becoming a candidate; its term has not changed (thesis §9.6). */
  PRE_CANDIDATE,
  /** Asking for votes to become leader of a new term. */
  CANDIDATE,
  /** Accepts proposals, replicates, decides the commit index. */
  LEADER
}
