package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * At-least-once queue consumption under failure, on real processes: a 3-node cluster started the
 * README way ({@link ProcessCluster}), topic {@value #TOPIC} with {@value #PARTITIONS} partitions
 * and {@code delivery_limit} {@value #DELIVERY_LIMIT}. For {@value #CHAOS_SECONDS} s, at once:
 *
 * <ul>
 *   <li>{@value #PRODUCERS} producers send batches of {@value #BATCH} records with unique keys
 *       through random running nodes, retrying a failed batch (503, refused, reset, timed out) with
 *       the same records; only acknowledged records are counted as produced, a batch whose outcome
 *       stayed unknown may or may not be in the topic, and a retried batch may be there twice;
 *   <li>{@value #CONSUMERS} consumers of one queue group lease batches ({@code max_records}
 *       {@value #MAX_RECORDS}, {@code visibility_timeout_ms} {@value #VISIBILITY_MS}, {@code
 *       max_wait_ms} {@value #MAX_WAIT_MS}) through random running nodes and ack them; with
 *       probability {@value #DROP_PROBABILITY} a consumer "crashes" and drops the leased batch
 *       without acking, so those records must come back with a higher {@code delivery_count}; one
 *       record in every {@value #POISON_EVERY} batches is poison, never acked, so it must end in
 *       the dead-letter topic after {@value #DELIVERY_LIMIT} deliveries;
 *   <li>a node is SIGKILLed every few seconds (the leader every other time), restarted on its data
 *       dir after a short delay, and caught up before the next kill: never two down at once.
 * </ul>
 *
 * <p>Then producers stop, consumers stop dropping and drain until no record was delivered for a
 * visibility timeout and more. Every record in the topic (read back from offset 0), in particular
 * every acknowledged produced record and every stored record of a batch whose outcome was unknown,
 * must have been acked by a consumer or be in {@code {topic}.dlq} with provenance headers naming
 * it; nothing is silently dropped. Every drop came back (redelivered with a higher delivery count,
 * or dead-lettered); no record is delivered again after a confirmed ack; the running nodes converge
 * to one state hash.
 *
 * <p>Acks whose answer was lost (the node died, a 503 after forwarding) are retried; a retry that
 * answers "unknown" while the lease is still live by the wall clock (one machine: the leader stamps
 * entries with the same clock) proves that an earlier attempt acked it. An ack whose outcome stays
 * unknown is counted as acked only if its record was never delivered again nor dead-lettered
 * afterwards (otherwise the redelivery must be acked); their number is printed.
 */
class QueueAtLeastOnceIT {
  private static final String TOPIC = "alo";
  private static final String DLQ = TOPIC + ".dlq";
  private static final String GROUP = "workers";
  private static final int PARTITIONS = 3;
  private static final int DELIVERY_LIMIT = 3;
  private static final int CHAOS_SECONDS = 45;
  private static final int PRODUCERS = 2;
  private static final int CONSUMERS = 3;
  private static final int BATCH = 10;
  private static final int MAX_RECORDS = 20;
  private static final long VISIBILITY_MS = 2_000;
  private static final long MAX_WAIT_MS = 500;
  private static final double DROP_PROBABILITY = 0.1;
  private static final int POISON_EVERY = 25;
  /** Pause of a producer after an acknowledged batch: keeps the 2-core machine responsive for restarts. */
  private static final long PRODUCE_PAUSE_MS = 40;
  private static final long RETRY_PAUSE_MS = 50;
  /** A bit above the broker's 10 s write timeout (plus a lease's long poll). */
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(12);
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration FAILOVER_TIMEOUT = Duration.ofSeconds(20);
  private static final Duration CATCH_UP_TIMEOUT = Duration.ofSeconds(30);
  /** Drained: no delivery and no lease with an unknown outcome for this long (every lease expired since). */
  private static final long QUIET_MS = VISIBILITY_MS + 3_000;
  private static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(60);
  /** An ack retried this long without an answer gives up (its outcome stays unknown). */
  private static final long ACK_GIVE_UP_MS = 15_000;

  record Position(int partition, long offset) implements Comparable<Position> {
    @Override
    public int compareTo(Position o) {
      int c = Integer.compare(partition, o.partition);
      return c != 0 ? c : Long.compare(offset, o.offset);
    }

    @Override
    public String toString() {
      return partition + "/" + offset;
    }
  }

  /** One delivery a consumer saw. */
  record Delivery(Position pos, String key, int deliveryCount, String leaseId, long leaseExpiresMs, String node) {}

  /** What became of an ack of one delivery, as far as the consumer can tell. */
  enum AckOutcome {
    /** The answer counted it as acked. */
    CONFIRMED,
    /** A retry answered "unknown" while the lease was still live: an earlier attempt acked it. */
    INFERRED,
    /** Answered "unknown" and no earlier attempt can have acked it: the lease had expired. */
    REFUSED,
    /** No attempt can have reached the leader: not acked. */
    NOT_SENT,
    /** An attempt may have acked it, and no answer said which. */
    AMBIGUOUS
  }

  /** One SIGKILL. */
  record Kill(int n, String node, boolean leader, long downMs, long backMs) {}

  private DsyncProcesses processes;
  private ProcessCluster cluster;
  private Path workDir;
  private final List<Thread> threads = new ArrayList<>();
  private final AtomicBoolean producing = new AtomicBoolean(true);
  private final AtomicBoolean dropping = new AtomicBoolean(true);
  private final AtomicBoolean consuming = new AtomicBoolean(true);
  private final Queue<String> problems = new ConcurrentLinkedQueue<>();
  /** Failed requests by what failed and how ("lease 503 no-leader", "ack reset", ...). */
  private final Map<String, LongAdder> failures = new ConcurrentHashMap<>();

  // Producer bookkeeping.
  private final Map<String, Position> produced = new ConcurrentHashMap<>(); // acknowledged key -> position
  private final Map<Position, String> producedAt = new ConcurrentHashMap<>();
  private final Set<String> sentKeys = ConcurrentHashMap.newKeySet();
  private final Set<String> poisonKeys = ConcurrentHashMap.newKeySet();
  /** Keys of batches never acknowledged that some attempt may have written. */
  private final Set<String> unknownKeys = ConcurrentHashMap.newKeySet();
  private final LongAdder producedBatches = new LongAdder();
  private final LongAdder produceRetries = new LongAdder();

  // Consumer bookkeeping.
  private final Map<Position, List<Delivery>> deliveries = new ConcurrentHashMap<>();
  private final Map<String, AckOutcome> acks = new ConcurrentHashMap<>(); // lease id -> outcome
  private final Queue<Delivery> dropped = new ConcurrentLinkedQueue<>();
  private final LongAdder leases = new LongAdder();
  private final LongAdder emptyLeases = new LongAdder();
  private final LongAdder failedLeases = new LongAdder();
  private final LongAdder crashes = new LongAdder();
  private final LongAdder ackRetries = new LongAdder();
  private final AtomicLong lastDeliveryNanos = new AtomicLong(System.nanoTime());
  /** The latest start of a lease request that may have leased records whose answer was lost. */
  private final AtomicLong lastUnknownLeaseNanos = new AtomicLong(System.nanoTime());

  @BeforeEach
  void setUp() throws IOException {
    Path repoRoot = DsyncProcesses.repoRootWithFreshJar();
    workDir = Files.createTempDirectory("dsync-queue-alo-it-");
    processes = new DsyncProcesses(repoRoot, repoRoot.resolve("http-gateway/target/queue-at-least-once-it"),
        Map.of("DSYNC_JAVA_OPTS", ClusterChaosIT.NODE_JAVA_OPTS));
    cluster = new ProcessCluster(processes, workDir, 3, List.of());
  }

  @AfterEach
  void tearDown() throws Exception {
    producing.set(false);
    consuming.set(false);
    try {
      for (Thread t : threads) {
        t.interrupt();
        t.join(REQUEST_TIMEOUT.toMillis() + 5_000);
      }
    } finally {
      DsyncProcesses.cleanUp(cluster == null ? null : cluster.http, processes, workDir);
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void everyRecordIsAckedOrDeadLetteredThroughConsumerCrashesAndNodeKills() throws Exception {
    try {
      run();
    } catch (Throwable t) {
      System.out.println("QueueAtLeastOnceIT FAILED: " + t);
      DsyncProcesses.printLogTails(cluster.latestLogs(2), 60);
      throw t;
    }
  }

  private void run() throws Exception {
    long t0 = System.nanoTime();
    ProcessCluster.Leader first = cluster.startAll(cluster.ids(), READY_TIMEOUT, FAILOVER_TIMEOUT);
    say("3 nodes up in %d ms; leader %s in term %d", ms(t0), first.id(), first.term());
    createTopic(first.id());

    for (int i = 0; i < PRODUCERS; i++) {
      int p = i;
      threads.add(Thread.ofPlatform().name("alo-producer-" + p).start(() -> produce(p)));
    }
    for (int i = 0; i < CONSUMERS; i++) {
      int c = i;
      threads.add(Thread.ofPlatform().name("alo-consumer-" + c).start(() -> consume(c)));
    }

    // Chaos: a kill every few seconds, the leader every other time; never two down.
    long chaosStart = System.nanoTime();
    long chaosEnd = chaosStart + TimeUnit.SECONDS.toNanos(CHAOS_SECONDS);
    List<Kill> kills = new ArrayList<>();
    int leaderKills = 0;
    while (System.nanoTime() < chaosEnd || leaderKills < 2) {
      Thread.sleep(ThreadLocalRandom.current().nextLong(2_000, 3_500));
      checkProblems();
      boolean killLeader = kills.size() % 2 == 0;
      ProcessCluster.Leader leader = cluster.awaitLeader(cluster.ids(), 0, FAILOVER_TIMEOUT);
      List<String> followers = cluster.ids().stream().filter(id -> !id.equals(leader.id())).toList();
      String victim = killLeader ? leader.id() : followers.get(ThreadLocalRandom.current().nextInt(followers.size()));
      long killed = System.nanoTime();
      cluster.kill(victim);
      Thread.sleep(ThreadLocalRandom.current().nextLong(1_000, 2_000));
      long downMs = ms(killed);
      long restart = System.nanoTime();
      cluster.start(victim);
      cluster.awaitReady(victim, READY_TIMEOUT);
      ProcessCluster.Leader now = cluster.awaitLeader(cluster.ids(), 0, FAILOVER_TIMEOUT);
      cluster.awaitCaughtUp(victim, now.id(), CATCH_UP_TIMEOUT);
      Kill k = new Kill(kills.size() + 1, victim, killLeader, downMs, ms(restart));
      kills.add(k);
      leaderKills += killLeader ? 1 : 0;
      say("kill %d: %s %s (term %d) down %d ms, back and caught up in %d ms; leader now %s; %d records produced, "
          + "%d deliveries so far", k.n(), killLeader ? "leader" : "follower", victim, leader.term(), k.downMs(),
          k.backMs(), now.id(), produced.size(), deliveryCount());
    }
    long chaosMs = ms(chaosStart);

    // Stop producing and crashing; drain.
    producing.set(false);
    dropping.set(false);
    for (Thread t : threads.subList(0, PRODUCERS)) {
      t.join(REQUEST_TIMEOUT.toMillis() + 5_000);
      assertTrue(!t.isAlive(), t.getName() + " did not stop");
    }
    long drainStart = System.nanoTime();
    long drainDeadline = drainStart + DRAIN_TIMEOUT.toNanos();
    while (true) {
      checkProblems();
      long quietSince = Math.max(lastDeliveryNanos.get(), lastUnknownLeaseNanos.get());
      if (System.nanoTime() - quietSince >= TimeUnit.MILLISECONDS.toNanos(QUIET_MS)) {
        break;
      }
      if (System.nanoTime() > drainDeadline) {
        fail("consumers did not drain within " + DRAIN_TIMEOUT + ": last delivery " + ms(lastDeliveryNanos.get())
            + " ms ago; " + cluster.statuses(cluster.ids()));
      }
      Thread.sleep(100);
    }
    consuming.set(false);
    for (Thread t : threads.subList(PRODUCERS, threads.size())) {
      t.join(ACK_GIVE_UP_MS + REQUEST_TIMEOUT.toMillis() + 5_000);
      assertTrue(!t.isAlive(), t.getName() + " did not stop");
    }
    long drainMs = ms(drainStart);
    checkProblems();

    // One state on every node.
    Map<String, JsonNode> hashed = cluster.awaitConverged(Duration.ofSeconds(60));
    Set<String> hashes = new HashSet<>();
    hashed.values().forEach(s -> hashes.add(s.get("state_hash").asText()));
    say("converged: %s", hashed.entrySet().stream().map(e -> e.getKey() + " applied_index="
        + e.getValue().get("applied_index") + " state_hash=" + e.getValue().get("state_hash")).toList());
    assertEquals(3, hashed.size(), "all three nodes run: " + hashed.keySet());
    assertEquals(1, hashes.size(), "one state_hash on all nodes: " + hashed);

    check(kills, chaosMs, drainMs, ms(t0));
  }

  // ------------------------------------------------------------------ produce

  private void produce(int producer) {
    long batchNo = 0;
    String body = null;
    List<String> keys = null;
    boolean maybeWritten = false;
    while (producing.get()) {
      if (body == null) {
        keys = new ArrayList<>(BATCH);
        ObjectNode b = ProcessCluster.JSON.createObjectNode();
        ArrayNode records = b.putArray("records");
        for (int i = 0; i < BATCH; i++) {
          boolean poison = i == 0 && batchNo % POISON_EVERY == POISON_EVERY - 1;
          String key = "p" + producer + "-b" + batchNo + "-r" + i + (poison ? "-poison" : "");
          if (poison) {
            poisonKeys.add(key);
          }
          keys.add(key);
          records.addObject().put("key", key).put("value", ClusterChaosIT.valueOf(key));
        }
        sentKeys.addAll(keys);
        body = b.toString();
        batchNo++;
        maybeWritten = false;
      }
      String node = randomRunning();
      if (node == null) {
        pause(RETRY_PAUSE_MS);
        continue;
      }
      try {
        ProcessCluster.Res r = cluster.send(node, "POST", "/v1/topics/" + TOPIC + "/records", body, REQUEST_TIMEOUT);
        if (r.status() == 200) {
          recordProduced(keys, r.json(), node);
          producedBatches.increment();
          body = null;
          pause(PRODUCE_PAUSE_MS);
          continue;
        }
        if (r.status() != 503 && r.status() != 429) {
          problems.add(node + " answered a produce with " + r.status() + ": " + r.text());
        }
        failed("produce", r);
        maybeWritten = true; // a 503 may come after the entry was appended (leader lost, write timed out)
      } catch (ConnectException e) {
        failed("produce", e); // refused: the node is down or not listening yet; nothing was sent
      } catch (IOException e) {
        failed("produce", e);
        maybeWritten = true; // reset or timed out: the outcome is unknown
      } catch (InterruptedException e) {
        break;
      }
      produceRetries.increment();
      pause(RETRY_PAUSE_MS);
    }
    if (body != null && maybeWritten) {
      unknownKeys.addAll(keys);
    }
  }

  private void recordProduced(List<String> keys, JsonNode resp, String node) {
    JsonNode offsets = resp.get("offsets");
    if (offsets == null || offsets.size() != keys.size()) {
      problems.add(node + ": produce answer does not have one offset per record: " + resp);
      return;
    }
    for (int i = 0; i < keys.size(); i++) {
      Position pos = new Position(offsets.get(i).get("partition").asInt(), offsets.get(i).get("offset").asLong());
      String prev = producedAt.putIfAbsent(pos, keys.get(i));
      if (prev != null) {
        problems.add("two produce acknowledgements for " + pos + ": " + prev + " and " + keys.get(i));
      }
      produced.put(keys.get(i), pos);
    }
  }

  // ------------------------------------------------------------------ consume

  private void consume(int consumer) {
    String body = ProcessCluster.JSON.createObjectNode().put("group", GROUP).put("max_records", MAX_RECORDS)
        .put("visibility_timeout_ms", VISIBILITY_MS).put("max_wait_ms", MAX_WAIT_MS).toString();
    while (consuming.get()) {
      String node = randomRunning();
      if (node == null) {
        pause(RETRY_PAUSE_MS);
        continue;
      }
      long sent = System.nanoTime();
      ProcessCluster.Res r;
      try {
        r = cluster.send(node, "POST", "/v1/topics/" + TOPIC + "/leases", body, REQUEST_TIMEOUT);
      } catch (ConnectException e) {
        failed("lease", e);
        failedLeases.increment();
        pause(RETRY_PAUSE_MS);
        continue;
      } catch (IOException e) {
        failed("lease", e);
        failedLeases.increment();
        lastUnknownLeaseNanos.accumulateAndGet(sent, Math::max); // may have leased records nobody saw
        pause(RETRY_PAUSE_MS);
        continue;
      } catch (InterruptedException e) {
        return;
      }
      if (r.status() == 503 || r.status() == 429) {
        failed("lease", r);
        failedLeases.increment();
        lastUnknownLeaseNanos.accumulateAndGet(sent, Math::max);
        pause(RETRY_PAUSE_MS);
        continue;
      }
      if (r.status() != 200) {
        problems.add(node + " answered a lease with " + r.status() + ": " + r.text());
        pause(RETRY_PAUSE_MS);
        continue;
      }
      leases.increment();
      JsonNode records = r.json().get("records");
      if (records.isEmpty()) {
        emptyLeases.increment();
        continue;
      }
      lastDeliveryNanos.accumulateAndGet(System.nanoTime(), Math::max);
      List<Delivery> got = new ArrayList<>();
      for (JsonNode rec : records) {
        String key = rec.path("key").asText(null);
        Delivery d = new Delivery(new Position(rec.get("partition").asInt(), rec.get("offset").asLong()), key,
            rec.get("delivery_count").asInt(), rec.get("lease_id").asText(), rec.get("lease_expires_ms").asLong(), node);
        if (key == null || !sentKeys.contains(key) || !ClusterChaosIT.valueOf(key).equals(rec.path("value").asText())) {
          problems.add(node + " leased a record nobody sent: " + rec);
        }
        deliveries.computeIfAbsent(d.pos(), p -> Collections.synchronizedList(new ArrayList<>())).add(d);
        got.add(d);
      }
      if (dropping.get() && ThreadLocalRandom.current().nextDouble() < DROP_PROBABILITY) {
        crashes.increment(); // the consumer "died" holding the batch: nothing is acked
        dropped.addAll(got);
        continue;
      }
      List<Delivery> toAck = new ArrayList<>();
      for (Delivery d : got) {
        if (poisonKeys.contains(d.key())) {
          dropped.add(d); // never acked: must end in the dead-letter topic
        } else {
          toAck.add(d);
        }
      }
      if (!toAck.isEmpty() && !ack(toAck)) {
        return;
      }
    }
  }

  /**
   * Acks {@code ds} through random running nodes, retrying until an answer says which were acked.
   *
   * @return false if interrupted
   */
  private boolean ack(List<Delivery> ds) {
    ArrayNode ids = ProcessCluster.JSON.createArrayNode();
    ds.forEach(d -> ids.add(d.leaseId()));
    ObjectNode b = ProcessCluster.JSON.createObjectNode().put("group", GROUP);
    b.set("lease_ids", ids);
    String body = b.toString();
    boolean maybeApplied = false;
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ACK_GIVE_UP_MS);
    for (int attempt = 0; ; attempt++) {
      if (attempt > 0) {
        ackRetries.increment();
        if (!pause(RETRY_PAUSE_MS)) {
          settleAll(ds, maybeApplied ? AckOutcome.AMBIGUOUS : AckOutcome.NOT_SENT);
          return false;
        }
      }
      if (System.nanoTime() > deadline) {
        settleAll(ds, maybeApplied ? AckOutcome.AMBIGUOUS : AckOutcome.NOT_SENT);
        return true;
      }
      String node = randomRunning();
      if (node == null) {
        continue;
      }
      ProcessCluster.Res r;
      try {
        r = cluster.send(node, "POST", "/v1/topics/" + TOPIC + "/acks", body, REQUEST_TIMEOUT);
      } catch (ConnectException e) {
        failed("ack", e);
        continue; // nothing sent
      } catch (IOException e) {
        failed("ack", e);
        maybeApplied = true;
        continue;
      } catch (InterruptedException e) {
        settleAll(ds, AckOutcome.AMBIGUOUS);
        return false;
      }
      if (r.status() == 503 || r.status() == 429) {
        failed("ack", r);
        maybeApplied = true; // may come after the entry was appended
        continue;
      }
      if (r.status() != 200) {
        problems.add(node + " answered an ack with " + r.status() + ": " + r.text());
        settleAll(ds, AckOutcome.AMBIGUOUS);
        return true;
      }
      long answeredMs = System.currentTimeMillis();
      Set<String> unknown = new HashSet<>();
      r.json().get("unknown").forEach(u -> unknown.add(u.asText()));
      int confirmed = 0;
      for (Delivery d : ds) {
        AckOutcome o;
        if (!unknown.contains(d.leaseId())) {
          o = AckOutcome.CONFIRMED;
          confirmed++;
        } else if (!maybeApplied) {
          o = AckOutcome.REFUSED;
        } else if (answeredMs < d.leaseExpiresMs() - 50) {
          // The answering entry was stamped before now (one clock), so the lease was live: only an
          // earlier attempt's ack makes a live lease unknown.
          o = AckOutcome.INFERRED;
        } else {
          o = AckOutcome.AMBIGUOUS;
        }
        acks.put(d.leaseId(), o);
      }
      if (r.json().get("acked").asInt() != confirmed) {
        problems.add(node + ": ack answer " + r.text() + " counts " + r.json().get("acked") + " but leaves " + confirmed
            + " of " + ds.size() + " ids out of 'unknown'");
      }
      return true;
    }
  }

  private void settleAll(List<Delivery> ds, AckOutcome o) {
    ds.forEach(d -> acks.put(d.leaseId(), o));
  }

  // ------------------------------------------------------------------ the checks

  /** A dead-lettered copy as read from the dead-letter topic. */
  record DeadLetter(long dlqOffset, Position source, String key, int deliveryCount, String reason) {}

  private void check(List<Kill> kills, long chaosMs, long drainMs, long totalMs) throws Exception {
    String ref = cluster.ids().get(0); // all nodes hold one state (same hash): one is enough to read
    List<String> found = new ArrayList<>();

    // The topic as stored.
    TreeMap<Position, String> stored = new TreeMap<>();
    Map<String, Integer> copies = new HashMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      int partition = p;
      cluster.readPartition(ref, TOPIC, p, 5_000, rec -> {
        String key = rec.path("key").asText(null);
        stored.put(new Position(partition, rec.get("offset").asLong()), key);
        copies.merge(key, 1, Integer::sum);
        if (key == null || !sentKeys.contains(key) || !ClusterChaosIT.valueOf(key).equals(rec.path("value").asText())) {
          found.add(TOPIC + "/" + partition + " holds a record nobody sent: " + rec);
        }
      });
    }

    // The dead letters, with their provenance.
    Map<Position, DeadLetter> dead = new TreeMap<>();
    cluster.readPartition(ref, DLQ, 0, 5_000, rec -> {
      JsonNode h = rec.path("headers");
      String key = rec.path("key").asText(null);
      DeadLetter d;
      try {
        d = new DeadLetter(rec.get("offset").asLong(), new Position(Integer.parseInt(h.path("dsync-source-partition").asText()),
            Long.parseLong(h.path("dsync-source-offset").asText())), key,
            Integer.parseInt(h.path("dsync-delivery-count").asText()), h.path("dsync-dlq-reason").asText());
      } catch (NumberFormatException e) {
        found.add(DLQ + " record without numeric provenance headers: " + rec);
        return;
      }
      if (!TOPIC.equals(h.path("dsync-source-topic").asText()) || !GROUP.equals(h.path("dsync-dlq-group").asText())) {
        found.add(DLQ + " record from another topic or group: " + rec);
      }
      // Only expiries dead-letter here (nothing is released or rejected), at the delivery limit.
      if (!"expired".equals(d.reason()) || d.deliveryCount() != DELIVERY_LIMIT) {
        found.add(DLQ + " record not 'expired' at delivery count " + DELIVERY_LIMIT + ": " + rec);
      }
      if (!java.util.Objects.equals(stored.get(d.source()), key)) {
        found.add(DLQ + " record " + rec + " does not match the source record at " + d.source() + ": "
            + stored.get(d.source()));
      } else if (!ClusterChaosIT.valueOf(key).equals(rec.path("value").asText())) {
        found.add(DLQ + " record with another value than its source: " + rec);
      }
      if (dead.put(d.source(), d) != null) {
        found.add(d.source() + " dead-lettered twice for one group: " + rec);
      }
    });

    // Every stored record: acked, dead-lettered, or (with an ack whose outcome nobody saw) never seen again.
    int acked = 0;
    int inferred = 0;
    int unseenAck = 0;
    int deadLettered = 0;
    int deliveredAfterAck = 0;
    long extraDeliveries = 0;
    int positionsAckedTwice = 0;
    for (Map.Entry<Position, String> e : stored.entrySet()) {
      Position pos = e.getKey();
      List<Delivery> ds = new ArrayList<>(deliveries.getOrDefault(pos, List.of()));
      ds.sort(java.util.Comparator.comparingInt(Delivery::deliveryCount));
      extraDeliveries += Math.max(0, ds.size() - 1);
      Set<Integer> counts = new HashSet<>();
      for (Delivery d : ds) {
        if (!counts.add(d.deliveryCount()) || d.deliveryCount() < 1 || d.deliveryCount() > DELIVERY_LIMIT) {
          found.add(pos + " delivered with delivery_count " + d.deliveryCount() + " (twice, or outside 1.."
              + DELIVERY_LIMIT + "): " + ds);
        }
        if (!e.getValue().equals(d.key())) {
          found.add(pos + " holds " + e.getValue() + " but was leased as " + d);
        }
      }
      DeadLetter dl = dead.get(pos);
      int ackedHere = 0;
      boolean anyAck = false;
      for (int i = 0; i < ds.size(); i++) {
        AckOutcome o = acks.get(ds.get(i).leaseId());
        if (o == AckOutcome.CONFIRMED || o == AckOutcome.INFERRED) {
          ackedHere++;
          anyAck = true;
          inferred += o == AckOutcome.INFERRED ? 1 : 0;
          if (i < ds.size() - 1 || dl != null) {
            deliveredAfterAck++;
            found.add(pos + " delivered again or dead-lettered after its ack (" + o + ") of " + ds.get(i) + ": " + ds
                + (dl == null ? "" : ", dead letter " + dl));
          }
        }
      }
      positionsAckedTwice += ackedHere > 1 ? 1 : 0;
      boolean poison = poisonKeys.contains(e.getValue());
      if (dl != null) {
        deadLettered++;
        int maxSeen = ds.isEmpty() ? 0 : ds.get(ds.size() - 1).deliveryCount();
        if (maxSeen > dl.deliveryCount()) {
          found.add(pos + " dead-lettered at delivery count " + dl.deliveryCount() + " but delivered " + ds);
        }
      } else if (poison) {
        found.add("poison record " + e.getValue() + " at " + pos + " (never acked) is not in " + DLQ + "; deliveries "
            + ds + " " + outcomes(ds));
      } else if (anyAck) {
        acked++;
      } else if (!ds.isEmpty() && acks.get(ds.get(ds.size() - 1).leaseId()) == AckOutcome.AMBIGUOUS) {
        acked++;
        unseenAck++;
      } else {
        found.add("LOST: " + e.getValue() + " at " + pos + " is neither acked nor dead-lettered; deliveries " + ds + " "
            + outcomes(ds) + (producedAt.containsKey(pos) ? " (acknowledged produce)" : " (produce outcome unknown)"));
      }
    }

    // Every dead letter names a stored record.
    for (DeadLetter d : dead.values()) {
      if (!stored.containsKey(d.source())) {
        found.add(DLQ + " names " + d.source() + ", which " + TOPIC + " does not hold: " + d);
      }
    }

    // Every acknowledged produced record is stored where it was acknowledged (and so checked above).
    for (Map.Entry<String, Position> e : produced.entrySet()) {
      if (!e.getKey().equals(stored.get(e.getValue()))) {
        found.add("LOST: acknowledged produce of " + e.getKey() + " at " + e.getValue() + " but " + TOPIC + " holds "
            + stored.get(e.getValue()));
      }
    }

    // Every drop came back: delivered again with a higher count, or dead-lettered.
    int redelivered = 0;
    int redeliveredPlusOne = 0;
    int droppedToDlq = 0;
    for (Delivery d : dropped) {
      List<Delivery> ds = deliveries.getOrDefault(d.pos(), List.of());
      int next = ds.stream().mapToInt(Delivery::deliveryCount).filter(c -> c > d.deliveryCount()).min().orElse(0);
      if (next > 0) {
        redelivered++;
        redeliveredPlusOne += next == d.deliveryCount() + 1 ? 1 : 0;
      } else if (dead.containsKey(d.pos())) {
        droppedToDlq++;
      } else {
        found.add("dropped " + d + " never came back and is not in " + DLQ);
      }
    }

    long unknownStored = unknownKeys.stream().filter(copies::containsKey).count();
    Map<String, Integer> ackedPerKey = new HashMap<>();
    Set<String> deliveredKeys = new HashSet<>();
    for (List<Delivery> ds : deliveries.values()) {
      for (Delivery d : ds) {
        deliveredKeys.add(d.key());
        AckOutcome o = acks.get(d.leaseId());
        if (o == AckOutcome.CONFIRMED || o == AckOutcome.INFERRED) {
          ackedPerKey.merge(d.key(), 1, Integer::sum);
        }
      }
    }
    long keysAckedTwice = ackedPerKey.values().stream().filter(n -> n > 1).count();
    long storedDuplicates = copies.values().stream().mapToLong(n -> n - 1).sum();
    Map<AckOutcome, Long> outcomeCounts = new TreeMap<>();
    acks.values().forEach(o -> outcomeCounts.merge(o, 1L, Long::sum));
    long leaderKills = kills.stream().filter(Kill::leader).count();

    say("summary: %d kills (%d of the leader) in %.1f s of chaos: %s", kills.size(), leaderKills, chaosMs / 1e3,
        kills.stream().map(k -> k.node() + (k.leader() ? "(L)" : "") + " down " + k.downMs() + " ms").toList());
    say("produced: %d records acknowledged in %d batches, %d retries; %d keys of unacknowledged batches with an "
        + "unknown outcome, %d of them stored; stored %d records, %d of them never acknowledged to a producer (an "
        + "earlier attempt of a retried batch, or an unknown outcome), %d copies beyond the first of a key; %d poison",
        produced.size(), producedBatches.sum(), produceRetries.sum(), unknownKeys.size(), unknownStored, stored.size(),
        stored.keySet().stream().filter(pos -> !producedAt.containsKey(pos)).count(), storedDuplicates,
        poisonKeys.size());
    say("consumed: %d leases (%d empty, %d failed), %d deliveries of %d records with %d keys (%d beyond the first "
        + "per record, %d beyond the first per key), %d consumer crashes; acks %s, %d ack retries", leases.sum(),
        emptyLeases.sum(), failedLeases.sum(), deliveryCount(), deliveries.size(), deliveredKeys.size(),
        extraDeliveries, deliveryCount() - deliveredKeys.size(), crashes.sum(), outcomeCounts, ackRetries.sum());
    say("outcome: %d acked (%d of them known through a retry, %d with an ack whose outcome was never seen and no "
        + "later delivery), %d dead-lettered (%d in %s), %d keys acked more than once, %d records acked twice, "
        + "%d delivered again after an ack", acked, inferred, unseenAck, deadLettered, dead.size(), DLQ, keysAckedTwice,
        positionsAckedTwice, deliveredAfterAck);
    say("drops: %d dropped deliveries: %d redelivered (%d with delivery_count + 1), %d dead-lettered", dropped.size(),
        redelivered, redeliveredPlusOne, droppedToDlq);
    say("failed requests: %s", new TreeMap<>(failures).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
        .toList());
    say("duration: chaos %.1f s, drain %.1f s, whole test %.1f s", chaosMs / 1e3, drainMs / 1e3, totalMs / 1e3);

    if (!found.isEmpty()) {
      fail(found.size() + " problem(s); first ones:\n  " + String.join("\n  ", found.subList(0, Math.min(20, found.size()))));
    }
    assertTrue(leaderKills >= 2, "the leader was killed at least twice: " + kills);
    assertTrue(!poisonKeys.isEmpty() && !dead.isEmpty(), "the dead-letter path was exercised");
    assertTrue(redelivered > 0, "some dropped record was redelivered");
  }

  private String outcomes(List<Delivery> ds) {
    return ds.stream().map(d -> d.leaseId() + "=" + acks.get(d.leaseId())).toList().toString();
  }

  // ------------------------------------------------------------------ helpers

  private void createTopic(String node) throws Exception {
    long deadline = System.nanoTime() + FAILOVER_TIMEOUT.toNanos();
    while (true) {
      ProcessCluster.Res r = cluster.send(node, "POST", "/v1/topics", "{\"name\":\"" + TOPIC + "\",\"partitions\":"
          + PARTITIONS + ",\"delivery_limit\":" + DELIVERY_LIMIT + "}", REQUEST_TIMEOUT);
      if (r.status() == 201) {
        break;
      }
      assertTrue(r.status() == 503 && System.nanoTime() < deadline, "create topic: " + r.status() + " " + r.text());
      Thread.sleep(100);
    }
    for (String id : cluster.ids()) {
      long d = System.nanoTime() + FAILOVER_TIMEOUT.toNanos();
      while (cluster.send(id, "GET", "/v1/topics/" + TOPIC, null, REQUEST_TIMEOUT).status() != 200) {
        assertTrue(System.nanoTime() < d, id + " does not show topic " + TOPIC);
        Thread.sleep(20);
      }
    }
  }

  private void failed(String what, ProcessCluster.Res r) {
    String type;
    try {
      type = r.json().path("type").asText("?");
    } catch (AssertionError e) {
      type = "not JSON";
    }
    failures.computeIfAbsent(what + " " + r.status() + " " + type, k -> new LongAdder()).increment();
  }

  private void failed(String what, IOException e) {
    String how = e instanceof ConnectException ? "refused" : e instanceof java.net.http.HttpTimeoutException ? "timed out"
        : "reset (" + e.getClass().getSimpleName() + ")";
    failures.computeIfAbsent(what + " " + how, k -> new LongAdder()).increment();
  }

  private String randomRunning() {
    List<String> up = cluster.runningIds();
    return up.isEmpty() ? null : up.get(ThreadLocalRandom.current().nextInt(up.size()));
  }

  private long deliveryCount() {
    return deliveries.values().stream().mapToLong(List::size).sum();
  }

  private void checkProblems() {
    assertTrue(problems.isEmpty(), "clients saw: " + problems);
  }

  /** @return false if interrupted */
  private static boolean pause(long ms) {
    try {
      Thread.sleep(ms);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static long ms(long sinceNanos) {
    return (System.nanoTime() - sinceNanos) / 1_000_000;
  }

  private static void say(String format, Object... args) {
    System.out.println("QueueAtLeastOnceIT: " + String.format(format, args));
  }
}
