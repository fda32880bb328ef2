package io.dsync.gateway;

import io.dsync.broker.Broker;
import io.dsync.broker.BrokerLimits;
import io.dsync.raft.RaftConfig;
import io.dsync.storage.StorageOptions;
import io.javalin.Javalin;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.dsync.raft.Transport;
import io.dsync.raft.transport.GrpcTransport;
import io.dsync.raft.transport.GrpcTransportConfig;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * One running dsync node: the broker (storage, Raft, state machines) and its HTTP gateway.
 * Started by {@link Main} and by tests.
 *
 * <p>Thread safety: {@link #close()} may be called from any thread, once.
 */
public final class Node implements AutoCloseable {
  private final NodeConfig config;
  private final Broker broker;
  private final Javalin http;

  private Node(NodeConfig config, Broker broker, Javalin http) {
    this.config = config;
    this.broker = broker;
    this.http = http;
  }

  /**
   * Opens the node's data, starts Raft and serves HTTP.
   *
   * @param config the node's configuration
   * @param withJvmMetrics whether to register JVM metrics (once per JVM makes sense)
   * @return the running node
   * @throws io.dsync.storage.StorageException if the data directory cannot be opened
   * @throws io.javalin.util.JavalinException if the HTTP port cannot be bound
   */
  public static Node start(NodeConfig config, boolean withJvmMetrics) {
    PrometheusRegistry registry = new PrometheusRegistry();
    if (withJvmMetrics) {
      JvmMetrics.builder().register(registry);
    }
    RaftConfig defaults = RaftConfig.defaults(config.nodeId(), config.voterIds());
    RaftConfig raft = new RaftConfig(config.nodeId(), defaults.voters(), config.tickMs(), defaults.electionTicks(),
        defaults.heartbeatTicks(), defaults.maxProposalQueue(), defaults.maxBatchBytes(), defaults.maxApplyQueue())
        .withAddresses(config.peerAddresses());
    StorageOptions d = StorageOptions.defaults();
    StorageOptions storage = new StorageOptions(config.blockCacheBytes(), d.writeBufferBytes(), d.maxBackgroundJobs(), true, config.stateWal());
    Transport transport = transport(config, registry);
    Broker broker;
    try {
      broker = Broker.open(new Broker.Options(config.dataDir(), raft, storage, BrokerLimits.defaults().withMaxInFlightPerGroup(config.maxInFlightPerGroup()), transport),
          registry, System::currentTimeMillis);
    } catch (RuntimeException e) {
      transport.close();
      throw e;
    }
    try {
      Javalin http = HttpApi.create(config, broker, registry, transport).start(config.httpHost(), config.httpPort());
      return new Node(config, broker, http);
    } catch (RuntimeException e) {
      broker.close();
      throw e;
    }
  }

  private static Transport transport(NodeConfig config, PrometheusRegistry registry) {
    if (config.peers().isEmpty()) {
      return Transport.LOCAL;
    }
    Map<String, String> raftAddresses = new TreeMap<>();
    for (NodeConfig.Peer p : config.peers()) {
      raftAddresses.put(p.id(), p.raftAddress());
    }
    return new GrpcTransport(config.nodeId(), config.raftHost(), config.raftPort(), raftAddresses,
        config.clusterSecret().getBytes(StandardCharsets.UTF_8), GrpcTransportConfig.defaults(), registry);
  }

  /** @return the port HTTP listens on (the real one when configured with 0) */
  public int httpPort() {
    return http.port();
  }

  /** @return the broker */
  public Broker broker() {
    return broker;
  }

  /** @return the configuration */
  public NodeConfig config() {
    return config;
  }

  /** Stops HTTP, then Raft, then closes storage. */
  @Override
  public void close() {
    http.stop();
    broker.close();
  }
}
