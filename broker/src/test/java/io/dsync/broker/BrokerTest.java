package io.dsync.broker;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchResult;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.PartitionInfo;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.Model.TopicInfo;
import io.dsync.raft.RaftConfig;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@link Broker} facade on a one-node group in a temp dir: topics, produce, fetch with
 * long-poll, consumer-group offsets and recovery after a restart — and every validation error is
 * a {@link BrokerException} of the right {@link ErrorKind} that proposes nothing.
 */
class BrokerTest {
  @TempDir Path dir;

  private Broker broker;

  @BeforeEach
  void open() {
    broker = openBroker();
  }

  @AfterEach
  void close() {
    if (broker != null) {
      broker.close();
    }
  }

  private Broker openBroker() {
    return TestBrokers.openReady(dir, System::currentTimeMillis);
  }

  private static TopicConfig topic(String name, int partitions) {
    return new TopicConfig(name, partitions, 0, 0, 0, null);
  }

  private static RecordIn json(String key, String value) {
    return new RecordIn(key, value.getBytes(UTF_8), false, List.of(), 0);
  }

  private static List<String> values(FetchResult r) {
    return r.records().stream().map(x -> new String(x.value(), UTF_8)).toList();
  }

  private static BrokerException refused(ErrorKind kind, Executable call) {
    BrokerException e = assertThrows(BrokerException.class, call);
    assertEquals(kind, e.kind(), e.getMessage());
    assertFalse(e.getMessage() == null || e.getMessage().isBlank(), "an error says why");
    return e;
  }

  @Test
  void producesAndFetchesThroughTheFacade() throws Exception {
    TopicInfo created = broker.createTopic(topic("orders", 3));
    assertEquals(new TopicConfig("orders", 3, -1, -1, 5, "orders.dlq"), created.config(), "defaults are filled in");
    assertEquals(3, created.partitions().size());
    assertEquals(List.of(created), broker.topics());
    assertEquals("leader", broker.status().role());
    assertEquals("n1", broker.status().leaderId());

    // Keyed records: one key, one partition, in produce order.
    List<RecordIn> keyed = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      keyed.add(json("customer-7", "{\"n\":" + i + "}"));
    }
    List<RecordPosition> positions = broker.produce("orders", keyed);
    int p = positions.get(0).partition();
    for (int i = 0; i < 10; i++) {
      assertEquals(new RecordPosition(p, i), positions.get(i));
    }
    // Records without a key spread round-robin over every partition.
    List<RecordIn> unkeyed = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      unkeyed.add(json(null, "{\"u\":" + i + "}"));
    }
    Set<Integer> spread = new HashSet<>();
    broker.produce("orders", unkeyed).forEach(pos -> spread.add(pos.partition()));
    assertEquals(Set.of(0, 1, 2), spread);

    FetchResult all = broker.fetch("orders", p, 0, 100, 0);
    List<String> keyedValues = all.records().stream().filter(r -> "customer-7".equals(r.key()))
        .map(r -> new String(r.value(), UTF_8)).toList();
    assertEquals(keyed.stream().map(r -> new String(r.value(), UTF_8)).toList(), keyedValues);
    assertEquals(12, all.highWatermark());
    assertEquals(12, all.nextOffset());
    for (int i = 0; i < all.records().size(); i++) {
      assertEquals(i, all.records().get(i).offset());
    }

    FetchResult page = broker.fetch("orders", p, 3, 4, 0);
    assertEquals(List.of(3L, 4L, 5L, 6L), page.records().stream().map(FetchedRecord::offset).toList());
    assertEquals(7, page.nextOffset());
    FetchResult atEnd = broker.fetch("orders", p, 12, 10, 0);
    assertTrue(atEnd.records().isEmpty());
    assertEquals(12, atEnd.nextOffset());

    // Binary values, headers and priorities survive the trip.
    broker.createTopic(topic("blobs", 1));
    byte[] bytes = {0, (byte) 0xFF, 1, (byte) 0x80};
    broker.produce("blobs", List.of(new RecordIn("b", bytes, true, List.of(new Header("x", "1"), new Header("x", "2")), 9)));
    FetchedRecord blob = broker.fetch("blobs", 0, 0, 1, 0).records().get(0);
    assertArrayEquals(bytes, blob.value());
    assertTrue(blob.binary());
    assertEquals(List.of(new Header("x", "1"), new Header("x", "2")), blob.headers());
    assertEquals(9, blob.priority());
    assertTrue(Math.abs(System.currentTimeMillis() - blob.timestampMs()) < 60_000, "stamped with the leader's clock");

    broker.deleteTopic("blobs");
    refused(ErrorKind.NOT_FOUND, () -> broker.topic("blobs"));
    assertEquals(List.of("orders"), broker.topics().stream().map(t -> t.config().name()).toList());
  }

  @Test
  void aLongPollIsWokenByAProduceAndOtherwiseTimesOut() throws Exception {
    broker.createTopic(topic("events", 1));

    long t0 = System.nanoTime();
    FetchResult empty = broker.fetch("events", 0, 0, 10, 200);
    long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertTrue(empty.records().isEmpty());
    assertTrue(waitedMs >= 180, "a long poll with nothing to read waits its max_wait_ms, waited " + waitedMs);

    CompletableFuture<FetchResult> poll = CompletableFuture.supplyAsync(() -> {
      try {
        return broker.fetch("events", 0, 0, 10, 20_000);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    Thread.sleep(200);
    assertFalse(poll.isDone(), "the long poll returned before anything was produced");
    long produced = System.nanoTime();
    broker.produce("events", List.of(json(null, "\"hello\"")));
    FetchResult woken = poll.get(10, TimeUnit.SECONDS);
    long latencyMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - produced);
    assertEquals(List.of("\"hello\""), values(woken));
    assertEquals(1, woken.nextOffset());
    assertTrue(latencyMs < 5_000, "the long poll should wake on apply, not at its deadline; took " + latencyMs + " ms");

    // A poll from the end waits for the next record only.
    CompletableFuture<FetchResult> next = CompletableFuture.supplyAsync(() -> {
      try {
        return broker.fetch("events", 0, 1, 10, 20_000);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    Thread.sleep(100);
    broker.produce("events", List.of(json(null, "\"second\"")));
    assertEquals(List.of("\"second\""), values(next.get(10, TimeUnit.SECONDS)));
  }

  @Test
  void theDefaultDeadLetterTopicFitsTheNameLimit() {
    String longest = "n".repeat(249);
    assertEquals("n".repeat(245) + ".dlq", broker.createTopic(topic(longest, 1)).config().deadLetterTopic());
    assertEquals("short.dlq", broker.createTopic(topic("short", 1)).config().deadLetterTopic());
    assertEquals("mine", broker.createTopic(new TopicConfig("given", 1, 0, 0, 0, "mine")).config().deadLetterTopic());
  }

  @Test
  void consumerGroupsCommitAndReadOffsets() {
    broker.createTopic(topic("a", 2));
    broker.createTopic(topic("b", 1));
    broker.commitOffsets("workers", List.of(new CommittedOffset("a", 1, 40), new CommittedOffset("a", 0, 12)));
    broker.commitOffsets("workers", List.of(new CommittedOffset("b", 0, 3)));
    broker.commitOffsets("workers", List.of(new CommittedOffset("a", 0, 13)));
    assertEquals(List.of(new CommittedOffset("a", 0, 13), new CommittedOffset("a", 1, 40), new CommittedOffset("b", 0, 3)),
        broker.committedOffsets("workers", null));
    assertEquals(List.of(new CommittedOffset("b", 0, 3)), broker.committedOffsets("workers", "b"));
    assertTrue(broker.committedOffsets("others", null).isEmpty());
  }

  @Test
  void validationErrorsHaveTheRightKindAndChangeNothing() throws Exception {
    broker.createTopic(topic("t", 2));
    broker.produce("t", List.of(json("k", "1"), json("k", "2")));
    broker.commitOffsets("g", List.of(new CommittedOffset("t", 0, 1)));
    // The log on disk and the state's lastApplied, both written before a write returns (the Raft
    // status getters are published a moment later and may lag).
    long lastIndex = broker.storage().log().lastIndex();
    assertEquals(lastIndex, broker.storage().state().lastApplied());
    List<TopicInfo> topicsBefore = broker.topics();

    // topics
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(topic("no spaces", 1)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(topic("", 1)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(topic("x".repeat(250), 1)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(topic("u", 0)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(topic("u", 1025)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(new TopicConfig("u", 1, 0, 0, -1, null)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(new TopicConfig("u", 1, 0, 0, 1001, null)));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(new TopicConfig("u", 1, 0, 0, 0, "bad/dlq")));
    refused(ErrorKind.BAD_REQUEST, () -> broker.createTopic(new TopicConfig("u", 1, 0, 0, 0, "d".repeat(300))));
    refused(ErrorKind.CONFLICT, () -> broker.createTopic(topic("t", 5)));
    refused(ErrorKind.NOT_FOUND, () -> broker.topic("nope"));
    refused(ErrorKind.BAD_REQUEST, () -> broker.topic("n/a"));
    refused(ErrorKind.NOT_FOUND, () -> broker.deleteTopic("nope"));

    // produce
    refused(ErrorKind.NOT_FOUND, () -> broker.produce("nope", List.of(json(null, "1"))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", List.of()));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", null));
    refused(ErrorKind.PAYLOAD_TOO_LARGE, () -> broker.produce("t", Collections.nCopies(10_001, json(null, "1"))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", List.of(json(null, "1"), new RecordIn(null, null, false, List.of(), 0))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", List.of(new RecordIn(null, new byte[1], true, List.of(), 10))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", List.of(new RecordIn(null, new byte[1], true, List.of(), -1))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", List.of(new RecordIn(null, new byte[1], true, List.of(new Header("", "v")), 0))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.produce("t", List.of(new RecordIn(null, new byte[1], true,
        List.of(new Header("k", "v".repeat(4097))), 0))));
    BrokerException big = refused(ErrorKind.PAYLOAD_TOO_LARGE, () -> broker.produce("t",
        List.of(json(null, "1"), new RecordIn(null, new byte[(1 << 20) + 1], true, List.of(), 0))));
    assertTrue(big.getMessage().contains("record 1"), "the message names the offending record: " + big.getMessage());

    // fetch
    refused(ErrorKind.BAD_REQUEST, () -> broker.fetch("t", 0, 0, 0, 0));
    refused(ErrorKind.BAD_REQUEST, () -> broker.fetch("t", 0, 0, 10_001, 0));
    refused(ErrorKind.BAD_REQUEST, () -> broker.fetch("t", 0, 0, 10, -1));
    refused(ErrorKind.BAD_REQUEST, () -> broker.fetch("t", 0, 0, 10, 60_001));
    refused(ErrorKind.NOT_FOUND, () -> broker.fetch("nope", 0, 0, 10, 0));
    refused(ErrorKind.NOT_FOUND, () -> broker.fetch("t", 2, 0, 10, 0));
    refused(ErrorKind.NOT_FOUND, () -> broker.fetch("t", -1, 0, 10, 0));
    int p = broker.topic("t").partitions().stream().filter(x -> x.endOffset() == 2).findFirst().orElseThrow().partition();
    BrokerException range = refused(ErrorKind.OFFSET_OUT_OF_RANGE, () -> broker.fetch("t", p, 3, 10, 0));
    assertEquals(Map.of("earliest_offset", 0L, "latest_offset", 2L), range.extras());
    refused(ErrorKind.OFFSET_OUT_OF_RANGE, () -> broker.fetch("t", p, -1, 10, 0));

    // consumer-group offsets
    refused(ErrorKind.BAD_REQUEST, () -> broker.commitOffsets("bad group", List.of(new CommittedOffset("t", 0, 1))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.commitOffsets("g", List.of()));
    refused(ErrorKind.BAD_REQUEST, () -> broker.commitOffsets("g", null));
    refused(ErrorKind.NOT_FOUND, () -> broker.commitOffsets("g", List.of(new CommittedOffset("nope", 0, 1))));
    refused(ErrorKind.NOT_FOUND, () -> broker.commitOffsets("g", List.of(new CommittedOffset("t", 0, 5), new CommittedOffset("t", 2, 1))));
    refused(ErrorKind.BAD_REQUEST, () -> broker.commitOffsets("g", List.of(new CommittedOffset("t", 0, -1))));
    refused(ErrorKind.NOT_FOUND, () -> broker.committedOffsets("g", "nope"));
    refused(ErrorKind.BAD_REQUEST, () -> broker.committedOffsets("", null));

    assertEquals(lastIndex, broker.storage().log().lastIndex(), "a refused request must not be proposed");
    assertEquals(lastIndex, broker.storage().state().lastApplied());
    assertEquals(topicsBefore, broker.topics());
    assertEquals(List.of(new CommittedOffset("t", 0, 1)), broker.committedOffsets("g", null));
    assertEquals(List.of(new PartitionInfo(0, 0, p == 0 ? 2 : 0), new PartitionInfo(1, 0, p == 1 ? 2 : 0)),
        broker.topic("t").partitions());
  }

  @Test
  void aRestartedBrokerServesWhatItHadAndContinuesTheOffsets() throws Exception {
    broker.createTopic(topic("log", 1));
    broker.produce("log", List.of(json(null, "1"), json(null, "2")));
    broker.commitOffsets("g", List.of(new CommittedOffset("log", 0, 1)));
    List<TopicInfo> before = broker.topics();
    broker.close();
    broker = null;

    broker = openBroker();
    assertEquals(before, broker.topics());
    assertEquals(List.of("1", "2"), values(broker.fetch("log", 0, 0, 10, 0)));
    assertEquals(List.of(new CommittedOffset("log", 0, 1)), broker.committedOffsets("g", null));
    assertEquals(List.of(new RecordPosition(0, 2)), broker.produce("log", List.of(json(null, "3"))));
  }
}
