package io.dsync.storage;

import java.nio.charset.StandardCharsets;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.WriteOptions;

/**
 * Small durable values of the Raft layer in the {@code raft_meta} column family: the
 * {@link HardState} (term and vote), and named blobs such as snapshot metadata.
 *
 * <p>Every write is fsync'd before it returns. Thread safety: safe from any thread; callers
 * serialize writes of the same key.
 */
public final class MetaStore {
  private static final byte[] HARD_STATE_KEY = "hard_state".getBytes(StandardCharsets.UTF_8);

  private final RocksDB db;
  private final ColumnFamilyHandle cf;
  private final WriteOptions syncWrite;

  MetaStore(RocksDB db, ColumnFamilyHandle cf, WriteOptions syncWrite) {
    this.db = db;
    this.cf = cf;
    this.syncWrite = syncWrite;
  }

  /**
   * @return the saved hard state, or {@link HardState#INITIAL} if none was ever saved
   * @throws StorageException on I/O failure or a corrupt value
   */
  public HardState loadHardState() {
    byte[] v = get(HARD_STATE_KEY);
    if (v == null) {
      return HardState.INITIAL;
    }
    if (v.length < 8) {
      throw new StorageException("corrupt hard state: " + v.length + " bytes");
    }
    long term = Bytes.getLong(v, 0);
    String vote = v.length == 8 ? null : new String(v, 8, v.length - 8, StandardCharsets.UTF_8);
    return new HardState(term, vote);
  }

  /**
   * Saves {@code state} durably (fsync) before returning, as Raft requires before answering a
   * vote or a higher-term message.
   *
   * @throws StorageException on I/O failure
   */
  public void saveHardState(HardState state) {
    byte[] vote = state.votedFor() == null ? new byte[0] : state.votedFor().getBytes(StandardCharsets.UTF_8);
    byte[] v = new byte[8 + vote.length];
    Bytes.putLong(v, 0, state.term());
    System.arraycopy(vote, 0, v, 8, vote.length);
    put(HARD_STATE_KEY, v);
  }

  /**
   * @param key a name of the caller's choosing
   * @return the value, or {@code null}
   * @throws StorageException on I/O failure
   */
  public byte[] get(byte[] key) {
    try {
      return db.get(cf, key);
    } catch (RocksDBException e) {
      throw new StorageException("meta read failed", e);
    }
  }

  /**
   * Writes {@code value} under {@code key}, fsync'd.
   *
   * @throws StorageException on I/O failure
   */
  public void put(byte[] key, byte[] value) {
    try {
      db.put(cf, syncWrite, key, value);
    } catch (RocksDBException e) {
      throw new StorageException("meta write failed", e);
    }
  }

  /**
   * Deletes {@code key}, fsync'd.
   *
   * @throws StorageException on I/O failure
   */
  public void delete(byte[] key) {
    try {
      db.delete(cf, syncWrite, key);
    } catch (RocksDBException e) {
      throw new StorageException("meta delete failed", e);
    }
  }
}
