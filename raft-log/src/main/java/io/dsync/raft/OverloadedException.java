package io.dsync.raft;

/**
 * The node refused work because a bounded queue is full (backpressure rather than an unbounded
 * heap). Safe to retry after a short pause.
 */
public final class OverloadedException extends RuntimeException {
  /** @param message which queue was full */
  public OverloadedException(String message) {
    super(message);
  }
}
