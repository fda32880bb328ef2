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
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Chaos on real processes: a 3-node cluster started the README way ({@code ./dsync run} with
 * {@code --peers} and {@code --cluster-secret}), one producer thread bound to each node producing
 * batches of {@value #BATCH} records of about 100 B with distinct keys to topic {@value #TOPIC}
 * ({@value #PARTITIONS} partitions) the whole time, and {@value #CYCLES} cycles of: SIGKILL the
 * leader, wait until the other two elect one and a write sent after the kill is acknowledged,
 * restart the killed node on its data dir and ports; then SIGKILL a follower (alternately the one
 * just restarted and the other), wait for an acknowledged write, restart it.
 *
 * <p>Afterwards every node, read from offset 0: holds every acknowledged record at exactly its
 * acknowledged (partition, offset) with the same key and value, has the very same records in the
 * same order per partition as the others, holds nothing that was not produced, and reports the
 * same {@code state_hash} at the same {@code applied_index}. A failed request (refused, reset,
 * timed out, 503) is retried later and may leave a duplicate: counted, allowed.
 *
 * <p>The nodes run with {@code DSYNC_JAVA_OPTS} = {@value #NODE_JAVA_OPTS} (C1 only, serial GC): a
 * node then starts about twice as fast on this 2-core machine, which keeps the 40 restarts of
 * the test within a few minutes; the code under test is the same.
 */
class ClusterChaosIT {
  private static final String TOPIC = "chaos";
  private static final int PARTITIONS = 3;
  private static final int CYCLES = 20;
  private static final int BATCH = 20;
  private static final int VALUE_CHARS = 100;
  /** Pause of a producer after an acknowledged batch: keeps the machine responsive for restarts. */
  private static final long PRODUCE_PAUSE_MS = 20;
  /** Pause before retrying a failed batch. */
  private static final long RETRY_PAUSE_MS = 50;
  /** A bit above the broker's 10 s write timeout. */
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(12);
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration FAILOVER_TIMEOUT = Duration.ofSeconds(20);
  private static final Duration CATCH_UP_TIMEOUT = Duration.ofSeconds(30);
  static final String NODE_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx512m";

  /** Where a record was acknowledged. */
  record Position(int partition, long offset) {}

  /** What one cycle measured, in ms. */
  record Cycle(int n, String leader, long leaderTerm, String newLeader, long electionMs, long leaderFailoverMs,
      long leaderRestartMs, String follower, long followerWriteMs, long followerRestartMs, long totalMs) {}

  private DsyncProcesses processes;
  private ProcessCluster cluster;
  private Path workDir;
  private final List<Thread> producers = new ArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();

  // Producer bookkeeping.
  private final Map<Position, String> acked = new ConcurrentHashMap<>(); // position -> key
  private final Queue<String> problems = new ConcurrentLinkedQueue<>();
  private final LongAdder ackedBatches = new LongAdder();
  private final LongAdder failedRequests = new LongAdder();
  private final Set<String> sentKeys = ConcurrentHashMap.newKeySet();
  /** The latest start time (System.nanoTime) of a request that was acknowledged. */
  private final AtomicLong lastAckedSendStart = new AtomicLong(Long.MIN_VALUE);

  @BeforeEach
  void setUp() throws IOException {
    Path repoRoot = DsyncProcesses.repoRootWithFreshJar();
    workDir = Files.createTempDirectory("dsync-chaos-it-");
    processes = new DsyncProcesses(repoRoot, repoRoot.resolve("http-gateway/target/cluster-chaos-it"),
        Map.of("DSYNC_JAVA_OPTS", NODE_JAVA_OPTS));
    cluster = new ProcessCluster(processes, workDir, 3, List.of());
  }

  @AfterEach
  void tearDown() throws Exception {
    stop.set(true);
    try {
      for (Thread t : producers) {
        t.interrupt();
        t.join(REQUEST_TIMEOUT.toMillis() + 5_000);
      }
    } finally {
      DsyncProcesses.cleanUp(cluster == null ? null : cluster.http, processes, workDir);
    }
  }

  @Test
  @Timeout(value = 540, unit = TimeUnit.SECONDS)
  void everyAcknowledgedRecordSurvivesTwentyLeaderAndFollowerKillsOnEveryNode() throws Exception {
    try {
      run();
    } catch (Throwable t) {
      System.out.println("ClusterChaosIT FAILED: " + t);
      DsyncProcesses.printLogTails(cluster.latestLogs(2), 60);
      throw t;
    }
  }

  private void run() throws Exception {
    long t0 = System.nanoTime();
    ProcessCluster.Leader first = cluster.startAll(cluster.ids(), READY_TIMEOUT, FAILOVER_TIMEOUT);
    say("3 nodes up in %d ms (peers %s); leader %s in term %d", ms(t0), cluster.peersFlag(), first.id(), first.term());
    createTopic(first.id());

    for (int i = 0; i < cluster.ids().size(); i++) {
      String node = cluster.ids().get(i);
      int producer = i;
      Thread t = Thread.ofPlatform().name("producer-" + node).start(() -> produce(producer, node));
      producers.add(t);
    }
    awaitAckAfter(System.nanoTime(), FAILOVER_TIMEOUT, "the first acknowledged batch");

    long chaosStart = System.nanoTime();
    List<Cycle> cycles = new ArrayList<>();
    for (int c = 1; c <= CYCLES; c++) {
      long cycleStart = System.nanoTime();
      // 1. The leader.
      ProcessCluster.Leader leader = cluster.awaitLeader(cluster.ids(), 0, FAILOVER_TIMEOUT);
      List<String> others = cluster.ids().stream().filter(id -> !id.equals(leader.id())).toList();
      long killed = System.nanoTime();
      cluster.kill(leader.id());
      ProcessCluster.Leader next = cluster.awaitLeader(others, leader.term(), FAILOVER_TIMEOUT);
      long electionMs = ms(killed);
      awaitAckAfter(killed, FAILOVER_TIMEOUT, "a write after killing leader " + leader.id());
      long failoverMs = ms(killed);
      long restart = System.nanoTime();
      cluster.start(leader.id());
      cluster.awaitReady(leader.id(), READY_TIMEOUT);
      cluster.awaitCaughtUp(leader.id(), next.id(), CATCH_UP_TIMEOUT);
      long leaderRestartMs = ms(restart);

      // 2. A follower: alternately the node just restarted and the one that stayed up.
      ProcessCluster.Leader now = cluster.awaitLeader(cluster.ids(), 0, FAILOVER_TIMEOUT);
      List<String> followers = cluster.ids().stream().filter(id -> !id.equals(now.id())).toList();
      String follower = followers.contains(leader.id()) && c % 2 == 1 ? leader.id()
          : followers.stream().filter(id -> !id.equals(leader.id())).findFirst().orElse(followers.get(0));
      long fKilled = System.nanoTime();
      cluster.kill(follower);
      awaitAckAfter(fKilled, FAILOVER_TIMEOUT, "a write after killing follower " + follower);
      long followerWriteMs = ms(fKilled);
      long fRestart = System.nanoTime();
      cluster.start(follower);
      cluster.awaitReady(follower, READY_TIMEOUT);
      ProcessCluster.Leader after = cluster.awaitLeader(cluster.ids(), 0, FAILOVER_TIMEOUT);
      cluster.awaitCaughtUp(follower, after.id(), CATCH_UP_TIMEOUT);
      long followerRestartMs = ms(fRestart);

      Cycle cy = new Cycle(c, leader.id(), leader.term(), next.id(), electionMs, failoverMs, leaderRestartMs, follower,
          followerWriteMs, followerRestartMs, ms(cycleStart));
      cycles.add(cy);
      say("cycle %2d: killed leader %s (term %d) -> %s leads in %d ms, first write acked %d ms after the kill, "
          + "%s back and caught up in %d ms; killed follower %s -> write acked in %d ms, back in %d ms; "
          + "cycle %d ms, %d records acked so far", c, cy.leader(), cy.leaderTerm(), cy.newLeader(), cy.electionMs(),
          cy.leaderFailoverMs(), cy.leader(), cy.leaderRestartMs(), cy.follower(), cy.followerWriteMs(),
          cy.followerRestartMs(), cy.totalMs(), acked.size());
      assertTrue(problems.isEmpty(), "producers saw: " + problems);
    }
    long chaosMs = ms(chaosStart);

    // Stop producing; then every node must agree.
    stop.set(true);
    for (Thread t : producers) {
      t.join(REQUEST_TIMEOUT.toMillis() + 5_000);
      assertTrue(!t.isAlive(), t.getName() + " did not stop");
    }
    assertTrue(problems.isEmpty(), "producers saw: " + problems);
    long convergeStart = System.nanoTime();
    Map<String, JsonNode> hashed = cluster.awaitConverged(Duration.ofSeconds(60));
    long convergeMs = ms(convergeStart);
    Set<String> hashes = new HashSet<>();
    Set<Long> indexes = new HashSet<>();
    hashed.values().forEach(s -> {
      hashes.add(s.get("state_hash").asText());
      indexes.add(s.get("applied_index").asLong());
    });
    say("converged in %d ms: %s", convergeMs, hashed.entrySet().stream()
        .map(e -> e.getKey() + " applied_index=" + e.getValue().get("applied_index") + " state_hash="
            + e.getValue().get("state_hash")).toList());
    assertEquals(3, hashed.size());
    assertEquals(1, indexes.size(), "one applied_index on all nodes: " + hashed);
    assertEquals(1, hashes.size(), "one state_hash on all nodes at applied_index " + indexes + ": " + hashed);

    long readStart = System.nanoTime();
    Counts counts = checkLogs();
    long readMs = ms(readStart);

    summary(cycles, chaosMs, counts, readMs, ms(t0));
  }

  // ------------------------------------------------------------------ produce

  /** One producer, bound to {@code node}: sends batches until stopped, retrying a failed batch as is. */
  private void produce(int producer, String node) {
    long batchNo = 0;
    String body = null;
    List<String> keys = null;
    while (!stop.get()) {
      if (body == null) {
        keys = new ArrayList<>(BATCH);
        ObjectNode b = ProcessCluster.JSON.createObjectNode();
        ArrayNode records = b.putArray("records");
        for (int i = 0; i < BATCH; i++) {
          String key = "p" + producer + "-b" + batchNo + "-r" + i;
          keys.add(key);
          records.addObject().put("key", key).put("value", valueOf(key));
        }
        sentKeys.addAll(keys);
        body = b.toString();
        batchNo++;
      }
      long sentAt = System.nanoTime();
      try {
        ProcessCluster.Res r = cluster.send(node, "POST", "/v1/topics/" + TOPIC + "/records", body, REQUEST_TIMEOUT);
        if (r.status() == 200) {
          recordAck(keys, r.json(), node);
          lastAckedSendStart.accumulateAndGet(sentAt, Math::max);
          ackedBatches.increment();
          body = null;
          Thread.sleep(PRODUCE_PAUSE_MS);
          continue;
        }
        if (r.status() != 503 && r.status() != 429) {
          problems.add(node + " answered a produce with " + r.status() + ": " + r.text());
        }
      } catch (IOException e) {
        // refused, reset or timed out: the node is down, restarting, or the write's outcome is unknown
      } catch (InterruptedException e) {
        return;
      }
      failedRequests.increment();
      try {
        Thread.sleep(RETRY_PAUSE_MS);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void recordAck(List<String> keys, JsonNode resp, String node) {
    JsonNode offsets = resp.get("offsets");
    if (offsets == null || offsets.size() != keys.size()) {
      problems.add(node + ": produce answer does not have one offset per record: " + resp);
      return;
    }
    for (int i = 0; i < keys.size(); i++) {
      Position pos = new Position(offsets.get(i).get("partition").asInt(), offsets.get(i).get("offset").asLong());
      String prev = acked.putIfAbsent(pos, keys.get(i));
      if (prev != null) {
        problems.add("two acknowledgements for " + pos + ": " + prev + " and " + keys.get(i));
      }
    }
  }

  /** A value of {@value #VALUE_CHARS} characters that only {@code key} has, so a stored record checks itself. */
  static String valueOf(String key) {
    StringBuilder b = new StringBuilder(VALUE_CHARS).append("value of ").append(key).append(' ');
    long h = key.hashCode();
    while (b.length() < VALUE_CHARS) {
      h = h * 6364136223846793005L + 1442695040888963407L;
      b.append((char) ('a' + Math.floorMod(h >>> 33, 26)));
    }
    return b.toString();
  }

  /** Waits until a produce request that started after {@code since} was acknowledged. */
  private void awaitAckAfter(long since, Duration timeout, String what) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (lastAckedSendStart.get() < since) {
      if (System.nanoTime() > deadline) {
        fail(what + ": no acknowledged write within " + timeout + "; " + cluster.statuses(cluster.ids()));
      }
      assertTrue(problems.isEmpty(), "producers saw: " + problems);
      Thread.sleep(10);
    }
  }

  private void createTopic(String node) throws Exception {
    long deadline = System.nanoTime() + FAILOVER_TIMEOUT.toNanos();
    while (true) {
      ProcessCluster.Res r = cluster.send(node, "POST", "/v1/topics",
          "{\"name\":\"" + TOPIC + "\",\"partitions\":" + PARTITIONS + "}", REQUEST_TIMEOUT);
      if (r.status() == 201) {
        break;
      }
      assertTrue(r.status() == 503 && System.nanoTime() < deadline, "create topic: " + r.status() + " " + r.text());
      Thread.sleep(100);
    }
    for (String id : cluster.ids()) { // applied everywhere before producers start
      long d = System.nanoTime() + FAILOVER_TIMEOUT.toNanos();
      while (cluster.send(id, "GET", "/v1/topics/" + TOPIC, null, REQUEST_TIMEOUT).status() != 200) {
        assertTrue(System.nanoTime() < d, id + " does not show topic " + TOPIC);
        Thread.sleep(20);
      }
    }
  }

  // ------------------------------------------------------------------ read back and check

  record Counts(long stored, List<Long> perPartition, long distinct, long duplicates) {}

  /**
   * Reads every partition of every node from offset 0; the first node is the reference that the
   * acknowledgements are checked against, the others must equal it record for record.
   */
  private Counts checkLogs() throws Exception {
    List<String> ids = cluster.ids();
    String ref = ids.get(0);
    Map<Integer, List<JsonNode>> reference = new HashMap<>();
    List<String> found = new ArrayList<>();
    List<Long> perPartition = new ArrayList<>();
    long stored = 0;
    Set<String> distinct = new HashSet<>();
    for (int p = 0; p < PARTITIONS; p++) {
      List<JsonNode> list = new ArrayList<>();
      int partition = p;
      cluster.readPartition(ref, TOPIC, p, 5_000, rec -> {
        list.add(rec);
        String key = rec.path("key").asText(null);
        if (key == null || !sentKeys.contains(key)) {
          found.add(ref + ": " + TOPIC + "/" + partition + " offset " + rec.get("offset") + " has a key nobody sent: " + key);
        } else if (!rec.path("value").isTextual() || !valueOf(key).equals(rec.get("value").asText())) {
          found.add(ref + ": " + TOPIC + "/" + partition + " offset " + rec.get("offset") + " key " + key
              + " has the wrong value " + rec.get("value"));
        } else {
          distinct.add(key);
        }
      });
      reference.put(p, list);
      perPartition.add((long) list.size());
      stored += list.size();
    }
    // Every acknowledged record at its acknowledged position.
    for (Map.Entry<Position, String> e : acked.entrySet()) {
      List<JsonNode> list = reference.get(e.getKey().partition());
      long off = e.getKey().offset();
      if (off >= list.size()) {
        found.add("LOST: acknowledged " + e.getValue() + " at " + e.getKey() + " but " + ref + "'s partition holds "
            + list.size());
      } else if (!e.getValue().equals(list.get((int) off).path("key").asText(null))) {
        found.add("acknowledged " + e.getValue() + " at " + e.getKey() + " but " + ref + " has " + list.get((int) off));
      }
    }
    // The other nodes: the very same records in the same order.
    for (String id : ids.subList(1, ids.size())) {
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> want = reference.get(p);
        int partition = p;
        long[] i = {0};
        long n = cluster.readPartition(id, TOPIC, p, 5_000, rec -> {
          int at = (int) i[0]++;
          if (at >= want.size()) {
            found.add(id + ": " + TOPIC + "/" + partition + " has an extra record " + rec + " beyond " + ref + "'s "
                + want.size());
          } else if (!want.get(at).equals(rec)) {
            found.add(id + ": " + TOPIC + "/" + partition + " offset " + at + " is " + rec + " but on " + ref + " "
                + want.get(at));
          }
        });
        if (n != want.size()) {
          found.add(id + ": " + TOPIC + "/" + partition + " holds " + n + " records, " + ref + " " + want.size());
        }
      }
    }
    if (!found.isEmpty()) {
      fail(found.size() + " problem(s) reading the logs back; first ones:\n  "
          + String.join("\n  ", found.subList(0, Math.min(20, found.size()))));
    }
    // Every node's topic description agrees with what was read.
    for (String id : ids) {
      JsonNode parts = cluster.getJson(id, "/v1/topics/" + TOPIC).get("partition_offsets");
      for (int p = 0; p < PARTITIONS; p++) {
        assertEquals(0, parts.get(p).get("start_offset").asLong(), id + " partition " + p + " start_offset");
        assertEquals(perPartition.get(p), parts.get(p).get("end_offset").asLong(), id + " partition " + p + " end_offset");
      }
    }
    return new Counts(stored, perPartition, distinct.size(), stored - distinct.size());
  }

  private void summary(List<Cycle> cycles, long chaosMs, Counts counts, long readMs, long totalMs) {
    say("summary: %d cycles (%d leader kills + %d follower kills) in %.1f s; acked=%d records in %d batches, "
        + "stored=%d per node (partitions %s), distinct=%d, duplicates=%d, failed requests retried=%d; "
        + "read back 3 nodes in %.1f s; whole test %.1f s", cycles.size(), cycles.size(), cycles.size(),
        chaosMs / 1e3, acked.size(), ackedBatches.sum(), counts.stored(), counts.perPartition(), counts.distinct(),
        counts.duplicates(), failedRequests.sum(), readMs / 1e3, totalMs / 1e3);
    say("leader kill -> new leader (ms): %s", stats(cycles.stream().mapToLong(Cycle::electionMs).toArray()));
    say("leader kill -> first acked write (ms): %s", stats(cycles.stream().mapToLong(Cycle::leaderFailoverMs).toArray()));
    say("follower kill -> first acked write (ms): %s", stats(cycles.stream().mapToLong(Cycle::followerWriteMs).toArray()));
    say("restart -> ready and caught up (ms): %s", stats(cycles.stream()
        .flatMapToLong(c -> java.util.stream.LongStream.of(c.leaderRestartMs(), c.followerRestartMs())).toArray()));
  }

  private static String stats(long[] v) {
    long[] s = v.clone();
    java.util.Arrays.sort(s);
    return String.format("min %d, median %d, max %d; all %s", s[0], s[s.length / 2], s[s.length - 1],
        java.util.Arrays.toString(v));
  }

  private static long ms(long sinceNanos) {
    return (System.nanoTime() - sinceNanos) / 1_000_000;
  }

  private static void say(String format, Object... args) {
    System.out.println("ClusterChaosIT: " + String.format(format, args));
  }
}
