package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The happy paths of every endpoint, on one real node (one Raft voter, RocksDB in a temp dir)
 * over real HTTP. Tests share the node and use their own topic names.
 */
class HttpApiTest {
  /** Real threads for concurrent clients (the common pool may have a single thread on 2 cores). */
  static final Executor THREADS = Executors.newVirtualThreadPerTaskExecutor();

  @TempDir static Path dir;
  static TestNode n;

  @BeforeAll
  static void start() {
    n = TestNode.start(dir);
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

  // ------------------------------------------------------------------ cluster

  @Test
  void healthIsOkJson() {
    TestNode.Res r = n.get("/health").expect(200);
    assertTrue(r.contentType().startsWith("application/json"), r.contentType());
    assertEquals("{\"status\":\"ok\"}", r.json().toString());
  }

  @Test
  void readyIsOkOnceTheSingleNodeLeads() {
    n.awaitReady();
    TestNode.Res r = n.get("/ready").expect(200);
    assertEquals("ready", r.json().get("status").asText());
  }

  @Test
  void clusterStatusShowsTheLeaderAndItsIndexes() {
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    assertEquals("n1", s.get("node_id").asText());
    assertEquals("leader", s.get("role").asText());
    assertEquals("n1", s.get("leader_id").asText());
    assertTrue(s.get("term").isIntegralNumber() && s.get("term").asLong() >= 1, s.toString());
    assertTrue(s.get("commit_index").isIntegralNumber() && s.get("commit_index").asLong() >= 1, s.toString());
    assertTrue(s.get("applied_index").isIntegralNumber(), s.toString());
    assertTrue(s.get("applied_index").asLong() <= s.get("commit_index").asLong(), s.toString());
    JsonNode members = s.get("members");
    assertEquals(1, members.size(), s.toString());
    assertEquals("n1", members.get(0).get("id").asText());
    assertEquals("leader", members.get(0).get("role").asText());
    assertEquals("127.0.0.1:" + n.node.httpPort(), members.get(0).get("http_address").asText(), s.toString());
    assertTrue(members.get(0).has("raft_address"), s.toString());
    assertTrue(members.get(0).get("match_index").isIntegralNumber(), s.toString());

    // A write moves both indexes forward (the answer comes after the entry is applied).
    long before = s.get("commit_index").asLong();
    n.createTopic("status-topic", 1);
    JsonNode after = n.get("/v1/cluster/status").expect(200).json();
    assertTrue(after.get("commit_index").asLong() > before, after.toString());
    assertTrue(after.get("applied_index").asLong() > before, after.toString());
  }

  @Test
  void metricsAreInPrometheusTextFormat() {
    n.get("/health").expect(200);
    TestNode.Res r = n.get("/metrics").expect(200);
    assertTrue(r.contentType().startsWith("text/plain"), r.contentType());
    assertTrue(r.contentType().contains("version=0.0.4"), r.contentType());
    String text = r.text();
    assertTrue(text.contains("# TYPE dsync_raft_commit_index gauge"), text);
    assertTrue(metric(text, "dsync_raft_commit_index") >= 1, text);
    assertTrue(text.contains("# TYPE dsync_http_requests_total counter"), text);
    assertTrue(text.contains("dsync_produce_records_total"), text);
    // Node.start(cfg, false) registers no JVM metrics.
    assertFalse(text.lines().anyMatch(l -> l.startsWith("jvm_")), text);

    // The request counter counts: one more /health gives exactly one more.
    String health = "dsync_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}";
    double before = awaitMetricAtLeast(health, 1);
    n.get("/health").expect(200);
    assertEquals(before + 1, awaitMetricAtLeast(health, before + 1));
  }

  private static double awaitMetricAtLeast(String series, double min) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    double v;
    do {
      v = metric(n.get("/metrics").expect(200).text(), series);
      if (v >= min) {
        return v;
      }
      TestNode.sleep(10);
    } while (System.nanoTime() < deadline);
    throw new AssertionError(series + " stayed at " + v + " < " + min);
  }

  /** @return the value of the series named exactly {@code series} (name plus labels) */
  private static double metric(String text, String series) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(text);
    assertTrue(m.find(), () -> series + " not in " + text);
    return Double.parseDouble(m.group(1));
  }

  @Test
  void openapiRouteAnswersJsonOrAProblem() {
    TestNode.Res r = n.get("/openapi.json");
    if (r.status() == 200) {
      assertTrue(r.contentType().startsWith("application/json"), r.contentType());
      assertTrue(r.json().has("openapi"), r.text());
    } else {
      r.problem(404, "not-found"); // not packaged yet
    }
  }

  // ------------------------------------------------------------------ topics

  @Test
  void createTopicWithDefaults() {
    long before = System.currentTimeMillis();
    TestNode.Res r = n.post("/v1/topics", "{\"name\":\"orders\"}").expect(201);
    assertTrue(r.contentType().startsWith("application/json"), r.contentType());
    JsonNode t = r.json();
    assertEquals("orders", t.get("name").asText());
    assertEquals(1, t.get("partitions").asInt());
    assertEquals(5, t.get("delivery_limit").asInt());
    assertEquals("orders.dlq", t.get("dead_letter_topic").asText());
    assertEquals(-1, t.get("retention_ms").asLong());
    assertEquals(-1, t.get("retention_bytes").asLong());
    long created = t.get("created_ms").asLong();
    assertTrue(created >= before - 1000 && created <= System.currentTimeMillis() + 1000, t.toString());
    assertEquals("[{\"partition\":0,\"start_offset\":0,\"end_offset\":0}]", t.get("partition_offsets").toString());
  }

  @Test
  void createTopicWithEverySetting() {
    JsonNode t = n.post("/v1/topics", """
        {"name":"Payments_v2.eu-1","partitions":3,"retention_ms":60000,"retention_bytes":1048576,
         "delivery_limit":7,"dead_letter_topic":"payments-dead"}""").expect(201).json();
    assertEquals("Payments_v2.eu-1", t.get("name").asText());
    assertEquals(3, t.get("partitions").asInt());
    assertEquals(60000, t.get("retention_ms").asLong());
    assertEquals(1048576, t.get("retention_bytes").asLong());
    assertEquals(7, t.get("delivery_limit").asInt());
    assertEquals("payments-dead", t.get("dead_letter_topic").asText());
    JsonNode ps = t.get("partition_offsets");
    assertEquals(3, ps.size());
    for (int p = 0; p < 3; p++) {
      assertEquals(p, ps.get(p).get("partition").asInt());
      assertEquals(0, ps.get(p).get("start_offset").asLong());
      assertEquals(0, ps.get(p).get("end_offset").asLong());
    }
    // GET answers the same topic.
    assertEquals(t, n.get("/v1/topics/Payments_v2.eu-1").expect(200).json());
  }

  @Test
  void longestTopicNameIsAcceptedAndItsDeadLetterNameStaysValid() {
    String name = "x".repeat(249);
    JsonNode t = n.post("/v1/topics", "{\"name\":\"" + name + "\"}").expect(201).json();
    assertEquals(name, t.get("name").asText());
    String dlq = t.get("dead_letter_topic").asText();
    assertTrue(dlq.length() <= 249 && dlq.endsWith(".dlq"), dlq);
    assertEquals(name, n.get("/v1/topics/" + name).expect(200).json().get("name").asText());
  }

  @Test
  void listTopicsIsSortedByNameAndShowsOffsets() {
    n.createTopic("list-b", 2);
    n.createTopic("list-a", 1);
    n.produce("list-b", "{\"records\":[{\"value\":1},{\"value\":2},{\"value\":3}]}");
    JsonNode all = n.get("/v1/topics").expect(200).json().get("topics");
    List<String> names = new ArrayList<>();
    all.forEach(t -> names.add(t.get("name").asText()));
    assertTrue(names.containsAll(List.of("list-a", "list-b")), names.toString());
    List<String> sorted = new ArrayList<>(names);
    sorted.sort(null);
    assertEquals(sorted, names);
    JsonNode b = null;
    for (JsonNode t : all) {
      if (t.get("name").asText().equals("list-b")) {
        b = t;
      }
    }
    assertNotNull(b);
    assertEquals(2, b.get("partitions").asInt());
    long total = 0;
    for (JsonNode p : b.get("partition_offsets")) {
      total += p.get("end_offset").asLong() - p.get("start_offset").asLong();
    }
    assertEquals(3, total, b.toString());
    // One topic's GET agrees with the list.
    assertEquals(b, n.get("/v1/topics/list-b").expect(200).json());
  }

  @Test
  void deleteTopicThenItIsGoneAndARecreatedTopicStartsEmpty() {
    n.createTopic("doomed", 2);
    n.produce("doomed", "{\"records\":[{\"value\":\"a\"},{\"value\":\"b\"},{\"value\":\"c\"}]}");
    assertEquals(3, n.endOffsets("doomed").stream().mapToLong(Long::longValue).sum());
    n.post("/v1/groups/reader/offsets", "{\"offsets\":[{\"topic\":\"doomed\",\"partition\":1,\"offset\":2}]}")
        .expect(200);
    assertEquals(1, n.get("/v1/groups/reader/offsets").expect(200).json().get("offsets").size());

    TestNode.Res del = n.delete("/v1/topics/doomed").expect(204);
    assertEquals(0, del.bytes().length, del.text());

    n.get("/v1/topics/doomed").problem(404, "not-found");
    n.get("/v1/topics/doomed/partitions/0/records").problem(404, "not-found");
    n.post("/v1/topics/doomed/records", "{\"records\":[{\"value\":1}]}").problem(404, "not-found");
    n.delete("/v1/topics/doomed").problem(404, "not-found");
    n.get("/v1/topics").expect(200).json().get("topics")
        .forEach(t -> assertFalse(t.get("name").asText().equals("doomed"), t.toString()));

    assertEquals(0, n.get("/v1/groups/reader/offsets").expect(200).json().get("offsets").size());

    n.createTopic("doomed", 2);
    assertEquals(List.of(0L, 0L), n.endOffsets("doomed"));
    // The group's offset on the old topic does not come back with the new one (it would point
    // past the new topic's end).
    assertEquals(0, n.get("/v1/groups/reader/offsets").expect(200).json().get("offsets").size());
    assertEquals(0, n.get("/v1/groups/reader/offsets?topic=doomed").expect(200).json().get("offsets").size());
    for (int p = 0; p < 2; p++) {
      JsonNode f = n.fetch("doomed", p, "?offset=0");
      assertEquals(0, f.get("records").size(), f.toString());
      assertEquals(0, f.get("high_watermark").asLong());
    }
    // New records start at offset 0 again, and only they are there.
    JsonNode o = n.produce("doomed", "{\"records\":[{\"key\":\"k\",\"value\":\"new\"}]}");
    int p = o.get(0).get("partition").asInt();
    assertEquals(0, o.get(0).get("offset").asLong());
    JsonNode recs = n.fetch("doomed", p, "?offset=0").get("records");
    assertEquals(1, recs.size());
    assertEquals("new", recs.get(0).get("value").asText());
    // Committing on the new topic works as usual.
    n.post("/v1/groups/reader/offsets", "{\"offsets\":[{\"topic\":\"doomed\",\"partition\":1,\"offset\":0}]}")
        .expect(200);
    assertEquals("[{\"topic\":\"doomed\",\"partition\":1,\"offset\":0}]",
        n.get("/v1/groups/reader/offsets").expect(200).json().get("offsets").toString());
  }

  // ------------------------------------------------------------------ records

  @Test
  void produceAnswersOffsetsInRequestOrder() {
    n.createTopic("ordered", 1);
    JsonNode o = n.produce("ordered",
        "{\"records\":[{\"value\":\"r0\"},{\"value\":\"r1\"},{\"value\":\"r2\"},{\"value\":\"r3\"},{\"value\":\"r4\"}]}");
    assertEquals(5, o.size());
    for (int i = 0; i < 5; i++) {
      assertEquals(0, o.get(i).get("partition").asInt());
      assertEquals(i, o.get(i).get("offset").asLong());
    }
    JsonNode o2 = n.produce("ordered", "{\"records\":[{\"value\":\"r5\"},{\"value\":\"r6\"}]}");
    assertEquals(5, o2.get(0).get("offset").asLong());
    assertEquals(6, o2.get(1).get("offset").asLong());
    JsonNode recs = n.fetch("ordered", 0, "?offset=0").get("records");
    assertEquals(7, recs.size());
    for (int i = 0; i < 7; i++) {
      assertEquals(i, recs.get(i).get("offset").asLong());
      assertEquals("r" + i, recs.get(i).get("value").asText());
    }
    assertEquals(List.of(7L), n.endOffsets("ordered"));
  }

  @Test
  void sameKeyGoesToTheSamePartition() {
    n.createTopic("keyed", 8);
    Map<String, Integer> first = new HashMap<>();
    for (int round = 0; round < 3; round++) {
      StringBuilder b = new StringBuilder("{\"records\":[");
      for (int k = 0; k < 40; k++) {
        b.append(k == 0 ? "" : ",").append("{\"key\":\"user-").append(k).append("\",\"value\":").append(round).append('}');
      }
      JsonNode o = n.produce("keyed", b.append("]}").toString());
      assertEquals(40, o.size());
      for (int k = 0; k < 40; k++) {
        int p = o.get(k).get("partition").asInt();
        assertTrue(p >= 0 && p < 8, o.toString());
        Integer was = first.putIfAbsent("user-" + k, p);
        if (was != null) {
          assertEquals(was, p, "key user-" + k + " moved");
        }
      }
    }
    // 40 keys use more than one partition, and each record is where the answer said.
    Set<Integer> used = new HashSet<>(first.values());
    assertTrue(used.size() > 1, used.toString());
    for (Map.Entry<String, Integer> e : first.entrySet()) {
      JsonNode recs = n.fetch("keyed", e.getValue(), "?offset=0&max_records=1000").get("records");
      long withKey = 0;
      for (JsonNode r : recs) {
        if (r.get("key").asText().equals(e.getKey())) {
          withKey++;
        }
      }
      assertEquals(3, withKey, e.getKey());
    }
  }

  @Test
  void recordsWithoutKeyAreSpreadRoundRobin() {
    n.createTopic("spread", 4);
    StringBuilder b = new StringBuilder("{\"records\":[");
    for (int i = 0; i < 12; i++) {
      b.append(i == 0 ? "" : ",").append("{\"value\":").append(i).append('}');
    }
    JsonNode o = n.produce("spread", b.append("]}").toString());
    int[] counts = new int[4];
    for (int i = 0; i < 12; i++) {
      int p = o.get(i).get("partition").asInt();
      counts[p]++;
      if (i > 0) {
        assertEquals((o.get(i - 1).get("partition").asInt() + 1) % 4, p, "not round-robin: " + o);
      }
    }
    assertEquals("[3, 3, 3, 3]", java.util.Arrays.toString(counts));
    assertEquals(List.of(3L, 3L, 3L, 3L), n.endOffsets("spread"));
  }

  @Test
  void jsonValuesOfEveryKindRoundTripExactly() {
    n.createTopic("values", 1);
    List<String> values = List.of(
        "{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\":-1.5e3,\"e\":{}}}",
        "[1,\"two\",3.25,false,null,{\"k\":[]},[]]",
        "\"plain\"",
        "\"quotes \\\" backslash \\\\ newline \\n tab \\t unicode \u00e9 \u65e5\u672c \\ud83d\\ude00 nul \\u0000\"",
        "\"\"",
        "0",
        "-7",
        "9223372036854775807",
        "123456789012345678901234567890",
        "3.141592653589793238462643383279",
        "1e-7",
        "1.5E300",
        "true",
        "false",
        "null",
        "{}",
        "[]");
    StringBuilder b = new StringBuilder("{\"records\":[");
    for (int i = 0; i < values.size(); i++) {
      b.append(i == 0 ? "" : ",").append("{\"value\":").append(values.get(i)).append('}');
    }
    n.produce("values", b.append("]}").toString());
    TestNode.Res r = n.get("/v1/topics/values/partitions/0/records?offset=0").expect(200);
    JsonNode recs = r.json().get("records");
    assertEquals(values.size(), recs.size(), r.text());
    for (int i = 0; i < values.size(); i++) {
      JsonNode expected = parse(values.get(i));
      JsonNode rec = recs.get(i);
      assertTrue(rec.has("value"), rec.toString());
      assertEquals(expected, rec.get("value"), "value " + i + ": " + values.get(i));
      assertEquals(expected.getNodeType(), rec.get("value").getNodeType(), "type of value " + i);
      assertFalse(rec.has("value_base64"), rec.toString());
    }
  }

  @Test
  void numbersBeyondDoubleRangeRoundTripAsValidJson() {
    n.createTopic("big-numbers", 1);
    n.produce("big-numbers", "{\"records\":[{\"value\":1e400},{\"value\":-2.5e-400},{\"value\":[1E+999]}]}");
    TestNode.Res r = n.get("/v1/topics/big-numbers/partitions/0/records?offset=0").expect(200);
    JsonNode recs = r.json().get("records"); // fails if the answer is not valid JSON (e.g. Infinity)
    assertEquals(parse("1e400"), recs.get(0).get("value"), r.text());
    assertEquals(parse("-2.5e-400"), recs.get(1).get("value"), r.text());
    assertEquals(parse("[1E+999]"), recs.get(2).get("value"), r.text());
  }

  @Test
  void numbersKeepTheirWrittenScale() {
    n.createTopic("scaled-numbers", 1);
    n.produce("scaled-numbers", "{\"records\":[{\"value\":1.0},{\"value\":1.50},{\"value\":[100,0.0]}]}");
    String text = n.get("/v1/topics/scaled-numbers/partitions/0/records?offset=0").expect(200).text();
    // 1.0 stays a float for clients that tell 1 from 1.0 (Python, JavaScript BigInt readers).
    assertTrue(text.contains("\"offset\":0,\"value\":1.0,"), text);
    assertTrue(text.contains("\"offset\":1,\"value\":1.50,"), text);
    assertTrue(text.contains("\"offset\":2,\"value\":[100,0.0],"), text);
  }

  private static JsonNode parse(String json) {
    try {
      return TestNode.JSON.readTree(json);
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void base64ValuesRoundTripAsBytes() {
    n.createTopic("bytes", 1);
    byte[] all = new byte[256];
    for (int i = 0; i < 256; i++) {
      all[i] = (byte) i;
    }
    String b64 = Base64.getEncoder().encodeToString(all);
    n.produce("bytes", "{\"records\":[{\"value_base64\":\"" + b64 + "\"},{\"value_base64\":\"\"},"
        + "{\"value_base64\":\"eyJub3QiOiJwYXJzZWQifQ==\"},{\"value\":\"text\"}]}");
    JsonNode recs = n.fetch("bytes", 0, "?offset=0").get("records");
    assertEquals(4, recs.size());
    assertEquals(b64, recs.get(0).get("value_base64").asText());
    assertTrue(java.util.Arrays.equals(all, Base64.getDecoder().decode(recs.get(0).get("value_base64").asText())));
    assertFalse(recs.get(0).has("value"), recs.get(0).toString());
    assertEquals("", recs.get(1).get("value_base64").asText());
    assertFalse(recs.get(1).has("value"), recs.get(1).toString());
    // Bytes that happen to be JSON stay bytes.
    assertEquals("eyJub3QiOiJwYXJzZWQifQ==", recs.get(2).get("value_base64").asText());
    assertFalse(recs.get(2).has("value"), recs.get(2).toString());
    assertEquals("text", recs.get(3).get("value").asText());
    assertFalse(recs.get(3).has("value_base64"), recs.get(3).toString());
  }

  @Test
  void keysHeadersPriorityAndTimestampRoundTrip() {
    n.createTopic("meta", 1);
    long before = System.currentTimeMillis();
    n.produce("meta", """
        {"records":[
          {"key":"k-1","value":{"n":1},"headers":{"trace-id":"abc-123","z-first":"1","a-second":"","uni":"\u00e9\u65e5"},"priority":7},
          {"value":2},
          {"key":"","value":3,"headers":{},"priority":9},
          {"key":"k-4","value":4,"priority":0}
        ]}""");
    long after = System.currentTimeMillis();
    JsonNode recs = n.fetch("meta", 0, "?offset=0").get("records");
    assertEquals(4, recs.size());

    JsonNode r0 = recs.get(0);
    assertEquals("k-1", r0.get("key").asText());
    assertEquals(parse("{\"n\":1}"), r0.get("value"));
    assertEquals(7, r0.get("priority").asInt());
    ObjectNode h = (ObjectNode) r0.get("headers");
    assertEquals(parse("{\"trace-id\":\"abc-123\",\"z-first\":\"1\",\"a-second\":\"\",\"uni\":\"\u00e9\u65e5\"}"), h);
    List<String> order = new ArrayList<>();
    h.fieldNames().forEachRemaining(order::add);
    assertEquals(List.of("trace-id", "z-first", "a-second", "uni"), order, "headers keep their order");

    JsonNode r1 = recs.get(1);
    assertFalse(r1.has("key") && !r1.get("key").isNull(), r1.toString());
    assertEquals(0, r1.get("priority").asInt(), "default priority");
    assertTrue(!r1.has("headers") || r1.get("headers").isEmpty(), r1.toString());

    assertEquals("", recs.get(2).get("key").asText(), "an empty key is a key");
    assertTrue(recs.get(2).get("key").isTextual(), recs.get(2).toString());
    assertEquals(9, recs.get(2).get("priority").asInt());
    assertEquals("k-4", recs.get(3).get("key").asText());

    for (JsonNode r : recs) {
      assertTrue(r.get("timestamp_ms").isIntegralNumber(), r.toString());
      long ts = r.get("timestamp_ms").asLong();
      assertTrue(ts >= before - 1000 && ts <= after + 1000, "timestamp " + ts + " not in [" + before + ", " + after + "]");
    }
  }

  @Test
  void fetchPagesWithOffsetMaxRecordsAndNextOffset() {
    n.createTopic("paging", 1);
    StringBuilder b = new StringBuilder("{\"records\":[");
    for (int i = 0; i < 10; i++) {
      b.append(i == 0 ? "" : ",").append("{\"value\":").append(i).append('}');
    }
    n.produce("paging", b.append("]}").toString());

    List<Integer> seen = new ArrayList<>();
    long offset = 0;
    int pages = 0;
    while (true) {
      JsonNode f = n.fetch("paging", 0, "?offset=" + offset + "&max_records=3");
      assertEquals(10, f.get("high_watermark").asLong(), f.toString());
      ArrayNode recs = (ArrayNode) f.get("records");
      if (recs.isEmpty()) {
        assertEquals(offset, f.get("next_offset").asLong(), "at the end next_offset stays");
        break;
      }
      assertTrue(recs.size() <= 3, f.toString());
      for (int i = 0; i < recs.size(); i++) {
        assertEquals(offset + i, recs.get(i).get("offset").asLong(), f.toString());
        seen.add(recs.get(i).get("value").asInt());
      }
      assertEquals(offset + recs.size(), f.get("next_offset").asLong(), f.toString());
      offset = f.get("next_offset").asLong();
      pages++;
    }
    assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), seen);
    assertEquals(4, pages, "3 + 3 + 3 + 1");

    // Without offset the fetch starts at 0; the default max_records covers all ten.
    JsonNode f = n.fetch("paging", 0, "");
    assertEquals(10, f.get("records").size());
    assertEquals(0, f.get("records").get(0).get("offset").asLong());
    assertEquals(10, f.get("next_offset").asLong());
    // From the middle.
    JsonNode mid = n.fetch("paging", 0, "?offset=7");
    assertEquals(3, mid.get("records").size());
    assertEquals(7, mid.get("records").get(0).get("value").asInt());
  }

  @Test
  void longPollReturnsARecordProducedWhileWaiting() throws Exception {
    n.createTopic("poll", 1);
    n.produce("poll", "{\"records\":[{\"value\":\"old\"}]}");
    CompletableFuture<JsonNode> producer = CompletableFuture.supplyAsync(() -> {
      TestNode.sleep(300);
      return n.produce("poll", "{\"records\":[{\"value\":\"fresh\"}]}");
    }, THREADS);
    long t0 = System.nanoTime();
    JsonNode f = n.fetch("poll", 0, "?offset=1&max_wait_ms=5000");
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertEquals(1, producer.get(10, TimeUnit.SECONDS).get(0).get("offset").asLong());
    assertEquals(1, f.get("records").size(), f.toString());
    assertEquals("fresh", f.get("records").get(0).get("value").asText());
    assertEquals(1, f.get("records").get(0).get("offset").asLong());
    assertEquals(2, f.get("next_offset").asLong());
    assertEquals(2, f.get("high_watermark").asLong());
    assertTrue(ms >= 200, "answered after " + ms + " ms, before the record existed?");
    assertTrue(ms < 4000, "the long poll was not woken by the record: " + ms + " ms");
  }

  @Test
  void longPollWithNothingProducedReturnsEmptyAfterTheWait() {
    n.createTopic("quiet", 1);
    n.produce("quiet", "{\"records\":[{\"value\":0}]}");
    long t0 = System.nanoTime();
    JsonNode f = n.fetch("quiet", 0, "?offset=1&max_wait_ms=200");
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertEquals(0, f.get("records").size(), f.toString());
    assertEquals(1, f.get("next_offset").asLong());
    assertEquals(1, f.get("high_watermark").asLong());
    assertTrue(ms >= 150, "did not wait: " + ms + " ms");
    assertTrue(ms < 4000, "waited far too long: " + ms + " ms");
    // When records are there, a long poll answers at once.
    long t1 = System.nanoTime();
    assertEquals(1, n.fetch("quiet", 0, "?offset=0&max_wait_ms=5000").get("records").size());
    assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1) < 3000);
  }

  @Test
  void longPollOnATopicDeletedWhileWaitingAnswers404() throws Exception {
    n.createTopic("vanishing", 1);
    CompletableFuture<TestNode.Res> poll =
        CompletableFuture.supplyAsync(() -> n.get("/v1/topics/vanishing/partitions/0/records?max_wait_ms=5000"), THREADS);
    TestNode.sleep(300);
    assertFalse(poll.isDone(), "the poll should be waiting");
    long t0 = System.nanoTime();
    n.delete("/v1/topics/vanishing").expect(204);
    poll.get(10, TimeUnit.SECONDS).problem(404, "not-found");
    assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) < 3000, "not woken by the delete");
  }

  @Test
  void concurrentProducersGetDistinctContiguousOffsets() throws Exception {
    n.createTopic("busy", 1);
    List<CompletableFuture<Map<Long, String>>> producers = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      int thread = t;
      producers.add(CompletableFuture.supplyAsync(() -> {
        Map<Long, String> told = new HashMap<>();
        for (int i = 0; i < 20; i++) {
          List<String> values = List.of("[" + thread + "," + i + ",0]", "[" + thread + "," + i + ",1]",
              "[" + thread + "," + i + ",2]");
          JsonNode o = n.produce("busy", "{\"records\":[{\"value\":" + String.join("},{\"value\":", values) + "}]}");
          for (int j = 0; j < 3; j++) {
            // One request's records are contiguous and in request order.
            assertEquals(o.get(0).get("offset").asLong() + j, o.get(j).get("offset").asLong(), o.toString());
            assertEquals(null, told.put(o.get(j).get("offset").asLong(), values.get(j)), "offset given twice");
          }
        }
        return told;
      }, THREADS));
    }
    Map<Long, String> all = new HashMap<>();
    for (CompletableFuture<Map<Long, String>> f : producers) {
      f.get(30, TimeUnit.SECONDS).forEach((offset, value) ->
          assertEquals(null, all.put(offset, value), "offset " + offset + " given to two producers"));
    }
    assertEquals(240, all.size());
    assertEquals(List.of(240L), n.endOffsets("busy"));
    // Offsets 0-239, each holding the record its producer was told it holds.
    JsonNode recs = n.fetch("busy", 0, "?offset=0&max_records=1000").get("records");
    assertEquals(240, recs.size());
    for (JsonNode r : recs) {
      long offset = r.get("offset").asLong();
      assertEquals(all.get(offset), r.get("value").toString(), "record at offset " + offset);
    }
  }

  // ------------------------------------------------------------------ consumer-group offsets

  @Test
  void groupOffsetsCommitAndRead() {
    n.createTopic("grp-a", 2);
    n.createTopic("grp-b", 1);
    TestNode.Res c = n.post("/v1/groups/billing/offsets", """
        {"offsets":[{"topic":"grp-b","partition":0,"offset":4},{"topic":"grp-a","partition":1,"offset":2},
                    {"topic":"grp-a","partition":0,"offset":9}]}""").expect(200);
    assertEquals(3, c.json().get("committed").asInt(), c.text());

    JsonNode all = n.get("/v1/groups/billing/offsets").expect(200).json();
    assertEquals("billing", all.get("group").asText());
    assertEquals(parse("""
        [{"topic":"grp-a","partition":0,"offset":9},{"topic":"grp-a","partition":1,"offset":2},
         {"topic":"grp-b","partition":0,"offset":4}]"""), all.get("offsets"));

    JsonNode onlyB = n.get("/v1/groups/billing/offsets?topic=grp-b").expect(200).json();
    assertEquals(parse("[{\"topic\":\"grp-b\",\"partition\":0,\"offset\":4}]"), onlyB.get("offsets"));

    // A later commit overwrites, other partitions keep theirs; other groups are separate.
    n.post("/v1/groups/billing/offsets", "{\"offsets\":[{\"topic\":\"grp-a\",\"partition\":0,\"offset\":11}]}")
        .expect(200);
    n.post("/v1/groups/audit.v1/offsets", "{\"offsets\":[{\"topic\":\"grp-a\",\"partition\":0,\"offset\":1}]}")
        .expect(200);
    assertEquals(parse("[{\"topic\":\"grp-a\",\"partition\":0,\"offset\":11},{\"topic\":\"grp-a\",\"partition\":1,\"offset\":2}]"),
        n.get("/v1/groups/billing/offsets?topic=grp-a").expect(200).json().get("offsets"));
    assertEquals(parse("[{\"topic\":\"grp-a\",\"partition\":0,\"offset\":1}]"),
        n.get("/v1/groups/audit.v1/offsets").expect(200).json().get("offsets"));

    // A group that never committed has none.
    JsonNode none = n.get("/v1/groups/nobody/offsets").expect(200).json();
    assertEquals("nobody", none.get("group").asText());
    assertEquals(0, none.get("offsets").size());
  }
}
