package io.dsync.raft;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The Raft layer's Prometheus metrics, registered in the registry the node passes in (one
 * registry per node, so several nodes can live in one JVM in tests). Thread-safe.
 */
public final class RaftMetrics {
  final Histogram appendSeconds;
  final Histogram appendBatchEntries;
  final Histogram applySeconds;
  final Counter proposals;
  final Counter proposalsRejected;
  /** Proposals this node forwarded to the leader, by outcome (applied, refused, failed). */
  final Counter forwardedProposals;
  /** Proposals followers forwarded to this node while it led, accepted into its queue. */
  final Counter forwardedAccepted;
  final Counter elections;
  final Gauge term;
  final Gauge commitIndex;
  final Gauge appliedIndex;
  final Gauge lastIndex;
  final Gauge isLeader;
  final Gauge proposalQueueDepth;

  /** @param registry where to register; must not already hold dsync_raft_* metrics */
  public RaftMetrics(PrometheusRegistry registry) {
    appendSeconds =
        Histogram.builder()
            .name("dsync_raft_log_append_seconds")
            .help("Time to append one batch to the Raft log, fsync included")
            .classicUpperBounds(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
            .register(registry);
    appendBatchEntries =
        Histogram.builder()
            .name("dsync_raft_log_append_batch_entries")
            .help("Entries per fsync'd log append (group commit)")
            .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
            .register(registry);
    applySeconds =
        Histogram.builder()
            .name("dsync_raft_apply_seconds")
            .help("Time to apply one batch of committed entries to the state machines")
            .classicUpperBounds(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
            .register(registry);
    proposals = Counter.builder().name("dsync_raft_proposals_total").help("Commands proposed").register(registry);
    forwardedProposals =
        Counter.builder()
            .name("dsync_raft_forwarded_proposals_total")
            .help("Proposals this node sent to the leader over the peer transport, by outcome: applied here, "
                + "refused by the leader (not leader / queue full), failed (term change, timeout, stop)")
            .labelNames("outcome")
            .register(registry);
    forwardedAccepted =
        Counter.builder()
            .name("dsync_raft_forwarded_proposals_accepted_total")
            .help("Proposals forwarded by followers that this node, leading, queued for its log")
            .register(registry);
    proposalsRejected =
        Counter.builder()
            .name("dsync_raft_proposals_rejected_total")
            .help("Proposals refused because the proposal queue was full")
            .register(registry);
    elections = Counter.builder().name("dsync_raft_elections_total").help("Elections this node started").register(registry);
    term = Gauge.builder().name("dsync_raft_term").help("Current term").register(registry);
    commitIndex = Gauge.builder().name("dsync_raft_commit_index").help("Commit index").register(registry);
    appliedIndex = Gauge.builder().name("dsync_raft_applied_index").help("Applied index").register(registry);
    lastIndex = Gauge.builder().name("dsync_raft_last_index").help("Last log index").register(registry);
    isLeader = Gauge.builder().name("dsync_raft_is_leader").help("1 if this node is the leader").register(registry);
    proposalQueueDepth =
        Gauge.builder()
            .name("dsync_raft_proposal_queue_depth")
            .help("Proposals waiting for the Raft thread")
            .register(registry);
  }
}
