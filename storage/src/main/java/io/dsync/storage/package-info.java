/**
 * Embedded storage of a dsync node on RocksDB: the Raft log store, the durable Raft metadata
 * (term and vote), and the state machines' column families, written atomically together with
 * {@code lastApplied}.
 *
 * <p>Nothing here knows what a topic, a lock or a cache line is: keys and values are bytes. The
 * layers above ({@code raft-log}, {@code broker}) own their encodings.
 */
package io.dsync.storage;
