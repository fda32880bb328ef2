package io.dsync.storage;

import java.util.ArrayList;
import java.util.List;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.Slice;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * The Raft log on disk: entries keyed by their 8-byte big-endian index in the {@code raft_log}
 * column family, values opaque (the Raft layer encodes them). The shape follows SOFAJRaft's
 * {@code RocksDBLogStorage}: one {@code WriteBatch} per appended batch with one fsync, and
 * {@code deleteRange} for truncation and compaction.
 *
 * <p>Indexes are contiguous from {@link #firstIndex()} to {@link #lastIndex()}; an empty log has
 * {@code lastIndex() == firstIndex() - 1}. After a purge the first index moves up and is itself
 * persisted, so a restart sees the same boundary.
 *
 * <p>Thread safety: one writer thread calls {@link #append}, {@link #truncateSuffix} and
 * {@link #purgePrefix}; any thread may read concurrently.
 */
public final class RaftLogStore {
  private static final byte[] FIRST_INDEX_KEY = "log_first_index".getBytes();

  private final RocksDB db;
  private final ColumnFamilyHandle cf;
  private final WriteOptions syncWrite;
  private volatile long firstIndex;
  private volatile long lastIndex;

  RaftLogStore(RocksDB db, ColumnFamilyHandle cf, WriteOptions syncWrite) throws RocksDBException {
    this.db = db;
    this.cf = cf;
    this.syncWrite = syncWrite;
    byte[] stored = db.get(cf, FIRST_INDEX_KEY);
    long boundary = stored == null ? 1 : Bytes.getLong(stored, 0);
    long first = -1;
    long last = -1;
    try (RocksIterator it = db.newIterator(cf)) {
      it.seekToFirst();
      if (it.isValid() && it.key().length == 8) {
        first = Bytes.getLong(it.key(), 0);
      }
      it.seekToLast();
      while (it.isValid() && it.key().length != 8) {
        it.prev();
      }
      if (it.isValid()) {
        last = Bytes.getLong(it.key(), 0);
      }
    }
    if (first < 0 || last < boundary) {
      this.firstIndex = boundary;
      this.lastIndex = boundary - 1;
    } else {
      this.firstIndex = Math.max(first, boundary);
      this.lastIndex = last;
    }
  }

  /** @return the index of the first entry kept (or that the next append must start at, when empty) */
  public long firstIndex() {
    return firstIndex;
  }

  /** @return the index of the last entry, or {@code firstIndex() - 1} when the log is empty */
  public long lastIndex() {
    return lastIndex;
  }

  /**
   * Appends {@code entries} at {@code fromIndex}, {@code fromIndex + 1}, ..., replacing any
   * entries at or after {@code fromIndex} (the Raft follower's "delete the existing entry and all
   * that follow it", §5.3). Everything happens in one {@code WriteBatch} with one fsync.
   *
   * @param fromIndex index of the first entry; must be in {@code [firstIndex, lastIndex + 1]}
   * @param entries encoded entries, non-empty
   * @throws IllegalArgumentException if {@code fromIndex} would leave a gap or rewrite purged
   *     entries
   * @throws StorageException on I/O failure
   */
  public void append(long fromIndex, List<byte[]> entries) {
    if (entries.isEmpty()) {
      return;
    }
    if (fromIndex < firstIndex || fromIndex > lastIndex + 1) {
      throw new IllegalArgumentException(
          "append at " + fromIndex + " outside [" + firstIndex + ", " + (lastIndex + 1) + "]");
    }
    long newLast = fromIndex + entries.size() - 1;
    try (WriteBatch batch = new WriteBatch()) {
      if (fromIndex <= lastIndex) {
        batch.deleteRange(cf, Bytes.longKey(fromIndex), Bytes.longKey(lastIndex + 1));
      }
      long index = fromIndex;
      for (byte[] e : entries) {
        batch.put(cf, Bytes.longKey(index++), e);
      }
      db.write(syncWrite, batch);
    } catch (RocksDBException e) {
      throw new StorageException("log append at " + fromIndex + " failed", e);
    }
    lastIndex = newLast;
  }

  /**
   * Reads entries {@code [from, toExclusive)}, stopping early once {@code maxBytes} are collected
   * (at least one entry is returned when the range is non-empty).
   *
   * @param from first index, {@code >= firstIndex()}
   * @param toExclusive one past the last index wanted; clamped to {@code lastIndex() + 1}
   * @param maxBytes soft cap on the summed value sizes, in bytes
   * @return the encoded entries in index order
   * @throws IllegalArgumentException if {@code from < firstIndex()} (compacted away)
   * @throws StorageException on I/O failure or a hole in the log
   */
  public List<byte[]> read(long from, long toExclusive, long maxBytes) {
    if (from < firstIndex) {
      throw new IllegalArgumentException("index " + from + " compacted; first is " + firstIndex);
    }
    long to = Math.min(toExclusive, lastIndex + 1);
    List<byte[]> out = new ArrayList<>();
    if (from >= to) {
      return out;
    }
    long bytes = 0;
    boolean capped = false;
    try (Slice upper = new Slice(Bytes.longKey(to));
        ReadOptions ro = new ReadOptions().setIterateUpperBound(upper);
        RocksIterator it = db.newIterator(cf, ro)) {
      long expect = from;
      for (it.seek(Bytes.longKey(from)); it.isValid() && expect < to; it.next()) {
        long index = Bytes.getLong(it.key(), 0);
        if (index != expect) {
          throw new StorageException("raft log hole: expected index " + expect + ", found " + index);
        }
        byte[] v = it.value();
        if (!out.isEmpty() && bytes + v.length > maxBytes) {
          capped = true;
          break;
        }
        out.add(v);
        bytes += v.length;
        expect++;
      }
      if (!capped && expect < to) {
        throw new StorageException("raft log hole: expected index " + expect + " before " + to);
      }
    }
    return out;
  }

  /**
   * @param index an index in {@code [firstIndex(), lastIndex()]}
   * @return the encoded entry, or {@code null} if it is not in the log
   * @throws StorageException on I/O failure
   */
  public byte[] get(long index) {
    if (index < firstIndex || index > lastIndex) {
      return null;
    }
    try {
      return db.get(cf, Bytes.longKey(index));
    } catch (RocksDBException e) {
      throw new StorageException("log read of " + index + " failed", e);
    }
  }

  /**
   * Deletes every entry at or after {@code fromIndex}, durably.
   *
   * @param fromIndex first index to delete; {@code >= firstIndex()}
   * @throws StorageException on I/O failure
   */
  public void truncateSuffix(long fromIndex) {
    if (fromIndex > lastIndex) {
      return;
    }
    if (fromIndex < firstIndex) {
      throw new IllegalArgumentException("cannot truncate below first index " + firstIndex);
    }
    try (WriteBatch batch = new WriteBatch()) {
      batch.deleteRange(cf, Bytes.longKey(fromIndex), Bytes.longKey(lastIndex + 1));
      db.write(syncWrite, batch);
    } catch (RocksDBException e) {
      throw new StorageException("log truncate from " + fromIndex + " failed", e);
    }
    lastIndex = fromIndex - 1;
  }

  /**
   * Deletes every entry up to and including {@code upToIndex} (log compaction after a snapshot,
   * Raft §7) and persists the new first index. Entries past the last index may be purged too
   * (installing a snapshot ahead of the log): the log is then empty and the next append starts
   * at {@code upToIndex + 1}.
   *
   * @param upToIndex last index to delete
   * @throws StorageException on I/O failure
   */
  public void purgePrefix(long upToIndex) {
    if (upToIndex < firstIndex) {
      return;
    }
    long newFirst = upToIndex + 1;
    try (WriteBatch batch = new WriteBatch()) {
      batch.deleteRange(cf, Bytes.longKey(firstIndex), Bytes.longKey(newFirst));
      batch.put(cf, FIRST_INDEX_KEY, Bytes.longKey(newFirst));
      db.write(syncWrite, batch);
    } catch (RocksDBException e) {
      throw new StorageException("log purge up to " + upToIndex + " failed", e);
    }
    firstIndex = newFirst;
    if (lastIndex < newFirst - 1) {
      lastIndex = newFirst - 1;
    }
  }
}
