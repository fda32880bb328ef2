package io.dsync.raft.sim;

/**
 * A broken property found by {@link Invariants} or the driver; {@link Simulation} turns it into a
 * {@link SimulationFailure} carrying the seed and the trace.
 */
final class Violation extends RuntimeException {
  final String property;

  /**
   * @param property the property's short name (e.g. "election safety")
   * @param detail what was seen
   */
  Violation(String property, String detail) {
    super(property + ": " + detail);
    this.property = property;
  }
}
