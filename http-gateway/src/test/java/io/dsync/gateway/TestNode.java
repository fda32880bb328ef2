package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A real node on 127.0.0.1 (free port, given data dir) and a real HTTP client for it. Every
 * answer is recorded so that a test can assert that no request ever got a 5xx.
 */
final class TestNode implements AutoCloseable {
  /** Parses answers; floats as BigDecimal so that number round trips are compared exactly. */
  static final ObjectMapper JSON =
      JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS).build();

  private static final HttpClient CLIENT =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

  /** An HTTP answer. */
  record Res(int status, String contentType, String retryAfter, byte[] bytes) {
    String text() {
      return new String(bytes, StandardCharsets.UTF_8);
    }

    JsonNode json() {
      try {
        return JSON.readTree(bytes);
      } catch (IOException e) {
        throw new AssertionError("answer is not JSON (" + status + "): " + text(), e);
      }
    }

    /** Asserts the status (showing the body on failure) and returns this. */
    Res expect(int expected) {
      assertEquals(expected, status, () -> "status; body: " + text());
      return this;
    }

    /** Asserts an RFC 9457 problem with the given status and type, and returns its body. */
    JsonNode problem(int expected, String type) {
      expect(expected);
      assertTrue(contentType != null && contentType.startsWith("application/problem+json"),
          () -> "content type " + contentType + " of " + text());
      JsonNode p = json();
      assertEquals(type, p.path("type").asText(), () -> "problem type of " + text());
      assertEquals(expected, p.path("status").asInt(), () -> "problem status of " + text());
      assertTrue(p.path("title").isTextual() && !p.path("title").asText().isEmpty(), () -> "title of " + text());
      assertTrue(p.path("detail").isTextual() && !p.path("detail").asText().isEmpty(), () -> "detail of " + text());
      return p;
    }
  }

  final Node node;
  final URI base;
  private final List<String> serverErrors = Collections.synchronizedList(new ArrayList<>());

  /** Wraps a started node (the caller may wait with {@link #awaitReady}). */
  TestNode(Node node) {
    this.node = node;
    this.base = URI.create("http://127.0.0.1:" + node.httpPort());
  }

  /** Starts a node with the defaults on a free port and waits until it is ready. */
  static TestNode start(Path dir) {
    return start(NodeConfig.defaults().withPortAndDir(0, dir));
  }

  /** Starts a node with {@code config} and does not wait for it to be ready. */
  static TestNode startUnready(NodeConfig config) {
    return new TestNode(Node.start(config, false));
  }

  /** Starts a node with {@code config} and waits (at most 10 s) until {@code /ready} is 200. */
  static TestNode start(NodeConfig config) {
    TestNode n = startUnready(config);
    try {
      n.awaitReady();
    } catch (RuntimeException | AssertionError e) {
      n.close();
      throw e;
    }
    return n;
  }

  /**
   * Sends a request that must be refused: a {@code status} problem of {@code type}, with nothing
   * that {@code state} shows changed by it.
   *
   * @param body the JSON body, or null for none
   * @param state renders the state the request must not change (topics, offsets, Raft indexes...)
   * @return the problem
   */
  JsonNode refusedUnchanged(String method, String path, String body, int status, String type,
      java.util.function.Supplier<String> state) {
    String before = state.get();
    Res r = body == null
        ? send(HttpRequest.newBuilder(uri(path)).method(method, HttpRequest.BodyPublishers.noBody()))
        : method(method, path, body);
    JsonNode p = r.problem(status, type);
    assertEquals(before, state.get(), "state changed by a refused " + method + " " + path);
    return p;
  }

  /** Polls {@code /ready} until 200, at most 10 s; returns how many 503s it saw. */
  int awaitReady() {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    int notReady = 0;
    while (true) {
      Res r = get("/ready");
      if (r.status() == 200) {
        return notReady;
      }
      r.problem(503, "no-leader");
      assertEquals("1", r.retryAfter(), "Retry-After of a 503");
      notReady++;
      if (System.nanoTime() > deadline) {
        fail("node not ready within 10 s: " + r.text());
      }
      sleep(20);
    }
  }

  Res get(String path) {
    return send(HttpRequest.newBuilder(uri(path)).GET());
  }

  Res delete(String path) {
    return send(HttpRequest.newBuilder(uri(path)).DELETE());
  }

  Res post(String path, String json) {
    return post(path, BodyPublishers.ofString(json, StandardCharsets.UTF_8));
  }

  Res post(String path, BodyPublisher body) {
    return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json").POST(body));
  }

  Res method(String method, String path, String json) {
    return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json")
        .method(method, BodyPublishers.ofString(json, StandardCharsets.UTF_8)));
  }

  Res send(HttpRequest.Builder b) {
    HttpRequest req = b.timeout(Duration.ofSeconds(30)).build();
    try {
      HttpResponse<byte[]> r = CLIENT.send(req, BodyHandlers.ofByteArray());
      Res res = new Res(r.statusCode(), r.headers().firstValue("Content-Type").orElse(null),
          r.headers().firstValue("Retry-After").orElse(null), r.body());
      if (res.status() >= 500 && res.status() != 503) {
        serverErrors.add(req.method() + " " + req.uri() + " -> " + res.status() + " " + res.text());
      }
      return res;
    } catch (IOException e) {
      throw new AssertionError(req.method() + " " + req.uri() + " failed: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  URI uri(String path) {
    return URI.create(base + path);
  }

  /**
   * @return every request that got a 5xx other than 503 (which has its own problem types) since
   *     the last call
   */
  List<String> drainServerErrors() {
    synchronized (serverErrors) {
      List<String> out = List.copyOf(serverErrors);
      serverErrors.clear();
      return out;
    }
  }

  /** @return the sum of {@code dsync_http_requests_total} over every 5xx status, from /metrics */
  double serverErrorsCounted() {
    double sum = 0;
    for (String l : get("/metrics").expect(200).text().lines().toList()) {
      if (l.startsWith("dsync_http_requests_total{") && l.contains("status=\"5")) {
        sum += Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  // ------------------------------------------------------------------ shortcuts

  /** Creates a topic with {@code partitions} partitions; asserts 201. */
  JsonNode createTopic(String name, int partitions) {
    return post("/v1/topics", "{\"name\":\"" + name + "\",\"partitions\":" + partitions + "}").expect(201).json();
  }

  /** Produces {@code body}; asserts 200 and returns the offsets array. */
  JsonNode produce(String topic, String body) {
    return post("/v1/topics/" + topic + "/records", body).expect(200).json().get("offsets");
  }

  /** Fetches; asserts 200. */
  JsonNode fetch(String topic, int partition, String query) {
    return get("/v1/topics/" + topic + "/partitions/" + partition + "/records" + query).expect(200).json();
  }

  /** @return each partition's end offset of {@code topic} */
  List<Long> endOffsets(String topic) {
    List<Long> out = new ArrayList<>();
    for (JsonNode p : get("/v1/topics/" + topic).expect(200).json().get("partition_offsets")) {
      out.add(p.get("end_offset").asLong());
    }
    return out;
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  @Override
  public void close() {
    node.close();
  }
}
