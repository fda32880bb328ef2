package io.dsync.broker;

import static io.dsync.broker.StateMachineHarness.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.broker.Model.PartitionInfo;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.raft.Entry;
import io.dsync.storage.NodeStorage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Idempotent produce as applied by the state machine on real RocksDB ({@link ProducerWindows}): a
 * retried batch returns its first offsets and appends nothing; sequences below a full window are
 * refused; the window keeps the highest sequences; producers beyond the bound are evicted least
 * recently used first; retries within one apply batch; and survival across a reopen.
 */
class IdempotentProduceTest {
  @TempDir Path dir;

  private StateMachineHarness h;
  private NodeStorage store;
  private TopicsStateMachine sm;

  @BeforeEach
  void open() {
    h = new StateMachineHarness(dir);
    store = h.open("a");
    sm = StateMachineHarness.machine(store, 3);
    h.apply(sm, CommandCodec.createTopic(new TopicConfig("t", 3, -1, -1, 5, "t.dlq")));
    h.apply(sm, CommandCodec.createTopic(new TopicConfig("u", 1, -1, -1, 5, "u.dlq")));
  }

  @AfterEach
  void close() {
    h.close();
  }

  private static byte[] produce(String topic, String producer, long sequence, int... partitions) {
    List<byte[]> records = new ArrayList<>();
    for (int p : partitions) {
      records.add(CommandCodec.encodeRecord(
          new RecordIn(null, ("\"s" + sequence + "\"").getBytes(StandardCharsets.UTF_8), false, List.of(), 0)));
    }
    return CommandCodec.produce(topic, partitions, records, producer, sequence);
  }

  @SuppressWarnings("unchecked")
  private List<RecordPosition> appended(byte[] command) {
    return (List<RecordPosition>) assertInstanceOf(List.class, h.apply(sm, command));
  }

  private List<Long> ends(String topic) {
    return sm.view(topic).info().partitions().stream().map(PartitionInfo::endOffset).toList();
  }

  @Test
  void aRetryReturnsTheFirstOffsetsAndAppendsNothing() {
    List<RecordPosition> first = appended(produce("t", "p", 0, 2, 0, 2, 2, 1));
    assertEquals(List.of(new RecordPosition(2, 0), new RecordPosition(0, 0), new RecordPosition(2, 1),
        new RecordPosition(2, 2), new RecordPosition(1, 0)), first);
    appended(produce("t", "other", 0, 2)); // another producer's sequence 0 is its own
    List<Long> ends = ends("t");
    assertEquals(List.of(1L, 1L, 4L), ends);
    // The retry may even pick other partitions (keyless round-robin): the first answer stands.
    assertEquals(first, appended(produce("t", "p", 0, 0, 0, 0, 0, 0)));
    assertEquals(ends, ends("t"), "the retry moved no end offset");
    assertEquals(4, sm.read(sm.view("t"), 2, 0, 100, Long.MAX_VALUE).size());
    // Without a producer id the same batch is appended again.
    appended(CommandCodec.produce("t", new int[] {0}, List.of(CommandCodec.encodeRecord(
        new RecordIn(null, "1".getBytes(StandardCharsets.UTF_8), false, List.of(), 0)))));
    assertEquals(2L, ends("t").get(0));
  }

  @Test
  void aRetryAfterTheTopicWasCreatedAgainIsAppendedAgainNotAnsweredWithVoidOffsets() {
    appended(produce("t", "p", 7, 0, 1));
    h.apply(sm, CommandCodec.deleteTopic("t"));
    h.apply(sm, CommandCodec.createTopic(new TopicConfig("t", 3, -1, -1, 5, "t.dlq")));
    assertEquals(List.of(0L, 0L, 0L), ends("t"));
    // The first answer named records of the deleted incarnation: the retry is appended now.
    assertEquals(List.of(new RecordPosition(0, 0), new RecordPosition(1, 0)), appended(produce("t", "p", 7, 0, 1)));
    assertEquals(List.of(1L, 1L, 0L), ends("t"));
    // And from then on it is an ordinary retry of the new incarnation's batch.
    assertEquals(List.of(new RecordPosition(0, 0), new RecordPosition(1, 0)), appended(produce("t", "p", 7, 2, 2)));
    assertEquals(List.of(1L, 1L, 0L), ends("t"), "the second retry appended nothing");
  }

  @Test
  void theWindowKeepsTheFiveHighestSequencesAndRefusesOlderOnes() {
    for (long s = 0; s < 5; s++) {
      appended(produce("t", "p", s * 10, 0));
    }
    assertEquals(List.of(new RecordPosition(0, 0)), appended(produce("t", "p", 0, 0)), "5 fit in the window");
    appended(produce("t", "p", 50, 0)); // 0 leaves the window
    List<Long> ends = ends("t");
    BrokerException old = assertInstanceOf(BrokerException.class, h.apply(sm, produce("t", "p", 0, 0)));
    assertEquals(ErrorKind.CONFLICT, old.kind());
    assertTrue(old.getMessage().startsWith("sequence too old"), old.getMessage());
    assertEquals(10L, old.extras().get("lowest_sequence"));
    assertError(ErrorKind.CONFLICT, h.apply(sm, produce("t", "p", 5, 0)));
    assertEquals(ends, ends("t"), "refused batches append nothing");
    assertEquals(List.of(new RecordPosition(0, 1)), appended(produce("t", "p", 10, 0)), "10 is still remembered");
    // A new sequence inside the window's range that was never used is appended (no gaps rule).
    assertEquals(List.of(new RecordPosition(0, 6)), appended(produce("t", "p", 15, 0)));
    assertError(ErrorKind.CONFLICT, h.apply(sm, produce("t", "p", 10, 0))); // now below the window
  }

  @Test
  void aSequenceNamesOneBatchAcrossTopics() {
    appended(produce("t", "p", 3, 1));
    BrokerException e = assertInstanceOf(BrokerException.class, h.apply(sm, produce("u", "p", 3, 0)));
    assertEquals(ErrorKind.CONFLICT, e.kind());
    assertEquals(List.of(0L), ends("u"));
    appended(produce("u", "p", 4, 0));
    assertEquals(List.of(1L), ends("u"));
  }

  @Test
  void producersBeyondTheBoundAreEvictedLeastRecentlyUsedFirst() {
    appended(produce("t", "a", 0, 0));
    appended(produce("t", "b", 0, 0));
    appended(produce("t", "c", 0, 0));
    appended(produce("t", "a", 1, 0)); // a is now the most recent; b the least
    appended(produce("t", "d", 0, 0)); // 4 > 3 remembered: b goes
    List<Long> ends = ends("t");
    assertEquals(List.of(new RecordPosition(0, 0)), appended(produce("t", "a", 0, 0)));
    assertEquals(List.of(new RecordPosition(0, 2)), appended(produce("t", "c", 0, 0)));
    assertEquals(ends, ends("t"));
    assertEquals(List.of(new RecordPosition(0, 5)), appended(produce("t", "b", 0, 0)),
        "an evicted producer's retry is appended again (at least once)");
  }

  @Test
  void retriesInsideOneApplyBatchSeeTheBatchesBeforeThem() {
    List<Entry> batch = List.of(
        h.entry(produce("t", "p", 0, 1)), h.entry(produce("t", "p", 0, 2)), h.entry(produce("t", "q", 0, 2)),
        h.entry(produce("t", "r", 0, 2)), h.entry(produce("t", "s", 0, 2)), h.entry(produce("t", "p", 0, 0)));
    List<Object> results = sm.apply(batch);
    assertEquals(List.of(new RecordPosition(1, 0)), results.get(0));
    assertEquals(results.get(0), results.get(1));
    // q, r, s: with p that makes 4 producers for 3 places: p is evicted inside the batch.
    assertEquals(List.of(new RecordPosition(0, 0)), results.get(5));
    assertEquals(List.of(1L, 1L, 3L), ends("t"));
  }

  @Test
  void windowsSurviveReopeningTheStore() {
    List<RecordPosition> first = appended(produce("t", "p", 9, 0, 1));
    List<Long> ends = ends("t");
    h.close(store);
    store = h.open("a");
    sm = StateMachineHarness.machine(store, 3);
    assertEquals(first, appended(produce("t", "p", 9, 2, 2)));
    assertEquals(ends, ends("t"));
  }
}
