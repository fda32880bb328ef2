#!/usr/bin/env bash
# bench/gatling.sh -- run a Gatling HTTP load test against an ALREADY RUNNING dsync node.
#
#   bench/gatling.sh produce|fetch|mixed|<simulation class> [-Dname=value ...]
#
# It starts nothing: first start a node in another terminal, e.g.
#
#   ./dsync run                                  # http://127.0.0.1:8080, data in ./data
#
# (or use bench/produce-local.sh, which starts a throwaway node, runs `produce` and stops it).
# Then, for example:
#
#   bench/gatling.sh produce -Dusers=8 -Dduration=60          # write load
#   bench/gatling.sh fetch                                    # read back what was produced
#   bench/gatling.sh fetch -Dduration=30                      # read in a loop for 30 s
#   bench/gatling.sh mixed -Dtopic=mixed                      # producers + lease/ack + fetch/commit at once
#   bench/gatling.sh mixed -Dproducers=0 -DstreamConsumers=0  # lease+ack alone (produce records first)
#   bench/gatling.sh produce -DbaseUrl=http://127.0.0.1:18181 -Dbatch=500 -DrecordBytes=256
#
# Properties (-D...; the simulations' docstrings have the details):
#   baseUrl      node URL (default http://127.0.0.1:8080)     topic       default bench
#   users        concurrent virtual users (produce: 4; fetch: one per non-empty partition)
#   duration     seconds (produce: 30; fetch: 0 = one pass over the partitions)
#   batch        records per produce request (100)            recordBytes value bytes (1024)
#   partitions   partitions when produce creates the topic (4) page        fetch max_records (1000)
#
# Gatling prints requests/s and latencies; each simulation also prints a "summary" line with
# records/s. The HTML report's path is printed at the end.
#
# Environment: JAVA_HOME (JDK 21+, else searched for; see bin/find-java.sh), MAVEN_OPTS,
# MVNW_ARGS (extra Maven arguments, e.g. "-o" to stay offline once Gatling was downloaded).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
}

if (( $# < 1 )) || [[ "$1" == -h || "$1" == --help ]]; then
    usage
    exit 2
fi
case "$1" in
    produce) sim=io.dsync.bench.gatling.ProduceSimulation ;;
    fetch) sim=io.dsync.bench.gatling.FetchSimulation ;;
    mixed) sim=io.dsync.bench.gatling.MixedSimulation ;;
    -*) echo "gatling.sh: the first argument must be produce, fetch, mixed or a simulation class" >&2; exit 2 ;;
    *) sim="$1" ;;
esac
shift

# shellcheck source=SCRIPTDIR/../bin/find-java.sh
source "$ROOT/bin/find-java.sh"
# shellcheck disable=SC2119  # no args: search without --quiet
dsync_find_java || exit 1
dsync_export_maven_opts
export PATH="$JAVA_HOME/bin:$PATH"

# Fail early, with a hint, when no node answers (the simulations would only report errors).
base_url="http://127.0.0.1:8080"
for a in "$@"; do
    if [[ "$a" == -DbaseUrl=* ]]; then base_url="${a#-DbaseUrl=}"; base_url="${base_url%%,*}"; fi  # several: check the first
done
if command -v curl >/dev/null 2>&1; then
    if ! curl -sf --max-time 5 "${base_url%/}/ready" >/dev/null; then
        echo "gatling.sh: no ready dsync node at $base_url (GET /ready failed)." >&2
        echo "  Start one first, e.g. \`./dsync run\` in another terminal, or pass -DbaseUrl=URL," >&2
        echo "  or use bench/produce-local.sh to run against a throwaway node." >&2
        exit 1
    fi
fi

mvn_args=()
if [[ -n "${MVNW_ARGS:-}" ]]; then
    read -r -a mvn_args <<<"$MVNW_ARGS"
fi

reports="$ROOT/gatling/target/gatling"
mkdir -p "$reports"
marker="$(mktemp "$reports/.run.XXXXXX")"
trap 'rm -f "$marker"' EXIT

rc=0
./mvnw -q -B ${mvn_args[@]+"${mvn_args[@]}"} -Pgatling -pl gatling gatling:test \
    -Dgatling.simulationClass="$sim" "$@" </dev/null || rc=$?

# The report directory is <simulation class, lower case>-<timestamp>; take the newest one
# created by this run.
prefix="$(basename "${sim//./\/}" | tr '[:upper:]' '[:lower:]')"
report=""
for d in "$reports/$prefix"-*/; do
    [[ -d "$d" && "$d" -nt "$marker" && -f "$d/index.html" ]] || continue
    if [[ -z "$report" || "$d" -nt "$report" ]]; then report="$d"; fi
done
if [[ -n "$report" ]]; then
    echo "gatling.sh: HTML report: ${report%/}/index.html"
else
    echo "gatling.sh: no report was written (Maven exit code $rc)" >&2
fi
exit "$rc"
