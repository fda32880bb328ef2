package io.dsync.raft.transport;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.raft.Entry;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.RaftMetrics;
import io.dsync.raft.RaftNode;
import io.dsync.raft.Role;
import io.dsync.raft.StateMachine;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.Bytes;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.StateBatch;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real {@link RaftNode}s on RocksDB talking over {@link GrpcTransport} on 127.0.0.1: they
 * elect a leader, replicate, survive the leader's crash, and the crashed node catches up after a
 * restart on the same port and data directory. Proves the transport carries every message the
 * Raft core uses, not only the ones the transport's own tests make up.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class GrpcRaftClusterTest {
  private static final byte[] SECRET = "cluster-test-secret-0123456789".getBytes(StandardCharsets.UTF_8);
  private static final StateColumnFamily KV = new StateColumnFamily("test_kv", false);
  private static final List<String> IDS = List.of("n1", "n2", "n3");

  @TempDir Path dir;

  private final Map<String, Member> members = new HashMap<>();
  private final Map<String, Integer> ports = new HashMap<>();

  /** Records each applied command in memory and its index durably, with lastApplied. */
  static final class Machine implements StateMachine {
    final StateStore store;
    final List<String> commands = Collections.synchronizedList(new ArrayList<>());

    Machine(StateStore store) {
      this.store = store;
    }

    @Override
    public List<Object> apply(List<Entry> entries) {
      List<Object> results = new ArrayList<>(entries.size());
      StateBatch batch = store.newBatch();
      for (Entry e : entries) {
        if (e.type() == EntryType.ENTRY_NORMAL) {
          commands.add(new String(e.data(), UTF_8));
          batch.put(store.column(KV.name()), Bytes.longKey(e.index()), e.data());
        }
        results.add(e.index());
      }
      store.commit(batch, entries.getLast().index());
      return results;
    }

    @Override
    public long lastApplied() {
      return store.lastApplied();
    }
  }

  private record Member(NodeStorage storage, GrpcTransport transport, RaftNode node, Machine machine) {
    void stop() {
      node.close();
      transport.close();
      storage.close();
    }
  }

  @AfterEach
  void stopAll() {
    members.values().forEach(Member::stop);
  }

  private Member start(String id) {
    NodeStorage storage = NodeStorage.open(dir.resolve(id), StorageOptions.defaults(), List.of(KV));
    GrpcTransport transport = null;
    try {
      transport = new GrpcTransport(id, "127.0.0.1", ports.getOrDefault(id, 0), Map.of(), SECRET);
      ports.put(id, transport.port());
      Machine machine = new Machine(storage.state());
      RaftConfig config = new RaftConfig(id, IDS, 20, 10, 1, 8192, 8L << 20, 64);
      RaftNode node = new RaftNode(config, storage, machine, transport, System::currentTimeMillis,
          new RaftMetrics(new PrometheusRegistry()), new Random(id.hashCode()));
      Member m = new Member(storage, transport, node, machine);
      members.put(id, m);
      return m;
    } catch (RuntimeException e) {
      if (transport != null) {
        transport.close();
      }
      storage.close();
      throw e;
    }
  }

  private void connectAndStart(List<Member> started) {
    for (Member m : started) {
      ports.forEach((peer, port) -> m.transport().addPeer(peer, "127.0.0.1:" + port));
    }
    started.forEach(m -> m.node().start());
  }

  /** Starts every node of {@link #IDS}, connected to each other. */
  private void startAll() {
    List<Member> all = new ArrayList<>();
    for (String id : IDS) {
      all.add(start(id));
    }
    connectAndStart(all);
  }

  /** Cuts {@code id} off from every other node, both ways; @return the others' ids. */
  private List<String> isolate(String id) {
    List<String> others = IDS.stream().filter(o -> !o.equals(id)).toList();
    members.get(id).transport().isolate(java.util.Set.copyOf(others));
    for (String o : others) {
      members.get(o).transport().isolate(java.util.Set.of(id));
    }
    return others;
  }

  /** Heals every cut. */
  private void healAll() {
    members.values().forEach(m -> m.transport().heal());
  }

  /** @return a follower of {@code leader} that knows it leads */
  private Member followerOf(Member leader) throws InterruptedException {
    Member follower = members.values().stream().filter(m -> m != leader).findFirst().orElseThrow();
    String leaderId = leader.node().config().nodeId();
    await(follower.node().config().nodeId() + " knows the leader", () -> leaderId.equals(follower.node().leaderId()));
    return follower;
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("timed out waiting for: " + what);
      }
      Thread.sleep(10);
    }
  }

  private Member awaitLeader() throws InterruptedException {
    Member[] leader = new Member[1];
    await("a leader", () -> {
      for (Member m : members.values()) {
        if (m.node().role() == Role.LEADER) {
          leader[0] = m;
          return true;
        }
      }
      return false;
    });
    return leader[0];
  }

  /** Proposes commands to whoever leads, retrying while leadership settles. */
  private void propose(String prefix, int count) throws Exception {
    for (int i = 0; i < count; i++) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (true) {
        Member leader = awaitLeader();
        try {
          CompletableFuture<Object> f = leader.node().propose((prefix + i).getBytes(UTF_8));
          f.get(10, TimeUnit.SECONDS);
          break;
        } catch (Exception e) { // not leader any more, or the entry was overwritten: retry
          if (System.nanoTime() > deadline) {
            throw e;
          }
          Thread.sleep(20);
        }
      }
    }
  }

  private void awaitSameCommands(List<String> expected) throws InterruptedException {
    for (Member m : members.values()) {
      String last = expected.getLast();
      await(m.node().config().nodeId() + " applies everything up to " + last, () -> {
        List<String> got = m.machine().commands;
        synchronized (got) {
          return !got.isEmpty() && got.getLast().equals(last);
        }
      });
      // A restarted node re-applies nothing: it records only commands after its lastApplied, so
      // its list is a suffix of the others'.
      List<String> got = m.machine().commands;
      assertEquals(expected.subList(expected.size() - got.size(), expected.size()), List.copyOf(got));
    }
  }

  @Test
  void threeNodesElectReplicateFailOverAndCatchUpOverGrpc() throws Exception {
    startAll();

    propose("a", 30);
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      expected.add("a" + i);
    }
    awaitSameCommands(expected);

    // Crash the leader: the other two elect a new one and keep committing.
    Member old = awaitLeader();
    String oldId = old.node().config().nodeId();
    old.stop();
    members.remove(oldId);
    Member next = awaitLeader();
    assertNotEquals(oldId, next.node().config().nodeId());
    propose("b", 20);
    for (int i = 0; i < 20; i++) {
      expected.add("b" + i);
    }
    awaitSameCommands(expected);

    // Restart it on the same port and data: the others reconnect to it and it catches up.
    Member back = start(oldId);
    connectAndStart(List.of(back));
    long target = next.node().commitIndex();
    await(oldId + " catches up to index " + target, () -> back.node().appliedIndex() >= target);
    propose("c", 5);
    for (int i = 0; i < 5; i++) {
      expected.add("c" + i);
    }
    awaitSameCommands(expected);
    for (Member m : members.values()) {
      assertEquals(0, m.transport().stats().authRefusals());
    }
  }

  /**
   * A leader cut off with uncommitted entries, whose tail the new leader's shorter log replaces,
   * must fail those proposals once it learns of the new term — not leave them waiting until the
   * log grows back to their indexes, which in an idle cluster is never (a proposer without a
   * timeout, like the broker's ticker, would wait forever).
   */
  @Test
  void proposalsOfADeposedLeaderFailWhenANewLeadersShorterLogReplacesThem() throws Exception {
    startAll();
    propose("a", 5);
    Member old = awaitLeader();
    List<String> others = isolate(old.node().config().nodeId());
    long oldLast = old.node().lastIndex();
    List<CompletableFuture<Object>> stranded = new ArrayList<>();
    for (int i = 0; i < 5; i++) { // pipelined beyond anything the majority will write
      stranded.add(old.node().propose(("stranded" + i).getBytes(UTF_8)));
    }
    await("the stranded entries are in the old leader's log", () -> old.node().lastIndex() >= oldLast + 5);
    await("the majority elects a new leader", () -> others.stream()
        .anyMatch(id -> members.get(id).node().role() == Role.LEADER));
    // Heal; nobody writes: the new leader's log ends at its no-op, below the stranded indexes.
    healAll();
    for (CompletableFuture<Object> f : stranded) {
      try {
        f.get(20, TimeUnit.SECONDS);
        fail("a stranded proposal succeeded although its entry was never committed");
      } catch (java.util.concurrent.ExecutionException e) {
        assertEquals(io.dsync.raft.NotLeaderException.class, e.getCause().getClass(), e.toString());
      }
    }
    List<String> none = new ArrayList<>();
    for (Member m : members.values()) {
      synchronized (m.machine().commands) {
        m.machine().commands.stream().filter(c -> c.startsWith("stranded")).forEach(none::add);
      }
    }
    assertEquals(List.of(), none, "no stranded command may be applied anywhere");
  }

  @Test
  void aFollowerProposesThroughTheLeaderAndAnswersOnceItAppliedTheEntry() throws Exception {
    startAll();
    propose("warm", 1); // a leader that committed in its term, known to the followers
    Member leader = awaitLeader();
    Member follower = followerOf(leader);
    String followerId = follower.node().config().nodeId();

    List<CompletableFuture<Object>> futures = new ArrayList<>();
    for (int i = 0; i < 20; i++) { // concurrently in flight: batched by the leader like its own
      futures.add(follower.node().proposeAnywhere(("fw" + i).getBytes(UTF_8), 10_000));
    }
    for (int i = 0; i < 20; i++) {
      long index = (Long) futures.get(i).get(10, TimeUnit.SECONDS); // the Machine's result: the entry index
      // Answered by the follower's own apply: it has the entry applied, so it reads its write.
      assertTrue(follower.node().appliedIndex() >= index, "applied " + follower.node().appliedIndex() + " < " + index);
      Entry e = Entry.decode(leader.storage().log().get(index));
      assertEquals("fw" + i, new String(e.data(), UTF_8));
      assertEquals(followerId, e.originNode(), "the leader's entry names the follower that forwarded it");
      assertArrayEquals(leader.storage().log().get(index), follower.storage().log().get(index));
    }
    List<String> expected = new ArrayList<>(List.of("warm0"));
    for (int i = 0; i < 20; i++) {
      expected.add("fw" + i);
    }
    awaitSameCommands(expected);
  }

  @Test
  void aForwardedProposalTheLeaderNeverGotFailsWhenTheTermChanges() throws Exception {
    startAll();
    propose("warm", 1);
    Member leader = awaitLeader();
    Member follower = followerOf(leader);
    long term = follower.node().term();
    isolate(leader.node().config().nodeId());
    CompletableFuture<Object> f = follower.node().proposeAnywhere("lost".getBytes(UTF_8), 60_000);
    try {
      f.get(30, TimeUnit.SECONDS); // well below its own 60 s timeout: the new term fails it
      fail("a proposal the leader never received succeeded");
    } catch (java.util.concurrent.ExecutionException e) {
      assertEquals(io.dsync.raft.NotLeaderException.class, e.getCause().getClass(), e.toString());
    }
    assertTrue(follower.node().term() > term, "failed by a term change, not by a timeout");
    healAll();
    propose("after", 1);
    awaitSameCommands(List.of("warm0", "after0"));
    for (Member m : members.values()) {
      assertFalse(m.machine().commands.contains("lost"), "the dropped proposal was applied on " + m.node().config().nodeId());
    }
  }
}
