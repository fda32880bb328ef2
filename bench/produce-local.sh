#!/usr/bin/env bash
# bench/produce-local.sh -- produce load test against a throwaway local node.
#
#   bench/produce-local.sh [-Dname=value ...]        e.g. -Dusers=8 -Dduration=60
#
# 1. builds the node jar (./dsync build), so the `./dsync run` below starts Java at once;
# 2. starts a fresh single node in the background (`./dsync run --http-port 0`: the OS picks a
#    free port, read back from the node's start-up line) with a new temporary data directory,
#    and records its PID;
# 3. waits for GET /ready, at most DSYNC_BENCH_READY_TIMEOUT seconds (default 60);
# 4. runs `bench/gatling.sh produce -DbaseUrl=<that node>` (or $DSYNC_BENCH_SIMULATION) with the
#    arguments given here;
# 5. prints the node's CPU seconds over the load and CPU ms per 1,000 acknowledged records
#    (bench/cpu.sh);
# 6. on exit, whatever happened (trap on EXIT; Ctrl-C and SIGTERM too): stops the load test if it
#    is still running (it runs in its own process group: Maven and Gatling's JVM), sends SIGTERM
#    to exactly the node's PID, SIGKILL after 20 s if it is still alive, and deletes the
#    temporary directory.
#
# Environment:
#   DSYNC_BENCH_DIR            parent of the temporary directory (default ${TMPDIR:-/tmp}); put it
#                              on the disk to measure -- fsync on a tmpfs costs nothing
#   DSYNC_BENCH_PORT           a fixed HTTP port instead of a free one
#   DSYNC_BENCH_READY_TIMEOUT  seconds to wait for /ready (default 60)
#   DSYNC_BENCH_SIMULATION     the simulation to run (default produce; bench/mixed-local.sh sets mixed)
#   DSYNC_JAVA_OPTS            JVM options of the node (see ./dsync help)
#   JAVA_HOME, MAVEN_OPTS, MVNW_ARGS as for bench/gatling.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/cpu.sh
source "$ROOT/bench/cpu.sh"

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi

ready_timeout="${DSYNC_BENCH_READY_TIMEOUT:-60}"
port="${DSYNC_BENCH_PORT:-0}"
parent="${DSYNC_BENCH_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$parent"
work="$(mktemp -d "$parent/dsync-produce-local.XXXXXX")"
node_log="$work/node.log"
node_pid=""
load_pgid=""

# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if [[ -n "$load_pgid" ]] && kill -0 "$load_pgid" 2>/dev/null; then
        echo "produce-local.sh: stopping the load test (process group $load_pgid)" >&2
        kill -TERM -- "-$load_pgid" 2>/dev/null || true
        wait "$load_pgid" 2>/dev/null || true
    fi
    if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
        echo "produce-local.sh: stopping node (PID $node_pid)" >&2
        kill -TERM "$node_pid" 2>/dev/null || true
        for (( i = 0; i < 200; i++ )); do
            kill -0 "$node_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$node_pid" 2>/dev/null; then
            echo "produce-local.sh: node $node_pid ignored SIGTERM for 20 s; sending SIGKILL" >&2
            kill -KILL "$node_pid" 2>/dev/null || true
        fi
        wait "$node_pid" 2>/dev/null || true
    fi
    if (( rc != 0 )) && [[ -s "$node_log" ]]; then
        echo "produce-local.sh: last lines of the node's log:" >&2
        tail -n 20 "$node_log" >&2
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "produce-local.sh: building the node jar ..." >&2
./dsync build

# `./dsync run` execs Java once the jar is fresh (just built), so $! is the node's own PID.
./dsync run --http-port "$port" --data-dir "$work/data" >"$node_log" 2>&1 &
node_pid=$!
echo "produce-local.sh: node PID $node_pid, data in $work/data, log $node_log" >&2

base_url=""
deadline=$(( SECONDS + ready_timeout ))
while :; do
    if ! kill -0 "$node_pid" 2>/dev/null; then
        echo "produce-local.sh: the node exited during start-up" >&2
        exit 1
    fi
    if [[ -z "$base_url" ]]; then
        base_url="$(sed -n 's/^dsync node .* listening on \(http:[^ ]*\).*$/\1/p' "$node_log" | head -n 1)"
    fi
    if [[ -n "$base_url" ]] && curl -sf --max-time 2 "$base_url/ready" >/dev/null; then
        break
    fi
    if (( SECONDS >= deadline )); then
        echo "produce-local.sh: node not ready after ${ready_timeout} s" >&2
        exit 1
    fi
    sleep 0.5
done
echo "produce-local.sh: node ready at $base_url" >&2

# In the background, in a process group of its own (set -m), and waited for: a signal to this
# script then runs the trap at once, and the trap can stop Maven and Gatling's forked JVM too.
cpu_mark load "$node_pid"
set -m
"$ROOT/bench/gatling.sh" "${DSYNC_BENCH_SIMULATION:-produce}" -DbaseUrl="$base_url" "$@" </dev/null \
    > >(tee "$work/gatling.out") &
load_pgid=$!
set +m
rc=0
wait "$load_pgid" || rc=$?
load_pgid=""
# the node's CPU over the load (Gatling's start-up included; the node idles through it); tee runs
# in a process substitution nobody waits for: give it up to 5 s to write the summary line
for (( i = 0; i < 50; i++ )); do
    grep -q 'records acknowledged' "$work/gatling.out" 2>/dev/null && break
    sleep 0.1
done
records="$(sed -n 's/.* OK requests, \([0-9]*\) records acknowledged.*/\1/p' "$work/gatling.out" | tail -n 1)"
cpu_report load "${records:-0}"
exit "$rc"
