package io.dsync.broker;

import java.util.Map;

/**
 * A request the broker refuses, with the reason's {@link ErrorKind}, a human {@code detail} and
 * extra fields for the client (e.g. {@code earliest_offset}). Nothing was changed by a request
 * that ends in this exception, except where a write's outcome is unknown ({@link ErrorKind#NO_LEADER}
 * and {@link ErrorKind#OVERLOADED} after proposing; the message says so).
 */
public final class BrokerException extends RuntimeException {
  private final ErrorKind kind;
  private final Map<String, Object> extras;

  /**
   * @param kind the reason
   * @param detail a human explanation naming the offending value
   * @param extras extra problem fields (snake_case names), possibly empty
   */
  public BrokerException(ErrorKind kind, String detail, Map<String, Object> extras) {
    super(detail);
    this.kind = kind;
    this.extras = Map.copyOf(extras);
  }

  /** Same as {@code BrokerException(kind, detail, Map.of())}. */
  public BrokerException(ErrorKind kind, String detail) {
    this(kind, detail, Map.of());
  }

  /** @return the reason */
  public ErrorKind kind() {
    return kind;
  }

  /** @return extra problem fields */
  public Map<String, Object> extras() {
    return extras;
  }
}
