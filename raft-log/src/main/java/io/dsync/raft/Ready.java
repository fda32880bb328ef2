package io.dsync.raft;

import io.dsync.storage.HardState;
import java.util.List;

/**
 * What the driver must do after feeding the core (the shape of etcd raft's {@code Ready}): save
 * the hard state and the entries (one fsync), then send the messages, then apply the committed
 * entries, then call {@link RaftCore#advance(Ready)}.
 *
 * @param hardState the term/vote to save before anything else, or {@code null} if unchanged
 * @param entriesFromIndex the index of the first of {@code entries}; entries already stored at
 *     or after it are replaced (meaningless when {@code entries} is empty)
 * @param entries new entries to append durably
 * @param messages to send once the hard state and entries are durable
 * @param committedEntries entries to apply to the state machine, in order; always empty when
 *     {@code snapshotChunk} is a last chunk (the snapshot's state already contains them)
 * @param snapshotChunk a chunk of a snapshot from the leader to write into the state before the
 *     messages go out (the last chunk replaces the log), or {@code null}
 * @param sendSnapshotTo followers that need a snapshot: the driver streams one to each
 * @param readStates ReadIndex requests confirmed by a quorum: each may be served once the state
 *     machine applied its index (thesis §6.4)
 */
public record Ready(
    HardState hardState,
    long entriesFromIndex,
    List<Entry> entries,
    List<RaftMessage> messages,
    List<Entry> committedEntries,
    RaftMessage.InstallSnapshot snapshotChunk,
    List<String> sendSnapshotTo,
    List<ReadState> readStates) {

  /**
   * A confirmed read.
   *
   * @param context the id the read was requested with
   * @param index the commit index to wait for before serving it; -1 if it was refused (this node
   *     lost leadership)
   */
  public record ReadState(long context, long index) {}

  /** A Ready without snapshot work. */
  public Ready(HardState hardState, long entriesFromIndex, List<Entry> entries, List<RaftMessage> messages,
      List<Entry> committedEntries) {
    this(hardState, entriesFromIndex, entries, messages, committedEntries, null, List.of(), List.of());
  }

  /** @return whether there is nothing to do */
  public boolean isEmpty() {
    return hardState == null && entries.isEmpty() && messages.isEmpty() && committedEntries.isEmpty()
        && snapshotChunk == null && sendSnapshotTo.isEmpty() && readStates.isEmpty();
  }
}
