package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The fault-injection test hook's switch and route: absent (404) by default, present only with
 * {@code --enable-fault-injection}, checks its input, and answers what is isolated. What isolation
 * does to a cluster is shown by {@code ClusterPartitionIT}.
 */
class FaultInjectionRouteTest {
  @TempDir Path dir;

  @Test
  void theRouteIsUnknownWithoutTheFlag() {
    try (TestNode n = TestNode.start(dir)) {
      assertFalse(n.node.config().enableFaultInjection());
      n.post("/v1/debug/faults", "{\"isolate\":[]}").problem(404, "not-found");
      n.post("/v1/debug/faults", "{\"isolate\":[\"n2\"]}").problem(404, "not-found");
    }
  }

  @Test
  void withTheFlagItIsolatesGivenPeersAndHeals() throws IOException {
    List<NodeConfig.Peer> peers = List.of(
        new NodeConfig.Peer("n1", "127.0.0.1:" + freePort(), "127.0.0.1:" + freePort()),
        new NodeConfig.Peer("n2", "127.0.0.1:" + freePort(), "127.0.0.1:" + freePort()),
        new NodeConfig.Peer("n3", "127.0.0.1:" + freePort(), "127.0.0.1:" + freePort()));
    NodeConfig config = new NodeConfig("n1", "127.0.0.1", 0, dir, 16L << 20, 50, 64L << 20, "127.0.0.1", 0, peers,
        "a-test-cluster-secret", true);
    try (TestNode n = TestNode.startUnready(config)) { // n2, n3 never start: no leader, but the hook is node-local
      JsonNode r = n.post("/v1/debug/faults", "{\"isolate\":[\"n3\",\"n2\"]}").expect(200).json();
      assertEquals("n1", r.get("node_id").asText());
      assertEquals("[\"n2\",\"n3\"]", r.get("isolated").toString());
      n.post("/v1/debug/faults", "{\"isolate\":[\"n1\"]}").problem(400, "bad-request"); // itself
      n.post("/v1/debug/faults", "{\"isolate\":[\"n9\"]}").problem(400, "bad-request"); // not a peer
      n.post("/v1/debug/faults", "{\"isolate\":[null]}").problem(400, "bad-request");
      n.post("/v1/debug/faults", "{}").problem(400, "bad-request");
      n.post("/v1/debug/faults", "{\"isolate\":\"n2\"}").problem(400, "bad-request");
      assertEquals("[\"n2\",\"n3\"]", n.post("/v1/debug/faults", "{\"isolate\":[\"n3\",\"n2\"]}").expect(200).json()
          .get("isolated").toString(), "bad input changed nothing");
      assertEquals("[]", n.post("/v1/debug/faults", "{\"isolate\":[]}").expect(200).json().get("isolated").toString());
      assertEquals(List.of(), n.drainServerErrors());
    }
  }

  @Test
  void theFlagParsesAndIsOffByDefault() {
    Main.Run off = new Main.Run();
    new CommandLine(off).parseArgs();
    assertFalse(off.enableFaultInjection);
    Main.Run on = new Main.Run();
    new CommandLine(on).parseArgs("--enable-fault-injection");
    assertTrue(on.enableFaultInjection);
    Main.Run explicit = new Main.Run();
    new CommandLine(explicit).parseArgs("--enable-fault-injection=false");
    assertFalse(explicit.enableFaultInjection);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
