/**
 * The broker: the command codec, the deterministic state machines that run on the Raft log
 * (topics, records, consumer-group offsets; queues, locks and the cache's key-value store come
 * next), and the {@link io.dsync.broker.Broker} facade that validates requests, proposes
 * commands and returns their results.
 */
package io.dsync.broker;
