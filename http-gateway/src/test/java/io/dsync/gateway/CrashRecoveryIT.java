package io.dsync.gateway;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * End to end, on real input, through a real process started the README way: a node started with
 * {@code ./dsync run} takes the text of {@code /usr/share/common-licenses/*} (one record per line)
 * from 4 concurrent producers, is SIGKILLed mid-stream ({@value #KILL_CYCLES} times), restarted on
 * the same data dir, and finally SIGKILLed once more while idle. Reading every partition back from
 * offset 0 must then show: every acknowledged record at exactly its acknowledged (partition,
 * offset) with the same key, value and headers; offsets contiguous from 0; every line of the corpus
 * at least once (unacknowledged batches are retried, so duplicates are allowed, losses are not);
 * nothing that is not a corpus line.
 *
 * <p>Scope: SIGKILL loses the process, not the OS page cache, so this proves that an acknowledged
 * produce was written and survives a process crash and recovery; it cannot tell an fsync from a
 * plain write (only a power cut could).
 *
 * <p>Runs in {@code verify} (failsafe) because it needs {@code http-gateway/target/dsync.jar}. The
 * node's output goes to {@code target/crash-recovery-it/node-N.log}.
 */
class CrashRecoveryIT {
  private static final Path CORPUS_DIR = Path.of("/usr/share/common-licenses");
  private static final String TOPIC = "corpus";
  private static final int PARTITIONS = 3;
  private static final int PRODUCERS = 4;
  private static final int BATCH_LINES = 100;
  /** SIGKILLs while the producers run, at 1/3 and 2/3 of the corpus acknowledged. */
  private static final int KILL_CYCLES = 2;
  private static final int PAGE_RECORDS = 1000;

  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration PRODUCE_TIMEOUT = Duration.ofSeconds(120);
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(15);
  /** Retries of one batch while the node is up (not being restarted): 100 ms apart. */
  private static final int MAX_RETRIES_WHILE_UP = 100;

  private static final ObjectMapper JSON = new ObjectMapper();

  /** One line of the corpus: the record's key is {@code file:number}, its value the text. */
  record Line(String file, int number, String text) {
    String key() {
      return file + ":" + number;
    }
  }

  record Position(int partition, long offset) {}

  /** A record as read back; {@code value} and {@code headers} as the JSON the node returned. */
  record Stored(int partition, long offset, String key, JsonNode value, JsonNode headers, long timestampMs) {}

  /** One kill while the producers run. */
  record Kill(long pid, long ackedAtSignal, long ackedAfterDeath, long restartedPid, long readyMs) {}

  private DsyncProcesses processes;
  private Path workDir;
  private Path dataDir;
  private Path logDir;
  private int port;
  private URI base;
  private HttpClient http;
  private ExecutorService producers;
  private volatile Process node;

  // Producer bookkeeping.
  private final Map<Position, Line> acked = new ConcurrentHashMap<>();
  private final Queue<String> ackConflicts = new ConcurrentLinkedQueue<>();
  private final AtomicInteger ackedLines = new AtomicInteger();
  private final LongAdder failedRequests = new LongAdder();
  private final LongAdder okRequests = new LongAdder();
  /** Completed while the node serves; replaced by an incomplete one just before each kill. */
  private volatile CompletableFuture<Void> nodeUp = CompletableFuture.completedFuture(null);
  private long[] killAt;
  private CountDownLatch[] killDue;

  @BeforeEach
  void setUp() throws IOException {
    Path repoRoot = DsyncProcesses.repoRootWithFreshJar();
    workDir = Files.createTempDirectory("dsync-crash-it-");
    dataDir = workDir.resolve("data");
    logDir = repoRoot.resolve("http-gateway/target/crash-recovery-it");
    processes = new DsyncProcesses(repoRoot, logDir, Map.of()); // only this run's node logs
    port = DsyncProcesses.freeLoopbackPort();
    base = URI.create("http://127.0.0.1:" + port);
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2)).build();
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (producers != null) {
        producers.shutdownNow();
        producers.awaitTermination(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
    } finally {
      DsyncProcesses.cleanUp(http, processes, workDir);
    }
  }

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void acknowledgedRecordsSurviveSigkillDuringConcurrentProduce() throws Exception {
    long t0 = System.nanoTime();
    try {
      run(t0);
    } catch (Throwable t) {
      DsyncProcesses.printLogTails(processes.logs(), 40);
      throw t;
    }
  }

  private void run(long t0) throws Exception {
    List<Line> corpus = readCorpus();
    Map<String, Line> byKey = new HashMap<>();
    for (Line l : corpus) {
      assertTrue(byKey.put(l.key(), l) == null, "duplicate corpus key " + l.key());
    }
    List<List<Line>> batches = new ArrayList<>();
    for (int i = 0; i < corpus.size(); i += BATCH_LINES) {
      batches.add(List.copyOf(corpus.subList(i, Math.min(i + BATCH_LINES, corpus.size()))));
    }
    long emptyLines = corpus.stream().filter(l -> l.text().isEmpty()).count();
    say("corpus: %d lines (%d empty, kept as \"\") from %d files in %s, %d batches of <= %d, %d producers",
        corpus.size(), emptyLines, corpus.stream().map(Line::file).distinct().count(), CORPUS_DIR, batches.size(),
        BATCH_LINES, PRODUCERS);

    node = startNode();
    long readyMs = awaitReady(node);
    say("node pid %d ready in %d ms on %s, data in %s", node.pid(), readyMs, base, dataDir);
    createTopic();

    killAt = new long[KILL_CYCLES];
    killDue = new CountDownLatch[KILL_CYCLES];
    for (int c = 0; c < KILL_CYCLES; c++) {
      killAt[c] = (long) corpus.size() * (c + 1) / (KILL_CYCLES + 1);
      killDue[c] = new CountDownLatch(1);
    }

    // Produce the corpus from 4 threads; kill -9 the node as the acknowledged count passes each mark.
    Queue<List<Line>> todo = new ConcurrentLinkedQueue<>(batches);
    producers = Executors.newFixedThreadPool(PRODUCERS);
    List<Future<?>> running = new ArrayList<>();
    long deadline = System.nanoTime() + PRODUCE_TIMEOUT.toNanos();
    for (int i = 0; i < PRODUCERS; i++) {
      running.add(producers.submit(() -> {
        for (List<Line> b; (b = todo.poll()) != null; ) {
          sendUntilAcked(b, deadline);
        }
        return null;
      }));
    }
    List<Kill> kills = new ArrayList<>();
    for (int c = 0; c < KILL_CYCLES; c++) {
      while (!killDue[c].await(100, TimeUnit.MILLISECONDS)) {
        rethrowIfAnyFailed(running);
        assertTrue(System.nanoTime() < deadline, "acknowledged only " + ackedLines.get() + " of " + corpus.size()
            + " lines in " + PRODUCE_TIMEOUT + "; next kill was due at " + killAt[c]);
      }
      long atSignal = ackedLines.get();
      nodeUp = new CompletableFuture<>();
      long pid = node.pid();
      processes.sigkill(node);
      long afterDeath = ackedLines.get();
      node = startNode();
      long ms = awaitReady(node);
      nodeUp.complete(null);
      kills.add(new Kill(pid, atSignal, afterDeath, node.pid(), ms));
      say("kill %d: pid %d SIGKILLed with %d/%d lines acknowledged (mark %d; %d when it was dead); "
          + "restarted as pid %d, ready in %d ms", c + 1, pid, atSignal, corpus.size(), killAt[c], afterDeath,
          node.pid(), ms);
      assertTrue(afterDeath < corpus.size(), "kill " + (c + 1) + " did not land mid-stream: all " + corpus.size()
          + " lines were acknowledged before the node died");
    }
    for (Future<?> f : running) {
      join(f, deadline - System.nanoTime());
    }
    producers.shutdown();
    say("producers done: %d batches acknowledged, %d failed requests retried, %d lines acknowledged",
        okRequests.sum(), failedRequests.sum(), ackedLines.get());
    assertTrue(ackConflicts.isEmpty(), "two acknowledgements named the same (partition, offset): " + ackConflicts);
    assertEquals(corpus.size(), ackedLines.get(), "every batch is acknowledged once");
    assertEquals(corpus.size(), acked.size(), "every acknowledged record has its own (partition, offset)");

    Map<Integer, List<Stored>> log = readAll();
    Counts counts = check(log, byKey);
    say("read back: %d records stored (partitions %s), %d acknowledged, %d distinct lines, %d duplicates "
        + "(records of unacknowledged batches that were retried)", counts.stored, counts.perPartition,
        acked.size(), counts.distinct, counts.duplicates);

    // The records acknowledged after the last restart must survive a crash too: kill -9 the idle
    // node, restart it and expect the very same log.
    long idlePid = node.pid();
    nodeUp = new CompletableFuture<>();
    processes.sigkill(node);
    node = startNode();
    long ms = awaitReady(node);
    nodeUp.complete(null);
    Map<Integer, List<Stored>> again = readAll();
    for (int p = 0; p < PARTITIONS; p++) {
      assertEquals(log.get(p).size(), again.get(p).size(), "partition " + p + " record count after the idle SIGKILL");
      for (int i = 0; i < log.get(p).size(); i++) {
        assertEquals(log.get(p).get(i), again.get(p).get(i), "partition " + p + " offset " + i + " after the idle SIGKILL");
      }
    }
    say("idle kill: pid %d SIGKILLed, restarted as pid %d, ready in %d ms; all %d records unchanged",
        idlePid, node.pid(), ms, counts.stored);
    say("summary: %d kills during produce + 1 idle; acknowledged=%d stored=%d duplicates=%d "
        + "failed_requests=%d; %.1f s", kills.size(), acked.size(), counts.stored, counts.duplicates,
        failedRequests.sum(), (System.nanoTime() - t0) / 1e9);
  }

  // ------------------------------------------------------------------ produce

  private void sendUntilAcked(List<Line> batch, long deadline) throws Exception {
    ObjectNode body = JSON.createObjectNode();
    ArrayNode records = body.putArray("records");
    for (Line l : batch) {
      ObjectNode r = records.addObject();
      r.put("key", l.key());
      r.put("value", l.text());
      r.putObject("headers").put("file", l.file());
    }
    byte[] bytes = JSON.writeValueAsBytes(body);
    HttpRequest req = HttpRequest.newBuilder(base.resolve("/v1/topics/" + TOPIC + "/records"))
        .timeout(REQUEST_TIMEOUT).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofByteArray(bytes)).build();
    int retriesWhileUp = 0;
    while (true) {
      assertTrue(System.nanoTime() < deadline, "batch starting at " + batch.get(0).key() + " not acknowledged in time");
      String why;
      try {
        HttpResponse<byte[]> resp = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
        if (resp.statusCode() == 200) {
          okRequests.increment();
          recordAck(batch, JSON.readTree(resp.body()));
          return;
        }
        String text = new String(resp.body(), UTF_8);
        if (resp.statusCode() != 503 && resp.statusCode() != 429) {
          throw new AssertionError("produce of the batch at " + batch.get(0).key() + " answered " + resp.statusCode()
              + ": " + text);
        }
        why = resp.statusCode() + " " + text;
      } catch (IOException e) {
        why = e.toString(); // connection refused or reset: the node is being killed or restarted
      }
      failedRequests.increment();
      // Not acknowledged: the records may or may not be stored. Retry once the node serves again.
      CompletableFuture<Void> up = nodeUp;
      if (up.isDone()) {
        if (++retriesWhileUp > MAX_RETRIES_WHILE_UP) {
          throw new AssertionError("batch at " + batch.get(0).key() + " failed " + MAX_RETRIES_WHILE_UP
              + " times while the node was up; last: " + why);
        }
        Thread.sleep(100);
      } else {
        up.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      }
    }
  }

  private void recordAck(List<Line> batch, JsonNode resp) {
    JsonNode offsets = resp.get("offsets");
    assertTrue(offsets != null && offsets.isArray() && offsets.size() == batch.size(),
        "a 200 must carry one offset per record, in request order: " + resp);
    for (int i = 0; i < batch.size(); i++) {
      JsonNode o = offsets.get(i);
      int p = o.get("partition").asInt();
      long off = o.get("offset").asLong();
      assertTrue(p >= 0 && p < PARTITIONS && off >= 0, "bad position in " + o);
      Line prev = acked.putIfAbsent(new Position(p, off), batch.get(i));
      if (prev != null) {
        ackConflicts.add("(" + p + ", " + off + "): " + prev.key() + " and " + batch.get(i).key());
      }
    }
    int n = ackedLines.addAndGet(batch.size());
    for (int c = 0; c < KILL_CYCLES; c++) {
      if (n >= killAt[c]) {
        killDue[c].countDown();
      }
    }
  }

  private static void rethrowIfAnyFailed(List<Future<?>> running) throws Exception {
    for (Future<?> f : running) {
      if (f.isDone()) {
        join(f, 1);
      }
    }
  }

  /** Waits for a producer and throws its own failure (an AssertionError stays one). */
  private static void join(Future<?> f, long timeoutNanos) throws Exception {
    try {
      f.get(Math.max(1, timeoutNanos), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      if (e.getCause() instanceof Exception ex) {
        throw ex;
      }
      throw e;
    }
  }

  // ------------------------------------------------------------------ read back and check

  private Map<Integer, List<Stored>> readAll() throws Exception {
    Map<Integer, List<Stored>> out = new LinkedHashMap<>();
    JsonNode topic = getJson("/v1/topics/" + TOPIC);
    for (int p = 0; p < PARTITIONS; p++) {
      List<Stored> list = new ArrayList<>();
      long offset = 0;
      for (int page = 0; ; page++) {
        assertTrue(page < 10_000, "partition " + p + ": paging does not end");
        JsonNode r = getJson("/v1/topics/" + TOPIC + "/partitions/" + p + "/records?offset=" + offset
            + "&max_records=" + PAGE_RECORDS + "&max_wait_ms=0");
        JsonNode records = r.get("records");
        long next = r.get("next_offset").asLong();
        long hw = r.get("high_watermark").asLong();
        if (records.isEmpty()) {
          assertEquals(list.size(), hw, "partition " + p + ": no records returned at offset " + offset
              + " but the high watermark is " + hw);
          break;
        }
        for (JsonNode rec : records) {
          long off = rec.get("offset").asLong();
          assertEquals(list.size(), off, "partition " + p + ": offsets must be contiguous from 0 (hole or reorder)");
          assertFalse(rec.has("value_base64"), "partition " + p + " offset " + off + ": a JSON value came back as bytes");
          list.add(new Stored(p, off, rec.path("key").isTextual() ? rec.get("key").asText() : null, rec.get("value"),
              rec.get("headers"), rec.get("timestamp_ms").asLong()));
        }
        assertEquals(list.size(), next, "partition " + p + ": next_offset after a page");
        offset = next;
      }
      JsonNode info = topic.get("partition_offsets").get(p);
      assertEquals(0, info.get("start_offset").asLong(), "partition " + p + " start_offset");
      assertEquals(list.size(), info.get("end_offset").asLong(), "partition " + p + " end_offset vs records read");
      out.put(p, list);
    }
    return out;
  }

  record Counts(int stored, List<Integer> perPartition, int distinct, int duplicates) {}

  private Counts check(Map<Integer, List<Stored>> log, Map<String, Line> corpus) {
    List<String> problems = new ArrayList<>();
    // 1. Every acknowledged record is at exactly its acknowledged position, byte for byte.
    for (Map.Entry<Position, Line> e : acked.entrySet()) {
      Position pos = e.getKey();
      Line want = e.getValue();
      List<Stored> part = log.get(pos.partition());
      if (pos.offset() >= part.size()) {
        problems.add("LOST acknowledged " + want.key() + " at " + pos + ": partition holds only " + part.size());
        continue;
      }
      String diff = differs(part.get((int) pos.offset()), want);
      if (diff != null) {
        problems.add("acknowledged " + want.key() + " at " + pos + ": " + diff);
      }
    }
    // 2. Everything stored is a corpus line (no garbage), one key stays on one partition, and
    //    every line is there at least once.
    Map<String, Integer> copies = new HashMap<>();
    Map<String, Integer> partitionOf = new HashMap<>();
    List<Integer> perPartition = new ArrayList<>();
    int stored = 0;
    for (List<Stored> part : log.values()) {
      perPartition.add(part.size());
      for (Stored s : part) {
        stored++;
        Line want = s.key() == null ? null : corpus.get(s.key());
        if (want == null) {
          problems.add("stored record " + new Position(s.partition(), s.offset()) + " has a key not in the corpus: " + s.key());
          continue;
        }
        String diff = differs(s, want);
        if (diff != null) {
          problems.add("stored " + want.key() + " at " + new Position(s.partition(), s.offset()) + ": " + diff);
        }
        copies.merge(s.key(), 1, Integer::sum);
        Integer p0 = partitionOf.putIfAbsent(s.key(), s.partition());
        if (p0 != null && p0 != s.partition()) {
          problems.add(s.key() + " is stored on partitions " + p0 + " and " + s.partition() + " (the ring must be stable)");
        }
      }
    }
    for (String key : corpus.keySet()) {
      if (!copies.containsKey(key)) {
        problems.add("corpus line " + key + " is not stored");
      }
    }
    if (!problems.isEmpty()) {
      fail(problems.size() + " problem(s) in the log read back; first ones:\n  "
          + String.join("\n  ", problems.subList(0, Math.min(20, problems.size()))));
    }
    return new Counts(stored, perPartition, copies.size(), stored - copies.size());
  }

  /** @return why {@code s} is not the record of {@code want}, or null if it is */
  private static String differs(Stored s, Line want) {
    if (!want.key().equals(s.key())) {
      return "key is " + s.key();
    }
    if (s.value() == null || !s.value().isTextual()
        || !Arrays.equals(want.text().getBytes(UTF_8), s.value().textValue().getBytes(UTF_8))) {
      return "value is " + s.value() + ", expected " + JSON.valueToTree(want.text());
    }
    if (s.headers() == null || !s.headers().equals(JSON.createObjectNode().put("file", want.file()))) {
      return "headers are " + s.headers() + ", expected {\"file\":\"" + want.file() + "\"}";
    }
    return null;
  }

  // ------------------------------------------------------------------ the node process

  private Process startNode() throws IOException {
    return processes.start("node-" + (processes.logs().size() + 1) + ".log", List.of("--http-port",
        Integer.toString(port), "--data-dir", dataDir.toString(), "--node-id", "n1"));
  }

  /** @return ms until {@code GET /ready} answered 200 */
  private long awaitReady(Process p) throws Exception {
    long t0 = System.nanoTime();
    long deadline = t0 + READY_TIMEOUT.toNanos();
    HttpRequest req = HttpRequest.newBuilder(base.resolve("/ready")).timeout(Duration.ofSeconds(2)).GET().build();
    while (true) {
      if (!p.isAlive()) {
        fail("node pid " + p.pid() + " exited with " + p.exitValue() + " before it was ready; see " + logDir);
      }
      try {
        if (http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return (System.nanoTime() - t0) / 1_000_000;
        }
      } catch (IOException e) {
        // not listening yet
      }
      if (System.nanoTime() > deadline) {
        fail("node pid " + p.pid() + " not ready within " + READY_TIMEOUT + "; see " + logDir);
      }
      Thread.sleep(100);
    }
  }

  // ------------------------------------------------------------------ helpers

  private void createTopic() throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/topics")).timeout(REQUEST_TIMEOUT)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"" + TOPIC + "\",\"partitions\":" + PARTITIONS + "}"))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(201, r.statusCode(), "create topic: " + r.body());
  }

  private JsonNode getJson(String pathAndQuery) throws Exception {
    HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(base.resolve(pathAndQuery)).timeout(REQUEST_TIMEOUT)
        .GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, r.statusCode(), "GET " + pathAndQuery + ": " + new String(r.body(), UTF_8));
    return JSON.readTree(r.body());
  }

  /** The corpus: every regular file of {@link #CORPUS_DIR} by name, each line (empty ones too). */
  private static List<Line> readCorpus() throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.list(CORPUS_DIR)) {
      files = s.filter(f -> Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS))
          .sorted(Comparator.comparing(f -> f.getFileName().toString())).toList();
    }
    assertFalse(files.isEmpty(), "no corpus files in " + CORPUS_DIR);
    List<Line> out = new ArrayList<>();
    for (Path f : files) {
      String text;
      try {
        text = UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(Files.readAllBytes(f))).toString();
      } catch (CharacterCodingException e) {
        throw new IOException(f + " is not UTF-8 text", e);
      }
      String name = f.getFileName().toString();
      int n = 0;
      for (String line : (Iterable<String>) text.lines()::iterator) {
        out.add(new Line(name, ++n, line));
      }
    }
    return out;
  }

  private static void say(String format, Object... args) {
    System.out.println("CrashRecoveryIT: " + String.format(format, args));
  }
}
