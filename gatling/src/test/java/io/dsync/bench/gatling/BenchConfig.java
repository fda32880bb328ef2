package io.dsync.bench.gatling;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The knobs shared by the simulations, read from system properties ({@code -Dname=value} on the
 * Maven command line; the Gatling plugin passes them to the simulation's JVM), and a tiny
 * blocking HTTP helper for setup steps that must not count in Gatling's statistics.
 *
 * <ul>
 *   <li>{@code baseUrl}: the node, default {@code http://127.0.0.1:8080}
 *   <li>{@code topic}: default {@code bench}
 *   <li>{@code partitions}: partitions of the topic if the simulation creates it, default 4
 *   <li>{@code users}: concurrent virtual users (each one HTTP connection), per simulation
 *   <li>{@code duration}: seconds, per simulation
 * </ul>
 */
public final class BenchConfig {
  /** The node's base URL, no trailing slash. */
  public static final String BASE_URL = stripSlash(System.getProperty("baseUrl", "http://127.0.0.1:8080"));

  /** The topic the simulations use. */
  public static final String TOPIC = System.getProperty("topic", "bench");

  /** Partitions of the topic when ProduceSimulation creates it. */
  public static final int PARTITIONS = intProperty("partitions", 4, 1);

  private static final HttpClient CLIENT =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).version(HttpClient.Version.HTTP_1_1).build();

  private BenchConfig() {}

  /**
   * @param name system property
   * @param dflt value when unset
   * @param min smallest accepted value
   * @return the property as an int
   * @throws IllegalArgumentException if it is not an integer {@code >= min}
   */
  public static int intProperty(String name, int dflt, int min) {
    String v = System.getProperty(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    int n;
    try {
      n = Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("-D" + name + " must be an integer, got '" + v + "'");
    }
    if (n < min) {
      throw new IllegalArgumentException("-D" + name + " must be >= " + min + ", got " + n);
    }
    return n;
  }

  /**
   * Sends one request outside Gatling (setup and teardown steps).
   *
   * @param method HTTP method
   * @param path path from the base URL, starting with {@code /}
   * @param jsonBody request body, or {@code null} for none
   * @return the response, body as a string
   * @throws IllegalStateException if the node cannot be reached
   */
  public static HttpResponse<String> call(String method, String path, String jsonBody) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(BASE_URL.split(",")[0] + path)) // the first node
        .timeout(Duration.ofSeconds(30))
        .header("Accept", "application/json");
    if (jsonBody == null) {
      b.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(jsonBody));
    }
    try {
      return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new IllegalStateException("cannot reach the dsync node at " + BASE_URL + " (" + e
          + "); start one first, e.g. `./dsync run` in another terminal, or pass -DbaseUrl=...", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /**
   * Formats a rate for the summary lines.
   *
   * @param count events
   * @param nanos elapsed time in ns
   * @return events per second, one decimal
   */
  public static String perSecond(long count, long nanos) {
    return String.format("%.1f", nanos <= 0 ? 0.0 : count * 1e9 / nanos);
  }

  private static String stripSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }
}
