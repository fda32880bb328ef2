package io.dsync.storage;

/**
 * Tunables of a node's RocksDB instance, with the defaults dsync runs with.
 *
 * @param blockCacheBytes size of the one LRU block cache shared by every column family, in
 *     bytes (default 64 MiB): reads of recent records are mostly served from the memtable and
 *     the OS page cache, so a modest cache is enough on small machines.
 * @param writeBufferBytes memtable size per column family, in bytes (default 64 MiB). Larger
 *     memtables mean fewer, larger L0 files for an append-heavy workload.
 * @param maxBackgroundJobs flush + compaction threads (default 2, the cores of the reference
 *     machine).
 * @param syncWrites whether log appends and metadata writes fsync before returning (default
 *     true). Turning it off breaks the durability promise; it exists for benchmarks only.
 * @param stateWal whether state-machine commits go through RocksDB's write-ahead log (default
 *     true). Off, state column families are made durable only by memtable flushes, which are
 *     atomic across column families ({@code atomic_flush}), so state and {@code lastApplied} still
 *     never disagree; after a crash the node replays more of its Raft log. Saves one write of
 *     every state byte; see docs/architecture.md for the measurement.
 */
public record StorageOptions(
    long blockCacheBytes, long writeBufferBytes, int maxBackgroundJobs, boolean syncWrites, boolean stateWal) {

  /** The defaults described on the record. */
  public static StorageOptions defaults() {
    return new StorageOptions(64L << 20, 64L << 20, 2, true, true);
  }

  /** The defaults with the given sizes, {@code stateWal} on. */
  public StorageOptions(long blockCacheBytes, long writeBufferBytes, int maxBackgroundJobs, boolean syncWrites) {
    this(blockCacheBytes, writeBufferBytes, maxBackgroundJobs, syncWrites, true);
  }

  /** @return a copy with {@code stateWal} set */
  public StorageOptions withStateWal(boolean on) {
    return new StorageOptions(blockCacheBytes, writeBufferBytes, maxBackgroundJobs, syncWrites, on);
  }

  /**
   * Validates the options.
   *
   * @throws IllegalArgumentException if a size is below 1 MiB or no background job is allowed
   */
  public StorageOptions {
    if (blockCacheBytes < (1 << 20)) {
      throw new IllegalArgumentException("blockCacheBytes must be >= 1 MiB, got " + blockCacheBytes);
    }
    if (writeBufferBytes < (1 << 20)) {
      throw new IllegalArgumentException("writeBufferBytes must be >= 1 MiB, got " + writeBufferBytes);
    }
    if (maxBackgroundJobs < 1) {
      throw new IllegalArgumentException("maxBackgroundJobs must be >= 1, got " + maxBackgroundJobs);
    }
  }
}
