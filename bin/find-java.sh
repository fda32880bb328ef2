# shellcheck shell=bash
# bin/find-java.sh -- locate a JDK new enough to build and run dsync.
#
# SOURCE this file (do not execute it), then call:
#
#     dsync_find_java [--quiet]
#
# On success it exports JAVA_HOME (a JDK: bin/java and bin/javac) whose major
# version is >= DSYNC_JAVA_MIN (default 21), exports DSYNC_JAVA_MAJOR with that
# major version, and returns 0. On failure it prints to stderr what it checked
# and how to get a suitable JDK (unless --quiet), and returns 1.
#
# Search order (first match wins for 1 and 2; the highest version wins in 3):
#   1. the existing $JAVA_HOME
#   2. `java` on PATH, resolved to its real home with readlink -f
#   3. every directory matching the glob patterns in DSYNC_JVM_DIRS
#      (colon-separated; default "/usr/lib/jvm/*:/usr/local/*jdk*:/opt/*jdk*")
#
# Also provided:
#   dsync_java_major JAVA_BIN  -> prints the major version of that java binary
#   dsync_export_maven_opts    -> on JDK >= 24, exports
#                                 MAVEN_OPTS=--sun-misc-unsafe-memory-access=allow
#                                 when MAVEN_OPTS is unset or empty
#
# Safe to source from scripts running under `set -euo pipefail`.

# Print the major version of the java binary $1 ("1.8.0_392" -> 8,
# "17.0.15" -> 17, "21" -> 21, "25.0.3" -> 25, "26-ea" -> 26).
# Returns 1 if it cannot be run or its output cannot be parsed.
dsync_java_major() {
    local java_bin="$1" out line ver major
    [[ -x "$java_bin" ]] || return 1
    out="$("$java_bin" -version 2>&1)" || return 1
    ver=""
    while IFS= read -r line; do
        # e.g. openjdk version "17.0.15" 2025-04-15 / java version "1.8.0_392"
        if [[ "$line" =~ version[[:space:]]+\"([^\"]+)\" ]]; then
            ver="${BASH_REMATCH[1]}"
            break
        fi
    done <<<"$out"
    [[ -n "$ver" ]] || return 1
    if [[ "$ver" =~ ^1\.([0-9]+) ]]; then
        major="${BASH_REMATCH[1]}"          # legacy scheme: 1.8.0 -> 8
    elif [[ "$ver" =~ ^([0-9]+) ]]; then
        major="${BASH_REMATCH[1]}"          # 9+: 17.0.15 / 21 / 25-ea -> 17 / 21 / 25
    else
        return 1
    fi
    printf '%s\n' "$((10#$major))"
}

# Internal: check one candidate home. Prints its major version on success.
# On failure, prints a short reason and returns 1.
_dsync_check_java_home() {
    local home="$1" min="$2" major
    if [[ ! -d "$home" ]]; then
        printf 'not a directory'; return 1
    fi
    if [[ ! -x "$home/bin/java" ]]; then
        printf 'no bin/java'; return 1
    fi
    if ! major="$(dsync_java_major "$home/bin/java")"; then
        printf 'bin/java -version failed or was not understood'; return 1
    fi
    if (( major < min )); then
        printf 'Java %s (too old)' "$major"; return 1
    fi
    if [[ ! -x "$home/bin/javac" ]]; then
        printf 'Java %s, but no bin/javac (a JRE, not a JDK)' "$major"; return 1
    fi
    printf '%s' "$major"
}

dsync_find_java() {
    local quiet=0
    if [[ "${1:-}" == "--quiet" ]]; then quiet=1; fi

    local min="${DSYNC_JAVA_MIN:-21}"
    local roots="${DSYNC_JVM_DIRS:-/usr/lib/jvm/*:/usr/local/*jdk*:/opt/*jdk*}"
    local -a checked=()
    local home res java_path real best_home="" best_major=-1 major

    # 1. existing JAVA_HOME
    if [[ -n "${JAVA_HOME:-}" ]]; then
        home="${JAVA_HOME%/}"
        if res="$(_dsync_check_java_home "$home" "$min")"; then
            export JAVA_HOME="$home" DSYNC_JAVA_MAJOR="$res"
            return 0
        fi
        checked+=("JAVA_HOME=$home: $res")
    else
        checked+=("JAVA_HOME: not set")
    fi

    # 2. java on PATH
    if java_path="$(command -v java 2>/dev/null)" && [[ -n "$java_path" ]]; then
        real="$(readlink -f "$java_path" 2>/dev/null || printf '%s' "$java_path")"
        home="$(dirname "$(dirname "$real")")"
        # Old JDK layout: <jdk>/jre/bin/java -> prefer <jdk>, which has javac.
        if [[ "$(basename "$home")" == "jre" && -x "$(dirname "$home")/bin/javac" ]]; then
            home="$(dirname "$home")"
        fi
        if res="$(_dsync_check_java_home "$home" "$min")"; then
            export JAVA_HOME="$home" DSYNC_JAVA_MAJOR="$res"
            return 0
        fi
        checked+=("java on PATH ($java_path -> $home): $res")
    else
        checked+=("java on PATH: none")
    fi

    # 3. well-known install roots: take the highest suitable version
    local -a patterns=() seen=()
    local pattern dir canon s dup any_dir=0
    IFS=':' read -r -a patterns <<<"$roots"
    for pattern in "${patterns[@]}"; do
        [[ -n "$pattern" ]] || continue
        for dir in $pattern; do            # intentional glob expansion
            [[ -d "$dir" ]] || continue
            any_dir=1
            canon="$(readlink -f "$dir" 2>/dev/null || printf '%s' "$dir")"
            dup=0
            for s in ${seen[@]+"${seen[@]}"}; do
                if [[ "$s" == "$canon" ]]; then dup=1; break; fi
            done
            (( dup == 0 )) || continue
            seen+=("$canon")
            if res="$(_dsync_check_java_home "$dir" "$min")"; then
                major="$res"
                if (( major > best_major )); then
                    best_major="$major"
                    best_home="$dir"
                fi
            else
                checked+=("$dir: $res")
            fi
        done
    done
    if (( any_dir == 0 )); then
        checked+=("no directories match ${roots}")
    fi

    if [[ -n "$best_home" ]]; then
        export JAVA_HOME="${best_home%/}" DSYNC_JAVA_MAJOR="$best_major"
        return 0
    fi

    if (( quiet == 0 )); then
        {
            printf 'dsync: no suitable JDK found: JDK %s or newer is required (with javac, not just a JRE).\n' "$min"
            printf 'Checked:\n'
            local c
            for c in "${checked[@]}"; do printf '  - %s\n' "$c"; done
            printf 'To fix, either:\n'
            printf '  - point JAVA_HOME at a JDK %s+:   export JAVA_HOME=/path/to/jdk-21\n' "$min"
            printf '  - or install one, e.g. on Debian 13+/Ubuntu 24.04+:   sudo apt-get install openjdk-21-jdk-headless\n'
            printf '    (Debian 12 "bookworm" ships only OpenJDK 17: install Eclipse Temurin 21 or 25 instead,\n'
            printf '     e.g. temurin-21-jdk from the Adoptium apt repository, or unpack a JDK under /opt)\n'
        } >&2
    fi
    return 1
}

# On JDK >= 24, Maven's bundled Guice trips the sun.misc.Unsafe deprecation
# warnings; silence them unless the caller chose their own MAVEN_OPTS.
dsync_export_maven_opts() {
    if [[ -z "${MAVEN_OPTS:-}" ]] && (( ${DSYNC_JAVA_MAJOR:-0} >= 24 )); then
        export MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow"
    fi
    return 0
}
