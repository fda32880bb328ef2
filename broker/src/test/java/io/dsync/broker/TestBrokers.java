package io.dsync.broker;

import static org.junit.jupiter.api.Assertions.fail;

import io.dsync.raft.RaftConfig;
import io.dsync.storage.StorageOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/** Opens single-node brokers for tests. */
final class TestBrokers {
  private TestBrokers() {}

  /**
   * Opens a one-voter broker on {@code dir} with the default limits and waits (at most 5 s) until
   * it is ready; closes it and fails the test if it is not.
   *
   * @param clockMs the broker's clock, ms since the epoch
   */
  static Broker openReady(Path dir, LongSupplier clockMs) {
    Broker b = Broker.open(
        new Broker.Options(dir, RaftConfig.defaults("n1", List.of("n1")), StorageOptions.defaults(), BrokerLimits.defaults()),
        new PrometheusRegistry(), clockMs);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!b.isReady()) {
      if (System.nanoTime() > deadline) {
        b.close();
        fail("broker not ready within 5 s");
      }
      Thread.onSpinWait();
    }
    return b;
  }
}
