package io.dsync.raft.sim;

/**
 * A simulation run that broke a property. The message names the seed, how to replay it, the
 * nodes' state and the last events of the trace.
 */
public final class SimulationFailure extends AssertionError {
  private final long seed;
  private final String property;

  SimulationFailure(long seed, String property, String message, Throwable cause) {
    super(message, cause);
    this.seed = seed;
    this.property = property;
  }

  /** @return the seed that reproduces the failure with {@link Simulation#replay(long)} */
  public long seed() {
    return seed;
  }

  /** @return the short name of the broken property, e.g. "election safety" or "liveness" */
  public String property() {
    return property;
  }
}
