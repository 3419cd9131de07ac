# lib.sh: shared plumbing for the interop shell tests. Source it, do not run it.
#
#   source "$(dirname "$0")/lib.sh"
#   interop_init SECONDS "$@"          # binaries from args 1-2 or env, watchdog, traps
#   start_duplex_server [server args]  # sets SERVER_PORT
#   spawn NAME cmd...                  # own process group; output in $WORK/NAME.{out,err}
#   wait_port NAME                     # first "listening ... PORT" line of NAME.out (http:// or https://)
#   wait_line NAME REGEX [SECONDS]     # wait for a matching line in NAME.out
#   run_step NAME SECONDS cmd...       # foreground step, in its own process group
#
# Every process is started with setsid, so it leads a process group of its own,
# and the EXIT trap kills each of those groups (TERM, then KILL), then the
# process group of anything still running with the scratch directory on its
# command line (e.g. a Chromium whose launcher died), removes the
# scratch directory, and prints the logs of everything that ran if the test
# failed. A watchdog process sends the script SIGTERM after SECONDS; the script
# only ever blocks in `wait`, which a trapped signal interrupts at once.
# Only 127.0.0.1 is used.

set -euo pipefail

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}   # Debian's python3, the one with python3-websockets
NODE=${NODE:-node}

_pgids=()
_names=()
WORK=

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# alive PID: the process exists and is not a zombie.
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $st && $st != Z ]]
}

# _groups_alive: true while any process of our groups is still running.
_groups_alive() {
    [[ ${#_pgids[@]} -gt 0 ]] || return 1
    ps -e -o pgid=,stat= | awk -v groups=" ${_pgids[*]} " \
        'index(groups, " " $1 " ") && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

_kill_groups() {
    local g i
    for g in "${_pgids[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    # Up to 3 s for them to go, then SIGKILL whatever is left.
    for ((i = 0; i < 30; i++)); do
        _groups_alive || break
        sleep 0.1
    done
    for g in "${_pgids[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
    _pgids=()
}

# _kill_strays: SIGKILL the process group of any process that still has $WORK/
# on its command line (not ours): a browser launched into a group of its own by
# a helper that died (its --user-data-dir is under $WORK).
_kill_strays() {
    [[ -n $WORK ]] || return 0
    local mine pid pgid
    mine=$(ps -o pgid= -p $$ | tr -d ' ')
    while read -r pid; do
        pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || continue
        [[ -n $pgid && $pgid != "$mine" && $pgid != 0 ]] && { kill -KILL -- "-$pgid" 2>/dev/null || true; }
    done < <(grep -lsF -- "$WORK/" /proc/[0-9]*/cmdline | cut -d/ -f3)
    return 0
}

_on_exit() {
    local rc=$?
    trap - EXIT INT TERM HUP
    _kill_groups
    _kill_strays
    wait 2>/dev/null || true
    if [[ $rc -ne 0 && -n $WORK && -d $WORK ]]; then
        # Steps showed their output already; show what the background processes said.
        local f n
        for n in "${_names[@]}"; do
            for f in "$WORK/$n.out" "$WORK/$n.err"; do
                [[ -s $f ]] || continue
                echo "----- $(basename "$f") -----" >&2
                tail -n 40 "$f" >&2
            done
        done
    fi
    [[ -n $WORK ]] && rm -rf "$WORK"
    if [[ $rc -eq 0 ]]; then log "PASS"; else log "FAIL (exit $rc)"; fi
    exit "$rc"
}

_on_signal() {
    if [[ -n $WORK && -e $WORK/watchdog.fired ]]; then
        log "watchdog: test took longer than ${_timeout}s"
    else
        log "interrupted by a signal"
    fi
    exit 124
}

# interop_init SECONDS [DUPLEX_SERVER [WS_CLIENT_CHECK]]
interop_init() {
    _timeout=$1
    shift
    DUPLEX_SERVER=${1:-${DUPLEX_SERVER:-}}
    WS_CLIENT_CHECK=${2:-${WS_CLIENT_CHECK:-}}
    [[ -n $DUPLEX_SERVER && -x $DUPLEX_SERVER ]] ||
        die "usage: $0 PATH/duplex-server PATH/ws_client_check (or set DUPLEX_SERVER and WS_CLIENT_CHECK)"
    [[ -n $WS_CLIENT_CHECK && -x $WS_CLIENT_CHECK ]] ||
        die "usage: $0 PATH/duplex-server PATH/ws_client_check (or set DUPLEX_SERVER and WS_CLIENT_CHECK)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/duplex-interop.XXXXXX")
    trap _on_exit EXIT
    trap _on_signal INT TERM HUP
    # The watchdog: its own process group too, killed with the rest on exit.
    # shellcheck disable=SC2016  # $1.. are the inner shell's arguments
    setsid bash -c 'sleep "$1" && touch "$2/watchdog.fired" && kill -TERM "$3"' watchdog \
        "$_timeout" "$WORK" "$$" </dev/null >/dev/null 2>&1 &
    _pgids+=("$!")
}

require_node_modules() {
    local m
    for m in "$@"; do
        [[ -d $INTEROP_DIR/node_modules/$m ]] ||
            die "node module '$m' is missing: run 'npm ci --prefix $INTEROP_DIR' first"
    done
}

# spawn NAME cmd...: start cmd in the background as the leader of a new process
# group (setsid does not fork here: a background child of a non-interactive
# shell is never a group leader, so its pid is the group id).
spawn() {
    local name=$1
    shift
    # Truncate here, not only in the child: a name started again must not let
    # wait_port read the previous run's port before the child gets to it.
    : >"$WORK/$name.out"
    : >"$WORK/$name.err"
    setsid "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
    _pgids+=("$!")
    [[ " ${_names[*]} " == *" $name "* ]] || _names+=("$name")   # a name started again shares its log files
    eval "PID_${name//[^A-Za-z0-9_]/_}=$!"
}

# wait_port NAME [SECONDS]: echo the port from NAME's first line matching
# "listening on http://127.0.0.1:PORT", "listening on https://127.0.0.1:PORT"
# or "listening 127.0.0.1:PORT".
wait_port() {
    local name=$1 limit=${2:-15} pidvar="PID_${1//[^A-Za-z0-9_]/_}" i line
    for ((i = 0; i < limit * 20; i++)); do
        line=$(grep -m1 -E '^listening (on https?://)?127\.0\.0\.1:[0-9]+$' "$WORK/$name.out" 2>/dev/null || true)
        if [[ -n $line ]]; then
            echo "${line##*:}"
            return 0
        fi
        alive "${!pidvar}" || die "$name exited before it printed its port"
        sleep 0.05
    done
    die "$name printed no 'listening' line within ${limit}s"
}

# wait_line NAME REGEX [SECONDS]: wait until a line of NAME's output matches
# REGEX (grep -E); false if none does in time (default 5 s).
wait_line() {
    local name=$1 re=$2 limit=${3:-5} i
    for ((i = 0; i < limit * 20; i++)); do
        grep -qE "$re" "$WORK/$name.out" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# start_duplex_server [extra args]: sets SERVER_PORT.
# shellcheck disable=SC2120  # the arguments are optional
start_duplex_server() {
    spawn duplex-server "$DUPLEX_SERVER" --host 127.0.0.1 --port 0 "$@"
    SERVER_PORT=$(wait_port duplex-server)
    log "duplex-server listening on 127.0.0.1:$SERVER_PORT"
}

# start_redis: redis-server on a Unix socket in $WORK (no port to pick, nothing on the network); sets REDIS_URL
# for duplex-server --redis. Stopped with the other process groups.
start_redis() {
    command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
    spawn redis-server redis-server --port 0 --unixsocket "$WORK/redis.sock" --save '' --appendonly no --dir "$WORK"
    wait_line redis-server 'ready to accept connections' 10 || die "redis-server is not ready after 10 s"
    REDIS_URL=unix://$WORK/redis.sock
    log "redis-server on $REDIS_URL"
}

# stop_duplex_server: SIGTERM, and it must exit 0 within 5 s.
stop_duplex_server() {
    # shellcheck disable=SC2154  # set by spawn
    local pid=$PID_duplex_server rc=0 i
    kill -TERM "$pid"
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && die "duplex-server still running 5 s after SIGTERM"
    wait "$pid" || rc=$?
    [[ $rc -eq 0 ]] || die "duplex-server exited $rc after SIGTERM"
    log "duplex-server stopped cleanly on SIGTERM"
}

# run_step NAME SECONDS cmd...: run cmd in its own process group under
# `timeout`, show its output, and return its exit status.
run_step() {
    local name=$1 limit=$2 rc=0
    shift 2
    log "step $name: $*"
    setsid timeout -k 5 "$limit" "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    _pgids+=("$pid")
    wait "$pid" || rc=$?
    sed "s/^/  [$name] /" "$WORK/$name.out" >&2
    if [[ $rc -ne 0 ]]; then
        sed "s/^/  [$name:err] /" "$WORK/$name.err" >&2
        [[ $rc -eq 124 ]] && log "step $name timed out after ${limit}s"
    fi
    return "$rc"
}
