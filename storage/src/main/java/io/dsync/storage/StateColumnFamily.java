package io.dsync.storage;

/**
 * Declares one column family that a state machine keeps its state in.
 *
 * @param name the column family's name (ASCII, unique within the node; {@code raft_*} names are
 *     reserved)
 * @param blobValues whether values are stored in blob files (RocksDB BlobDB) instead of the LSM
 *     tree: worth it for large values such as topic records, where it keeps compaction from
 *     rewriting payloads
 */
public record StateColumnFamily(String name, boolean blobValues) {
  /**
   * @throws IllegalArgumentException if the name is empty, not plain ASCII, or reserved
   */
  public StateColumnFamily {
    if (name == null || name.isEmpty() || !name.matches("[a-z0-9_]{1,64}")) {
      throw new IllegalArgumentException("column family name must match [a-z0-9_]{1,64}: " + name);
    }
    if (name.startsWith("raft_") || name.equals("default")) {
      throw new IllegalArgumentException("column family name is reserved: " + name);
    }
  }
}
