package io.dsync.raft.transport;

import com.google.protobuf.Empty;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.Transport;
import io.dsync.raft.proto.RaftFrame;
import io.dsync.raft.transport.TransportStats.DropReason;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.Collector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The peer {@link Transport} of a real cluster, on gRPC-java over Netty with protobuf frames
 * ({@link WireCodec}, {@code raft_wire.proto}).
 *
 * <h2>Shape</h2>
 *
 * Each node runs one gRPC server on its Raft address. For each peer it keeps one long-lived
 * stream ({@link PeerService#STREAM}) carrying {@link RaftFrame}s one way, to that peer; replies
 * are ordinary messages on the peer's own stream back. So a 3-node cluster has 6 streams, and
 * messages from one node to one peer arrive in send order except across a reconnect.
 *
 * <ul>
 *   <li>{@link #send} encodes the message and puts the frame in the peer's bounded queue; it
 *       never blocks and never touches the network.
 *   <li>One sender thread per transport drains every peer's queue onto its stream while the
 *       stream {@link ClientCall#isReady() is ready} (HTTP/2 flow control; resumed by
 *       {@code onReady}). It starts draining a stream only once the
 *       peer's headers arrived, i.e. once the peer accepted our credentials, so a refused stream
 *       eats no messages. All stream state is confined to this thread.
 *   <li>Incoming frames are checked and decoded on one inbound thread per transport and handed to
 *       the receiver in stream order; the next frame is requested only after that (flow control
 *       reaches back to the sender when the receiver is slow).
 * </ul>
 *
 * <h2>Queue policy: drop oldest</h2>
 *
 * A full queue ({@link GrpcTransportConfig#queueCapacity()}, default 4096 frames, or {@link
 * GrpcTransportConfig#maxQueueBytes()}, default 64 MiB) drops its oldest frames to take the new
 * one, and a message that waited longer than {@link
 * GrpcTransportConfig#maxQueueAgeMs()} (default 10 s) is dropped when its turn comes. Raft
 * tolerates loss, and the newest messages are the useful ones: they carry the latest term, commit
 * index and log position, while an old heartbeat or vote reply is superseded. Dropping new
 * messages instead would keep a stale backlog and lose exactly what the peer needs.
 *
 * <h2>Failures</h2>
 *
 * When a stream ends (peer down, restarted, refused, connection lost) the link reconnects after an
 * exponential backoff: {@link GrpcTransportConfig#reconnectInitialMs()} (50 ms) doubling per
 * failed attempt up to {@link GrpcTransportConfig#reconnectMaxMs()} (2 s), each delay jittered
 * uniformly into [d/2, d] so that peers restarted together do not reconnect in lockstep; the
 * attempt count resets when a peer accepts a stream. gRPC's own, much slower channel backoff (1 s
 * to 120 s) is short-circuited with {@link ManagedChannel#resetConnectBackoff()} before each
 * attempt. Messages sent meanwhile wait in the queue under the policy above; frames written to a
 * stream that then failed are lost. A TCP connect is bounded by {@link
 * GrpcTransportConfig#connectTimeoutMs()}; a dead or hung peer on an open connection is noticed by
 * HTTP/2 keepalive pings ({@link GrpcTransportConfig#keepAliveTimeMs()} + {@link
 * GrpcTransportConfig#keepAliveTimeoutMs()}). The streams themselves have no deadline: they are
 * meant to live as long as the peer does.
 *
 * <h2>Security and threat model</h2>
 *
 * Peers share a cluster secret (at least 16 bytes). Every stream carries {@code dsync-from} (the
 * sender's node id) and {@code dsync-auth} = HMAC-SHA256(secret, node id) in hex; the server
 * checks it in constant time ({@link java.security.MessageDigest#isEqual}) and refuses a call
 * without a valid proof with {@code UNAUTHENTICATED} (logged and counted in {@link
 * TransportStats#authRefusals()}); its frames never reach Raft. An accepted caller may speak only
 * for itself: a frame whose {@code from} differs from the authenticated node id, or whose {@code
 * to} is not this node, is dropped. What this protects: a process that does not know the secret
 * cannot inject Raft messages (votes, entries) or impersonate a member, and the secret is never
 * sent. What it does not: the connection is plaintext, so anyone who can read the network reads
 * every frame (all replicated data) and can replay a node's proof, which is fixed per node id, to
 * inject frames as that node; anyone who can modify traffic can do anything. Run it on a trusted
 * network only. TLS (mutual, or server TLS plus this proof bound to the TLS session) is future
 * work. A node holding the secret is trusted with any node id it claims.
 *
 * <h2>Fault injection (a test hook)</h2>
 *
 * {@link #isolate} cuts this node off from given peers in both directions: frames to them are
 * dropped instead of sent (also those already queued) and frames from them are dropped on
 * arrival, all counted as {@link DropReason#ISOLATED}; the streams themselves stay up, like a
 * network that silently loses packets. {@link #heal} ends it. Off unless called; the node exposes
 * it only when started with {@code --enable-fault-injection}. To partition a node from the rest,
 * isolate on both sides (each side then neither sends nor accepts).
 *
 * <h2>Threads and lifecycle</h2>
 *
 * The constructor binds the server and starts connecting to the peers. {@link #send}, {@link
 * #addPeer}, {@link #removePeer}, {@link #stats} and {@link #close} are thread-safe; {@link
 * #onReceive} is called once, before messages are expected (frames arriving earlier are dropped).
 * Threads: one sender, one inbound, plus gRPC's shared Netty event loops.
 */
public final class GrpcTransport implements Transport {
  private static final Logger log = LoggerFactory.getLogger(GrpcTransport.class);
  private static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final String nodeId;
  private final GrpcTransportConfig config;
  private final PeerAuth auth;
  private final Server server;
  private final ScheduledThreadPoolExecutor sender;
  private final ExecutorService inbound;
  private final Map<String, PeerLink> links = new ConcurrentHashMap<>();
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong received = new AtomicLong();
  private final AtomicLong authRefusals = new AtomicLong();
  private final AtomicLong streamFailures = new AtomicLong();
  private final Map<DropReason, AtomicLong> drops = new EnumMap<>(DropReason.class);
  private final Map<DropReason, AtomicLong> lastDropLog = new EnumMap<>(DropReason.class);
  private final AtomicLong lastRefusalLog = new AtomicLong();
  private final PrometheusRegistry registry;
  private final List<Collector> collectors = new ArrayList<>();
  private volatile Consumer<RaftMessage> receiver;
  private volatile boolean closed;
  /** Peers cut off by {@link #isolate}; immutable, replaced as a whole. */
  private volatile Set<String> isolated = Set.of();

  /**
   * Same as the full constructor with {@link GrpcTransportConfig#defaults()} and no metrics.
   *
   * @see #GrpcTransport(String, String, int, Map, byte[], GrpcTransportConfig, PrometheusRegistry)
   */
  public GrpcTransport(
      String nodeId, String listenHost, int listenPort, Map<String, String> peers, byte[] clusterSecret) {
    this(nodeId, listenHost, listenPort, peers, clusterSecret, GrpcTransportConfig.defaults(), null);
  }

  /**
   * Binds the server and starts connecting to the peers.
   *
   * @param nodeId this node's id ({@code [A-Za-z0-9_.-]{1,64}})
   * @param listenHost the address to listen on, e.g. {@code "0.0.0.0"} or {@code "127.0.0.1"}
   * @param listenPort the port to listen on; 0 picks a free one, see {@link #port()}
   * @param peers peer node id to {@code "host:port"} (IPv6 as {@code "[::1]:port"}); an entry for
   *     {@code nodeId} itself is ignored, so the whole cluster map may be passed
   * @param clusterSecret the shared secret, at least 16 bytes; copied
   * @param config tunables
   * @param registry where to register the {@code dsync_raft_transport_*} metrics (unregistered
   *     again by {@link #close()}), or null for none; one live transport per registry
   * @throws IllegalArgumentException if the registry already holds these metrics
   * @throws IllegalArgumentException on a bad node id, address or short secret
   * @throws UncheckedIOException if the server cannot bind
   */
  public GrpcTransport(
      String nodeId,
      String listenHost,
      int listenPort,
      Map<String, String> peers,
      byte[] clusterSecret,
      GrpcTransportConfig config,
      PrometheusRegistry registry) {
    if (nodeId == null || !PeerAuth.NODE_ID.matcher(nodeId).matches()) {
      throw new IllegalArgumentException("node id must match " + PeerAuth.NODE_ID + ": " + nodeId);
    }
    this.nodeId = nodeId;
    this.config = config;
    this.auth = new PeerAuth(clusterSecret);
    for (DropReason r : DropReason.values()) {
      drops.put(r, new AtomicLong());
      lastDropLog.put(r, new AtomicLong());
    }
    peers.forEach((id, address) -> { // validate before starting anything
      if (!PeerAuth.NODE_ID.matcher(id).matches()) {
        throw new IllegalArgumentException("bad peer id: " + id);
      }
      parseAddress(address);
    });

    this.registry = registry;
    if (registry != null) {
      registerMetrics(registry);
    }
    this.sender = new ScheduledThreadPoolExecutor(1, daemonThreads("raft-net-out-" + nodeId));
    sender.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    sender.setRemoveOnCancelPolicy(true);
    this.inbound = Executors.newSingleThreadExecutor(daemonThreads("raft-net-in-" + nodeId));
    try {
      this.server =
          NettyServerBuilder.forAddress(new InetSocketAddress(listenHost, listenPort))
              .executor(inbound)
              .addService(
                  ServerInterceptors.intercept(
                      PeerService.definition(this::onFrame), auth.interceptor(this::onRefusal)))
              .maxInboundMessageSize(config.maxFrameBytes())
              .keepAliveTime(config.keepAliveTimeMs(), TimeUnit.MILLISECONDS)
              .keepAliveTimeout(config.keepAliveTimeoutMs(), TimeUnit.MILLISECONDS)
              .permitKeepAliveTime(Math.max(1, config.keepAliveTimeMs() / 2), TimeUnit.MILLISECONDS)
              .permitKeepAliveWithoutCalls(true)
              .build()
              .start();
    } catch (IOException | RuntimeException e) {
      sender.shutdownNow();
      inbound.shutdownNow();
      unregisterMetrics();
      if (e instanceof IOException io) {
        throw new UncheckedIOException(
            "cannot listen on " + listenHost + ":" + listenPort + ": " + e.getMessage(), io);
      }
      throw (RuntimeException) e;
    }
    peers.forEach(this::addPeer);
    log.info("raft transport {} listening on {}:{}, peers {}", nodeId, listenHost, port(), peers);
  }

  /** @return the port the server is bound to (the chosen one if 0 was asked for) */
  public int port() {
    return server.getPort();
  }

  /** @return this node's id */
  public String nodeId() {
    return nodeId;
  }

  /**
   * Adds a peer, or moves it to a new address (its queue is then discarded). Starts connecting at
   * once. Thread-safe.
   *
   * @param peerId the peer's node id; {@link #nodeId()} itself is ignored
   * @param address {@code "host:port"}
   * @throws IllegalArgumentException on a malformed address or node id
   * @throws IllegalStateException after {@link #close()}
   */
  public synchronized void addPeer(String peerId, String address) {
    if (peerId.equals(nodeId)) {
      return;
    }
    if (!PeerAuth.NODE_ID.matcher(peerId).matches()) {
      throw new IllegalArgumentException("bad peer id: " + peerId);
    }
    InetSocketAddress target = parseAddress(address);
    if (closed) {
      throw new IllegalStateException("transport closed");
    }
    PeerLink link = new PeerLink(peerId, address, target);
    PeerLink old = links.put(peerId, link);
    if (old != null) {
      old.stop();
    }
    post(link::open);
  }

  /**
   * Forgets a peer: its stream is closed and its queue discarded; later messages to it are
   * dropped as {@link DropReason#UNKNOWN_PEER}. Thread-safe; unknown ids are ignored.
   *
   * @param peerId the peer's node id
   */
  public synchronized void removePeer(String peerId) {
    PeerLink link = links.remove(peerId);
    if (link != null) {
      link.stop();
    }
  }

  /**
   * {@inheritDoc} Peers whose address changed are reconnected; peers absent from the map are
   * removed; members with an empty address keep their current link.
   */
  @Override
  public synchronized void updatePeers(Map<String, String> raftAddresses) {
    if (closed) {
      return;
    }
    for (Map.Entry<String, String> e : raftAddresses.entrySet()) {
      PeerLink link = links.get(e.getKey());
      if (!e.getKey().equals(nodeId) && !e.getValue().isEmpty() && (link == null || !link.address.equals(e.getValue()))) {
        try {
          addPeer(e.getKey(), e.getValue());
        } catch (IllegalArgumentException ex) {
          log.warn("member {} has an unusable raft address {}: {}", e.getKey(), e.getValue(), ex.getMessage());
        }
      }
    }
    for (String id : new ArrayList<>(links.keySet())) {
      if (!raftAddresses.containsKey(id)) {
        removePeer(id);
      }
    }
  }

  /** @return the peers whose stream is currently accepted by them, sorted */
  public Set<String> connectedPeers() {
    Set<String> up = new TreeSet<>();
    links.values().forEach(l -> {
      if (l.connected) {
        up.add(l.peerId);
      }
    });
    return up;
  }

  /**
   * Test hook (fault injection): from now on drops every frame to and from {@code peers}, in both
   * directions, until {@link #heal} or another call; replaces the previous set. Frames already
   * queued for them are dropped too. Thread-safe; unknown ids are kept (harmless).
   *
   * @param peers the node ids to cut off; empty heals
   */
  public void isolate(Set<String> peers) {
    Set<String> now = Set.copyOf(peers);
    Set<String> before = isolated;
    isolated = now;
    if (!now.equals(before)) {
      log.warn("raft transport {}: FAULT INJECTION: {}", nodeId,
          now.isEmpty() ? "healed, talking to every peer again" : "isolated from " + new TreeSet<>(now));
    }
  }

  /** Test hook: ends {@link #isolate}; every peer is reachable again. */
  public void heal() {
    isolate(Set.of());
  }

  /** @return the peers currently cut off by {@link #isolate}, sorted */
  public Set<String> isolated() {
    return new TreeSet<>(isolated);
  }

  /**
   * Encodes {@code message} (on the caller's thread, so that the queue can count its bytes and
   * holds only immutable frames), puts it in its peer's queue and returns at once; never blocks,
   * never throws for network reasons. Dropped (and counted in {@link #stats()}) if the peer is
   * unknown, {@code message.from()} is not this node, the frame exceeds {@link
   * GrpcTransportConfig#maxFrameBytes()}, or the transport is closed. Thread-safe.
   *
   * @param message a message from this node
   */
  @Override
  public void send(RaftMessage message) {
    if (closed) {
      drop(DropReason.CLOSED, null);
      return;
    }
    if (isolated.contains(message.to())) {
      drop(DropReason.ISOLATED, null);
      return;
    }
    PeerLink link = links.get(message.to());
    if (link == null || !nodeId.equals(message.from())) {
      drop(DropReason.UNKNOWN_PEER, "dropping a message from {} to {}: not from this node or not to a known peer",
          message.from(), message.to());
      return;
    }
    RaftFrame frame;
    try {
      frame = WireCodec.encode(message);
    } catch (RuntimeException e) {
      log.error("raft transport {}: cannot encode {}", nodeId, message, e);
      drops.get(DropReason.MALFORMED).incrementAndGet();
      return;
    }
    int bytes = frame.getSerializedSize();
    if (bytes > config.maxFrameBytes()) {
      drop(DropReason.TOO_LARGE, "dropping a {}-byte frame to {}: above maxFrameBytes {}",
          bytes, message.to(), config.maxFrameBytes());
      return;
    }
    link.enqueue(new Queued(frame, bytes, System.nanoTime()));
  }

  /**
   * Registers the receiver; it is called on the inbound thread, one message at a time, and should
   * return quickly (a slow receiver holds the senders back through flow control). An exception it
   * throws is logged and the message counted as dropped.
   *
   * @param receiver gets every accepted message addressed to this node
   */
  @Override
  public void onReceive(Consumer<RaftMessage> receiver) {
    this.receiver = receiver;
  }

  /** @return the counters so far; thread-safe */
  public TransportStats stats() {
    Map<DropReason, Long> d = new EnumMap<>(DropReason.class);
    drops.forEach((r, n) -> d.put(r, n.get()));
    return new TransportStats(sent.get(), received.get(), authRefusals.get(), streamFailures.get(), d);
  }

  /**
   * Stops the server and every stream, waiting up to a few seconds for the threads to finish;
   * queued messages are discarded. Idempotent and thread-safe.
   */
  @Override
  public void close() {
    List<PeerLink> all;
    synchronized (this) { // so that no addPeer slips a link in after the copy
      if (closed) {
        return;
      }
      closed = true;
      all = List.copyOf(links.values());
      links.clear();
    }
    server.shutdownNow();
    all.forEach(PeerLink::stop);
    sender.shutdown();
    try {
      sender.awaitTermination(5, TimeUnit.SECONDS);
      for (PeerLink l : all) {
        l.channel.awaitTermination(2, TimeUnit.SECONDS);
      }
      server.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      sender.shutdownNow();
      inbound.shutdownNow();
      unregisterMetrics();
    }
    log.info("raft transport {} closed", nodeId);
  }

  // --- incoming ---------------------------------------------------------------------------

  /** Runs on the inbound thread for each frame of an authenticated stream. */
  private void onFrame(String authenticatedPeer, RaftFrame frame) {
    if (isolated.contains(authenticatedPeer)) {
      drop(DropReason.ISOLATED, null);
      return;
    }
    if (!authenticatedPeer.equals(frame.getFrom())) {
      drop(DropReason.WRONG_SENDER, "dropping a frame claiming to be from {} on {}'s stream",
          printable(frame.getFrom()), authenticatedPeer);
      return;
    }
    if (!nodeId.equals(frame.getTo())) {
      drop(DropReason.WRONG_RECEIVER, "dropping a frame from {} addressed to {}",
          authenticatedPeer, printable(frame.getTo()));
      return;
    }
    RaftMessage message;
    try {
      message = WireCodec.decode(frame);
    } catch (WireCodec.MalformedFrameException e) {
      drop(DropReason.MALFORMED, "dropping a frame from {}: {}", authenticatedPeer, e.getMessage());
      return;
    }
    Consumer<RaftMessage> r = receiver;
    if (r == null || closed) {
      drop(DropReason.NO_RECEIVER, null);
      return;
    }
    try {
      r.accept(message);
      received.incrementAndGet();
    } catch (RuntimeException e) {
      log.error("raft transport {}: the receiver threw on {}", nodeId, message, e);
      drops.get(DropReason.NO_RECEIVER).incrementAndGet();
    }
  }

  /** Runs on a gRPC thread for each call refused by {@link PeerAuth}; logs at most every 10 s. */
  private void onRefusal(String claimedFrom, String remote) {
    long n = authRefusals.incrementAndGet();
    if (!logNow(lastRefusalLog)) {
      return;
    }
    log.warn(
        "raft transport {}: refused a peer stream from {} claiming node id {}: bad or missing "
            + "cluster credentials ({} refusals so far)",
        nodeId, remote, claimedFrom, n);
  }

  // --- outgoing ---------------------------------------------------------------------------

  /** A frame waiting for its stream: its encoded size in bytes and when it was queued. */
  private record Queued(RaftFrame frame, int bytes, long enqueuedNanos) {}

  /**
   * One peer: its queue, its channel and its current stream. {@link #enqueue} and {@link #stop}
   * are thread-safe; every other method runs on the sender thread, which alone touches
   * {@link #call}, {@link #failures} and {@link #reconnect}.
   */
  private final class PeerLink {
    final String peerId;
    final String address;
    final ManagedChannel channel;
    final ArrayBlockingQueue<Queued> queue = new ArrayBlockingQueue<>(config.queueCapacity());
    final AtomicLong queuedBytes = new AtomicLong();
    final AtomicBoolean drainScheduled = new AtomicBoolean();
    volatile boolean connected;
    volatile boolean stopped;
    private ClientCall<RaftFrame, Empty> call;
    private int failures;
    private ScheduledFuture<?> reconnect;

    PeerLink(String peerId, String address, InetSocketAddress target) {
      this.peerId = peerId;
      this.address = address;
      // forAddress(host, port) goes through the DNS resolver on every reconnect, so a peer that
      // comes back with a new IP under the same name (a Kubernetes pod) is found again.
      this.channel =
          NettyChannelBuilder.forAddress(target.getHostString(), target.getPort())
              .usePlaintext()
              .directExecutor() // listener callbacks only post to the sender thread
              .disableRetry()
              .keepAliveTime(config.keepAliveTimeMs(), TimeUnit.MILLISECONDS)
              .keepAliveTimeout(config.keepAliveTimeoutMs(), TimeUnit.MILLISECONDS)
              .keepAliveWithoutCalls(true)
              .withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, config.connectTimeoutMs())
              .maxInboundMessageSize(64 * 1024)
              .build();
    }

    /** Any thread: appends {@code q}, dropping the oldest frames while over either bound. */
    void enqueue(Queued q) {
      while (!queue.offer(q)) {
        dropOldest();
      }
      queuedBytes.addAndGet(q.bytes());
      while (queuedBytes.get() > config.maxQueueBytes() && dropOldest()) {
        // keep going
      }
      if (stopped) { // raced with removePeer/close: nobody will drain it
        queue.clear();
        return;
      }
      scheduleDrain();
    }

    /** @return false if the queue was empty */
    private boolean dropOldest() {
      Queued old = queue.poll();
      if (old == null) {
        return false;
      }
      queuedBytes.addAndGet(-old.bytes());
      drop(DropReason.QUEUE_FULL, "queue to {} full ({} frames, {} bytes at most): dropping the oldest",
          peerId, config.queueCapacity(), config.maxQueueBytes());
      return true;
    }

    void scheduleDrain() {
      if (drainScheduled.compareAndSet(false, true)) {
        post(() -> {
          drainScheduled.set(false);
          drain();
        });
      }
    }

    /** Sender thread: opens a new stream. */
    void open() {
      reconnect = null;
      if (stopped || closed) {
        return;
      }
      ClientCall<RaftFrame, Empty> c = channel.newCall(PeerService.STREAM, CallOptions.DEFAULT);
      call = c;
      c.start(
          new ClientCall.Listener<>() {
            @Override
            public void onHeaders(Metadata headers) {
              post(() -> accepted(c));
            }

            @Override
            public void onReady() {
              scheduleDrain();
            }

            @Override
            public void onClose(Status status, Metadata trailers) {
              post(() -> ended(c, status));
            }
          },
          auth.headersFor(nodeId));
      c.request(1);
    }

    /** Sender thread: the peer accepted stream {@code c} (it sent headers after auth). */
    private void accepted(ClientCall<RaftFrame, Empty> c) {
      if (c != call) {
        return;
      }
      if (failures > 0) {
        log.info("raft transport {}: stream to {} ({}) up after {} failed attempts",
            nodeId, peerId, address, failures);
      }
      failures = 0;
      connected = true;
      drain();
    }

    /** Sender thread: stream {@code c} ended; schedules the next attempt. */
    private void ended(ClientCall<RaftFrame, Empty> c, Status status) {
      if (c != call) {
        return;
      }
      call = null;
      boolean wasConnected = connected;
      connected = false;
      if (stopped || closed) {
        return;
      }
      streamFailures.incrementAndGet();
      failures++;
      long base =
          Math.min(config.reconnectMaxMs(), config.reconnectInitialMs() << Math.min(failures - 1, 30));
      long delay = base / 2 + ThreadLocalRandom.current().nextLong(base / 2 + 1);
      if (status.getCode() == Status.Code.UNAUTHENTICATED) {
        if (failures == 1 || failures % 30 == 0) {
          log.error("raft transport {}: peer {} ({}) refused our cluster credentials: is the "
              + "cluster secret the same on both nodes? retrying", nodeId, peerId, address);
        }
      } else if (wasConnected || failures == 1) {
        log.warn("raft transport {}: stream to {} ({}) ended: {}; reconnecting in {} ms",
            nodeId, peerId, address, describe(status), delay);
      } else {
        log.debug("raft transport {}: attempt {} to reach {} failed: {}; next in {} ms",
            nodeId, failures, peerId, describe(status), delay);
      }
      try {
        reconnect =
            sender.schedule(
                guarded(() -> {
                  channel.resetConnectBackoff();
                  open();
                }),
                delay,
                TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException e) {
        // closing
      }
    }

    /** Sender thread: moves queued messages onto the stream while it is accepted and ready. */
    private void drain() {
      ClientCall<RaftFrame, Empty> c = call;
      if (c == null || !connected) {
        return;
      }
      long maxAgeNanos = TimeUnit.MILLISECONDS.toNanos(config.maxQueueAgeMs());
      long now = System.nanoTime();
      while (c.isReady()) {
        Queued q = queue.poll();
        if (q == null) {
          return;
        }
        queuedBytes.addAndGet(-q.bytes());
        if (isolated.contains(peerId)) {
          drop(DropReason.ISOLATED, null);
          continue;
        }
        if (now - q.enqueuedNanos() > maxAgeNanos) {
          drop(DropReason.STALE, "dropping messages to {} that waited over {} ms",
              peerId, config.maxQueueAgeMs());
          continue;
        }
        c.sendMessage(q.frame());
        sent.incrementAndGet();
      }
    }

    /** Any thread: stops the link for good and releases its channel. */
    void stop() {
      stopped = true;
      connected = false;
      queue.clear();
      queuedBytes.set(0);
      post(() -> {
        if (reconnect != null) {
          reconnect.cancel(false);
          reconnect = null;
        }
        if (call != null) {
          call.cancel("raft transport closed", null);
          call = null;
        }
      });
      channel.shutdown();
    }
  }

  // --- helpers ----------------------------------------------------------------------------

  /** Runs {@code task} on the sender thread; ignored once the transport is closing. */
  private void post(Runnable task) {
    try {
      sender.execute(guarded(task));
    } catch (RejectedExecutionException e) {
      // closing: nothing left to do
    }
  }

  /** Wraps a sender-thread task so that a bug is logged instead of silently swallowed. */
  private Runnable guarded(Runnable task) {
    return () -> {
      try {
        task.run();
      } catch (RuntimeException e) {
        log.error("raft transport {}: sender task failed", nodeId, e);
      }
    };
  }

  /**
   * Counts a drop and logs it if no drop of the same reason was logged in the last 10 s, so a
   * flood of drops cannot flood the log (the counters have the full numbers).
   *
   * @param format an SLF4J format for {@code args}, or null to count silently
   */
  private void drop(DropReason reason, String format, Object... args) {
    long n = drops.get(reason).incrementAndGet();
    if (format == null) {
      return;
    }
    if (logNow(lastDropLog.get(reason))) {
      Object[] all = new Object[args.length + 2];
      all[0] = nodeId;
      System.arraycopy(args, 0, all, 1, args.length);
      all[all.length - 1] = n;
      log.warn("raft transport {}: " + format + " (" + reason + " drops so far: {})", all);
    }
  }

  /**
   * @param last when this kind of line was last logged ({@link System#nanoTime()}, 0 = never)
   * @return true, and updates {@code last}, if the line was not logged in the last 10 s
   */
  private static boolean logNow(AtomicLong last) {
    long now = System.nanoTime();
    long prev = last.get();
    return (prev == 0 || now - prev >= LOG_INTERVAL_NANOS) && last.compareAndSet(prev, now | 1);
  }

  /** @return {@code id} if it is a well-formed node id, else a placeholder (no log injection) */
  private static String printable(String id) {
    return PeerAuth.NODE_ID.matcher(id).matches() ? id : "<malformed id of " + id.length() + " chars>";
  }

  /** @return a one-line account of why a stream ended, without stack traces */
  private static String describe(Status status) {
    StringBuilder b = new StringBuilder(status.getCode().name());
    if (status.getDescription() != null) {
      b.append(": ").append(status.getDescription());
    }
    Throwable cause = status.getCause();
    while (cause != null && cause.getCause() != null && cause.getCause() != cause) {
      cause = cause.getCause();
    }
    if (cause != null) {
      b.append(" (").append(cause.getMessage()).append(')');
    }
    return b.toString();
  }

  private void registerMetrics(PrometheusRegistry registry) {
    collectors.add(CounterWithCallback.builder()
        .name("dsync_raft_transport_frames_sent_total")
        .help("Raft frames written to peer streams")
        .callback(cb -> cb.call(sent.get()))
        .build());
    collectors.add(CounterWithCallback.builder()
        .name("dsync_raft_transport_messages_received_total")
        .help("Raft messages received from peers and handed to Raft")
        .callback(cb -> cb.call(received.get()))
        .build());
    collectors.add(CounterWithCallback.builder()
        .name("dsync_raft_transport_messages_dropped_total")
        .help("Raft messages dropped by the transport, by reason")
        .labelNames("reason")
        .callback(cb -> drops.forEach((r, n) -> cb.call(n.get(), r.name().toLowerCase())))
        .build());
    collectors.add(CounterWithCallback.builder()
        .name("dsync_raft_transport_auth_refusals_total")
        .help("Incoming peer streams refused for bad or missing cluster credentials")
        .callback(cb -> cb.call(authRefusals.get()))
        .build());
    collectors.add(CounterWithCallback.builder()
        .name("dsync_raft_transport_stream_failures_total")
        .help("Outgoing peer streams that ended and were reconnected")
        .callback(cb -> cb.call(streamFailures.get()))
        .build());
    collectors.add(GaugeWithCallback.builder()
        .name("dsync_raft_transport_peer_connected")
        .help("1 if the stream to the peer is accepted, else 0")
        .labelNames("peer")
        .callback(cb -> links.values().forEach(l -> cb.call(l.connected ? 1 : 0, l.peerId)))
        .build());
    collectors.add(GaugeWithCallback.builder()
        .name("dsync_raft_transport_queue_depth")
        .help("Messages waiting to be sent to the peer")
        .labelNames("peer")
        .callback(cb -> links.values().forEach(l -> cb.call(l.queue.size(), l.peerId)))
        .build());
    List<Collector> done = new ArrayList<>();
    try {
      for (Collector c : collectors) {
        registry.register(c);
        done.add(c);
      }
    } catch (RuntimeException e) {
      done.forEach(registry::unregister);
      collectors.clear();
      throw e;
    }
  }

  private void unregisterMetrics() {
    if (registry != null) {
      collectors.forEach(registry::unregister);
    }
  }

  /**
   * @param address {@code "host:port"} or {@code "[v6]:port"}
   * @return an unresolved socket address
   * @throws IllegalArgumentException if malformed
   */
  static InetSocketAddress parseAddress(String address) {
    int colon = address == null ? -1 : address.lastIndexOf(':');
    if (colon <= 0 || colon == address.length() - 1) {
      throw new IllegalArgumentException("peer address must be host:port: " + address);
    }
    String host = address.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    int port;
    try {
      port = Integer.parseInt(address.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad port in peer address: " + address);
    }
    if (port < 1 || port > 65535 || host.isEmpty()) {
      throw new IllegalArgumentException("bad peer address: " + address);
    }
    return InetSocketAddress.createUnresolved(host, port);
  }

  private static java.util.concurrent.ThreadFactory daemonThreads(String name) {
    return r -> Thread.ofPlatform().daemon().name(name).unstarted(r);
  }
}
