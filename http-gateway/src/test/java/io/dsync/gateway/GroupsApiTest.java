package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Consumer groups and idempotent produce over real HTTP on loopback (API.md "Consumer groups",
 * "Topics and records"): join, heartbeat, leave and describe with the assignment covering every
 * partition once; retried idempotent batches answer their first offsets and append nothing; and
 * groups, producer windows and committed offsets survive a restart.
 */
class GroupsApiTest {
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

  private JsonNode join(String group, String body) {
    return n.post("/v1/groups/" + group + "/members", body).expect(200).json();
  }

  private JsonNode heartbeat(String group, String member) {
    return n.post("/v1/groups/" + group + "/members/" + member + "/heartbeat", "").expect(200).json();
  }

  private static List<String> partitions(JsonNode membership) {
    List<String> out = new java.util.ArrayList<>();
    for (JsonNode tp : membership.get("assignment")) {
      out.add(tp.get("topic").asText() + "/" + tp.get("partition").asInt());
    }
    return out;
  }

  @Test
  void membersJoinHeartbeatAndLeaveAndShareThePartitions() {
    n = TestNode.start(dir);
    n.createTopic("orders", 6);
    n.createTopic("audit", 2);
    JsonNode c1 = join("billing", "{\"member_id\":\"c1\",\"topics\":[\"orders\",\"audit\"],\"session_timeout_ms\":10000}");
    assertEquals("c1", c1.get("member_id").asText());
    assertEquals(1, c1.get("generation").asLong());
    assertEquals(8, c1.get("assignment").size());
    assertEquals("{\"topic\":\"audit\",\"partition\":0}", c1.get("assignment").get(0).toString(), "sorted, snake_case");

    JsonNode c2 = join("billing", "{\"member_id\":\"c2\",\"topics\":[\"orders\"]}");
    assertEquals(2, c2.get("generation").asLong());
    JsonNode c1again = heartbeat("billing", "c1");
    assertEquals(2, c1again.get("generation").asLong());
    TreeSet<String> all = new TreeSet<>(partitions(c1again));
    for (String p : partitions(c2)) {
      assertTrue(p.startsWith("orders/"), p);
      assertTrue(all.add(p), p + " owned by both");
    }
    assertEquals(8, all.size());

    JsonNode g = n.get("/v1/groups/billing").expect(200).json();
    assertEquals("billing", g.get("group").asText());
    assertEquals(2, g.get("generation").asLong());
    assertEquals(2, g.get("members").size());
    JsonNode m2 = g.get("members").get(1);
    assertEquals("c2", m2.get("member_id").asText());
    assertEquals(45_000, m2.get("session_timeout_ms").asLong(), "the default session timeout");
    assertEquals("[\"orders\"]", m2.get("topics").toString());
    assertEquals(c2.get("assignment"), m2.get("assignment"));
    assertTrue(m2.get("joined_ms").asLong() > 0);

    // The same join again is idempotent: same answer, no new generation.
    assertEquals(c2, join("billing", "{\"member_id\":\"c2\",\"topics\":[\"orders\"]}"));
    JsonNode left = n.delete("/v1/groups/billing/members/c2").expect(200).json();
    assertEquals("{\"group\":\"billing\",\"member_id\":\"c2\",\"generation\":3}", left.toString());
    n.post("/v1/groups/billing/members/c2/heartbeat", "").problem(404, "not-found");
    assertEquals(8, heartbeat("billing", "c1").get("assignment").size(), "c2's partitions came back to c1");

    JsonNode named = join("billing", "{\"topics\":[\"audit\"]}");
    assertTrue(named.get("member_id").asText().startsWith("member-"), named.toString());
    assertEquals(named, heartbeat("billing", named.get("member_id").asText()));
  }

  @Test
  void aRetriedIdempotentBatchAnswersItsFirstOffsetsAndAppendsNothing() {
    n = TestNode.start(dir);
    n.createTopic("orders", 3);
    String batch = "{\"records\":[{\"key\":\"a\",\"value\":1},{\"value\":2},{\"value\":3}],"
        + "\"producer_id\":\"checkout-7\",\"sequence\":0}";
    JsonNode first = n.produce("orders", batch);
    List<Long> ends = n.endOffsets("orders");
    assertEquals(first, n.produce("orders", batch), "the retry gets the first answer");
    assertEquals(ends, n.endOffsets("orders"), "the retry appended nothing");
    n.produce("orders", "{\"records\":[{\"value\":1}],\"producer_id\":\"other\",\"sequence\":0}");
    for (int s = 1; s <= 5; s++) {
      n.produce("orders", "{\"records\":[{\"value\":" + s + "}],\"producer_id\":\"checkout-7\",\"sequence\":" + s + "}");
    }
    List<Long> after = n.endOffsets("orders");
    JsonNode old = n.post("/v1/topics/orders/records", batch).problem(409, "conflict");
    assertTrue(old.get("detail").asText().startsWith("sequence too old"), old.toString());
    assertEquals(1, old.get("lowest_sequence").asLong());
    assertEquals(after, n.endOffsets("orders"));
  }

  @Test
  void groupsProducerWindowsAndOffsetsSurviveARestart() {
    n = TestNode.start(dir);
    n.createTopic("orders", 4);
    join("billing", "{\"member_id\":\"c1\",\"topics\":[\"orders\"],\"session_timeout_ms\":300000}");
    join("billing", "{\"member_id\":\"c2\",\"topics\":[\"orders\"],\"session_timeout_ms\":300000}");
    String batch = "{\"records\":[{\"value\":\"x\"}],\"producer_id\":\"p\",\"sequence\":41}";
    JsonNode first = n.produce("orders", batch);
    n.post("/v1/groups/billing/offsets", "{\"offsets\":[{\"topic\":\"orders\",\"partition\":1,\"offset\":1}]}")
        .expect(200);
    JsonNode group = n.get("/v1/groups/billing").expect(200).json();
    JsonNode offsets = n.get("/v1/groups/billing/offsets").expect(200).json();
    List<Long> ends = n.endOffsets("orders");
    n.close();
    n = null;

    n = TestNode.start(dir);
    assertEquals(group, n.get("/v1/groups/billing").expect(200).json());
    assertEquals(offsets, n.get("/v1/groups/billing/offsets").expect(200).json());
    assertEquals(first, n.produce("orders", batch));
    assertEquals(ends, n.endOffsets("orders"));
    // A new leader starts sessions afresh: the members are still there to heartbeat.
    assertEquals(2, heartbeat("billing", "c2").get("generation").asLong());
  }
}
