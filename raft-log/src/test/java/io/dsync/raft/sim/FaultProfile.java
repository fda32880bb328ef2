package io.dsync.raft.sim;

import io.dsync.raft.RaftConfig;
import java.util.List;
import java.util.Random;

/**
 * The shape of one run, drawn from its seed so that the seed alone reproduces it: cluster size,
 * Raft timing, and how hostile the world is. Seeds spread from calm (rare faults, little loss)
 * to stormy (a fault every ~200 ms of simulated time, 20% loss).
 *
 * @param nodeCount 3 or 5 voters
 * @param tickMs the Raft tick, in ms of a node's own clock
 * @param electionTicks the election timeout base, in ticks
 * @param heartbeatTicks the heartbeat interval, in ticks
 * @param maxBatchBytes the core's append batch limit, in bytes (small values split catch-up)
 * @param maxLoss the ceiling of the random message-loss probability
 * @param maxDuplicate the ceiling of the random duplication probability
 * @param maxLongDelay the ceiling of the probability that a message is held back for long
 * @param baseDelayMaxUs every message takes a uniform delay in {@code [50, 50 + this)} µs
 * @param longDelayMaxUs a held-back message takes up to this much more, in µs (reorders a lot)
 * @param maxDrift each node's clock runs at {@code 1 + d} times real speed, {@code |d| <= this}
 * @param maxSkewMs each node's clock starts up to this far off, in ms
 * @param chaosMeanMs the mean simulated time between two fault events, in ms
 * @param proposalMeanMs the mean simulated time between two client proposals, in ms
 * @param slowApply the probability that the apply thread lags by up to 200 ms on a batch
 * @param leaderChurn the probability that a new leader is set to crash within its first 20 Readys
 */
public record FaultProfile(
    int nodeCount,
    long tickMs,
    int electionTicks,
    int heartbeatTicks,
    long maxBatchBytes,
    double maxLoss,
    double maxDuplicate,
    double maxLongDelay,
    long baseDelayMaxUs,
    long longDelayMaxUs,
    double maxDrift,
    long maxSkewMs,
    long chaosMeanMs,
    long proposalMeanMs,
    double slowApply,
    double leaderChurn) {

  /** Draws a profile; consumes a fixed number of values from {@code r}. */
  static FaultProfile draw(Random r) {
    int nodes = r.nextInt(3) == 0 ? 5 : 3;
    long tickMs = new long[] {10, 20, 50}[r.nextInt(3)];
    int electionTicks = 4 + r.nextInt(7); // 4..10
    int heartbeatTicks = 1 + r.nextInt(Math.max(1, electionTicks / 3));
    long maxBatch = new long[] {1024, 4096, 8L << 20}[r.nextInt(3)];
    double storm = r.nextDouble(); // 0 calm .. 1 stormy
    double maxLoss = 0.2 * storm;
    double maxDup = 0.1 * r.nextDouble();
    double maxLong = 0.05 * r.nextDouble();
    long baseDelay = (1 + r.nextInt(10)) * tickMs * 1000 / 10; // up to one tick
    long longDelay = 2L * electionTicks * tickMs * 1000; // up to two election timeouts
    double maxDrift = 0.05 * r.nextDouble();
    long maxSkew = 2000;
    long electionMs = electionTicks * tickMs;
    long chaosMean = Math.max(electionMs / 2, (long) (electionMs * 6 * (1.2 - storm)));
    long proposalMean = tickMs * (1 + r.nextInt(8));
    double slowApply = 0.1 * r.nextDouble();
    double leaderChurn = 0.3 * r.nextDouble();
    return new FaultProfile(nodes, tickMs, electionTicks, heartbeatTicks, maxBatch, maxLoss, maxDup, maxLong,
        baseDelay, longDelay, maxDrift, maxSkew, chaosMean, proposalMean, slowApply, leaderChurn);
  }

  /**
   * The one place that builds the core's configuration (a new {@link RaftConfig} field means a
   * change here only).
   */
  RaftConfig raftConfig(String nodeId, List<String> voters) {
    RaftConfig d = RaftConfig.defaults(nodeId, voters);
    return new RaftConfig(nodeId, voters, tickMs, electionTicks, heartbeatTicks, d.maxProposalQueue(), maxBatchBytes,
        d.maxApplyQueue());
  }

  @Override
  public String toString() {
    return String.format(
        "%d nodes, tick %d ms, election %d ticks, heartbeat %d ticks, batch %d B, loss<=%.3f dup<=%.3f long-delay<=%.3f"
            + " (<=%d ms), base delay<%d us, drift<=%.3f, fault every ~%d ms, proposal every ~%d ms, slow apply %.3f,"
            + " leader churn %.3f",
        nodeCount, tickMs, electionTicks, heartbeatTicks, maxBatchBytes, maxLoss, maxDuplicate, maxLongDelay,
        longDelayMaxUs / 1000, baseDelayMaxUs + 50, maxDrift, chaosMeanMs, proposalMeanMs, slowApply, leaderChurn);
  }
}
