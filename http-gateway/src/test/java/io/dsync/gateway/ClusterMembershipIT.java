package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Membership changes on real processes, while a producer writes through every running node:
 *
 * <ol>
 *   <li>three nodes start the README way; a follower (n3) is SIGKILLed and stays down;
 *   <li>n4 starts with {@code --join} and is added through a follower ({@code POST
 *       /v1/cluster/members}, forwarded to the leader): it is a learner at once, catches up and is
 *       promoted to voter by the leader — with n3 still down, so the new majority (3 of 4) needs
 *       n4;
 *   <li>the dead n3 is removed ({@code DELETE /v1/cluster/members/n3}); the voters are n1, n2, n4;
 *   <li>the leader is SIGKILLed: the two others elect a leader and go on; it restarts with its
 *       old {@code --peers} (which do not name n4) and follows the configuration in its log;
 *   <li>afterwards the running nodes converge (one applied index, one state hash), and every
 *       acknowledged record is on each of them, at its acknowledged position.
 * </ol>
 */
class ClusterMembershipIT {
  private static final String TOPIC = "members";
  private static final int PARTITIONS = 3;
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(12);
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration ELECTION_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration CHANGE_TIMEOUT = Duration.ofSeconds(60);

  record Position(int partition, long offset) {}

  private DsyncProcesses processes;
  private ProcessCluster cluster;
  private Path workDir;
  private final Map<Position, String> acked = new ConcurrentHashMap<>();
  private final AtomicBoolean producing = new AtomicBoolean(true);
  private final AtomicInteger batches = new AtomicInteger();
  private final java.util.concurrent.atomic.AtomicReference<String> producerError =
      new java.util.concurrent.atomic.AtomicReference<>();

  @BeforeEach
  void setUp() throws IOException {
    Path repoRoot = DsyncProcesses.repoRootWithFreshJar();
    workDir = Files.createTempDirectory("dsync-membership-it-");
    processes = new DsyncProcesses(repoRoot, repoRoot.resolve("http-gateway/target/cluster-membership-it"),
        Map.of("DSYNC_JAVA_OPTS", ClusterChaosIT.NODE_JAVA_OPTS));
    cluster = new ProcessCluster(processes, workDir, 4, List.of());
    cluster.joinsLater("n4");
  }

  @AfterEach
  void tearDown() throws Exception {
    producing.set(false);
    DsyncProcesses.cleanUp(cluster == null ? null : cluster.http, processes, workDir);
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void aJoiningNodeIsAddedWhileAVoterIsDownTheDeadVoterIsRemovedAndNoAcknowledgedRecordIsLost() throws Exception {
    try {
      run();
    } catch (Throwable t) {
      System.out.println("ClusterMembershipIT FAILED: " + t);
      DsyncProcesses.printLogTails(cluster.latestLogs(1), 80);
      throw t;
    }
  }

  private void run() throws Exception {
    List<String> bootstrap = List.of("n1", "n2", "n3");
    ProcessCluster.Leader leader = cluster.startAll(bootstrap, READY_TIMEOUT, ELECTION_TIMEOUT);
    assertEquals(201, cluster.send(leader.id(), "POST", "/v1/topics",
        "{\"name\":\"" + TOPIC + "\",\"partitions\":" + PARTITIONS + "}", REQUEST_TIMEOUT).status());
    Thread producer = Thread.ofPlatform().name("membership-producer").start(this::produceLoop);

    // n3 down (a follower: make sure it is not the leader).
    if (leader.id().equals("n3")) {
      transfer("n3", "n1");
      // (awaitLeader needs a follower's confirmation, so it looks at all three.)
      leader = cluster.awaitLeader(bootstrap, leader.term(), ELECTION_TIMEOUT);
      assertEquals("n1", leader.id(), "leadership moved to n1");
    }
    awaitBatches(20);
    cluster.kill("n3");
    say("n3 killed; leader %s", leader.id());

    // n4 joins, added through a follower (the request is forwarded to the leader).
    cluster.start("n4");
    String leaderId = leader.id();
    String follower = List.of("n1", "n2").stream().filter(id -> !id.equals(leaderId)).findFirst().orElseThrow();
    ProcessCluster.Res added = retry(() -> cluster.send(follower, "POST", "/v1/cluster/members",
        "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1:" + cluster.member("n4").raftPort() + "\",\"http_address\":\"127.0.0.1:"
            + cluster.member("n4").httpPort() + "\"}", REQUEST_TIMEOUT));
    assertEquals(201, added.status(), added.text());
    assertEquals("learner", added.json().get("role").asText(), added.text());
    say("n4 added as a learner through %s", follower);

    // The leader promotes n4 once it has caught up; with n3 down, n4 is needed for every commit.
    awaitRole("n4", "follower");
    cluster.awaitReady("n4", READY_TIMEOUT);
    int before = batches.get();
    awaitBatches(before + 20);
    say("n4 promoted to voter; writes go on (%d batches acknowledged)", batches.get());

    // A second add of the same node is a conflict; removing an unknown node is not found.
    ProcessCluster.Res again = cluster.send("n4", "POST", "/v1/cluster/members",
        "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1:1\",\"http_address\":\"127.0.0.1:2\"}", REQUEST_TIMEOUT);
    assertEquals(409, again.status(), again.text());
    assertEquals(404, cluster.send("n1", "DELETE", "/v1/cluster/members/n9", null, REQUEST_TIMEOUT).status());

    // Remove the dead voter.
    ProcessCluster.Res removed = retry(() -> cluster.send("n4", "DELETE", "/v1/cluster/members/n3", null, REQUEST_TIMEOUT));
    assertEquals(200, removed.status(), removed.text());
    JsonNode st = cluster.status("n4", false);
    assertEquals(new TreeSet<>(List.of("n1", "n2", "n4")), memberIds(st), st.toString());
    say("n3 removed: %s", memberIds(st));

    // Kill the leader of the new configuration: the other two (a majority of 3) go on.
    List<String> voters = List.of("n1", "n2", "n4");
    ProcessCluster.Leader l2 = cluster.awaitLeader(voters, 0, ELECTION_TIMEOUT);
    cluster.kill(l2.id());
    List<String> others = voters.stream().filter(id -> !id.equals(l2.id())).toList();
    ProcessCluster.Leader l3 = cluster.awaitLeader(others, l2.term(), ELECTION_TIMEOUT);
    before = batches.get();
    awaitBatches(before + 10);
    say("leader %s killed; %s leads term %d and writes go on", l2.id(), l3.id(), l3.term());
    cluster.start(l2.id()); // with its original flags: the configuration comes from its log
    cluster.awaitReady(l2.id(), READY_TIMEOUT);

    producing.set(false);
    producer.join(30_000);
    assertEquals(null, producerError.get(), "the producer saw an unexpected answer");
    Map<String, JsonNode> converged = cluster.awaitConverged(Duration.ofSeconds(60));
    assertEquals(new TreeSet<>(voters), converged.keySet().stream().collect(java.util.stream.Collectors.toCollection(TreeSet::new)));
    assertEquals(1, converged.values().stream().map(s -> s.get("state_hash").asText()).distinct().count(),
        "state hashes differ: " + converged);
    for (JsonNode s : converged.values()) {
      assertEquals(new TreeSet<>(voters), memberIds(s), s.toString());
    }
    for (String id : voters) {
      Map<Position, String> found = new java.util.HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        int partition = p;
        cluster.readPartition(id, TOPIC, p, 1000,
            rec -> found.put(new Position(partition, rec.get("offset").asLong()), rec.get("key").asText()));
      }
      for (Map.Entry<Position, String> e : acked.entrySet()) {
        assertEquals(e.getValue(), found.get(e.getKey()), id + " lost or moved acknowledged record at " + e.getKey());
      }
    }
    say("%d acknowledged records on each of %s; state hash %s", acked.size(), voters,
        converged.values().iterator().next().get("state_hash").asText());
  }

  /** Produces batches of 5 through the running nodes in turn until stopped; 503s and timeouts are retried. */
  private void produceLoop() {
    int seq = 0;
    int attempt = 0;
    while (producing.get()) {
      List<String> up = cluster.runningIds();
      if (up.isEmpty()) {
        sleep(50);
        continue;
      }
      String node = up.get(attempt++ % up.size()); // every attempt goes to the next node
      String prefix = "b" + seq;
      ObjectNode body = ProcessCluster.JSON.createObjectNode();
      ArrayNode records = body.putArray("records");
      for (int i = 0; i < 5; i++) {
        records.addObject().put("key", prefix + "-" + i).put("value", i);
      }
      try {
        ProcessCluster.Res r = cluster.send(node, "POST", "/v1/topics/" + TOPIC + "/records", body.toString(),
            REQUEST_TIMEOUT);
        if (r.status() == 200) {
          JsonNode offsets = r.json().get("offsets");
          for (int i = 0; i < 5; i++) {
            Position p = new Position(offsets.get(i).get("partition").asInt(), offsets.get(i).get("offset").asLong());
            String prev = acked.put(p, prefix + "-" + i);
            if (prev != null) {
              producerError.compareAndSet(null, "two acknowledgements for " + p + ": " + prev + " and " + prefix + "-" + i);
            }
          }
          batches.incrementAndGet();
          seq++;
        } else {
          if (r.status() != 503) {
            producerError.compareAndSet(null, node + " answered " + r.status() + ": " + r.text());
          }
          sleep(50);
        }
      } catch (IOException e) { // a killed node, a timeout: the outcome is unknown, the key is not counted
        seq++;
        sleep(50);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void awaitBatches(int n) throws Exception {
    long deadline = System.nanoTime() + CHANGE_TIMEOUT.toNanos();
    while (batches.get() < n) {
      assertEquals(null, producerError.get(), "the producer saw an unexpected answer");
      assertTrue(System.nanoTime() < deadline, "only " + batches.get() + " of " + n + " batches acknowledged: "
          + cluster.statuses(cluster.runningIds()));
      Thread.sleep(20);
    }
  }

  /** Waits until the leader reports {@code id} with {@code role}. */
  private void awaitRole(String id, String role) throws Exception {
    long deadline = System.nanoTime() + CHANGE_TIMEOUT.toNanos();
    while (true) {
      ProcessCluster.Leader l = cluster.leader(cluster.runningIds(), 0);
      if (l != null) {
        JsonNode s = cluster.status(l.id(), false);
        if (s != null) {
          for (JsonNode m : s.get("members")) {
            if (m.get("id").asText().equals(id) && m.get("role").asText().equals(role)) {
              return;
            }
          }
        }
      }
      assertTrue(System.nanoTime() < deadline, id + " never became " + role + ": " + cluster.statuses(cluster.runningIds()));
      Thread.sleep(50);
    }
  }

  private void transfer(String from, String to) throws Exception {
    ProcessCluster.Res r = cluster.send(from, "POST", "/v1/cluster/leader-transfer", "{\"to\":\"" + to + "\"}",
        REQUEST_TIMEOUT);
    assertEquals(200, r.status(), r.text());
  }

  private interface Call {
    ProcessCluster.Res call() throws Exception;
  }

  /** Retries 503 (no leader yet, or a change still committing) and 409 "in progress" for a bounded time. */
  private static ProcessCluster.Res retry(Call c) throws Exception {
    long deadline = System.nanoTime() + CHANGE_TIMEOUT.toNanos();
    while (true) {
      ProcessCluster.Res r = c.call();
      boolean transient_ = r.status() == 503 || (r.status() == 409 && r.text().contains("in progress"));
      if (!transient_ || System.nanoTime() > deadline) {
        return r;
      }
      Thread.sleep(100);
    }
  }

  private static TreeSet<String> memberIds(JsonNode status) {
    TreeSet<String> ids = new TreeSet<>();
    for (JsonNode m : status.get("members")) {
      ids.add(m.get("id").asText());
    }
    return ids;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void say(String format, Object... args) {
    System.out.println("[membership-it] " + String.format(format, args));
  }
}
