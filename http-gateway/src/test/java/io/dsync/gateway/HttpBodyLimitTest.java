package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node started with a 64 KiB body limit answers 413 payload-too-large to larger bodies, sent
 * with a Content-Length or chunked, and changes nothing; bodies under the limit work.
 */
class HttpBodyLimitTest {
  static final int LIMIT = 64 * 1024;

  @TempDir static Path dir;
  static TestNode n;

  @BeforeAll
  static void start() {
    n = TestNode.start(new NodeConfig("n1", "127.0.0.1", 0, dir, LIMIT, 50, 64L << 20));
    n.createTopic("small", 1);
    n.produce("small", "{\"records\":[{\"value\":\"first\"}]}");
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

  private static String state() {
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    return n.get("/v1/topics").expect(200).json() + " " + n.get("/v1/groups/g/offsets").expect(200).json()
        + " log " + s.get("last_index");
  }

  /** A valid produce body of about {@code bytes} bytes: one record with a long string value. */
  private static String produceBody(int bytes) {
    return "{\"records\":[{\"value\":\"" + "v".repeat(bytes - 30) + "\"}]}";
  }

  @Test
  void bodiesUnderTheLimitAreAccepted() {
    String body = produceBody(LIMIT - 1024);
    assertTrue(body.length() < LIMIT && body.length() > LIMIT - 2048);
    JsonNode o = n.produce("small", body);
    assertEquals(0, o.get(0).get("partition").asInt());
    JsonNode recs = n.fetch("small", 0, "?offset=" + o.get(0).get("offset").asLong()).get("records");
    assertEquals(LIMIT - 1024 - 30, recs.get(0).get("value").asText().length());
  }

  @Test
  void oversizeBodiesWithContentLengthAre413() {
    String before = state();
    String tooBig = produceBody(LIMIT + 1024);
    JsonNode p = n.post("/v1/topics/small/records", tooBig).problem(413, "payload-too-large");
    assertTrue(p.get("detail").asText().contains(Integer.toString(LIMIT)), p.toString());
    n.post("/v1/topics", "{\"name\":\"big\",\"dead_letter_topic\":\"" + "d".repeat(LIMIT) + "\"}")
        .problem(413, "payload-too-large");
    n.post("/v1/groups/g/offsets", "{\"offsets\":[" + "{\"topic\":\"small\",\"partition\":0,\"offset\":1},".repeat(2000)
        + "{\"topic\":\"small\",\"partition\":0,\"offset\":1}]}").problem(413, "payload-too-large");
    assertEquals(before, state());
  }

  @Test
  void oversizeChunkedBodiesAre413() {
    String before = state();
    byte[] tooBig = produceBody(LIMIT * 4).getBytes(StandardCharsets.UTF_8);
    n.post("/v1/topics/small/records", BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(tooBig)))
        .problem(413, "payload-too-large");
    assertEquals(before, state());
    // The node still serves normally afterwards.
    n.produce("small", "{\"records\":[{\"value\":\"after\"}]}");
  }

  @Test
  void oneByteOverTheLimitIs413AndExactlyTheLimitIsNot() {
    String before = state();
    String exact = "{\"records\":[{\"value\":\"" + "x".repeat(LIMIT - 26) + "\"}]}";
    assertEquals(LIMIT, exact.length());
    String over = "{\"records\":[{\"value\":\"" + "x".repeat(LIMIT - 25) + "\"}]}";
    n.post("/v1/topics/small/records", over).problem(413, "payload-too-large");
    assertEquals(before, state());
    n.produce("small", exact);
  }
}
