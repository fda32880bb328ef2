package io.dsync.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.dsync.raft.Entry;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StorageOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Test support: {@link TopicsStateMachine}s on real RocksDB stores in a temp dir, fed with
 * consecutive Raft entries stamped one second apart. Close it after each test.
 */
final class StateMachineHarness implements AutoCloseable {
  private final Path dir;
  private final List<NodeStorage> opened = new ArrayList<>();
  /** The next entry's index. */
  long next = 1;
  /** Every entry handed out, in order. */
  final List<Entry> all = new ArrayList<>();

  StateMachineHarness(Path dir) {
    this.dir = dir;
  }

  NodeStorage open(String name) {
    NodeStorage s = NodeStorage.open(dir.resolve(name), StorageOptions.defaults(), TopicsStateMachine.COLUMN_FAMILIES);
    opened.add(s);
    return s;
  }

  void close(NodeStorage s) {
    opened.remove(s);
    s.close();
  }

  static TopicsStateMachine machine(NodeStorage s) {
    return new TopicsStateMachine(s.state(), names -> {});
  }

  static TopicsStateMachine machine(NodeStorage s, int maxProducers) {
    return new TopicsStateMachine(s.state(), names -> {}, maxProducers);
  }

  /** @return the next normal entry, holding {@code command} */
  Entry entry(byte[] command) {
    Entry e = new Entry(next, 1, EntryType.ENTRY_NORMAL, timestampOf(next), command);
    next++;
    all.add(e);
    return e;
  }

  /** @return the timestamp the entry at {@code index} gets, ms */
  static long timestampOf(long index) {
    return 1_700_000_000_000L + index * 1000;
  }

  /** Applies one new entry holding {@code command} and returns its result. */
  Object apply(TopicsStateMachine sm, byte[] command) {
    List<Object> results = sm.apply(List.of(entry(command)));
    assertEquals(1, results.size());
    return results.get(0);
  }

  /** Applies {@code e} alone and returns its one result (the strict form: exactly one). */
  static Object one(TopicsStateMachine sm, Entry e) {
    List<Object> results = sm.apply(List.of(e));
    assertEquals(1, results.size());
    return results.get(0);
  }

  static void assertError(ErrorKind kind, Object result) {
    BrokerException e = assertInstanceOf(BrokerException.class, result);
    assertEquals(kind, e.kind(), e.getMessage());
  }

  @Override
  public void close() {
    opened.forEach(NodeStorage::close);
    opened.clear();
  }

  /** The clock {@link ClockedLog} starts at, ms since the epoch. */
  static final long T0 = 1_700_000_000_000L;

  /** Hands out consecutive normal entries at a clock the test sets (for time-driven tests). */
  static class ClockedLog {
    long next = 1;
    long now = T0;
    final List<Entry> all = new ArrayList<>();

    /** @return the next entry, stamped {@code timestampMs} (which becomes the clock) */
    Entry at(long timestampMs, byte[] command) {
      now = timestampMs;
      return entry(command);
    }

    /** @return the next entry, stamped with the current clock */
    Entry entry(byte[] command) {
      Entry e = new Entry(next++, 1, EntryType.ENTRY_NORMAL, now, command);
      all.add(e);
      return e;
    }
  }
}
