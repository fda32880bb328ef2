# shellcheck shell=bash
# bin/cluster.sh -- `./dsync cluster up|down|status`: a local multi-node cluster on loopback.
#
# SOURCED by ./dsync (which defines DSYNC_ROOT, setup_java, jar_is_stale and build_jar), then
# `dsync_cluster "$@"` is called with the arguments after `cluster`.
#
# Layout of a cluster directory (--dir, default ./cluster):
#   cluster.conf   nodes=N and base_port=P, written by the first `up`; later commands read it
#   secret         the cluster secret (64 hex chars from /dev/urandom, mode 600), made once
#   .lock          flock(1) lock, so two cluster commands on one directory do not interleave
#   nI/data        node nI's data directory (RocksDB)
#   nI/node.log    node nI's output, appended across restarts
#   nI/pid         PID of node nI's JVM (./dsync run execs java, so it is the PID nohup started)
#
# Node nI (I = 1..N) serves HTTP on 127.0.0.1:(P + I - 1) and Raft on 127.0.0.1:(P + 1000 + I - 1).
# A node counts as running when its pid file names a live process whose command line
# (/proc/PID/cmdline) has this node's data directory as an argument; anything else is a stale pid
# file. Only such processes are ever signalled.
#
# Linux only (/proc); needs curl for the HTTP checks.

DSYNC_CLUSTER_HOST=127.0.0.1
DSYNC_CLUSTER_MAX_NODES=9
DSYNC_CLUSTER_RAFT_OFFSET=1000

dsync_cluster_usage() {
    cat <<'EOF'
Usage: dsync cluster <up|down|status> [options]

A local cluster on loopback (127.0.0.1), one process per node, each with its own data dir
and log file under --dir.

  up      Start every node of the cluster in --dir that is not running (a killed node comes
          back with its own data), wait until all nodes are ready and agree on a leader, print
          the nodes' URLs and return. The first `up` creates the directory, cluster.conf and a
          random cluster secret; later ones reuse them (their --nodes/--base-port must match).
  down    Stop the nodes of the cluster in --dir (SIGTERM, SIGKILL after 15 s). Only the
          processes recorded in its pid files are signalled. The data is kept.
  status  Show each node: running or not (PID), its role, term, leader, commit and applied
          index. Exits 0 when every node runs and all agree on a leader, 3 otherwise.

Options:
  --dir DIR            cluster directory (default ./cluster)
  --nodes N            number of nodes, 1-9; ids n1..nN (up only; default 3, or cluster.conf's)
  --base-port P        HTTP ports P..P+N-1, Raft ports P+1000..P+1000+N-1
                       (up only; default 8080, or cluster.conf's)
  --wait-seconds S     how long `up` waits for a leader (default 60)

Files under DIR: cluster.conf, secret (mode 600), nI/data, nI/node.log, nI/pid.

Examples:
  ./dsync cluster up --nodes 3                 # HTTP 8080-8082, Raft 9080-9082, in ./cluster
  ./dsync cluster status
  kill -9 "$(cat cluster/n2/pid)"; ./dsync cluster up   # restarts only n2, with its data
  ./dsync cluster down                         # stop; `rm -rf cluster` wipes the data
EOF
}

_dc_die() {
    echo "dsync cluster: $*" >&2
    exit 1
}

# True if $1 is a decimal number in [$2, $3].
_dc_in_range() {
    [[ "$1" =~ ^[0-9]{1,6}$ ]] || return 1
    (( 10#$1 >= $2 && 10#$1 <= $3 ))
}

# ------------------------------------------------------------------ processes

# True if PID $1 is alive (not a zombie) and has the data dir $2 as one of its arguments.
_dc_pid_is_node() {
    local pid="$1" datadir="$2" state args
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # field 3 of /proc/PID/stat is the state; the command name (field 2) may contain spaces
    state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]] || return 1
    args="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    grep -qxF -- "$datadir" <<<"$args"
}

# Prints the PID of node $1 if it is running (see the header); returns 1 otherwise.
_dc_running_pid() {
    local i="$1" pid
    [[ -f "$DC_DIR/n$i/pid" ]] || return 1
    pid="$(head -n 1 "$DC_DIR/n$i/pid" 2>/dev/null || true)"
    _dc_pid_is_node "$pid" "$DC_DIR/n$i/data" || return 1
    printf '%s\n' "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
_dc_port_in_use() {
    (exec 3<>"/dev/tcp/$DSYNC_CLUSTER_HOST/$1") 2>/dev/null
}

# Prints who listens on port $1, if ss can tell.
_dc_port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    local out
    out="$(ss -Hltnp "sport = :$1" 2>/dev/null || true)"
    out="$(sed -n 's/.*users:((\(.*\)))/\1/p' <<<"$out")"
    printf '%s' "${out%%$'\n'*}"
}

# ------------------------------------------------------------------ HTTP

_dc_curl() {
    curl -sS --noproxy '*' --connect-timeout 1 --max-time 3 "$@"
}

# Value of top-level key $2 in the JSON object $1 (string unquoted, number/null as is). Only
# the part before "members" is searched, so the members' own "role" fields do not match.
_dc_json_get() {
    local json="${1%%\"members\"*}" key="$2"
    if [[ "$json" =~ \"$key\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]]; then
        printf '%s' "${BASH_REMATCH[1]}"
    elif [[ "$json" =~ \"$key\"[[:space:]]*:[[:space:]]*([^,\}[:space:]]+) ]]; then
        printf '%s' "${BASH_REMATCH[1]}"
    fi
}

_dc_http_port() { echo $(( DC_BASE_PORT + $1 - 1 )); }
_dc_raft_port() { echo $(( DC_BASE_PORT + DSYNC_CLUSTER_RAFT_OFFSET + $1 - 1 )); }
_dc_url() { echo "http://$DSYNC_CLUSTER_HOST:$(_dc_http_port "$1")"; }

# Fills the arrays ST_PID ST_ROLE ST_TERM ST_LEADER ST_COMMIT ST_APPLIED ST_READY for nodes 1..N
# ("" PID: not running; role "unreachable": running but no answer).
_dc_probe() {
    local i pid json
    ST_PID=() ST_ROLE=() ST_TERM=() ST_LEADER=() ST_COMMIT=() ST_APPLIED=() ST_READY=()
    for (( i = 1; i <= DC_NODES; i++ )); do
        pid="$(_dc_running_pid "$i" || true)"
        ST_PID[i]="$pid" ST_ROLE[i]="-" ST_TERM[i]="-" ST_LEADER[i]="-" ST_COMMIT[i]="-" ST_APPLIED[i]="-" ST_READY[i]=0
        [[ -n "$pid" ]] || continue
        if json="$(_dc_curl -f "$(_dc_url "$i")/v1/cluster/status" 2>/dev/null)" && [[ -n "$json" ]]; then
            ST_ROLE[i]="$(_dc_json_get "$json" role)"
            ST_TERM[i]="$(_dc_json_get "$json" term)"
            ST_LEADER[i]="$(_dc_json_get "$json" leader_id)"
            [[ -n "${ST_LEADER[i]}" && "${ST_LEADER[i]}" != null ]] || ST_LEADER[i]="-"
            ST_COMMIT[i]="$(_dc_json_get "$json" commit_index)"
            ST_APPLIED[i]="$(_dc_json_get "$json" applied_index)"
            if _dc_curl -f -o /dev/null "$(_dc_url "$i")/ready" 2>/dev/null; then
                ST_READY[i]=1
            fi
        else
            ST_ROLE[i]="unreachable"
        fi
    done
}

# After _dc_probe: prints the leader every running node names if they all name the same one,
# and that node itself says it leads; returns 1 otherwise. With $1 = all, every node must run
# and be ready.
_dc_agreed_leader() {
    local need_all="${1:-}" i leader="" any=0
    for (( i = 1; i <= DC_NODES; i++ )); do
        if [[ -z "${ST_PID[i]}" ]]; then
            [[ "$need_all" != all ]] || return 1
            continue
        fi
        if [[ "$need_all" == all && "${ST_READY[i]}" != 1 ]]; then
            return 1
        fi
        [[ "${ST_LEADER[i]}" != "-" ]] || return 1
        if [[ -z "$leader" ]]; then
            leader="${ST_LEADER[i]}"
        elif [[ "$leader" != "${ST_LEADER[i]}" ]]; then
            return 1
        fi
        any=1
    done
    (( any )) || return 1
    # the named leader must be one of ours, running, and say so itself
    [[ "$leader" =~ ^n([0-9]+)$ ]] || return 1
    i="${BASH_REMATCH[1]}"
    (( i >= 1 && i <= DC_NODES )) && [[ "${ST_ROLE[i]}" == leader ]] || return 1
    printf '%s\n' "$leader"
}

_dc_print_table() {
    local i state
    printf '%-5s %-8s %-8s %-24s %-12s %-6s %-7s %-8s %s\n' \
        NODE STATE PID HTTP ROLE TERM LEADER COMMIT APPLIED
    for (( i = 1; i <= DC_NODES; i++ )); do
        state=running
        [[ -n "${ST_PID[i]}" ]] || state=down
        printf '%-5s %-8s %-8s %-24s %-12s %-6s %-7s %-8s %s\n' "n$i" "$state" "${ST_PID[i]:--}" \
            "$(_dc_url "$i")" "${ST_ROLE[i]}" "${ST_TERM[i]}" "${ST_LEADER[i]}" "${ST_COMMIT[i]}" \
            "${ST_APPLIED[i]}"
    done
}

_dc_log_tails() {
    local i lines="${1:-20}"
    for (( i = 1; i <= DC_NODES; i++ )); do
        [[ -f "$DC_DIR/n$i/node.log" ]] || continue
        echo "---- $DC_DIR/n$i/node.log (last $lines lines)" >&2
        tail -n "$lines" "$DC_DIR/n$i/node.log" >&2
    done
}

# ------------------------------------------------------------------ options and config

# Parses the options into DC_DIR (absolute; created for up), DC_OPT_NODES, DC_OPT_BASE_PORT,
# DC_WAIT_SECONDS. $1 is the subcommand.
_dc_parse() {
    local sub="$1" opt val
    shift
    DC_DIR="./cluster" DC_OPT_NODES="" DC_OPT_BASE_PORT="" DC_WAIT_SECONDS=60
    while (( $# > 0 )); do
        opt="$1"
        case "$opt" in
            --*=*) val="${opt#*=}"; opt="${opt%%=*}"; shift ;;
            --dir|--nodes|--base-port|--wait-seconds)
                (( $# >= 2 )) || _dc_die "$opt needs a value (see $DC_SELF cluster help)"
                val="$2"; shift 2 ;;
            -h|--help) dsync_cluster_usage; exit 0 ;;
            *) echo "dsync cluster: unknown option: $opt" >&2; dsync_cluster_usage >&2; exit 2 ;;
        esac
        case "$opt" in
            --dir) [[ -n "$val" ]] || _dc_die "--dir must not be empty"; DC_DIR="$val" ;;
            --nodes)
                [[ "$sub" == up ]] || _dc_die "--nodes is for \`up\` only (the cluster's size is in its cluster.conf)"
                _dc_in_range "$val" 1 "$DSYNC_CLUSTER_MAX_NODES" \
                    || _dc_die "--nodes must be 1-$DSYNC_CLUSTER_MAX_NODES, got '$val'"
                DC_OPT_NODES="$((10#$val))" ;;
            --base-port)
                [[ "$sub" == up ]] || _dc_die "--base-port is for \`up\` only (the ports are in the cluster's cluster.conf)"
                _dc_in_range "$val" 1024 64000 \
                    || _dc_die "--base-port must be 1024-64000 (Raft uses base-port+1000..), got '$val'"
                DC_OPT_BASE_PORT="$((10#$val))" ;;
            --wait-seconds)
                [[ "$sub" == up ]] || _dc_die "--wait-seconds is for \`up\` only"
                _dc_in_range "$val" 1 3600 \
                    || _dc_die "--wait-seconds must be 1-3600, got '$val'"
                DC_WAIT_SECONDS="$((10#$val))" ;;
            *) echo "dsync cluster: unknown option: $opt" >&2; dsync_cluster_usage >&2; exit 2 ;;
        esac
    done
    if [[ "$sub" == up ]]; then
        mkdir -p -- "$DC_DIR" || _dc_die "cannot create $DC_DIR"
    fi
    [[ -d "$DC_DIR" ]] || _dc_die "no cluster in $DC_DIR (no such directory); start one with $DC_SELF cluster up --dir $DC_DIR"
    DC_DIR="$(cd -- "$DC_DIR" && pwd -P)"
}

# Holds an exclusive lock on DIR/.lock for the rest of this process (not inherited by nodes).
_dc_lock() {
    command -v flock >/dev/null 2>&1 || return 0
    exec {DC_LOCK_FD}>>"$DC_DIR/.lock"
    flock -w 30 "$DC_LOCK_FD" || _dc_die "another \`dsync cluster\` command holds $DC_DIR/.lock; try again when it is done"
}

# Reads DIR/cluster.conf into DC_NODES and DC_BASE_PORT; returns 1 if there is none.
_dc_read_conf() {
    local conf="$DC_DIR/cluster.conf" key val
    [[ -f "$conf" ]] || return 1
    DC_NODES="" DC_BASE_PORT=""
    while IFS='=' read -r key val; do
        case "$key" in
            nodes) DC_NODES="$val" ;;
            base_port) DC_BASE_PORT="$val" ;;
        esac
    done <"$conf"
    if ! _dc_in_range "$DC_NODES" 1 "$DSYNC_CLUSTER_MAX_NODES" || ! _dc_in_range "$DC_BASE_PORT" 1024 64000; then
        _dc_die "$conf is damaged (expected lines nodes=1-$DSYNC_CLUSTER_MAX_NODES and base_port=1024-64000)"
    fi
    DC_NODES=$(( 10#$DC_NODES )) DC_BASE_PORT=$(( 10#$DC_BASE_PORT ))
}

_dc_need_conf() {
    _dc_read_conf || _dc_die "no cluster in $DC_DIR (no cluster.conf); start one with $DC_SELF cluster up --dir $DC_DIR"
}

# ------------------------------------------------------------------ up

_dc_make_secret() {
    local f="$DC_DIR/secret" tmp
    if [[ -f "$f" ]]; then
        [[ "$(head -c 200 "$f" | tr -d '\n' | wc -c)" -ge 16 ]] || _dc_die "$f is shorter than 16 characters"
        chmod 600 "$f"
        return
    fi
    tmp="$f.tmp.$$"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp" && echo >>"$tmp") \
        || _dc_die "cannot write $tmp"
    chmod 600 "$tmp" && mv -f "$tmp" "$f"
}

_dc_peers() {
    local i out=""
    for (( i = 1; i <= DC_NODES; i++ )); do
        out+="${out:+,}n$i=$DSYNC_CLUSTER_HOST:$(_dc_raft_port "$i")/$DSYNC_CLUSTER_HOST:$(_dc_http_port "$i")"
    done
    printf '%s' "$out"
}

# Starts node $1 in the background and writes its pid file.
_dc_start_node() {
    local i="$1" nodedir="$DC_DIR/n$1" secret peers pid
    mkdir -p "$nodedir/data"
    secret="$(head -n 1 "$DC_DIR/secret")"
    peers="$(_dc_peers)"
    echo "==== $(date '+%Y-%m-%d %H:%M:%S %z') started by ./dsync cluster up" >>"$nodedir/node.log"
    # The subshell execs nohup, which execs ./dsync, which execs java: $! is the node's JVM.
    # The secret goes in the environment, not on the command line (which any user can read).
    # stdin from /dev/null, stdout/stderr to the log, and the lock fd closed: the node holds
    # nothing of this command's.
    (
        if [[ -n "${DC_LOCK_FD:-}" ]]; then exec {DC_LOCK_FD}>&-; fi
        cd "$nodedir" || exit 1
        export DSYNC_CLUSTER_SECRET="$secret"
        exec nohup "$DSYNC_ROOT/dsync" run --node-id "n$i" \
            --http-host "$DSYNC_CLUSTER_HOST" --http-port "$(_dc_http_port "$i")" \
            --raft-host "$DSYNC_CLUSTER_HOST" --raft-port "$(_dc_raft_port "$i")" \
            --peers "$peers" --data-dir "$nodedir/data"
    ) </dev/null >>"$nodedir/node.log" 2>&1 &
    pid=$!
    echo "$pid" >"$nodedir/pid.tmp" && mv -f "$nodedir/pid.tmp" "$nodedir/pid"
    echo "started n$i: pid $pid, $(_dc_url "$i"), log $nodedir/node.log"
}

_dc_up() {
    local i pid port what owner deadline now started=() dead leader problems=()
    _dc_lock
    if _dc_read_conf; then
        if [[ -n "$DC_OPT_NODES" && "$DC_OPT_NODES" != "$DC_NODES" ]] \
            || [[ -n "$DC_OPT_BASE_PORT" && "$DC_OPT_BASE_PORT" != "$DC_BASE_PORT" ]]; then
            _dc_die "$DC_DIR already holds a cluster of $DC_NODES nodes on base port $DC_BASE_PORT" \
                "(you asked for ${DC_OPT_NODES:-$DC_NODES} nodes on base port ${DC_OPT_BASE_PORT:-$DC_BASE_PORT})." \
                "Run \`$DC_SELF cluster up --dir $DC_DIR\` to start it as it is, or use another --dir;" \
                "to replace it: $DC_SELF cluster down --dir $DC_DIR && rm -rf $DC_DIR"
        fi
    else
        DC_NODES="${DC_OPT_NODES:-3}" DC_BASE_PORT="${DC_OPT_BASE_PORT:-8080}"
        if ! printf '# dsync local cluster (./dsync cluster up), created %s\n# HTTP ports base_port.., Raft ports base_port+%d..\nnodes=%s\nbase_port=%s\n' \
                "$(date '+%Y-%m-%d %H:%M:%S %z')" "$DSYNC_CLUSTER_RAFT_OFFSET" "$DC_NODES" "$DC_BASE_PORT" \
                >"$DC_DIR/cluster.conf.tmp" || ! mv -f "$DC_DIR/cluster.conf.tmp" "$DC_DIR/cluster.conf"; then
            _dc_die "cannot write $DC_DIR/cluster.conf"
        fi
    fi
    _dc_make_secret
    command -v curl >/dev/null 2>&1 || _dc_die "curl is needed to check the nodes (apt-get install curl)"

    # Which nodes to start; their ports must be free (a node of ours that runs holds its own).
    local todo=()
    for (( i = 1; i <= DC_NODES; i++ )); do
        if pid="$(_dc_running_pid "$i")"; then
            echo "n$i is running (pid $pid)"
            continue
        fi
        rm -f "$DC_DIR/n$i/pid"
        todo+=("$i")
        for what in HTTP Raft; do
            if [[ "$what" == HTTP ]]; then port="$(_dc_http_port "$i")"; else port="$(_dc_raft_port "$i")"; fi
            if _dc_port_in_use "$port"; then
                owner="$(_dc_port_owner "$port")"
                problems+=("port $port ($what of n$i) on $DSYNC_CLUSTER_HOST is in use by another process${owner:+ ($owner)}")
            fi
        done
    done
    if (( ${#problems[@]} > 0 )); then
        printf 'dsync cluster: %s\n' "${problems[@]}" >&2
        _dc_die "not starting anything. Stop what holds those ports, or use another --base-port with another --dir."
    fi

    if (( ${#todo[@]} > 0 )); then
        setup_java
        if jar_is_stale; then build_jar; fi
        for i in "${todo[@]}"; do
            _dc_start_node "$i"
            started+=("$i")
        done
    fi

    echo "waiting up to ${DC_WAIT_SECONDS}s for all $DC_NODES nodes to be ready and agree on a leader ..."
    deadline=$(( SECONDS + DC_WAIT_SECONDS ))
    while :; do
        dead=()
        for (( i = 1; i <= DC_NODES; i++ )); do
            _dc_running_pid "$i" >/dev/null || dead+=("n$i")
        done
        if (( ${#dead[@]} > 0 )); then
            _dc_log_tails 30
            _dc_die "not running: ${dead[*]} (it exited; see its log above and in $DC_DIR/nI/node.log)"
        fi
        _dc_probe
        if leader="$(_dc_agreed_leader all)"; then
            break
        fi
        now=$SECONDS
        if (( now >= deadline )); then
            _dc_print_table >&2
            _dc_log_tails 20
            echo "dsync cluster: no leader agreed by all $DC_NODES nodes within ${DC_WAIT_SECONDS}s (table and log tails above)." >&2
            echo "dsync cluster: the nodes are left running; $DC_SELF cluster status --dir $DC_DIR looks again, $DC_SELF cluster down --dir $DC_DIR stops them." >&2
            exit 1
        fi
        sleep 0.5
    done

    echo
    _dc_print_table
    echo
    echo "leader: $leader $(_dc_url "${leader#n}")"
    echo "nodes:  $(for (( i = 1; i <= DC_NODES; i++ )); do printf '%s ' "$(_dc_url "$i")"; done)"
    echo "dir:    $DC_DIR (nI/node.log, nI/data)"
    echo "stop:   $DC_SELF cluster down --dir $DC_DIR"
}

# ------------------------------------------------------------------ down

_dc_down() {
    local i pid pids=() nodes=() deadline left rc=0
    _dc_lock
    _dc_need_conf
    for (( i = 1; i <= DC_NODES; i++ )); do
        if pid="$(_dc_running_pid "$i")"; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid") nodes+=("$i")
            echo "n$i: SIGTERM to pid $pid"
        else
            [[ ! -f "$DC_DIR/n$i/pid" ]] || echo "n$i: not running (stale pid file removed)"
            [[ -f "$DC_DIR/n$i/pid" ]] || echo "n$i: not running"
            rm -f "$DC_DIR/n$i/pid"
        fi
    done
    deadline=$(( SECONDS + 15 ))
    while :; do
        left=0
        for (( i = 0; i < ${#pids[@]}; i++ )); do
            ! _dc_pid_is_node "${pids[i]}" "$DC_DIR/n${nodes[i]}/data" || left=1
        done
        (( left && SECONDS < deadline )) || break
        sleep 0.2
    done
    for (( i = 0; i < ${#pids[@]}; i++ )); do
        pid="${pids[i]}"
        if _dc_pid_is_node "$pid" "$DC_DIR/n${nodes[i]}/data"; then
            echo "n${nodes[i]}: pid $pid did not stop within 15 s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            local t=0
            while _dc_pid_is_node "$pid" "$DC_DIR/n${nodes[i]}/data" && (( t < 50 )); do sleep 0.1; t=$(( t + 1 )); done
            if _dc_pid_is_node "$pid" "$DC_DIR/n${nodes[i]}/data"; then
                echo "dsync cluster: n${nodes[i]} (pid $pid) is still alive after SIGKILL" >&2
                rc=1
                continue
            fi
        fi
        echo "n${nodes[i]}: stopped (pid $pid)"
        rm -f "$DC_DIR/n${nodes[i]}/pid"
    done
    echo "data kept in $DC_DIR: $DC_SELF cluster up --dir $DC_DIR starts it again; rm -rf $DC_DIR wipes it"
    return "$rc"
}

# ------------------------------------------------------------------ status

_dc_status() {
    local i running=0 leader
    _dc_need_conf
    command -v curl >/dev/null 2>&1 || _dc_die "curl is needed to ask the nodes (apt-get install curl)"
    _dc_probe
    for (( i = 1; i <= DC_NODES; i++ )); do
        [[ -z "${ST_PID[i]}" ]] || running=$(( running + 1 ))
    done
    echo "cluster in $DC_DIR: $DC_NODES nodes, HTTP ports $(_dc_http_port 1)-$(_dc_http_port "$DC_NODES"), Raft ports $(_dc_raft_port 1)-$(_dc_raft_port "$DC_NODES")"
    _dc_print_table
    if leader="$(_dc_agreed_leader)"; then
        echo "leader: $leader $(_dc_url "${leader#n}")"
    else
        echo "leader: none agreed"
    fi
    echo "running: $running of $DC_NODES"
    if (( running == DC_NODES )) && _dc_agreed_leader all >/dev/null; then
        return 0
    fi
    return 3
}

# ------------------------------------------------------------------ entry

dsync_cluster() {
    local sub="${1:-help}"
    DC_SELF="$0"   # how the user ran dsync, for the commands the messages suggest
    if (( $# > 0 )); then shift; fi
    case "$sub" in
        up|down|status)
            _dc_parse "$sub" "$@"
            "_dc_$sub"
            ;;
        help|-h|--help)
            dsync_cluster_usage
            ;;
        *)
            echo "dsync cluster: unknown subcommand: $sub" >&2
            dsync_cluster_usage >&2
            exit 2
            ;;
    esac
}
