package io.dsync.gateway;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A node's configuration: every setting, its default and its validation in one place. Filled
 * from command-line flags, then {@code DSYNC_*} environment variables, then these defaults (see
 * {@link Main}).
 *
 * @param nodeId this node's id ({@code DSYNC_NODE_ID}, default {@code n1})
 * @param httpHost the address HTTP listens on ({@code DSYNC_HTTP_HOST}, default
 *     {@code 127.0.0.1})
 * @param httpPort the HTTP port ({@code DSYNC_HTTP_PORT}, default 8080; 0 picks a free port)
 * @param dataDir where the node keeps its data ({@code DSYNC_DATA_DIR}, default {@code ./data})
 * @param maxBodyBytes the largest request body accepted, in bytes ({@code DSYNC_MAX_BODY_BYTES},
 *     default 16 MiB); larger bodies get 413
 * @param tickMs the Raft tick, in ms ({@code DSYNC_TICK_MS}, default 50)
 * @param blockCacheBytes RocksDB block cache, in bytes ({@code DSYNC_BLOCK_CACHE_BYTES}, default
 *     64 MiB)
 * @param raftHost the address the Raft peer transport listens on ({@code DSYNC_RAFT_HOST},
 *     default {@code 127.0.0.1})
 * @param raftPort the Raft peer port ({@code DSYNC_RAFT_PORT}, default 9080; 0 picks a free one)
 * @param peers the bootstrap voters of the cluster, this node included — or, with {@code join}, where the
 *     members are ({@code DSYNC_PEERS}, e.g.
 *     {@code n1=127.0.0.1:9080/127.0.0.1:8080,n2=...}: id, Raft address, HTTP address); empty
 *     for a single node
 * @param clusterSecret the secret peers prove to each other ({@code DSYNC_CLUSTER_SECRET}, at
 *     least 16 characters); required with peers
 * @param enableFaultInjection a test hook, off by default ({@code DSYNC_ENABLE_FAULT_INJECTION}):
 *     serves {@code POST /v1/debug/faults}, which cuts this node's Raft traffic with given peers
 *     (see {@link io.dsync.raft.transport.GrpcTransport#isolate}); never for production
 * @param join whether this node joins an existing cluster ({@code DSYNC_JOIN}, {@code --join}):
 *     it starts with no configuration, never campaigns, and waits for the leader to add it
 *     ({@code POST /v1/cluster/members}); {@code peers} then only tell it where the members are.
 *     Ignored once the node's log holds a configuration
 * @param maxInFlightPerGroup records one queue group may hold leased at once on one topic
 *     ({@code DSYNC_MAX_IN_FLIGHT_PER_GROUP}, default 10,000; 1 to 1,000,000); the leader's
 *     value is the one applied ({@link io.dsync.broker.BrokerLimits#maxInFlightPerGroup()})
 * @param stateWal whether state-machine commits also go through RocksDB's write-ahead log
 *     ({@code DSYNC_STATE_WAL}, {@code --state-wal}, default false). Off, the state is durable at
 *     memtable flushes only and a restart replays the Raft log from the flushed
 *     {@code lastApplied}: fewer bytes written, a longer replay (StorageOptions#stateWal)
 */
public record NodeConfig(
    String nodeId, String httpHost, int httpPort, Path dataDir, long maxBodyBytes, long tickMs, long blockCacheBytes,
    String raftHost, int raftPort, List<Peer> peers, String clusterSecret, boolean enableFaultInjection,
    boolean join, int maxInFlightPerGroup, boolean stateWal) {

  /**
   * The default of {@link #stateWal}: off. The Raft log is the write-ahead log of the state
   * already; writing every record a third time (log, state WAL, state SST) costs CPU and disk for
   * no durability: a crash loses only state the log still holds, replayed at start.
   */
  public static final boolean DEFAULT_STATE_WAL = false;

  /** The default of {@link #maxInFlightPerGroup}. */
  public static final int DEFAULT_MAX_IN_FLIGHT_PER_GROUP = 10_000;

  /**
   * A voter of the cluster.
   *
   * @param id its node id
   * @param raftAddress {@code host:port} of its Raft transport
   * @param httpAddress {@code host:port} of its HTTP gateway (where followers forward writes)
   */
  public record Peer(String id, String raftAddress, String httpAddress) {}

  /** A node that bootstraps its cluster from {@code peers} (does not join one), with the default in-flight cap. */
  public NodeConfig(
      String nodeId, String httpHost, int httpPort, Path dataDir, long maxBodyBytes, long tickMs, long blockCacheBytes,
      String raftHost, int raftPort, List<Peer> peers, String clusterSecret, boolean enableFaultInjection) {
    this(nodeId, httpHost, httpPort, dataDir, maxBodyBytes, tickMs, blockCacheBytes, raftHost, raftPort, peers,
        clusterSecret, enableFaultInjection, false, DEFAULT_MAX_IN_FLIGHT_PER_GROUP, DEFAULT_STATE_WAL);
  }

  /** A node that bootstraps its cluster from {@code peers} (does not join one). */
  public NodeConfig(
      String nodeId, String httpHost, int httpPort, Path dataDir, long maxBodyBytes, long tickMs, long blockCacheBytes,
      String raftHost, int raftPort, List<Peer> peers, String clusterSecret, boolean enableFaultInjection,
      int maxInFlightPerGroup) {
    this(nodeId, httpHost, httpPort, dataDir, maxBodyBytes, tickMs, blockCacheBytes, raftHost, raftPort, peers,
        clusterSecret, enableFaultInjection, false, maxInFlightPerGroup, DEFAULT_STATE_WAL);
  }

  /** The settings before the fault-injection hook: with it off. */
  public NodeConfig(
      String nodeId, String httpHost, int httpPort, Path dataDir, long maxBodyBytes, long tickMs, long blockCacheBytes,
      String raftHost, int raftPort, List<Peer> peers, String clusterSecret) {
    this(nodeId, httpHost, httpPort, dataDir, maxBodyBytes, tickMs, blockCacheBytes, raftHost, raftPort, peers,
        clusterSecret, false);
  }

  /** A single node (no peers) with the given settings and the Raft transport unused. */
  public NodeConfig(
      String nodeId, String httpHost, int httpPort, Path dataDir, long maxBodyBytes, long tickMs, long blockCacheBytes) {
    this(nodeId, httpHost, httpPort, dataDir, maxBodyBytes, tickMs, blockCacheBytes, "127.0.0.1", 9080, List.of(), null);
  }

  /**
   * Parses {@code DSYNC_PEERS}: comma-separated {@code id=raftHost:raftPort/httpHost:httpPort}.
   *
   * @param spec the list, possibly empty or null
   * @return the peers in the given order
   * @throws IllegalArgumentException naming the malformed item
   */
  public static List<Peer> parsePeers(String spec) {
    List<Peer> out = new ArrayList<>();
    if (spec == null || spec.isBlank()) {
      return out;
    }
    for (String item : spec.split(",")) {
      String t = item.trim();
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("([A-Za-z0-9_.-]{1,64})=([^/=,\\s]+:\\d{1,5})/([^/=,\\s]+:\\d{1,5})").matcher(t);
      if (!m.matches()) {
        throw new IllegalArgumentException(
            "peer '" + t + "' must look like id=raftHost:raftPort/httpHost:httpPort, e.g. n1=127.0.0.1:9080/127.0.0.1:8080");
      }
      out.add(new Peer(m.group(1), m.group(2), m.group(3)));
    }
    return out;
  }

  /**
   * @return the bootstrap voters: the peers' ids, this node alone without peers, none when
   *     joining an existing cluster
   */
  public List<String> voterIds() {
    if (join) {
      return List.of();
    }
    return peers.isEmpty() ? List.of(nodeId) : peers.stream().map(Peer::id).sorted().toList();
  }

  /** @return each peer's {@code [raftAddress, httpAddress]} by id (the bootstrap addresses) */
  public java.util.Map<String, List<String>> peerAddresses() {
    java.util.Map<String, List<String>> out = new java.util.TreeMap<>();
    for (Peer p : peers) {
      out.put(p.id(), List.of(p.raftAddress(), p.httpAddress()));
    }
    return out;
  }

  /** @return the peer with {@code id}, or null */
  public Peer peer(String id) {
    for (Peer p : peers) {
      if (p.id().equals(id)) {
        return p;
      }
    }
    return null;
  }

  /** @throws IllegalArgumentException naming the first invalid setting */
  public NodeConfig {
    if (nodeId == null || !nodeId.matches("[A-Za-z0-9_.-]{1,64}")) {
      throw new IllegalArgumentException("node id must match [A-Za-z0-9_.-]{1,64}, got " + nodeId);
    }
    if (httpHost == null || httpHost.isBlank()) {
      throw new IllegalArgumentException("http host must not be empty");
    }
    if (httpPort < 0 || httpPort > 65535) {
      throw new IllegalArgumentException("http port must be 0-65535, got " + httpPort);
    }
    if (dataDir == null) {
      throw new IllegalArgumentException("data dir must be set");
    }
    if (maxBodyBytes < 1024 || maxBodyBytes > (1L << 30)) {
      throw new IllegalArgumentException("max body bytes must be 1 KiB - 1 GiB, got " + maxBodyBytes);
    }
    if (tickMs < 1 || tickMs > 10_000) {
      throw new IllegalArgumentException("tick ms must be 1-10000, got " + tickMs);
    }
    if (blockCacheBytes < (1 << 20)) {
      throw new IllegalArgumentException("block cache bytes must be >= 1 MiB, got " + blockCacheBytes);
    }
    if (raftHost == null || raftHost.isBlank()) {
      throw new IllegalArgumentException("raft host must not be empty");
    }
    if (raftPort < 0 || raftPort > 65535) {
      throw new IllegalArgumentException("raft port must be 0-65535, got " + raftPort);
    }
    if (maxInFlightPerGroup < 1 || maxInFlightPerGroup > 1_000_000) {
      throw new IllegalArgumentException("max in-flight per group must be 1-1000000, got " + maxInFlightPerGroup);
    }
    peers = List.copyOf(peers);
    if (!peers.isEmpty()) {
      java.util.Set<String> ids = new java.util.TreeSet<>();
      for (Peer p : peers) {
        if (!ids.add(p.id())) {
          throw new IllegalArgumentException("peer id '" + p.id() + "' appears twice");
        }
      }
      if (!ids.contains(nodeId)) {
        throw new IllegalArgumentException("peers " + ids + " must include this node '" + nodeId + "'");
      }
      if (clusterSecret == null || clusterSecret.length() < 16) {
        throw new IllegalArgumentException("a cluster needs DSYNC_CLUSTER_SECRET (--cluster-secret) of at least 16 characters");
      }
    } else if (join) {
      throw new IllegalArgumentException("--join needs --peers (the members' addresses, this node included)");
    }
  }

  /** @return the defaults: node n1, 127.0.0.1:8080, ./data */
  public static NodeConfig defaults() {
    return new NodeConfig("n1", "127.0.0.1", 8080, Path.of("data"), 16L << 20, 50, 64L << 20);
  }

  /** @return a copy with another port and data dir (for tests) */
  public NodeConfig withPortAndDir(int port, Path dir) {
    return new NodeConfig(nodeId, httpHost, port, dir, maxBodyBytes, tickMs, blockCacheBytes, raftHost, raftPort,
        peers, clusterSecret, enableFaultInjection, join, maxInFlightPerGroup, stateWal);
  }

  /** @return a copy with another {@link #maxInFlightPerGroup} (for tests) */
  public NodeConfig withMaxInFlightPerGroup(int n) {
    return new NodeConfig(nodeId, httpHost, httpPort, dataDir, maxBodyBytes, tickMs, blockCacheBytes, raftHost, raftPort,
        peers, clusterSecret, enableFaultInjection, join, n, stateWal);
  }
}
