package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Retention over real HTTP on one node (API.md, "Topics and records"): the leader's ticker
 * proposes the ticks by itself, the topic description shows each partition's moved {@code
 * start_offset}, a fetch below it is a 416 {@code offset-out-of-range} problem with {@code
 * earliest_offset} and {@code latest_offset}, a fetch from it works, a consumer group's committed
 * offset below it stays as committed, and {@code /metrics} counts the removal. Waits poll the
 * topic with a generous deadline; nothing asserts how long anything took.
 */
class RetentionApiTest {
  @TempDir static Path dir;
  static TestNode n;

  @BeforeAll
  static void start() {
    n = TestNode.start(NodeConfig.defaults().withPortAndDir(0, dir));
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

  /** Polls the topic until partition {@code p}'s start offset reaches {@code atLeast}; at most 30 s. */
  static JsonNode awaitStart(String topic, int p, long atLeast) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      JsonNode t = n.get("/v1/topics/" + topic).expect(200).json();
      if (t.get("partition_offsets").get(p).get("start_offset").asLong() >= atLeast) {
        return t;
      }
      if (System.nanoTime() > deadline) {
        fail("retention did not move the start offset of " + topic + "/" + p + " to " + atLeast + ": " + t);
      }
      TestNode.sleep(50);
    }
  }

  static String records(int count, int valueChars) {
    StringBuilder b = new StringBuilder("{\"records\":[");
    for (int i = 0; i < count; i++) {
      b.append(i == 0 ? "" : ",").append("{\"value\":\"").append(String.valueOf((char) ('a' + i % 26)).repeat(valueChars))
          .append("\"}");
    }
    return b.append("]}").toString();
  }

  @Test
  void byteRetentionMovesTheStartOffsetAndAFetchBelowItIsA416WithTheRange() {
    JsonNode created = n.post("/v1/topics", "{\"name\":\"sized\",\"partitions\":1,\"retention_bytes\":1000}").expect(201).json();
    assertEquals(1000, created.get("retention_bytes").asLong());
    n.produce("sized", records(10, 200)); // about 2.2 KB stored
    n.post("/v1/groups/readers/offsets", "{\"offsets\":[{\"topic\":\"sized\",\"partition\":0,\"offset\":1}]}").expect(200);

    JsonNode t = awaitStart("sized", 0, 1);
    long start = t.get("partition_offsets").get(0).get("start_offset").asLong();
    assertEquals(10, t.get("partition_offsets").get(0).get("end_offset").asLong());
    assertTrue(start >= 5 && start < 10, "about 1000 of 2200 bytes are kept, the newest: " + t);

    JsonNode p = n.get("/v1/topics/sized/partitions/0/records?offset=0").problem(416, "offset-out-of-range");
    assertEquals(start, p.get("earliest_offset").asLong(), p.toString());
    assertEquals(10, p.get("latest_offset").asLong(), p.toString());
    assertTrue(p.get("detail").asText().contains("retention"), p.toString());

    JsonNode fetched = n.fetch("sized", 0, "?offset=" + start + "&max_records=100");
    assertEquals(10 - start, fetched.get("records").size());
    assertEquals(start, fetched.get("records").get(0).get("offset").asLong());
    assertEquals(10, fetched.get("next_offset").asLong());

    // Kafka semantics: a committed offset below the start stays; the consumer gets the 416 and resets.
    JsonNode committed = n.get("/v1/groups/readers/offsets?topic=sized").expect(200).json();
    assertEquals(1, committed.get("offsets").get(0).get("offset").asLong(), committed.toString());

    String metrics = n.get("/metrics").expect(200).text();
    assertTrue(metrics.lines().anyMatch(l -> l.startsWith("dsync_retention_removed_records_total ")
        && Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)) >= start), metrics);
  }

  @Test
  void timeRetentionRemovesEveryRecordOnceItIsOldEnoughAndTheEndOffsetStays() {
    n.post("/v1/topics", "{\"name\":\"brief\",\"partitions\":2,\"retention_ms\":1}").expect(201);
    n.produce("brief", "{\"records\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2},{\"key\":\"c\",\"value\":3}]}");
    List<Long> ends = n.endOffsets("brief");
    assertEquals(3, ends.get(0) + ends.get(1));
    for (int p = 0; p < 2; p++) {
      JsonNode t = awaitStart("brief", p, ends.get(p));
      assertEquals(ends.get(p), t.get("partition_offsets").get(p).get("end_offset").asLong(), "the end offset stays");
      if (ends.get(p) > 0) {
        JsonNode problem = n.get("/v1/topics/brief/partitions/" + p + "/records?offset=0").problem(416, "offset-out-of-range");
        assertEquals(ends.get(p), problem.get("earliest_offset").asLong(), problem.toString());
        assertEquals(ends.get(p), problem.get("latest_offset").asLong(), problem.toString());
        JsonNode empty = n.fetch("brief", p, "?offset=" + ends.get(p));
        assertEquals(0, empty.get("records").size(), "fetching at the start of an emptied partition finds nothing yet");
      }
    }
  }
}
