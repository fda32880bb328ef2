#!/usr/bin/env bash
# bench/jmh.sh -- build the JMH benchmarks jar and run it.
#
#   bench/jmh.sh [JMH args...]
#
# Builds benchmarks/target/benchmarks.jar (and the modules it needs, tests skipped), then runs
# `java -jar benchmarks.jar` with every argument passed through to JMH. Examples:
#
#   bench/jmh.sh                                   # every benchmark, the annotated defaults
#   bench/jmh.sh -l                                # list the benchmarks
#   bench/jmh.sh LogAppend -p batchSize=64         # one benchmark, one parameter value
#   bench/jmh.sh -f 1 -wi 1 -i 2 -w 2s -r 2s       # a short smoke run (figures are not reliable)
#   bench/jmh.sh Codec -rf json -rff target/codec.json
#
# Units: LogAppendBenchmark's primary score is batches (fsyncs)/s and its ":entries" line is
# entries/s; every CodecBenchmark score is records/s (see the classes' docstrings).
# LogAppendBenchmark writes RocksDB files under -Ddsync.bench.dir (default: java.io.tmpdir),
# which must be on a real disk: pass it with  -jvmArgsAppend -Ddsync.bench.dir=/path .
# Run it on a quiet machine: other processes on the cores or the disk move the figures a lot.
#
# Environment: JAVA_HOME (JDK 21+; otherwise one is searched for, see bin/find-java.sh),
# MAVEN_OPTS, JMH_JAVA_OPTS (extra options for the JMH host JVM), JMH_SKIP_BUILD=1 (reuse the jar).
set -euo pipefail

ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"

# shellcheck source=SCRIPTDIR/../bin/find-java.sh
source "$ROOT/bin/find-java.sh"
# shellcheck disable=SC2119  # no args: search without --quiet
dsync_find_java || exit 1
dsync_export_maven_opts
export PATH="$JAVA_HOME/bin:$PATH"

JAR="$ROOT/benchmarks/target/benchmarks.jar"
if [[ "${JMH_SKIP_BUILD:-0}" != "1" || ! -f "$JAR" ]]; then
    echo "jmh.sh: building $JAR (Java $DSYNC_JAVA_MAJOR at $JAVA_HOME) ..." >&2
    ./mvnw -q -B -DskipTests -pl benchmarks -am package </dev/null
fi

java_opts=()
# JMH 1.37 calls sun.misc.Unsafe; JDK 24+ warns about it unless told to allow (the flag exists
# from JDK 23 on). JMH's forked benchmark JVMs inherit the host JVM's flags.
if (( DSYNC_JAVA_MAJOR >= 23 )); then
    java_opts+=(--sun-misc-unsafe-memory-access=allow)
fi
if [[ -n "${JMH_JAVA_OPTS:-}" ]]; then
    read -r -a extra <<<"$JMH_JAVA_OPTS"
    java_opts+=("${extra[@]}")
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED ${java_opts[@]+"${java_opts[@]}"} \
    -jar "$JAR" "$@"
