package io.dsync.broker;

/**
 * Why a broker request failed, in the terms of the HTTP contract's problem types (API.md): the
 * gateway maps each kind to a status and a stable {@code type}.
 */
public enum ErrorKind {
  /** Malformed or out-of-limits input (400 {@code bad-request}). */
  BAD_REQUEST,
  /** Unknown topic, group or resource (404 {@code not-found}). */
  NOT_FOUND,
  /** The resource already exists or is in a conflicting state (409 {@code conflict}). */
  CONFLICT,
  /** The requested offset is outside the partition (416 {@code offset-out-of-range}). */
  OFFSET_OUT_OF_RANGE,
  /** The request is too large (413 {@code payload-too-large}). */
  PAYLOAD_TOO_LARGE,
  /** No leader is known or this node cannot reach it (503 {@code no-leader}). */
  NO_LEADER,
  /** A bounded queue is full or the write timed out (503 {@code overloaded}). */
  OVERLOADED
}
