package io.dsync.gateway;

import io.dsync.broker.Broker;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;

/**
 * Makes any node accept writes: on a follower, a write request is sent on to the leader's HTTP
 * gateway and the leader's answer is returned as is, so clients never need to find the leader.
 * A request that was already forwarded once is not forwarded again (the leader changed in
 * between): it gets 503 {@code no-leader} with {@code Retry-After}, as does a write while no
 * leader is known or the leader cannot be reached.
 *
 * <p>Thread-safe; one instance per node.
 */
final class LeaderForwarder implements AutoCloseable {
  static final String FORWARDED_BY = "X-Dsync-Forwarded-By";
  /**
   * A follower further behind than this many committed entries (restarted, catching up) does not
   * propose a write itself: it would answer only once it applied the entry, possibly after the
   * client's timeout; the leader's gateway answers instead (HTTP forward).
   */
  static final long MAX_APPLY_LAG_TO_PROPOSE_HERE = 256;

  private final NodeConfig config;
  private final Broker broker;
  private final HttpClient client;
  private final java.util.concurrent.ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
  private final Duration timeout;

  LeaderForwarder(NodeConfig config, Broker broker) {
    this.config = config;
    this.broker = broker;
    this.client = HttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(2))
        .executor(executor)
        .version(HttpClient.Version.HTTP_1_1)
        .build();
    this.timeout = Duration.ofMillis(broker.limits().writeTimeoutMs() + 5_000);
  }

  /**
   * Wraps a write handler: run it here when this node leads (or is alone), else forward.
   *
   * @param write the handler that performs the write on the leader
   * @return the wrapping handler
   */
  Handler writes(Handler write) {
    return writes(write, false);
  }

  /**
   * Wraps a write a follower can propose itself ({@code Broker.produce}: the command goes to the
   * leader over the peer transport, not HTTP, and the follower answers once it applied the entry):
   * run it here on the leader, on a single node, or on a follower that knows a leader, keeps up
   * ({@link #MAX_APPLY_LAG_TO_PROPOSE_HERE}) and for which {@code servableHere} holds (e.g. it has
   * applied the topic already); else as {@link
   * #writes(Handler)} (forward the HTTP request to the leader, or 503).
   *
   * @param write the handler
   * @param servableHere whether this follower has the state the handler's checks need
   * @return the wrapping handler
   */
  Handler proposedAnywhere(Handler write, java.util.function.Predicate<Context> servableHere) {
    Handler viaLeader = writes(write, false);
    return ctx -> {
      if (config.peers().isEmpty() || broker.isLeader()
          || (ctx.header(FORWARDED_BY) == null && broker.raft().leaderId() != null
              && broker.raft().applyLag() <= MAX_APPLY_LAG_TO_PROPOSE_HERE && servableHere.test(ctx))) {
        write.handle(ctx);
        return;
      }
      viaLeader.handle(ctx);
    };
  }

  /**
   * Same as {@link #writes(Handler)} for a write that may long-poll with {@code max_wait_ms} in
   * its JSON body (a lease): a forwarded request may wait at the leader up to the broker's longest
   * long poll ({@code BrokerLimits.maxWaitMs}), so the forward timeout grows by that much.
   */
  Handler longPollWrites(Handler write) {
    return writes(write, true);
  }

  private Handler writes(Handler write, boolean longPollBody) {
    return ctx -> {
      if (config.peers().isEmpty() || broker.isLeader()) {
        write.handle(ctx);
        return;
      }
      String leader = broker.raft().leaderId();
      NodeConfig.Peer peer = leader == null ? null : leaderAddress(leader);
      if (peer == null || ctx.header(FORWARDED_BY) != null) {
        noLeader(ctx, leader, leader == null ? "no leader is known yet" : "the leader changed while forwarding");
        return;
      }
      forward(ctx, peer, longPollBody);
    };
  }

  /**
   * @return where the leader's HTTP gateway is: from the cluster configuration in the log (it
   *     names members added after this node started), else from this node's {@code --peers}
   */
  private NodeConfig.Peer leaderAddress(String leader) {
    io.dsync.raft.Membership.Member m = broker.raft().membership().members().get(leader);
    if (m != null && !m.httpAddress().isEmpty()) {
      return new NodeConfig.Peer(m.id(), m.raftAddress(), m.httpAddress());
    }
    return config.peer(leader);
  }

  /**
   * Wraps a read handler: with {@code ?consistency=linearizable} the read is served by the leader
   * after a ReadIndex round (forwarded there from a follower); otherwise this node serves it from
   * its own applied state, which may lag the leader by a few entries (like a Kafka follower fetch).
   *
   * @param read the handler that reads this node's state
   * @return the wrapping handler
   */
  Handler reads(Handler read) {
    return ctx -> {
      String consistency = ctx.queryParam("consistency");
      if (consistency == null || consistency.equals("local")) {
        read.handle(ctx);
        return;
      }
      if (!consistency.equals("linearizable")) {
        throw new HttpApi.BadInput("consistency must be 'local' (default) or 'linearizable', got '"
            + (consistency.length() > 32 ? consistency.substring(0, 32) + "..." : consistency) + "'");
      }
      writes(c -> {
        broker.awaitLinearizable();
        read.handle(c);
      }).handle(ctx);
    };
  }

  private void forward(Context ctx, NodeConfig.Peer leader, boolean longPollBody) throws InterruptedException {
    String query = ctx.queryString();
    URI uri = URI.create("http://" + leader.httpAddress() + ctx.path() + (query == null ? "" : "?" + query));
    HttpRequest.Builder req = HttpRequest.newBuilder(uri)
        .timeout(longPollBody ? timeout.plusMillis(broker.limits().maxWaitMs()) : timeoutFor(ctx))
        .header(FORWARDED_BY, config.nodeId())
        .method(ctx.method().name(), HttpRequest.BodyPublishers.ofByteArray(ctx.bodyAsBytes()));
    String contentType = ctx.header("Content-Type");
    if (contentType != null) {
      req.header("Content-Type", contentType);
    }
    HttpResponse<byte[]> res;
    try {
      res = client.send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      noLeader(ctx, leader.id(), "the leader " + leader.id() + " at " + leader.httpAddress() + " is unreachable: " + e);
      return;
    }
    ctx.status(res.statusCode());
    res.headers().firstValue("Content-Type").ifPresent(ctx::contentType);
    res.headers().firstValue("Retry-After").ifPresent(v -> ctx.header("Retry-After", v));
    ctx.header("X-Dsync-Served-By", leader.id());
    ctx.result(res.body());
  }

  /**
   * The leader's write timeout plus a margin, or a forwarded long poll's {@code max_wait_ms} plus
   * the margin when that is longer (a malformed value is the leader's to refuse).
   */
  private Duration timeoutFor(Context ctx) {
    String wait = ctx.queryParam("max_wait_ms");
    if (wait != null) {
      try {
        long ms = Long.parseLong(wait);
        if (ms > 0 && ms <= broker.limits().maxWaitMs()) {
          return timeout.plusMillis(ms);
        }
      } catch (NumberFormatException ignored) {
        // the leader answers 400
      }
    }
    return timeout;
  }

  /** Closes the HTTP client to the leader and its executor (when the node's HTTP server stops). */
  @Override
  public void close() {
    client.close();
    executor.close();
  }

  private static void noLeader(Context ctx, String leader, String detail) {
    ctx.header("Retry-After", "1");
    Problems.write(ctx, HttpApi.JSON, 503, "no-leader", detail, leader == null ? Map.of() : Map.of("leader_id", leader));
  }
}
