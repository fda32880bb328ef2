package io.dsync.raft.sim;

import io.dsync.raft.Entry;
import io.dsync.raft.RaftCore;
import io.dsync.storage.HardState;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The durable part of one simulated node: its hard state and its log, exactly what survives a
 * crash. Every write here is already fsync'd (see {@link SimNode} for the crash model), so a
 * crash keeps all of it.
 *
 * <p>Besides the entries it keeps, for every index {@code i}, a 64-bit hash of the whole prefix
 * {@code [1, i]}: two logs agree on everything up to {@code i} exactly when their prefix hashes
 * at {@code i} are equal (up to a 2^-64 collision), which makes the log-matching and
 * leader-completeness checks O(1) per entry instead of O(log length).
 *
 * <p>Not thread-safe; one simulation owns it.
 */
final class SimDisk implements RaftCore.StableLog {
  private HardState hardState = HardState.INITIAL;
  private final ArrayList<Entry> entries = new ArrayList<>();
  /** prefix[i] = hash of entries 1..i; prefix[0] = 0. */
  private long[] prefix = new long[256];

  HardState hardState() {
    return hardState;
  }

  void saveHardState(HardState hs) {
    hardState = hs;
  }

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
    for (long i = Math.max(1, from); i < toExclusive && i <= entries.size(); i++) {
      Entry e = entries.get((int) i - 1);
      if (!out.isEmpty() && bytes + e.approximateBytes() > maxBytes) {
        break;
      }
      out.add(e);
      bytes += e.approximateBytes();
    }
    return out;
  }

  /** @return the term of the entry at {@code index}, 0 for index 0, -1 if absent */
  long termAt(long index) {
    if (index == 0) {
      return 0;
    }
    Entry e = entry(index);
    return e == null ? -1 : e.term();
  }

  /** @return the hash of entries {@code [1, index]}; {@code index} must be in {@code [0, lastIndex]} */
  long prefixHash(long index) {
    return prefix[(int) index];
  }

  /**
   * What the driver's log append does (one RocksDB WriteBatch: delete from {@code from} on, put
   * the new entries, fsync): replaces everything stored at or after {@code from}.
   *
   * @throws IllegalStateException if the append would leave a gap or the entries are not
   *     consecutive from {@code from} — the core handed out an impossible Ready
   */
  void append(long from, List<Entry> es) {
    if (es.isEmpty()) {
      return;
    }
    if (from < 1 || from > entries.size() + 1) {
      throw new IllegalStateException("append at " + from + " would leave a gap after " + entries.size());
    }
    entries.subList((int) from - 1, entries.size()).clear();
    for (Entry e : es) {
      if (e.index() != entries.size() + 1) {
        throw new IllegalStateException(
            "Ready entries not consecutive: entry " + e.index() + " after " + entries.size()
                + " (entriesFromIndex " + from + ")");
      }
      entries.add(e);
      int i = entries.size();
      if (i >= prefix.length) {
        prefix = Arrays.copyOf(prefix, prefix.length * 2);
      }
      prefix[i] = mix(prefix[i - 1] * 0x100000001B3L ^ entryHash(e));
    }
  }

  /** @return a 64-bit hash of everything in {@code e}: index, term, type, stamp and data */
  static long entryHash(Entry e) {
    long h = mix(e.index() * 0x9E3779B97F4A7C15L + e.term());
    h = mix(h ^ e.type().ordinal());
    h = mix(h ^ e.timestampMs());
    byte[] d = e.data();
    long x = d.length;
    for (byte b : d) {
      x = x * 31 + b;
    }
    return mix(h ^ x ^ ((long) Arrays.hashCode(d) << 32));
  }

  /** SplitMix64's finalizer. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
