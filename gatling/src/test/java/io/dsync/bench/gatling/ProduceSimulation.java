package io.dsync.bench.gatling;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.atOnceUsers;
import static io.gatling.javaapi.core.CoreDsl.constantUsersPerSec;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.jmesPath;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Produce throughput over HTTP: {@code users} concurrent producers (closed model, one HTTP/1.1
 * connection each), each looping {@code POST /v1/topics/{topic}/records} with {@code batch}
 * records for {@code duration} seconds, sending the next batch as soon as the previous one is
 * acknowledged (so each request measures commit latency: Raft append + fsync + apply).
 *
 * <p>Records: a distinct key ({@code k<sequence>}, spread over the partitions by the broker's
 * hash ring) and a JSON string value of {@code recordBytes} bytes including its quotes (random
 * letters and digits, from a pool of 256, so RocksDB's LZ4 cannot shrink them much).
 *
 * <p>Before the run the topic is created with {@code partitions} partitions; 409 (it exists) is
 * fine. Properties (see also {@link BenchConfig}): {@code users} (default 4), {@code duration}
 * seconds (default 30), {@code batch} records per request (default 100), {@code recordBytes}
 * (default 1024), {@code rate} (default 0: closed model as above; a positive value switches to an
 * open model of {@code rate} requests per second, each a new virtual user sending one batch, for
 * latency at a fixed load), {@code baseUrl} (one URL, or several separated by commas: virtual users
 * are spread over them round-robin, so every node of a cluster receives traffic).
 *
 * <p><b>Units.</b> Gatling's report gives requests/s (one request = one batch) and latency in
 * ms; {@link #after()} prints records acknowledged/s (= OK requests/s x batch, counted from the
 * offsets in each 200 response) and payload MiB/s, over the whole run including ramp-up.
 */
public final class ProduceSimulation extends Simulation {
  private static final int USERS = BenchConfig.intProperty("users", 4, 1);
  private static final int DURATION_S = BenchConfig.intProperty("duration", 30, 1);
  private static final int BATCH = BenchConfig.intProperty("batch", 100, 1);
  private static final int RECORD_BYTES = BenchConfig.intProperty("recordBytes", 1024, 2);
  private static final int RATE = BenchConfig.intProperty("rate", 0, 0);
  private static final int VALUE_POOL = 256;

  private static final AtomicLong KEY_SEQUENCE = new AtomicLong();
  private static final AtomicLong RECORDS_ACKED = new AtomicLong();
  private static final AtomicLong REQUESTS_OK = new AtomicLong();
  private static final String[] VALUES = values();

  private long startNanos;

  /** Builds the scenario: each user loops produce requests until the duration ends. */
  public ProduceSimulation() {
    HttpProtocolBuilder protocol = http.baseUrls(BenchConfig.BASE_URL.split(","))
        .acceptHeader("application/json")
        .contentTypeHeader("application/json")
        .disableWarmUp();

    ScenarioBuilder producers = scenario("produce")
        .during(Duration.ofSeconds(DURATION_S), false).on( // false: let the last request finish and be counted
            exec(http("produce " + BATCH + " x " + RECORD_BYTES + " B")
                .post("/v1/topics/" + BenchConfig.TOPIC + "/records")
                .body(StringBody(session -> batchBody()))
                .check(status().is(200), jmesPath("length(offsets)").ofInt().saveAs("acked")))
            .exec(ProduceSimulation::countAcked));

    ScenarioBuilder oneShot = scenario("produce at a fixed rate")
        .exec(http("produce " + BATCH + " x " + RECORD_BYTES + " B")
            .post("/v1/topics/" + BenchConfig.TOPIC + "/records")
            .body(StringBody(session -> batchBody()))
            .check(status().is(200), jmesPath("length(offsets)").ofInt().saveAs("acked")))
        .exec(ProduceSimulation::countAcked);
    if (RATE > 0) {
      setUp(oneShot.injectOpen(constantUsersPerSec(RATE).during(Duration.ofSeconds(DURATION_S)))).protocols(protocol)
          .maxDuration(Duration.ofSeconds(DURATION_S + 60L));
    } else {
      setUp(producers.injectOpen(atOnceUsers(USERS))).protocols(protocol)
          .maxDuration(Duration.ofSeconds(DURATION_S + 60L));
    }
  }

  private static Session countAcked(Session session) {
    if (!session.contains("acked")) {
      return session; // the request failed; Gatling counts it as KO
    }
    RECORDS_ACKED.addAndGet(session.getInt("acked"));
    REQUESTS_OK.incrementAndGet();
    return session.remove("acked");
  }

  /** Creates the topic (409 = it already exists, fine) and starts the clock. */
  @Override
  public void before() {
    System.out.printf("ProduceSimulation: %s, topic %s, %d users, %d s, %d records x %d B per request%n",
        BenchConfig.BASE_URL, BenchConfig.TOPIC, USERS, DURATION_S, BATCH, RECORD_BYTES);
    HttpResponse<String> r = BenchConfig.call("POST", "/v1/topics",
        "{\"name\":\"" + BenchConfig.TOPIC + "\",\"partitions\":" + BenchConfig.PARTITIONS + "}");
    if (r.statusCode() != 201 && r.statusCode() != 409) {
      throw new IllegalStateException("creating topic " + BenchConfig.TOPIC + " failed: HTTP " + r.statusCode()
          + " " + r.body());
    }
    System.out.println("ProduceSimulation: topic " + BenchConfig.TOPIC
        + (r.statusCode() == 201 ? " created" : " already exists (409), reusing it"));
    startNanos = System.nanoTime();
  }

  /** Prints the records/s summary, which Gatling's report does not show. */
  @Override
  public void after() {
    long nanos = System.nanoTime() - startNanos;
    long records = RECORDS_ACKED.get();
    System.out.printf("ProduceSimulation summary: %d OK requests, %d records acknowledged in %.1f s: "
            + "%s requests/s, %s records/s, %.1f MiB/s of values%n",
        REQUESTS_OK.get(), records, nanos / 1e9, BenchConfig.perSecond(REQUESTS_OK.get(), nanos),
        BenchConfig.perSecond(records, nanos), records * (double) RECORD_BYTES * 1e9 / nanos / (1 << 20));
  }

  /** One request body: {@code {"records":[{"key":"k1","value":"..."}, ...]}}. */
  private static String batchBody() {
    long first = KEY_SEQUENCE.getAndAdd(BATCH);
    StringBuilder sb = new StringBuilder(BATCH * (RECORD_BYTES + 40) + 16);
    sb.append("{\"records\":[");
    for (int i = 0; i < BATCH; i++) {
      long key = first + i;
      if (i > 0) {
        sb.append(',');
      }
      sb.append("{\"key\":\"k").append(key).append("\",\"value\":")
          .append(VALUES[(int) (key % VALUE_POOL)]).append('}');
    }
    return sb.append("]}").toString();
  }

  /** JSON string literals of exactly RECORD_BYTES bytes (quotes included), no escapes needed. */
  private static String[] values() {
    String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    SplittableRandom random = new SplittableRandom(7);
    String[] out = new String[VALUE_POOL];
    for (int v = 0; v < VALUE_POOL; v++) {
      StringBuilder sb = new StringBuilder(RECORD_BYTES);
      sb.append('"');
      for (int i = 0; i < RECORD_BYTES - 2; i++) {
        sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
      }
      out[v] = sb.append('"').toString();
    }
    return out;
  }
}
