package io.dsync.bench.gatling;

import static io.gatling.javaapi.core.CoreDsl.atOnceUsers;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.jmesPath;
import static io.gatling.javaapi.core.CoreDsl.listFeeder;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Fetch (read) throughput over HTTP: readers page through the topic's partitions from their
 * start offset (0 unless retention removed records) with
 * {@code GET /v1/topics/{topic}/partitions/{p}/records?offset=o&max_records={page}} and no
 * long-poll, each issuing the next page as soon as the previous one arrived.
 *
 * <p>The topic must exist and hold records (run {@link ProduceSimulation} first). Its partitions
 * and their end offsets are read once when the simulation is built; records produced later are
 * not read. Reader {@code i} reads partition {@code i mod P} (P = partitions holding records), so
 * fewer readers than P leave partitions unread and more than P read some partitions twice.
 *
 * <p>Properties (see also {@link BenchConfig}): {@code users} readers (default: one per
 * non-empty partition), {@code page} records per fetch (default 1000), {@code duration}
 * seconds (default 0: each reader reads its partition once, to the end offset seen at start,
 * then stops; greater than 0: each reader starts over at the start offset whenever it reaches
 * the end, until the time is up; repeated passes are served from warm caches).
 *
 * <p><b>Units.</b> Gatling's report gives requests/s (one request = one page) and latency in
 * ms; {@link #after()} prints records/s read (counted from each 200 response's record list)
 * over the whole run.
 */
public final class FetchSimulation extends Simulation {
  private static final int PAGE = BenchConfig.intProperty("page", 1000, 1);
  private static final int DURATION_S = BenchConfig.intProperty("duration", 0, 0);
  private static final int MAX_DURATION_S = BenchConfig.intProperty("maxDuration", 600, 1);

  private static final AtomicLong RECORDS_READ = new AtomicLong();
  private static final AtomicLong REQUESTS_OK = new AtomicLong();

  private final List<Map<String, Object>> partitions;
  private final int users;
  private long startNanos;

  /** Reads the topic's partitions and builds one reader per user. */
  public FetchSimulation() {
    partitions = nonEmptyPartitions();
    users = BenchConfig.intProperty("users", partitions.size(), 1);

    HttpProtocolBuilder protocol = http.baseUrls(BenchConfig.BASE_URL.split(","))
        .acceptHeader("application/json")
        .disableWarmUp();

    String prefix = "/v1/topics/" + BenchConfig.TOPIC + "/partitions/";
    ScenarioBuilder readers = scenario("fetch")
        .feed(listFeeder(partitions).circular())
        .exec(session -> session.set("offset", session.getLong("start"))
            .set("deadline", System.nanoTime() + DURATION_S * 1_000_000_000L))
        .asLongAs(FetchSimulation::keepReading).on(
            exec(http("fetch max_records=" + PAGE)
                .get(session -> prefix + session.getInt("partition") + "/records?offset="
                    + session.getLong("offset") + "&max_records=" + PAGE)
                .check(status().is(200),
                    jmesPath("length(records)").ofInt().saveAs("n"),
                    jmesPath("next_offset").ofLong().saveAs("next")))
            .exitHereIfFailed()
            .exec(FetchSimulation::advance));

    setUp(readers.injectOpen(atOnceUsers(users))).protocols(protocol)
        .maxDuration(Duration.ofSeconds(DURATION_S > 0 ? DURATION_S + 60L : MAX_DURATION_S));
  }

  private static boolean keepReading(Session s) {
    if (DURATION_S > 0) {
      return System.nanoTime() - s.getLong("deadline") < 0;
    }
    return s.getLong("offset") < s.getLong("end");
  }

  private static Session advance(Session s) {
    int n = s.getInt("n");
    long offset = s.getLong("offset");
    long next = s.getLong("next");
    RECORDS_READ.addAndGet(n);
    REQUESTS_OK.incrementAndGet();
    if (next <= offset) {
      // No progress (records removed under us?): stop this pass rather than spin.
      next = s.getLong("end");
    }
    if (DURATION_S > 0 && next >= s.getLong("end")) {
      next = s.getLong("start");
    }
    return s.set("offset", next).remove("n").remove("next");
  }

  /** Starts the clock. */
  @Override
  public void before() {
    long total = 0;
    for (Map<String, Object> p : partitions) {
      total += (long) p.get("end") - (long) p.get("start");
    }
    System.out.printf("FetchSimulation: %s, topic %s, %d partitions holding %d records, %d readers, "
            + "pages of %d, %s%n", BenchConfig.BASE_URL, BenchConfig.TOPIC, partitions.size(), total, users, PAGE,
        DURATION_S > 0 ? "looping for " + DURATION_S + " s" : "one pass");
    startNanos = System.nanoTime();
  }

  /** Prints the records/s summary, which Gatling's report does not show. */
  @Override
  public void after() {
    long nanos = System.nanoTime() - startNanos;
    System.out.printf("FetchSimulation summary: %d OK requests, %d records read in %.1f s: %s requests/s, "
            + "%s records/s%n", REQUESTS_OK.get(), RECORDS_READ.get(), nanos / 1e9,
        BenchConfig.perSecond(REQUESTS_OK.get(), nanos), BenchConfig.perSecond(RECORDS_READ.get(), nanos));
  }

  /** The partitions with records, as feeder rows {partition, start, end}. */
  private static List<Map<String, Object>> nonEmptyPartitions() {
    HttpResponse<String> r = BenchConfig.call("GET", "/v1/topics/" + BenchConfig.TOPIC, null);
    if (r.statusCode() == 404) {
      throw new IllegalStateException("topic " + BenchConfig.TOPIC + " does not exist: run ProduceSimulation first");
    }
    if (r.statusCode() != 200) {
      throw new IllegalStateException("reading topic " + BenchConfig.TOPIC + " failed: HTTP " + r.statusCode()
          + " " + r.body());
    }
    JsonNode topic;
    try {
      topic = new ObjectMapper().readTree(r.body());
    } catch (IOException e) {
      throw new IllegalStateException("unreadable topic description: " + r.body(), e);
    }
    List<Map<String, Object>> out = new ArrayList<>();
    for (JsonNode p : topic.path("partition_offsets")) {
      long start = p.path("start_offset").asLong();
      long end = p.path("end_offset").asLong();
      if (end > start) {
        out.add(Map.of("partition", p.path("partition").asInt(), "start", start, "end", end));
      }
    }
    if (out.isEmpty()) {
      throw new IllegalStateException("topic " + BenchConfig.TOPIC + " holds no records: run ProduceSimulation first");
    }
    return out;
  }
}
