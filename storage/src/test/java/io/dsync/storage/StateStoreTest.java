package io.dsync.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import io.dsync.storage.StateStore.StateBatch;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves {@link StateStore} commits state and {@code lastApplied} together, keeps them across
 * restarts, scans within bounds and caps, deletes ranges, rejects undeclared columns, and never
 * drops an on-disk column family just because it was not declared on one open.
 */
class StateStoreTest {

  private static final StateColumnFamily A = new StateColumnFamily("sm_a", false);
  private static final StateColumnFamily B = new StateColumnFamily("sm_b", true);

  @TempDir Path dir;

  private NodeStorage storage;

  @BeforeEach
  void open() {
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(A, B));
  }

  @AfterEach
  void close() {
    if (storage != null) {
      storage.close();
    }
  }

  private void reopen(StateColumnFamily... families) {
    storage.close();
    storage = null;
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(families));
  }

  private StateStore state() {
    return storage.state();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String str(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  private static List<String> keys(List<KeyValue> kvs) {
    List<String> out = new ArrayList<>();
    kvs.forEach(kv -> out.add(str(kv.key())));
    return out;
  }

  /** Commits key{i} = value-of-{size}-bytes for i in [from, to) to column a at lastApplied. */
  private void fill(Column c, int from, int to, int size, long lastApplied) {
    StateBatch b = state().newBatch();
    for (int i = from; i < to; i++) {
      byte[] v = new byte[size];
      v[0] = (byte) i;
      b.put(c, utf8(String.format("key%02d", i)), v);
    }
    state().commit(b, lastApplied);
  }

  // Proves a fresh store has lastApplied 0 and nothing in its columns.
  @Test
  void freshStoreIsEmpty() {
    assertEquals(0, state().lastApplied());
    assertNull(state().column("sm_a").get(utf8("x")));
    assertTrue(state().column("sm_a").scan(new byte[0], new byte[] {(byte) 0xFF}, 100, 1 << 20).isEmpty());
  }

  // Proves commit makes every change of the batch (puts and deletes in two columns) visible and
  // moves lastApplied, and that nothing is visible before the commit.
  @Test
  void commitWritesStateAndLastApplied() {
    Column a = state().column("sm_a");
    Column b = state().column("sm_b");
    StateBatch batch = state().newBatch();
    batch.put(a, utf8("x"), utf8("1")).put(b, utf8("y"), utf8("2")).put(a, utf8("gone"), utf8("3"));
    batch.delete(a, utf8("gone"));
    assertEquals(4, batch.count());
    assertNull(a.get(utf8("x")), "uncommitted batch must not be visible");
    assertEquals(0, state().lastApplied());

    state().commit(batch, 10);
    assertEquals(10, state().lastApplied());
    assertArrayEquals(utf8("1"), a.get(utf8("x")));
    assertArrayEquals(utf8("2"), b.get(utf8("y")));
    assertNull(a.get(utf8("gone")));
    assertNull(b.get(utf8("x")), "columns are separate key spaces");

    // Committing the same index again (an empty apply step) is allowed.
    state().commit(state().newBatch(), 10);
    assertEquals(10, state().lastApplied());
  }

  // Proves state and lastApplied survive close + reopen (commits are not fsync'd, but close is clean).
  @Test
  void lastAppliedAndStateSurviveReopen() {
    Column a = state().column("sm_a");
    state().commit(state().newBatch().put(a, utf8("x"), utf8("1")), 5);
    state().commit(state().newBatch().put(a, utf8("x"), utf8("2")), 9);
    reopen(A, B);
    assertEquals(9, state().lastApplied());
    assertArrayEquals(utf8("2"), state().column("sm_a").get(utf8("x")));
  }

  // Proves flushed files (written with direct I/O where the file system takes it: the probe here
  // must agree with the store's) read back after a reopen, blob values included.
  @Test
  void flushedStateReadsBackAfterReopenWithDirectIoWhereSupported() throws Exception {
    boolean direct;
    Path probe = dir.resolveSibling(dir.getFileName() + "-probe");
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(probe,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE,
        com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
      direct = true;
    } catch (java.io.IOException | UnsupportedOperationException e) {
      direct = false;
    } finally {
      java.nio.file.Files.deleteIfExists(probe);
    }
    assertEquals(direct, storage.directIo());
    // What RocksDB itself runs with: the OPTIONS file it writes at open.
    String options;
    try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(dir)) {
      Path latest = files.filter(f -> f.getFileName().toString().startsWith("OPTIONS-")).sorted().reduce((a, b) -> b)
          .orElseThrow();
      options = java.nio.file.Files.readString(latest);
    }
    assertTrue(options.contains("use_direct_io_for_flush_and_compaction=" + direct), "RocksDB's OPTIONS file");
    fill(state().column("sm_b"), 0, 50, 4096, 7); // blob-sized values (>= 512 B) go to blob files
    storage.flush();
    reopen(A, B);
    assertEquals(7, state().lastApplied());
    List<KeyValue> back = state().column("sm_b").scan(new byte[0], new byte[] {(byte) 0xFF}, 100, 1 << 30);
    assertEquals(50, back.size());
    for (int i = 0; i < 50; i++) {
      assertEquals(4096, back.get(i).value().length);
      assertEquals((byte) i, back.get(i).value()[0]);
    }
  }

  // Proves lastApplied cannot go back, and a rejected commit writes none of its changes.
  @Test
  void goingBackThrowsAndWritesNothing() {
    Column a = state().column("sm_a");
    state().commit(state().newBatch().put(a, utf8("x"), utf8("1")), 5);
    try (StateBatch stale = state().newBatch()) {
      stale.put(a, utf8("x"), utf8("stale")).put(a, utf8("new"), utf8("stale"));
      assertThrows(IllegalArgumentException.class, () -> state().commit(stale, 4));
    }
    assertEquals(5, state().lastApplied());
    assertArrayEquals(utf8("1"), a.get(utf8("x")));
    assertNull(a.get(utf8("new")));
    reopen(A, B);
    assertEquals(5, state().lastApplied());
    assertArrayEquals(utf8("1"), state().column("sm_a").get(utf8("x")));
  }

  // Proves scan honours [from, toExclusive), maxCount, and maxBytes (inclusive, at least one pair).
  @Test
  void scanBoundsAndCaps() {
    Column a = state().column("sm_a");
    fill(a, 0, 20, 10, 1); // key00..key19, 10-byte values
    // Bounds: from inclusive, to exclusive.
    assertEquals(
        List.of("key03", "key04", "key05", "key06"),
        keys(a.scan(utf8("key03"), utf8("key07"), 100, 1 << 20)));
    // A from between keys starts at the next key.
    assertEquals(List.of("key04", "key05"), keys(a.scan(utf8("key03x"), utf8("key06"), 100, 1 << 20)));
    // maxCount.
    assertEquals(List.of("key00", "key01", "key02"), keys(a.scan(utf8("key"), utf8("kez"), 3, 1 << 20)));
    assertTrue(a.scan(utf8("key"), utf8("kez"), 0, 1 << 20).isEmpty());
    // maxBytes: 25 bytes allow two 10-byte values; exactly 30 allows three.
    assertEquals(List.of("key00", "key01"), keys(a.scan(utf8("key"), utf8("kez"), 100, 25)));
    assertEquals(List.of("key00", "key01", "key02"), keys(a.scan(utf8("key"), utf8("kez"), 100, 30)));
    // maxBytes below one value still returns one pair.
    assertEquals(List.of("key10"), keys(a.scan(utf8("key10"), utf8("kez"), 100, 0)));
    // Empty and inverted ranges.
    assertTrue(a.scan(utf8("key07"), utf8("key07"), 100, 1 << 20).isEmpty());
    assertTrue(a.scan(utf8("zzz"), new byte[] {(byte) 0xFF}, 100, 1 << 20).isEmpty());
    // Values come back intact, in key order, over the whole column.
    List<KeyValue> all = a.scan(new byte[0], new byte[] {(byte) 0xFF}, 1000, Long.MAX_VALUE);
    assertEquals(20, all.size());
    for (int i = 0; i < 20; i++) {
      assertEquals(String.format("key%02d", i), str(all.get(i).key()));
      assertEquals(10, all.get(i).value().length);
      assertEquals((byte) i, all.get(i).value()[0]);
    }
    // The other column is untouched.
    assertTrue(state().column("sm_b").scan(new byte[0], new byte[] {(byte) 0xFF}, 100, 1 << 20).isEmpty());
  }

  // Proves deleteRange removes exactly [from, toExclusive), atomically with lastApplied, durably.
  @Test
  void deleteRange() {
    Column a = state().column("sm_a");
    fill(a, 0, 10, 4, 1);
    state().commit(state().newBatch().deleteRange(a, utf8("key03"), utf8("key07")), 2);
    assertEquals(2, state().lastApplied());
    List<String> expected = List.of("key00", "key01", "key02", "key07", "key08", "key09");
    assertEquals(expected, keys(a.scan(new byte[0], new byte[] {(byte) 0xFF}, 100, 1 << 20)));
    assertNull(a.get(utf8("key03")));
    assertNull(a.get(utf8("key06")));
    assertTrue(a.get(utf8("key07")) != null);
    reopen(A, B);
    Column a2 = state().column("sm_a");
    assertEquals(expected, keys(a2.scan(new byte[0], new byte[] {(byte) 0xFF}, 100, 1 << 20)));
  }

  // Proves asking for a column family that was not declared throws IllegalArgumentException.
  @Test
  void undeclaredColumnThrows() {
    assertThrows(IllegalArgumentException.class, () -> state().column("sm_nope"));
    assertThrows(IllegalArgumentException.class, () -> state().column(NodeStorage.SM_META_CF));
    assertThrows(IllegalArgumentException.class, () -> state().column(NodeStorage.LOG_CF));
  }

  // Proves declaring the reserved sm_meta family, or one family twice, is rejected at open.
  @Test
  void reservedOrDuplicateFamilyRejected() {
    storage.close();
    storage = null;
    assertThrows(
        IllegalArgumentException.class,
        () -> NodeStorage.open(dir, StorageOptions.defaults(), List.of(new StateColumnFamily("sm_meta", false))));
    assertThrows(
        IllegalArgumentException.class,
        () -> NodeStorage.open(dir, StorageOptions.defaults(), List.of(A, A)));
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of(A, B));
  }

  // Proves a family on disk but not declared is still opened (open succeeds, data kept), is not
  // reachable while undeclared, and its data reads back once declared again, blob family included.
  @Test
  void undeclaredOnDiskFamilyIsKept(@TempDir Path scratch) {
    Column a = state().column("sm_a");
    Column b = state().column("sm_b");
    byte[] big = new byte[4096]; // above the 512-byte blob threshold of sm_b
    for (int i = 0; i < big.length; i++) {
      big[i] = (byte) (i * 31);
    }
    state().commit(state().newBatch().put(a, utf8("ka"), utf8("va")).put(b, utf8("kb"), big), 3);
    storage.checkpoint(scratch.resolve("cp")); // flushes: data in SST/blob files
    state().commit(state().newBatch().put(a, utf8("ka2"), utf8("va2")), 4); // and some in the WAL only

    // Reopen declaring only sm_a: sm_b exists on disk and must still be opened, not dropped.
    reopen(A);
    assertThrows(IllegalArgumentException.class, () -> state().column("sm_b"));
    assertEquals(4, state().lastApplied());
    assertArrayEquals(utf8("va"), state().column("sm_a").get(utf8("ka")));
    state().commit(state().newBatch().put(state().column("sm_a"), utf8("kc"), utf8("vc")), 5);

    // Reopen declaring nothing at all.
    reopen();
    assertEquals(5, state().lastApplied());

    // Reopen declaring both again: everything is still there.
    reopen(A, B);
    assertEquals(5, state().lastApplied());
    assertArrayEquals(big, state().column("sm_b").get(utf8("kb")));
    assertArrayEquals(utf8("va"), state().column("sm_a").get(utf8("ka")));
    assertArrayEquals(utf8("va2"), state().column("sm_a").get(utf8("ka2")));
    assertArrayEquals(utf8("vc"), state().column("sm_a").get(utf8("kc")));
  }
}
