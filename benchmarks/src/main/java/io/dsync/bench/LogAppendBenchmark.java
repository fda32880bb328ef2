package io.dsync.bench;

import io.dsync.storage.NodeStorage;
import io.dsync.storage.RaftLogStore;
import io.dsync.storage.StorageOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Durable append throughput of the Raft log: {@link RaftLogStore#append} of {@code batchSize}
 * entries of {@value #ENTRY_BYTES} bytes each, on a real RocksDB opened with
 * {@link StorageOptions#defaults()} (so {@code syncWrites = true}: one {@code WriteBatch} and
 * <b>one fsync per call</b>), by one writer thread (the store's contract).
 *
 * <p><b>Units.</b> The benchmark runs in throughput mode and reports two numbers per
 * {@code batchSize}:
 *
 * <ul>
 *   <li>the primary score, {@code ops/s}: <b>append calls (= batches = fsyncs) per second</b>;
 *   <li>the secondary score {@code :entries}, from an {@link AuxCounters} counter incremented
 *       by {@code batchSize} per call: <b>entries per second</b> (multiply by
 *       {@value #ENTRY_BYTES} for bytes/s). This is the figure to compare across batch sizes.
 * </ul>
 *
 * ({@code @OperationsPerInvocation} cannot depend on a {@code @Param}, hence the counter.)
 *
 * <p>Entry payloads are random bytes (incompressible, so RocksDB's LZ4 gains nothing), built
 * once per trial; the same {@code byte[]}s are appended under new indexes each call.
 *
 * <p><b>Disk.</b> The database lives in a fresh temporary directory under
 * {@code -Ddsync.bench.dir} (default {@code java.io.tmpdir}; it must be on the disk you want to
 * measure, not a tmpfs) and is deleted at the end of the trial. After every iteration the whole
 * log is purged ({@link RaftLogStore#purgePrefix}, a range delete that compaction reclaims), so
 * the disk holds at most about one iteration of appends. The purge is outside the timed region.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Threads(1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 10)
public class LogAppendBenchmark {
  /** Size of one log entry, in bytes. */
  public static final int ENTRY_BYTES = 1024;

  /** Entries per {@code append} call, i.e. per fsync. */
  @Param({"1", "64", "1024"})
  public int batchSize;

  private Path dir;
  private NodeStorage storage;
  private RaftLogStore log;
  private List<byte[]> batch;

  /**
   * Per-thread counters JMH reports as rates next to the primary score. {@code entries} is
   * entries appended per second.
   */
  @State(Scope.Thread)
  @AuxCounters(AuxCounters.Type.OPERATIONS)
  public static class Counters {
    /** Entries appended in this iteration; reported as entries/s. */
    public long entries;

    /** Zeroes the counter at the start of each iteration (JMH does not). */
    @Setup(Level.Iteration)
    public void reset() {
      entries = 0;
    }
  }

  /**
   * Opens a fresh store in a new temporary directory and builds the batch.
   *
   * @param params the run's parameters, to refuse more than one thread
   * @throws IOException if the directory cannot be created
   */
  @Setup(Level.Trial)
  public void open(BenchmarkParams params) throws IOException {
    if (params.getThreads() != 1) {
      throw new IllegalArgumentException("RaftLogStore has a single writer: run with -t 1, not -t "
          + params.getThreads());
    }
    Path parent = Paths.get(System.getProperty("dsync.bench.dir", System.getProperty("java.io.tmpdir")));
    Files.createDirectories(parent);
    dir = Files.createTempDirectory(parent, "dsync-logappend-");
    storage = NodeStorage.open(dir, StorageOptions.defaults(), List.of());
    log = storage.log();
    SplittableRandom random = new SplittableRandom(42);
    batch = new ArrayList<>(batchSize);
    for (int i = 0; i < batchSize; i++) {
      byte[] e = new byte[ENTRY_BYTES];
      random.nextBytes(e);
      batch.add(e);
    }
  }

  /**
   * One durable batch append at the end of the log.
   *
   * @param counters counts the entries appended
   */
  @Benchmark
  public void append(Counters counters) {
    log.append(log.lastIndex() + 1, batch);
    counters.entries += batchSize;
  }

  /** Purges everything appended so far, so the disk does not grow without bound. */
  @TearDown(Level.Iteration)
  public void purge() {
    log.purgePrefix(log.lastIndex());
  }

  /** Closes RocksDB and deletes its directory. */
  @TearDown(Level.Trial)
  public void close() {
    storage.close();
    deleteTree(dir);
  }

  static void deleteTree(Path root) {
    if (root == null || !Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root, e);
    }
  }
}
