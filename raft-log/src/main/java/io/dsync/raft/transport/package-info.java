/**
 * Transports that carry {@link io.dsync.raft.RaftMessage}s between peers.
 *
 * <ul>
 *   <li>{@link io.dsync.raft.transport.WireCodec}: the one mapping between messages and their
 *       protobuf frames ({@code raft_wire.proto}).
 *   <li>{@link io.dsync.raft.transport.GrpcTransport}: the real network, on gRPC streams with
 *       bounded per-peer queues, reconnect with backoff and a shared cluster secret.
 *   <li>{@link io.dsync.raft.transport.InMemoryNetwork} and {@link
 *       io.dsync.raft.transport.InMemoryTransport}: a caller-driven network for the deterministic
 *       simulation (no threads; the driver decides delivery, loss, duplication and partitions).
 * </ul>
 */
package io.dsync.raft.transport;
