package io.dsync.storage;

/**
 * The Raft state that must survive a crash before a node answers a message that depends on it
 * (Raft §5.1, Figure 2 "Persistent state on all servers").
 *
 * @param term the latest term this node has seen ({@code currentTerm}), starting at 0
 * @param votedFor the candidate this node voted for in {@code term}, or {@code null} for none
 */
public record HardState(long term, String votedFor) {
  /** The state of a node that never ran. */
  public static final HardState INITIAL = new HardState(0, null);

  /** @throws IllegalArgumentException if {@code term} is negative */
  public HardState {
    if (term < 0) {
      throw new IllegalArgumentException("term must be >= 0, got " + term);
    }
  }
}
