package io.dsync.bench.gatling;

import static io.gatling.javaapi.core.CoreDsl.atOnceUsers;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.jmesPath;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.bodyString;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gatling.javaapi.core.PopulationBuilder;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Session;
import io.gatling.javaapi.core.Simulation;
import io.gatling.javaapi.http.HttpProtocolBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A mixed producer/consumer workload on one topic, all at once for {@code duration} seconds:
 *
 * <ul>
 *   <li>{@code producers} users post batches of {@code batch} records ({@code recordBytes} of
 *       padding each; the value carries the send time), pausing {@code pauseMs} between batches
 *       (0: as fast as answers come; use it to hold a fixed load for latency);
 *   <li>{@code queueConsumers} users of queue group {@code mixed-q} lease up to {@code lease}
 *       records ({@code max_wait_ms} 1000, visibility 30 s) and ack each leased batch at once;
 *   <li>{@code streamConsumers} users of consumer group {@code mixed-s} each read one partition
 *       ({@code i mod partitions}) from its committed offset with a 1 s long poll and commit the
 *       next offset after every page (Kafka's poll/commit loop).
 * </ul>
 *
 * <p>The topic is created when missing ({@code partitions}). {@link #after()} prints records/s
 * produced, leased, acked and fetched, and the end-to-end latency from the producer's send to
 * the lease that delivered the record (p50/p99, ms; one JVM clock, so meaningful only with
 * Gatling and its producers in one process, as here). Run with {@code bench/gatling.sh mixed}.
 */
public final class MixedSimulation extends Simulation {
  private static final int DURATION_S = BenchConfig.intProperty("duration", 30, 1);
  private static final int PRODUCERS = BenchConfig.intProperty("producers", 2, 0);
  private static final int QUEUE_CONSUMERS = BenchConfig.intProperty("queueConsumers", 2, 0);
  private static final int STREAM_CONSUMERS = BenchConfig.intProperty("streamConsumers", 1, 0);
  private static final int BATCH = BenchConfig.intProperty("batch", 100, 1);
  private static final int LEASE = BenchConfig.intProperty("lease", 100, 1);
  private static final int RECORD_BYTES = BenchConfig.intProperty("recordBytes", 1024, 0);
  private static final int PAUSE_MS = BenchConfig.intProperty("pauseMs", 0, 0);
  private static final String QUEUE_GROUP = "mixed-q";
  private static final String STREAM_GROUP = "mixed-s";

  private static final AtomicLong PRODUCED = new AtomicLong();
  private static final AtomicLong LEASED = new AtomicLong();
  private static final AtomicLong ACKED = new AtomicLong();
  private static final AtomicLong FETCHED = new AtomicLong();
  private static final ConcurrentLinkedQueue<Long> E2E_MICROS = new ConcurrentLinkedQueue<>();
  private static final ObjectMapper JSON = new ObjectMapper();

  private long startNanos;

  /** Builds the three scenarios. */
  public MixedSimulation() {
    HttpProtocolBuilder protocol = http.baseUrls(BenchConfig.BASE_URL.split(","))
        .contentTypeHeader("application/json").acceptHeader("application/json").disableWarmUp();
    String topic = "/v1/topics/" + BenchConfig.TOPIC;
    String pad = "x".repeat(RECORD_BYTES);

    ScenarioBuilder producers = scenario("produce")
        .exec(s -> s.set("deadline", System.nanoTime() + DURATION_S * 1_000_000_000L))
        .asLongAs(MixedSimulation::beforeDeadline).on(
            exec(http("produce " + BATCH)
                .post(topic + "/records")
                .body(StringBody(s -> batch(pad)))
                .check(status().saveAs("status"), status().is(200)))
            .exec(s -> {
              // Count by this answer's status: a session stays "failed" after its first KO.
              if (s.contains("status") && s.getInt("status") == 200) {
                PRODUCED.addAndGet(BATCH);
              }
              return s.remove("status").markAsSucceeded();
            })
            .pause(Duration.ofMillis(PAUSE_MS)));

    ScenarioBuilder queue = scenario("lease+ack")
        .exec(s -> s.set("deadline", System.nanoTime() + DURATION_S * 1_000_000_000L))
        .asLongAs(MixedSimulation::beforeDeadline).on(
            exec(http("lease " + LEASE)
                .post(topic + "/leases")
                .body(StringBody("{\"group\":\"" + QUEUE_GROUP + "\",\"max_records\":" + LEASE
                    + ",\"visibility_timeout_ms\":30000,\"max_wait_ms\":1000}"))
                .check(status().is(200), bodyString().saveAs("leased")))
            .exec(MixedSimulation::afterLease)
            .doIf(s -> s.contains("ackBody")).then(
                exec(http("ack")
                    .post(topic + "/acks")
                    .body(StringBody(s -> s.getString("ackBody")))
                    .check(status().is(200), jmesPath("acked").ofInt().saveAs("acked")))
                .exec(s -> {
                  if (s.contains("acked")) {
                    ACKED.addAndGet(s.getInt("acked"));
                  }
                  return s.remove("ackBody").remove("acked");
                })));

    ScenarioBuilder stream = scenario("fetch+commit")
        .exec(s -> s.set("deadline", System.nanoTime() + DURATION_S * 1_000_000_000L)
            .set("partition", (int) (s.userId() % BenchConfig.PARTITIONS)).set("offset", 0L))
        .asLongAs(MixedSimulation::beforeDeadline).on(
            exec(http("fetch")
                .get(s -> topic + "/partitions/" + s.getInt("partition") + "/records?offset=" + s.getLong("offset")
                    + "&max_records=1000&max_wait_ms=1000")
                .check(status().is(200), jmesPath("length(records)").ofInt().saveAs("n"),
                    jmesPath("next_offset").ofLong().saveAs("next")))
            .exec(s -> {
              FETCHED.addAndGet(s.contains("n") ? s.getInt("n") : 0);
              return s.contains("next") ? s.set("offset", s.getLong("next")) : s;
            })
            .exec(http("commit")
                .post("/v1/groups/" + STREAM_GROUP + "/offsets")
                .body(StringBody(s -> "{\"offsets\":[{\"topic\":\"" + BenchConfig.TOPIC + "\",\"partition\":"
                    + s.getInt("partition") + ",\"offset\":" + s.getLong("offset") + "}]}"))
                .check(status().is(200))));

    List<PopulationBuilder> populations = new ArrayList<>();
    if (PRODUCERS > 0) {
      populations.add(producers.injectOpen(atOnceUsers(PRODUCERS)));
    }
    if (QUEUE_CONSUMERS > 0) {
      populations.add(queue.injectOpen(atOnceUsers(QUEUE_CONSUMERS)));
    }
    if (STREAM_CONSUMERS > 0) {
      populations.add(stream.injectOpen(atOnceUsers(STREAM_CONSUMERS)));
    }
    if (populations.isEmpty()) {
      throw new IllegalArgumentException("nothing to run: producers, queueConsumers and streamConsumers are all 0");
    }
    setUp(populations).protocols(protocol).maxDuration(Duration.ofSeconds(DURATION_S + 30L));
  }

  private static boolean beforeDeadline(Session s) {
    return System.nanoTime() - s.getLong("deadline") < 0;
  }

  /** A batch of records whose value carries the send time (ns, this JVM's clock). */
  private static String batch(String pad) {
    long now = System.nanoTime();
    StringBuilder b = new StringBuilder(BATCH * (RECORD_BYTES + 40)).append("{\"records\":[");
    for (int i = 0; i < BATCH; i++) {
      if (i > 0) {
        b.append(',');
      }
      b.append("{\"value\":{\"t\":").append(now).append(",\"pad\":\"").append(pad).append("\"}}");
    }
    return b.append("]}").toString();
  }

  /** Counts the leased records, measures send → lease, and builds the ack body. */
  private static Session afterLease(Session s) {
    if (!s.contains("leased")) {
      return s;
    }
    long now = System.nanoTime();
    List<String> ids = new ArrayList<>();
    try {
      JsonNode records = JSON.readTree(s.getString("leased")).path("records");
      for (JsonNode r : records) {
        ids.add(r.path("lease_id").asText());
        JsonNode t = r.path("value").path("t");
        if (t.isNumber() && r.path("delivery_count").asInt() == 1) {
          E2E_MICROS.add((now - t.asLong()) / 1000);
        }
      }
    } catch (IOException e) {
      return s.remove("leased");
    }
    LEASED.addAndGet(ids.size());
    Session out = s.remove("leased");
    if (ids.isEmpty()) {
      return out;
    }
    StringBuilder b = new StringBuilder("{\"group\":\"" + QUEUE_GROUP + "\",\"lease_ids\":[");
    for (int i = 0; i < ids.size(); i++) {
      b.append(i > 0 ? "," : "").append('"').append(ids.get(i)).append('"');
    }
    return out.set("ackBody", b.append("]}").toString());
  }

  /** Creates the topic when missing and starts the clock. */
  @Override
  public void before() {
    var r = BenchConfig.call("POST", "/v1/topics",
        "{\"name\":\"" + BenchConfig.TOPIC + "\",\"partitions\":" + BenchConfig.PARTITIONS + "}");
    if (r.statusCode() != 201 && r.statusCode() != 409) {
      throw new IllegalStateException("cannot create topic " + BenchConfig.TOPIC + ": HTTP " + r.statusCode() + " " + r.body());
    }
    System.out.printf("MixedSimulation: %s, topic %s, %d producers (batches of %d x %d B, pause %d ms), %d queue "
            + "consumers (leases of %d), %d stream consumers, %d s%n", BenchConfig.BASE_URL, BenchConfig.TOPIC, PRODUCERS,
        BATCH, RECORD_BYTES, PAUSE_MS, QUEUE_CONSUMERS, LEASE, STREAM_CONSUMERS, DURATION_S);
    startNanos = System.nanoTime();
  }

  /** Prints records/s per activity and the end-to-end latency, which Gatling's report does not show. */
  @Override
  public void after() {
    long nanos = System.nanoTime() - startNanos;
    long[] e2e = E2E_MICROS.stream().mapToLong(Long::longValue).toArray();
    Arrays.sort(e2e);
    String latency = e2e.length == 0 ? "no first deliveries measured"
        : String.format("produce->lease (first delivery) p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d records",
            e2e[e2e.length / 2] / 1000.0, e2e[(int) Math.min(e2e.length - 1, (long) (e2e.length * 0.99))] / 1000.0,
            e2e[e2e.length - 1] / 1000.0, e2e.length);
    System.out.printf("MixedSimulation summary in %.1f s: produced %s records/s, leased %s/s, acked %s/s, "
            + "fetched %s/s; %s%n", nanos / 1e9, BenchConfig.perSecond(PRODUCED.get(), nanos),
        BenchConfig.perSecond(LEASED.get(), nanos), BenchConfig.perSecond(ACKED.get(), nanos),
        BenchConfig.perSecond(FETCHED.get(), nanos), latency);
  }
}
