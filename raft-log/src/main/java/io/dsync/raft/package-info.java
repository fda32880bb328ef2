/**
 * Raft consensus (Ongaro &amp; Ousterhout, "In Search of an Understandable Consensus Algorithm",
 * USENIX ATC 2014; Ongaro's PhD thesis, 2014).
 *
 * <p>{@link io.dsync.raft.RaftCore} is the protocol as a pure, single-threaded state machine in
 * the shape of etcd's raft: it takes messages, ticks and proposals and hands back a
 * {@link io.dsync.raft.Ready} (what to persist, what to send, what to apply). It does no I/O and
 * reads no clock. {@link io.dsync.raft.RaftNode} is the driver around it: the disk (group commit:
 * one fsync per Ready), the timer, the transport and the apply thread.
 *
 * <p>Nothing here knows what a topic, a lock or a cache line is: commands are opaque bytes
 * applied by a {@link io.dsync.raft.StateMachine}.
 */
package io.dsync.raft;
