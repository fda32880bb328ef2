package io.dsync.raft;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.raft.proto.EntryType;
import io.dsync.storage.Bytes;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.StateBatch;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real driver on real storage: {@link RaftNode} over {@link NodeStorage} in a temp dir, with
 * a small state machine that writes every command through {@link StateStore} under its index.
 * Proves that concurrent proposals all complete with their own results, are applied once each
 * and in order, and share fsyncs (group commit); that a restart resumes from
 * {@code lastApplied} without applying anything twice; and that a full proposal queue refuses at
 * once instead of blocking.
 */
class RaftNodeTest {
  private static final StateColumnFamily KV = new StateColumnFamily("test_kv", false);

  @TempDir Path dir;

  private NodeStorage storage;
  private RaftNode node;

  /** Writes each normal entry's data under its 8-byte index and answers "ok:{data}@{index}". */
  static final class RecordingMachine implements StateMachine {
    final StateStore store;
    final Column kv;
    final List<Long> appliedIndexes = Collections.synchronizedList(new ArrayList<>());
    final List<String> appliedCommands = Collections.synchronizedList(new ArrayList<>());
    final CountDownLatch gate;
    final CountDownLatch blocked = new CountDownLatch(1);

    RecordingMachine(StateStore store, CountDownLatch gate) {
      this.store = store;
      this.kv = store.column(KV.name());
      this.gate = gate;
    }

    @Override
    public List<Object> apply(List<Entry> entries) {
      if (gate != null) {
        blocked.countDown();
        try {
          gate.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
      }
      List<Object> results = new ArrayList<>(entries.size());
      StateBatch batch = store.newBatch();
      for (Entry e : entries) {
        appliedIndexes.add(e.index());
        if (e.type() == EntryType.ENTRY_NORMAL) {
          String command = new String(e.data(), UTF_8);
          appliedCommands.add(command);
          batch.put(kv, Bytes.longKey(e.index()), e.data());
          results.add("ok:" + command + "@" + e.index());
        } else {
          results.add(null);
        }
      }
      store.commit(batch, entries.get(entries.size() - 1).index());
      return results;
    }

    @Override
    public long lastApplied() {
      return store.lastApplied();
    }
  }

  @AfterEach
  void tearDown() {
    if (node != null) {
      node.close();
    }
    if (storage != null) {
      storage.close();
    }
  }

  private static RaftConfig config(int maxProposalQueue, int maxApplyQueue) {
    return new RaftConfig("n1", List.of("n1"), 10, 10, 1, maxProposalQueue, 8L << 20, maxApplyQueue);
  }

  private RaftNode startNode(RaftConfig config, StateMachine sm, PrometheusRegistry registry) {
    RaftNode n = new RaftNode(config, storage, sm, Transport.LOCAL, System::currentTimeMillis,
        new RaftMetrics(registry), new Random(7));
    n.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (n.role() != Role.LEADER) {
      if (System.nanoTime() > deadline) {
        fail("a one-voter node did not become leader within 5 s");
      }
      Thread.onSpinWait();
    }
    return n;
  }

  private static void awaitApplied(RaftNode n, long index) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (n.appliedIndex() < index) {
      if (System.nanoTime() > deadline) {
        fail("applied index " + n.appliedIndex() + " never reached " + index);
      }
      Thread.sleep(2);
    }
  }

  private static MetricSnapshot metric(PrometheusRegistry registry, String name) {
    for (MetricSnapshot m : registry.scrape()) {
      if (name.startsWith(m.getMetadata().getName())) {
        return m;
      }
    }
    throw new AssertionError("no metric " + name);
  }

  @Test
  void concurrentProposalsCompleteWithTheirResultsAppliedOnceInOrderWithGroupCommit() throws Exception {
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(KV));
    RecordingMachine sm = new RecordingMachine(storage.state(), null);
    PrometheusRegistry registry = new PrometheusRegistry();
    node = startNode(config(8192, 64), sm, registry);

    int threads = 8;
    int perThread = 500;
    CountDownLatch go = new CountDownLatch(1);
    Map<String, Long> indexOf = new ConcurrentHashMap<>();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      List<Future<?>> workers = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        workers.add(pool.submit(() -> {
          go.await();
          List<CompletableFuture<Object>> futures = new ArrayList<>();
          for (int i = 0; i < perThread; i++) {
            futures.add(node.propose(("t" + thread + "-" + i).getBytes(UTF_8)));
          }
          long previous = 0;
          for (int i = 0; i < perThread; i++) {
            String result = (String) futures.get(i).get(30, TimeUnit.SECONDS);
            String prefix = "ok:t" + thread + "-" + i + "@";
            assertTrue(result.startsWith(prefix), "proposal t" + thread + "-" + i + " got someone else's result: " + result);
            long index = Long.parseLong(result.substring(prefix.length()));
            assertTrue(index > previous, "one thread's proposals must land in the order it made them");
            previous = index;
            indexOf.put("t" + thread + "-" + i, index);
          }
          return null;
        }));
      }
      go.countDown();
      for (Future<?> w : workers) {
        w.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }

    int proposals = threads * perThread;
    assertEquals(proposals, new HashSet<>(indexOf.values()).size(), "every proposal has its own index");
    awaitApplied(node, node.lastIndex());

    // Applied once each, in log order, from the leader's no-op at 1 on.
    List<Long> applied = List.copyOf(sm.appliedIndexes);
    assertEquals(proposals + 1, applied.size(), "no-op + every proposal, each applied once");
    for (int i = 0; i < applied.size(); i++) {
      assertEquals(i + 1L, applied.get(i), "applied out of order or twice at position " + i);
    }
    assertEquals(proposals, new HashSet<>(sm.appliedCommands).size());
    assertEquals(applied.size(), storage.state().lastApplied());
    assertEquals(proposals, storage.state().column(KV.name())
        .scan(new byte[0], Bytes.longKey(Long.MAX_VALUE), Integer.MAX_VALUE, Long.MAX_VALUE).size());
    for (Map.Entry<String, Long> e : indexOf.entrySet()) {
      assertArrayEquals(e.getKey().getBytes(UTF_8), storage.state().column(KV.name()).get(Bytes.longKey(e.getValue())));
    }

    // Group commit: far fewer fsync'd appends than entries.
    HistogramSnapshot.HistogramDataPointSnapshot batches =
        ((HistogramSnapshot) metric(registry, "dsync_raft_log_append_batch_entries")).getDataPoints().get(0);
    System.out.printf("group commit: %d appends for %d entries%n", batches.getCount(), (long) batches.getSum());
    assertEquals(proposals + 1, (long) batches.getSum(), "every entry was appended exactly once");
    assertTrue(batches.getCount() < proposals,
        batches.getCount() + " appends for " + proposals + " proposals: no group commit happened");
  }

  @Test
  void restartResumesFromLastAppliedWithoutApplyingTwice() throws Exception {
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(KV));
    RecordingMachine first = new RecordingMachine(storage.state(), null);
    node = startNode(config(8192, 64), first, new PrometheusRegistry());
    List<CompletableFuture<Object>> futures = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      futures.add(node.propose(("c" + i).getBytes(UTF_8)));
    }
    for (CompletableFuture<Object> f : futures) {
      f.get(10, TimeUnit.SECONDS);
    }
    node.close();
    node = null;
    long appliedBefore = storage.state().lastApplied();
    assertEquals(201, appliedBefore);

    // A crash after a log append but before its apply: one more entry on disk, not in the state.
    long term = storage.meta().loadHardState().term();
    storage.log().append(storage.log().lastIndex() + 1,
        List.of(new Entry(appliedBefore + 1, term, EntryType.ENTRY_NORMAL, System.currentTimeMillis(),
            "orphan".getBytes(UTF_8)).encode()));
    storage.close();
    storage = null;

    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(KV));
    assertEquals(appliedBefore, storage.state().lastApplied(), "lastApplied survives the restart");
    assertEquals(appliedBefore + 1, storage.log().lastIndex());
    assertLogAndStateAgree(storage);
    assertNull(storage.state().column(KV.name()).get(Bytes.longKey(appliedBefore + 1)));

    RecordingMachine second = new RecordingMachine(storage.state(), null);
    node = startNode(config(8192, 64), second, new PrometheusRegistry());
    String result = (String) node.propose("after".getBytes(UTF_8)).get(10, TimeUnit.SECONDS);
    awaitApplied(node, node.lastIndex());

    List<Long> applied = List.copyOf(second.appliedIndexes);
    assertEquals(appliedBefore + 1, applied.get(0), "the restarted node re-applied entries already in the state");
    for (int i = 1; i < applied.size(); i++) {
      assertEquals(applied.get(i - 1) + 1, applied.get(i));
    }
    assertEquals("orphan", second.appliedCommands.get(0), "an entry on disk but not applied is applied after restart");
    assertEquals(List.of("orphan", "after"), second.appliedCommands);
    // orphan, the new leader's no-op, then "after"
    assertEquals("ok:after@" + (appliedBefore + 3), result);
    assertEquals(storage.log().lastIndex(), storage.state().lastApplied());
    assertLogAndStateAgree(storage);
  }

  /** Every normal entry up to lastApplied is in the state under its index, and nothing after it. */
  private static void assertLogAndStateAgree(NodeStorage s) {
    long lastApplied = s.state().lastApplied();
    assertTrue(lastApplied <= s.log().lastIndex(), "state is ahead of the log");
    Column kv = s.state().column(KV.name());
    for (long i = 1; i <= s.log().lastIndex(); i++) {
      Entry e = Entry.decode(s.log().get(i));
      assertEquals(i, e.index());
      byte[] v = kv.get(Bytes.longKey(i));
      if (i <= lastApplied && e.type() == EntryType.ENTRY_NORMAL) {
        assertNotNull(v, "entry " + i + " is applied but missing from the state");
        assertArrayEquals(e.data(), v);
      } else {
        assertNull(v, "entry " + i + " is in the state but should not be");
      }
    }
  }

  @Test
  void aFullProposalQueueRefusesAtOnceInsteadOfBlocking() throws Exception {
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(KV));
    CountDownLatch gate = new CountDownLatch(1);
    RecordingMachine sm = new RecordingMachine(storage.state(), gate);
    PrometheusRegistry registry = new PrometheusRegistry();
    node = startNode(config(4, 1), sm, registry);
    assertTrue(sm.blocked.await(5, TimeUnit.SECONDS), "apply of the no-op should be stuck on the gate");

    List<CompletableFuture<Object>> accepted = new ArrayList<>();
    OverloadedException refused = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
      for (int i = 0; i < 100_000; i++) {
        try {
          accepted.add(node.propose(("p" + i).getBytes(UTF_8)));
        } catch (OverloadedException e) {
          return e;
        }
      }
      return null;
    }, "propose blocked on a full queue instead of refusing");
    assertNotNull(refused, "100,000 proposals against a stuck state machine and a queue of 4 were all accepted");
    assertTrue(refused.getMessage().contains("queue full"), refused.getMessage());
    assertTrue(accepted.size() >= 4, "the queue should have held its 4 before refusing");
    assertTrue(((CounterSnapshot) metric(registry, "dsync_raft_proposals_rejected_total"))
        .getDataPoints().get(0).getValue() >= 1);

    // Once the state machine moves again, everything accepted completes with its own result.
    gate.countDown();
    Set<Long> indexes = new HashSet<>();
    for (int i = 0; i < accepted.size(); i++) {
      String r = (String) accepted.get(i).get(10, TimeUnit.SECONDS);
      assertTrue(r.startsWith("ok:p" + i + "@"), r);
      indexes.add(Long.parseLong(r.substring(r.indexOf('@') + 1)));
    }
    assertEquals(accepted.size(), indexes.size());
  }
}
