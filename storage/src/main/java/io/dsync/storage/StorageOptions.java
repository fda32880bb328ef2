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
 */
public record StorageOptions(
    long blockCacheBytes, long writeBufferBytes, int maxBackgroundJobs, boolean syncWrites) {

  /** The defaults described on the record. */
  public static StorageOptions defaults() {
    return new StorageOptions(64L << 20, 64L << 20, 2, true);
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
