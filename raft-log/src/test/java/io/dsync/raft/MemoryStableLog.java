package io.dsync.raft;

import java.util.ArrayList;
import java.util.List;

/**
 * A test fake of {@link RaftCore.StableLog} (the Raft layer's own interface, not our storage): the
 * "disk" of a core driven by hand or by the in-memory cluster. {@link #persist(Ready)} does what a
 * driver's log append does — replace everything from {@link Ready#entriesFromIndex()} on.
 */
final class MemoryStableLog implements RaftCore.StableLog {
  private final List<Entry> entries = new ArrayList<>();

  @Override
  public long lastIndex() {
    return entries.size();
  }

  @Override
  public Entry entry(long index) {
    return index >= 1 && index <= entries.size() ? entries.get((int) index - 1) : null;
  }

  @Override
  public List<Entry> entries(long from, long toExclusive, long maxBytes) {
    List<Entry> out = new ArrayList<>();
    long bytes = 0;
    for (long i = from; i < toExclusive && i <= entries.size(); i++) {
      Entry e = entries.get((int) i - 1);
      if (!out.isEmpty() && bytes + e.approximateBytes() > maxBytes) {
        break;
      }
      out.add(e);
      bytes += e.approximateBytes();
    }
    return out;
  }

  /** Appends a Ready's entries, replacing any stored at or after their first index. */
  void persist(Ready rd) {
    if (rd.entries().isEmpty()) {
      return;
    }
    long from = rd.entriesFromIndex();
    if (from < 1 || from > entries.size() + 1) {
      throw new AssertionError("append at " + from + " would leave a gap after " + entries.size());
    }
    if (rd.entries().get(0).index() != from) {
      throw new AssertionError("first entry " + rd.entries().get(0).index() + " != entriesFromIndex " + from);
    }
    entries.subList((int) from - 1, entries.size()).clear();
    for (Entry e : rd.entries()) {
      if (e.index() != entries.size() + 1) {
        throw new AssertionError("non-contiguous entry " + e.index() + " after " + entries.size());
      }
      entries.add(e);
    }
  }

  /** @return a copy of every stored entry, in index order */
  List<Entry> all() {
    return List.copyOf(entries);
  }
}
