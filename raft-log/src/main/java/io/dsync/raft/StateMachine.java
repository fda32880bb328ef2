package io.dsync.raft;

import java.util.List;

/**
 * A deterministic state machine fed with committed entries (Raft §5.3, "state machine safety").
 *
 * <p>Contract: {@link #apply} is called from one thread, with entries in log order and without
 * gaps, starting at {@link #lastApplied()} + 1. It must be deterministic — no clock but
 * {@link Entry#timestampMs()}, no randomness, no iteration over unordered collections, no I/O
 * but its own state — and must persist its changes together with the new {@code lastApplied}
 * atomically, so that a crash never leaves them disagreeing.
 */
public interface StateMachine {
  /**
   * Applies committed entries.
   *
   * @param entries consecutive committed entries (no-op and config entries included: the machine
   *     only records their index)
   * @return one result per entry, in order, handed to whoever proposed it ({@code null} for
   *     entries without a result)
   */
  List<Object> apply(List<Entry> entries);

  /** @return the index of the last entry whose effects are durable in the state (0 if none) */
  long lastApplied();

  /**
   * Called on the apply thread after the driver replaced the state on disk with a snapshot from
   * the leader (Raft §7): the machine reloads whatever it keeps in memory from its column
   * families. The default does nothing (machines that read only from disk).
   */
  default void restored() {}
}
