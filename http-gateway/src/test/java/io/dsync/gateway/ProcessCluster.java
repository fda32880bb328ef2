package io.dsync.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * A cluster of real {@code ./dsync run} processes on 127.0.0.1 for the process-level tests: node
 * ids {@code n1..nN}, each with its own free HTTP and Raft port and data dir, all voters listed in
 * {@code --peers}, one cluster secret. A killed node is restarted on the same ports and data dir.
 * Every wait is bounded; {@link DsyncProcesses#stopAll()} stops what was started.
 */
final class ProcessCluster {
  static final ObjectMapper JSON = new ObjectMapper();
  private static final String SECRET = "process-cluster-test-secret";
  private static final Duration STATUS_TIMEOUT = Duration.ofSeconds(3);

  /** One voter: its ports and data dir never change across restarts. */
  record Member(String id, int httpPort, int raftPort, Path dataDir) {
    URI base() {
      return URI.create("http://127.0.0.1:" + httpPort);
    }
  }

  /** A leader as the cluster reports it. */
  record Leader(String id, long term) {}

  /** An HTTP answer. */
  record Res(int status, byte[] body) {
    String text() {
      return new String(body, UTF_8);
    }

    JsonNode json() {
      try {
        return JSON.readTree(body);
      } catch (IOException e) {
        throw new AssertionError("not JSON (" + status + "): " + text(), e);
      }
    }
  }

  final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
  private final DsyncProcesses processes;
  private final List<Member> members = new ArrayList<>();
  private final List<String> extraArgs;
  private final Map<String, Process> running = new ConcurrentHashMap<>();
  private final Map<String, Integer> starts = new ConcurrentHashMap<>();
  /** Nodes that join the running cluster ({@code --join}) instead of bootstrapping it. */
  private final java.util.Set<String> joiners = ConcurrentHashMap.newKeySet();

  /**
   * @param dataRoot each node's data dir is {@code dataRoot/<id>}
   * @param extraArgs more flags for every node, e.g. {@code --enable-fault-injection}
   */
  ProcessCluster(DsyncProcesses processes, Path dataRoot, int size, List<String> extraArgs) throws IOException {
    this.processes = processes;
    this.extraArgs = List.copyOf(extraArgs);
    List<Integer> ports = DsyncProcesses.freeLoopbackPorts(2 * size);
    for (int i = 0; i < size; i++) {
      String id = "n" + (i + 1);
      members.add(new Member(id, ports.get(2 * i), ports.get(2 * i + 1), dataRoot.resolve(id)));
    }
  }

  List<String> ids() {
    return members.stream().map(Member::id).toList();
  }

  Member member(String id) {
    return members.stream().filter(m -> m.id().equals(id)).findFirst().orElseThrow();
  }

  /**
   * Marks {@code id} as a node that joins the cluster later ({@code --join}, added with {@code POST
   * /v1/cluster/members}): the others bootstrap without it, it is told about every member.
   */
  void joinsLater(String id) {
    member(id);
    joiners.add(id);
  }

  /** @return the {@code --peers} value of the bootstrap members (not those that join later) */
  String peersFlag() {
    return peersFlag(false);
  }

  private String peersFlag(boolean withJoiners) {
    List<String> items = new ArrayList<>();
    for (Member m : members) {
      if (!withJoiners && joiners.contains(m.id())) {
        continue;
      }
      items.add(m.id() + "=127.0.0.1:" + m.raftPort() + "/127.0.0.1:" + m.httpPort());
    }
    return String.join(",", items);
  }

  /** Starts node {@code id} (the README way) on its ports and data dir; its log is {@code <id>-<k>.log}. */
  void start(String id) throws IOException {
    assertTrue(!isRunning(id), id + " is already running");
    Member m = member(id);
    List<String> args = new ArrayList<>(List.of("--node-id", id, "--http-port", Integer.toString(m.httpPort()),
        "--raft-port", Integer.toString(m.raftPort()), "--data-dir", m.dataDir().toString(),
        "--peers", peersFlag(joiners.contains(id)), "--cluster-secret", SECRET));
    if (joiners.contains(id)) {
      args.add("--join");
    }
    args.addAll(extraArgs);
    int k = starts.merge(id, 1, Integer::sum);
    running.put(id, processes.start(id + "-" + k + ".log", args));
  }

  /**
   * Starts {@code ids} the README way, waits until each is ready, then until they agree on a leader.
   *
   * @return the leader
   */
  Leader startAll(List<String> ids, Duration readyTimeout, Duration leaderTimeout) throws Exception {
    for (String id : ids) {
      start(id);
    }
    for (String id : ids) {
      awaitReady(id, readyTimeout);
    }
    return awaitLeader(ids, 0, leaderTimeout);
  }

  /** SIGKILLs node {@code id} by its PID and waits until it is dead. */
  void kill(String id) throws Exception {
    Process p = running.remove(id);
    assertTrue(p != null, id + " is not running");
    processes.sigkill(p);
  }

  boolean isRunning(String id) {
    Process p = running.get(id);
    return p != null && p.isAlive();
  }

  List<String> runningIds() {
    return ids().stream().filter(this::isRunning).toList();
  }

  /** @return the latest log file of each node, for failure reports */
  List<Path> latestLogs(int perNode) {
    List<Path> out = new ArrayList<>();
    for (String id : ids()) {
      List<Path> mine = processes.logs().stream().filter(p -> p.getFileName().toString().startsWith(id + "-")).toList();
      out.addAll(mine.subList(Math.max(0, mine.size() - perNode), mine.size()));
    }
    return out;
  }

  // ------------------------------------------------------------------ HTTP

  /** @throws IOException on connection refused/reset and on timeout ({@link java.net.http.HttpTimeoutException}) */
  Res send(String id, String method, String path, String json, Duration timeout) throws IOException, InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(member(id).base().resolve(path)).timeout(timeout);
    if (json == null) {
      b.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(json, UTF_8));
    }
    HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    return new Res(r.statusCode(), r.body());
  }

  /** GET that must answer 200. */
  JsonNode getJson(String id, String path) throws IOException, InterruptedException {
    Res r = send(id, "GET", path, null, Duration.ofSeconds(30));
    assertEquals(200, r.status(), () -> id + ": GET " + path + ": " + r.text());
    return r.json();
  }

  /** @return the node's status, or null if it does not answer 200 right now */
  JsonNode status(String id, boolean withHash) throws InterruptedException {
    try {
      Res r = send(id, "GET", "/v1/cluster/status" + (withHash ? "?state_hash=true" : ""), null, STATUS_TIMEOUT);
      return r.status() == 200 ? r.json() : null;
    } catch (IOException e) {
      return null;
    }
  }

  boolean ready(String id) throws InterruptedException {
    try {
      return send(id, "GET", "/ready", null, STATUS_TIMEOUT).status() == 200;
    } catch (IOException e) {
      return false;
    }
  }

  /** Waits until {@code GET /ready} is 200 on {@code id}; fails if its process dies meanwhile. */
  void awaitReady(String id, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!ready(id)) {
      Process p = running.get(id);
      if (p == null || !p.isAlive()) {
        fail(id + " exited (" + (p == null ? "not started" : "status " + p.exitValue()) + ") before it was ready");
      }
      if (System.nanoTime() > deadline) {
        fail(id + " not ready within " + timeout);
      }
      Thread.sleep(25);
    }
  }

  /**
   * @return the leader among {@code among} in a term above {@code aboveTerm}: a node that says it
   *     leads, confirmed by another node that names it leader in the same term (so a deposed leader
   *     that has not noticed yet is not taken; when {@code among} is one node, its own word), or
   *     null if there is none right now
   */
  Leader leader(Collection<String> among, long aboveTerm) throws InterruptedException {
    Map<String, JsonNode> st = new LinkedHashMap<>();
    for (String id : among) {
      JsonNode s = status(id, false);
      if (s != null) {
        st.put(id, s);
      }
    }
    for (Map.Entry<String, JsonNode> e : st.entrySet()) {
      JsonNode s = e.getValue();
      long term = s.get("term").asLong();
      if (!"leader".equals(s.get("role").asText()) || term <= aboveTerm) {
        continue;
      }
      if (among.size() == 1) {
        return new Leader(e.getKey(), term); // asked about one node only: nobody else can confirm it
      }
      for (Map.Entry<String, JsonNode> o : st.entrySet()) {
        if (!o.getKey().equals(e.getKey()) && e.getKey().equals(o.getValue().path("leader_id").asText())
            && o.getValue().get("term").asLong() == term) {
          return new Leader(e.getKey(), term);
        }
      }
    }
    return null;
  }

  Leader awaitLeader(Collection<String> among, long aboveTerm, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      Leader l = leader(among, aboveTerm);
      if (l != null) {
        return l;
      }
      if (System.nanoTime() > deadline) {
        fail("no leader among " + among + " above term " + aboveTerm + " within " + timeout + "; statuses: "
            + statuses(among));
      }
      Thread.sleep(20);
    }
  }

  /** Waits until {@code id} has applied what the leader had committed when this was called. */
  void awaitCaughtUp(String id, String leader, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    JsonNode ls;
    while ((ls = status(leader, false)) == null) {
      assertTrue(System.nanoTime() < deadline, "leader " + leader + " does not answer");
      Thread.sleep(20);
    }
    long target = ls.get("commit_index").asLong();
    while (true) {
      JsonNode s = status(id, false);
      if (s != null && s.get("applied_index").asLong() >= target) {
        return;
      }
      if (System.nanoTime() > deadline) {
        fail(id + " did not apply up to " + target + " (leader " + leader + "'s commit index) within " + timeout
            + "; its status: " + s);
      }
      Thread.sleep(20);
    }
  }

  /**
   * Waits until every running node is ready and they all report the same applied index, equal to
   * their commit and last index, twice in a row; then asks each for its state hash.
   *
   * @return node id to its status with {@code state_hash}, taken at one common applied index
   */
  Map<String, JsonNode> awaitConverged(Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    long stableAt = -1;
    Map<String, JsonNode> last = Map.of();
    while (true) {
      Map<String, JsonNode> st = new LinkedHashMap<>();
      boolean allReady = true;
      for (String id : runningIds()) {
        allReady &= ready(id);
        st.put(id, status(id, false));
      }
      last = st;
      long applied = commonIndex(st);
      if (allReady && applied >= 0 && applied == stableAt) {
        Map<String, JsonNode> hashed = new LinkedHashMap<>();
        for (String id : st.keySet()) {
          hashed.put(id, status(id, true));
        }
        if (commonIndex(hashed) == applied) {
          return hashed;
        }
        last = hashed;
      }
      stableAt = allReady ? applied : -1;
      if (System.nanoTime() > deadline) {
        fail("the nodes did not converge on one applied index within " + timeout + ": " + last);
      }
      Thread.sleep(200);
    }
  }

  /** @return the applied index every status reports (also as commit and last index), or -1 */
  private static long commonIndex(Map<String, JsonNode> st) {
    long idx = -1;
    for (JsonNode s : st.values()) {
      if (s == null) {
        return -1;
      }
      long a = s.get("applied_index").asLong();
      if (a != s.get("commit_index").asLong() || a != s.path("last_index").asLong(a) || (idx >= 0 && a != idx)) {
        return -1;
      }
      idx = a;
    }
    return idx;
  }

  String statuses(Collection<String> ids) throws InterruptedException {
    StringBuilder b = new StringBuilder();
    for (String id : ids) {
      b.append("\n  ").append(id).append(": ").append(status(id, false));
    }
    return b.toString();
  }

  /**
   * Reads a whole partition from offset 0 on {@code id}, page by page, checking that offsets are
   * contiguous and that the last page ends at the high watermark.
   *
   * @param each gets every record as the node returned it
   * @return the number of records
   */
  long readPartition(String id, String topic, int partition, int pageSize, Consumer<JsonNode> each) throws Exception {
    long offset = 0;
    for (int page = 0; ; page++) {
      assertTrue(page < 100_000, id + " " + topic + "/" + partition + ": paging does not end");
      JsonNode r = getJson(id, "/v1/topics/" + topic + "/partitions/" + partition + "/records?offset=" + offset
          + "&max_records=" + pageSize + "&max_wait_ms=0");
      JsonNode records = r.get("records");
      long hw = r.get("high_watermark").asLong();
      if (records.isEmpty()) {
        assertEquals(offset, hw, id + " " + topic + "/" + partition + ": nothing at " + offset + " but high watermark " + hw);
        return offset;
      }
      for (JsonNode rec : records) {
        assertEquals(offset, rec.get("offset").asLong(), id + " " + topic + "/" + partition
            + ": offsets must be contiguous from 0");
        each.accept(rec);
        offset++;
      }
      assertEquals(offset, r.get("next_offset").asLong(), id + " " + topic + "/" + partition + ": next_offset");
    }
  }
}
