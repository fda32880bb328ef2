package io.dsync.gateway;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dsync.broker.BrokerException;
import io.dsync.broker.ErrorKind;
import io.javalin.http.Context;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes errors as {@code application/problem+json} (RFC 9457) with the stable {@code type}
 * values of API.md. Stateless and thread-safe.
 */
final class Problems {
  static final String CONTENT_TYPE = "application/problem+json";

  private Problems() {}

  /** Writes the problem for a broker refusal. */
  static void write(Context ctx, ObjectMapper json, BrokerException e) {
    int status = switch (e.kind()) {
      case BAD_REQUEST -> 400;
      case NOT_FOUND -> 404;
      case CONFLICT -> 409;
      case OFFSET_OUT_OF_RANGE -> 416;
      case PAYLOAD_TOO_LARGE -> 413;
      case NO_LEADER, OVERLOADED -> 503;
    };
    if (e.kind() == ErrorKind.NO_LEADER || e.kind() == ErrorKind.OVERLOADED) {
      ctx.header("Retry-After", "1");
    }
    write(ctx, json, status, type(e.kind()), e.getMessage(), e.extras());
  }

  /**
   * Writes a problem.
   *
   * @param status HTTP status
   * @param type the stable problem type (e.g. {@code bad-request})
   * @param detail a human explanation
   * @param extras extra fields
   */
  static void write(Context ctx, ObjectMapper json, int status, String type, String detail, Map<String, ?> extras) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("type", type);
    body.put("title", title(type));
    body.put("status", status);
    body.put("detail", detail);
    body.putAll(extras);
    ctx.status(status).contentType(CONTENT_TYPE);
    try {
      ctx.result(json.writeValueAsBytes(body));
    } catch (com.fasterxml.jackson.core.JsonProcessingException ex) {
      ctx.result("{\"type\":\"" + type + "\",\"status\":" + status + "}");
    }
  }

  static String type(ErrorKind kind) {
    return switch (kind) {
      case BAD_REQUEST -> "bad-request";
      case NOT_FOUND -> "not-found";
      case CONFLICT -> "conflict";
      case OFFSET_OUT_OF_RANGE -> "offset-out-of-range";
      case PAYLOAD_TOO_LARGE -> "payload-too-large";
      case NO_LEADER -> "no-leader";
      case OVERLOADED -> "overloaded";
    };
  }

  static String typeForStatus(int status) {
    return switch (status) {
      case 400, 405, 415 -> "bad-request";
      case 404 -> "not-found";
      case 409 -> "conflict";
      case 413 -> "payload-too-large";
      case 401 -> "unauthorized";
      case 403 -> "forbidden";
      case 503 -> "overloaded";
      default -> status >= 500 ? "internal" : "bad-request";
    };
  }

  private static String title(String type) {
    return switch (type) {
      case "bad-request" -> "Bad request";
      case "not-found" -> "Not found";
      case "conflict" -> "Conflict";
      case "offset-out-of-range" -> "Offset out of range";
      case "payload-too-large" -> "Payload too large";
      case "no-leader" -> "No leader";
      case "overloaded" -> "Overloaded";
      case "unauthorized" -> "Unauthorized";
      case "forbidden" -> "Forbidden";
      default -> "Internal error";
    };
  }
}
