package io.dsync.storage;

import com.dynatrace.hash4j.hashing.HashStream64;
import com.dynatrace.hash4j.hashing.Hashing;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.Slice;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * The state machines' column families and {@code lastApplied}, the index of the last Raft entry
 * whose effects they hold.
 *
 * <p>The one rule: state changes reach disk only through {@link #commit(StateBatch, long)},
 * which writes the batch's changes and the new {@code lastApplied} in one atomic
 * {@code WriteBatch}. So after any crash the state on disk is exactly the effect of the log up to
 * the {@code lastApplied} on disk, and recovery replays the log from there. The commit does not
 * fsync: the Raft log is the durable record, and the next synced log append (same WAL) makes the
 * commit durable too.
 *
 * <p>Thread safety: one writer thread (the apply loop) commits; any thread may read.
 */
public final class StateStore {
  private static final byte[] LAST_APPLIED_KEY = "last_applied".getBytes(StandardCharsets.UTF_8);

  private final RocksDB db;
  private final ColumnFamilyHandle metaCf;
  private final Map<String, Column> columns;
  private final WriteOptions asyncWrite;
  private volatile long lastApplied;

  StateStore(
      RocksDB db,
      ColumnFamilyHandle metaCf,
      Map<String, ColumnFamilyHandle> handles,
      WriteOptions asyncWrite)
      throws RocksDBException {
    this.db = db;
    this.metaCf = metaCf;
    this.asyncWrite = asyncWrite;
    Map<String, Column> cols = new java.util.TreeMap<>();
    handles.forEach((name, h) -> cols.put(name, new Column(name, h)));
    this.columns = Map.copyOf(cols);
    byte[] v = db.get(metaCf, LAST_APPLIED_KEY);
    this.lastApplied = v == null ? 0 : Bytes.getLong(v, 0);
  }

  /**
   * @param name a column family declared when the store was opened
   * @return its handle
   * @throws IllegalArgumentException if it was not declared
   */
  public Column column(String name) {
    Column c = columns.get(name);
    if (c == null) {
      throw new IllegalArgumentException("undeclared state column family: " + name);
    }
    return c;
  }

  /** @return the index of the last entry whose effects are in the state (0 if none) */
  public long lastApplied() {
    return lastApplied;
  }

  /**
   * A digest of the whole state: XXH3-64 over every state column family (in name order), every
   * key and value (in key order), and {@code lastApplied}, all read from one RocksDB snapshot so
   * they belong together. Depends only on the content, not on how entries were batched, so two
   * nodes that applied the same log report the same digest at the same index — the check that
   * apply is deterministic across replicas.
   *
   * <p>Cost: a full scan of the state, O(state bytes); meant for diagnostics and tests.
   *
   * @return {@code [lastApplied, digest]} as of one consistent snapshot
   * @throws StorageException on I/O failure
   */
  public long[] digest() {
    HashStream64 h = Hashing.xxh3_64().hashStream();
    long applied;
    org.rocksdb.Snapshot snap = db.getSnapshot();
    try (ReadOptions ro = new ReadOptions().setSnapshot(snap)) {
      try {
        byte[] v = db.get(metaCf, ro, LAST_APPLIED_KEY);
        applied = v == null ? 0 : Bytes.getLong(v, 0);
      } catch (RocksDBException e) {
        throw new StorageException("digest read failed", e);
      }
      h.putLong(applied);
      for (Column c : new java.util.TreeMap<>(columns).values()) {
        h.putString(c.name);
        try (RocksIterator it = db.newIterator(c.handle, ro)) {
          for (it.seekToFirst(); it.isValid(); it.next()) {
            h.putByteArray(it.key()).putByteArray(it.value());
          }
        }
      }
    } finally {
      db.releaseSnapshot(snap); // also when a read fails
    }
    return new long[] {applied, h.getAsLong()};
  }

  /** @return a new, empty batch; the caller must {@link #commit} or {@link StateBatch#close()} it */
  public StateBatch newBatch() {
    return new StateBatch();
  }

  /**
   * Writes the batch's changes and {@code lastApplied} atomically (not fsync'd, see the class
   * doc), then closes the batch.
   *
   * @param batch changes gathered by the apply step
   * @param newLastApplied the index of the last entry those changes come from; must not go back
   * @throws IllegalArgumentException if {@code newLastApplied < lastApplied()}
   * @throws StorageException on I/O failure
   */
  public void commit(StateBatch batch, long newLastApplied) {
    if (newLastApplied < lastApplied) {
      batch.close();
      throw new IllegalArgumentException(
          "lastApplied would go back from " + lastApplied + " to " + newLastApplied);
    }
    try (batch) {
      batch.wb.put(metaCf, LAST_APPLIED_KEY, Bytes.longKey(newLastApplied));
      db.write(asyncWrite, batch.wb);
    } catch (RocksDBException e) {
      throw new StorageException("state commit at " + newLastApplied + " failed", e);
    }
    lastApplied = newLastApplied;
  }

  /** A state column family: reads go straight to RocksDB. Thread-safe. */
  public final class Column {
    private final String name;
    private final ColumnFamilyHandle handle;

    Column(String name, ColumnFamilyHandle handle) {
      this.name = name;
      this.handle = handle;
    }

    /** @return the column family's name */
    public String name() {
      return name;
    }

    /**
     * @return the value under {@code key}, or {@code null}
     * @throws StorageException on I/O failure
     */
    public byte[] get(byte[] key) {
      try {
        return db.get(handle, key);
      } catch (RocksDBException e) {
        throw new StorageException("read of " + name + " failed", e);
      }
    }

    /**
     * Reads keys in {@code [from, toExclusive)} in byte order.
     *
     * @param from first key (inclusive)
     * @param toExclusive upper bound (exclusive)
     * @param maxCount at most this many pairs
     * @param maxBytes stop once the values passed this many bytes (at least one pair is returned
     *     when the range is non-empty)
     * @return the pairs in key order
     * @throws StorageException on I/O failure
     */
    public List<KeyValue> scan(byte[] from, byte[] toExclusive, int maxCount, long maxBytes) {
      List<KeyValue> out = new ArrayList<>();
      long bytes = 0;
      try (Slice upper = new Slice(toExclusive);
          ReadOptions ro = new ReadOptions().setIterateUpperBound(upper);
          RocksIterator it = db.newIterator(handle, ro)) {
        for (it.seek(from); it.isValid() && out.size() < maxCount; it.next()) {
          byte[] v = it.value();
          if (!out.isEmpty() && bytes + v.length > maxBytes) {
            break;
          }
          out.add(new KeyValue(it.key(), v));
          bytes += v.length;
        }
      }
      return out;
    }
  }

  /** One key and its value. */
  public record KeyValue(byte[] key, byte[] value) {}

  /**
   * Changes to state column families, applied atomically by {@link #commit}. Not thread-safe:
   * one apply step fills one batch.
   */
  public final class StateBatch implements AutoCloseable {
    private final WriteBatch wb = new WriteBatch();

    private StateBatch() {}

    /** Sets {@code key} to {@code value} in {@code column}. */
    public StateBatch put(Column column, byte[] key, byte[] value) {
      try {
        wb.put(column.handle, key, value);
      } catch (RocksDBException e) {
        throw new StorageException("batch put failed", e);
      }
      return this;
    }

    /** Deletes {@code key} from {@code column}. */
    public StateBatch delete(Column column, byte[] key) {
      try {
        wb.delete(column.handle, key);
      } catch (RocksDBException e) {
        throw new StorageException("batch delete failed", e);
      }
      return this;
    }

    /** Deletes every key in {@code [from, toExclusive)} of {@code column}. */
    public StateBatch deleteRange(Column column, byte[] from, byte[] toExclusive) {
      try {
        wb.deleteRange(column.handle, from, toExclusive);
      } catch (RocksDBException e) {
        throw new StorageException("batch deleteRange failed", e);
      }
      return this;
    }

    /** @return the number of changes gathered */
    public int count() {
      return wb.count();
    }

    /** Discards the batch (if not committed). */
    @Override
    public void close() {
      wb.close();
    }
  }

  // ------------------------------------------------------------------ snapshots (Raft §7)

  /** One state key/value with its column family, as a snapshot carries it. */
  public record ColumnKeyValue(String column, byte[] key, byte[] value) {}

  /**
   * A consistent, read-only view of the whole state for streaming a snapshot to a follower: one
   * RocksDB snapshot, so {@link #lastApplied()} and every key/value belong together. Read it in
   * pieces with {@link #next}; the position is the last (column, key) returned, so a transfer can
   * resume from any acknowledged piece. Not thread-safe; close it when done.
   */
  public final class Reader implements AutoCloseable {
    private final org.rocksdb.Snapshot snapshot;
    private final ReadOptions readOptions;
    private final long lastApplied;
    private final List<String> order;

    private Reader() {
      this.snapshot = db.getSnapshot();
      this.readOptions = new ReadOptions().setSnapshot(snapshot);
      try {
        byte[] v = db.get(metaCf, readOptions, LAST_APPLIED_KEY);
        this.lastApplied = v == null ? 0 : Bytes.getLong(v, 0);
      } catch (RocksDBException e) {
        close();
        throw new StorageException("snapshot read failed", e);
      }
      this.order = List.copyOf(new java.util.TreeSet<>(columns.keySet()));
    }

    /** @return the applied index this view is the state of */
    public long lastApplied() {
      return lastApplied;
    }

    /**
     * Reads the next pairs after a position, in (column name, key) order.
     *
     * @param afterColumn the column of the last pair already read, or null to start
     * @param afterKey the key of the last pair already read (ignored when {@code afterColumn} is null)
     * @param maxBytes stop once keys and values pass this many bytes (at least one pair is returned
     *     unless the end was reached)
     * @return the pairs; empty at the end
     */
    public List<ColumnKeyValue> next(String afterColumn, byte[] afterKey, long maxBytes) {
      List<ColumnKeyValue> out = new ArrayList<>();
      long bytes = 0;
      int start = afterColumn == null ? 0 : order.indexOf(afterColumn);
      for (int c = Math.max(start, 0); c < order.size(); c++) {
        Column col = columns.get(order.get(c));
        try (RocksIterator it = db.newIterator(col.handle, readOptions)) {
          if (afterColumn != null && c == start) {
            it.seek(afterKey);
            if (it.isValid() && java.util.Arrays.equals(it.key(), afterKey)) {
              it.next();
            }
          } else {
            it.seekToFirst();
          }
          for (; it.isValid(); it.next()) {
            if (!out.isEmpty() && bytes >= maxBytes) {
              return out;
            }
            byte[] k = it.key();
            byte[] v = it.value();
            out.add(new ColumnKeyValue(col.name, k, v));
            bytes += k.length + v.length;
          }
        }
      }
      return out;
    }

    @Override
    public void close() {
      readOptions.close();
      db.releaseSnapshot(snapshot);
    }
  }

  /** @return a consistent view of the state for sending a snapshot; the caller closes it */
  public Reader openReader() {
    return new Reader();
  }

  /** Keys of state column families are shorter than this (topic names are at most 249 bytes). */
  private static final byte[] KEY_SPACE_END = filled(1024);

  private static byte[] filled(int n) {
    byte[] b = new byte[n];
    java.util.Arrays.fill(b, (byte) 0xFF);
    return b;
  }

  /**
   * Replaces the whole state with a snapshot's pairs and sets {@code lastApplied}: every column
   * is cleared and refilled. Not atomic on its own — the caller makes it restartable (it keeps the
   * received snapshot until this returns and redoes it after a crash, see {@code RaftNode}).
   *
   * @param pairs the snapshot's pairs, each column's keys ascending
   * @param newLastApplied the snapshot's last included index
   * @throws IllegalArgumentException on a pair for an undeclared column
   * @throws StorageException on I/O failure
   */
  public void restore(Iterable<List<ColumnKeyValue>> pairs, long newLastApplied) {
    try (WriteBatch clear = new WriteBatch(); WriteOptions sync = new WriteOptions().setSync(true)) {
      for (Column c : columns.values()) {
        clear.deleteRange(c.handle, new byte[0], KEY_SPACE_END);
      }
      clear.put(metaCf, LAST_APPLIED_KEY, Bytes.longKey(0));
      db.write(sync, clear);
      lastApplied = 0;
      for (List<ColumnKeyValue> chunk : pairs) {
        try (WriteBatch wb = new WriteBatch()) {
          for (ColumnKeyValue kv : chunk) {
            wb.put(column(kv.column()).handle, kv.key(), kv.value());
          }
          db.write(asyncWrite, wb);
        }
      }
      try (WriteBatch done = new WriteBatch()) {
        done.put(metaCf, LAST_APPLIED_KEY, Bytes.longKey(newLastApplied));
        db.write(sync, done);
      }
      try (org.rocksdb.FlushOptions fo = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
        List<ColumnFamilyHandle> hs = new ArrayList<>();
        hs.add(metaCf);
        columns.values().forEach(c -> hs.add(c.handle));
        db.flush(fo, hs);
      }
    } catch (RocksDBException e) {
      throw new StorageException("restoring a snapshot at " + newLastApplied + " failed", e);
    }
    lastApplied = newLastApplied;
  }
}
