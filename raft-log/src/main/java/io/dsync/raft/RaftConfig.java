package io.dsync.raft;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Every tunable of the Raft layer, its default and its validation, in one place (the habit of
 * Ratis' {@code RaftServerConfigKeys}).
 *
 * @param nodeId this node's id (non-empty, {@code [A-Za-z0-9_.-]{1,64}})
 * @param voters the bootstrap configuration: the ids of the voting members, this node included;
 *     empty for a node that joins an existing cluster (it waits for the leader to replicate the
 *     configuration to it, and never campaigns before it is a voter). Used only while the node's
 *     log and snapshot hold no configuration: afterwards the latest config entry rules
 *     ({@link Membership})
 * @param tickMs the length of one logical tick, in ms (default 50)
 * @param electionTicks a follower that hears no leader for a random number of ticks in
 *     {@code [electionTicks, 2 * electionTicks)} starts an election (Raft §5.2; default 8: 400-800 ms at 50 ms ticks, so failover stays under a second)
 * @param heartbeatTicks a leader sends heartbeats every this many ticks (default 1); must be
 *     below {@code electionTicks}
 * @param maxProposalQueue proposals waiting for the Raft thread at most; past it proposals are
 *     refused with {@link OverloadedException} (default 8192)
 * @param maxBatchBytes the most command bytes one Ready appends (one fsync), in bytes (default
 *     8 MiB)
 * @param maxApplyQueue committed batches waiting for the apply thread at most (default 64);
 *     when full the Raft thread stops taking proposals until apply catches up
 * @param preVote whether a node asks for pre-votes before starting an election, so a node that
 *     was cut off cannot disrupt a working leader when it rejoins (Ongaro thesis §9.6; default on)
 * @param checkQuorum whether a leader steps down when it has not heard from a quorum within an
 *     election timeout, and followers that hear from a leader ignore vote requests (thesis §6.2,
 *     §4.2.3; default on)
 * @param maxAppendBytes the most entry bytes in one AppendEntries message, in bytes (default
 *     1 MiB)
 * @param maxInflightAppends AppendEntries messages in flight to one follower at most (default
 *     64); with {@code maxAppendBytes} this bounds the leader's memory per slow follower
 * @param compactLogBytes once this many bytes of entries were appended since the last
 *     compaction, the log is purged up to the applied index minus {@code compactTrailingEntries}
 *     (Raft §7; default 256 MiB): the state column families are the snapshot
 * @param compactTrailingEntries applied entries kept after a compaction, so a follower slightly
 *     behind catches up from the log rather than a snapshot (default 1000)
 * @param addresses the bootstrap members' {@code [raftAddress, httpAddress]} by id (may be
 *     partial or empty); written into the first config entry so that nodes added later learn them
 * @param maxStableReadBytes the most entry bytes (by {@link Entry#approximateBytes()}) a leader
 *     reads from the stable log, i.e. from disk, to build AppendEntries for followers that lag
 *     behind its in-memory entries, per driver cycle: between two {@link RaftCore#ready()} calls,
 *     which in {@link RaftNode} is one batch of inputs (default 4 MiB, at least 1 KiB). Those
 *     reads run on the Raft thread; without this bound one catching-up follower in REPLICATE
 *     could have {@code maxInflightAppends * maxAppendBytes} (64 MiB by default) read in one
 *     cycle while heartbeats and the leader's own appends wait. A cycle may go over by one entry
 *     (an AppendEntries always carries at least one); entries still in memory are not counted.
 *     The follower's catch-up resumes on its next response or the leader's next tick. etcd bounds
 *     the same traffic per message and per follower ({@code MaxSizePerMsg},
 *     {@code MaxInflightMsgs}, {@code MaxInflightBytes}); this caps the leader's disk reads
 *     across all followers
 */
public record RaftConfig(
    String nodeId,
    List<String> voters,
    long tickMs,
    int electionTicks,
    int heartbeatTicks,
    int maxProposalQueue,
    long maxBatchBytes,
    int maxApplyQueue,
    boolean preVote,
    boolean checkQuorum,
    long maxAppendBytes,
    int maxInflightAppends,
    long compactLogBytes,
    long compactTrailingEntries,
    Map<String, List<String>> addresses,
    long maxStableReadBytes) {

  /** The default of {@link #maxStableReadBytes()}: 4 MiB. */
  public static final long DEFAULT_MAX_STABLE_READ_BYTES = 4L << 20;

  /**
   * @throws IllegalArgumentException on any unsafe or meaningless combination
   */
  public RaftConfig {
    if (nodeId == null || !nodeId.matches("[A-Za-z0-9_.-]{1,64}")) {
      throw new IllegalArgumentException("node id must match [A-Za-z0-9_.-]{1,64}: " + nodeId);
    }
    voters = List.copyOf(voters);
    addresses = java.util.Collections.unmodifiableMap(new TreeMap<>(addresses));
    if (!voters.isEmpty() && !voters.contains(nodeId)) {
      throw new IllegalArgumentException("voters " + voters + " must include this node " + nodeId);
    }
    if (voters.stream().distinct().count() != voters.size()) {
      throw new IllegalArgumentException("duplicate voter in " + voters);
    }
    if (tickMs < 1) {
      throw new IllegalArgumentException("tickMs must be >= 1");
    }
    if (heartbeatTicks < 1 || electionTicks <= heartbeatTicks) {
      throw new IllegalArgumentException("need 1 <= heartbeatTicks < electionTicks");
    }
    if (maxProposalQueue < 1 || maxApplyQueue < 1 || maxBatchBytes < 1024) {
      throw new IllegalArgumentException("queue sizes must be >= 1 and maxBatchBytes >= 1 KiB");
    }
    if (maxAppendBytes < 1024 || maxInflightAppends < 1) {
      throw new IllegalArgumentException("maxAppendBytes must be >= 1 KiB and maxInflightAppends >= 1");
    }
    if (compactLogBytes < 1 || compactTrailingEntries < 0) {
      throw new IllegalArgumentException("compactLogBytes must be >= 1 and compactTrailingEntries >= 0");
    }
    if (maxStableReadBytes < 1024) {
      throw new IllegalArgumentException("maxStableReadBytes must be >= 1 KiB");
    }
  }

  /** With {@link #maxStableReadBytes()} at its default (4 MiB). */
  public RaftConfig(String nodeId, List<String> voters, long tickMs, int electionTicks, int heartbeatTicks,
      int maxProposalQueue, long maxBatchBytes, int maxApplyQueue, boolean preVote, boolean checkQuorum,
      long maxAppendBytes, int maxInflightAppends, long compactLogBytes, long compactTrailingEntries,
      Map<String, List<String>> addresses) {
    this(nodeId, voters, tickMs, electionTicks, heartbeatTicks, maxProposalQueue, maxBatchBytes, maxApplyQueue,
        preVote, checkQuorum, maxAppendBytes, maxInflightAppends, compactLogBytes, compactTrailingEntries, addresses,
        DEFAULT_MAX_STABLE_READ_BYTES);
  }

  /** Without bootstrap addresses. */
  public RaftConfig(String nodeId, List<String> voters, long tickMs, int electionTicks, int heartbeatTicks,
      int maxProposalQueue, long maxBatchBytes, int maxApplyQueue, boolean preVote, boolean checkQuorum,
      long maxAppendBytes, int maxInflightAppends, long compactLogBytes, long compactTrailingEntries) {
    this(nodeId, voters, tickMs, electionTicks, heartbeatTicks, maxProposalQueue, maxBatchBytes, maxApplyQueue,
        preVote, checkQuorum, maxAppendBytes, maxInflightAppends, compactLogBytes, compactTrailingEntries, Map.of());
  }

  /** Without compaction knobs: those at their defaults (256 MiB, 1000 entries). */
  public RaftConfig(String nodeId, List<String> voters, long tickMs, int electionTicks, int heartbeatTicks,
      int maxProposalQueue, long maxBatchBytes, int maxApplyQueue, boolean preVote, boolean checkQuorum,
      long maxAppendBytes, int maxInflightAppends) {
    this(nodeId, voters, tickMs, electionTicks, heartbeatTicks, maxProposalQueue, maxBatchBytes, maxApplyQueue,
        preVote, checkQuorum, maxAppendBytes, maxInflightAppends, 256L << 20, 1000);
  }

  /** @return a copy with other compaction settings (tests use tiny ones) */
  public RaftConfig withCompaction(long logBytes, long trailingEntries) {
    return new RaftConfig(nodeId, voters, tickMs, electionTicks, heartbeatTicks, maxProposalQueue, maxBatchBytes,
        maxApplyQueue, preVote, checkQuorum, maxAppendBytes, maxInflightAppends, logBytes, trailingEntries, addresses,
        maxStableReadBytes);
  }

  /** @return a copy with these bootstrap addresses ({@code id -> [raftAddress, httpAddress]}) */
  public RaftConfig withAddresses(Map<String, List<String>> newAddresses) {
    return new RaftConfig(nodeId, voters, tickMs, electionTicks, heartbeatTicks, maxProposalQueue, maxBatchBytes,
        maxApplyQueue, preVote, checkQuorum, maxAppendBytes, maxInflightAppends, compactLogBytes,
        compactTrailingEntries, newAddresses, maxStableReadBytes);
  }


  /** @return the bootstrap configuration: {@link #voters()} with {@link #addresses()} */
  public Membership bootstrapMembership() {
    return Membership.ofVoters(voters, addresses);
  }

  /** The settings before PreVote/CheckQuorum/flow control had their own knobs: those at their defaults. */
  public RaftConfig(String nodeId, List<String> voters, long tickMs, int electionTicks, int heartbeatTicks,
      int maxProposalQueue, long maxBatchBytes, int maxApplyQueue) {
    this(nodeId, voters, tickMs, electionTicks, heartbeatTicks, maxProposalQueue, maxBatchBytes, maxApplyQueue,
        true, true, 1L << 20, 64, 256L << 20, 1000);
  }

  /**
   * @param nodeId this node's id
   * @param voters all voting members, this node included
   * @return a config with the defaults described on the record
   */
  public static RaftConfig defaults(String nodeId, List<String> voters) {
    return new RaftConfig(nodeId, voters, 50, 8, 1, 8192, 8L << 20, 64);
  }
}
