package io.dsync.raft.story;

import io.dsync.raft.Entry;
import io.dsync.raft.RaftCore;
import java.util.ArrayList;
import java.util.List;

/**
 * The "disk" of one story node: the persisted log after an optional snapshot, as a driver keeps
 * it (entries after {@link #snapshotIndex()} only). It survives {@code crash}/{@code restart};
 * {@link #compact} and {@link #installSnapshot} do what {@code RaftNode} does to its RocksDB log
 * (Raft §7): purge the prefix a snapshot covers, or — on install — the whole log.
 *
 * <p>Not thread-safe; one story runs on one thread.
 */
final class StoryLog implements RaftCore.StableLog {
  private final List<Entry> entries = new ArrayList<>();
  private long snapshotIndex;
  private long snapshotTerm;
  private io.dsync.raft.Membership snapshotConfig;

  @Override
  public long lastIndex() {
    return snapshotIndex + entries.size();
  }

  @Override
  public Entry entry(long index) {
    return index > snapshotIndex && index <= lastIndex() ? entries.get((int) (index - snapshotIndex - 1)) : null;
  }

  @Override
  public List<Entry> entries(long from, long toExclusive, long maxBytes) {
    if (from <= snapshotIndex) {
      throw new IllegalStateException("entries from " + from + " asked, but the log was compacted through "
          + snapshotIndex);
    }
    List<Entry> out = new ArrayList<>();
    long bytes = 0;
    for (long i = from; i < toExclusive && i <= lastIndex(); i++) {
      Entry e = entry(i);
      if (!out.isEmpty() && bytes + e.approximateBytes() > maxBytes) {
        break;
      }
      out.add(e);
      bytes += e.approximateBytes();
    }
    return out;
  }

  @Override
  public long snapshotIndex() {
    return snapshotIndex;
  }

  @Override
  public long snapshotTerm() {
    return snapshotTerm;
  }

  /** Appends entries starting at {@code from}, replacing any stored at or after it (a Ready's append). */
  void persist(long from, List<Entry> toAppend) {
    if (toAppend.isEmpty()) {
      return;
    }
    if (from <= snapshotIndex || from > lastIndex() + 1) {
      throw new AssertionError("append at " + from + " does not fit a log holding (" + snapshotIndex + ", "
          + lastIndex() + "]");
    }
    entries.subList((int) (from - snapshotIndex - 1), entries.size()).clear();
    for (Entry e : toAppend) {
      if (e.index() != lastIndex() + 1) {
        throw new AssertionError("non-contiguous entry " + e.index() + " after " + lastIndex());
      }
      entries.add(e);
    }
  }

  /**
   * Purges entries up to {@code index}: the state snapshot now covers them.
   *
   * @return the term of the entry at {@code index}
   */
  long compact(long index, io.dsync.raft.Membership configAtIndex) {
    snapshotConfig = configAtIndex;
    return compact(index);
  }

  private long compact(long index) {
    Entry e = entry(index);
    if (e == null) {
      throw new IllegalArgumentException("no entry " + index + " on disk to compact through (log holds ("
          + snapshotIndex + ", " + lastIndex() + "])");
    }
    entries.subList(0, (int) (index - snapshotIndex)).clear();
    snapshotIndex = index;
    snapshotTerm = e.term();
    return snapshotTerm;
  }

  /** Replaces the log by a snapshot received from the leader (RaftNode discards the whole log). */
  void installSnapshot(long index, long term, io.dsync.raft.Membership config) {
    entries.clear();
    snapshotConfig = config;
    snapshotIndex = index;
    snapshotTerm = term;
  }

  @Override
  public io.dsync.raft.Membership snapshotConfig() {
    return snapshotConfig;
  }

  /** @return the entries after the snapshot, in index order */
  List<Entry> all() {
    return List.copyOf(entries);
  }
}
