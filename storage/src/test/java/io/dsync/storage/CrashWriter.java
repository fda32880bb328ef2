package io.dsync.storage;

import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.StateBatch;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * Not a test: the child process of {@link StateAtomicityCrashTest}. Opens {@link NodeStorage} in
 * {@code args[0]} and applies entries {@code lastApplied + 1, ...} forever, each one a
 * {@link StateStore#commit} of {@code "k" + (i % 100) = i} and {@code "count" = i} (8-byte
 * big-endian). Every 50th index it also appends a one-entry, fsync'd log entry at index {@code i}
 * (purging the log up to {@code i - 1} first so the append is contiguous), which syncs the shared
 * WAL. It never closes the store: the parent SIGKILLs it.
 *
 * <p>Output protocol on stdout: {@code START <lastApplied>} after opening, {@code READY} once
 * after the first commit. Safety nets so it can never outlive the test: it halts when its stdin
 * reaches EOF (the parent died) and after {@code args[1]} milliseconds.
 */
public final class CrashWriter {
  /** The state column family the writer uses. */
  public static final String CF = "sm_test";

  /** The key holding the last index written. */
  public static final byte[] COUNT = "count".getBytes(StandardCharsets.UTF_8);

  /** How often (in indexes) a synced log append happens. */
  public static final int LOG_EVERY = 50;

  private CrashWriter() {}

  /** @return the key index {@code i} writes: {@code "k" + (i % 100)} */
  public static byte[] key(long i) {
    return ("k" + (i % 100)).getBytes(StandardCharsets.UTF_8);
  }

  /**
   * @param args {@code <dir> <maxMillis>}
   */
  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    long maxNanos = Long.parseLong(args[1]) * 1_000_000L;
    long deadline = System.nanoTime() + maxNanos;

    Thread orphanGuard =
        new Thread(
            () -> {
              try {
                while (System.in.read() >= 0) {
                  // drain until the parent closes its end
                }
              } catch (IOException ignored) {
                // treat as EOF
              }
              Runtime.getRuntime().halt(3);
            },
            "orphan-guard");
    orphanGuard.setDaemon(true);
    orphanGuard.start();

    NodeStorage storage =
        NodeStorage.open(dir, StorageOptions.defaults(), List.of(new StateColumnFamily(CF, false)));
    StateStore state = storage.state();
    RaftLogStore log = storage.log();
    Column column = state.column(CF);
    long start = state.lastApplied();
    System.out.println("START " + start);
    System.out.flush();

    boolean ready = false;
    for (long i = start + 1; ; i++) {
      StateBatch batch = state.newBatch();
      batch.put(column, key(i), Bytes.longKey(i)).put(column, COUNT, Bytes.longKey(i));
      state.commit(batch, i);
      if (i % LOG_EVERY == 0) {
        if (i > log.lastIndex() + 1) {
          log.purgePrefix(i - 1);
        }
        log.append(i, List.of(Bytes.longKey(i)));
      }
      if (!ready) {
        System.out.println("READY");
        System.out.flush();
        ready = true;
      }
      if ((i & 255) == 0 && System.nanoTime() - deadline > 0) {
        Runtime.getRuntime().halt(4);
      }
    }
  }
}
