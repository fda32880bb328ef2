package io.dsync.broker;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.transport.GrpcTransport;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Log compaction and InstallSnapshot end to end (Raft §7): three brokers over the real gRPC
 * transport with a tiny compaction threshold; a follower that was down while the leader
 * compacted its log past the follower's position catches up by snapshot, and ends with the same
 * records and the same state digest as the others.
 */
class BrokerSnapshotTest {
  private static final byte[] SECRET = "snapshot-test-secret-0123".getBytes(StandardCharsets.UTF_8);
  private static final List<String> IDS = List.of("n1", "n2", "n3");

  @TempDir Path dir;
  private final Map<String, Broker> brokers = new TreeMap<>();
  private final Map<String, Integer> ports = new TreeMap<>();

  @AfterEach
  void stopAll() {
    brokers.values().forEach(Broker::close);
  }

  private Broker start(String id) {
    GrpcTransport t = new GrpcTransport(id, "127.0.0.1", ports.getOrDefault(id, 0), Map.of(), SECRET);
    ports.put(id, t.port());
    RaftConfig raft = RaftConfig.defaults(id, IDS).withCompaction(64 * 1024, 5);
    raft = new RaftConfig(id, IDS, 20, raft.electionTicks(), raft.heartbeatTicks(), raft.maxProposalQueue(),
        raft.maxBatchBytes(), raft.maxApplyQueue(), true, true, raft.maxAppendBytes(), raft.maxInflightAppends(),
        64 * 1024, 5);
    Broker b = Broker.open(new Broker.Options(dir.resolve(id), raft, StorageOptions.defaults(), BrokerLimits.defaults(), t),
        new PrometheusRegistry(), System::currentTimeMillis);
    brokers.put(id, b);
    return b;
  }

  private void connectAll() {
    for (String id : brokers.keySet()) {
      GrpcTransport t = (GrpcTransport) transportOf(id);
      ports.forEach((peer, port) -> {
        if (!peer.equals(id)) {
          t.addPeer(peer, "127.0.0.1:" + port);
        }
      });
    }
  }

  private Object transportOf(String id) {
    try {
      java.lang.reflect.Field f = Broker.class.getDeclaredField("options");
      f.setAccessible(true);
      return ((Broker.Options) f.get(brokers.get(id))).transport();
    } catch (ReflectiveOperationException e) {
      throw new AssertionError(e);
    }
  }

  private static void await(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  private Broker leader() {
    for (Broker b : brokers.values()) {
      if (b.isLeader()) {
        return b;
      }
    }
    return null;
  }

  @Test
  void aFollowerBehindTheCompactedLogCatchesUpBySnapshot() throws Exception {
    for (String id : IDS) {
      start(id);
    }
    connectAll();
    await(() -> leader() != null, "a leader");
    Broker leader = leader();
    leader.createTopic(new TopicConfig("snap", 2, -1, -1, 0, null));

    // Stop a follower, then write enough to compact the leader's log several times over.
    String down = IDS.stream().filter(id -> !brokers.get(id).isLeader()).findFirst().orElseThrow();
    brokers.remove(down).close();
    byte[] value = ("\"" + "x".repeat(2000) + "\"").getBytes(StandardCharsets.UTF_8);
    int produced = 0;
    for (int batch = 0; batch < 60; batch++) {
      List<RecordIn> records = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        records.add(new RecordIn("k" + produced, value, false, List.of(), 0));
        produced++;
      }
      leader().produce("snap", records);
    }
    Broker lead = leader();
    assertTrue(lead.storage().log().firstIndex() > 5, "the leader compacted its log: first index "
        + lead.storage().log().firstIndex());

    // The follower comes back: its next entry is gone from the leader's log, so it needs a snapshot.
    Broker back = start(down);
    connectAll();
    long target = lead.raft().commitIndex();
    await(() -> back.raft().appliedIndex() >= target, down + " to catch up to " + target);
    assertTrue(back.storage().log().firstIndex() > 1, "the follower's log starts after the snapshot");

    for (int p = 0; p < 2; p++) {
      List<FetchedRecord> want = lead.fetch("snap", p, 0, 10_000, 0).records();
      List<FetchedRecord> got = back.fetch("snap", p, 0, 10_000, 0).records();
      assertEquals(want.size(), got.size(), "partition " + p);
      for (int i = 0; i < want.size(); i++) {
        assertEquals(want.get(i).key(), got.get(i).key());
        assertArrayEquals(want.get(i).value(), got.get(i).value());
      }
    }
    // A write after the snapshot replicates normally to the restored follower.
    leader().produce("snap", List.of(new RecordIn("after", value, false, List.of(), 0)));
    await(() -> {
      long[] a = leader().stateDigest();
      long[] b = back.stateDigest();
      return a[0] == b[0] && a[1] == b[1];
    }, "the same state digest on the leader and the restored follower");
    assertEquals(produced + 1, back.topic("snap").partitions().stream().mapToLong(x -> x.endOffset()).sum());
  }

  /** ReadIndex (thesis §6.4): the leader confirms with a quorum; a follower refuses. */
  @Test
  void linearizableReadsNeedTheLeaderAndSeeEveryAcknowledgedWrite() throws Exception {
    for (String id : IDS) {
      start(id);
    }
    connectAll();
    await(() -> leader() != null, "a leader");
    Broker lead = leader();
    lead.createTopic(new TopicConfig("lin", 1, -1, -1, 0, null));
    byte[] v = "1".getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < 20; i++) {
      lead.produce("lin", List.of(new RecordIn("k" + i, v, false, List.of(), 0)));
      lead.awaitLinearizable();
      assertEquals(i + 1, lead.topic("lin").partitions().get(0).endOffset(), "a read after the wait sees the write");
    }
    Broker follower = brokers.values().stream().filter(b -> !b.isLeader()).findFirst().orElseThrow();
    BrokerException e = org.junit.jupiter.api.Assertions.assertThrows(BrokerException.class, follower::awaitLinearizable);
    assertEquals(ErrorKind.NO_LEADER, e.kind());

    // A leader cut off from both followers cannot confirm a read.
    String leaderId = brokers.entrySet().stream().filter(x -> x.getValue() == lead).findFirst().orElseThrow().getKey();
    for (String id : IDS) {
      if (!id.equals(leaderId)) {
        brokers.remove(id).close();
      }
    }
    BrokerException cut = org.junit.jupiter.api.Assertions.assertThrows(BrokerException.class, lead::awaitLinearizable);
    assertEquals(ErrorKind.NO_LEADER, cut.kind());
  }
}
