package io.dsync.gateway;

import io.dsync.broker.Broker;
import io.javalin.http.Context;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

/**
 * The gateway's Prometheus metrics and the {@code /metrics} endpoint (Prometheus text format
 * 0.0.4). Thread-safe.
 */
final class HttpMetrics {
  private final PrometheusRegistry registry;
  private final Counter requests;
  private final Histogram latency;
  private final Counter producedRecords;
  private final Counter fetchedRecords;
  private final Counter leaseRecords;
  private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();

  HttpMetrics(PrometheusRegistry registry, Broker broker) {
    this.registry = registry;
    requests = Counter.builder().name("dsync_http_requests_total").help("HTTP requests by route and status")
        .labelNames("method", "route", "status").register(registry);
    latency = Histogram.builder().name("dsync_http_request_seconds").help("HTTP request latency by route")
        .labelNames("method", "route")
        .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
        .register(registry);
    producedRecords = Counter.builder().name("dsync_produce_records_total").help("Records produced (acknowledged)")
        .register(registry);
    fetchedRecords = Counter.builder().name("dsync_fetch_records_total").help("Records returned by fetches")
        .register(registry);
    leaseRecords = Counter.builder().name("dsync_queue_records_total")
        .help("Queue records by outcome: leased (handed out), acked, released, rejected, dead_lettered, extended")
        .labelNames("outcome").register(registry);
    CounterWithCallback.builder().name("dsync_retention_removed_records_total")
        .help("Records removed by topic retention on this node since it started")
        .callback(cb -> cb.call(broker.retentionStats().removedRecords())).register(registry);
    CounterWithCallback.builder().name("dsync_retention_removed_bytes_total")
        .help("Bytes (stored record value lengths, as retention_bytes counts them) removed by topic retention")
        .callback(cb -> cb.call(broker.retentionStats().removedBytes())).register(registry);
    CounterWithCallback.builder().name("dsync_retention_undelivered_records_total")
        .help("(record, queue group) pairs where retention removed a record the group had not leased yet")
        .callback(cb -> cb.call(broker.retentionStats().undeliveredRecords())).register(registry);
    GaugeWithCallback.builder().name("dsync_retention_pinned_partitions")
        .help("Partitions whose retention is held back by a record in flight for a queue group")
        .callback(cb -> cb.call(broker.retentionStats().pinnedPartitions())).register(registry);
    GaugeWithCallback.builder().name("dsync_storage_sst_bytes").help("Total size of RocksDB SST files")
        .callback(cb -> cb.call(broker.storage().longProperty("rocksdb.total-sst-files-size"))).register(registry);
    GaugeWithCallback.builder().name("dsync_storage_blob_bytes").help("Total size of RocksDB blob files")
        .callback(cb -> cb.call(broker.storage().longProperty("rocksdb.total-blob-file-size"))).register(registry);
  }

  void observe(Context ctx, Float ms) {
    String route;
    try {
      route = ctx.endpoint().path;
    } catch (RuntimeException e) {
      route = "unmatched";
    }
    String method = ctx.method().name();
    requests.labelValues(method, route, Integer.toString(ctx.statusCode())).inc();
    latency.labelValues(method, route).observe(ms / 1000.0);
  }

  void producedRecords(int n) {
    producedRecords.inc(n);
  }

  void fetchedRecords(int n) {
    fetchedRecords.inc(n);
  }

  /** Counts {@code n} queue records with an outcome ({@code leased}, {@code acked}, ...). */
  void queueRecords(String outcome, int n) {
    if (n > 0) {
      leaseRecords.labelValues(outcome).inc(n);
    }
  }

  void scrape(Context ctx) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream(64 * 1024);
    writer.write(out, registry.scrape(), io.prometheus.metrics.config.EscapingScheme.UNDERSCORE_ESCAPING);
    ctx.contentType(PrometheusTextFormatWriter.CONTENT_TYPE).result(out.toByteArray());
  }
}
