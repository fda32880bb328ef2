package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A network partition on real processes: 3 nodes started the README way with the test hook
 * {@code --enable-fault-injection}; the leader is cut off from both followers in both directions
 * ({@code POST /v1/debug/faults} on the leader naming the other two, and on each of them naming
 * the leader). Then:
 *
 * <ul>
 *   <li>a write sent to the old leader right away is never acknowledged (it times out or fails;
 *       the client waits longer than the broker's 10 s write timeout), and the old leader's commit
 *       index does not move;
 *   <li>the majority elects a new leader in a higher term within a bounded time and acknowledges
 *       writes sent to either of its nodes;
 *   <li>the isolated old leader steps down by itself (CheckQuorum): its role becomes follower or
 *       candidate, and a write sent to it then gets 503;
 *   <li>after healing, all three converge: one applied index, one state hash, the same records in
 *       the same order on every node, every majority-acknowledged record at its acknowledged
 *       position, and the old leader's unacknowledged write either on every node or on none.
 * </ul>
 *
 * <p>And a leader SIGKILLed while cut off, with entries in its log that nobody else has, rejoins
 * an idle cluster: it becomes ready without further writes, those entries are gone everywhere and
 * all three converge.
 */
class ClusterPartitionIT {
  private static final String TOPIC = "part";
  private static final int PARTITIONS = 3;
  /** A bit above the broker's 10 s write timeout, so the broker answers before the client gives up. */
  private static final Duration MINORITY_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(12);
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration ELECTION_TIMEOUT = Duration.ofSeconds(15);

  record Position(int partition, long offset) {}

  private DsyncProcesses processes;
  private ProcessCluster cluster;
  private Path workDir;
  private final Map<Position, String> acked = new HashMap<>();
  /** Every key sent in any request, acknowledged or not. */
  private final Set<String> sent = new HashSet<>();
  /** Each batch's key prefix and size. */
  private final Map<String, Integer> batchSizes = new HashMap<>();

  @BeforeEach
  void setUp() throws IOException {
    Path repoRoot = DsyncProcesses.repoRootWithFreshJar();
    workDir = Files.createTempDirectory("dsync-partition-it-");
    processes = new DsyncProcesses(repoRoot, repoRoot.resolve("http-gateway/target/cluster-partition-it"),
        Map.of("DSYNC_JAVA_OPTS", ClusterChaosIT.NODE_JAVA_OPTS));
    cluster = new ProcessCluster(processes, workDir, 3, List.of("--enable-fault-injection"));
  }

  @AfterEach
  void tearDown() throws Exception {
    DsyncProcesses.cleanUp(cluster == null ? null : cluster.http, processes, workDir);
  }

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void anIsolatedLeaderAcknowledgesNothingTheMajorityGoesOnAndAllConvergeAfterHealing() throws Exception {
    try {
      run();
    } catch (Throwable t) {
      System.out.println("ClusterPartitionIT FAILED: " + t);
      DsyncProcesses.printLogTails(cluster.latestLogs(1), 80);
      throw t;
    }
  }

  /** Starts the cluster, creates the topic and writes through every node; returns the leader. */
  private ProcessCluster.Leader startWithData(long t0) throws Exception {
    ProcessCluster.Leader old = cluster.startAll(cluster.ids(), READY_TIMEOUT, ELECTION_TIMEOUT);
    say("3 nodes up in %d ms; leader %s in term %d", ms(t0), old.id(), old.term());
    assertEquals(201, cluster.send(old.id(), "POST", "/v1/topics",
        "{\"name\":\"" + TOPIC + "\",\"partitions\":" + PARTITIONS + "}", REQUEST_TIMEOUT).status());
    for (String id : cluster.ids()) { // through every node: the followers forward to the leader
      produceAcked(id, "before-" + id, 10, REQUEST_TIMEOUT);
    }
    return old;
  }

  private void run() throws Exception {
    long t0 = System.nanoTime();
    ProcessCluster.Leader old = startWithData(t0);
    List<String> majority = cluster.ids().stream().filter(id -> !id.equals(old.id())).toList();
    Map<String, JsonNode> before = cluster.awaitConverged(Duration.ofSeconds(30));
    long commitBefore = before.get(old.id()).get("applied_index").asLong();
    say("before the partition: %d records acknowledged, all at applied_index %d", acked.size(), commitBefore);

    // Cut the leader off, both ways.
    isolate(old.id(), majority);
    for (String id : majority) {
      isolate(id, List.of(old.id()));
    }
    long cut = System.nanoTime();

    // A write to the old leader at once, while it may still think it leads.
    String minorityBody = batch("minority", 5);
    CompletableFuture<String> minority = CompletableFuture.supplyAsync(() -> {
      try {
        ProcessCluster.Res r = cluster.send(old.id(), "POST", "/v1/topics/" + TOPIC + "/records", minorityBody,
            MINORITY_TIMEOUT);
        return r.status() + " " + r.text();
      } catch (IOException e) {
        return "no answer: " + e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted";
      }
    });

    // The majority elects a leader in a higher term and takes writes through both of its nodes.
    ProcessCluster.Leader next = cluster.awaitLeader(majority, old.term(), ELECTION_TIMEOUT);
    long electedMs = ms(cut);
    assertTrue(next.term() > old.term(), "new term " + next.term() + " above " + old.term());
    for (String id : majority) {
      produceAcked(id, "majority-" + id, 10, Duration.ofSeconds(20));
    }
    long majorityAckMs = ms(cut);
    say("partitioned: %s elected in term %d %d ms after the cut; writes through %s acknowledged %d ms after the cut",
        next.id(), next.term(), electedMs, majority, majorityAckMs);

    // The old leader steps down by itself (CheckQuorum) and refuses writes.
    long deadline = System.nanoTime() + ELECTION_TIMEOUT.toNanos();
    JsonNode oldStatus;
    while (true) {
      oldStatus = cluster.status(old.id(), false);
      if (oldStatus != null && !"leader".equals(oldStatus.get("role").asText())) {
        break;
      }
      assertTrue(System.nanoTime() < deadline, old.id() + " still leads in isolation: " + oldStatus);
      Thread.sleep(20);
    }
    long stepDownMs = ms(cut);
    String role = oldStatus.get("role").asText();
    assertTrue(role.equals("follower") || role.equals("candidate"), "isolated old leader's role: " + oldStatus);
    say("isolated %s stepped down %d ms after the cut: %s", old.id(), stepDownMs, oldStatus);
    ProcessCluster.Res late = cluster.send(old.id(), "POST", "/v1/topics/" + TOPIC + "/records",
        batch("minority-late", 3), MINORITY_TIMEOUT);
    assertEquals(503, late.status(), "a write to the isolated ex-leader: " + late.text());

    String minorityOutcome = minority.get(MINORITY_TIMEOUT.toSeconds() + 5, TimeUnit.SECONDS);
    say("the write sent to %s right after the cut: %s (after %d ms)", old.id(), minorityOutcome, ms(cut));
    assertTrue(!minorityOutcome.startsWith("200"), "the isolated old leader acknowledged a write: " + minorityOutcome);
    JsonNode oldNow = cluster.status(old.id(), false);
    assertEquals(commitBefore, oldNow.get("commit_index").asLong(), "the minority committed something: " + oldNow);
    // The majority kept going meanwhile.
    produceAcked(next.id(), "majority-late", 10, Duration.ofSeconds(20));

    // Heal and converge.
    long healed = System.nanoTime();
    for (String id : cluster.ids()) {
      isolate(id, List.of());
    }
    Map<String, JsonNode> after = cluster.awaitConverged(Duration.ofSeconds(30));
    long convergeMs = ms(healed);
    Set<String> hashes = new HashSet<>();
    after.values().forEach(s -> hashes.add(s.get("state_hash").asText()));
    say("healed; converged in %d ms: %s", convergeMs, after);
    assertEquals(1, hashes.size(), "one state_hash after healing: " + after);
    ProcessCluster.Leader leader = cluster.awaitLeader(cluster.ids(), 0, ELECTION_TIMEOUT);
    JsonNode rejoined = cluster.status(old.id(), false);
    assertTrue(rejoined.get("term").asLong() >= next.term(), "the old leader learned the new term: " + rejoined);
    assertEquals(leader.id(), rejoined.get("leader_id").asText(), "the old leader follows the leader: " + rejoined);

    int minorityCopies = checkLogs();
    say("summary: isolated leader %s (term %d); new leader %s (term %d) elected %d ms after the cut; majority writes "
        + "acked %d ms after the cut; old leader stepped down after %d ms; its write: %s; after healing all agree at "
        + "applied_index %s in %d ms; the unacknowledged minority records are on %s; %d acknowledged records on "
        + "every node; whole test %.1f s", old.id(), old.term(), next.id(), next.term(), electedMs, majorityAckMs,
        stepDownMs, minorityOutcome.length() > 160 ? minorityOutcome.substring(0, 160) + "..." : minorityOutcome,
        after.values().iterator().next().get("applied_index"), convergeMs,
        minorityCopies == 0 ? "no node" : "every node", acked.size(), ms(t0) / 1e3);
  }

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void aLeaderKilledInIsolationWithUnreplicatedEntriesRejoinsAnIdleClusterReadyAndConsistent() throws Exception {
    try {
      runKilledInIsolation();
    } catch (Throwable t) {
      System.out.println("ClusterPartitionIT FAILED: " + t);
      DsyncProcesses.printLogTails(cluster.latestLogs(2), 80);
      throw t;
    }
  }

  private void runKilledInIsolation() throws Exception {
    long t0 = System.nanoTime();
    ProcessCluster.Leader old = startWithData(t0);
    List<String> majority = cluster.ids().stream().filter(id -> !id.equals(old.id())).toList();
    long lastBefore = cluster.awaitConverged(Duration.ofSeconds(30)).get(old.id()).get("last_index").asLong();

    // Cut the leader off and, while it still leads, make it append three entries nobody else gets
    // (three concurrent requests: one entry each, even when the Raft thread batches them).
    isolate(old.id(), majority);
    for (String id : majority) {
      isolate(id, List.of(old.id()));
    }
    List<CompletableFuture<String>> writes = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String body = batch("unreplicated-" + i, 2);
      writes.add(CompletableFuture.supplyAsync(() -> {
        try {
          ProcessCluster.Res r = cluster.send(old.id(), "POST", "/v1/topics/" + TOPIC + "/records", body,
              MINORITY_TIMEOUT);
          return r.status() + " " + r.text();
        } catch (IOException e) {
          return "no answer: " + e;
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return "interrupted";
        }
      }));
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    long tail;
    while ((tail = cluster.status(old.id(), false).get("last_index").asLong()) < lastBefore + 3) {
      assertTrue(System.nanoTime() < deadline, old.id() + " did not append the three writes before stepping down; "
          + "last_index " + tail + ", before " + lastBefore);
      Thread.sleep(10);
    }
    cluster.kill(old.id());
    for (CompletableFuture<String> w : writes) {
      String outcome = w.get(MINORITY_TIMEOUT.toSeconds() + 5, TimeUnit.SECONDS);
      assertTrue(!outcome.startsWith("200"), "a write to the cut-off leader was acknowledged: " + outcome);
    }
    for (String id : majority) {
      isolate(id, List.of());
    }
    ProcessCluster.Leader next = cluster.awaitLeader(majority, old.term(), ELECTION_TIMEOUT);
    long nextLast = cluster.awaitConverged(Duration.ofSeconds(30)).get(next.id()).get("last_index").asLong();
    say("%s SIGKILLed in isolation with last_index %d (%d unreplicated entries); %s leads in term %d with last_index %d",
        old.id(), tail, tail - lastBefore, next.id(), next.term(), nextLast);
    assertTrue(nextLast < tail, "the scenario needs the new leader's log (" + nextLast + ") shorter than the "
        + "discarded tail (" + tail + ")");

    // Restart it into the idle cluster: no more writes. It must become ready and converge.
    long restart = System.nanoTime();
    cluster.start(old.id());
    cluster.awaitReady(old.id(), Duration.ofSeconds(30));
    long readyMs = ms(restart);
    Map<String, JsonNode> after = cluster.awaitConverged(Duration.ofSeconds(30));
    Set<String> hashes = new HashSet<>();
    after.values().forEach(s -> hashes.add(s.get("state_hash").asText()));
    assertEquals(1, hashes.size(), "one state_hash: " + after);
    assertEquals(0, checkLogs(), "the unreplicated writes are on no node");
    say("summary: %s restarted into the idle cluster, ready in %d ms, all at applied_index %s with one state_hash; "
        + "the %d unreplicated entries are gone everywhere; %d acknowledged records on every node; whole test %.1f s",
        old.id(), readyMs, after.values().iterator().next().get("applied_index"), tail - lastBefore, acked.size(),
        ms(t0) / 1e3);
  }

  private void isolate(String node, List<String> peers) throws Exception {
    ProcessCluster.Res r = cluster.send(node, "POST", "/v1/debug/faults",
        ProcessCluster.JSON.createObjectNode().set("isolate", ProcessCluster.JSON.valueToTree(peers)).toString(),
        REQUEST_TIMEOUT);
    assertEquals(200, r.status(), node + ": " + r.text());
    assertEquals(ProcessCluster.JSON.valueToTree(peers.stream().sorted().toList()), r.json().get("isolated"));
  }

  private String batch(String prefix, int n) {
    batchSizes.put(prefix, n);
    for (int i = 0; i < n; i++) {
      sent.add(prefix + "-" + i);
    }
    ObjectNode b = ProcessCluster.JSON.createObjectNode();
    ArrayNode records = b.putArray("records");
    for (int i = 0; i < n; i++) {
      records.addObject().put("key", prefix + "-" + i).put("value", ClusterChaosIT.valueOf(prefix + "-" + i));
    }
    return b.toString();
  }

  /** Produces {@code n} records with keys {@code prefix-i} through {@code node}, retrying 503s; must get 200 in time. */
  private void produceAcked(String node, String prefix, int n, Duration within) throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    String body = batch(prefix, n);
    while (true) {
      String why;
      try {
        ProcessCluster.Res r = cluster.send(node, "POST", "/v1/topics/" + TOPIC + "/records", body, REQUEST_TIMEOUT);
        if (r.status() == 200) {
          JsonNode offsets = r.json().get("offsets");
          for (int i = 0; i < n; i++) {
            Position p = new Position(offsets.get(i).get("partition").asInt(), offsets.get(i).get("offset").asLong());
            String prev = acked.put(p, prefix + "-" + i);
            assertEquals(null, prev, "two acknowledgements for " + p);
          }
          return;
        }
        assertEquals(503, r.status(), node + ": " + r.text());
        why = r.text();
      } catch (IOException e) {
        why = e.toString();
      }
      if (System.nanoTime() > deadline) {
        fail("no acknowledgement through " + node + " within " + within + ": " + why);
      }
      Thread.sleep(50);
    }
  }

  /**
   * Every node's partitions equal record for record; every acknowledged record at its position;
   * the minority's records on all nodes or on none.
   *
   * @return how many minority records each node holds
   */
  private int checkLogs() throws Exception {
    Map<String, List<List<JsonNode>>> logs = new HashMap<>();
    for (String id : cluster.ids()) {
      List<List<JsonNode>> parts = new ArrayList<>();
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> list = new ArrayList<>();
        cluster.readPartition(id, TOPIC, p, 1000, list::add);
        parts.add(list);
      }
      logs.put(id, parts);
    }
    String ref = cluster.ids().get(0);
    for (String id : cluster.ids()) {
      assertEquals(logs.get(ref), logs.get(id), id + "'s records differ from " + ref + "'s");
    }
    for (Map.Entry<Position, String> e : acked.entrySet()) {
      List<JsonNode> part = logs.get(ref).get(e.getKey().partition());
      assertTrue(e.getKey().offset() < part.size(), "LOST acknowledged " + e.getValue() + " at " + e.getKey());
      JsonNode rec = part.get((int) e.getKey().offset());
      assertEquals(e.getValue(), rec.get("key").asText(), "acknowledged record at " + e.getKey());
      assertEquals(ClusterChaosIT.valueOf(e.getValue()), rec.get("value").asText(), "value at " + e.getKey());
    }
    int minority = 0;
    int total = 0;
    Map<String, Integer> perBatch = new HashMap<>();
    for (List<JsonNode> part : logs.get(ref)) {
      for (JsonNode rec : part) {
        total++;
        String key = rec.get("key").asText();
        assertTrue(sent.contains(key), "a record nobody sent: " + rec);
        if (key.startsWith("minority-late")) {
          fail("a write refused with 503 by the isolated ex-leader is stored: " + rec);
        }
        if (key.startsWith("minority-") || key.startsWith("unreplicated-")) {
          minority++;
          perBatch.merge(key.substring(0, key.lastIndexOf('-')), 1, Integer::sum);
        }
      }
    }
    assertNotEquals(0, total);
    // Besides these, only copies of a batch retried after a 503 could be there; say so if any are.
    if (total != acked.size() + minority) {
      say("%d stored records are neither acknowledged nor the minority's: retried batches", total - acked.size() - minority);
    }
    perBatch.forEach((batch, n) -> assertEquals(batchSizes.get(batch), n,
        "an unacknowledged batch is stored whole (once) or not at all: " + batch));
    return minority;
  }

  private static long ms(long sinceNanos) {
    return (System.nanoTime() - sinceNanos) / 1_000_000;
  }

  private static void say(String format, Object... args) {
    System.out.println("ClusterPartitionIT: " + String.format(format, args));
  }
}
