package io.dsync.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves that state and {@code lastApplied} are atomic across a real crash: a separate JVM
 * ({@link CrashWriter}) commits state as fast as it can and is SIGKILLed at a random moment; on
 * reopen the state must be exactly the effect of entries {@code 1..lastApplied}, never a torn
 * mixture. Five kill/recover cycles run on the same directory, each writer resuming from the
 * recovered {@code lastApplied}.
 *
 * <p>Scope: SIGKILL loses the process, not the OS page cache, so this checks WriteBatch atomicity
 * and RocksDB's recovery of a WAL cut at an arbitrary point, not durability against power loss.
 */
class StateAtomicityCrashTest {

  private static final int CYCLES = 5;
  private static final long READY_TIMEOUT_MS = 30_000;
  private static final long EXIT_TIMEOUT_MS = 10_000;
  /** The child's own hard deadline; far beyond what a cycle needs, so it only fires if orphaned. */
  private static final long CHILD_MAX_MS = 90_000;
  /** Exit status Java reports for a process killed by signal 9 (128 + SIGKILL). */
  private static final int SIGKILL_EXIT = 128 + 9;

  @TempDir Path dir;

  // Proves state and lastApplied agree after each of 5 SIGKILLs of a busy writer, and that each
  // writer resumed exactly from the lastApplied the previous recovery saw.
  @Test
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void stateMatchesLastAppliedAfterSigkill() throws Exception {
    long seed = System.nanoTime();
    Random random = new Random(seed);
    long previous = 0;
    for (int cycle = 0; cycle < CYCLES; cycle++) {
      String ctx = "seed=" + seed + " cycle=" + cycle;
      long runMillis = 200 + random.nextInt(601);
      long start = runWriterAndKill(runMillis, ctx);
      assertEquals(previous, start, ctx + ": writer must resume from the recovered lastApplied");
      long lastApplied = verifyRecoveredState(ctx);
      assertTrue(
          lastApplied > previous,
          ctx + ": writer committed after READY, so lastApplied must advance past " + previous);
      System.out.printf(
          "%s: ran %d ms, resumed at %d, recovered lastApplied %d%n", ctx, runMillis, start, lastApplied);
      previous = lastApplied;
    }
  }

  /**
   * Starts a writer, waits for READY, lets it run {@code runMillis}, SIGKILLs it.
   *
   * @return the lastApplied the writer started from (its START line)
   */
  private long runWriterAndKill(long runMillis, String ctx) throws Exception {
    String javaExe =
        ProcessHandle.current()
            .info()
            .command()
            .orElseGet(() -> Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> command =
        List.of(
            javaExe,
            "--enable-native-access=ALL-UNNAMED",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-cp",
            System.getProperty("java.class.path"),
            CrashWriter.class.getName(),
            dir.toString(),
            Long.toString(CHILD_MAX_MS));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    List<String> output = Collections.synchronizedList(new ArrayList<>());
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                  output.add(line);
                  lines.add(line);
                }
              } catch (IOException ignored) {
                // the process is gone
              }
            },
            "crash-writer-output");
    reader.setDaemon(true);
    reader.start();
    try {
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(READY_TIMEOUT_MS);
      Long start = null;
      boolean ready = false;
      while (!ready) {
        long left = deadline - System.nanoTime();
        String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
        if (line == null) {
          fail(ctx + ": no READY within " + READY_TIMEOUT_MS + " ms (alive=" + process.isAlive()
              + "), output: " + output);
        }
        if (line.startsWith("START ")) {
          start = Long.parseLong(line.substring(6).trim());
        } else if (line.equals("READY")) {
          ready = true;
        }
      }
      assertNotNull(start, ctx + ": READY before START, output: " + output);

      Thread.sleep(runMillis);
      assertTrue(process.isAlive(), ctx + ": writer died before the kill, output: " + output);

      long pid = process.pid();
      process.destroyForcibly(); // SIGKILL on Linux; verified through the exit status below
      assertTrue(
          process.waitFor(EXIT_TIMEOUT_MS, TimeUnit.MILLISECONDS),
          ctx + ": writer " + pid + " still alive " + EXIT_TIMEOUT_MS + " ms after SIGKILL");
      assertEquals(
          SIGKILL_EXIT,
          process.exitValue(),
          ctx + ": writer must die of SIGKILL, not exit on its own; output: " + output);
      assertTrue(ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true), ctx + ": pid alive");
      return start;
    } finally {
      if (process.isAlive()) {
        process.destroyForcibly(); // this child only, by its own handle
        process.waitFor(EXIT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
      }
      process.getOutputStream().close();
      reader.join(EXIT_TIMEOUT_MS);
    }
  }

  /**
   * Reopens the store the writer left and checks that state is exactly the effect of entries
   * {@code 1..lastApplied}.
   *
   * @return the recovered lastApplied
   */
  private long verifyRecoveredState(String ctx) {
    try (NodeStorage storage =
        NodeStorage.open(
            dir,
            StorageOptions.defaults(),
            List.of(new StateColumnFamily(CrashWriter.CF, false)))) {
      long lastApplied = storage.state().lastApplied();
      String at = ctx + " lastApplied=" + lastApplied;
      Column column = storage.state().column(CrashWriter.CF);

      byte[] count = column.get(CrashWriter.COUNT);
      assertNotNull(count, at + ": count missing");
      assertEquals(lastApplied, Bytes.getLong(count, 0), at + ": count != lastApplied");

      Set<String> expectedKeys = new HashSet<>();
      expectedKeys.add("count");
      for (int k = 0; k < 100; k++) {
        long expected = lastApplied - Math.floorMod(lastApplied - k, 100); // largest i <= L, i%100==k
        byte[] key = ("k" + k).getBytes(StandardCharsets.UTF_8);
        byte[] value = column.get(key);
        if (expected < 1) {
          assertNull(value, at + ": k" + k + " must be absent");
        } else {
          assertNotNull(value, at + ": k" + k + " missing, expected " + expected);
          assertArrayEquals(Bytes.longKey(expected), value,
              at + ": k" + k + " = " + Bytes.getLong(value, 0) + ", expected " + expected);
          expectedKeys.add("k" + k);
        }
      }
      // Nothing else in the column.
      List<KeyValue> all = column.scan(new byte[0], new byte[] {(byte) 0xFF}, 10_000, Long.MAX_VALUE);
      Set<String> actualKeys = new HashSet<>();
      all.forEach(kv -> actualKeys.add(new String(kv.key(), StandardCharsets.UTF_8)));
      assertEquals(expectedKeys, actualKeys, at + ": key set");

      // The log: appended (fsync'd) only after the commit of the same index, so it can never be
      // ahead of lastApplied, and at most one LOG_EVERY period behind it.
      RaftLogStore log = storage.log();
      String logAt = at + " log=[" + log.firstIndex() + ", " + log.lastIndex() + "]";
      assertTrue(log.lastIndex() <= lastApplied, logAt + ": log ahead of state");
      assertTrue(lastApplied - log.lastIndex() <= CrashWriter.LOG_EVERY, logAt + ": log too far behind");
      if (log.lastIndex() >= log.firstIndex()) {
        assertEquals(0, log.lastIndex() % CrashWriter.LOG_EVERY, logAt);
        assertEquals(log.firstIndex(), log.lastIndex(), logAt + ": one entry expected");
        assertArrayEquals(Bytes.longKey(log.lastIndex()), log.get(log.lastIndex()), logAt);
      }
      return lastApplied;
    }
  }
}
