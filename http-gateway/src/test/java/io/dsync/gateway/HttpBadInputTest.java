package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input on every endpoint: each request gets the right 4xx {@code application/problem+json}
 * and changes nothing (topics, end offsets, committed offsets and the Raft log are compared
 * before and after). No request may get a 500.
 */
class HttpBadInputTest {
  /** Topic {@value} has 3 partitions and 6 records (2 on each); group {@code g} committed some. */
  static final String T = "bad";

  static final String OK_RECORD = "{\"value\":1}";

  @TempDir static Path dir;
  static TestNode n;

  @BeforeAll
  static void start() {
    n = TestNode.start(dir);
    n.createTopic(T, 3);
    n.produce(T, "{\"records\":[" + String.join(",", List.of(OK_RECORD, OK_RECORD, OK_RECORD, OK_RECORD,
        OK_RECORD, OK_RECORD)) + "]}");
    assertEquals(List.of(2L, 2L, 2L), n.endOffsets(T));
    n.post("/v1/groups/g/offsets", "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":1},"
        + "{\"topic\":\"bad\",\"partition\":2,\"offset\":2}]}").expect(200);
  }

  @AfterAll
  static void stop() {
    if (n != null) {
      n.close();
    }
  }

  private double serverErrorsBefore;

  @BeforeEach
  void countServerErrors() {
    serverErrorsBefore = n.serverErrorsCounted();
  }

  @AfterEach
  void noServerErrors() {
    assertEquals(List.of(), n.drainServerErrors());
    // The node's own count agrees (it also sees requests whose answer the client may not parse).
    assertEquals(serverErrorsBefore, n.serverErrorsCounted(), "5xx answers counted in /metrics");
  }

  /** Topics (with offsets), group {@code g}'s offsets and the Raft indexes, as one string. */
  static String snapshot() {
    JsonNode topics = n.get("/v1/topics").expect(200).json();
    JsonNode offsets = n.get("/v1/groups/g/offsets").expect(200).json();
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    return topics + "\n" + offsets + "\nlog " + s.get("last_index") + " commit " + s.get("commit_index")
        + " applied " + s.get("applied_index");
  }

  static JsonNode rejected(String method, String path, String body, int status, String type) {
    return n.refusedUnchanged(method, path, body, status, type, HttpBadInputTest::snapshot);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void refusedAndNothingChanges(String what, String method, String path, String body, int status, String type) {
    rejected(method, path, body, status, type);
  }

  static Stream<Arguments> cases() {
    String produce = "/v1/topics/" + T + "/records";
    String fetch = "/v1/topics/" + T + "/partitions/0/records";
    String commit = "/v1/groups/g/offsets";
    String long250 = "x".repeat(250);
    return Stream.of(
        // ------------------------------------------------ POST /v1/topics
        arguments("topic: malformed JSON", "POST", "/v1/topics", "{\"name\":\"t1\",", 400, "bad-request"),
        arguments("topic: unquoted JSON", "POST", "/v1/topics", "{name: t1}", 400, "bad-request"),
        arguments("topic: trailing tokens", "POST", "/v1/topics", "{\"name\":\"t1\"} {}", 400, "bad-request"),
        arguments("topic: empty body", "POST", "/v1/topics", "", 400, "bad-request"),
        arguments("topic: blank body", "POST", "/v1/topics", "  \n", 400, "bad-request"),
        arguments("topic: null body", "POST", "/v1/topics", "null", 400, "bad-request"),
        arguments("topic: array body", "POST", "/v1/topics", "[]", 400, "bad-request"),
        arguments("topic: string body", "POST", "/v1/topics", "\"t1\"", 400, "bad-request"),
        arguments("topic: partitions as string", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":\"3\"}", 400, "bad-request"),
        arguments("topic: partitions as float", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":3.0}", 400, "bad-request"),
        arguments("topic: partitions as bool", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":true}", 400, "bad-request"),
        arguments("topic: partitions 0", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":0}", 400, "bad-request"),
        arguments("topic: partitions -1", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":-1}", 400, "bad-request"),
        arguments("topic: partitions 1025", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":1025}", 400, "bad-request"),
        arguments("topic: partitions overflow int", "POST", "/v1/topics", "{\"name\":\"t1\",\"partitions\":4294967297}", 400, "bad-request"),
        arguments("topic: unknown field", "POST", "/v1/topics", "{\"name\":\"t1\",\"colour\":\"red\"}", 400, "bad-request"),
        arguments("topic: camelCase field", "POST", "/v1/topics", "{\"name\":\"t1\",\"deliveryLimit\":3}", 400, "bad-request"),
        arguments("topic: name missing", "POST", "/v1/topics", "{\"partitions\":1}", 400, "bad-request"),
        arguments("topic: name null", "POST", "/v1/topics", "{\"name\":null}", 400, "bad-request"),
        arguments("topic: name number", "POST", "/v1/topics", "{\"name\":123}", 400, "bad-request"),
        arguments("topic: name empty", "POST", "/v1/topics", "{\"name\":\"\"}", 400, "bad-request"),
        arguments("topic: name with space", "POST", "/v1/topics", "{\"name\":\"has space\"}", 400, "bad-request"),
        arguments("topic: name 250 chars", "POST", "/v1/topics", "{\"name\":\"" + long250 + "\"}", 400, "bad-request"),
        arguments("topic: name unicode", "POST", "/v1/topics", "{\"name\":\"t\u00ebst\"}", 400, "bad-request"),
        arguments("topic: name CJK", "POST", "/v1/topics", "{\"name\":\"\u65e5\u672c\"}", 400, "bad-request"),
        arguments("topic: name with slash", "POST", "/v1/topics", "{\"name\":\"a/b\"}", 400, "bad-request"),
        arguments("topic: name with tab", "POST", "/v1/topics", "{\"name\":\"a\\tb\"}", 400, "bad-request"),
        arguments("topic: delivery_limit -1", "POST", "/v1/topics", "{\"name\":\"t1\",\"delivery_limit\":-1}", 400, "bad-request"),
        arguments("topic: delivery_limit 1001", "POST", "/v1/topics", "{\"name\":\"t1\",\"delivery_limit\":1001}", 400, "bad-request"),
        arguments("topic: delivery_limit string", "POST", "/v1/topics", "{\"name\":\"t1\",\"delivery_limit\":\"5\"}", 400, "bad-request"),
        arguments("topic: dead_letter_topic invalid", "POST", "/v1/topics", "{\"name\":\"t1\",\"dead_letter_topic\":\"no good\"}", 400, "bad-request"),
        arguments("topic: dead_letter_topic 250 chars", "POST", "/v1/topics", "{\"name\":\"t1\",\"dead_letter_topic\":\"" + long250 + "\"}", 400, "bad-request"),
        arguments("topic: long name, dead_letter_topic 250 chars", "POST", "/v1/topics", "{\"name\":\"" + "y".repeat(249) + "\",\"dead_letter_topic\":\"" + long250 + "\"}", 400, "bad-request"),
        arguments("topic: retention_ms string", "POST", "/v1/topics", "{\"name\":\"t1\",\"retention_ms\":\"1000\"}", 400, "bad-request"),
        arguments("topic: retention_bytes float", "POST", "/v1/topics", "{\"name\":\"t1\",\"retention_bytes\":1.5}", 400, "bad-request"),
        arguments("topic: duplicate", "POST", "/v1/topics", "{\"name\":\"" + T + "\",\"partitions\":5}", 409, "conflict"),

        // ------------------------------------------------ GET/DELETE /v1/topics/{topic}
        arguments("get topic: unknown", "GET", "/v1/topics/nope", null, 404, "not-found"),
        arguments("get topic: name with space", "GET", "/v1/topics/bad%20name", null, 400, "bad-request"),
        arguments("get topic: name 250 chars", "GET", "/v1/topics/" + long250, null, 400, "bad-request"),
        arguments("get topic: name unicode", "GET", "/v1/topics/t%C3%ABst", null, 400, "bad-request"),
        arguments("delete topic: unknown", "DELETE", "/v1/topics/nope", null, 404, "not-found"),
        arguments("delete topic: name with space", "DELETE", "/v1/topics/bad%20name", null, 400, "bad-request"),
        arguments("delete topic: name 250 chars", "DELETE", "/v1/topics/" + long250, null, 400, "bad-request"),
        arguments("delete topic: name unicode", "DELETE", "/v1/topics/%E6%97%A5%E6%9C%AC", null, 400, "bad-request"),

        // ------------------------------------------------ POST /v1/topics/{topic}/records
        arguments("produce: malformed JSON", "POST", produce, "{\"records\":[{\"value\":1}", 400, "bad-request"),
        arguments("produce: empty body", "POST", produce, "", 400, "bad-request"),
        arguments("produce: null body", "POST", produce, "null", 400, "bad-request"),
        arguments("produce: array body", "POST", produce, "[" + OK_RECORD + "]", 400, "bad-request"),
        arguments("produce: records missing", "POST", produce, "{}", 400, "bad-request"),
        arguments("produce: records null", "POST", produce, "{\"records\":null}", 400, "bad-request"),
        arguments("produce: records empty", "POST", produce, "{\"records\":[]}", 400, "bad-request"),
        arguments("produce: records not an array", "POST", produce, "{\"records\":" + OK_RECORD + "}", 400, "bad-request"),
        arguments("produce: record null", "POST", produce, "{\"records\":[null]}", 400, "bad-request"),
        arguments("produce: record a number", "POST", produce, "{\"records\":[1]}", 400, "bad-request"),
        arguments("produce: unknown top-level field", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"acks\":\"all\"}", 400, "bad-request"),
        arguments("produce: unknown record field", "POST", produce, "{\"records\":[{\"value\":1,\"ttl\":5}]}", 400, "bad-request"),
        arguments("produce: camelCase valueBase64", "POST", produce, "{\"records\":[{\"valueBase64\":\"AA==\"}]}", 400, "bad-request"),
        arguments("produce: value missing", "POST", produce, "{\"records\":[{\"key\":\"k\"}]}", 400, "bad-request"),
        arguments("produce: empty record", "POST", produce, "{\"records\":[{}]}", 400, "bad-request"),
        arguments("produce: value and value_base64", "POST", produce, "{\"records\":[{\"value\":1,\"value_base64\":\"AA==\"}]}", 400, "bad-request"),
        arguments("produce: value null and value_base64", "POST", produce, "{\"records\":[{\"value\":null,\"value_base64\":\"AA==\"}]}", 400, "bad-request"),
        arguments("produce: invalid base64", "POST", produce, "{\"records\":[{\"value_base64\":\"!!!not base64\"}]}", 400, "bad-request"),
        arguments("produce: base64 bad padding", "POST", produce, "{\"records\":[{\"value_base64\":\"AA=A\"}]}", 400, "bad-request"),
        arguments("produce: base64 with newline", "POST", produce, "{\"records\":[{\"value_base64\":\"SGVs\\nbG8=\"}]}", 400, "bad-request"),
        arguments("produce: value_base64 a number", "POST", produce, "{\"records\":[{\"value_base64\":12}]}", 400, "bad-request"),
        arguments("produce: priority as string", "POST", produce, "{\"records\":[{\"value\":1,\"priority\":\"1\"}]}", 400, "bad-request"),
        arguments("produce: priority as float", "POST", produce, "{\"records\":[{\"value\":1,\"priority\":1.5}]}", 400, "bad-request"),
        arguments("produce: priority 10", "POST", produce, "{\"records\":[{\"value\":1,\"priority\":10}]}", 400, "bad-request"),
        arguments("produce: priority -1", "POST", produce, "{\"records\":[{\"value\":1,\"priority\":-1}]}", 400, "bad-request"),
        arguments("produce: header value number", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"h\":1}}]}", 400, "bad-request"),
        arguments("produce: header value bool", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"h\":true}}]}", 400, "bad-request"),
        arguments("produce: header value object", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"h\":{\"x\":\"y\"}}}]}", 400, "bad-request"),
        arguments("produce: header value array", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"h\":[\"a\"]}}]}", 400, "bad-request"),
        arguments("produce: header value null", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"h\":null}}]}", 400, "bad-request"),
        arguments("produce: header key empty", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"\":\"v\"}}]}", 400, "bad-request"),
        arguments("produce: header key 257 chars", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"" + "k".repeat(257) + "\":\"v\"}}]}", 400, "bad-request"),
        arguments("produce: header value 4097 chars", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":{\"h\":\"" + "v".repeat(4097) + "\"}}]}", 400, "bad-request"),
        arguments("produce: headers an array", "POST", produce, "{\"records\":[{\"value\":1,\"headers\":[\"h\",\"v\"]}]}", 400, "bad-request"),
        arguments("produce: key a number", "POST", produce, "{\"records\":[{\"value\":1,\"key\":5}]}", 400, "bad-request"),
        arguments("produce: key an object", "POST", produce, "{\"records\":[{\"value\":1,\"key\":{}}]}", 400, "bad-request"),
        arguments("produce: value nested too deep", "POST", produce, "{\"records\":[{\"value\":" + "[".repeat(5000) + "]".repeat(5000) + "}]}", 400, "bad-request"),
        arguments("produce: number with 5000 digits", "POST", produce, "{\"records\":[{\"value\":" + "9".repeat(5000) + "}]}", 400, "bad-request"),
        arguments("produce: valid then invalid record", "POST", produce, "{\"records\":[" + OK_RECORD + ",{\"value\":2,\"priority\":10}]}", 400, "bad-request"),
        arguments("produce: producer_id invalid", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"p 1\",\"sequence\":0}", 400, "bad-request"),
        arguments("produce: producer_id empty", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"\",\"sequence\":0}", 400, "bad-request"),
        arguments("produce: producer_id a number", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":1,\"sequence\":0}", 400, "bad-request"),
        arguments("produce: sequence -1", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"p1\",\"sequence\":-1}", 400, "bad-request"),
        arguments("produce: sequence a float", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"p1\",\"sequence\":1.5}", 400, "bad-request"),
        arguments("produce: sequence a string", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"p1\",\"sequence\":\"1\"}", 400, "bad-request"),
        arguments("produce: idempotent, unknown topic", "POST", "/v1/topics/nope/records", "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"p1\",\"sequence\":0}", 404, "not-found"),
        arguments("produce: producer_id only", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"producer_id\":\"p1\"}", 400, "bad-request"),
        arguments("produce: sequence only", "POST", produce, "{\"records\":[" + OK_RECORD + "],\"sequence\":3}", 400, "bad-request"),
        arguments("produce: unknown topic", "POST", "/v1/topics/nope/records", "{\"records\":[" + OK_RECORD + "]}", 404, "not-found"),
        arguments("produce: topic name with space", "POST", "/v1/topics/bad%20name/records", "{\"records\":[" + OK_RECORD + "]}", 400, "bad-request"),
        arguments("produce: topic name 250 chars", "POST", "/v1/topics/" + long250 + "/records", "{\"records\":[" + OK_RECORD + "]}", 400, "bad-request"),
        arguments("produce: topic name unicode", "POST", "/v1/topics/t%C3%ABst/records", "{\"records\":[" + OK_RECORD + "]}", 400, "bad-request"),
        arguments("produce: record over 1 MiB", "POST", produce, "{\"records\":[{\"value\":\"" + "v".repeat((1 << 20) + 1) + "\"}]}", 413, "payload-too-large"),
        arguments("produce: 10,001 records", "POST", produce, records(10_001), 413, "payload-too-large"),

        // ------------------------------------------------ GET .../partitions/{p}/records
        arguments("fetch: offset -1", "GET", fetch + "?offset=-1", null, 400, "bad-request"),
        arguments("fetch: offset not a number", "GET", fetch + "?offset=abc", null, 400, "bad-request"),
        arguments("fetch: offset a float", "GET", fetch + "?offset=1.5", null, 400, "bad-request"),
        arguments("fetch: offset empty", "GET", fetch + "?offset=", null, 400, "bad-request"),
        arguments("fetch: offset beyond long", "GET", fetch + "?offset=99999999999999999999", null, 400, "bad-request"),
        arguments("fetch: offset past the end", "GET", fetch + "?offset=3", null, 416, "offset-out-of-range"),
        arguments("fetch: offset Long.MAX_VALUE", "GET", fetch + "?offset=9223372036854775807", null, 416, "offset-out-of-range"),
        arguments("fetch: max_records 0", "GET", fetch + "?max_records=0", null, 400, "bad-request"),
        arguments("fetch: max_records -1", "GET", fetch + "?max_records=-1", null, 400, "bad-request"),
        arguments("fetch: max_records not a number", "GET", fetch + "?max_records=ten", null, 400, "bad-request"),
        arguments("fetch: max_records 10001", "GET", fetch + "?max_records=10001", null, 400, "bad-request"),
        arguments("fetch: max_records beyond int", "GET", fetch + "?max_records=99999999999", null, 400, "bad-request"),
        arguments("fetch: max_wait_ms -1", "GET", fetch + "?max_wait_ms=-1", null, 400, "bad-request"),
        arguments("fetch: max_wait_ms not a number", "GET", fetch + "?max_wait_ms=soon", null, 400, "bad-request"),
        arguments("fetch: max_wait_ms 60001", "GET", fetch + "?max_wait_ms=60001", null, 400, "bad-request"),
        arguments("fetch: max_wait_ms beyond long", "GET", fetch + "?max_wait_ms=99999999999999999999", null, 400, "bad-request"),
        arguments("fetch: unknown partition", "GET", "/v1/topics/" + T + "/partitions/3/records", null, 404, "not-found"),
        arguments("fetch: partition Integer.MAX_VALUE", "GET", "/v1/topics/" + T + "/partitions/2147483647/records", null, 404, "not-found"),
        arguments("fetch: partition -1", "GET", "/v1/topics/" + T + "/partitions/-1/records", null, 400, "bad-request"),
        arguments("fetch: partition not a number", "GET", "/v1/topics/" + T + "/partitions/zero/records", null, 400, "bad-request"),
        arguments("fetch: partition beyond int", "GET", "/v1/topics/" + T + "/partitions/99999999999/records", null, 400, "bad-request"),
        arguments("fetch: unknown topic", "GET", "/v1/topics/nope/partitions/0/records", null, 404, "not-found"),
        arguments("fetch: unknown topic with wait", "GET", "/v1/topics/nope/partitions/0/records?max_wait_ms=100", null, 404, "not-found"),
        arguments("fetch: topic name with space", "GET", "/v1/topics/bad%20name/partitions/0/records", null, 400, "bad-request"),
        arguments("fetch: topic name 250 chars", "GET", "/v1/topics/" + long250 + "/partitions/0/records", null, 400, "bad-request"),

        // ------------------------------------------------ POST/GET /v1/groups/{group}/offsets
        arguments("commit: malformed JSON", "POST", commit, "{\"offsets\":[", 400, "bad-request"),
        arguments("commit: empty body", "POST", commit, "", 400, "bad-request"),
        arguments("commit: offsets missing", "POST", commit, "{}", 400, "bad-request"),
        arguments("commit: offsets empty", "POST", commit, "{\"offsets\":[]}", 400, "bad-request"),
        arguments("commit: offset entry null", "POST", commit, "{\"offsets\":[null]}", 400, "bad-request"),
        arguments("commit: offset missing", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0}]}", 400, "bad-request"),
        arguments("commit: partition missing", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"offset\":0}]}", 400, "bad-request"),
        arguments("commit: topic missing", "POST", commit, "{\"offsets\":[{\"partition\":0,\"offset\":0}]}", 400, "bad-request"),
        arguments("commit: offset -1", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":-1}]}", 400, "bad-request"),
        arguments("commit: offset as string", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":\"1\"}]}", 400, "bad-request"),
        arguments("commit: offset as float", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":1.5}]}", 400, "bad-request"),
        arguments("commit: partition as string", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":\"0\",\"offset\":1}]}", 400, "bad-request"),
        arguments("commit: unknown field", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":1,\"meta\":\"x\"}]}", 400, "bad-request"),
        arguments("commit: unknown partition", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":3,\"offset\":1}]}", 404, "not-found"),
        arguments("commit: partition -1", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":-1,\"offset\":1}]}", 400, "bad-request"),
        arguments("commit: unknown topic", "POST", commit, "{\"offsets\":[{\"topic\":\"nope\",\"partition\":0,\"offset\":1}]}", 404, "not-found"),
        arguments("commit: invalid topic name", "POST", commit, "{\"offsets\":[{\"topic\":\"no good\",\"partition\":0,\"offset\":1}]}", 400, "bad-request"),
        arguments("commit: valid then unknown partition", "POST", commit, "{\"offsets\":[{\"topic\":\"bad\",\"partition\":1,\"offset\":2},{\"topic\":\"bad\",\"partition\":7,\"offset\":1}]}", 404, "not-found"),
        arguments("commit: group with space", "POST", "/v1/groups/my%20group/offsets", "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":1}]}", 400, "bad-request"),
        arguments("commit: group 250 chars", "POST", "/v1/groups/" + long250 + "/offsets", "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":1}]}", 400, "bad-request"),
        arguments("commit: group unicode", "POST", "/v1/groups/gr%C3%BCppe/offsets", "{\"offsets\":[{\"topic\":\"bad\",\"partition\":0,\"offset\":1}]}", 400, "bad-request"),
        arguments("read offsets: group with space", "GET", "/v1/groups/my%20group/offsets", null, 400, "bad-request"),
        arguments("read offsets: group 250 chars", "GET", "/v1/groups/" + long250 + "/offsets", null, 400, "bad-request"),
        arguments("read offsets: group unicode", "GET", "/v1/groups/gr%C3%BCppe/offsets", null, 400, "bad-request"),
        arguments("read offsets: unknown topic", "GET", commit + "?topic=nope", null, 404, "not-found"),
        arguments("read offsets: invalid topic", "GET", commit + "?topic=no%20good", null, 400, "bad-request"),

        // ------------------------------------------------ routes
        arguments("route: unknown path", "GET", "/v1/nope", null, 404, "not-found"),
        arguments("route: unknown root path", "GET", "/nope", null, 404, "not-found"),
        arguments("route: unknown sub-resource", "POST", "/v1/topics/" + T + "/nope", "{}", 404, "not-found"),
        arguments("route: records without partition", "GET", "/v1/topics/" + T + "/records", null, 404, "not-found"),
        arguments("route: empty topic segment", "POST", "/v1/topics//records", "{\"records\":[" + OK_RECORD + "]}", 404, "not-found"),

        // ------------------------------------------------ /v1/cluster/members (a single node: no peer transport)
        arguments("members: malformed JSON", "POST", "/v1/cluster/members", "{\"id\":", 400, "bad-request"),
        arguments("members: id missing", "POST", "/v1/cluster/members", "{\"raft_address\":\"127.0.0.1:9\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: raft_address missing", "POST", "/v1/cluster/members", "{\"id\":\"n4\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: bad id", "POST", "/v1/cluster/members", "{\"id\":\"n 4\",\"raft_address\":\"127.0.0.1:9\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: address without port", "POST", "/v1/cluster/members", "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: port out of range", "POST", "/v1/cluster/members", "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1:9\",\"http_address\":\"127.0.0.1:70000\"}", 400, "bad-request"),
        arguments("members: address as URL", "POST", "/v1/cluster/members", "{\"id\":\"n4\",\"raft_address\":\"http://127.0.0.1:9\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: unknown field", "POST", "/v1/cluster/members", "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1:9\",\"http_address\":\"127.0.0.1:8\",\"voter\":true}", 400, "bad-request"),
        arguments("members: no peer transport on a single node", "POST", "/v1/cluster/members", "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1:9\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: add an existing member", "POST", "/v1/cluster/members", "{\"id\":\"n1\",\"raft_address\":\"127.0.0.1:9\",\"http_address\":\"127.0.0.1:8\"}", 400, "bad-request"),
        arguments("members: remove unknown", "DELETE", "/v1/cluster/members/n9", null, 404, "not-found"),
        arguments("members: remove bad id", "DELETE", "/v1/cluster/members/n%209", null, 400, "bad-request"),
        arguments("members: remove the last voter", "DELETE", "/v1/cluster/members/n1", null, 409, "conflict"));
  }

  static String records(int count) {
    StringBuilder b = new StringBuilder("{\"records\":[");
    for (int i = 0; i < count; i++) {
      b.append(i == 0 ? "" : ",").append(OK_RECORD);
    }
    return b.append("]}").toString();
  }

  @Test
  void offsetPastTheEndNamesTheValidRange() {
    JsonNode p = rejected("GET", "/v1/topics/" + T + "/partitions/1/records?offset=5", null, 416, "offset-out-of-range");
    assertEquals(0, p.get("earliest_offset").asLong(), p.toString());
    assertEquals(2, p.get("latest_offset").asLong(), p.toString());
  }

  @Test
  void exactlyTheRecordLimitIsAccepted() {
    // The 413 above is the count limit, not the body size: 10,000 records in one batch pass.
    n.createTopic("limit-ok", 1);
    JsonNode o = n.produce("limit-ok", records(10_000));
    assertEquals(10_000, o.size());
    assertEquals(9_999, o.get(9_999).get("offset").asLong());
    n.delete("/v1/topics/limit-ok").expect(204);
  }

  @Test
  void invalidUtf8BodyIsABadRequest() {
    byte[] body = {'{', '"', 'n', 'a', 'm', 'e', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'};
    String before = snapshot();
    n.post("/v1/topics", BodyPublishers.ofByteArray(body)).problem(400, "bad-request");
    byte[] rec = {'{', '"', 'r', 'e', 'c', 'o', 'r', 'd', 's', '"', ':', '[', '{', '"', 'v', 'a', 'l', 'u', 'e', '"',
        ':', '"', (byte) 0xFF, (byte) 0xFE, '"', '}', ']', '}'};
    n.post("/v1/topics/" + T + "/records", BodyPublishers.ofByteArray(rec)).problem(400, "bad-request");
    assertEquals(before, snapshot());
  }

  @Test
  void loneSurrogatesNeverGiveA500() {
    // Unpaired UTF-16 surrogates are legal JSON escapes but not Unicode; refusing or storing are
    // both fine, failing is not.
    n.createTopic("surrogates", 1);
    for (String rec : List.of("{\"value\":\"\\ud800\"}", "{\"key\":\"\\udc00\",\"value\":1}",
        "{\"value\":1,\"headers\":{\"h\":\"\\ud800x\"}}", "{\"value\":1,\"headers\":{\"\\ud800\":\"v\"}}")) {
      TestNode.Res r = n.post("/v1/topics/surrogates/records", "{\"records\":[" + rec + "]}");
      if (r.status() != 200) {
        r.problem(400, "bad-request");
      }
    }
    JsonNode f = n.fetch("surrogates", 0, "?offset=0");
    assertTrue(f.get("records").isArray(), f.toString());
    n.delete("/v1/topics/surrogates").expect(204);
  }

  @Test
  void unsupportedMethodsOnKnownPathsAreProblems() {
    for (String[] mp : new String[][] {
        {"PUT", "/v1/topics"}, {"PATCH", "/v1/topics/" + T}, {"DELETE", "/v1/topics"}, {"PUT", "/v1/groups/g/offsets"},
        {"POST", "/health"}, {"DELETE", "/v1/topics/" + T + "/partitions/0/records"}}) {
      String before = snapshot();
      TestNode.Res r = n.method(mp[0], mp[1], "{}");
      assertTrue(r.status() == 404 || r.status() == 405, mp[0] + " " + mp[1] + " -> " + r.status() + " " + r.text());
      r.problem(r.status(), r.status() == 404 ? "not-found" : "bad-request");
      assertEquals(before, snapshot(), mp[0] + " " + mp[1]);
    }
  }

  @Test
  void theTopicAndItsRecordsAreIntactAfterAllThat() {
    // Independent of the snapshots: the six records are still there, readable and unchanged.
    long total = 0;
    for (int p = 0; p < 3; p++) {
      JsonNode f = n.fetch(T, p, "?offset=0");
      for (JsonNode r : f.get("records")) {
        assertEquals(1, r.get("value").asInt(), r.toString());
        total++;
      }
    }
    assertEquals(6, total);
    assertEquals("[{\"topic\":\"bad\",\"partition\":0,\"offset\":1},{\"topic\":\"bad\",\"partition\":2,\"offset\":2}]",
        n.get("/v1/groups/g/offsets").expect(200).json().get("offsets").toString());
  }
}
