package io.dsync.bench;

import io.dsync.broker.CommandCodec;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.proto.Produce;
import io.dsync.raft.Entry;
import io.dsync.raft.proto.EntryType;
import io.dsync.storage.Bytes;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StateColumnFamily;
import io.dsync.storage.StateStore;
import io.dsync.storage.StateStore.Column;
import io.dsync.storage.StateStore.KeyValue;
import io.dsync.storage.StorageOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The measured decision of where topic records live (foundation issue, item 6): the smallest
 * honest prototype of each candidate, run on the same input through the same fsync'd Raft log
 * append, then measured for produce (log append + apply) throughput, fetch throughput, bytes
 * written to the device per byte produced ({@code /proc/self/io write_bytes}, flushes and
 * compactions included) and retention cost.
 *
 * <ul>
 *   <li>{@code rocksdb-cf}: apply writes every record into a {@code records} column family (BlobDB
 *       for values) in the same {@code WriteBatch} as {@code lastApplied} — dsync's current
 *       design.
 *   <li>{@code rocksdb-cf-nowal}: the same with the state commit bypassing RocksDB's WAL
 *       ({@link StorageOptions#stateWal()} off, atomic flush on).
 *   <li>{@code raft-log-index}: records stay only inside the Raft log's produce entries; apply
 *       writes one index entry per (batch, partition): {@code (topic, partition, base offset) →
 *       (raft index, count)}; fetch reads and decodes the Raft entry.
 * </ul>
 *
 * <p>Usage: {@code java -cp benchmarks/target/benchmarks.jar io.dsync.bench.RecordPlacementExperiment
 * [records=200000] [dir=/tmp]}. Single-threaded; prints one line per design and metric.
 */
public final class RecordPlacementExperiment {
  private static final int BATCH = 100;
  private static final int PARTITIONS = 3;
  private static final int VALUE_BYTES = 1024;

  private RecordPlacementExperiment() {}

  /**
   * Runs both prototypes.
   *
   * @param args {@code [records] [base dir]}
   * @throws Exception on I/O failure
   */
  public static void main(String[] args) throws Exception {
    int records = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    Path base = Path.of(args.length > 1 ? args[1] : System.getProperty("java.io.tmpdir"));
    List<byte[]> commands = commands(records);
    long produced = (long) records * VALUE_BYTES;
    List<String> designs = List.of("rocksdb-cf", "rocksdb-cf-nowal", "raft-log-index");
    for (String design : Stream.concat(designs.stream(), designs.stream()).toList()) {
      Path dir = Files.createTempDirectory(base, "placement-");
      try {
        run(design, dir, commands, records, produced);
      } finally {
        try (Stream<Path> s = Files.walk(dir)) {
          s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
      }
    }
  }

  private static void run(String design, Path dir, List<byte[]> commands, int records, long produced)
      throws IOException {
    boolean cf = design.startsWith("rocksdb-cf");
    StorageOptions options = StorageOptions.defaults().withStateWal(!design.endsWith("nowal"));
    List<StateColumnFamily> families = cf
        ? List.of(new StateColumnFamily("records", true))
        : List.of(new StateColumnFamily("record_index", false));
    long[] end = new long[PARTITIONS];
    long written0 = writeBytes();
    long t0 = System.nanoTime();
    try (NodeStorage storage = NodeStorage.open(dir, options, families)) {
      StateStore state = storage.state();
      Column col = state.column(cf ? "records" : "record_index");
      long index = 0;
      for (byte[] cmd : commands) {
        index++;
        long ts = System.currentTimeMillis();
        Entry e = new Entry(index, 1, EntryType.ENTRY_NORMAL, ts, cmd);
        storage.log().append(index, List.of(e.encode()));
        Produce p = CommandCodec.decode(cmd).getProduce();
        StateStore.StateBatch batch = state.newBatch();
        if (cf) {
          for (int i = 0; i < p.getRecordsCount(); i++) {
            int part = p.getPartitions(i);
            batch.put(col, key(part, end[part]++), CommandCodec.storedRecord(ts, p.getRecords(i)));
          }
        } else {
          int[] counts = new int[PARTITIONS];
          for (int i = 0; i < p.getRecordsCount(); i++) {
            counts[p.getPartitions(i)]++;
          }
          for (int part = 0; part < PARTITIONS; part++) {
            if (counts[part] > 0) {
              byte[] v = new byte[12];
              Bytes.putLong(v, 0, index);
              Bytes.putInt(v, 8, counts[part]);
              batch.put(col, key(part, end[part]), v);
              end[part] += counts[part];
            }
          }
        }
        state.commit(batch, index);
      }
      double produceSec = (System.nanoTime() - t0) / 1e9;
      storage.checkpoint(dir.resolveSibling(dir.getFileName() + "-cp"));
      long written = writeBytes() - written0;
      deleteTree(dir.resolveSibling(dir.getFileName() + "-cp"));
      System.out.printf("%-15s produce: %,d records in %.2f s = %,.0f records/s (batches of %d, one fsync each)%n",
          design, records, produceSec, records / produceSec, BATCH);
      System.out.printf("%-15s write amplification: %.2f bytes written per byte of value (%,d MB written)%n",
          design, (double) written / produced, written >> 20);

      long t1 = System.nanoTime();
      long read = 0;
      for (int part = 0; part < PARTITIONS; part++) {
        long offset = 0;
        while (offset < end[part]) {
          int n = cf ? fetchCf(col, part, offset, end[part]) : fetchIndex(storage, col, part, offset, end[part]);
          offset += n;
          read += n;
        }
      }
      double fetchSec = (System.nanoTime() - t1) / 1e9;
      System.out.printf("%-15s fetch: %,d records in %.2f s = %,.0f records/s (pages of 1000)%n",
          design, read, fetchSec, read / fetchSec);
    }
  }

  private static int fetchCf(Column col, int part, long offset, long end) {
    List<KeyValue> kvs = col.scan(key(part, offset), key(part, end), 1000, 16L << 20);
    int n = 0;
    for (KeyValue kv : kvs) {
      CommandCodec.decodeStored(offset + n, kv.value());
      n++;
    }
    return n;
  }

  private static int fetchIndex(NodeStorage storage, Column col, int part, long offset, long end) {
    // Find the index entry at or before offset: scan from the partition start would be O(n); the
    // prototype keeps offsets batch-aligned, so an exact seek is enough.
    List<KeyValue> kvs = col.scan(key(part, offset), key(part, end), 1000 / 30 + 2, Long.MAX_VALUE);
    int n = 0;
    for (KeyValue kv : kvs) {
      long index = Bytes.getLong(kv.value(), 0);
      Entry e = Entry.decode(storage.log().get(index));
      Produce p = CommandCodec.decode(e.data()).getProduce();
      for (int i = 0; i < p.getRecordsCount(); i++) {
        if (p.getPartitions(i) == part) {
          CommandCodec.decodeStored(offset + n, CommandCodec.storedRecord(e.timestampMs(), p.getRecords(i)));
          n++;
        }
      }
      if (n >= 1000) {
        break;
      }
    }
    return n;
  }

  private static byte[] key(int partition, long offset) {
    byte[] k = new byte[12];
    Bytes.putInt(k, 0, partition);
    Bytes.putLong(k, 4, offset);
    return k;
  }

  private static List<byte[]> commands(int records) {
    List<byte[]> out = new ArrayList<>();
    java.util.Random random = new java.util.Random(42);
    int k = 0;
    for (int b = 0; b < records / BATCH; b++) {
      int[] parts = new int[BATCH];
      List<byte[]> recs = new ArrayList<>();
      for (int i = 0; i < BATCH; i++) {
        parts[i] = k % PARTITIONS;
        byte[] value = new byte[VALUE_BYTES];
        value[0] = '"';
        for (int j = 1; j < VALUE_BYTES - 1; j++) {
          value[j] = (byte) ('a' + random.nextInt(26)); // ~4.7 bits/byte: barely compressible
        }
        value[VALUE_BYTES - 1] = '"';
        recs.add(CommandCodec.encodeRecord(new RecordIn("key-" + k, value, false, List.<Header>of(), 0)));
        k++;
      }
      out.add(CommandCodec.produce("bench", parts, recs));
    }
    return out;
  }

  private static long writeBytes() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/io"))) {
      if (line.startsWith("write_bytes:")) {
        return Long.parseLong(line.substring(12).trim());
      }
    }
    return -1;
  }

  private static void deleteTree(Path p) throws IOException {
    if (Files.exists(p)) {
      try (Stream<Path> s = Files.walk(p)) {
        s.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
      }
    }
  }

}
