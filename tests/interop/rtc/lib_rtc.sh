# shellcheck shell=bash disable=SC2034  # sets globals (DUPLEX_PEER, SIGNAL, SRC_*, RC, DPEER_DONE) for its caller
# rtc/lib_rtc.sh: the steps rtc_interop_test.sh and rtc_loss_test.sh share (duplex-peer against a foreign WebRTC
# peer, both signaled by duplex-server's /signal, in a loopback-only network namespace). Source it after lib.sh.
#
#   rtc_init SECONDS DUPLEX_SERVER DUPLEX_PEER  # checks both, interop_init, loopback-only netns, TMPDIR=$WORK/tmp
#   rtc_start_signal                            # duplex-server; sets SIGNAL, SIGNAL_FOREIGN (RTC_TWO_NODES=1: two)
#   rtc_make_source FILE                        # 10 MiB of random bytes; sets SRC_SIZE, SRC_SHA
#   rtc_start_peers ROLE NAME                   # spawns "foreign" ($FOREIGN) and "duplex-peer" ($DPEER) in ROLE's order
#   rtc_watch_peers NAME                        # until the foreign peer exits; sets DPEER_DONE if duplex-peer did (0)
#   rtc_foreign_result NAME SECONDS PREFIX      # the foreign peer must exit 0; its output shown with [PREFIX]
#   rtc_dpeer_exits_by_itself                   # duplex-peer --send-file must exit 0 on its own
#   rtc_dpeer_stop WHAT                         # SIGTERM to duplex-peer, which must exit 0
#   wait_log NAME out|err REGEX SECONDS, await_exit NAME SECONDS (below)
# NAME is the foreign peer's name in messages (chromium, aiortc, ...).

# rtc_init SECONDS DUPLEX_SERVER DUPLEX_PEER
rtc_init() {
    [[ -x $2 ]] || die "duplex-server: '$2' is not an executable file"
    [[ -x $3 ]] || die "duplex-peer: '$3' is not an executable file (build apps/duplex-peer first)"
    DUPLEX_PEER=$3
    interop_init "$1" "$2" "$3"
    local others
    others=$(ip -o link show | awk -F': ' '$2 != "lo" { print $2 }')
    [[ -z $others ]] || die "not in a loopback-only network namespace (interfaces: $others)"
    # Everything the peers put in TMPDIR (Chromium's user-data-dir and singleton sockets) goes under $WORK, so the
    # EXIT trap finds and removes it.
    export TMPDIR=$WORK/tmp
    mkdir -p "$TMPDIR"
}

# With RTC_TWO_NODES=1: redis-server and two duplex-servers that share rooms through it (docs/scaling.md);
# duplex-peer signals through the first (SIGNAL), the foreign peer through the second (SIGNAL_FOREIGN).
rtc_start_signal() {
    if [[ ${RTC_TWO_NODES:-} == 1 ]]; then
        start_redis
        start_duplex_server --redis "$REDIS_URL"
        spawn duplex-server-b "$DUPLEX_SERVER" --host 127.0.0.1 --port 0 --redis "$REDIS_URL"
        SERVER_B_PORT=$(wait_port duplex-server-b)
        log "second duplex-server listening on 127.0.0.1:$SERVER_B_PORT, both on $REDIS_URL"
        SIGNAL=ws://127.0.0.1:$SERVER_PORT/signal
        SIGNAL_FOREIGN=ws://127.0.0.1:$SERVER_B_PORT/signal
        local port i
        for port in "$SERVER_PORT" "$SERVER_B_PORT"; do
            for ((i = 0; i < 200; i++)); do
                curl -s "http://127.0.0.1:$port/healthz" | grep -qx 'redis: up' && break
                sleep 0.05
            done
            curl -s "http://127.0.0.1:$port/healthz" | grep -qx 'redis: up' || die "duplex-server on $port: Redis not up"
        done
        return
    fi
    start_duplex_server
    SIGNAL=ws://127.0.0.1:$SERVER_PORT/signal
    SIGNAL_FOREIGN=$SIGNAL
}

# rtc_make_source FILE
rtc_make_source() {
    head -c $((10 * 1024 * 1024)) /dev/urandom >"$1"
    SRC_SIZE=$(stat -c %s "$1")
    SRC_SHA=$(sha256sum "$1" | cut -d' ' -f1)
    log "source file: $SRC_SIZE bytes, sha256 $SRC_SHA"
}

# wait_log NAME out|err REGEX SECONDS: like lib.sh's wait_line, on NAME's stdout or stderr; false as soon as NAME
# exits without such a line, or when time runs out.
wait_log() {
    local name=$1 stream=$2 re=$3 limit=$4 pidvar="PID_${1//[^A-Za-z0-9_]/_}" i
    for ((i = 0; i < limit * 20; i++)); do
        grep -qE "$re" "$WORK/$name.$stream" 2>/dev/null && return 0
        alive "${!pidvar}" || return 1
        sleep 0.05
    done
    return 1
}

# await_exit NAME SECONDS: wait for NAME to exit; sets RC to its exit status, or to "running" if it did not exit.
# (Not in a $(...) subshell: only this shell can wait for its children.)
await_exit() {
    local pidvar="PID_${1//[^A-Za-z0-9_]/_}" limit=$2 i
    for ((i = 0; i < limit * 10; i++)); do
        alive "${!pidvar}" || break
        sleep 0.1
    done
    RC=running
    alive "${!pidvar}" && return 0
    RC=0
    wait "${!pidvar}" || RC=$?
}

# rtc_start_peers ROLE NAME: duplex-offers: the foreign peer joins first (its "joined" line), then duplex-peer, which
# offers; duplex-answers: duplex-peer first (its -v line "joined room"), then the foreign peer, which offers.
rtc_start_peers() {
    if [[ $1 == duplex-offers ]]; then
        spawn foreign "${FOREIGN[@]}"
        wait_log foreign out '^joined ' 30 || die "the $2 peer did not join room $ROOM (within 30 s)"
        spawn duplex-peer "${DPEER[@]}"
    else
        spawn duplex-peer "${DPEER[@]}"
        wait_log duplex-peer err 'joined room' 20 ||
            die "duplex-peer did not log 'joined room' (it runs with -v) (within 20 s)"
        spawn foreign "${FOREIGN[@]}"
    fi
}

# rtc_watch_peers NAME: until the foreign peer is done; a duplex-peer that fails meanwhile ends the test at once.
rtc_watch_peers() {
    DPEER_DONE=
    # shellcheck disable=SC2154  # PID_* are set by spawn
    while alive "$PID_foreign"; do
        if ! alive "$PID_duplex_peer"; then
            await_exit duplex-peer 1
            [[ $RC == 0 ]] || die "duplex-peer exited $RC while the $1 peer was still running"
            DPEER_DONE=1
            log "duplex-peer exited 0 before the $1 peer finished"
            break
        fi
        sleep 0.1
    done
}

# rtc_foreign_result NAME SECONDS PREFIX
rtc_foreign_result() {
    await_exit foreign "$2"
    sed "s/^/  [$3] /" "$WORK/foreign.out" >&2
    [[ $RC == 0 ]] || die "the $1 peer failed (exit $RC)"
}

# rtc_dpeer_exits_by_itself: duplex-peer --send-file exits 0 by itself once file-ok came.
rtc_dpeer_exits_by_itself() {
    if [[ -z $DPEER_DONE ]]; then
        await_exit duplex-peer 15
        [[ $RC == 0 ]] || die "duplex-peer --send-file: exit status $RC after the transfer (expected 0)"
    fi
}

# rtc_dpeer_stop WHAT: --echo and --receive-dir run until SIGTERM, and then exit 0 (WHAT names it in the message).
rtc_dpeer_stop() {
    if [[ -z $DPEER_DONE ]]; then
        kill -TERM "$PID_duplex_peer" 2>/dev/null || true
        await_exit duplex-peer 5
        [[ $RC == 0 ]] || die "$1: exit status $RC after SIGTERM (expected 0)"
    fi
}
