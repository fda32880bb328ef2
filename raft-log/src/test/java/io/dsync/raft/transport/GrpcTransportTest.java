package io.dsync.raft.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.Empty;
import io.dsync.raft.Entry;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.RaftMessage.AppendEntries;
import io.dsync.raft.RaftMessage.AppendEntriesResponse;
import io.dsync.raft.proto.EntryType;
import io.dsync.raft.proto.RaftFrame;
import io.dsync.raft.transport.TransportStats.DropReason;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** GrpcTransport over real sockets on 127.0.0.1. Every wait is bounded; everything is closed. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class GrpcTransportTest {
  private static final byte[] SECRET = "test-cluster-secret-0123456789".getBytes(StandardCharsets.UTF_8);
  private static final byte[] WRONG = "not-the-cluster-secret-9876543".getBytes(StandardCharsets.UTF_8);
  /** Defaults, but a shorter reconnect ceiling so the reconnect tests run quickly. */
  private static final GrpcTransportConfig CONFIG =
      new GrpcTransportConfig(4096, 64L << 20, 10_000, 50, 400, 3_000, 10_000, 5_000, 32 << 20);

  private final List<AutoCloseable> toClose = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : toClose.reversed()) {
      c.close();
    }
  }

  /** A started transport and everything it received. */
  private record Node(GrpcTransport transport, List<RaftMessage> inbox) {
    String address() {
      return "127.0.0.1:" + transport.port();
    }

    List<RaftMessage> from(String sender) {
      return inbox.stream().filter(m -> m.from().equals(sender)).toList();
    }
  }

  private Node start(String id, int port, Map<String, String> peers, byte[] secret) {
    GrpcTransport t = new GrpcTransport(id, "127.0.0.1", port, peers, secret, CONFIG, null);
    toClose.add(t);
    List<RaftMessage> inbox = new CopyOnWriteArrayList<>();
    t.onReceive(inbox::add);
    return new Node(t, inbox);
  }

  private static AppendEntriesResponse ack(String from, String to, long i) {
    return new AppendEntriesResponse(from, to, 1, true, i);
  }

  private static List<Long> matchIndexes(List<RaftMessage> messages) {
    return messages.stream().map(m -> ((AppendEntriesResponse) m).matchIndex()).toList();
  }

  private static List<Long> range(long from, long toExclusive) {
    List<Long> out = new ArrayList<>();
    for (long i = from; i < toExclusive; i++) {
      out.add(i);
    }
    return out;
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out waiting for: " + what);
      }
      Thread.sleep(10);
    }
  }

  /** A port that nothing listens on (bound, read, released). */
  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void threeNodesDeliverToEachOtherInOrderPerPeer() throws Exception {
    List<Node> nodes = List.of(start("a", 0, Map.of(), SECRET), start("b", 0, Map.of(), SECRET),
        start("c", 0, Map.of(), SECRET));
    for (Node n : nodes) {
      for (Node p : nodes) {
        n.transport().addPeer(p.transport().nodeId(), p.address()); // self is ignored
      }
    }
    int perPeer = 1000;
    byte[] payload = new byte[512];
    for (int i = 0; i < perPeer; i++) {
      for (Node n : nodes) {
        for (Node p : nodes) {
          if (n != p) {
            n.transport().send(ack(n.transport().nodeId(), p.transport().nodeId(), i));
          }
        }
      }
      if (i % 100 == 0) { // a few AppendEntries with real entries among the acks
        nodes.get(0).transport().send(new AppendEntries("a", "b", 1, i, 1,
            List.of(new Entry(i + 1, 1, EntryType.ENTRY_NORMAL, 5, payload)), i));
      }
    }
    for (Node n : nodes) {
      await(n.transport().nodeId() + " receives everything",
          () -> n.inbox().size() >= 2 * perPeer + (n == nodes.get(1) ? 10 : 0));
    }
    for (Node n : nodes) {
      for (Node p : nodes) {
        if (n != p) {
          List<RaftMessage> got = n.from(p.transport().nodeId()).stream()
              .filter(m -> m instanceof AppendEntriesResponse).toList();
          assertEquals(range(0, perPeer), matchIndexes(got), "in order from " + p.transport().nodeId());
          got.forEach(m -> assertEquals(n.transport().nodeId(), m.to()));
        }
      }
    }
    List<AppendEntries> appends = nodes.get(1).inbox().stream()
        .filter(m -> m instanceof AppendEntries).map(m -> (AppendEntries) m).toList();
    assertEquals(10, appends.size());
    assertEquals(512, appends.get(3).entries().get(0).data().length);
    assertEquals(Set.of("b", "c"), nodes.get(0).transport().connectedPeers());
    TransportStats s = nodes.get(0).transport().stats();
    assertEquals(2 * perPeer + 10, s.sent());
    assertEquals(2 * perPeer, s.received());
    assertEquals(0, s.authRefusals());
  }

  @Test
  void aPeerWithTheWrongSecretIsRefusedAndOneWithTheRightSecretWorks() throws Exception {
    Node a = start("a", 0, Map.of(), SECRET);
    Node intruder = start("x", 0, Map.of("a", a.address()), WRONG);
    Node member = start("y", 0, Map.of("a", a.address()), SECRET);
    for (int i = 0; i < 10; i++) {
      intruder.transport().send(ack("x", "a", i));
      member.transport().send(ack("y", "a", i));
    }
    await("the member's messages arrive", () -> a.from("y").size() == 10);
    assertEquals(range(0, 10), matchIndexes(a.from("y")));
    await("the intruder is refused and retries", () -> a.transport().stats().authRefusals() >= 2
        && intruder.transport().stats().streamFailures() >= 2);
    assertTrue(a.from("x").isEmpty());
    // The intruder never got a stream accepted, so it wrote nothing: its messages still wait.
    assertEquals(0, intruder.transport().stats().sent());
    assertTrue(intruder.transport().connectedPeers().isEmpty());
    assertEquals(Set.of("a"), member.transport().connectedPeers());

    // A raw call without any credentials is closed with UNAUTHENTICATED.
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", a.transport().port()).usePlaintext().build();
    toClose.add(channel::shutdownNow);
    Status status = rawStream(channel, new Metadata(), List.of(WireCodec.encode(ack("z", "a", 0))));
    assertEquals(Status.Code.UNAUTHENTICATED, status.getCode());
    assertTrue(a.from("z").isEmpty());
  }

  @Test
  void framesThatLieAboutTheirSenderOrReceiverAreDropped() throws Exception {
    Node a = start("a", 0, Map.of(), SECRET);
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", a.transport().port()).usePlaintext().build();
    toClose.add(channel::shutdownNow);
    RaftFrame spoofed = WireCodec.encode(ack("b", "a", 1)); // x claims to be b
    RaftFrame misaddressed = WireCodec.encode(ack("x", "c", 2));
    RaftFrame unknownBody = RaftFrame.newBuilder().setFrom("x").setTo("a").setTerm(1).build();
    RaftFrame honest = WireCodec.encode(ack("x", "a", 3));
    Status status = rawStream(channel, new PeerAuth(SECRET).headersFor("x"),
        List.of(spoofed, misaddressed, unknownBody, honest));
    assertEquals(Status.Code.OK, status.getCode(), status.toString());
    // The server closes OK only after handing over every frame of the stream, in order.
    assertEquals(List.of(3L), matchIndexes(a.inbox()));
    TransportStats s = a.transport().stats();
    assertEquals(1, s.dropped(DropReason.WRONG_SENDER));
    assertEquals(1, s.dropped(DropReason.WRONG_RECEIVER));
    assertEquals(1, s.dropped(DropReason.MALFORMED));
    assertEquals(1, s.received());
  }

  @Test
  void aPeerThatIsDownAtFirstGetsItsMessagesOnceItStartsAndAfterARestartOnTheSamePort() throws Exception {
    int port = freePort();
    Node a = start("a", 0, Map.of("b", "127.0.0.1:" + port), SECRET);
    for (int i = 0; i < 5; i++) {
      a.transport().send(ack("a", "b", i));
    }
    await("a retries the absent peer", () -> a.transport().stats().streamFailures() >= 3);

    Node b = start("b", port, Map.of(), SECRET);
    await("the queued messages arrive", () -> b.inbox().size() == 5);
    assertEquals(range(0, 5), matchIndexes(b.inbox()));

    // Restart b on the same port; messages sent while it is down wait and then arrive.
    b.transport().close();
    await("a notices b is gone", () -> !a.transport().connectedPeers().contains("b"));
    for (int i = 5; i < 10; i++) {
      a.transport().send(ack("a", "b", i));
    }
    Node b2 = start("b", port, Map.of(), SECRET);
    await("a reconnects to the restarted b", () -> b2.inbox().size() == 5);
    assertEquals(range(5, 10), matchIndexes(b2.inbox()));
    assertEquals(Set.of("b"), a.transport().connectedPeers());
  }

  @Test
  void isolateDropsFramesBothWaysWithTheGivenPeersOnlyAndHealRestoresThem() throws Exception {
    Node a = start("a", 0, Map.of(), SECRET);
    Node b = start("b", 0, Map.of(), SECRET);
    Node c = start("c", 0, Map.of(), SECRET);
    for (Node n : List.of(a, b, c)) {
      for (Node p : List.of(a, b, c)) {
        n.transport().addPeer(p.transport().nodeId(), p.address());
      }
    }
    a.transport().isolate(Set.of("b"));
    assertEquals(Set.of("b"), a.transport().isolated());
    for (int i = 0; i < 5; i++) {
      a.transport().send(ack("a", "b", i)); // dropped outbound at a
      b.transport().send(ack("b", "a", i)); // sent by b, dropped inbound at a
      a.transport().send(ack("a", "c", i));
      c.transport().send(ack("c", "a", i));
    }
    await("a and c still talk", () -> a.from("c").size() == 5 && c.from("a").size() == 5);
    await("b's frames reach a and are dropped there",
        () -> a.transport().stats().dropped(DropReason.ISOLATED) == 10);
    assertTrue(a.from("b").isEmpty());
    assertTrue(b.from("a").isEmpty());
    assertEquals(Set.of("b", "c"), a.transport().connectedPeers(), "the streams stay up; only frames are lost");

    a.transport().heal();
    assertTrue(a.transport().isolated().isEmpty());
    for (int i = 5; i < 10; i++) {
      a.transport().send(ack("a", "b", i));
      b.transport().send(ack("b", "a", i));
    }
    await("healed: both directions deliver again", () -> a.from("b").size() == 5 && b.from("a").size() == 5);
    assertEquals(range(5, 10), matchIndexes(a.from("b")));
    assertEquals(range(5, 10), matchIndexes(b.from("a")));
  }

  @Test
  void sendNeverBlocksEvenWhenThePeerIsDown() throws Exception {
    Node a = start("a", 0, Map.of("b", "127.0.0.1:" + freePort()), SECRET);
    int n = 100_000;
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      a.transport().send(ack("a", "b", i));
    }
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertTrue(ms < 10_000, "100k sends took " + ms + " ms");
    TransportStats s = a.transport().stats();
    assertEquals(0, s.sent());
    assertEquals(n - CONFIG.queueCapacity(), s.dropped(DropReason.QUEUE_FULL), "the queue keeps the newest");
    // Messages to unknown peers or from someone else are dropped, not thrown.
    a.transport().send(ack("a", "nobody", 0));
    a.transport().send(ack("b", "b", 0));
    assertEquals(2, a.transport().stats().dropped(DropReason.UNKNOWN_PEER));
  }

  @Test
  void theQueueKeepsTheNewestMessagesWhenThePeerComesUp() throws Exception {
    int port = freePort();
    GrpcTransportConfig small = new GrpcTransportConfig(8, 64L << 20, 10_000, 50, 400, 3_000, 10_000, 5_000, 32 << 20);
    GrpcTransport t = new GrpcTransport("a", "127.0.0.1", 0, Map.of("b", "127.0.0.1:" + port), SECRET, small, null);
    toClose.add(t);
    for (int i = 0; i < 100; i++) {
      t.send(ack("a", "b", i));
    }
    Node b = start("b", port, Map.of(), SECRET);
    await("the newest 8 arrive", () -> b.inbox().size() == 8);
    assertEquals(range(92, 100), matchIndexes(b.inbox()));
  }

  @Test
  void theQueueIsBoundedInBytesAndOversizedFramesAreDropped() throws Exception {
    int port = freePort();
    // 16 KiB frames at most, 64 KiB queued at most: about six 10 KiB AppendEntries fit.
    GrpcTransportConfig small = new GrpcTransportConfig(4096, 64 << 10, 10_000, 50, 400, 3_000, 10_000, 5_000, 16 << 10);
    GrpcTransport t = new GrpcTransport("a", "127.0.0.1", 0, Map.of("b", "127.0.0.1:" + port), SECRET, small, null);
    toClose.add(t);
    for (int i = 0; i < 20; i++) {
      t.send(new AppendEntries("a", "b", 1, i, 1,
          List.of(new Entry(i + 1, 1, EntryType.ENTRY_NORMAL, 0, new byte[10 << 10])), 0));
    }
    t.send(new AppendEntries("a", "b", 1, 99, 1,
        List.of(new Entry(100, 1, EntryType.ENTRY_NORMAL, 0, new byte[20 << 10])), 0));
    TransportStats s = t.stats();
    assertEquals(1, s.dropped(DropReason.TOO_LARGE));
    assertEquals(14, s.dropped(DropReason.QUEUE_FULL));
    Node b = start("b", port, Map.of(), SECRET);
    await("the newest frames arrive", () -> b.inbox().size() == 6);
    assertEquals(range(14, 20),
        b.inbox().stream().map(m -> ((AppendEntries) m).prevLogIndex()).toList());
  }

  @Test
  void messagesThatWaitedTooLongAreDroppedNotSent() throws Exception {
    int port = freePort();
    GrpcTransportConfig quick = new GrpcTransportConfig(4096, 64L << 20, 200, 50, 400, 3_000, 10_000, 5_000, 32 << 20);
    GrpcTransport t = new GrpcTransport("a", "127.0.0.1", 0, Map.of("b", "127.0.0.1:" + port), SECRET, quick, null);
    toClose.add(t);
    for (int i = 0; i < 5; i++) {
      t.send(ack("a", "b", i));
    }
    Thread.sleep(400); // past maxQueueAgeMs
    Node b = start("b", port, Map.of(), SECRET);
    await("the stale messages are dropped", () -> t.stats().dropped(DropReason.STALE) == 5);
    t.send(ack("a", "b", 5));
    await("a fresh message arrives", () -> b.inbox().size() == 1);
    assertEquals(List.of(5L), matchIndexes(b.inbox()));
  }

  @Test
  void closeIsIdempotentAndLaterSendsAreDropped() {
    Node a = start("a", 0, Map.of("b", "127.0.0.1:1"), SECRET);
    a.transport().close();
    a.transport().close();
    a.transport().send(ack("a", "b", 0));
    assertEquals(1, a.transport().stats().dropped(DropReason.CLOSED));
    assertThrows(IllegalStateException.class, () -> a.transport().addPeer("c", "127.0.0.1:2"));
  }

  @Test
  void badArgumentsAreRefusedUpFront() {
    assertThrows(IllegalArgumentException.class,
        () -> new GrpcTransport("a", "127.0.0.1", 0, Map.of(), "short".getBytes(StandardCharsets.UTF_8)));
    assertThrows(IllegalArgumentException.class,
        () -> new GrpcTransport("a b", "127.0.0.1", 0, Map.of(), SECRET));
    assertThrows(IllegalArgumentException.class,
        () -> new GrpcTransport("a", "127.0.0.1", 0, Map.of("b", "no-port"), SECRET));
    assertThrows(IllegalArgumentException.class,
        () -> new GrpcTransport("a", "127.0.0.1", 0, Map.of("b", "host:70000"), SECRET));
    assertEquals(9000, GrpcTransport.parseAddress("[::1]:9000").getPort());
    assertEquals("::1", GrpcTransport.parseAddress("[::1]:9000").getHostString());
  }

  @Test
  void metricsAreExportedWhenARegistryIsGiven() throws Exception {
    PrometheusRegistry registry = new PrometheusRegistry();
    GrpcTransport t = new GrpcTransport("a", "127.0.0.1", 0, Map.of("b", "127.0.0.1:1"), SECRET, CONFIG, registry);
    toClose.add(t);
    t.send(ack("a", "b", 0));
    Set<String> names = registry.scrape().stream()
        .map(m -> m.getMetadata().getPrometheusName()).collect(Collectors.toSet());
    assertTrue(names.containsAll(Set.of("dsync_raft_transport_frames_sent",
        "dsync_raft_transport_messages_dropped", "dsync_raft_transport_auth_refusals",
        "dsync_raft_transport_peer_connected", "dsync_raft_transport_queue_depth")), names.toString());
    assertFalse(t.connectedPeers().contains("b"));
    // One live transport per registry; closing it frees the names for a restarted node.
    assertThrows(IllegalArgumentException.class,
        () -> new GrpcTransport("a", "127.0.0.1", 0, Map.of(), SECRET, CONFIG, registry));
    t.close();
    assertTrue(registry.scrape().stream().noneMatch(
        m -> m.getMetadata().getPrometheusName().startsWith("dsync_raft_transport")));
    toClose.add(new GrpcTransport("a", "127.0.0.1", 0, Map.of(), SECRET, CONFIG, registry));
  }

  /** Streams {@code frames} on a raw call, half-closes, and returns how the server closed it. */
  private static Status rawStream(ManagedChannel channel, Metadata headers, List<RaftFrame> frames)
      throws Exception {
    ClientCall<RaftFrame, Empty> call = channel.newCall(PeerService.STREAM, CallOptions.DEFAULT);
    CompletableFuture<Status> closed = new CompletableFuture<>();
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, Metadata trailers) {
        closed.complete(status);
      }
    }, headers);
    call.request(1);
    for (RaftFrame f : frames) {
      call.sendMessage(f);
    }
    call.halfClose();
    return closed.get(20, TimeUnit.SECONDS);
  }
}
