/**
 * Deterministic placement of keys onto cluster members by consistent hashing.
 *
 * <p>The central type is {@link io.dsync.broker.ring.ConsistentHashRing}, an immutable ring that
 * maps a key (bytes or a UTF-8 string) to one member using the consistent hashing scheme of Karger
 * et al., "Consistent hashing and random trees: distributed caching protocols for relieving hot
 * spots on the World Wide Web" (STOC 1997), with a configurable number of virtual nodes per member
 * to even out load. Positions and key hashes are 64-bit XXH3 values from hash4j, and every step of
 * construction and lookup is a pure function of the member set, the virtual-node count and the
 * member names (no hash-map iteration order, no randomness, no clock), so replicas of a replicated
 * state machine that build a ring from the same inputs always agree on placement. Adding or
 * removing one member moves only about {@code 1/n} of the keys, and only to or from that member.
 * Rings are safe to share between threads without synchronisation.
 */
package io.dsync.broker.ring;
