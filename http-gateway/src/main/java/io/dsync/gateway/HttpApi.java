package io.dsync.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.dsync.broker.Broker;
import io.dsync.broker.BrokerException;
import io.dsync.broker.ErrorKind;
import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchResult;
import io.dsync.broker.Model.ExtendedLease;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.LeaseOutcome;
import io.dsync.broker.Model.LeasedRecord;
import io.dsync.broker.Model.PartitionInfo;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.Model.TopicInfo;
import io.dsync.raft.Transport;
import io.dsync.raft.transport.GrpcTransport;
import io.javalin.Javalin;
import io.javalin.event.HandlerMetaInfo;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.javalin.json.JavalinJackson;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP routes of a node (API.md), as one table in {@link #create}. Handlers parse, call one
 * {@link Broker} method and write JSON; errors become problem+json through the exception
 * mappers. Thread-safe: handlers run concurrently on virtual threads.
 */
public final class HttpApi {
  private static final Logger log = LoggerFactory.getLogger(HttpApi.class);

  /**
   * The JSON mapper of the API: snake_case, strict types, unknown fields refused. Floats are read
   * as {@link java.math.BigDecimal} with their scale, so that a record's JSON value round-trips
   * exactly (as a double, {@code 1e400} would come back as the string "Infinity" and
   * {@code 3.14159265358979323846} would lose digits).
   */
  static final ObjectMapper JSON = jsonMapper();

  private final Broker broker;
  private final HttpMetrics metrics;
  private final NodeConfig config;
  /** The peer transport, for the fault-injection test hook; null when there is none. */
  private final Transport transport;

  private HttpApi(Broker broker, HttpMetrics metrics, NodeConfig config, Transport transport) {
    this.broker = broker;
    this.metrics = metrics;
    this.config = config;
    this.transport = transport;
  }

  /**
   * Builds the Javalin app of a node (not started).
   *
   * @param config the node's configuration (limits)
   * @param broker the broker the handlers call
   * @param registry the node's Prometheus registry, served on {@code /metrics}
   * @return the app; call {@code start(host, port)}
   */
  public static Javalin create(NodeConfig config, Broker broker, PrometheusRegistry registry) {
    return create(config, broker, registry, null, route -> {});
  }

  /**
   * Same as {@link #create(NodeConfig, Broker, PrometheusRegistry)} with the node's peer
   * transport, which the fault-injection test hook ({@link NodeConfig#enableFaultInjection()})
   * drives.
   *
   * @param transport the broker's peer transport, or null
   */
  public static Javalin create(NodeConfig config, Broker broker, PrometheusRegistry registry, Transport transport) {
    return create(config, broker, registry, transport, route -> {});
  }

  static Javalin create(
      NodeConfig config, Broker broker, PrometheusRegistry registry, Consumer<HandlerMetaInfo> onRoute) {
    return create(config, broker, registry, null, onRoute);
  }

  /**
   * Same as {@link #create(NodeConfig, Broker, PrometheusRegistry)}, and tells {@code onRoute}
   * about every HTTP route as Javalin registers it (Javalin's {@code handlerAdded} event). A test
   * hook: {@code OpenApiTest} compares the registered routes with {@code openapi.json}.
   *
   * @param onRoute called once per registered route (method and path as written in the table)
   */
  static Javalin create(NodeConfig config, Broker broker, PrometheusRegistry registry, Transport transport,
      Consumer<HandlerMetaInfo> onRoute) {
    HttpMetrics metrics = new HttpMetrics(registry, broker);
    HttpApi api = new HttpApi(broker, metrics, config, transport);
    LeaderForwarder leader = new LeaderForwarder(config, broker);
    GroupsHttp groups = new GroupsHttp(broker);
    return Javalin.create(c -> {
      c.events.handlerAdded(onRoute);
      // Swagger UI's files (org.webjars:swagger-ui) under /webjars/swagger-ui/<version>/, for /docs.
      c.staticFiles.enableWebjars();
      c.concurrency.useVirtualThreads = true;
      c.startup.showJavalinBanner = false;
      c.events.serverStopped(leader::close);
      c.http.maxRequestSize = config.maxBodyBytes();
      c.http.defaultContentType = "application/json";
      c.jsonMapper(new JavalinJackson(JSON, false));
      c.requestLogger.http(metrics::observe);

      var r = c.routes;
      r.get("/health", ctx -> ctx.json(Map.of("status", "ok")));
      r.get("/ready", api::ready);
      r.get("/metrics", metrics::scrape);
      r.get("/openapi.json", ctx -> resource(ctx, "/openapi.json", "application/json"));
      r.get("/docs", ctx -> resource(ctx, "/docs.html", "text/html"));
      r.get("/v1/cluster/status", api::status);
      r.post("/v1/cluster/leader-transfer", leader.writes(api::leaderTransfer));
      r.post("/v1/cluster/members", leader.writes(api::addMember));
      r.delete("/v1/cluster/members/{id}", leader.writes(api::removeMember));

      r.post("/v1/topics", leader.writes(api::createTopic));
      r.get("/v1/topics", leader.reads(api::listTopics));
      r.get("/v1/topics/{topic}", leader.reads(api::getTopic));
      r.delete("/v1/topics/{topic}", leader.writes(api::deleteTopic));
      r.post("/v1/topics/{topic}/records",
          leader.proposedAnywhere(api::produce, ctx -> broker.hasTopic(ctx.pathParam("topic"))));
      r.get("/v1/topics/{topic}/partitions/{partition}/records", leader.reads(api::fetch));

      r.post("/v1/topics/{topic}/leases", leader.longPollWrites(api::lease));
      r.post("/v1/topics/{topic}/leases/extend", leader.writes(api::extend));
      r.post("/v1/topics/{topic}/acks", leader.writes(api::ack));
      r.post("/v1/topics/{topic}/releases", leader.writes(api::release));
      r.post("/v1/topics/{topic}/rejects", leader.writes(api::reject));

      r.post("/v1/groups/{group}/offsets", leader.writes(api::commitOffsets));
      r.get("/v1/groups/{group}/offsets", leader.reads(api::committedOffsets));
      r.get("/v1/groups/{group}", leader.reads(groups::describe));
      r.post("/v1/groups/{group}/members", leader.writes(groups::join));
      r.post("/v1/groups/{group}/members/{member_id}/heartbeat", leader.writes(groups::heartbeat));
      r.delete("/v1/groups/{group}/members/{member_id}", leader.writes(groups::leave));

      if (config.enableFaultInjection()) { // a test hook: absent (404) unless the node was started with it
        r.post("/v1/debug/faults", api::faults);
      }

      r.exception(BrokerException.class, (e, ctx) -> Problems.write(ctx, JSON, e));
      r.exception(BadInput.class, (e, ctx) -> Problems.write(ctx, JSON, 400, "bad-request", e.getMessage(), Map.of()));
      r.exception(HttpResponseException.class, (e, ctx) -> Problems.write(ctx, JSON, e.getStatus(),
          Problems.typeForStatus(e.getStatus()), e.getStatus() == 404 ? "no such route: " + ctx.method() + " " + ctx.path()
              : e.getStatus() == 413 ? "request body larger than " + config.maxBodyBytes() + " bytes" : e.getMessage(),
          Map.of()));
      r.exception(Exception.class, (e, ctx) -> {
        log.error("internal error on {} {}", ctx.method(), ctx.path(), e);
        Problems.write(ctx, JSON, 500, "internal", "internal error: " + e.getClass().getSimpleName(), Map.of());
      });
    });
  }

  // ------------------------------------------------------------------ cluster

  private void ready(Context ctx) {
    if (broker.isReady()) {
      ctx.json(Map.of("status", "ready"));
    } else {
      ctx.header("Retry-After", "1");
      Problems.write(ctx, JSON, 503, "no-leader", "the node has no leader yet or is still applying its log", Map.of());
    }
  }

  private void status(Context ctx) {
    boolean withHash = "true".equals(ctx.queryParam("state_hash"));
    long[] digest = withHash ? broker.stateDigest() : null;
    Broker.ClusterStatus s = broker.status();
    List<Dto.MemberDto> members = new ArrayList<>();
    for (Broker.MemberStatus m : s.members()) {
      NodeConfig.Peer p = config.peer(m.id()); // addresses from the flags when the configuration has none
      String raft = m.raftAddress() != null ? m.raftAddress() : p == null ? null : p.raftAddress();
      String http = m.httpAddress() != null ? m.httpAddress()
          : p != null ? p.httpAddress() : m.id().equals(s.nodeId()) ? ctx.host() : null;
      members.add(new Dto.MemberDto(m.id(), raft, http, m.role(), m.matchIndex()));
    }
    ctx.json(new Dto.StatusDto(s.nodeId(), s.role(), s.term(), s.leaderId(), s.commitIndex(),
        digest == null ? s.appliedIndex() : digest[0], s.lastIndex(), members,
        digest == null ? null : String.format("%016x", digest[1])));
  }

  /** {@code POST /v1/cluster/members}: adds a node as a learner; 201 with the member. */
  private void addMember(Context ctx) {
    Dto.AddMemberRequest req = body(ctx, Dto.AddMemberRequest.class);
    if (req.id() == null || req.raftAddress() == null || req.httpAddress() == null) {
      throw new BadInput("'id', 'raft_address' and 'http_address' are required");
    }
    Broker.MemberStatus m = broker.addMember(req.id(), req.raftAddress(), req.httpAddress());
    ctx.status(201).json(new Dto.MemberDto(m.id(), m.raftAddress(), m.httpAddress(), m.role(), m.matchIndex()));
  }

  /** {@code DELETE /v1/cluster/members/{id}}: removes a member; 200 {@code {"removed": id}}. */
  private void removeMember(Context ctx) {
    String id = ctx.pathParam("id");
    broker.removeMember(id);
    ctx.json(Map.of("removed", id));
  }

  private void leaderTransfer(Context ctx) {
    Dto.LeaderTransferRequest req = body(ctx, Dto.LeaderTransferRequest.class);
    if (req.to() == null) {
      throw new BadInput("'to' (a voter's id) is required");
    }
    ctx.json(Map.of("leader_id", broker.transferLeadership(req.to())));
  }

  /**
   * Test hook ({@code --enable-fault-injection} only, not in the OpenAPI document): {@code
   * {"isolate": ["n2","n3"]}} drops this node's Raft traffic with those peers both ways, {@code
   * {"isolate": []}} heals; answers {@code {"node_id","isolated"}}. Node-local: never forwarded.
   */
  private void faults(Context ctx) {
    Dto.FaultsRequest req = body(ctx, Dto.FaultsRequest.class);
    if (req.isolate() == null) {
      throw new BadInput("'isolate' (a list of peer ids, empty to heal) is required");
    }
    Set<String> ids = new TreeSet<>();
    for (String id : req.isolate()) {
      if (id == null || id.equals(config.nodeId()) || config.peer(id) == null) {
        throw new BadInput("'isolate' must name peers of this node other than itself, got " + id);
      }
      ids.add(id);
    }
    if (transport instanceof GrpcTransport t) {
      t.isolate(ids);
      ctx.json(Map.of("node_id", config.nodeId(), "isolated", t.isolated()));
    } else { // no peers, so ids is empty (checked above): nothing to cut
      ctx.json(Map.of("node_id", config.nodeId(), "isolated", List.of()));
    }
  }

  // ------------------------------------------------------------------ topics

  private void createTopic(Context ctx) {
    Dto.CreateTopicRequest req = body(ctx, Dto.CreateTopicRequest.class);
    if (req.name() == null) {
      throw new BadInput("'name' is required");
    }
    TopicInfo t = broker.createTopic(new TopicConfig(req.name(), req.partitions() == null ? 1 : req.partitions(),
        req.retentionMs() == null ? -1 : req.retentionMs(), req.retentionBytes() == null ? -1 : req.retentionBytes(),
        req.deliveryLimit() == null ? 0 : req.deliveryLimit(), req.deadLetterTopic()));
    ctx.status(201).json(topicDto(t));
  }

  private void listTopics(Context ctx) {
    List<Dto.TopicDto> out = new ArrayList<>();
    for (TopicInfo t : broker.topics()) {
      out.add(topicDto(t));
    }
    ctx.json(new Dto.TopicsDto(out));
  }

  private void getTopic(Context ctx) {
    ctx.json(topicDto(broker.topic(ctx.pathParam("topic"))));
  }

  private void deleteTopic(Context ctx) {
    broker.deleteTopic(ctx.pathParam("topic"));
    ctx.status(204);
  }

  private static Dto.TopicDto topicDto(TopicInfo t) {
    List<Dto.PartitionDto> ps = new ArrayList<>();
    for (PartitionInfo p : t.partitions()) {
      ps.add(new Dto.PartitionDto(p.partition(), p.startOffset(), p.endOffset()));
    }
    TopicConfig c = t.config();
    return new Dto.TopicDto(c.name(), c.partitions(), c.retentionMs(), c.retentionBytes(), c.deliveryLimit(),
        c.deadLetterTopic(), t.createdMs(), ps);
  }

  // ------------------------------------------------------------------ records

  private void produce(Context ctx) {
    String topic = ctx.pathParam("topic");
    Dto.ProduceRequest req = body(ctx, Dto.ProduceRequest.class);
    if (req.records() == null) {
      throw new BadInput("'records' is required");
    }
    if ((req.producerId() == null) != (req.sequence() == null)) {
      throw new BadInput("give 'producer_id' and 'sequence' together (idempotent produce), or neither");
    }
    List<RecordIn> records = new ArrayList<>(req.records().size());
    for (int i = 0; i < req.records().size(); i++) {
      records.add(recordIn(req.records().get(i), i));
    }
    List<RecordPosition> positions =
        broker.produce(topic, records, req.producerId(), req.sequence() == null ? 0 : req.sequence());
    List<Dto.OffsetDto> out = new ArrayList<>(positions.size());
    for (RecordPosition p : positions) {
      out.add(new Dto.OffsetDto(p.partition(), p.offset()));
    }
    metrics.producedRecords(records.size());
    ctx.json(new Dto.ProduceResponse(out));
  }

  private static RecordIn recordIn(Dto.RecordDto r, int i) {
    if (r == null) {
      throw new BadInput("record " + i + " is null");
    }
    byte[] value;
    boolean binary;
    if (r.valueBase64() != null) {
      if (r.value() != null) {
        throw new BadInput("record " + i + ": give 'value' or 'value_base64', not both");
      }
      try {
        value = Base64.getDecoder().decode(r.valueBase64());
      } catch (IllegalArgumentException e) {
        throw new BadInput("record " + i + ": value_base64 is not valid base64");
      }
      binary = true;
    } else if (r.value() != null) {
      value = r.value().utf8();
      binary = false;
    } else {
      throw new BadInput("record " + i + ": 'value' (any JSON) or 'value_base64' is required");
    }
    List<Header> headers = new ArrayList<>();
    if (r.headers() != null) {
      for (Map.Entry<String, String> h : r.headers().entrySet()) {
        headers.add(new Header(h.getKey(), h.getValue()));
      }
    }
    return new RecordIn(r.key(), value, binary, headers, r.priority() == null ? 0 : r.priority());
  }

  private void fetch(Context ctx) throws InterruptedException {
    String topic = ctx.pathParam("topic");
    int partition = (int) longParam(ctx.pathParam("partition"), "partition", 0, Integer.MAX_VALUE);
    long offset = longQuery(ctx, "offset", 0, 0, Long.MAX_VALUE);
    int maxRecords = (int) longQuery(ctx, "max_records", 100, 1, Integer.MAX_VALUE);
    long maxWaitMs = longQuery(ctx, "max_wait_ms", 0, 0, Long.MAX_VALUE);
    FetchResult f = broker.fetch(topic, partition, offset, maxRecords, maxWaitMs);
    metrics.fetchedRecords(f.records().size());
    try {
      ctx.contentType("application/json").result(FetchResponseWriter.write(f));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  // ------------------------------------------------------------------ queue consumption

  private void lease(Context ctx) throws InterruptedException {
    Dto.LeaseRequest req = body(ctx, Dto.LeaseRequest.class);
    requireGroup(req.group());
    List<LeasedRecord> leased = broker.lease(ctx.pathParam("topic"), req.group(),
        req.maxRecords() == null ? 10 : req.maxRecords(),
        req.visibilityTimeoutMs() == null ? 30_000 : req.visibilityTimeoutMs(),
        req.maxWaitMs() == null ? 0 : req.maxWaitMs());
    metrics.queueRecords("leased", leased.size());
    try {
      ctx.contentType("application/json").result(FetchResponseWriter.write(leased));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private void ack(Context ctx) {
    Dto.LeaseIdsRequest req = leaseIds(ctx);
    LeaseOutcome o = broker.ack(ctx.pathParam("topic"), req.group(), req.leaseIds());
    metrics.queueRecords("acked", o.settled());
    ctx.json(new Dto.AckResponse(o.settled(), o.unknown()));
  }

  private void release(Context ctx) {
    Dto.LeaseIdsRequest req = leaseIds(ctx);
    LeaseOutcome o = broker.release(ctx.pathParam("topic"), req.group(), req.leaseIds());
    metrics.queueRecords("released", o.settled());
    metrics.queueRecords("dead_lettered", o.deadLettered());
    ctx.json(new Dto.ReleaseResponse(o.settled(), o.deadLettered(), o.unknown()));
  }

  private void reject(Context ctx) {
    Dto.LeaseIdsRequest req = leaseIds(ctx);
    LeaseOutcome o = broker.reject(ctx.pathParam("topic"), req.group(), req.leaseIds());
    metrics.queueRecords("rejected", o.settled());
    metrics.queueRecords("dead_lettered", o.deadLettered());
    ctx.json(new Dto.RejectResponse(o.settled(), o.unknown()));
  }

  private void extend(Context ctx) {
    Dto.ExtendRequest req = body(ctx, Dto.ExtendRequest.class);
    requireGroup(req.group());
    requireLeaseIds(req.leaseIds());
    if (req.visibilityTimeoutMs() == null) {
      throw new BadInput("'visibility_timeout_ms' is required");
    }
    LeaseOutcome o = broker.extend(ctx.pathParam("topic"), req.group(), req.leaseIds(), req.visibilityTimeoutMs());
    List<Dto.ExtendedLeaseDto> leases = new ArrayList<>(o.extended().size());
    for (ExtendedLease e : o.extended()) {
      leases.add(new Dto.ExtendedLeaseDto(e.leaseId(), e.leaseExpiresMs()));
    }
    metrics.queueRecords("extended", o.settled());
    ctx.json(new Dto.ExtendResponse(o.settled(), leases, o.unknown()));
  }

  private static Dto.LeaseIdsRequest leaseIds(Context ctx) {
    Dto.LeaseIdsRequest req = body(ctx, Dto.LeaseIdsRequest.class);
    requireGroup(req.group());
    requireLeaseIds(req.leaseIds());
    return req;
  }

  private static void requireGroup(String group) {
    if (group == null) {
      throw new BadInput("'group' is required");
    }
  }

  private static void requireLeaseIds(List<String> ids) {
    if (ids == null) {
      throw new BadInput("'lease_ids' is required");
    }
  }

  // ------------------------------------------------------------------ consumer-group offsets

  private void commitOffsets(Context ctx) {
    String group = ctx.pathParam("group");
    Dto.CommitRequest req = body(ctx, Dto.CommitRequest.class);
    if (req.offsets() == null) {
      throw new BadInput("'offsets' is required");
    }
    List<CommittedOffset> offsets = new ArrayList<>();
    for (Dto.CommitDto o : req.offsets()) {
      if (o == null || o.topic() == null || o.partition() == null || o.offset() == null) {
        throw new BadInput("each offset needs 'topic', 'partition' and 'offset'");
      }
      offsets.add(new CommittedOffset(o.topic(), o.partition(), o.offset()));
    }
    broker.commitOffsets(group, offsets);
    ctx.json(Map.of("committed", offsets.size()));
  }

  private void committedOffsets(Context ctx) {
    String group = ctx.pathParam("group");
    List<Dto.CommittedDto> out = new ArrayList<>();
    for (CommittedOffset o : broker.committedOffsets(group, ctx.queryParam("topic"))) {
      out.add(new Dto.CommittedDto(o.topic(), o.partition(), o.offset()));
    }
    ctx.json(new Dto.CommittedResponse(group, out));
  }

  // ------------------------------------------------------------------ helpers

  /** Malformed input found by the gateway itself (400 bad-request). */
  static final class BadInput extends RuntimeException {
    BadInput(String message) {
      super(message);
    }
  }

  /** Reads a JSON body strictly into {@code type}; malformed or empty: {@link BadInput}. */
  static <T> T body(Context ctx, Class<T> type) {
    byte[] bytes = ctx.bodyAsBytes();
    if (bytes.length == 0) {
      throw new BadInput("a JSON body is required");
    }
    try {
      T value = JSON.readerFor(type).withAttribute(RawJson.SOURCE, bytes).readValue(bytes);
      if (value == null) {
        throw new BadInput("the JSON body must be an object");
      }
      return value;
    } catch (JsonProcessingException e) {
      throw new BadInput("malformed JSON body: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new BadInput("unreadable body: " + e.getMessage());
    }
  }

  private static long longQuery(Context ctx, String name, long dflt, long min, long max) {
    String v = ctx.queryParam(name);
    return v == null ? dflt : longParam(v, name, min, max);
  }

  private static long longParam(String v, String name, long min, long max) {
    long n;
    try {
      n = Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new BadInput(name + " must be an integer, got '" + abbreviate(v) + "'");
    }
    if (n < min || n > max) {
      throw new BadInput(name + " must be " + min + "-" + max + ", got " + n);
    }
    return n;
  }

  private static String abbreviate(String s) {
    return s.length() <= 32 ? s : s.substring(0, 32) + "...";
  }

  private static void resource(Context ctx, String path, String contentType) throws IOException {
    try (InputStream in = HttpApi.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new BrokerException(ErrorKind.NOT_FOUND, "resource " + path + " is not packaged");
      }
      ctx.contentType(contentType).result(in.readAllBytes());
    }
  }

  private static ObjectMapper jsonMapper() {
    JsonMapper m = JsonMapper.builder()
        .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
        .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)
        .build();
    m.coercionConfigFor(LogicalType.Textual).setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail).setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
    m.coercionConfigFor(LogicalType.Integer).setCoercion(CoercionInputShape.String, CoercionAction.Fail)
        .setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
    return m;
  }

}
