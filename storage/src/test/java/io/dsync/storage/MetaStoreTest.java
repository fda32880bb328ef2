package io.dsync.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves {@link MetaStore} persists the Raft hard state (term and possibly-null vote) and named
 * blobs on a real RocksDB, across close + reopen.
 */
class MetaStoreTest {

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

  private MetaStore meta() {
    return storage.meta();
  }

  private void reopen() {
    storage.close();
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of());
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  // Proves a node that never saved a hard state loads HardState.INITIAL (term 0, no vote).
  @Test
  void initialHardState() {
    assertSame(HardState.INITIAL, meta().loadHardState());
    assertEquals(0, meta().loadHardState().term());
    assertNull(meta().loadHardState().votedFor());
    reopen();
    assertEquals(HardState.INITIAL, meta().loadHardState());
  }

  // Proves save/load round-trips term and vote, including a null vote and a later overwrite.
  @Test
  void saveAndLoadHardState() {
    meta().saveHardState(new HardState(5, "node-2"));
    assertEquals(new HardState(5, "node-2"), meta().loadHardState());

    meta().saveHardState(new HardState(6, null));
    HardState noVote = meta().loadHardState();
    assertEquals(6, noVote.term());
    assertNull(noVote.votedFor());

    // Non-ASCII ids and large terms survive the encoding.
    meta().saveHardState(new HardState(Long.MAX_VALUE, "nœud-ü"));
    assertEquals(new HardState(Long.MAX_VALUE, "nœud-ü"), meta().loadHardState());
  }

  // Proves the hard state (with and without a vote) survives close + reopen.
  @Test
  void hardStateSurvivesReopen() {
    meta().saveHardState(new HardState(7, "node-3"));
    reopen();
    assertEquals(new HardState(7, "node-3"), meta().loadHardState());

    meta().saveHardState(new HardState(8, null));
    reopen();
    assertEquals(new HardState(8, null), meta().loadHardState());
  }

  // Proves named put/get round-trips, overwrites, returns null when absent, survives reopen, and
  // does not disturb the hard state.
  @Test
  void namedValues() {
    meta().saveHardState(new HardState(3, "a"));
    assertNull(meta().get(utf8("snapshot_meta")));

    meta().put(utf8("snapshot_meta"), utf8("v1"));
    meta().put(utf8("other"), new byte[] {0, 1, 2, (byte) 0xFF});
    assertArrayEquals(utf8("v1"), meta().get(utf8("snapshot_meta")));
    meta().put(utf8("snapshot_meta"), utf8("v2-longer"));
    assertArrayEquals(utf8("v2-longer"), meta().get(utf8("snapshot_meta")));
    meta().put(utf8("empty"), new byte[0]);

    reopen();
    assertArrayEquals(utf8("v2-longer"), meta().get(utf8("snapshot_meta")));
    assertArrayEquals(new byte[] {0, 1, 2, (byte) 0xFF}, meta().get(utf8("other")));
    assertArrayEquals(new byte[0], meta().get(utf8("empty")));
    assertNull(meta().get(utf8("missing")));
    assertEquals(new HardState(3, "a"), meta().loadHardState());
  }
}
