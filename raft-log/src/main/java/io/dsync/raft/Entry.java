package io.dsync.raft;

import io.dsync.raft.proto.EntryType;
import io.dsync.raft.proto.LogEntry;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;

/**
 * One Raft log entry.
 *
 * @param index its position in the log, from 1
 * @param term the leader's term when it was appended
 * @param type normal command, leader no-op, or configuration change
 * @param timestampMs the appending leader's clock, ms since the epoch (the state machines' only
 *     source of time)
 * @param data the command bytes (empty for no-ops); never modified after construction
 * @param originNode for a proposal a follower forwarded to the leader, that follower's id, so it
 *     can answer its client when it applies the entry; {@code ""} otherwise. Not part of the
 *     command: state machines never see it
 * @param originId the forwarding follower's id for the proposal ({@code 0} without an origin)
 */
public record Entry(long index, long term, EntryType type, long timestampMs, byte[] data, String originNode, long originId) {
  /** An entry without an origin: proposed on the leader itself, or a no-op or configuration. */
  public Entry(long index, long term, EntryType type, long timestampMs, byte[] data) {
    this(index, term, type, timestampMs, data, "", 0);
  }

  /** The on-disk format version this code writes and reads. */
  public static final int FORMAT_VERSION = 1;

  /** @return the protobuf encoding stored in the log */
  public byte[] encode() {
    return LogEntry.newBuilder()
        .setFormatVersion(FORMAT_VERSION)
        .setTerm(term)
        .setIndex(index)
        .setType(type)
        .setTimestampMs(timestampMs)
        .setData(UnsafeByteOperations.unsafeWrap(data)) // data is never modified (see the record doc)
        .setOriginNode(originNode)
        .setOriginId(originId)
        .build()
        .toByteArray();
  }

  /** @return the size of {@link #data()} plus a fixed overhead, in bytes, for batching limits */
  public int approximateBytes() {
    return data.length + 32;
  }

  /**
   * Decodes an entry written by {@link #encode()}.
   *
   * @throws CorruptEntryException if the bytes are not an entry or come from an unknown format
   *     version
   */
  public static Entry decode(byte[] bytes) {
    try {
      LogEntry e = LogEntry.parseFrom(bytes);
      if (e.getFormatVersion() != FORMAT_VERSION) {
        throw new CorruptEntryException(
            "unknown log entry format version " + e.getFormatVersion() + " (this build reads "
                + FORMAT_VERSION + ")");
      }
      return new Entry(e.getIndex(), e.getTerm(), e.getType(), e.getTimestampMs(), e.getData().toByteArray(),
          e.getOriginNode(), e.getOriginId());
    } catch (InvalidProtocolBufferException ex) {
      throw new CorruptEntryException("undecodable log entry: " + ex.getMessage());
    }
  }

  /** A stored entry that cannot be read: a bug or a disk corruption; the node must stop. */
  public static final class CorruptEntryException extends RuntimeException {
    /** @param message what is wrong */
    public CorruptEntryException(String message) {
      super(message);
    }
  }
}
