package io.dsync.gateway;

import java.nio.file.Path;

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
 */
public record NodeConfig(
    String nodeId, String httpHost, int httpPort, Path dataDir, long maxBodyBytes, long tickMs, long blockCacheBytes) {

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
  }

  /** @return the defaults: node n1, 127.0.0.1:8080, ./data */
  public static NodeConfig defaults() {
    return new NodeConfig("n1", "127.0.0.1", 8080, Path.of("data"), 16L << 20, 50, 64L << 20);
  }

  /** @return a copy with another port and data dir (for tests) */
  public NodeConfig withPortAndDir(int port, Path dir) {
    return new NodeConfig(nodeId, httpHost, port, dir, maxBodyBytes, tickMs, blockCacheBytes);
  }
}
