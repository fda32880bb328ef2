#!/usr/bin/env bash
# bench/cpu.sh -- CPU accounting for the bench scripts (sourced, not run).
#
#   cpu_mark NAME PID...   remember the CPU time (user+system) each PID has used so far, and the
#                          whole machine's busy and total time, under NAME
#   cpu_report NAME [RECORDS]
#                          print, per PID, the CPU seconds used since cpu_mark NAME, the machine's
#                          busy share over that span, and, given RECORDS (acknowledged records),
#                          CPU milliseconds per 1,000 records of the PIDs together
#
# From /proc/PID/stat (utime + stime, fields 14 and 15, in clock ticks) and /proc/stat's cpu line.
# A PID that has exited by the report is printed as such and not counted (its CPU time is gone
# with it); the bench scripts report before they stop the nodes.

_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo -1; }
_cpu_machine() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6; print busy, total }' /proc/stat; }

declare -gA _cpu_pids _cpu_start _cpu_machine_start _cpu_t0

cpu_mark() {
    local name="$1" pid; shift
    _cpu_pids[$name]="$*"
    for pid in "$@"; do _cpu_start[$name.$pid]="$(_cpu_ticks "$pid")"; done
    _cpu_machine_start[$name]="$(_cpu_machine)"
    _cpu_t0[$name]="$(date +%s%3N)"
}

cpu_report() {
    local name="$1" records="${2:-0}" hz pid now ticks="" t1
    hz="$(getconf CLK_TCK)"
    for pid in ${_cpu_pids[$name]}; do
        now="$(_cpu_ticks "$pid")"
        if (( now < 0 || ${_cpu_start[$name.$pid]} < 0 )); then
            echo "CPU pid $pid: exited, not counted"
            continue
        fi
        ticks+="$pid $(( now - ${_cpu_start[$name.$pid]} ))"$'\n'
    done
    t1="$(date +%s%3N)"
    awk -v hz="$hz" -v records="$records" -v ms="$(( t1 - ${_cpu_t0[$name]} ))" -v cores="$(nproc)" \
        -v m0="${_cpu_machine_start[$name]}" -v m1="$(_cpu_machine)" '
        NF == 2 { printf "CPU pid %s: %.1f s\n", $1, $2 / hz; sum += $2 }
        END {
            split(m0, a, " "); split(m1, b, " ")
            printf "CPU nodes together: %.1f s over %.1f s wall; machine busy %.0f %% of %d cores\n", \
                sum / hz, ms / 1000, 100 * (b[1] - a[1]) / (b[2] - a[2]), cores
            if (records > 0) printf "CPU nodes per 1,000 records: %.1f ms\n", 1000000 * sum / hz / records
        }' <<<"$ticks"
}
