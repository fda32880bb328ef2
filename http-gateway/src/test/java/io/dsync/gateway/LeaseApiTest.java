package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Queue consumption over real HTTP on one node (API.md, "Queue consumption"): lease, ack,
 * release, reject (to the dead-letter topic), extend, redelivery after expiry, priorities, the
 * in-flight cap, a long poll woken by a produce, and bad input on every endpoint — each refused
 * request gets a 4xx problem+json and changes nothing (topics and the Raft log compared before and
 * after). No request may get a 500.
 */
class LeaseApiTest {
  /** The node's in-flight cap per group, small so the test can reach it. */
  static final int CAP = 5;

  /** Topic {@value} (2 partitions, 3 records) where group {@code g} leased one record. */
  static final String BAD = "lease-bad";

  @TempDir static Path dir;
  static TestNode n;
  static String badLeaseId;

  @BeforeAll
  static void start() {
    n = TestNode.start(NodeConfig.defaults().withPortAndDir(0, dir).withMaxInFlightPerGroup(CAP));
    n.createTopic(BAD, 2);
    n.produce(BAD, "{\"records\":[{\"value\":1},{\"value\":2},{\"value\":3}]}");
    badLeaseId = ids(lease(BAD, "{\"group\":\"g\",\"max_records\":1}")).get(0);
  }

  @AfterAll
  static void stop() {
    if (n != null) {
      n.close();
    }
  }

  @AfterEach
  void noServerErrors() {
    assertEquals(List.of(), n.drainServerErrors());
  }

  static JsonNode lease(String topic, String body) {
    JsonNode records = n.post("/v1/topics/" + topic + "/leases", body).expect(200).json().get("records");
    assertTrue(records.isArray(), records::toString);
    return records;
  }

  static JsonNode settle(String topic, String action, String group, List<String> ids) {
    return n.post("/v1/topics/" + topic + "/" + action, "{\"group\":\"" + group + "\",\"lease_ids\":" + json(ids) + "}")
        .expect(200).json();
  }

  static List<String> ids(JsonNode records) {
    List<String> out = new ArrayList<>();
    records.forEach(r -> out.add(r.get("lease_id").asText()));
    return out;
  }

  static List<String> texts(JsonNode records, String field) {
    List<String> out = new ArrayList<>();
    records.forEach(r -> out.add(r.path(field).toString()));
    return out;
  }

  static String json(Object o) {
    try {
      return TestNode.JSON.writeValueAsString(o);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  static long lastIndex() {
    return n.get("/v1/cluster/status").expect(200).json().get("last_index").asLong();
  }

  // ------------------------------------------------------------------ the happy paths

  @Test
  void leasedRecordsComeHighestPriorityFirstRenderedLikeFetchAndAckedOnce() {
    n.createTopic("jobs", 2);
    n.produce("jobs", """
        {"records":[
          {"key":"a","value":{"n":1,"x":[2.5,"s",null]},"priority":1},
          {"key":"b","value":"urgent","headers":{"h":"v"},"priority":9},
          {"value_base64":"AAECAw==","priority":1},
          {"key":"c","value":3,"priority":5}]}""");
    JsonNode leased = lease("jobs", "{\"group\":\"workers\",\"max_records\":10,\"visibility_timeout_ms\":60000}");
    assertEquals(List.of("\"urgent\"", "3", "{\"n\":1,\"x\":[2.5,\"s\",null]}", ""), texts(leased, "value"));
    assertEquals(List.of("9", "5", "1", "1"), texts(leased, "priority"));
    for (JsonNode r : leased) {
      assertTrue(r.get("lease_id").asText().matches("[0-9a-z]{1,13}(\\.[0-9a-z]{1,13}){3}"), r::toString);
      assertEquals(1, r.get("delivery_count").asInt());
      assertTrue(r.get("lease_expires_ms").asLong() > r.get("timestamp_ms").asLong(), r::toString);
      // The record's fields are exactly what a fetch of the same offset shows.
      JsonNode fetched = n.fetch("jobs", r.get("partition").asInt(), "?offset=" + r.get("offset").asLong() + "&max_records=1")
          .get("records").get(0);
      ObjectNode own = r.deepCopy();
      own.remove(List.of("lease_id", "partition", "delivery_count", "lease_expires_ms"));
      assertEquals(fetched, own);
    }
    assertEquals("AAECAw==", leased.get(3).get("value_base64").asText());

    List<String> ids = ids(leased);
    String made = "1.0.zz.1";
    JsonNode acked = settle("jobs", "acks", "workers", List.of(ids.get(0), ids.get(1), made));
    assertEquals(2, acked.get("acked").asInt());
    assertEquals(List.of(made), TestNode.JSON.convertValue(acked.get("unknown"), List.class));
    JsonNode again = settle("jobs", "acks", "workers", List.of(ids.get(0)));
    assertEquals(0, again.get("acked").asInt(), "an acked lease is gone");

    assertEquals(0, lease("jobs", "{\"group\":\"workers\"}").size(), "the other two are still leased");
    assertEquals(4, lease("jobs", "{\"group\":\"others\"}").size(), "another group gets every record");
  }

  @Test
  void releaseRedeliversRejectDeadLettersAndExtendMovesTheExpiry() {
    n.createTopic("tasks", 1);
    n.produce("tasks", "{\"records\":[{\"value\":\"r0\"},{\"value\":\"r1\"},{\"value\":\"r2\"}]}");
    List<String> first = ids(lease("tasks", "{\"group\":\"w\",\"max_records\":3}"));

    JsonNode released = settle("tasks", "releases", "w", List.of(first.get(0)));
    assertEquals("{\"released\":1,\"dead_lettered\":0,\"unknown\":[]}", released.toString());
    JsonNode back = lease("tasks", "{\"group\":\"w\"}");
    assertEquals(List.of("\"r0\""), texts(back, "value"));
    assertEquals(2, back.get(0).get("delivery_count").asInt());
    assertNotEquals(first.get(0), back.get(0).get("lease_id").asText());

    JsonNode rejected = settle("tasks", "rejects", "w", List.of(first.get(1)));
    assertEquals(1, rejected.get("rejected").asInt());
    JsonNode dead = n.fetch("tasks.dlq", 0, "").get("records");
    assertEquals(1, dead.size());
    assertEquals("\"r1\"", dead.get(0).get("value").toString());
    JsonNode h = dead.get(0).get("headers");
    assertEquals("tasks", h.get("dsync-source-topic").asText());
    assertEquals("0", h.get("dsync-source-partition").asText());
    assertEquals("1", h.get("dsync-source-offset").asText());
    assertEquals("1", h.get("dsync-delivery-count").asText());
    assertEquals("rejected", h.get("dsync-dlq-reason").asText());
    assertEquals("w", h.get("dsync-dlq-group").asText());

    String r2 = first.get(2);
    JsonNode extended = n.post("/v1/topics/tasks/leases/extend",
        "{\"group\":\"w\",\"lease_ids\":[\"" + r2 + "\",\"" + first.get(1) + "\"],\"visibility_timeout_ms\":3600000}")
        .expect(200).json();
    assertEquals(1, extended.get("extended").asInt());
    assertEquals(r2, extended.get("leases").get(0).get("lease_id").asText());
    assertTrue(extended.get("leases").get(0).get("lease_expires_ms").asLong() > 0);
    assertEquals(List.of(first.get(1)), TestNode.JSON.convertValue(extended.get("unknown"), List.class),
        "a rejected lease cannot be extended");
  }

  @Test
  void anExpiredLeaseIsRedeliveredToAWaitingLeaseAndItsOldIdIsUnknown() {
    n.createTopic("expiring", 1);
    n.produce("expiring", "{\"records\":[{\"value\":\"x\"}]}");
    String first = ids(lease("expiring", "{\"group\":\"w\",\"visibility_timeout_ms\":50}")).get(0);
    // Nothing is available until the lease expires; the long poll is woken by the expiry tick.
    JsonNode again = lease("expiring", "{\"group\":\"w\",\"visibility_timeout_ms\":60000,\"max_wait_ms\":30000}");
    assertEquals(1, again.size(), "redelivered within the long poll");
    assertEquals(2, again.get(0).get("delivery_count").asInt());
    JsonNode late = settle("expiring", "acks", "w", List.of(first));
    assertEquals(0, late.get("acked").asInt());
    assertEquals(List.of(first), TestNode.JSON.convertValue(late.get("unknown"), List.class));
    assertEquals(1, settle("expiring", "acks", "w", ids(again)).get("acked").asInt(), "the redelivered copy is live");
  }

  @Test
  void aLongPollLeaseIsWokenByAProduce() throws Exception {
    n.createTopic("waiting", 3);
    long before = lastIndex();
    assertEquals(0, lease("waiting", "{\"group\":\"w\"}").size());
    assertEquals(before, lastIndex(), "a poll that finds nothing writes nothing to the log");

    CompletableFuture<JsonNode> poll = CompletableFuture.supplyAsync(
        () -> lease("waiting", "{\"group\":\"w\",\"max_wait_ms\":30000}"));
    TestNode.sleep(200); // usually the poll is waiting by now; if not, it finds the record at once
    n.produce("waiting", "{\"records\":[{\"key\":\"k\",\"value\":\"wake up\"}]}");
    JsonNode got = poll.get(30, TimeUnit.SECONDS);
    assertEquals(List.of("\"wake up\""), texts(got, "value"));
  }

  @Test
  void oneRecordWakesManyPollersOfAGroupButOnlyOneLeaseIsWritten() throws Exception {
    n.createTopic("herd", 1);
    int pollers = 8;
    List<CompletableFuture<JsonNode>> polls = new java.util.ArrayList<>();
    for (int i = 0; i < pollers; i++) {
      polls.add(CompletableFuture.supplyAsync(
          () -> lease("herd", "{\"group\":\"workers\",\"max_wait_ms\":3000}")));
    }
    TestNode.sleep(300); // usually all are waiting by now; a late one finds nothing or the record
    long before = lastIndex();
    n.produce("herd", "{\"records\":[{\"value\":\"only one\"}]}");
    int delivered = 0;
    for (CompletableFuture<JsonNode> p : polls) {
      delivered += p.get(30, TimeUnit.SECONDS).size();
    }
    assertEquals(1, delivered, "the record goes to exactly one poller");
    // The produce, and the one lease that found the record: not one lease entry per poller.
    assertEquals(before + 2, lastIndex(), "one lease entry for the woken group, not " + pollers);
  }

  @Test
  void aGroupHoldsAtMostTheConfiguredNumberOfLeasedRecords() {
    n.createTopic("capped", 2);
    n.produce("capped", "{\"records\":[" + "{\"value\":1},".repeat(7) + "{\"value\":1}]}");
    List<String> first = ids(lease("capped", "{\"group\":\"w\",\"max_records\":100}"));
    assertEquals(CAP, first.size());
    long before = lastIndex();
    assertEquals(0, lease("capped", "{\"group\":\"w\",\"max_records\":100}").size());
    assertEquals(before, lastIndex(), "a lease at the cap is not even proposed");
    settle("capped", "acks", "w", first.subList(0, 2));
    assertEquals(2, lease("capped", "{\"group\":\"w\",\"max_records\":100}").size());
  }

  @Test
  void deletingATopicDeletesItsQueueState() {
    n.createTopic("gone", 1);
    n.produce("gone", "{\"records\":[{\"value\":1}]}");
    List<String> ids = ids(lease("gone", "{\"group\":\"w\"}"));
    n.delete("/v1/topics/gone").expect(204);
    n.createTopic("gone", 1);
    n.post("/v1/topics/gone/acks", "{\"group\":\"w\",\"lease_ids\":" + json(ids) + "}").problem(404, "not-found");
  }

  // ------------------------------------------------------------------ bad input

  /** Topics and the Raft indexes, as one string. */
  static String snapshot() {
    JsonNode topics = n.get("/v1/topics").expect(200).json();
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    return topics + "\nlog " + s.get("last_index") + " commit " + s.get("commit_index") + " applied " + s.get("applied_index");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badInput")
  void refusedWithAProblemAndNothingChanges(String what, String path, String body, int status, String type) {
    String before = snapshot();
    String resolved = body.replace("$ID", badLeaseId);
    n.post(path, resolved).problem(status, type);
    assertEquals(before, snapshot(), "state changed by a refused POST " + path + " " + resolved);
  }

  static Stream<Arguments> badInput() {
    String lease = "/v1/topics/" + BAD + "/leases";
    String acks = "/v1/topics/" + BAD + "/acks";
    String releases = "/v1/topics/" + BAD + "/releases";
    String rejects = "/v1/topics/" + BAD + "/rejects";
    String extend = "/v1/topics/" + BAD + "/leases/extend";
    String many = json(java.util.Collections.nCopies(1001, "1.0.0.1"));
    String long250 = "x".repeat(250);
    return Stream.of(
        // ------------------------------------------------ leases
        arguments("topic: its own dead-letter topic", "/v1/topics", "{\"name\":\"selfie\",\"dead_letter_topic\":\"selfie\"}",
            400, "bad-request"),
        arguments("lease: unknown topic", "/v1/topics/nope/leases", "{\"group\":\"g\"}", 404, "not-found"),
        arguments("lease: bad topic name", "/v1/topics/b%20d/leases", "{\"group\":\"g\"}", 400, "bad-request"),
        arguments("lease: empty body", lease, "", 400, "bad-request"),
        arguments("lease: malformed JSON", lease, "{\"group\":", 400, "bad-request"),
        arguments("lease: array body", lease, "[]", 400, "bad-request"),
        arguments("lease: group missing", lease, "{}", 400, "bad-request"),
        arguments("lease: group empty", lease, "{\"group\":\"\"}", 400, "bad-request"),
        arguments("lease: group with a space", lease, "{\"group\":\"my group\"}", 400, "bad-request"),
        arguments("lease: group too long", lease, "{\"group\":\"" + long250 + "\"}", 400, "bad-request"),
        arguments("lease: group a number", lease, "{\"group\":7}", 400, "bad-request"),
        arguments("lease: unknown field", lease, "{\"group\":\"g\",\"colour\":1}", 400, "bad-request"),
        arguments("lease: max_records 0", lease, "{\"group\":\"g\",\"max_records\":0}", 400, "bad-request"),
        arguments("lease: max_records -1", lease, "{\"group\":\"g\",\"max_records\":-1}", 400, "bad-request"),
        arguments("lease: max_records 1001", lease, "{\"group\":\"g\",\"max_records\":1001}", 400, "bad-request"),
        arguments("lease: max_records a string", lease, "{\"group\":\"g\",\"max_records\":\"5\"}", 400, "bad-request"),
        arguments("lease: max_records overflows", lease, "{\"group\":\"g\",\"max_records\":4294967297}", 400, "bad-request"),
        arguments("lease: visibility 0", lease, "{\"group\":\"g\",\"visibility_timeout_ms\":0}", 400, "bad-request"),
        arguments("lease: visibility -5", lease, "{\"group\":\"g\",\"visibility_timeout_ms\":-5}", 400, "bad-request"),
        arguments("lease: visibility above 12 h", lease, "{\"group\":\"g\",\"visibility_timeout_ms\":43200001}", 400, "bad-request"),
        arguments("lease: visibility a fraction", lease, "{\"group\":\"g\",\"visibility_timeout_ms\":1.5}", 400, "bad-request"),
        arguments("lease: max_wait -1", lease, "{\"group\":\"g\",\"max_wait_ms\":-1}", 400, "bad-request"),
        arguments("lease: max_wait above the limit", lease, "{\"group\":\"g\",\"max_wait_ms\":60001}", 400, "bad-request"),
        // ------------------------------------------------ acks, releases, rejects
        arguments("ack: unknown topic", "/v1/topics/nope/acks", "{\"group\":\"g\",\"lease_ids\":[\"$ID\"]}", 404, "not-found"),
        arguments("ack: unknown group", acks, "{\"group\":\"nobody\",\"lease_ids\":[\"$ID\"]}", 404, "not-found"),
        arguments("ack: group missing", acks, "{\"lease_ids\":[\"$ID\"]}", 400, "bad-request"),
        arguments("ack: group empty", acks, "{\"group\":\"\",\"lease_ids\":[\"$ID\"]}", 400, "bad-request"),
        arguments("ack: bad group", acks, "{\"group\":\"a/b\",\"lease_ids\":[\"$ID\"]}", 400, "bad-request"),
        arguments("ack: lease_ids missing", acks, "{\"group\":\"g\"}", 400, "bad-request"),
        arguments("ack: lease_ids empty", acks, "{\"group\":\"g\",\"lease_ids\":[]}", 400, "bad-request"),
        arguments("ack: 1001 lease ids", acks, "{\"group\":\"g\",\"lease_ids\":" + many + "}", 413, "payload-too-large"),
        arguments("ack: lease_ids a string", acks, "{\"group\":\"g\",\"lease_ids\":\"$ID\"}", 400, "bad-request"),
        arguments("ack: malformed lease id", acks, "{\"group\":\"g\",\"lease_ids\":[\"$ID\",\"abc\"]}", 400, "bad-request"),
        arguments("ack: upper-case lease id", acks, "{\"group\":\"g\",\"lease_ids\":[\"A.0.0.1\"]}", 400, "bad-request"),
        arguments("ack: delivery 0", acks, "{\"group\":\"g\",\"lease_ids\":[\"1.0.0.0\"]}", 400, "bad-request"),
        arguments("ack: null lease id", acks, "{\"group\":\"g\",\"lease_ids\":[null]}", 400, "bad-request"),
        arguments("ack: numeric lease id", acks, "{\"group\":\"g\",\"lease_ids\":[12]}", 400, "bad-request"),
        arguments("ack: visibility given", acks, "{\"group\":\"g\",\"lease_ids\":[\"$ID\"],\"visibility_timeout_ms\":5}", 400, "bad-request"),
        arguments("release: unknown group", releases, "{\"group\":\"nobody\",\"lease_ids\":[\"$ID\"]}", 404, "not-found"),
        arguments("release: malformed lease id", releases, "{\"group\":\"g\",\"lease_ids\":[\"1.2\"]}", 400, "bad-request"),
        arguments("release: lease_ids empty", releases, "{\"group\":\"g\",\"lease_ids\":[]}", 400, "bad-request"),
        arguments("reject: unknown group", rejects, "{\"group\":\"nobody\",\"lease_ids\":[\"$ID\"]}", 404, "not-found"),
        arguments("reject: malformed lease id", rejects, "{\"group\":\"g\",\"lease_ids\":[\"1.2.3.4.5\"]}", 400, "bad-request"),
        arguments("reject: unknown field", rejects, "{\"group\":\"g\",\"lease_ids\":[\"$ID\"],\"why\":\"x\"}", 400, "bad-request"),
        // ------------------------------------------------ extend
        arguments("extend: visibility missing", extend, "{\"group\":\"g\",\"lease_ids\":[\"$ID\"]}", 400, "bad-request"),
        arguments("extend: visibility 0", extend, "{\"group\":\"g\",\"lease_ids\":[\"$ID\"],\"visibility_timeout_ms\":0}", 400, "bad-request"),
        arguments("extend: visibility above 12 h", extend,
            "{\"group\":\"g\",\"lease_ids\":[\"$ID\"],\"visibility_timeout_ms\":43200001}", 400, "bad-request"),
        arguments("extend: unknown group", extend,
            "{\"group\":\"nobody\",\"lease_ids\":[\"$ID\"],\"visibility_timeout_ms\":1000}", 404, "not-found"),
        arguments("extend: unknown topic", "/v1/topics/nope/leases/extend",
            "{\"group\":\"g\",\"lease_ids\":[\"$ID\"],\"visibility_timeout_ms\":1000}", 404, "not-found"),
        arguments("extend: malformed lease id", extend,
            "{\"group\":\"g\",\"lease_ids\":[\"x..y\"],\"visibility_timeout_ms\":1000}", 400, "bad-request"),
        arguments("extend: lease_ids missing", extend, "{\"group\":\"g\",\"visibility_timeout_ms\":1000}", 400, "bad-request"));
  }
}
