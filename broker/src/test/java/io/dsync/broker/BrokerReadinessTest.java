package io.dsync.broker;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.transport.InMemoryNetwork;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Readiness of a restarted node in a three-broker group on an in-memory network (a pump thread
 * delivers messages as they come, the brokers run their real threads and RocksDB).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BrokerReadinessTest {
  private static final List<String> VOTERS = List.of("n1", "n2", "n3");

  @TempDir Path dir;

  private final InMemoryNetwork net = new InMemoryNetwork();
  private final Map<String, Broker> brokers = new TreeMap<>();
  private final List<Thread> threads = new ArrayList<>();
  private volatile boolean pumping = true;

  @AfterEach
  void stop() throws InterruptedException {
    pumping = false;
    for (Thread t : threads) {
      t.join(15_000);
    }
    brokers.values().forEach(Broker::close);
  }

  private Broker open(String id) {
    Broker b = Broker.open(new Broker.Options(dir.resolve(id), RaftConfig.defaults(id, VOTERS), StorageOptions.defaults(),
        BrokerLimits.defaults(), net.join(id)), new PrometheusRegistry(), System::currentTimeMillis);
    brokers.put(id, b);
    return b;
  }

  private Broker leader() {
    for (Broker b : brokers.values()) {
      if (b.isLeader()) {
        return b;
      }
    }
    return null;
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out waiting for: " + what);
      }
      Thread.sleep(10);
    }
  }

  private static List<RecordIn> records(String key) {
    return List.of(new RecordIn(key, "1".getBytes(UTF_8), false, List.of(), 0));
  }

  /**
   * A leader that appended entries it could not replicate (cut off, then crashed) comes back as a
   * follower of the new leader, which discards that tail. With no more writes, the node has
   * applied everything that exists and must become ready: its readiness must not wait for log
   * indexes that only the discarded tail had.
   */
  @Test
  void aRestartedLeaderWhoseUnreplicatedTailWasDiscardedBecomesReadyInAnIdleGroup() throws Exception {
    Thread pump = Thread.ofPlatform().daemon().name("pump").start(() -> {
      while (pumping) {
        if (net.deliverAll() == 0) {
          try {
            Thread.sleep(1);
          } catch (InterruptedException e) {
            return;
          }
        }
      }
    });
    threads.add(pump);
    VOTERS.forEach(this::open);
    await("a leader", () -> leader() != null && brokers.values().stream().allMatch(Broker::isReady));
    Broker old = leader();
    String oldId = old.raft().config().nodeId();
    old.createTopic(new TopicConfig("t", 1, 0, 0, 0, null));

    // Cut the leader off and let it append three entries that nobody else gets.
    net.isolate(oldId);
    long before = old.raft().lastIndex();
    List<CompletableFuture<Void>> writes = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String key = "lost-" + i;
      writes.add(CompletableFuture.runAsync(() -> assertThrows(BrokerException.class, () -> old.produce("t", records(key)))));
      await("the isolated leader appends " + key, () -> old.raft().lastIndex() >= before + writes.size());
    }
    long tail = old.raft().lastIndex();

    // It crashes; the other two elect a leader (which writes one no-op entry, so its log is shorter).
    brokers.remove(oldId).close();
    CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(15, TimeUnit.SECONDS);
    net.rejoin(oldId);
    await("a new leader", () -> leader() != null);
    Broker next = leader();
    await("the new leader applied its no-op", () -> next.raft().appliedIndex() == next.raft().lastIndex());
    assertTrue(next.raft().lastIndex() < tail, "the new leader's log " + next.raft().lastIndex()
        + " is shorter than the discarded tail " + tail);

    // Back as a follower: it catches up (discarding its tail) and, with no more writes, must be ready.
    Broker back = open(oldId);
    await("the restarted node follows and caught up", () -> next.raft().config().nodeId().equals(back.raft().leaderId())
        && back.raft().appliedIndex() == next.raft().commitIndex() && back.raft().lastIndex() == next.raft().lastIndex());
    await("the restarted node is ready", back::isReady);
    assertEquals(next.topic("t").partitions().get(0).endOffset(), back.topic("t").partitions().get(0).endOffset());
  }
}
