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
 * Bad input on the consumer-group membership routes: each request gets the right 4xx
 * {@code application/problem+json} and changes nothing (the group, the topics and the Raft log are
 * compared before and after). An unknown topic in a join's {@code topics} is a 404, as everywhere
 * else a request names a topic. No request may get a 500.
 */
class GroupsBadInputTest {
  /** Group {@value} has member {@code c1} on topic {@code orders} (3 partitions). */
  static final String G = "billing";

  @TempDir static Path dir;
  static TestNode n;

  @BeforeAll
  static void start() {
    n = TestNode.start(dir);
    n.createTopic("orders", 3);
    n.post("/v1/groups/" + G + "/members", "{\"member_id\":\"c1\",\"topics\":[\"orders\"],\"session_timeout_ms\":300000}")
        .expect(200);
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
    assertEquals(serverErrorsBefore, n.serverErrorsCounted(), "5xx answers counted in /metrics");
  }

  /** The group, the topics and the Raft indexes, as one string. */
  static String snapshot() {
    JsonNode group = n.get("/v1/groups/" + G).expect(200).json();
    JsonNode topics = n.get("/v1/topics").expect(200).json();
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    return group + "\n" + topics + "\nlog " + s.get("last_index") + " commit " + s.get("commit_index")
        + " applied " + s.get("applied_index");
  }

  static JsonNode rejected(String method, String path, String body, int status, String type) {
    return n.refusedUnchanged(method, path, body, status, type, GroupsBadInputTest::snapshot);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void refusedAndNothingChanges(String what, String method, String path, String body, int status, String type) {
    rejected(method, path, body, status, type);
  }

  static Stream<Arguments> cases() {
    String join = "/v1/groups/" + G + "/members";
    String long250 = "x".repeat(250);
    StringBuilder many = new StringBuilder("{\"topics\":[");
    for (int i = 0; i <= 100; i++) {
      many.append(i == 0 ? "" : ",").append("\"orders\"");
    }
    String tooMany = many.append("]}").toString();
    return Stream.of(
        // ------------------------------------------------ POST /v1/groups/{group}/members
        arguments("join: malformed JSON", "POST", join, "{\"topics\":[", 400, "bad-request"),
        arguments("join: empty body", "POST", join, "", 400, "bad-request"),
        arguments("join: null body", "POST", join, "null", 400, "bad-request"),
        arguments("join: array body", "POST", join, "[\"orders\"]", 400, "bad-request"),
        arguments("join: topics missing", "POST", join, "{\"member_id\":\"c2\"}", 400, "bad-request"),
        arguments("join: topics null", "POST", join, "{\"topics\":null}", 400, "bad-request"),
        arguments("join: topics empty", "POST", join, "{\"topics\":[]}", 400, "bad-request"),
        arguments("join: topics a string", "POST", join, "{\"topics\":\"orders\"}", 400, "bad-request"),
        arguments("join: topic null", "POST", join, "{\"topics\":[null]}", 400, "bad-request"),
        arguments("join: topic a number", "POST", join, "{\"topics\":[1]}", 400, "bad-request"),
        arguments("join: topic invalid name", "POST", join, "{\"topics\":[\"no good\"]}", 400, "bad-request"),
        arguments("join: topic 250 chars", "POST", join, "{\"topics\":[\"" + long250 + "\"]}", 400, "bad-request"),
        arguments("join: 101 topics", "POST", join, tooMany, 400, "bad-request"),
        arguments("join: unknown topic", "POST", join, "{\"topics\":[\"nope\"]}", 404, "not-found"),
        arguments("join: known and unknown topic", "POST", join, "{\"topics\":[\"orders\",\"nope\"]}", 404, "not-found"),
        arguments("join: session timeout 999", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":999}", 400, "bad-request"),
        arguments("join: session timeout 300001", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":300001}", 400, "bad-request"),
        arguments("join: session timeout 0", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":0}", 400, "bad-request"),
        arguments("join: session timeout -1", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":-1}", 400, "bad-request"),
        arguments("join: session timeout string", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":\"10000\"}", 400, "bad-request"),
        arguments("join: session timeout float", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":1e4}", 400, "bad-request"),
        arguments("join: session timeout beyond long", "POST", join, "{\"topics\":[\"orders\"],\"session_timeout_ms\":99999999999999999999}", 400, "bad-request"),
        arguments("join: member_id invalid", "POST", join, "{\"member_id\":\"c 2\",\"topics\":[\"orders\"]}", 400, "bad-request"),
        arguments("join: member_id empty", "POST", join, "{\"member_id\":\"\",\"topics\":[\"orders\"]}", 400, "bad-request"),
        arguments("join: member_id 250 chars", "POST", join, "{\"member_id\":\"" + long250 + "\",\"topics\":[\"orders\"]}", 400, "bad-request"),
        arguments("join: member_id a number", "POST", join, "{\"member_id\":2,\"topics\":[\"orders\"]}", 400, "bad-request"),
        arguments("join: unknown field", "POST", join, "{\"topics\":[\"orders\"],\"rebalance_timeout_ms\":5000}", 400, "bad-request"),
        arguments("join: camelCase field", "POST", join, "{\"topics\":[\"orders\"],\"sessionTimeoutMs\":5000}", 400, "bad-request"),
        arguments("join: group with space", "POST", "/v1/groups/my%20group/members", "{\"topics\":[\"orders\"]}", 400, "bad-request"),
        arguments("join: group 250 chars", "POST", "/v1/groups/" + long250 + "/members", "{\"topics\":[\"orders\"]}", 400, "bad-request"),
        arguments("join: group unicode", "POST", "/v1/groups/gr%C3%BCppe/members", "{\"topics\":[\"orders\"]}", 400, "bad-request"),

        // ------------------------------------------------ POST .../members/{member_id}/heartbeat
        arguments("heartbeat: unknown member", "POST", join + "/c9/heartbeat", "", 404, "not-found"),
        arguments("heartbeat: unknown group", "POST", "/v1/groups/nope/members/c1/heartbeat", "", 404, "not-found"),
        arguments("heartbeat: member with space", "POST", join + "/c%201/heartbeat", "", 400, "bad-request"),
        arguments("heartbeat: member 250 chars", "POST", join + "/" + long250 + "/heartbeat", "", 400, "bad-request"),
        arguments("heartbeat: group with space", "POST", "/v1/groups/my%20group/members/c1/heartbeat", "", 400, "bad-request"),

        // ------------------------------------------------ DELETE .../members/{member_id}
        arguments("leave: unknown member", "DELETE", join + "/c9", null, 404, "not-found"),
        arguments("leave: unknown group", "DELETE", "/v1/groups/nope/members/c1", null, 404, "not-found"),
        arguments("leave: member unicode", "DELETE", join + "/c%C3%BC", null, 400, "bad-request"),
        arguments("leave: group 250 chars", "DELETE", "/v1/groups/" + long250 + "/members/c1", null, 400, "bad-request"),

        // ------------------------------------------------ GET /v1/groups/{group}
        arguments("describe: unknown group", "GET", "/v1/groups/nope", null, 404, "not-found"),
        arguments("describe: group with space", "GET", "/v1/groups/my%20group", null, 400, "bad-request"),
        arguments("describe: bad consistency", "GET", "/v1/groups/" + G + "?consistency=strong", null, 400, "bad-request"),

        // ------------------------------------------------ routes
        arguments("route: heartbeat without member", "POST", join + "/heartbeat", "", 404, "not-found"),
        arguments("route: unknown member sub-resource", "POST", join + "/c1/nope", "{}", 404, "not-found"));
  }

  @Test
  void unsupportedMethodsOnGroupPathsAreProblems() {
    for (String[] mp : new String[][] {
        {"PUT", "/v1/groups/" + G}, {"DELETE", "/v1/groups/" + G}, {"GET", "/v1/groups/" + G + "/members"},
        {"GET", "/v1/groups/" + G + "/members/c1/heartbeat"}, {"PUT", "/v1/groups/" + G + "/members/c1"}}) {
      String before = snapshot();
      TestNode.Res r = n.method(mp[0], mp[1], "{}");
      assertTrue(r.status() == 404 || r.status() == 405, mp[0] + " " + mp[1] + " -> " + r.status() + " " + r.text());
      r.problem(r.status(), r.status() == 404 ? "not-found" : "bad-request");
      assertEquals(before, snapshot(), mp[0] + " " + mp[1]);
    }
  }

  @Test
  void theMemberIsIntactAfterAllThat() {
    JsonNode g = n.get("/v1/groups/" + G).expect(200).json();
    assertEquals(1, g.get("generation").asLong(), g.toString());
    assertEquals(1, g.get("members").size(), g.toString());
    assertEquals(3, n.post("/v1/groups/" + G + "/members/c1/heartbeat", "").expect(200).json().get("assignment").size());
  }
}
