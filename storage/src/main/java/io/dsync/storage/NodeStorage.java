package io.dsync.storage;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.Checkpoint;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.CompressionType;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteOptions;

/**
 * One node's RocksDB instance and the stores on top of it: the Raft log ({@link #log()}), the
 * durable Raft metadata ({@link #meta()}) and the state machines' column families
 * ({@link #state()}).
 *
 * <p>Column families: {@code raft_log} (key: 8-byte big-endian index, value: an encoded entry),
 * {@code raft_meta} (term, vote and other small keys), {@code sm_meta} ({@code lastApplied}) and
 * one per declared {@link StateColumnFamily}. All share one write-ahead log, so a synced log
 * append also makes every earlier state write durable.
 *
 * <p>Options, and why: one shared LRU block cache; LZ4 compression (cheap on CPU, good on JSON
 * payloads); the WAL stays on for every write so that state and {@code lastApplied} can never
 * disagree after a crash; {@code bytes_per_sync} of 1 MiB so background writeback smooths fsync
 * latency on the append path; level-style compaction with dynamic level sizes.
 *
 * <p>Thread safety: all methods are safe to call from any thread; the stores document their own
 * single-writer expectations. {@link #close()} must be called once, after every user stopped.
 */
public final class NodeStorage implements AutoCloseable {
  /**
   * Blob GC on blob-valued state families relocates the live blobs of the oldest this-fraction of
   * blob files when a compaction meets them. RocksDB's default, 0.25, cost 44 % of single-node
   * produce throughput when nothing is deleted (60 s runs, alternating: 46,100 records/s against
   * 82,800 / 79,400 with GC off and 78,800 at 0.05), relocating the same live records again and
   * again. 0.05 keeps the oldest files — where retention's garbage is — collected. Limit (of any
   * cutoff below 1): expired records in younger files that share them with records of a topic
   * kept longer are reclaimed only once those files are among the oldest; separating records by
   * topic (their own blob files) is the real fix.
   */
  static final double RECORDS_BLOB_GC_AGE_CUTOFF = 0.05;

  static final String LOG_CF = "raft_log";
  static final String META_CF = "raft_meta";
  static final String SM_META_CF = "sm_meta";

  static {
    RocksDB.loadLibrary();
  }

  private final Path dir;
  private final boolean directIo;
  private final RocksDB db;
  private final DBOptions dbOptions;
  private final LRUCache blockCache;
  private final List<ColumnFamilyOptions> cfOptions = new ArrayList<>();
  private final List<ColumnFamilyHandle> handles = new ArrayList<>();
  private final WriteOptions syncWrite;
  private final WriteOptions asyncWrite;
  private final RaftLogStore log;
  private final MetaStore meta;
  private final StateStore state;

  private NodeStorage(Path dir, StorageOptions options, List<StateColumnFamily> stateFamilies)
      throws RocksDBException {
    this.dir = dir;
    this.directIo = supportsDirectIo(dir);
    this.blockCache = new LRUCache(options.blockCacheBytes());
    this.dbOptions =
        new DBOptions()
            .setCreateIfMissing(true)
            .setCreateMissingColumnFamilies(true)
            .setMaxBackgroundJobs(options.maxBackgroundJobs())
            .setBytesPerSync(1 << 20)
            .setWalBytesPerSync(0)
            .setKeepLogFileNum(5)
            .setAtomicFlush(!options.stateWal())
            .setUseDirectIoForFlushAndCompaction(directIo);

    RocksDB opened = null;
    try {
      Map<String, StateColumnFamily> declared = new HashMap<>();
      for (StateColumnFamily f : stateFamilies) {
        if (declared.put(f.name(), f) != null || f.name().equals(SM_META_CF)) {
          throw new IllegalArgumentException("duplicate or reserved column family: " + f.name());
        }
      }
      // Open every family that exists on disk (RocksDB requires it) plus the declared ones.
      Set<String> names = new LinkedHashSet<>();
      names.add("default");
      names.add(LOG_CF);
      names.add(META_CF);
      names.add(SM_META_CF);
      if (Files.exists(dir.resolve("CURRENT"))) {
        try (Options o = new Options()) {
          for (byte[] n : RocksDB.listColumnFamilies(o, dir.toString())) {
            names.add(new String(n, StandardCharsets.UTF_8));
          }
        }
      }
      stateFamilies.forEach(f -> names.add(f.name()));

      List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
      for (String name : names) {
        StateColumnFamily f = declared.get(name);
        ColumnFamilyOptions cfo = name.equals(LOG_CF) ? logColumnFamilyOptions(options)
            : columnFamilyOptions(options, f != null && f.blobValues());
        cfOptions.add(cfo);
        descriptors.add(new ColumnFamilyDescriptor(name.getBytes(StandardCharsets.UTF_8), cfo));
      }
      opened = RocksDB.open(dbOptions, dir.toString(), descriptors, handles);
      this.db = opened;
      Map<String, ColumnFamilyHandle> byName = new HashMap<>();
      List<String> ordered = new ArrayList<>(names);
      for (int i = 0; i < ordered.size(); i++) {
        byName.put(ordered.get(i), handles.get(i));
      }
      this.syncWrite = new WriteOptions().setSync(options.syncWrites());
      this.asyncWrite = new WriteOptions().setSync(false).setDisableWAL(!options.stateWal());
      this.log = new RaftLogStore(db, byName.get(LOG_CF), syncWrite);
      this.meta = new MetaStore(db, byName.get(META_CF), syncWrite);
      Map<String, ColumnFamilyHandle> stateHandles = new HashMap<>();
      for (StateColumnFamily f : stateFamilies) {
        stateHandles.put(f.name(), byName.get(f.name()));
      }
      this.state = new StateStore(db, byName.get(SM_META_CF), stateHandles, asyncWrite);
    } catch (RocksDBException | RuntimeException e) {
      // Free what was allocated, so a failed open (e.g. the directory is locked) leaks nothing
      // and leaves no open database holding the lock.
      handles.forEach(ColumnFamilyHandle::close);
      if (opened != null) {
        opened.close();
      }
      cfOptions.forEach(ColumnFamilyOptions::close);
      dbOptions.close();
      blockCache.close();
      throw e;
    }
  }

  /**
   * The Raft log's options: entries (often ~100 KiB produce batches) go to blob files at flush,
   * uncompressed, so compactions of the log's SST files move keys only, and purging a prefix
   * rewrites no values; the log is read rarely (catch-up, restart) and dropped soon.
   *
   * <p>Blob garbage collection is off here: it relocates the live blobs of the oldest blob files
   * whenever a compaction meets their keys, which cost about a third of all compaction CPU under
   * produce load (perf, 3-node cluster), and for the log it buys nothing: the log is purged in
   * the order it was written, so whole blob files become garbage and RocksDB drops them without
   * relocating anything. Blob-valued state families (records) keep it on: one blob file holds
   * records of every topic flushed together, and topics with different retention (or none)
   * would otherwise pin each other's space forever; see {@link #RECORDS_BLOB_GC_AGE_CUTOFF}.
   */
  private ColumnFamilyOptions logColumnFamilyOptions(StorageOptions options) {
    return columnFamilyOptions(options, false)
        .setEnableBlobFiles(true)
        .setMinBlobSize(512)
        .setBlobCompressionType(CompressionType.NO_COMPRESSION)
        .setEnableBlobGarbageCollection(false);
  }

  private ColumnFamilyOptions columnFamilyOptions(StorageOptions options, boolean blobs) {
    BlockBasedTableConfig table =
        new BlockBasedTableConfig().setBlockCache(blockCache).setBlockSize(16 * 1024);
    ColumnFamilyOptions o =
        new ColumnFamilyOptions()
            .setTableFormatConfig(table)
            .setWriteBufferSize(options.writeBufferBytes())
            .setMaxWriteBufferNumber(4)
            .setCompressionType(CompressionType.LZ4_COMPRESSION)
            .setLevelCompactionDynamicLevelBytes(true);
    if (blobs) {
      o.setEnableBlobFiles(true)
          .setMinBlobSize(512)
          .setBlobCompressionType(CompressionType.LZ4_COMPRESSION)
          .setEnableBlobGarbageCollection(true)
          .setBlobGarbageCollectionAgeCutoff(RECORDS_BLOB_GC_AGE_CUTOFF);
    }
    return o;
  }

  /**
   * Opens (creating if needed) the store in {@code dir}.
   *
   * @param dir the directory RocksDB owns; created if missing
   * @param options tunables
   * @param stateFamilies the state machines' column families; families found on disk but not
   *     declared are opened too, so data is never silently dropped
   * @return the open store
   * @throws StorageException if RocksDB cannot open the directory (e.g. another process holds it)
   */
  public static NodeStorage open(
      Path dir, StorageOptions options, List<StateColumnFamily> stateFamilies) {
    try {
      Files.createDirectories(dir);
      return new NodeStorage(dir, options, stateFamilies);
    } catch (RocksDBException e) {
      throw new StorageException("cannot open RocksDB in " + dir + ": " + e.getMessage(), e);
    } catch (java.io.IOException e) {
      throw new StorageException("cannot create " + dir, e);
    }
  }

  /**
   * Whether the file system under {@code dir} takes {@code O_DIRECT} (probed by opening a file
   * with it). Flushes and compactions then write around the page cache: with buffered writes,
   * copying memtables into the page cache was about half of all flush CPU (perf, 3-node produce
   * load; the cluster's throughput rose 27 % without it). A file system without it (older tmpfs)
   * gets buffered writes.
   */
  private static boolean supportsDirectIo(Path dir) {
    Path probe = dir.resolve(".direct-io-probe");
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(probe,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE,
        com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
      // Some file systems take O_DIRECT at open and fail the writes: write one aligned block.
      int block = (int) Math.max(4096, Files.getFileStore(probe).getBlockSize());
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(2 * block).alignedSlice(block);
      buf.limit(block);
      ch.write(buf, 0);
      ch.force(true);
      return true;
    } catch (java.io.IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return false;
    } finally {
      try {
        Files.deleteIfExists(probe);
      } catch (java.io.IOException ignored) {
        // a leftover probe file is harmless
      }
    }
  }

  /** @return whether flushes and compactions use direct I/O (see {@link #supportsDirectIo}) */
  public boolean directIo() {
    return directIo;
  }

  /** The directory this store lives in. */
  public Path dir() {
    return dir;
  }

  /** The Raft log store. */
  public RaftLogStore log() {
    return log;
  }

  /** The durable Raft metadata. */
  public MetaStore meta() {
    return meta;
  }

  /** The state machines' column families and {@code lastApplied}. */
  public StateStore state() {
    return state;
  }

  /**
   * Flushes the memtables and writes a consistent, hard-linked copy of the whole database to
   * {@code target} (which must not exist). The copy is what a snapshot is made from.
   *
   * @param target a directory that does not exist yet, on the same file system
   * @throws StorageException if RocksDB fails
   */
  public void checkpoint(Path target) {
    try (Checkpoint cp = Checkpoint.create(db); FlushOptions fo = new FlushOptions().setWaitForFlush(true)) {
      db.flush(fo, handles);
      cp.createCheckpoint(target.toString());
    } catch (RocksDBException e) {
      throw new StorageException("checkpoint to " + target + " failed", e);
    }
  }

  /**
   * Flushes every memtable to disk and waits. After it, state written without the WAL
   * ({@link StorageOptions#stateWal()} off) is durable too; compaction of the Raft log calls it
   * before purging entries whose effect must not be lost.
   *
   * @throws StorageException if RocksDB fails
   */
  public void flush() {
    try (FlushOptions fo = new FlushOptions().setWaitForFlush(true)) {
      db.flush(fo, handles);
    } catch (RocksDBException e) {
      throw new StorageException("flush failed", e);
    }
  }

  /**
   * A RocksDB property of the whole database (e.g. {@code rocksdb.total-sst-files-size}), for
   * metrics and benchmarks.
   *
   * @param property the property name
   * @return its value summed over the column families, or -1 if unknown
   */
  public long longProperty(String property) {
    long sum = 0;
    try {
      for (ColumnFamilyHandle h : handles) {
        sum += db.getLongProperty(h, property);
      }
      return sum;
    } catch (RocksDBException e) {
      return -1;
    }
  }

  /** Closes RocksDB and frees its native resources. Idempotent only in that a second call is a no-op. */
  @Override
  public synchronized void close() {
    if (db.isOwningHandle()) {
      try (FlushOptions fo = new FlushOptions().setWaitForFlush(true)) {
        db.flush(fo, handles); // a clean stop leaves nothing to replay, also without the state WAL
      } catch (RocksDBException ignored) {
        // closing anyway; recovery replays the Raft log
      }
      try {
        db.syncWal();
      } catch (RocksDBException ignored) {
        // closing anyway; the WAL was synced by every durable write
      }
      handles.forEach(ColumnFamilyHandle::close);
      db.close();
      syncWrite.close();
      asyncWrite.close();
      dbOptions.close();
      cfOptions.forEach(ColumnFamilyOptions::close);
      blockCache.close();
    }
  }
}
