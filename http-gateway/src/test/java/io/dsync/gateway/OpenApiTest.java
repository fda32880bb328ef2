package io.dsync.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.ParseOptions;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keeps the hand-kept {@code openapi.json} honest against a real node: the document is valid
 * OpenAPI, documents exactly the routes the app registers, its examples fit its schemas, real
 * answers of every documented operation fit the documented status codes, media types and schemas,
 * and Swagger UI is served at {@code /docs} from the webjar.
 *
 * <p>The schema check here is stricter than OpenAPI on one point: an object without
 * {@code additionalProperties} must not carry fields the document does not name, so a field added
 * to a DTO without documenting it fails the test.
 */
class OpenApiTest {
  /** Routes that serve the documentation itself; they are not part of the documented API. */
  private static final Set<String> DOC_ROUTES = Set.of("GET /openapi.json", "GET /docs");

  private static final List<String> METHODS =
      List.of("get", "put", "post", "delete", "patch", "head", "options", "trace");

  private static final ObjectMapper MAPPER = new ObjectMapper();

  @TempDir static Path dir;

  private static Node node;
  private static HttpClient http;
  private static String base;

  @BeforeAll
  static void startNode() throws Exception {
    node = Node.start(NodeConfig.defaults().withPortAndDir(0, dir), false);
    base = "http://127.0.0.1:" + node.httpPort();
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (send("GET", "/ready", null).statusCode() != 200) {
      if (System.nanoTime() > deadline) {
        fail("the node did not become ready within 20 s");
      }
      Thread.sleep(50);
    }
  }

  @AfterAll
  static void stopNode() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void servedDocumentIsValidOpenApi() throws Exception {
    HttpResponse<String> r = send("GET", "/openapi.json", null);
    assertEquals(200, r.statusCode());
    assertTrue(contentType(r).startsWith("application/json"), contentType(r));

    ParseOptions options = new ParseOptions();
    options.setResolve(true);
    SwaggerParseResult result = new OpenAPIV3Parser().readContents(r.body(), null, options);
    assertNotNull(result.getOpenAPI(), "swagger-parser could not read the document: " + result.getMessages());
    assertEquals(List.of(), result.getMessages(), "swagger-parser found problems");
    assertTrue(result.getOpenAPI().getPaths().size() > 0);
  }

  @Test
  void documentedOperationsAreExactlyTheRegisteredRoutes() throws Exception {
    // The same route table as the running node's: HttpApi.create, with Javalin's handlerAdded event.
    Set<String> registered = new TreeSet<>();
    HttpApi.create(node.config(), node.broker(), new PrometheusRegistry(), meta -> {
      if (meta.getHttpMethod().isHttpMethod()) {
        registered.add(meta.getHttpMethod().name() + " " + meta.getPath());
      }
    });
    assertTrue(registered.containsAll(DOC_ROUTES), "expected the doc routes among " + registered);
    registered.removeAll(DOC_ROUTES);

    assertEquals(registered, documentedOperations(document()));
  }

  @Test
  void examplesFitTheirSchemas() throws Exception {
    JsonNode doc = document();
    List<String> errors = new ArrayList<>();
    for (String op : documentedOperations(doc)) {
      JsonNode operation = operation(doc, op);
      JsonNode body = deref(doc, operation.path("requestBody"));
      for (Map.Entry<String, JsonNode> media : fields(body.path("content"))) {
        checkExamples(doc, op + " request " + media.getKey(), media.getValue(), errors);
      }
      for (Map.Entry<String, JsonNode> response : fields(operation.path("responses"))) {
        JsonNode resolved = deref(doc, response.getValue());
        for (Map.Entry<String, JsonNode> media : fields(resolved.path("content"))) {
          checkExamples(doc, op + " " + response.getKey() + " " + media.getKey(), media.getValue(), errors);
        }
      }
      for (JsonNode p : parameters(doc, op)) {
        if (p.has("example")) {
          check(doc, op + " parameter " + p.path("name").asText(), p.get("example"), p.get("schema"), errors);
        }
      }
    }
    assertEquals(List.of(), errors);
  }

  @Test
  void realAnswersOfEveryOperationFitTheDocument() throws Exception {
    JsonNode doc = document();
    Calls calls = new Calls(doc);

    calls.expect("GET", "/health", "/health", null, 200);
    calls.expect("GET", "/ready", "/ready", null, 200);
    calls.expect("GET", "/metrics", "/metrics", null, 200);
    calls.expect("GET", "/v1/cluster/status", "/v1/cluster/status", null, 200);
    calls.expect("GET", "/v1/cluster/status", "/v1/cluster/status?state_hash=true", null, 200);
    calls.expect("POST", "/v1/cluster/leader-transfer", "/v1/cluster/leader-transfer", "{\"to\":\"n1\"}", 200);
    calls.expect("POST", "/v1/cluster/leader-transfer", "/v1/cluster/leader-transfer", "{\"to\":\"nope\"}", 400);
    // A single node has no peer transport: membership changes are refused (their 201/200 answers
    // are exercised on real clusters by ClusterMembershipIT).
    calls.expect("POST", "/v1/cluster/members", "/v1/cluster/members",
        "{\"id\":\"n4\",\"raft_address\":\"127.0.0.1:9083\",\"http_address\":\"127.0.0.1:8083\"}", 400);
    calls.expect("DELETE", "/v1/cluster/members/{id}", "/v1/cluster/members/n9", null, 404);
    calls.expect("DELETE", "/v1/cluster/members/{id}", "/v1/cluster/members/n1", null, 409);

    String topic = "/v1/topics/{topic}";
    calls.expect("POST", "/v1/topics", "/v1/topics", "{\"name\":\"oa\",\"partitions\":2,\"retention_ms\":60000}", 201);
    calls.expect("POST", "/v1/topics", "/v1/topics", "{\"name\":\"oa\"}", 409);
    calls.expect("POST", "/v1/topics", "/v1/topics", "{\"name\":\"oa2\",\"partitions\":\"2\"}", 400);
    calls.expect("POST", "/v1/topics", "/v1/topics", "{\"name\":", 400);
    calls.expect("GET", "/v1/topics", "/v1/topics", null, 200);
    calls.expect("GET", topic, "/v1/topics/oa", null, 200);
    calls.expect("GET", topic, "/v1/topics/no-such-topic", null, 404);
    calls.expect("GET", topic, "/v1/topics/bad%20name", null, 400);

    String records = "/v1/topics/{topic}/records";
    calls.expect("POST", records, "/v1/topics/oa/records", """
        {"records":[
          {"key":"k1","value":{"a":[1,2.5,"x",null,true]},"headers":{"h":"v"},"priority":3},
          {"value":"text"},
          {"value_base64":"AAECAw=="},
          {"key":"k2","value":null}]}""", 200);
    calls.expect("POST", records, "/v1/topics/oa/records", "{\"records\":[]}", 400);
    calls.expect("POST", records, "/v1/topics/oa/records", "{\"records\":[{\"value\":1,\"priority\":10}]}", 400);
    calls.expect("POST", records, "/v1/topics/no-such-topic/records", "{\"records\":[{\"value\":1}]}", 404);

    String fetch = "/v1/topics/{topic}/partitions/{partition}/records";
    JsonNode p0 = calls.expect("GET", fetch, "/v1/topics/oa/partitions/0/records", null, 200);
    JsonNode p1 = calls.expect("GET", fetch, "/v1/topics/oa/partitions/1/records?offset=0&max_records=10", null, 200);
    assertEquals(4, p0.path("records").size() + p1.path("records").size(), "all produced records come back");
    calls.expect("GET", fetch, "/v1/topics/oa/partitions/0/records?offset=999", null, 416);
    calls.expect("GET", fetch, "/v1/topics/oa/partitions/9/records", null, 404);
    calls.expect("GET", fetch, "/v1/topics/oa/partitions/0/records?max_records=0", null, 400);

    String offsets = "/v1/groups/{group}/offsets";
    calls.expect("POST", offsets, "/v1/groups/g1/offsets",
        "{\"offsets\":[{\"topic\":\"oa\",\"partition\":0,\"offset\":1}]}", 200);
    calls.expect("POST", offsets, "/v1/groups/g1/offsets",
        "{\"offsets\":[{\"topic\":\"oa\",\"partition\":5,\"offset\":1}]}", 404);
    calls.expect("POST", offsets, "/v1/groups/g1/offsets", "{\"offsets\":[{\"topic\":\"oa\"}]}", 400);
    calls.expect("GET", offsets, "/v1/groups/g1/offsets", null, 200);
    calls.expect("GET", offsets, "/v1/groups/g1/offsets?topic=oa", null, 200);
    calls.expect("GET", offsets, "/v1/groups/g1/offsets?topic=no-such-topic", null, 404);

    calls.expect("POST", records, "/v1/topics/oa/records",
        "{\"records\":[{\"value\":1}],\"producer_id\":\"p1\",\"sequence\":0}", 200);
    calls.expect("POST", records, "/v1/topics/oa/records",
        "{\"records\":[{\"value\":1}],\"producer_id\":\"p1\",\"sequence\":0}", 200);
    for (int s = 1; s <= 5; s++) {
      calls.expect("POST", records, "/v1/topics/oa/records",
          "{\"records\":[{\"value\":1}],\"producer_id\":\"p1\",\"sequence\":" + s + "}", 200);
    }
    calls.expect("POST", records, "/v1/topics/oa/records",
        "{\"records\":[{\"value\":1}],\"producer_id\":\"p1\",\"sequence\":0}", 409);
    calls.expect("POST", records, "/v1/topics/oa/records", "{\"records\":[{\"value\":1}],\"sequence\":0}", 400);

    String group = "/v1/groups/{group}";
    String members = "/v1/groups/{group}/members";
    String member = "/v1/groups/{group}/members/{member_id}";
    String heartbeat = "/v1/groups/{group}/members/{member_id}/heartbeat";
    calls.expect("POST", members, "/v1/groups/g1/members",
        "{\"member_id\":\"c1\",\"topics\":[\"oa\"],\"session_timeout_ms\":10000}", 200);
    calls.expect("POST", members, "/v1/groups/g1/members", "{\"topics\":[\"oa\"]}", 200);
    calls.expect("POST", members, "/v1/groups/g1/members", "{\"topics\":[\"oa\"],\"session_timeout_ms\":10}", 400);
    calls.expect("POST", members, "/v1/groups/g1/members", "{\"topics\":[\"no-such-topic\"]}", 404);
    calls.expect("POST", heartbeat, "/v1/groups/g1/members/c1/heartbeat", null, 200);
    calls.expect("POST", heartbeat, "/v1/groups/g1/members/nobody/heartbeat", null, 404);
    calls.expect("POST", heartbeat, "/v1/groups/g1/members/bad%20name/heartbeat", null, 400);
    calls.expect("GET", group, "/v1/groups/g1", null, 200);
    calls.expect("GET", group, "/v1/groups/no-such-group", null, 404);
    calls.expect("GET", group, "/v1/groups/bad%20name", null, 400);
    calls.expect("DELETE", member, "/v1/groups/g1/members/c1", null, 200);
    calls.expect("DELETE", member, "/v1/groups/g1/members/c1", null, 404);
    calls.expect("DELETE", member, "/v1/groups/bad%20name/members/c1", null, 400);
    String leases = "/v1/topics/{topic}/leases";
    JsonNode leased = calls.expect("POST", leases, "/v1/topics/oa/leases",
        "{\"group\":\"w\",\"max_records\":3,\"visibility_timeout_ms\":60000,\"max_wait_ms\":0}", 200);
    assertEquals(3, leased.path("records").size());
    String id0 = leased.path("records").get(0).path("lease_id").asText();
    String id1 = leased.path("records").get(1).path("lease_id").asText();
    String id2 = leased.path("records").get(2).path("lease_id").asText();
    calls.expect("POST", leases, "/v1/topics/oa/leases", "{\"group\":\"w\",\"max_records\":0}", 400);
    calls.expect("POST", leases, "/v1/topics/no-such-topic/leases", "{\"group\":\"w\"}", 404);
    String extend = "/v1/topics/{topic}/leases/extend";
    calls.expect("POST", extend, "/v1/topics/oa/leases/extend",
        "{\"group\":\"w\",\"lease_ids\":[\"" + id0 + "\",\"1.0.0.1\"],\"visibility_timeout_ms\":120000}", 200);
    calls.expect("POST", extend, "/v1/topics/oa/leases/extend", "{\"group\":\"w\",\"lease_ids\":[\"" + id0 + "\"]}", 400);
    calls.expect("POST", extend, "/v1/topics/oa/leases/extend",
        "{\"group\":\"nobody\",\"lease_ids\":[\"" + id0 + "\"],\"visibility_timeout_ms\":1000}", 404);
    for (String action : List.of("acks", "releases", "rejects")) {
      String template = "/v1/topics/{topic}/" + action;
      String path = "/v1/topics/oa/" + action;
      String id = action.equals("acks") ? id0 : action.equals("releases") ? id1 : id2;
      calls.expect("POST", template, path, "{\"group\":\"w\",\"lease_ids\":[\"" + id + "\",\"1.0.0.1\"]}", 200);
      calls.expect("POST", template, path, "{\"group\":\"w\",\"lease_ids\":[\"not-an-id\"]}", 400);
      calls.expect("POST", template, path, "{\"group\":\"nobody\",\"lease_ids\":[\"" + id + "\"]}", 404);
    }

    calls.expect("DELETE", topic, "/v1/topics/oa", null, 204);
    calls.expect("DELETE", topic, "/v1/topics/oa", null, 404);

    assertEquals(List.of(), calls.errors);
    assertEquals(documentedOperations(doc), calls.exercised, "every documented operation was called");
  }

  @Test
  void docsServeSwaggerUiFromTheWebjar() throws Exception {
    HttpResponse<String> page = send("GET", "/docs", null);
    assertEquals(200, page.statusCode());
    assertTrue(contentType(page).startsWith("text/html"), contentType(page));
    String html = page.body();
    assertTrue(html.contains("SwaggerUIBundle"), "the page starts Swagger UI");
    assertTrue(html.contains("\"/openapi.json\""), "the page points Swagger UI at /openapi.json");
    assertTrue(!html.contains("${"), "the webjar version was filled in by resource filtering");

    Matcher js = Pattern.compile("src=\"(/webjars/swagger-ui/[^\"/]+/swagger-ui-bundle\\.js)\"").matcher(html);
    assertTrue(js.find(), "the page loads swagger-ui-bundle.js from the webjar");
    HttpResponse<String> bundle = send("GET", js.group(1), null);
    assertEquals(200, bundle.statusCode(), js.group(1));
    assertTrue(contentType(bundle).contains("javascript"), contentType(bundle));
    assertTrue(bundle.body().length() > 100_000, "the bundle is the real one");

    Matcher css = Pattern.compile("href=\"(/webjars/swagger-ui/[^\"/]+/swagger-ui\\.css)\"").matcher(html);
    assertTrue(css.find(), "the page loads swagger-ui.css from the webjar");
    HttpResponse<String> style = send("GET", css.group(1), null);
    assertEquals(200, style.statusCode(), css.group(1));
    assertTrue(contentType(style).startsWith("text/css"), contentType(style));
  }

  // ------------------------------------------------------------------ calls against the node

  /** Sends requests, checks each answer against the document, and records what was exercised. */
  private static final class Calls {
    final JsonNode doc;
    final List<String> errors = new ArrayList<>();
    final Set<String> exercised = new TreeSet<>();

    Calls(JsonNode doc) {
      this.doc = doc;
    }

    /** Sends one request, expects {@code status}, and checks status, media type and body against the doc. */
    JsonNode expect(String method, String template, String path, String body, int status) throws Exception {
      String op = method + " " + template;
      String where = method + " " + path + " -> " + status;
      HttpResponse<String> r = send(method, path, body);
      assertEquals(status, r.statusCode(), where + ": " + r.body());
      exercised.add(op);
      JsonNode operation = operation(doc, op);
      assertNotNull(operation, op + " is not documented");

      if (body != null && status / 100 == 2) {
        JsonNode schema = deref(doc, operation.path("requestBody")).path("content").path("application/json").get("schema");
        check(doc, where + " request", MAPPER.readTree(body), schema, errors);
      }
      JsonNode response = operation.path("responses").get(Integer.toString(status));
      if (response == null) {
        errors.add(where + ": status " + status + " is not documented");
        return null;
      }
      response = deref(doc, response);
      JsonNode content = response.path("content");
      if (content.isEmpty()) {
        if (!r.body().isEmpty()) {
          errors.add(where + ": documented without a body, answered " + r.body());
        }
        return null;
      }
      String type = contentType(r).toLowerCase(Locale.ROOT);
      for (Map.Entry<String, JsonNode> media : fields(content)) {
        if (type.startsWith(media.getKey())) {
          if (!media.getKey().endsWith("json")) {
            return null;
          }
          JsonNode value = MAPPER.readTree(r.body());
          check(doc, where, value, media.getValue().get("schema"), errors);
          if (status == 503 && r.headers().firstValue("Retry-After").isEmpty()) {
            errors.add(where + ": 503 without Retry-After");
          }
          return value;
        }
      }
      errors.add(where + ": media type " + type + " is not documented for " + status);
      return null;
    }
  }

  private static HttpResponse<String> send(String method, String path, String body) throws IOException,
      InterruptedException {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(30));
    if (body == null) {
      b.method(method, HttpRequest.BodyPublishers.noBody());
    } else {
      b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  private static String contentType(HttpResponse<?> r) {
    return r.headers().firstValue("Content-Type").orElse("");
  }

  // ------------------------------------------------------------------ the document

  private static JsonNode document() throws Exception {
    HttpResponse<String> r = send("GET", "/openapi.json", null);
    assertEquals(200, r.statusCode());
    return MAPPER.readTree(r.body());
  }

  /** @return "METHOD /path" of every operation in the document */
  private static Set<String> documentedOperations(JsonNode doc) {
    Set<String> ops = new TreeSet<>();
    for (Map.Entry<String, JsonNode> path : fields(doc.path("paths"))) {
      for (String m : METHODS) {
        if (path.getValue().has(m)) {
          ops.add(m.toUpperCase(Locale.ROOT) + " " + path.getKey());
        }
      }
    }
    return ops;
  }

  private static JsonNode operation(JsonNode doc, String op) {
    int space = op.indexOf(' ');
    return doc.path("paths").path(op.substring(space + 1)).get(op.substring(0, space).toLowerCase(Locale.ROOT));
  }

  /** @return the path-level and operation-level parameters of an operation, dereferenced */
  private static List<JsonNode> parameters(JsonNode doc, String op) {
    List<JsonNode> out = new ArrayList<>();
    JsonNode pathItem = doc.path("paths").path(op.substring(op.indexOf(' ') + 1));
    for (JsonNode p : pathItem.path("parameters")) {
      out.add(deref(doc, p));
    }
    for (JsonNode p : operation(doc, op).path("parameters")) {
      out.add(deref(doc, p));
    }
    return out;
  }

  /** Follows local {@code $ref}s ("#/components/..."). */
  private static JsonNode deref(JsonNode doc, JsonNode node) {
    while (node != null && node.has("$ref")) {
      String ref = node.get("$ref").asText();
      assertTrue(ref.startsWith("#/"), "only local refs are used: " + ref);
      node = doc.at(ref.substring(1));
      assertTrue(!node.isMissingNode(), "dangling ref " + ref);
    }
    return node;
  }

  private static void checkExamples(JsonNode doc, String where, JsonNode media, List<String> errors) {
    JsonNode schema = media.get("schema");
    if (media.has("example")) {
      check(doc, where + " example", media.get("example"), schema, errors);
    }
    for (Map.Entry<String, JsonNode> e : fields(media.path("examples"))) {
      check(doc, where + " example " + e.getKey(), deref(doc, e.getValue()).get("value"), schema, errors);
    }
  }

  /**
   * Checks a JSON value against the subset of OpenAPI 3.0 schemas the document uses: type,
   * nullable, enum, required, properties, additionalProperties (absent: no other fields), items,
   * min/maxItems, minimum/maximum, pattern, maxLength.
   */
  private static void check(JsonNode doc, String where, JsonNode value, JsonNode schemaOrRef, List<String> errors) {
    if (schemaOrRef == null) {
      errors.add(where + ": no schema");
      return;
    }
    if (value == null) {
      errors.add(where + ": no value");
      return;
    }
    JsonNode schema = deref(doc, schemaOrRef);
    String type = schema.has("type") ? schema.get("type").asText() : null;
    if (value.isNull()) {
      if (type != null && !schema.path("nullable").asBoolean(false)) {
        errors.add(where + ": null, but the schema is not nullable");
      }
      return;
    }
    if (schema.has("enum")) {
      boolean listed = false;
      for (JsonNode e : schema.get("enum")) {
        listed |= e.equals(value);
      }
      if (!listed) {
        errors.add(where + ": " + value + " is not in " + schema.get("enum"));
      }
    }
    if (type == null) {
      return; // any JSON value
    }
    switch (type) {
      case "object" -> {
        if (!value.isObject()) {
          errors.add(where + ": expected an object, got " + value);
          return;
        }
        for (JsonNode r : schema.path("required")) {
          if (!value.has(r.asText())) {
            errors.add(where + ": required field '" + r.asText() + "' is missing in " + value);
          }
        }
        JsonNode props = schema.path("properties");
        JsonNode additional = schema.get("additionalProperties");
        for (Map.Entry<String, JsonNode> f : fields(value)) {
          String at = where + "." + f.getKey();
          if (props.has(f.getKey())) {
            check(doc, at, f.getValue(), props.get(f.getKey()), errors);
          } else if (additional != null && additional.isObject()) {
            check(doc, at, f.getValue(), additional, errors);
          } else if (additional == null || !additional.asBoolean()) {
            errors.add(at + ": field not in the document");
          }
        }
      }
      case "array" -> {
        if (!value.isArray()) {
          errors.add(where + ": expected an array, got " + value);
          return;
        }
        if (schema.has("minItems") && value.size() < schema.get("minItems").asInt()
            || schema.has("maxItems") && value.size() > schema.get("maxItems").asInt()) {
          errors.add(where + ": " + value.size() + " items is out of the documented bounds");
        }
        for (int i = 0; i < value.size(); i++) {
          check(doc, where + "[" + i + "]", value.get(i), schema.get("items"), errors);
        }
      }
      case "string" -> {
        if (!value.isTextual()) {
          errors.add(where + ": expected a string, got " + value);
          return;
        }
        if (schema.has("pattern") && !Pattern.compile(schema.get("pattern").asText()).matcher(value.asText()).find()) {
          errors.add(where + ": '" + value.asText() + "' does not match " + schema.get("pattern").asText());
        }
        if (schema.has("maxLength") && value.asText().length() > schema.get("maxLength").asInt()) {
          errors.add(where + ": longer than " + schema.get("maxLength").asInt());
        }
      }
      case "integer" -> {
        if (!value.isIntegralNumber()) {
          errors.add(where + ": expected an integer, got " + value);
          return;
        }
        if (schema.has("minimum") && value.asLong() < schema.get("minimum").asLong()
            || schema.has("maximum") && value.asLong() > schema.get("maximum").asLong()) {
          errors.add(where + ": " + value + " is out of the documented bounds");
        }
      }
      case "number" -> {
        if (!value.isNumber()) {
          errors.add(where + ": expected a number, got " + value);
        }
      }
      case "boolean" -> {
        if (!value.isBoolean()) {
          errors.add(where + ": expected a boolean, got " + value);
        }
      }
      default -> errors.add(where + ": unknown schema type " + type);
    }
  }

  private static List<Map.Entry<String, JsonNode>> fields(JsonNode node) {
    return node == null ? List.of() : new ArrayList<>(node.properties());
  }
}
