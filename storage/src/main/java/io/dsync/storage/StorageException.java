package io.dsync.storage;

/**
 * An I/O failure of the embedded store (a {@code RocksDBException} underneath). Unchecked: a
 * node cannot go on safely after its disk failed, so callers let it propagate and stop.
 */
public final class StorageException extends RuntimeException {
  /**
   * @param message what was being done
   * @param cause the underlying failure
   */
  public StorageException(String message, Throwable cause) {
    super(message, cause);
  }

  /** @param message what went wrong */
  public StorageException(String message) {
    super(message);
  }
}
