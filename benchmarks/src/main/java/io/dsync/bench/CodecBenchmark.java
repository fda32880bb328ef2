package io.dsync.bench;

import com.google.protobuf.ByteString;
import io.dsync.broker.CommandCodec;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.proto.Command;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * CPU cost of the broker's command codec ({@link CommandCodec}, protobuf), on records of
 * {@value #RECORD_BYTES} bytes of value (a JSON string, as the HTTP gateway stores it) with a
 * distinct 10-character key and no headers.
 *
 * <p><b>Units: every score is records per second</b> ({@code ops/s}, throughput mode, one
 * thread):
 *
 * <ul>
 *   <li>{@link #produceEncode} and {@link #produceDecode} handle one {@value #BATCH}-record
 *       produce command per call and are normalized with
 *       {@code @OperationsPerInvocation(}{@value #BATCH}{@code )}: divide the score by
 *       {@value #BATCH} for commands (batches) per second;
 *   <li>{@link #encodeRecord} and {@link #decodeStored} handle one record per call.
 * </ul>
 *
 * <p>Inputs are built once per trial; each call returns its result so JMH consumes it (no dead
 * code elimination). The same inputs (about 100 KiB for a command) are reused by every call and
 * stay in the CPU caches, so the scores are best cases for the codec's CPU cost: on the broker
 * the bytes arrive cold from the network or the log.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
@Warmup(iterations = 3, time = 5)
@Measurement(iterations = 5, time = 10)
public class CodecBenchmark {
  /** Records in one produce command. */
  public static final int BATCH = 100;

  /** Size of one record's value (the JSON string including its quotes), in bytes. */
  public static final int RECORD_BYTES = 1024;

  private static final String TOPIC = "bench";

  private List<RecordIn> records;
  private List<byte[]> encodedRecords;
  private int[] partitions;
  private byte[] produceCommand;
  private byte[] storedRecord;
  private RecordIn oneRecord;

  /** Builds the records, their encodings, one produce command and one stored record. */
  @Setup(Level.Trial)
  public void setUp() {
    SplittableRandom random = new SplittableRandom(42);
    records = new ArrayList<>(BATCH);
    encodedRecords = new ArrayList<>(BATCH);
    partitions = new int[BATCH];
    for (int i = 0; i < BATCH; i++) {
      RecordIn r = new RecordIn(String.format("key-%06d", i), jsonStringValue(random), false, List.of(), 0);
      records.add(r);
      encodedRecords.add(CommandCodec.encodeRecord(r));
      partitions[i] = i % 8;
    }
    produceCommand = CommandCodec.produce(TOPIC, partitions, encodedRecords);
    oneRecord = records.get(0);
    storedRecord = CommandCodec.storedRecord(System.currentTimeMillis(), ByteString.copyFrom(encodedRecords.get(0)));
    // Sanity: the inputs round-trip, so the benchmark measures working code.
    if (CommandCodec.decode(produceCommand).getProduce().getRecordsCount() != BATCH
        || CommandCodec.decodeStored(0, storedRecord).value().length != RECORD_BYTES) {
      throw new IllegalStateException("codec round trip failed");
    }
  }

  /** A JSON string of exactly {@link #RECORD_BYTES} bytes: quotes around random letters. */
  private static byte[] jsonStringValue(SplittableRandom random) {
    byte[] v = new byte[RECORD_BYTES];
    v[0] = '"';
    v[RECORD_BYTES - 1] = '"';
    for (int i = 1; i < RECORD_BYTES - 1; i++) {
      v[i] = (byte) ('a' + random.nextInt(26));
    }
    return new String(v, StandardCharsets.US_ASCII).getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Encodes one produce command of {@value #BATCH} already encoded records (what the leader does
   * per HTTP produce request before proposing). Score: records/s.
   *
   * @return the encoded command
   */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public byte[] produceEncode() {
    return CommandCodec.produce(TOPIC, partitions, encodedRecords);
  }

  /**
   * Decodes and validates one produce command of {@value #BATCH} records (what every node does
   * per applied entry). Score: records/s.
   *
   * @return the decoded command
   */
  @Benchmark
  @OperationsPerInvocation(BATCH)
  public Command produceDecode() {
    return CommandCodec.decode(produceCommand);
  }

  /**
   * Encodes one record as a protobuf {@code Record}. Score: records/s.
   *
   * @return the encoded record
   */
  @Benchmark
  public byte[] encodeRecord() {
    return CommandCodec.encodeRecord(oneRecord);
  }

  /**
   * Decodes one stored record (what a fetch does per record read). Score: records/s.
   *
   * @return the decoded record
   */
  @Benchmark
  public FetchedRecord decodeStored() {
    return CommandCodec.decodeStored(42, storedRecord);
  }
}
