package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a node answers survives closing it and starting it again on the same data dir: topics,
 * records (with keys, headers, priorities, timestamps, bytes), deletions and committed offsets.
 */
class HttpRestartTest {
  @TempDir Path dir;
  TestNode n;

  @AfterEach
  void stop() {
    if (n != null) {
      try {
        assertEquals(List.of(), n.drainServerErrors());
      } finally {
        n.close();
        n = null;
      }
    }
  }

  /** Every topic, every partition's records, and group offsets, as the API shows them. */
  private String everything() {
    StringBuilder b = new StringBuilder();
    JsonNode topics = n.get("/v1/topics").expect(200).json();
    b.append(topics).append('\n');
    for (JsonNode t : topics.get("topics")) {
      String name = t.get("name").asText();
      for (int p = 0; p < t.get("partitions").asInt(); p++) {
        b.append(name).append('/').append(p).append(' ')
            .append(n.fetch(name, p, "?offset=0&max_records=1000")).append('\n');
      }
    }
    b.append(n.get("/v1/groups/g1/offsets").expect(200).json()).append('\n');
    b.append(n.get("/v1/groups/g1/offsets?topic=keep").expect(200).json()).append('\n');
    b.append(n.get("/v1/groups/g2/offsets").expect(200).json()).append('\n');
    return b.toString();
  }

  @Test
  void topicsRecordsDeletionsAndOffsetsSurviveARestart() {
    n = TestNode.start(dir);
    n.post("/v1/topics", "{\"name\":\"keep\",\"partitions\":3,\"retention_ms\":86400000,\"delivery_limit\":3,"
        + "\"dead_letter_topic\":\"keep-dead\"}").expect(201);
    n.createTopic("other", 1);
    n.createTopic("gone", 2);
    List<JsonNode> produced = new ArrayList<>();
    produced.add(n.produce("keep", """
        {"records":[{"key":"a","value":{"x":[1,2.50,null]},"headers":{"h":"1"},"priority":4},
                    {"key":"b","value_base64":"AAEC/w=="},{"value":"no key"},{"value":1e400},
                    {"key":"a","value":true,"priority":9}]}"""));
    produced.add(n.produce("other", "{\"records\":[{\"value\":1},{\"value\":2}]}"));
    n.produce("gone", "{\"records\":[{\"value\":\"bye\"}]}");
    n.post("/v1/groups/g1/offsets", "{\"offsets\":[{\"topic\":\"keep\",\"partition\":2,\"offset\":1},"
        + "{\"topic\":\"other\",\"partition\":0,\"offset\":2}]}").expect(200);
    n.post("/v1/groups/g2/offsets", "{\"offsets\":[{\"topic\":\"keep\",\"partition\":0,\"offset\":7}]}").expect(200);
    n.delete("/v1/topics/gone").expect(204);

    String before = everything();
    long commitBefore = n.get("/v1/cluster/status").expect(200).json().get("commit_index").asLong();
    List<Long> endsBefore = n.endOffsets("keep");
    assertEquals(5, endsBefore.stream().mapToLong(Long::longValue).sum());
    assertTrue(before.contains("\"offset\":7"), before);
    n.close();
    n = null;

    n = TestNode.start(dir);
    assertEquals("ready", n.get("/ready").expect(200).json().get("status").asText());
    assertEquals(before, everything());
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    assertEquals("leader", s.get("role").asText());
    assertTrue(s.get("commit_index").asLong() >= commitBefore, s + " vs " + commitBefore);
    assertTrue(s.get("applied_index").asLong() >= commitBefore, s + " vs " + commitBefore);
    n.get("/v1/topics/gone").problem(404, "not-found");
    n.post("/v1/topics", "{\"name\":\"keep\"}").problem(409, "conflict");

    // Writing goes on where it stopped: the next record of a key lands after the old ones.
    int pa = produced.get(0).get(0).get("partition").asInt();
    JsonNode o = n.produce("keep", "{\"records\":[{\"key\":\"a\",\"value\":\"after\"}]}");
    assertEquals(pa, o.get(0).get("partition").asInt(), "key a changed partition across a restart");
    assertEquals(endsBefore.get(pa).longValue(), o.get(0).get("offset").asLong());
    n.post("/v1/groups/g1/offsets", "{\"offsets\":[{\"topic\":\"keep\",\"partition\":2,\"offset\":2}]}").expect(200);

    // And that survives a second restart too.
    String again = everything();
    n.close();
    n = null;
    n = TestNode.start(dir);
    assertEquals(again, everything());
    assertTrue(again.contains("{\"topic\":\"keep\",\"partition\":2,\"offset\":2}"), again);
  }

  @Test
  void readyIsA503ProblemUntilTheFreshNodeLeadsThenOk() {
    // Poll from the moment HTTP serves: every answer before the 200 must be a 503 no-leader
    // problem with Retry-After (checked by awaitReady), and no other status.
    n = TestNode.startUnready(NodeConfig.defaults().withPortAndDir(0, dir));
    int notReady = n.awaitReady();
    assertTrue(notReady < 10_000, "polled " + notReady + " times");
    assertEquals("ready", n.get("/ready").expect(200).json().get("status").asText());
    JsonNode s = n.get("/v1/cluster/status").expect(200).json();
    assertEquals("leader", s.get("role").asText());
    assertEquals("n1", s.get("leader_id").asText());
  }

  @Test
  void jvmMetricsAreServedOnlyWhenRegistered() {
    n = TestNode.start(dir);
    assertTrue(n.get("/metrics").expect(200).text().lines().noneMatch(l -> l.startsWith("jvm_")));
    n.close();
    n = null;
    n = new TestNode(Node.start(NodeConfig.defaults().withPortAndDir(0, dir), true));
    n.awaitReady();
    String text = n.get("/metrics").expect(200).text();
    assertTrue(text.lines().anyMatch(l -> l.startsWith("jvm_memory_used_bytes{")), text);
    assertTrue(text.contains("dsync_raft_commit_index"), text);
  }
}
