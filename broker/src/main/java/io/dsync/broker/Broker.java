package io.dsync.broker;

import io.dsync.broker.Model.CommittedOffset;
import io.dsync.broker.Model.FetchResult;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.ExtendedLease;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.LeaseOutcome;
import io.dsync.broker.Model.LeasedRecord;
import io.dsync.broker.Model.RecordIn;
import io.dsync.broker.Model.RecordPosition;
import io.dsync.broker.Model.TopicConfig;
import io.dsync.broker.Model.TopicInfo;
import io.dsync.broker.TopicsStateMachine.TopicView;
import io.dsync.broker.ring.ConsistentHashRing;
import io.dsync.raft.Membership;
import io.dsync.raft.NotLeaderException;
import io.dsync.raft.OverloadedException;
import io.dsync.raft.RaftConfig;
import io.dsync.raft.RaftMetrics;
import io.dsync.raft.RaftNode;
import io.dsync.raft.Role;
import io.dsync.raft.Transport;
import io.dsync.storage.NodeStorage;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * The broker facade: validates a request, proposes its command through Raft, waits for it to be
 * committed and applied, and returns the state machine's result. Reads are served from this
 * node's applied state.
 *
 * <p>Every method that writes returns only after a majority of the voters has the command on
 * disk (fsync'd) and this node has applied it. Bad input is refused before anything is proposed.
 *
 * <p>Thread safety: every public method is safe to call from any thread (HTTP handlers run on
 * virtual threads and may block in {@link #fetch} long polls and in writes).
 */
public final class Broker implements AutoCloseable {
  /**
   * How to open a broker.
   *
   * @param dataDir the node's data directory (RocksDB lives in {@code dataDir/db})
   * @param raft Raft settings (node id, voters, timeouts, queues)
   * @param storage RocksDB settings
   * @param limits API limits
   * @param transport the Raft peer transport; the broker closes it on {@link Broker#close()}
   */
  public record Options(Path dataDir, RaftConfig raft, StorageOptions storage, BrokerLimits limits, Transport transport) {
    /** A one-voter group: no peers, {@link Transport#LOCAL}. */
    public Options(Path dataDir, RaftConfig raft, StorageOptions storage, BrokerLimits limits) {
      this(dataDir, raft, storage, limits, Transport.LOCAL);
    }
  }

  /**
   * A member as {@code /v1/cluster/status} shows it.
   *
   * @param id node id
   * @param raftAddress host:port of its peer transport, or null when not known
   * @param httpAddress host:port of its HTTP gateway, or null when not known
   * @param role {@code leader}, {@code learner}, or {@code follower} (a voter that does not lead)
   * @param matchIndex its match index as the leader tracks it, or -1 when unknown (this node does
   *     not lead)
   */
  public record MemberStatus(String id, String raftAddress, String httpAddress, String role, long matchIndex) {}

  /**
   * This node's view of the cluster.
   *
   * @param nodeId this node
   * @param role leader, follower or candidate (lower case)
   * @param term current term
   * @param leaderId the known leader or {@code null}
   * @param commitIndex commit index
   * @param appliedIndex applied index
   * @param lastIndex last log index
   * @param members the voters
   */
  public record ClusterStatus(
      String nodeId, String role, long term, String leaderId, long commitIndex, long appliedIndex, long lastIndex,
      List<MemberStatus> members) {}

  private final Options options;
  private final NodeStorage storage;
  private final TopicsStateMachine topics;
  private final RaftNode raft;
  private final BrokerLimits limits;
  private final Map<String, CompletableFuture<Void>> topicWaiters = new ConcurrentHashMap<>();
  /** Per (topic id, queue group): the woken long-poll lease in flight, which the group's other woken pollers wait for. */
  private final Map<String, CompletableFuture<Void>> wokenLeases = new ConcurrentHashMap<>();
  private final Map<Integer, ConsistentHashRing<Integer>> rings = new ConcurrentHashMap<>();
  private final AtomicInteger roundRobin = new AtomicInteger();
  private final long readyAtIndex;
  private volatile boolean ready;
  private volatile boolean closed;
  private final LongSupplier clockMs;
  private final java.util.concurrent.atomic.AtomicBoolean tickInFlight = new java.util.concurrent.atomic.AtomicBoolean();
  private final Thread ticker;
  private final GroupCoordinator groups;

  private Broker(Options options, PrometheusRegistry registry, LongSupplier clockMs) {
    this.options = options;
    this.clockMs = clockMs;
    this.limits = options.limits();
    this.storage =
        NodeStorage.open(options.dataDir().resolve("db"), options.storage(), TopicsStateMachine.COLUMN_FAMILIES);
    try {
      this.topics = new TopicsStateMachine(storage.state(), this::wakeTopics);
      this.raft =
          new RaftNode(options.raft(), storage, topics, options.transport(), clockMs, new RaftMetrics(registry),
              new Random());
      this.readyAtIndex = storage.log().lastIndex();
      raft.start();
      this.groups = new GroupCoordinator(topics, raft, clockMs, this::write, this::awaitLinearizable);
      groups.start();
      this.ticker = Thread.ofPlatform().daemon().name("dsync-ticker").start(this::tickLoop);
    } catch (RuntimeException e) {
      options.transport().close();
      storage.close();
      throw e;
    }
  }

  /**
   * Opens the node's storage, recovers the state machines and starts Raft.
   *
   * @param options where and how
   * @param registry Prometheus registry for this node's metrics
   * @param clockMs the wall clock (ms since the epoch); only the leader's stamps on entries matter
   * @return a running broker
   * @throws io.dsync.storage.StorageException if the data directory cannot be opened (e.g. in use)
   */
  public static Broker open(Options options, PrometheusRegistry registry, LongSupplier clockMs) {
    return new Broker(options, registry, clockMs);
  }

  /** @return the limits this broker enforces */
  public BrokerLimits limits() {
    return limits;
  }

  /** @return the underlying storage (for metrics) */
  public NodeStorage storage() {
    return storage;
  }

  /** @return the consumer-group coordinator: joins, heartbeats, leaves, assignments */
  public GroupCoordinator groups() {
    return groups;
  }

  /** @return the Raft node (for metrics and status) */
  public RaftNode raft() {
    return raft;
  }

  // ------------------------------------------------------------------ topics

  /**
   * Creates a topic.
   *
   * @param config its settings; {@code deadLetterTopic} null or empty means {@code {name}.dlq},
   *     {@code deliveryLimit} 0 means 5, retention {@code 0} or negative means none
   * @return the created topic
   * @throws BrokerException BAD_REQUEST (invalid settings), CONFLICT (exists), NO_LEADER, OVERLOADED
   */
  public TopicInfo createTopic(TopicConfig config) {
    BrokerLimits.checkName("topic", config.name());
    if (config.partitions() < 1 || config.partitions() > limits.maxPartitions()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "partitions must be 1-" + limits.maxPartitions() + ", got " + config.partitions());
    }
    if (config.deliveryLimit() < 0 || config.deliveryLimit() > 1000) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "delivery_limit must be 1-1000 (0 or absent: the default 5), got " + config.deliveryLimit());
    }
    boolean defaultDlq = config.deadLetterTopic() == null || config.deadLetterTopic().isEmpty();
    // Only the default is shortened; a given name that is too long is refused below.
    String dlq = defaultDlq ? TopicsStateMachine.defaultDeadLetterTopic(config.name()) : config.deadLetterTopic();
    BrokerLimits.checkName("dead_letter_topic", dlq);
    if (dlq.equals(config.name())) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "dead_letter_topic must not be the topic itself");
    }
    TopicConfig normalized = new TopicConfig(
        config.name(), config.partitions(),
        config.retentionMs() > 0 ? config.retentionMs() : -1,
        config.retentionBytes() > 0 ? config.retentionBytes() : -1,
        config.deliveryLimit() == 0 ? 5 : config.deliveryLimit(), dlq);
    if (topics.view(config.name()) != null) {
      throw new BrokerException(ErrorKind.CONFLICT, "topic '" + config.name() + "' already exists");
    }
    return (TopicInfo) write(CommandCodec.createTopic(normalized));
  }

  /** @return every topic, sorted by name, as applied on this node */
  public List<TopicInfo> topics() {
    return topics.topics();
  }

  /**
   * @param name a topic name (any string)
   * @return whether this node has applied a topic of that name (a follower may lag the leader)
   */
  public boolean hasTopic(String name) {
    return name != null && topics.view(name) != null;
  }

  /**
   * @param name a topic name
   * @return the topic with each partition's start and end offset
   * @throws BrokerException BAD_REQUEST (invalid name) or NOT_FOUND
   */
  public TopicInfo topic(String name) {
    return view(name).info();
  }

  /**
   * Deletes a topic and all its records.
   *
   * @throws BrokerException BAD_REQUEST, NOT_FOUND, NO_LEADER, OVERLOADED
   */
  public void deleteTopic(String name) {
    view(name);
    write(CommandCodec.deleteTopic(name));
  }

  // ------------------------------------------------------------------ records

  /**
   * Appends a batch of records. A record with a key goes to the partition its key maps to on the
   * consistent-hash ring of the topic's partitions (150 virtual nodes each); a record without a
   * key goes to the next partition in round-robin order.
   *
   * @param topic the topic
   * @param records 1 to {@link BrokerLimits#maxRecordsPerBatch()} records
   * @return each record's partition and offset, in request order
   * <p>Any node takes it: a follower validates the batch, places its records and sends the
   * encoded command to the leader over the peer transport ({@link RaftNode#proposeAnywhere}),
   * answering once it applied the entry itself; so the topic must be known on this node.
   *
   * @throws BrokerException BAD_REQUEST, PAYLOAD_TOO_LARGE, NOT_FOUND, NO_LEADER, OVERLOADED
   */
  public List<RecordPosition> produce(String topic, List<RecordIn> records) {
    return produce(topic, records, null, 0);
  }

  /**
   * The same as {@link #produce(String, List)}, idempotent when {@code producerId} is given: a
   * batch whose {@code (producerId, sequence)} was already applied appends nothing and returns the
   * offsets it got the first time ({@code ProducerWindows}: the last 5 batches of each of at most
   * 100,000 producers are remembered).
   *
   * @param producerId the producer ({@link BrokerLimits#NAME}), or {@code null}
   * @param sequence the batch's sequence number, {@code >= 0} (ignored without a producer)
   * @throws BrokerException also CONFLICT: the sequence is older than the producer's window, or
   *     was used for another topic
   */
  @SuppressWarnings("unchecked")
  public List<RecordPosition> produce(String topic, List<RecordIn> records, String producerId, long sequence) {
    if (producerId != null) {
      BrokerLimits.checkName("producer", producerId);
      if (sequence < 0) {
        throw new BrokerException(ErrorKind.BAD_REQUEST, "sequence must be >= 0, got " + sequence);
      }
    }
    TopicView v = view(topic);
    if (records == null || records.isEmpty()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "records must not be empty");
    }
    if (records.size() > limits.maxRecordsPerBatch()) {
      throw new BrokerException(ErrorKind.PAYLOAD_TOO_LARGE,
          records.size() + " records in one batch; the limit is " + limits.maxRecordsPerBatch());
    }
    int partitions = v.endOffsets().length;
    ConsistentHashRing<Integer> ring = ring(partitions);
    int[] assigned = new int[records.size()];
    int[] priorities = new int[records.size()];
    List<byte[]> encoded = new ArrayList<>(records.size());
    for (int i = 0; i < records.size(); i++) {
      RecordIn r = records.get(i);
      validate(r, i);
      byte[] e = CommandCodec.encodeRecord(r);
      if (e.length > limits.maxRecordBytes()) {
        throw new BrokerException(ErrorKind.PAYLOAD_TOO_LARGE,
            "record " + i + " is " + e.length + " bytes encoded; the limit is " + limits.maxRecordBytes());
      }
      encoded.add(e);
      priorities[i] = r.priority();
    }
    // Partitions only once every record passed: a refused batch does not move the round-robin.
    for (int i = 0; i < records.size(); i++) {
      String key = records.get(i).key();
      assigned[i] = key == null ? Math.floorMod(roundRobin.getAndIncrement(), partitions) : ring.memberFor(key);
    }
    return (List<RecordPosition>) write(
        CommandCodec.produce(topic, v.meta().getId(), assigned, priorities, encoded, producerId, sequence), true);
  }

  private void validate(RecordIn r, int i) {
    if (r.value() == null) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "record " + i + " has no value");
    }
    if (r.priority() < 0 || r.priority() > BrokerLimits.MAX_PRIORITY) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "record " + i + ": priority must be 0-9, got " + r.priority());
    }
    for (Header h : r.headers()) {
      if (h.key() == null || h.key().isEmpty() || h.key().length() > BrokerLimits.MAX_HEADER_KEY
          || h.value() == null || h.value().length() > BrokerLimits.MAX_HEADER_VALUE) {
        throw new BrokerException(ErrorKind.BAD_REQUEST,
            "record " + i + ": header keys must be 1-256 characters and values strings up to 4096");
      }
    }
  }

  /**
   * Reads records of one partition from {@code offset}. If none is there yet and
   * {@code maxWaitMs > 0}, waits up to that long for records to be applied (woken by the apply,
   * not by polling).
   *
   * @param topic the topic
   * @param partition the partition, from 0
   * @param offset the first offset wanted, in {@code [start_offset, end_offset]}
   * @param maxRecords 1 to {@link BrokerLimits#maxFetchRecords()}
   * @param maxWaitMs 0 to {@link BrokerLimits#maxWaitMs()}
   * @return the records, the next offset and the high watermark
   * @throws BrokerException BAD_REQUEST, NOT_FOUND, OFFSET_OUT_OF_RANGE (with
   *     {@code earliest_offset} and {@code latest_offset}: the partition's log start offset and
   *     end offset) when {@code offset} is below the start (retention removed it, also while the
   *     read ran) or above the end
   * @throws InterruptedException if the waiting thread is interrupted
   */
  public FetchResult fetch(String topic, int partition, long offset, int maxRecords, long maxWaitMs)
      throws InterruptedException {
    if (maxRecords < 1 || maxRecords > limits.maxFetchRecords()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "max_records must be 1-" + limits.maxFetchRecords() + ", got " + maxRecords);
    }
    if (maxWaitMs < 0 || maxWaitMs > limits.maxWaitMs()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "max_wait_ms must be 0-" + limits.maxWaitMs() + ", got " + maxWaitMs);
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(maxWaitMs);
    view(topic); // an unknown topic must not leave a waiter behind
    while (true) {
      if (closed) {
        throw new BrokerException(ErrorKind.NO_LEADER, "the node is shutting down");
      }
      CompletableFuture<Void> changed = maxWaitMs > 0 ? topicWaiters.computeIfAbsent(topic, t -> new CompletableFuture<>()) : null;
      TopicView v = view(topic);
      if (partition < 0 || partition >= v.endOffsets().length) {
        throw new BrokerException(ErrorKind.NOT_FOUND,
            "topic '" + topic + "' has no partition " + partition + " (it has " + v.endOffsets().length + ")");
      }
      long start = v.startOffsets()[partition];
      long end = v.endOffsets()[partition];
      if (offset < start || offset > end) {
        throw outOfRange(topic, partition, offset, start, end);
      }
      long remaining = deadline - System.nanoTime();
      if (offset < end || changed == null || remaining <= 0) {
        List<FetchedRecord> records = topics.read(v, partition, offset, maxRecords, limits.maxFetchBytes());
        if (offset < end && (records.isEmpty() || records.get(0).offset() != offset)) {
          // Retention removed the offset between the view and the read: answer as Kafka does.
          TopicView now = view(topic);
          throw outOfRange(topic, partition, offset, now.startOffsets()[partition], now.endOffsets()[partition]);
        }
        long next = records.isEmpty() ? offset : records.get(records.size() - 1).offset() + 1;
        return new FetchResult(records, next, end);
      }
      try {
        changed.get(remaining, TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        // deadline reached: the loop answers with what is there
      }
    }
  }

  /**
   * The 416 {@code offset-out-of-range} refusal of a fetch: below {@code start} (retention removed
   * it) or above {@code end} (not written yet).
   */
  private static BrokerException outOfRange(String topic, int partition, long offset, long start, long end) {
    String why = offset < start ? " (retention removed the records before " + start + ")" : "";
    return new BrokerException(ErrorKind.OFFSET_OUT_OF_RANGE,
        "offset " + offset + " is outside [" + start + ", " + end + "] of " + topic + "/" + partition + why,
        Map.of("earliest_offset", start, "latest_offset", end));
  }

  /**
   * @return what retention removed on this node since it started, and how many partitions
   *     in-flight queue records hold back (docs/architecture.md, "Retention"); any thread
   */
  public Model.RetentionStats retentionStats() {
    return topics.retention().stats();
  }

  // ------------------------------------------------------------------ queue consumption

  /**
   * Leases up to {@code maxRecords} records of a topic to a queue group (API.md, "Queue
   * consumption"): higher priority first, FIFO within a priority across partitions; records that
   * came back (released, expired) before newer ones of their priority. The group is created by
   * its first lease that hands out something, starting at the topic's earliest record; each group
   * consumes every record once, independently of other groups. A group never holds more than
   * {@link BrokerLimits#maxInFlightPerGroup()} records leased.
   *
   * <p>When nothing is available and {@code maxWaitMs > 0}, waits up to that long, woken by the
   * apply thread when the topic changes (records produced, leases expired, released or acked),
   * then tries again. Whether anything is available is first checked on the applied state, so a
   * poll that finds nothing adds no entry to the log.
   *
   * @param topic the topic
   * @param group the queue group ({@link BrokerLimits#NAME})
   * @param maxRecords 1 to {@link BrokerLimits#maxLeaseRecords()}
   * @param visibilityTimeoutMs how long each lease lasts, 1 ms to {@link
   *     BrokerLimits#maxVisibilityTimeoutMs()}
   * @param maxWaitMs 0 to {@link BrokerLimits#maxWaitMs()}
   * @return the leased records, in lease order; empty if none became available in time
   * @throws BrokerException BAD_REQUEST, NOT_FOUND (topic), NO_LEADER, OVERLOADED
   * @throws InterruptedException if the waiting thread is interrupted
   */
  public List<LeasedRecord> lease(String topic, String group, int maxRecords, long visibilityTimeoutMs, long maxWaitMs)
      throws InterruptedException {
    BrokerLimits.checkName("group", group);
    if (maxRecords < 1 || maxRecords > limits.maxLeaseRecords()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "max_records must be 1-" + limits.maxLeaseRecords() + ", got " + maxRecords);
    }
    checkVisibilityTimeout(visibilityTimeoutMs);
    if (maxWaitMs < 0 || maxWaitMs > limits.maxWaitMs()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "max_wait_ms must be 0-" + limits.maxWaitMs() + ", got " + maxWaitMs);
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(maxWaitMs);
    view(topic); // an unknown topic must not leave a waiter behind
    boolean woken = false;
    while (true) {
      if (closed) {
        throw new BrokerException(ErrorKind.NO_LEADER, "the node is shutting down");
      }
      CompletableFuture<Void> changed = maxWaitMs > 0 ? topicWaiters.computeIfAbsent(topic, t -> new CompletableFuture<>()) : null;
      TopicView v = view(topic);
      long remaining = deadline - System.nanoTime();
      if (topics.queue().mayLease(v.meta().getId(), group, limits.maxInFlightPerGroup())) {
        // Woken pollers of one group go one at a time: a single new record must not make every
        // idle worker of the group propose (and fsync) a lease of which all but one come back empty.
        String key = v.meta().getId() + "/" + group;
        CompletableFuture<Void> mine = null;
        if (woken) {
          mine = new CompletableFuture<>();
          CompletableFuture<Void> other = wokenLeases.putIfAbsent(key, mine);
          if (other != null) {
            try {
              other.get(Math.max(deadline - System.nanoTime(), 0), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException e) {
              // the deadline passed: the loop answers with what is there
            }
            if (System.nanoTime() >= deadline) {
              return List.of();
            }
            continue;
          }
        }
        QueueState.Leased leased;
        try {
          leased = (QueueState.Leased) write(
              CommandCodec.lease(topic, group, maxRecords, visibilityTimeoutMs, limits.maxInFlightPerGroup(),
                  limits.maxFetchBytes()));
        } finally {
          if (mine != null) {
            wokenLeases.remove(key, mine);
            mine.complete(null);
          }
        }
        List<LeasedRecord> out = new ArrayList<>(leased.deliveries().size());
        for (QueueState.Delivery d : leased.deliveries()) {
          FetchedRecord r = topics.readRecord(leased.topicId(), d.partition(), d.offset());
          if (r != null) { // null only if the topic was deleted since
            out.add(new LeasedRecord(new LeaseId(leased.topicId(), d.partition(), d.offset(), d.deliveryCount()).encode(),
                d.partition(), d.deliveryCount(), d.leaseExpiresMs(), r));
          }
        }
        if (!out.isEmpty() || changed == null || System.nanoTime() >= deadline) {
          return out;
        }
      } else if (changed == null || remaining <= 0) {
        return List.of();
      }
      try {
        changed.get(Math.max(deadline - System.nanoTime(), 0), TimeUnit.NANOSECONDS);
      } catch (TimeoutException | ExecutionException e) {
        // deadline reached: the loop answers with what is there
      }
      woken = true;
    }
  }

  /**
   * Acks leases: their records are done for the group. An unknown or expired lease id is
   * reported in {@link LeaseOutcome#unknown()}, not refused; an expired lease's record stays and
   * is redelivered.
   *
   * @param leaseIds 1 to {@link BrokerLimits#maxLeaseIds()} lease ids from lease answers
   * @throws BrokerException BAD_REQUEST (names, malformed ids), NOT_FOUND (topic, or a group that
   *     never leased from it), NO_LEADER, OVERLOADED
   */
  public LeaseOutcome ack(String topic, String group, List<String> leaseIds) {
    return settle(CommandCodec.Settlement.ACK, topic, group, leaseIds, 0);
  }

  /**
   * Releases leases: their records are available again now, before newer records of their
   * priority; the delivery count still counts, so a record released at the topic's delivery limit
   * goes to the dead-letter topic. Unknown ids as in {@link #ack}.
   *
   * @throws BrokerException as {@link #ack}
   */
  public LeaseOutcome release(String topic, String group, List<String> leaseIds) {
    return settle(CommandCodec.Settlement.RELEASE, topic, group, leaseIds, 0);
  }

  /**
   * Rejects leases: their records go to the topic's dead-letter topic now, with headers saying
   * where they came from and why. Unknown ids as in {@link #ack}.
   *
   * @throws BrokerException as {@link #ack}
   */
  public LeaseOutcome reject(String topic, String group, List<String> leaseIds) {
    return settle(CommandCodec.Settlement.REJECT, topic, group, leaseIds, 0);
  }

  /**
   * Extends live leases to end {@code visibilityTimeoutMs} after the extend's entry time. Unknown
   * or expired ids as in {@link #ack}.
   *
   * @param visibilityTimeoutMs 1 ms to {@link BrokerLimits#maxVisibilityTimeoutMs()}
   * @throws BrokerException as {@link #ack}
   */
  public LeaseOutcome extend(String topic, String group, List<String> leaseIds, long visibilityTimeoutMs) {
    checkVisibilityTimeout(visibilityTimeoutMs);
    return settle(CommandCodec.Settlement.EXTEND, topic, group, leaseIds, visibilityTimeoutMs);
  }

  private LeaseOutcome settle(CommandCodec.Settlement what, String topic, String group, List<String> leaseIds,
      long visibilityTimeoutMs) {
    BrokerLimits.checkName("group", group);
    if (leaseIds == null || leaseIds.isEmpty()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "lease_ids must hold 1-" + limits.maxLeaseIds() + " ids, got none");
    }
    if (leaseIds.size() > limits.maxLeaseIds()) { // like a produce batch over its limit: too large, not malformed
      throw new BrokerException(ErrorKind.PAYLOAD_TOO_LARGE, "lease_ids must hold 1-" + limits.maxLeaseIds()
          + " ids, got " + leaseIds.size());
    }
    List<LeaseId> ids = new ArrayList<>(leaseIds.size());
    for (String id : leaseIds) {
      ids.add(LeaseId.parse(id));
    }
    TopicView v = view(topic);
    if (topics.queue().summary(v.meta().getId(), group) == null) {
      throw QueueState.unknownGroup(topic, group);
    }
    QueueState.Settled s = (QueueState.Settled) write(CommandCodec.settle(what, topic, group, ids, visibilityTimeoutMs));
    List<String> unknown = new ArrayList<>(s.unknown().size());
    for (int i : s.unknown()) {
      unknown.add(leaseIds.get(i));
    }
    List<ExtendedLease> extended = new ArrayList<>();
    for (int i = 0; i < s.leaseExpiresMs().size(); i++) {
      if (s.leaseExpiresMs().get(i) > 0) {
        extended.add(new ExtendedLease(leaseIds.get(i), s.leaseExpiresMs().get(i)));
      }
    }
    return new LeaseOutcome(s.settled(), s.deadLettered(), unknown, extended);
  }

  private void checkVisibilityTimeout(long ms) {
    if (ms < 1 || ms > limits.maxVisibilityTimeoutMs()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "visibility_timeout_ms must be 1-" + limits.maxVisibilityTimeoutMs() + ", got " + ms);
    }
  }

  // ------------------------------------------------------------------ consumer-group offsets

  /**
   * Commits a consumer group's offsets (Kafka's OffsetCommit).
   *
   * @throws BrokerException BAD_REQUEST, NOT_FOUND (topic or partition), NO_LEADER, OVERLOADED
   */
  public void commitOffsets(String group, List<CommittedOffset> offsets) {
    BrokerLimits.checkName("group", group);
    if (offsets == null || offsets.isEmpty() || offsets.size() > limits.maxRecordsPerBatch()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "offsets must hold 1-" + limits.maxRecordsPerBatch() + " entries");
    }
    for (CommittedOffset o : offsets) {
      TopicView v = view(o.topic());
      if (o.partition() < 0) {
        throw new BrokerException(ErrorKind.BAD_REQUEST, "partition must be >= 0, got " + o.partition());
      }
      if (o.partition() >= v.endOffsets().length) {
        throw new BrokerException(ErrorKind.NOT_FOUND, "topic '" + o.topic() + "' has no partition " + o.partition());
      }
      if (o.offset() < 0) {
        throw new BrokerException(ErrorKind.BAD_REQUEST, "offset must be >= 0, got " + o.offset());
      }
    }
    write(CommandCodec.commitOffsets(group, offsets));
  }

  /**
   * @param group the group
   * @param topic a topic to filter by, or {@code null} for all
   * @return the committed offsets, sorted by topic and partition
   * @throws BrokerException BAD_REQUEST on an invalid name, NOT_FOUND for an unknown topic
   */
  public List<CommittedOffset> committedOffsets(String group, String topic) {
    BrokerLimits.checkName("group", group);
    if (topic != null) {
      view(topic);
    }
    return topics.committedOffsets(group, topic);
  }

  // ------------------------------------------------------------------ cluster

  /** @return this node's view of the cluster */
  public ClusterStatus status() {
    Role role = raft.role();
    Map<String, Long> match = raft.matchIndexes();
    String leader = raft.leaderId();
    List<MemberStatus> members = new ArrayList<>();
    Membership m = raft.membership();
    for (Membership.Member mm : m.members().values()) {
      String r = mm.id().equals(leader) ? "leader" : mm.voter() ? "follower" : "learner";
      members.add(new MemberStatus(mm.id(), emptyToNull(mm.raftAddress()), emptyToNull(mm.httpAddress()), r,
          match.getOrDefault(mm.id(), -1L)));
    }
    String self = raft.config().nodeId();
    String roleName = m.isLearner(self) && role == Role.FOLLOWER ? "learner"
        : role == Role.PRE_CANDIDATE ? "candidate" : role.name().toLowerCase(java.util.Locale.ROOT);
    return new ClusterStatus(raft.config().nodeId(), roleName, raft.term(),
        leader, raft.commitIndex(), raft.appliedIndex(), raft.lastIndex(), members);
  }

  private static String emptyToNull(String s) {
    return s.isEmpty() ? null : s;
  }

  /** Node ids: the Raft layer's rule. */
  private static final java.util.regex.Pattern NODE_ID = java.util.regex.Pattern.compile("[A-Za-z0-9_.-]{1,64}");
  /** host:port, host a name, IPv4 or [IPv6]. */
  private static final java.util.regex.Pattern HOST_PORT =
      java.util.regex.Pattern.compile("(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})");

  /**
   * Adds a node to the cluster as a learner (Ongaro thesis §4.2.1); the leader promotes it to
   * voter by itself once its log has caught up. Start the node first with {@code --join}. Waits
   * until the configuration entry is committed and applied here.
   *
   * @param id the new node's id
   * @param raftAddress host:port of its peer transport
   * @param httpAddress host:port of its HTTP gateway
   * @return the new member
   * @throws BrokerException BAD_REQUEST (malformed id or address; this node has no peer
   *     transport), CONFLICT (already a member; another change is in progress — retry),
   *     NO_LEADER (this node does not lead), OVERLOADED (not confirmed in time)
   */
  public MemberStatus addMember(String id, String raftAddress, String httpAddress) {
    if (id == null || !NODE_ID.matcher(id).matches()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "'id' must match [A-Za-z0-9_.-]{1,64}");
    }
    checkAddress("raft_address", raftAddress);
    checkAddress("http_address", httpAddress);
    if (!options.transport().reachesPeers()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST,
          "this node was started without --peers, so it has no peer transport; start the first node with --peers "
              + "listing itself to grow the cluster later");
    }
    Membership m = raft.membership();
    if (m.members().containsKey(id)) {
      throw new BrokerException(ErrorKind.CONFLICT, "'" + id + "' is already a member (" + m + ")");
    }
    awaitMembership(() -> raft.addLearner(new Membership.Member(id, raftAddress, httpAddress, false)));
    return new MemberStatus(id, raftAddress, httpAddress, raft.membership().isVoter(id) ? "follower" : "learner", -1);
  }

  /**
   * Removes a member, one voter at a time (thesis §4.1). Removing the leader works too: it steps
   * down once the change is committed and hands leadership over (§4.2.2). Waits until the
   * configuration entry is committed and applied here.
   *
   * @param id the member to remove
   * @throws BrokerException NOT_FOUND (not a member), CONFLICT (the last voter; another change is
   *     in progress — retry), NO_LEADER, OVERLOADED
   */
  public void removeMember(String id) {
    if (id == null || !NODE_ID.matcher(id).matches()) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "member id must match [A-Za-z0-9_.-]{1,64}");
    }
    if (!raft.membership().members().containsKey(id)) {
      throw new BrokerException(ErrorKind.NOT_FOUND, "'" + id + "' is not a member (" + raft.membership() + ")");
    }
    awaitMembership(() -> raft.removeMember(id));
  }

  private static void checkAddress(String field, String value) {
    if (value == null || !HOST_PORT.matcher(value).matches()
        || Integer.parseInt(value.substring(value.lastIndexOf(':') + 1)) > 65535) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "'" + field + "' must be host:port, got " + value);
    }
  }

  private void awaitMembership(java.util.function.Supplier<CompletableFuture<Object>> change) {
    CompletableFuture<Object> f;
    try {
      f = change.get();
    } catch (NotLeaderException e) {
      throw noLeader(e);
    } catch (IllegalStateException e) {
      throw new BrokerException(ErrorKind.NO_LEADER, e.getMessage());
    }
    try {
      f.get(limits.writeTimeoutMs(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new BrokerException(ErrorKind.OVERLOADED,
          "the membership change was not confirmed within " + limits.writeTimeoutMs() + " ms; its outcome is unknown");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BrokerException(ErrorKind.OVERLOADED, "interrupted while waiting; the change's outcome is unknown");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof NotLeaderException nl) {
        throw noLeader(nl);
      }
      if (c instanceof IllegalStateException || c instanceof IllegalArgumentException) {
        throw new BrokerException(ErrorKind.CONFLICT, c.getMessage());
      }
      throw new BrokerException(ErrorKind.NO_LEADER, "the change failed: " + c + "; its outcome is unknown");
    }
  }

  /** The one mapping of {@link NotLeaderException} to a 503 {@code no-leader} problem. */
  private static BrokerException noLeader(NotLeaderException e) {
    return new BrokerException(ErrorKind.NO_LEADER, "no leader is available yet: " + e.getMessage(),
        e.leaderId() == null ? Map.of() : Map.of("leader_id", e.leaderId()));
  }

  /**
   * Waits until reads of this node's state are linearizable: a quorum confirmed this node still
   * leads (ReadIndex, Ongaro thesis §6.4) and it applied everything committed before the call.
   * Reads made after it returns reflect every write acknowledged before it was called.
   *
   * @throws BrokerException NO_LEADER if this node does not lead or cannot confirm it in time
   */
  public void awaitLinearizable() {
    try {
      raft.readIndex().get(limits.writeTimeoutMs(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new BrokerException(ErrorKind.NO_LEADER, "could not confirm leadership with a quorum in time; retry");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BrokerException(ErrorKind.NO_LEADER, "interrupted while confirming leadership");
    } catch (ExecutionException e) {
      String leader = e.getCause() instanceof NotLeaderException nl ? nl.leaderId() : null;
      throw new BrokerException(ErrorKind.NO_LEADER, "not the leader: " + e.getCause().getMessage(),
          leader == null ? Map.of() : Map.of("leader_id", leader));
    }
  }

  /** @return whether this node is the Raft leader right now */
  public boolean isLeader() {
    return raft.role() == Role.LEADER;
  }

  /**
   * A digest of this node's whole state at one applied index ({@link
   * io.dsync.storage.StateStore#digest()}): equal on every node that applied the same log. Scans
   * the state: for diagnostics and tests.
   *
   * @return {@code [appliedIndex, digest]}
   */
  public long[] stateDigest() {
    return storage.state().digest();
  }

  /**
   * Hands leadership to another voter (Ongaro thesis §3.10) and waits, up to two election
   * timeouts, for it to take over.
   *
   * @param to the voter that should lead
   * @return the leader afterwards ({@code to} on success)
   * @throws BrokerException BAD_REQUEST (not a voter), NO_LEADER (this node does not lead, or the
   *     transfer did not complete in time; retry)
   */
  public String transferLeadership(String to) {
    if (to == null || !raft.membership().isVoter(to)) {
      throw new BrokerException(ErrorKind.BAD_REQUEST, "'to' must be one of the voters " + raft.membership().voters());
    }
    if (to.equals(raft.leaderId()) && isLeader()) {
      return to;
    }
    try {
      raft.transferLeadership(to);
    } catch (NotLeaderException e) {
      throw new BrokerException(ErrorKind.NO_LEADER, "this node does not lead; leader is " + e.leaderId(),
          e.leaderId() == null ? Map.of() : Map.of("leader_id", e.leaderId()));
    }
    long deadline = System.nanoTime()
        + TimeUnit.MILLISECONDS.toNanos(2L * raft.config().electionTicks() * raft.config().tickMs());
    while (System.nanoTime() < deadline) {
      if (to.equals(raft.leaderId())) {
        return to;
      }
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    throw new BrokerException(ErrorKind.NO_LEADER, "leadership did not move to '" + to + "' in time; retry");
  }

  /**
   * @return whether this node knows a leader and has applied everything its log held when it
   *     started (so its reads are not behind its own disk), except entries a leader has since
   *     discarded: a tail that was never committed (a crashed leader's unreplicated entries) is
   *     cut off when the node rejoins, and waiting for its indexes would keep the node unready
   *     until the group happens to write that many new entries (forever in an idle group). Raft
   *     never cuts committed entries, so the last index bounds what is left to apply.
   */
  public boolean isReady() {
    if (!ready) {
      ready = raft.isHealthy() && raft.leaderId() != null
          && raft.appliedIndex() >= Math.min(readyAtIndex, raft.lastIndex());
    }
    return ready && raft.isHealthy() && raft.leaderId() != null;
  }

  /**
   * Stops the node: closes the peer transport, stops Raft (the apply thread finishes what was
   * committed; waiting proposals fail), closes RocksDB and releases long polls. Call once, after
   * HTTP stopped taking requests.
   */
  @Override
  public void close() {
    closed = true;
    ticker.interrupt();
    groups.close();
    topicWaiters.values().forEach(f -> f.complete(null)); // long polls wake up and see `closed`
    topicWaiters.clear();
    options.transport().close();
    raft.close();
    storage.close();
  }

  // ------------------------------------------------------------------ internals

  private TopicView view(String topic) {
    BrokerLimits.checkName("topic", topic);
    TopicView v = topics.view(topic);
    if (v == null) {
      throw new BrokerException(ErrorKind.NOT_FOUND, "topic '" + topic + "' does not exist");
    }
    return v;
  }

  private ConsistentHashRing<Integer> ring(int partitions) {
    return rings.computeIfAbsent(partitions, n -> {
      List<Integer> ps = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        ps.add(i);
      }
      return ConsistentHashRing.of(ps, ConsistentHashRing.DEFAULT_VIRTUAL_NODES, p -> "partition-" + p);
    });
  }

  private Object write(byte[] command) {
    return write(command, false);
  }

  /**
   * Proposes {@code command} and waits for its result.
   *
   * @param anywhere {@code true}: on a follower, forward it to the leader over the peer transport
   *     ({@link RaftNode#proposeAnywhere}) and answer when this node applied it; {@code false}: a
   *     follower refuses with NO_LEADER (commands whose checks need the leader's state)
   */
  private Object write(byte[] command, boolean anywhere) {
    CompletableFuture<Object> f;
    try {
      f = anywhere ? raft.proposeAnywhere(command, limits.writeTimeoutMs()) : raft.propose(command);
    } catch (NotLeaderException e) {
      throw noLeader(e);
    } catch (OverloadedException e) {
      throw new BrokerException(ErrorKind.OVERLOADED, e.getMessage());
    } catch (IllegalStateException e) {
      throw new BrokerException(ErrorKind.NO_LEADER, e.getMessage());
    }
    Object result;
    try {
      result = f.get(limits.writeTimeoutMs(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new BrokerException(ErrorKind.OVERLOADED,
          "the write was not confirmed within " + limits.writeTimeoutMs() + " ms; its outcome is unknown");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BrokerException(ErrorKind.OVERLOADED, "interrupted while waiting; the write's outcome is unknown");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof NotLeaderException nl) {
        throw new BrokerException(ErrorKind.NO_LEADER, nl.getMessage());
      }
      if (c instanceof OverloadedException o) {
        throw new BrokerException(ErrorKind.OVERLOADED, o.getMessage());
      }
      if (c instanceof TimeoutException) {
        throw new BrokerException(ErrorKind.OVERLOADED,
            "the write was not confirmed within " + limits.writeTimeoutMs() + " ms; its outcome is unknown");
      }
      throw new BrokerException(ErrorKind.NO_LEADER, "the write failed: " + c + "; its outcome is unknown");
    }
    if (result instanceof BrokerException be) {
      throw be;
    }
    return result;
  }

  /** How often the leader compares its clock with the state machines' next deadline, in ms. */
  static final long TICK_CHECK_MS = 20;

  /**
   * The leader's side of time in the state machines: when the clock passes {@link
   * TopicsStateMachine#nextDeadlineMs()}, propose one {@code Tick} (at most one in flight); its
   * apply expires what is due at the entry's timestamp. Followers never tick: a new leader takes
   * over the deadlines from the applied state.
   */
  private void tickLoop() {
    while (!closed) {
      try {
        Thread.sleep(TICK_CHECK_MS);
      } catch (InterruptedException e) {
        return;
      }
      if (!isLeader() || clockMs.getAsLong() < topics.nextDeadlineMs() || !tickInFlight.compareAndSet(false, true)) {
        continue;
      }
      try {
        // A bounded wait: should the tick's outcome never arrive, the next one is not blocked forever.
        raft.propose(CommandCodec.tick()).orTimeout(limits.writeTimeoutMs(), TimeUnit.MILLISECONDS)
            .whenComplete((r, t) -> tickInFlight.set(false));
      } catch (RuntimeException e) { // not the leader any more, overloaded, closing: try again later
        tickInFlight.set(false);
      }
    }
  }

  private void wakeTopics(List<String> names) {
    for (String n : names) {
      CompletableFuture<Void> f = topicWaiters.remove(n);
      if (f != null) {
        f.complete(null);
      }
    }
  }
}
