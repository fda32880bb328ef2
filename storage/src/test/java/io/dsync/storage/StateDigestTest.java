package io.dsync.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The state digest depends on content and lastApplied only, not on how changes were batched. */
class StateDigestTest {
  private static final List<StateColumnFamily> CFS =
      List.of(new StateColumnFamily("sm_a", false), new StateColumnFamily("sm_b", true));

  @TempDir Path one;
  @TempDir Path two;

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void sameContentDifferentBatchingGivesSameDigest() {
    try (NodeStorage x = NodeStorage.open(one, StorageOptions.defaults(), CFS);
        NodeStorage y = NodeStorage.open(two, StorageOptions.defaults(), CFS)) {
      StateStore sx = x.state();
      StateStore.StateBatch bx = sx.newBatch();
      for (int i = 0; i < 10; i++) {
        bx.put(sx.column(i % 2 == 0 ? "sm_a" : "sm_b"), b("k" + i), b("v" + i));
      }
      bx.delete(sx.column("sm_a"), b("k4"));
      sx.commit(bx, 7);

      StateStore sy = y.state();
      for (int i = 0; i < 10; i++) {
        StateStore.StateBatch by = sy.newBatch();
        by.put(sy.column(i % 2 == 0 ? "sm_a" : "sm_b"), b("k" + i), b("v" + i));
        sy.commit(by, i / 2);
      }
      StateStore.StateBatch last = sy.newBatch();
      last.delete(sy.column("sm_a"), b("k4"));
      sy.commit(last, 7);

      assertArrayEquals(sx.digest(), sy.digest());
      assertEquals(7, sx.digest()[0]);

      StateStore.StateBatch diff = sy.newBatch();
      diff.put(sy.column("sm_b"), b("k1"), b("other"));
      sy.commit(diff, 7);
      assertNotEquals(sx.digest()[1], sy.digest()[1], "a changed value changes the digest");
    }
  }

  @Test
  void lastAppliedIsPartOfTheDigest() {
    try (NodeStorage x = NodeStorage.open(one, StorageOptions.defaults(), CFS)) {
      long before = x.state().digest()[1];
      x.state().commit(x.state().newBatch(), 3);
      assertNotEquals(before, x.state().digest()[1]);
    }
  }
}
