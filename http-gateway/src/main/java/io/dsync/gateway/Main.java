package io.dsync.gateway;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code dsync} command line ({@code ./dsync run} starts a node). */
@Command(
    name = "dsync",
    mixinStandardHelpOptions = true,
    version = "dsync 0.1.0",
    description = "A durable log broker on one Raft log in RocksDB.",
    subcommands = {Main.Run.class})
public final class Main implements Callable<Integer> {
  private static final Logger log = LoggerFactory.getLogger(Main.class);

  /**
   * Entry point.
   *
   * @param args command-line arguments
   */
  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }

  @Override
  public Integer call() {
    CommandLine.usage(this, System.out);
    return 2;
  }

  /** {@code dsync run}: runs one node in the foreground until SIGTERM/SIGINT. */
  @Command(name = "run", mixinStandardHelpOptions = true,
      description = "Run a node. Flags override DSYNC_* environment variables, which override defaults.")
  static final class Run implements Callable<Integer> {
    @Option(names = "--node-id", defaultValue = "${env:DSYNC_NODE_ID:-n1}", description = "Node id (env DSYNC_NODE_ID; default ${DEFAULT-VALUE}).")
    String nodeId;

    @Option(names = "--http-host", defaultValue = "${env:DSYNC_HTTP_HOST:-127.0.0.1}", description = "HTTP listen address (env DSYNC_HTTP_HOST; default ${DEFAULT-VALUE}).")
    String httpHost;

    @Option(names = "--http-port", defaultValue = "${env:DSYNC_HTTP_PORT:-8080}", description = "HTTP port (env DSYNC_HTTP_PORT; default ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--data-dir", defaultValue = "${env:DSYNC_DATA_DIR:-data}", description = "Data directory (env DSYNC_DATA_DIR; default ./${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--max-body-bytes", defaultValue = "${env:DSYNC_MAX_BODY_BYTES:-16777216}", description = "Largest request body in bytes (env DSYNC_MAX_BODY_BYTES; default ${DEFAULT-VALUE}).")
    long maxBodyBytes;

    @Option(names = "--tick-ms", defaultValue = "${env:DSYNC_TICK_MS:-50}", description = "Raft tick in ms (env DSYNC_TICK_MS; default ${DEFAULT-VALUE}).")
    long tickMs;

    @Option(names = "--block-cache-bytes", defaultValue = "${env:DSYNC_BLOCK_CACHE_BYTES:-67108864}", description = "RocksDB block cache in bytes (env DSYNC_BLOCK_CACHE_BYTES; default ${DEFAULT-VALUE}).")
    long blockCacheBytes;

    @Option(names = "--raft-host", defaultValue = "${env:DSYNC_RAFT_HOST:-127.0.0.1}", description = "Raft peer transport listen address (env DSYNC_RAFT_HOST; default ${DEFAULT-VALUE}).")
    String raftHost;

    @Option(names = "--raft-port", defaultValue = "${env:DSYNC_RAFT_PORT:-9080}", description = "Raft peer transport port (env DSYNC_RAFT_PORT; default ${DEFAULT-VALUE}; unused without peers).")
    int raftPort;

    @Option(names = "--peers", defaultValue = "${env:DSYNC_PEERS:-}", description = "The bootstrap voters, this node included (with --join: the members' addresses): id=raftHost:raftPort/httpHost:httpPort,... (env DSYNC_PEERS; empty: a single node). Once the log holds a configuration, that rules.")
    String peers;

    @Option(names = "--cluster-secret", defaultValue = "${env:DSYNC_CLUSTER_SECRET:-}", description = "Shared secret of the cluster's peers, >= 16 characters (env DSYNC_CLUSTER_SECRET; required with --peers).")
    String clusterSecret;

    @Option(names = "--enable-fault-injection", arity = "0..1", defaultValue = "${env:DSYNC_ENABLE_FAULT_INJECTION:-false}",
        description = "TEST HOOK, never in production: serve POST /v1/debug/faults to cut this node's Raft traffic with given peers "
            + "(env DSYNC_ENABLE_FAULT_INJECTION; default ${DEFAULT-VALUE}).")
    boolean enableFaultInjection;

    @Option(names = "--join", arity = "0..1", defaultValue = "${env:DSYNC_JOIN:-false}",
        description = "Join an existing cluster: start with no configuration and wait to be added with POST /v1/cluster/members "
            + "on any member; --peers then lists the members' addresses, this node included (env DSYNC_JOIN; default ${DEFAULT-VALUE}).")
    boolean join;
    @Option(names = "--max-in-flight-per-group", defaultValue = "${env:DSYNC_MAX_IN_FLIGHT_PER_GROUP:-10000}",
        description = "Records one queue group may hold leased at once on one topic (env DSYNC_MAX_IN_FLIGHT_PER_GROUP; default ${DEFAULT-VALUE}).")
    int maxInFlightPerGroup;

    @Option(names = "--state-wal", arity = "0..1", defaultValue = "${env:DSYNC_STATE_WAL:-false}",
        description = "Write state-machine commits through RocksDB's WAL too (env DSYNC_STATE_WAL; default ${DEFAULT-VALUE}); "
            + "false: the state is durable at memtable flushes and a restart replays the Raft log from there.")
    boolean stateWal;

    @Override
    public Integer call() throws InterruptedException {
      NodeConfig config;
      try {
        config = new NodeConfig(nodeId, httpHost, httpPort, dataDir, maxBodyBytes, tickMs, blockCacheBytes, raftHost,
            raftPort, NodeConfig.parsePeers(peers), clusterSecret == null || clusterSecret.isEmpty() ? null : clusterSecret,
            enableFaultInjection, join, maxInFlightPerGroup, stateWal);
      } catch (IllegalArgumentException e) {
        System.err.println("dsync: invalid configuration: " + e.getMessage());
        return 2;
      }
      Node node = Node.start(config, true);
      CountDownLatch stopped = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        log.info("stopping node {}", config.nodeId());
        node.close();
        stopped.countDown();
      }, "shutdown"));
      if (config.enableFaultInjection()) {
        log.warn("node {}: fault injection is ENABLED (POST /v1/debug/faults): a test hook, not for production", config.nodeId());
      }
      log.info("node {} serving http://{}:{} with data in {}", config.nodeId(), config.httpHost(), node.httpPort(),
          config.dataDir().toAbsolutePath());
      System.out.println("dsync node " + config.nodeId() + " listening on http://" + config.httpHost() + ":" + node.httpPort());
      stopped.await();
      return 0;
    }
  }
}
