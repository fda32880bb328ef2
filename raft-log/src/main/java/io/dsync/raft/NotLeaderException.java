package io.dsync.raft;

/**
 * A proposal or linearizable read reached a node that is not the leader, or the leader lost its
 * leadership before the proposal committed (in which case the proposal may or may not be in the
 * log: the caller cannot know, as with any Raft client, §8).
 */
public final class NotLeaderException extends RuntimeException {
  private final String leaderId;

  /**
   * @param leaderId the leader this node knows of, or {@code null}
   * @param message what happened
   */
  public NotLeaderException(String leaderId, String message) {
    super(message);
    this.leaderId = leaderId;
  }

  /** @return the known leader's id, or {@code null} when no leader is known */
  public String leaderId() {
    return leaderId;
  }
}
