package io.dsync.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves {@link RaftLogStore} keeps a contiguous, durable log on a real RocksDB: append/read,
 * suffix overwrite, truncation, prefix purge (also past the end) and recovery of both boundaries
 * and the contents after close + reopen.
 */
class RaftLogStoreTest {

  @TempDir Path dir;

  private NodeStorage storage;

  @BeforeEach
  void open() {
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of());
  }

  @AfterEach
  void close() {
    storage.close();
  }

  private RaftLogStore log() {
    return storage.log();
  }

  private void reopen() {
    storage.close();
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of());
  }

  /** A recognizable entry: "e<index>/<tag>" padded to {@code size} bytes. */
  private static byte[] entry(long index, String tag, int size) {
    byte[] b = new byte[size];
    Arrays.fill(b, (byte) '.');
    byte[] head = ("e" + index + "/" + tag).getBytes(StandardCharsets.UTF_8);
    System.arraycopy(head, 0, b, 0, Math.min(head.length, size));
    return b;
  }

  private static List<byte[]> entries(long from, long toInclusive, String tag, int size) {
    List<byte[]> out = new ArrayList<>();
    for (long i = from; i <= toInclusive; i++) {
      out.add(entry(i, tag, size));
    }
    return out;
  }

  /** Asserts {@code actual} holds exactly the entries {@code from..toInclusive} with {@code tag}. */
  private static void assertEntries(
      List<byte[]> actual, long from, long toInclusive, String tag, int size) {
    List<byte[]> expected = entries(from, toInclusive, tag, size);
    assertEquals(expected.size(), actual.size(), "entry count");
    for (int i = 0; i < expected.size(); i++) {
      assertArrayEquals(expected.get(i), actual.get(i), "entry at index " + (from + i));
    }
  }

  // Proves a fresh log is empty with firstIndex 1 / lastIndex 0 and reads nothing.
  @Test
  void freshLogIsEmpty() {
    assertEquals(1, log().firstIndex());
    assertEquals(0, log().lastIndex());
    assertTrue(log().read(1, 100, Long.MAX_VALUE).isEmpty());
    assertNull(log().get(1));
    assertNull(log().get(0));
    reopen();
    assertEquals(1, log().firstIndex());
    assertEquals(0, log().lastIndex());
    // The only legal first append is at index 1.
    assertThrows(IllegalArgumentException.class, () -> log().append(2, entries(2, 2, "x", 8)));
    assertThrows(IllegalArgumentException.class, () -> log().append(0, entries(0, 0, "x", 8)));
    log().append(1, entries(1, 1, "x", 8));
    assertEquals(1, log().lastIndex());
  }

  // Proves a batch reads back in order, over sub-ranges, clamped at lastIndex, with get() agreeing.
  @Test
  void appendBatchAndReadBack() {
    log().append(1, entries(1, 10, "a", 100));
    assertEquals(1, log().firstIndex());
    assertEquals(10, log().lastIndex());

    assertEntries(log().read(1, 11, Long.MAX_VALUE), 1, 10, "a", 100);
    assertEntries(log().read(3, 6, Long.MAX_VALUE), 3, 5, "a", 100);
    // toExclusive past lastIndex is clamped.
    assertEntries(log().read(5, 1_000, Long.MAX_VALUE), 5, 10, "a", 100);
    assertEntries(log().read(10, Long.MAX_VALUE, Long.MAX_VALUE), 10, 10, "a", 100);
    // Ranges at or past the end, or empty, are empty.
    assertTrue(log().read(11, 20, Long.MAX_VALUE).isEmpty());
    assertTrue(log().read(50, 60, Long.MAX_VALUE).isEmpty());
    assertTrue(log().read(4, 4, Long.MAX_VALUE).isEmpty());

    for (long i = 1; i <= 10; i++) {
      assertArrayEquals(entry(i, "a", 100), log().get(i), "get(" + i + ")");
    }
    assertNull(log().get(11));

    // A second batch continues contiguously.
    log().append(11, entries(11, 12, "a", 100));
    assertEquals(12, log().lastIndex());
    assertEntries(log().read(1, 100, Long.MAX_VALUE), 1, 12, "a", 100);
  }

  // Proves maxBytes caps the read (inclusive of an exact fit) but never returns zero entries.
  @Test
  void readRespectsMaxBytesButReturnsAtLeastOne() {
    log().append(1, entries(1, 10, "a", 100));
    assertEntries(log().read(1, 11, 250), 1, 2, "a", 100);
    assertEntries(log().read(1, 11, 300), 1, 3, "a", 100); // exact fit is included
    assertEntries(log().read(4, 11, 299), 4, 5, "a", 100);
    assertEntries(log().read(1, 11, 0), 1, 1, "a", 100); // cap below one entry: still one
    assertEntries(log().read(7, 11, 1), 7, 7, "a", 100);
    assertEntries(log().read(1, 3, 10_000), 1, 2, "a", 100); // range bounds before the cap
  }

  // Proves an append at fromIndex <= lastIndex replaces the whole old suffix and moves lastIndex.
  @Test
  void appendOverwritesSuffix() {
    log().append(1, entries(1, 10, "old", 64));

    // Shorter replacement: entries 8..10 must disappear, not linger after the new last index.
    log().append(6, entries(6, 7, "new", 64));
    assertEquals(7, log().lastIndex());
    List<byte[]> all = log().read(1, 100, Long.MAX_VALUE);
    assertEquals(7, all.size());
    assertEntries(all.subList(0, 5), 1, 5, "old", 64);
    assertEntries(all.subList(5, 7), 6, 7, "new", 64);
    assertNull(log().get(8));
    assertNull(log().get(10));

    // Longer replacement of the last entry extends the log.
    log().append(7, entries(7, 12, "newer", 64));
    assertEquals(12, log().lastIndex());
    assertArrayEquals(entry(6, "new", 64), log().get(6));
    assertEntries(log().read(7, 13, Long.MAX_VALUE), 7, 12, "newer", 64);

    // Overwriting from the very first index.
    log().append(1, entries(1, 2, "first", 64));
    assertEquals(2, log().lastIndex());
    assertEntries(log().read(1, 100, Long.MAX_VALUE), 1, 2, "first", 64);

    // And the overwrite (including the deleted tail) is what a restart sees.
    reopen();
    assertEquals(1, log().firstIndex());
    assertEquals(2, log().lastIndex());
    assertEntries(log().read(1, 100, Long.MAX_VALUE), 1, 2, "first", 64);
    assertNull(log().get(3));
  }

  // Proves appends that would leave a gap or rewrite purged entries are rejected and change nothing.
  @Test
  void gapAndBelowFirstIndexAreRejected() {
    log().append(1, entries(1, 10, "a", 32));
    assertThrows(IllegalArgumentException.class, () -> log().append(12, entries(12, 12, "x", 32)));
    assertThrows(IllegalArgumentException.class, () -> log().append(0, entries(0, 0, "x", 32)));
    assertEquals(10, log().lastIndex());
    assertNull(log().get(12));

    log().purgePrefix(5);
    assertEquals(6, log().firstIndex());
    assertThrows(IllegalArgumentException.class, () -> log().append(5, entries(5, 6, "x", 32)));
    assertThrows(IllegalArgumentException.class, () -> log().append(3, entries(3, 3, "x", 32)));
    assertEquals(6, log().firstIndex());
    assertEquals(10, log().lastIndex());
    assertEntries(log().read(6, 100, Long.MAX_VALUE), 6, 10, "a", 32);
  }

  // Proves an empty append is a no-op (no index moves, no validation side effect).
  @Test
  void emptyAppendIsNoOp() {
    log().append(1, entries(1, 3, "a", 16));
    log().append(4, List.of());
    assertEquals(3, log().lastIndex());
    assertEntries(log().read(1, 100, Long.MAX_VALUE), 1, 3, "a", 16);
  }

  // Proves truncateSuffix deletes from the given index on, durably, and the log continues from there.
  @Test
  void truncateSuffix() {
    log().append(1, entries(1, 10, "a", 32));
    log().truncateSuffix(8);
    assertEquals(7, log().lastIndex());
    assertNull(log().get(8));
    assertEntries(log().read(1, 100, Long.MAX_VALUE), 1, 7, "a", 32);

    log().truncateSuffix(20); // past the end: no-op
    assertEquals(7, log().lastIndex());

    reopen();
    assertEquals(7, log().lastIndex());
    assertNull(log().get(8));
    log().append(8, entries(8, 9, "b", 32));
    assertEquals(9, log().lastIndex());
    assertArrayEquals(entry(7, "a", 32), log().get(7));
    assertArrayEquals(entry(8, "b", 32), log().get(8));

    // Truncating everything leaves an empty log at the same first index.
    log().truncateSuffix(1);
    assertEquals(1, log().firstIndex());
    assertEquals(0, log().lastIndex());
    assertTrue(log().read(1, 100, Long.MAX_VALUE).isEmpty());
    reopen();
    assertEquals(1, log().firstIndex());
    assertEquals(0, log().lastIndex());
  }

  // Proves truncateSuffix below firstIndex is rejected (the purged prefix cannot be "un-purged").
  @Test
  void truncateBelowFirstIndexIsRejected() {
    log().append(1, entries(1, 10, "a", 32));
    log().purgePrefix(4);
    assertThrows(IllegalArgumentException.class, () -> log().truncateSuffix(3));
    assertEquals(5, log().firstIndex());
    assertEquals(10, log().lastIndex());
  }

  // Proves purgePrefix moves firstIndex, makes lower reads throw / gets null, keeps the rest.
  @Test
  void purgePrefixMovesFirstIndex() {
    log().append(1, entries(1, 10, "a", 32));
    log().purgePrefix(4);
    assertEquals(5, log().firstIndex());
    assertEquals(10, log().lastIndex());
    assertThrows(IllegalArgumentException.class, () -> log().read(4, 11, Long.MAX_VALUE));
    assertThrows(IllegalArgumentException.class, () -> log().read(1, 3, Long.MAX_VALUE));
    assertNull(log().get(4));
    assertNull(log().get(1));
    assertEntries(log().read(5, 11, Long.MAX_VALUE), 5, 10, "a", 32);

    log().purgePrefix(2); // below firstIndex: no-op
    assertEquals(5, log().firstIndex());

    log().purgePrefix(10); // exactly lastIndex: empty log, next append at 11
    assertEquals(11, log().firstIndex());
    assertEquals(10, log().lastIndex());
    assertTrue(log().read(11, 100, Long.MAX_VALUE).isEmpty());
    log().append(11, entries(11, 11, "b", 32));
    assertArrayEquals(entry(11, "b", 32), log().get(11));
  }

  // Proves purging past lastIndex (snapshot ahead of the log) empties it at upTo+1, across restarts.
  @Test
  void purgePastLastIndexLeavesEmptyLogStartingAfterIt() {
    log().append(1, entries(1, 10, "a", 32));
    log().purgePrefix(20);
    assertEquals(21, log().firstIndex());
    assertEquals(20, log().lastIndex());
    assertTrue(log().read(21, 100, Long.MAX_VALUE).isEmpty());
    assertThrows(IllegalArgumentException.class, () -> log().read(10, 100, Long.MAX_VALUE));
    for (long i = 1; i <= 10; i++) {
      assertNull(log().get(i));
    }
    // The next append must start at 21: 11 would be a rewrite of purged space, 22 a gap.
    assertThrows(IllegalArgumentException.class, () -> log().append(11, entries(11, 11, "x", 32)));
    assertThrows(IllegalArgumentException.class, () -> log().append(22, entries(22, 22, "x", 32)));

    reopen();
    assertEquals(21, log().firstIndex());
    assertEquals(20, log().lastIndex());
    log().append(21, entries(21, 23, "b", 32));
    assertEquals(23, log().lastIndex());

    reopen();
    assertEquals(21, log().firstIndex());
    assertEquals(23, log().lastIndex());
    assertEntries(log().read(21, 100, Long.MAX_VALUE), 21, 23, "b", 32);
  }

  // Proves first/last index, contents and the purge boundary all survive close + reopen.
  @Test
  void everythingSurvivesReopen() {
    log().append(1, entries(1, 50, "a", 200));
    log().append(41, entries(41, 60, "b", 200)); // overwrite a suffix
    log().purgePrefix(15);
    log().truncateSuffix(56);
    assertEquals(16, log().firstIndex());
    assertEquals(55, log().lastIndex());

    for (int round = 0; round < 2; round++) {
      reopen();
      assertEquals(16, log().firstIndex(), "round " + round);
      assertEquals(55, log().lastIndex(), "round " + round);
      List<byte[]> all = log().read(16, 1_000, Long.MAX_VALUE);
      assertEquals(40, all.size());
      assertEntries(all.subList(0, 25), 16, 40, "a", 200);
      assertEntries(all.subList(25, 40), 41, 55, "b", 200);
      assertThrows(IllegalArgumentException.class, () -> log().read(15, 20, Long.MAX_VALUE));
      assertNull(log().get(15));
      assertNull(log().get(56));
    }

    // The purge boundary still governs appends after the restart.
    assertThrows(IllegalArgumentException.class, () -> log().append(15, entries(15, 15, "x", 8)));
    log().append(56, entries(56, 56, "c", 8));
    assertEquals(56, log().lastIndex());
  }

  // Proves a purge boundary survives a restart even when entries were purged to a single one.
  @Test
  void purgeBoundaryWithOneRemainingEntrySurvivesReopen() {
    log().append(1, entries(1, 5, "a", 8));
    log().purgePrefix(4);
    reopen();
    assertEquals(5, log().firstIndex());
    assertEquals(5, log().lastIndex());
    assertArrayEquals(entry(5, "a", 8), log().get(5));
  }
}
