package io.dsync.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Real node processes for the process-level integration tests ({@code *IT}): starts {@code
 * ./dsync run} the README way from the repository root, each with its own log file, SIGKILLs one
 * by its PID (proving it died), and stops exactly the processes it started. Also the checks and
 * helpers those tests share: the repository root, the jar guard, free loopback ports, log tails,
 * deleting a temp tree.
 *
 * <p>Not thread-safe except {@link #stopAll()} and {@link #logs()}, which may run while the test
 * thread is gone.
 */
final class DsyncProcesses {
  /** Exit status Java reports for a process killed by signal 9 (128 + SIGKILL). */
  static final int SIGKILL_EXIT = 128 + 9;
  private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(15);

  private final Path repoRoot;
  private final Path logDir;
  private final Map<String, String> env;
  private final List<Process> started = new CopyOnWriteArrayList<>();
  private final List<ProcessHandle> startedDescendants = new CopyOnWriteArrayList<>();
  private final List<Path> logs = new CopyOnWriteArrayList<>();

  /**
   * @param repoRoot where {@code ./dsync} is
   * @param logDir where node logs go; emptied first (only this run's logs stay)
   * @param env extra environment for every node (e.g. {@code DSYNC_JAVA_OPTS})
   */
  DsyncProcesses(Path repoRoot, Path logDir, Map<String, String> env) throws IOException {
    this.repoRoot = repoRoot;
    this.logDir = logDir;
    this.env = Map.copyOf(env);
    deleteTree(logDir);
    Files.createDirectories(logDir);
  }

  /**
   * The repository root, from the module directory the test runs in (http-gateway), after
   * checking that {@code ./dsync} and a fresh {@code dsync.jar} are there.
   */
  static Path repoRootWithFreshJar() throws IOException {
    Path moduleDir = Path.of("").toAbsolutePath();
    Path root = moduleDir.getParent();
    assertTrue(root != null && Files.isExecutable(root.resolve("dsync")) && Files.isRegularFile(root.resolve("pom.xml")),
        "expected to run in the http-gateway module dir with the repository root (./dsync, pom.xml) above it; cwd is "
            + moduleDir);
    checkJarIsFresh(root);
    return root;
  }

  Path logDir() {
    return logDir;
  }

  /** @return every log file so far, in start order */
  List<Path> logs() {
    return List.copyOf(logs);
  }

  /**
   * Starts {@code ./dsync run args...}; stdout and stderr go to {@code logDir/logName}.
   *
   * @return the process; {@code ./dsync} execs java, so its PID is the node's JVM
   */
  Process start(String logName, List<String> args) throws IOException {
    Path log = logDir.resolve(logName);
    List<String> cmd = new ArrayList<>(List.of(repoRoot.resolve("dsync").toString(), "run"));
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(repoRoot.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    pb.environment().putAll(env);
    Process p = pb.start();
    started.add(p);
    logs.add(log);
    p.getOutputStream().close();
    return p;
  }

  /** {@code kill -9} the node by its own PID and proves that it (and any child) died of it. */
  void sigkill(Process p) throws Exception {
    long pid = p.pid();
    Optional<String> cmd = p.info().command();
    assertTrue(cmd.isPresent() && cmd.get().endsWith("/java"),
        "pid " + pid + " should be the node's JVM (./dsync execs java), but runs " + cmd.orElse("?"));
    List<ProcessHandle> children = p.descendants().toList();
    startedDescendants.addAll(children);
    Process kill = new ProcessBuilder("kill", "-9", Long.toString(pid)).redirectErrorStream(true).start();
    assertTrue(kill.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS), "kill -9 " + pid + " did not return");
    assertEquals(0, kill.exitValue(), "kill -9 " + pid + ": " + new String(kill.getInputStream().readAllBytes(), UTF_8));
    assertTrue(p.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS), "pid " + pid + " alive after kill -9");
    assertEquals(SIGKILL_EXIT, p.exitValue(), "pid " + pid + " must die of SIGKILL");
    assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still alive");
    long deadline = System.nanoTime() + EXIT_TIMEOUT.toNanos();
    for (ProcessHandle c : children) {
      while (c.isAlive()) {
        assertTrue(System.nanoTime() < deadline, "child " + c.pid() + " of killed node " + pid + " is still alive");
        Thread.sleep(50);
      }
    }
  }

  /** Stops exactly the processes started here (and their children), SIGTERM first, SIGKILL after 15 s. */
  void stopAll() throws InterruptedException {
    for (Process p : started) {
      startedDescendants.addAll(p.descendants().toList());
    }
    for (Process p : started) {
      if (p.isAlive()) {
        p.destroy(); // SIGTERM: the node closes RocksDB cleanly
      }
    }
    for (Process p : started) {
      if (p.isAlive() && !p.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        p.waitFor(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
    }
    for (ProcessHandle h : startedDescendants) {
      if (h.isAlive()) {
        h.destroyForcibly();
      }
    }
  }

  /** Prints the last {@code lines} lines of each of {@code files}. */
  static void printLogTails(List<Path> files, int lines) {
    for (Path f : files) {
      try {
        List<String> all = Files.readAllLines(f, UTF_8);
        System.out.println("---- " + f + " (last " + Math.min(lines, all.size()) + " of " + all.size() + " lines)");
        all.subList(Math.max(0, all.size() - lines), all.size()).forEach(System.out::println);
      } catch (IOException | RuntimeException e) {
        System.out.println("(cannot read node log " + f + ": " + e + ")");
      }
    }
  }

  /** Fails clearly instead of letting ./dsync rebuild the jar inside a running Maven build. */
  static void checkJarIsFresh(Path repoRoot) throws IOException {
    Path jar = repoRoot.resolve("http-gateway/target/dsync.jar");
    assertTrue(Files.isRegularFile(jar), jar + " is missing: run `./mvnw verify` (the jar is built in `package`, "
        + "before this integration test) or `./dsync build`");
    FileTime built = Files.getLastModifiedTime(jar);
    // The launcher's rule (jar_is_stale in ./dsync): pom.xml, */pom.xml, */src/main/** newer than the jar.
    List<Path> roots = new ArrayList<>(List.of(repoRoot.resolve("pom.xml")));
    try (Stream<Path> s = Files.list(repoRoot)) {
      s.filter(Files::isDirectory).forEach(d -> {
        roots.add(d.resolve("pom.xml"));
        roots.add(d.resolve("src/main"));
      });
    }
    for (Path r : roots) {
      if (!Files.exists(r)) {
        continue;
      }
      try (Stream<Path> s = Files.walk(r)) {
        Optional<Path> newer = s.filter(f -> {
          try {
            return Files.getLastModifiedTime(f).compareTo(built) > 0;
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }).findFirst();
        assertTrue(newer.isEmpty(), newer.map(f -> f + " is newer than " + jar
            + ", so ./dsync would rebuild it inside this test: run `./mvnw verify` (or package) again").orElse(""));
      }
    }
  }

  /** @return a port that nothing listens on right now (bound on loopback, then released) */
  static int freeLoopbackPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  /**
   * {@code n} distinct ports, each free on loopback now, picked at random below the kernel's
   * ephemeral range: a node restarted on the same port must find it free again, and a port in the
   * ephemeral range could meanwhile be taken by some outgoing connection on this machine.
   */
  static List<Integer> freeLoopbackPorts(int n) throws IOException {
    int low = 20_000;
    int high = 32_768;
    try {
      // readLine, not readString: procfs reports size 0 and Files.readString trusts the size
      String line;
      try (java.io.BufferedReader r = Files.newBufferedReader(Path.of("/proc/sys/net/ipv4/ip_local_port_range"))) {
        line = r.readLine();
      }
      String[] range = line.trim().split("\\s+");
      high = Integer.parseInt(range[0]);
    } catch (IOException | RuntimeException e) {
      // not Linux: keep the IANA-ish guess
    }
    if (high - low < 1000) {
      low = Math.max(1025, high - 10_000);
    }
    Set<Integer> out = new LinkedHashSet<>();
    Set<Integer> tried = new HashSet<>();
    while (out.size() < n) {
      assertTrue(tried.size() < 10_000, "cannot find " + n + " free loopback ports in [" + low + ", " + high + ")");
      int port = ThreadLocalRandom.current().nextInt(low, high);
      if (!tried.add(port)) {
        continue;
      }
      try (ServerSocket s = new ServerSocket()) {
        s.setReuseAddress(true);
        s.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
        out.add(port);
      } catch (IOException e) {
        // taken: try another
      }
    }
    return List.copyOf(out);
  }

  /**
   * The one tear-down of the process tests: closes the test's HTTP client (may be null), then
   * stops exactly the processes started through {@code processes} (may be null), then deletes
   * {@code workDir} (may be null) — each step runs even when an earlier one throws.
   */
  static void cleanUp(java.net.http.HttpClient http, DsyncProcesses processes, Path workDir) throws Exception {
    try {
      if (http != null) {
        http.shutdownNow();
      }
    } finally {
      try {
        if (processes != null) {
          processes.stopAll();
        }
      } finally {
        if (workDir != null) {
          deleteTree(workDir);
        }
      }
    }
  }

  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
