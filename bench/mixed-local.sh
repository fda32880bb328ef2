#!/usr/bin/env bash
# bench/mixed-local.sh -- the mixed producer/consumer workload against a throwaway local node, in
# one command: producers, queue consumers leasing and acking, stream consumers fetching and
# committing offsets (io.dsync.bench.gatling.MixedSimulation), HTML report at the end.
#
#   bench/mixed-local.sh [-Dname=value ...]     e.g. -Dduration=60 -DqueueConsumers=8
#
# Properties: producers (2), queueConsumers (2), streamConsumers (1), batch (100), lease (100),
# recordBytes (1024), pauseMs (0), duration (30), topic (bench), partitions (4); see the
# simulation's docstring. Starts, waits for and stops the node exactly as bench/produce-local.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
DSYNC_BENCH_SIMULATION=mixed exec "$ROOT/bench/produce-local.sh" "$@"
