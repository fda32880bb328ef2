package io.dsync.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code ./dsync cluster up|status|down} end to end, the way the README shows it: a 3-node cluster
 * on loopback in a temp {@code --dir} on a free port range comes up with a leader; a write through a
 * follower's HTTP port is committed; a SIGKILLed node shows as down, a second {@code up} restarts
 * only that node (the other PIDs stay), and it catches up with what was written while it was down;
 * {@code down} stops every process. {@code down} runs in a finally block, and whatever PID from a
 * pid file still runs a node of this cluster afterwards is SIGKILLed.
 *
 * <p>Runs in {@code verify} (failsafe) because the nodes run {@code http-gateway/target/dsync.jar}.
 * The nodes' logs stay in the temp dir until the end; on failure their tails are printed.
 */
class ClusterCliIT {
  private static final int NODES = 3;
  private static final int RAFT_OFFSET = 1000;
  private static final Duration UP_TIMEOUT = Duration.ofSeconds(150);
  private static final int UP_WAIT_SECONDS = 90;
  private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration CATCH_UP_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(20);
  private static final Pattern LEADER_LINE = Pattern.compile("(?m)^leader: (n[0-9]+) http://127\\.0\\.0\\.1:([0-9]+)\\s*$");

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The output and exit code of one {@code ./dsync cluster ...} run. */
  record Result(int exit, String output) {}

  /** A row of the table {@code cluster status} prints. */
  record Row(String node, String state, String pid, String http, String role, String term, String leader,
      String commit, String applied) {}

  private Path repoRoot;
  private Path workDir;
  private Path clusterDir;
  private int basePort;
  private HttpClient http;

  @BeforeEach
  void setUp() throws IOException {
    Path moduleDir = Path.of("").toAbsolutePath();
    repoRoot = moduleDir.getParent();
    assertTrue(repoRoot != null && Files.isExecutable(repoRoot.resolve("dsync")) && Files.isRegularFile(repoRoot.resolve("pom.xml")),
        "expected to run in the http-gateway module dir with the repository root (./dsync, pom.xml) above it; cwd is " + moduleDir);
    checkJarIsFresh();
    workDir = Files.createTempDirectory("dsync-cluster-it-");
    clusterDir = workDir.resolve("cluster");
    basePort = freeBasePort();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (http != null) {
        http.shutdownNow();
      }
    } finally {
      if (workDir != null) {
        deleteTree(workDir);
      }
    }
  }

  @Test
  @Timeout(value = 480, unit = TimeUnit.SECONDS)
  void upStatusKillUpAgainAndDown() throws Exception {
    long t0 = System.nanoTime();
    try {
      run();
    } catch (Throwable t) {
      printNodeLogTails();
      throw t;
    } finally {
      stopEverything();
    }
    say("done in %.1f s", (System.nanoTime() - t0) / 1e9);
  }

  private void run() throws Exception {
    // ---- up: 3 nodes, a leader printed
    Result up = cluster(UP_TIMEOUT, "up", "--nodes", "3", "--base-port", Integer.toString(basePort),
        "--wait-seconds", Integer.toString(UP_WAIT_SECONDS));
    say("up (base port %d):%n%s", basePort, up.output());
    assertEquals(0, up.exit(), "cluster up exit code; output:\n" + up.output());
    String leader = leaderIn(up.output());
    Map<String, Long> pids = readPids();
    assertEquals(NODES, pids.size(), "one pid file per node: " + pids);
    for (Map.Entry<String, Long> e : pids.entrySet()) {
      assertTrue(isNodeProcess(e.getValue(), e.getKey()), e.getKey() + " (pid " + e.getValue() + ") should run");
    }
    assertTrue(Files.isRegularFile(clusterDir.resolve("cluster.conf")), "cluster.conf");
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(clusterDir.resolve("secret"))), "secret must be private");

    // ---- status: 3 running, one leader
    Result status = cluster(COMMAND_TIMEOUT, "status");
    say("status:%n%s", status.output());
    assertEquals(0, status.exit(), "status exit code when all run; output:\n" + status.output());
    Map<String, Row> rows = rows(status.output());
    assertEquals(NODES, rows.values().stream().filter(r -> r.state().equals("running")).count(), "running nodes: " + rows);
    assertEquals(List.of(leader), rows.values().stream().filter(r -> r.role().equals("leader")).map(Row::node).toList(),
        "exactly one node says it leads, the one up printed");
    for (Row r : rows.values()) {
      assertEquals(leader, r.leader(), r.node() + " names the leader");
      assertEquals(Long.toString(pids.get(r.node())), r.pid(), r.node() + " pid in status vs pid file");
    }
    assertEquals(leader, leaderIn(status.output()));

    // ---- writes through a follower's HTTP port (the follower forwards them to the leader)
    List<String> followers = rows.keySet().stream().filter(n -> !n.equals(leader)).sorted().toList();
    String viaFollower = followers.get(0);
    String victim = followers.get(1);
    URI follower = nodeUri(viaFollower);
    post(follower, "/v1/topics", "{\"name\":\"before\",\"partitions\":2}", 201);
    JsonNode acked = post(follower, "/v1/topics/before/records",
        "{\"records\":[{\"key\":\"k1\",\"value\":\"one\"},{\"key\":\"k2\",\"value\":\"two\"}]}", 200);
    assertEquals(2, acked.get("offsets").size(), "two offsets: " + acked);
    say("produced through follower %s: %s", viaFollower, acked);

    // ---- a follower that knows the topic proposes a produce itself (over the peer transport, not
    // an HTTP re-post: no X-Dsync-Served-By) and answers once it applied it: read-your-writes on it
    awaitTrue(CATCH_UP_TIMEOUT, viaFollower + " has applied topic 'before'",
        () -> tryGetJson(follower, "/v1/topics/before") != null);
    assertEquals("follower", getJson(follower, "/v1/cluster/status").get("role").asText(),
        viaFollower + " must still follow: a leader adds no X-Dsync-Served-By either");
    HttpResponse<String> own = http.send(HttpRequest.newBuilder(follower.resolve("/v1/topics/before/records"))
        .timeout(REQUEST_TIMEOUT).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"records\":[{\"key\":\"k3\",\"value\":\"three\"}]}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, own.statusCode(), own.body());
    assertTrue(own.headers().firstValue("X-Dsync-Served-By").isEmpty(),
        "proposed by the follower itself, not re-posted to the leader's gateway");
    JsonNode at = JSON.readTree(own.body()).get("offsets").get(0);
    JsonNode page = getJson(follower, "/v1/topics/before/partitions/" + at.get("partition").asInt()
        + "/records?offset=" + at.get("offset").asLong() + "&max_records=1");
    assertEquals("three", page.get("records").get(0).get("value").asText(),
        "the follower serves the record it acknowledged at once (local read): " + page);

    // ---- SIGKILL one follower; status shows it down
    long victimPid = pids.get(victim);
    sigkill(victimPid, victim);
    Result down1 = cluster(COMMAND_TIMEOUT, "status");
    say("status with %s killed:%n%s", victim, down1.output());
    assertEquals(3, down1.exit(), "status exit code with a node down; output:\n" + down1.output());
    Map<String, Row> rows1 = rows(down1.output());
    assertEquals("down", rows1.get(victim).state(), victim + " must show as down");
    assertEquals("-", rows1.get(victim).pid());
    for (String n : rows1.keySet()) {
      if (!n.equals(victim)) {
        assertEquals("running", rows1.get(n).state(), n + " still runs");
      }
    }

    // ---- write while it is down (through the other follower), so it has something to catch up on
    post(follower, "/v1/topics", "{\"name\":\"while-down\",\"partitions\":1}", 201);
    post(follower, "/v1/topics/while-down/records", "{\"records\":[{\"value\":1},{\"value\":2},{\"value\":3}]}", 200);

    // ---- up again: only the killed node is started, with its own data
    Result up2 = cluster(UP_TIMEOUT, "up", "--wait-seconds", Integer.toString(UP_WAIT_SECONDS));
    say("up again:%n%s", up2.output());
    assertEquals(0, up2.exit(), "second up exit code; output:\n" + up2.output());
    assertTrue(up2.output().contains("started " + victim + ":"), "second up restarts " + victim);
    Map<String, Long> pids2 = readPids();
    for (String n : pids.keySet()) {
      if (n.equals(victim)) {
        assertNotEquals(victimPid, pids2.get(n), victim + " has a new pid");
        assertTrue(isNodeProcess(pids2.get(n), n), victim + " runs again");
      } else {
        assertEquals(pids.get(n), pids2.get(n), n + " was running and must not be restarted");
        assertFalse(up2.output().contains("started " + n + ":"), n + " must not be started again");
      }
    }

    // ---- it catches up: applied index reaches the leader's, and the topics are there
    String leader2 = leaderIn(up2.output());
    long target = getJson(nodeUri(leader2), "/v1/cluster/status").get("applied_index").asLong();
    URI restarted = nodeUri(victim);
    awaitTrue(CATCH_UP_TIMEOUT, victim + " applied_index reaches the leader's " + target, () -> {
      JsonNode s = tryGetJson(restarted, "/v1/cluster/status");
      return s != null && s.get("applied_index").asLong() >= target;
    });
    JsonNode topics = getJson(restarted, "/v1/topics");
    assertTrue(topics.toString().contains("\"before\"") && topics.toString().contains("\"while-down\""),
        "both topics visible on the restarted node: " + topics);
    JsonNode fetched = getJson(restarted, "/v1/topics/while-down/partitions/0/records?offset=0&max_records=10");
    assertEquals(3, fetched.get("records").size(), "records written while it was down, read on it: " + fetched);
    say("%s caught up to applied_index %d; topics %s", victim, target, topics);

    // ---- down: everything stops, pid files removed, data kept
    Result down = cluster(COMMAND_TIMEOUT, "down");
    say("down:%n%s", down.output());
    assertEquals(0, down.exit(), "down exit code; output:\n" + down.output());
    for (Map.Entry<String, Long> e : pids2.entrySet()) {
      long pid = e.getValue();
      awaitTrue(EXIT_TIMEOUT, e.getKey() + " pid " + pid + " gone after down", () -> !isAlive(pid));
      assertFalse(Files.exists(clusterDir.resolve(e.getKey()).resolve("pid")), e.getKey() + " pid file removed");
      assertTrue(Files.isDirectory(clusterDir.resolve(e.getKey()).resolve("data")), e.getKey() + " data kept");
    }
    Result after = cluster(COMMAND_TIMEOUT, "status");
    assertEquals(3, after.exit(), "status after down; output:\n" + after.output());
    assertEquals(NODES, rows(after.output()).values().stream().filter(r -> r.state().equals("down")).count(),
        "all down after `down`:\n" + after.output());
  }

  // ------------------------------------------------------------------ the CLI

  private Result cluster(Duration timeout, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(repoRoot.resolve("dsync").toString(), "cluster"));
    cmd.addAll(List.of(args));
    cmd.addAll(List.of("--dir", clusterDir.toString()));
    Path out = Files.createTempFile(workDir, "cli-", ".out");
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    Process p = pb.start();
    if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      p.destroyForcibly();
      p.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      fail(String.join(" ", cmd) + " did not finish within " + timeout + "; output:\n" + Files.readString(out, UTF_8));
    }
    return new Result(p.exitValue(), Files.readString(out, UTF_8));
  }

  private static String leaderIn(String output) {
    Matcher m = LEADER_LINE.matcher(output);
    assertTrue(m.find(), "no `leader: nX http://127.0.0.1:PORT` line in:\n" + output);
    return m.group(1);
  }

  /** The rows of the status table, by node id. */
  private static Map<String, Row> rows(String output) {
    Map<String, Row> out = new LinkedHashMap<>();
    for (String line : output.lines().toList()) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 9 && f[0].matches("n[0-9]+")) {
        out.put(f[0], new Row(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]));
      }
    }
    assertEquals(NODES, out.size(), "one table row per node in:\n" + output);
    return out;
  }

  private Map<String, Long> readPids() throws IOException {
    Map<String, Long> out = new LinkedHashMap<>();
    for (int i = 1; i <= NODES; i++) {
      Path f = clusterDir.resolve("n" + i).resolve("pid");
      if (Files.isRegularFile(f)) {
        out.put("n" + i, Long.parseLong(Files.readString(f, UTF_8).trim()));
      }
    }
    return out;
  }

  private URI nodeUri(String node) {
    return URI.create("http://127.0.0.1:" + (basePort + Integer.parseInt(node.substring(1)) - 1));
  }

  // ------------------------------------------------------------------ processes

  /** Alive and not a zombie (orphans are reaped late here, and a zombie is as dead as it gets). */
  private static boolean isAlive(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"), UTF_8);
      String state = stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return !state.equals("Z") && !state.equals("X");
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** The same test the CLI makes: alive, with this node's data dir as an argument. */
  private boolean isNodeProcess(long pid, String node) {
    if (!isAlive(pid)) {
      return false;
    }
    try {
      String dataDir = clusterDir.resolve(node).resolve("data").toRealPath().toString();
      byte[] cmdline = Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"));
      return List.of(new String(cmdline, UTF_8).split("\0")).contains(dataDir);
    } catch (IOException e) {
      return false;
    }
  }

  /** {@code kill -9} a node by the PID in its pid file and prove it died. */
  private void sigkill(long pid, String node) throws Exception {
    assertTrue(isNodeProcess(pid, node), "pid " + pid + " should be " + node);
    Optional<ProcessHandle> h = ProcessHandle.of(pid);
    Optional<String> cmd = h.flatMap(x -> x.info().command());
    assertTrue(cmd.isPresent() && cmd.get().endsWith("/java"),
        "pid " + pid + " should be the node's JVM (./dsync execs java), but runs " + cmd.orElse("?"));
    Process kill = new ProcessBuilder("kill", "-9", Long.toString(pid)).redirectErrorStream(true).start();
    assertTrue(kill.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS), "kill -9 " + pid + " did not return");
    assertEquals(0, kill.exitValue(), "kill -9 " + pid + ": " + new String(kill.getInputStream().readAllBytes(), UTF_8));
    awaitTrue(EXIT_TIMEOUT, "pid " + pid + " dead after kill -9", () -> !isAlive(pid));
    say("SIGKILLed %s (pid %d)", node, pid);
  }

  /** {@code cluster down}, then SIGKILL whatever a pid file still names that runs one of our nodes. */
  private void stopEverything() {
    if (clusterDir == null || !Files.isRegularFile(clusterDir.resolve("cluster.conf"))) {
      return;
    }
    Map<String, Long> before = Map.of();
    try {
      before = readPids();
      Result r = cluster(COMMAND_TIMEOUT, "down");
      if (r.exit() != 0) {
        say("cleanup: down exited %d:%n%s", r.exit(), r.output());
      }
    } catch (Throwable t) {
      say("cleanup: down failed: %s", t);
    }
    for (Map.Entry<String, Long> e : before.entrySet()) {
      long pid = e.getValue();
      if (isNodeProcess(pid, e.getKey())) {
        say("cleanup: %s (pid %d) survived down; SIGKILL", e.getKey(), pid);
        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
      }
    }
  }

  // ------------------------------------------------------------------ HTTP

  private JsonNode post(URI node, String path, String body, int expect) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(node.resolve(path)).timeout(REQUEST_TIMEOUT)
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(expect, r.statusCode(), "POST " + node.resolve(path) + ": " + r.body());
    return JSON.readTree(r.body());
  }

  private JsonNode getJson(URI node, String pathAndQuery) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(node.resolve(pathAndQuery)).timeout(REQUEST_TIMEOUT)
        .GET().build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), "GET " + node.resolve(pathAndQuery) + ": " + r.body());
    return JSON.readTree(r.body());
  }

  private JsonNode tryGetJson(URI node, String pathAndQuery) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(node.resolve(pathAndQuery)).timeout(REQUEST_TIMEOUT)
          .GET().build(), HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static void awaitTrue(Duration timeout, String what, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("not within " + timeout + ": " + what);
      }
      Thread.sleep(100);
    }
  }

  // ------------------------------------------------------------------ helpers

  /** A base port P with P..P+2 and P+1000..P+1002 free on loopback (HTTP and Raft ports). */
  private static int freeBasePort() {
    for (int attempt = 0; attempt < 200; attempt++) {
      int base = ThreadLocalRandom.current().nextInt(20_000, 40_000);
      boolean free = true;
      for (int i = 0; i < NODES && free; i++) {
        free = canBind(base + i) && canBind(base + RAFT_OFFSET + i);
      }
      if (free) {
        return base;
      }
    }
    throw new AssertionError("no free base port found (needs P..P+2 and P+1000..P+1002 free on 127.0.0.1)");
  }

  private static boolean canBind(int port) {
    try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private void checkJarIsFresh() throws IOException {
    DsyncProcesses.checkJarIsFresh(repoRoot);
  }

  private void printNodeLogTails() {
    for (int i = 1; i <= NODES; i++) {
      Path f = clusterDir == null ? null : clusterDir.resolve("n" + i).resolve("node.log");
      if (f == null || !Files.isRegularFile(f)) {
        continue;
      }
      try {
        List<String> lines = Files.readAllLines(f, UTF_8);
        System.out.println("---- " + f + " (last 40 of " + lines.size() + " lines)");
        lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(System.out::println);
      } catch (IOException | RuntimeException e) {
        System.out.println("(cannot read " + f + ": " + e + ")");
      }
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static void say(String format, Object... args) {
    System.out.println("ClusterCliIT: " + String.format(format, args));
  }
}
