#!/usr/bin/env bash
# bench/cluster.sh -- benchmarks of a throwaway local cluster (not tests).
#
#   bench/cluster.sh produce [--nodes 3] [-Dname=value ...]   Gatling produce load spread over
#                                                            every node (e.g. -Dusers=8 -Dduration=30,
#                                                            or -Drate=50 for a fixed load)
#                                                            Ends with each node's CPU seconds over
#                                                            the run and CPU ms per 1,000 records.
#   bench/cluster.sh failover [--runs 20]                     SIGKILL the leader, time until the
#                                                            first acknowledged write on a survivor
#
# Each run makes a fresh cluster with `./dsync cluster up` in a temporary --dir on a free base
# port, and always ends with `./dsync cluster down` on that dir (trap on EXIT), which stops
# exactly the processes it started, then deletes the dir.
#
# Environment: DSYNC_BENCH_DIR (parent of the temporary dir; default ${TMPDIR:-/tmp}; put it on
# the disk you want to measure), JAVA_HOME / MAVEN_OPTS as for ./dsync.
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/cpu.sh
source "$ROOT/bench/cpu.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 1 ]] || usage
mode="$1"; shift

nodes=3
runs=20
gatling_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -D*) gatling_args+=("$1"); shift ;;
        -h|--help) usage ;;
        *) echo "bench/cluster.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_base() {
    local base i ok
    for base in $(shuf -i 20000-40000 -n 50); do
        ok=1
        for ((i = 0; i < nodes; i++)); do
            port_free $((base + i)) && port_free $((base + 1000 + i)) || { ok=0; break; }
        done
        (( ok )) && { echo "$base"; return; }
    done
    echo "bench/cluster.sh: no free port range found" >&2; exit 1
}

parent="${DSYNC_BENCH_DIR:-${TMPDIR:-/tmp}}"
mkdir -p "$parent"
dir="$(mktemp -d "$parent/dsync-bench-cluster.XXXXXX")"
base="$(pick_base)"
cleanup() {
    ./dsync cluster down --dir "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

up() { ./dsync cluster up --nodes "$nodes" --base-port "$base" --dir "$dir" --wait-seconds 90 >/dev/null; }
leader_id() {
    local i s
    for ((i = 0; i < nodes; i++)); do
        s="$(curl -s --noproxy '*' -m 2 "http://127.0.0.1:$((base + i))/v1/cluster/status" || true)"
        # the top-level role only (members[] lists roles too)
        if [[ "$s" =~ ^\{\"node_id\":\"(n[0-9]+)\",\"role\":\"leader\" ]]; then
            echo "${BASH_REMATCH[1]}"; return
        fi
    done
}
ms_now() { date +%s%3N; }

up
echo "cluster of $nodes nodes on 127.0.0.1:$base.. (dir $dir)" >&2

case "$mode" in
    produce)
        urls=""
        for ((i = 0; i < nodes; i++)); do urls+="${urls:+,}http://127.0.0.1:$((base + i))"; done
        pids=()
        for ((i = 1; i <= nodes; i++)); do pids+=("$(cat "$dir/n$i/pid")"); done
        cpu_mark load "${pids[@]}"
        bench/gatling.sh produce "-DbaseUrl=$urls" ${gatling_args[@]+"${gatling_args[@]}"} | tee "$dir/gatling.out"
        # the nodes' CPU over the load (Gatling's start-up included; the nodes idle through it)
        records="$(sed -n 's/.* OK requests, \([0-9]*\) records acknowledged.*/\1/p' "$dir/gatling.out" | tail -n 1)"
        cpu_report load "${records:-0}"
        ;;
    failover)
        curl -s --noproxy '*' -X POST "http://127.0.0.1:$base/v1/topics" -H 'content-type: application/json' \
            -d '{"name":"failover","partitions":3}' >/dev/null
        times=()
        for ((r = 1; r <= runs; r++)); do
            leader="$(leader_id)"
            [[ -n "$leader" ]] || { echo "run $r: no leader" >&2; exit 1; }
            idx="${leader#n}"
            other=$(( idx % nodes ))          # 0-based index of another node
            pid="$(cat "$dir/$leader/pid")"
            t0="$(ms_now)"
            kill -9 "$pid"
            while :; do
                code="$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -m 5 -X POST \
                    "http://127.0.0.1:$((base + other))/v1/topics/failover/records" \
                    -H 'content-type: application/json' -d '{"records":[{"value":"x"}]}' || true)"
                [[ "$code" == 200 ]] && break
                (( $(ms_now) - t0 > 30000 )) && { echo "run $r: no write acknowledged in 30 s" >&2; exit 1; }
                sleep 0.01
            done
            t1="$(ms_now)"
            times+=($((t1 - t0)))
            echo "run $r: killed $leader, first acknowledged write after $((t1 - t0)) ms" >&2
            up   # bring the killed node back with its data before the next run
        done
        sorted=($(printf '%s\n' "${times[@]}" | sort -n))
        n=${#sorted[@]}
        p50=${sorted[$(( (n - 1) / 2 ))]}
        p99=${sorted[$(( (n * 99 + 99) / 100 - 1 ))]}
        echo "FAILOVER runs=$n p50=${p50}ms p99=${p99}ms max=${sorted[n-1]}ms all=[${sorted[*]}]"
        ;;
    *) usage ;;
esac
