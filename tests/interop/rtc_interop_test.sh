#!/bin/bash
# duplex-peer against a foreign WebRTC peer, both signaled by duplex-server's /signal (docs/signaling.md), inside a
# private loopback-only network namespace.
#
#   tests/interop/rtc_interop_test.sh PATH/duplex-server PATH/duplex-peer PEER ROLE SCENARIO
#
#   PEER      chromium (rtc/chromium_peer.js + rtc/page_peer.html, headless Chromium via playwright-core)
#             aiortc   (rtc/peer_aiortc.py, Debian python3-aiortc 1.4)
#             werift   (rtc/peer_node.js --lib werift, werift 0.24.4)
#             ndc      (rtc/peer_node.js --lib ndc, node-datachannel 0.33.4 = libdatachannel 0.24.5)
#   ROLE      duplex-offers   the foreign peer joins the room first, then duplex-peer, which offers
#             duplex-answers  duplex-peer joins first; the foreign peer joins second and offers
#   SCENARIO  echo            duplex-peer --echo; the foreign peer sends text, 1 KiB and 256 KiB binary, empty text
#                             and binary (not werift: it cannot send them), non-ASCII text on `data`; each echo must
#                             be identical and of the same type
#             receive-file    duplex-peer --send-file (10 MiB of random bytes); the foreign peer receives it per
#                             docs/file-transfer.md and prints its SHA-256, which must be sha256sum's of the source
#             send-file       duplex-peer --receive-dir; the foreign peer sends the 10 MiB file; the file that
#                             duplex-peer stored must have the source's size and SHA-256
#
# duplex-peer runs with --id duplex --bind 127.0.0.1 -v --timeout 60; the foreign peer with --id PEER --timeout 90
# and $RTC_PEER_ARGS (e.g. --skip-empty). duplex-answers waits for duplex-peer's -v line "joined room" before the
# foreign peer joins; duplex-offers waits for the foreign peer's "joined" line before duplex-peer starts. Afterwards
# duplex-peer must exit 0: by itself after --send-file, on SIGTERM after --echo and --receive-dir.
# Watchdog 120 s; process groups, logs on failure and cleanup as in lib.sh. Prints `PASS PEER ROLE SCENARIO`.
# Re-executes itself under `unshare --net` (needs root) with lo up: nothing WebRTC gathers can leave the machine.
set -euo pipefail

usage() {
    echo "usage: $0 PATH/duplex-server PATH/duplex-peer chromium|aiortc|werift|ndc duplex-offers|duplex-answers echo|receive-file|send-file" >&2
    exit 2
}
[[ $# -eq 5 ]] || usage
case $3 in chromium | aiortc | werift | ndc) ;; *) usage ;; esac
case $4 in duplex-offers | duplex-answers) ;; *) usage ;; esac
case $5 in echo | receive-file | send-file) ;; *) usage ;; esac

if [[ ${DUPLEX_RTC_NETNS:-} != 1 ]]; then
    DUPLEX_RTC_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec "$@"' rtc_interop_netns bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RTC_DIR=$INTEROP_DIR/rtc
PEER=$3
ROLE=$4
SCENARIO=$5
[[ -x $1 ]] || die "duplex-server: '$1' is not an executable file"
[[ -x $2 ]] || die "duplex-peer: '$2' is not an executable file (build apps/duplex-peer first)"
DUPLEX_PEER=$2
interop_init 120 "$1" "$2"

others=$(ip -o link show | awk -F': ' '$2 != "lo" { print $2 }')
[[ -z $others ]] || die "not in a loopback-only network namespace (interfaces: $others)"

case $PEER in
    chromium)
        require_node_modules playwright-core
        FOREIGN=("$NODE" "$RTC_DIR/chromium_peer.js") ;;
    aiortc)
        "$PYTHON" -c 'import aiortc, websockets' 2>/dev/null ||
            die "$PYTHON cannot import aiortc and websockets: apt-get install python3-aiortc python3-websockets"
        FOREIGN=("$PYTHON" "$RTC_DIR/peer_aiortc.py") ;;
    werift)
        require_node_modules werift ws
        FOREIGN=("$NODE" "$RTC_DIR/peer_node.js" --lib werift) ;;
    ndc)
        require_node_modules node-datachannel ws
        FOREIGN=("$NODE" "$RTC_DIR/peer_node.js" --lib ndc) ;;
esac

# Everything the peers put in TMPDIR (Chromium's user-data-dir and singleton sockets) goes under $WORK, so the
# EXIT trap finds and removes it.
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR" "$WORK/recv"

start_duplex_server
SIGNAL=ws://127.0.0.1:$SERVER_PORT/signal
ROOM=rtc-$PEER-$ROLE-$SCENARIO-$$
SRC=$WORK/random.bin
RECV=$WORK/recv
if [[ $SCENARIO != echo ]]; then
    head -c $((10 * 1024 * 1024)) /dev/urandom >"$SRC"
    SRC_SIZE=$(stat -c %s "$SRC")
    SRC_SHA=$(sha256sum "$SRC" | cut -d' ' -f1)
    log "source file: $SRC_SIZE bytes, sha256 $SRC_SHA"
fi

FOREIGN+=(--signal "$SIGNAL" --room "$ROOM" --id "$PEER" --scenario "$SCENARIO" --timeout 90 -v)
[[ $SCENARIO == send-file ]] && FOREIGN+=(--file "$SRC")
# shellcheck disable=SC2206  # word splitting of the extra arguments is wanted
[[ -n ${RTC_PEER_ARGS:-} ]] && FOREIGN+=($RTC_PEER_ARGS)
DPEER=("$DUPLEX_PEER" --signal "$SIGNAL" --room "$ROOM" --id duplex --bind 127.0.0.1 -v --timeout 60)
case $SCENARIO in
    echo) DPEER+=(--echo) ;;
    receive-file) DPEER+=(--send-file "$SRC") ;;
    send-file) DPEER+=(--receive-dir "$RECV") ;;
esac

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

log "foreign peer: ${FOREIGN[*]}"
log "duplex-peer: ${DPEER[*]}"
if [[ $ROLE == duplex-offers ]]; then
    spawn foreign "${FOREIGN[@]}"
    wait_log foreign out '^joined ' 30 || die "the $PEER peer did not join room $ROOM (within 30 s)"
    spawn duplex-peer "${DPEER[@]}"
else
    spawn duplex-peer "${DPEER[@]}"
    wait_log duplex-peer err 'joined room' 20 ||
        die "duplex-peer did not log 'joined room' (it runs with -v) (within 20 s)"
    spawn foreign "${FOREIGN[@]}"
fi

# Until the foreign peer is done; a duplex-peer that fails meanwhile ends the test at once.
DPEER_DONE=
# shellcheck disable=SC2154  # PID_* are set by spawn
while alive "$PID_foreign"; do
    if ! alive "$PID_duplex_peer"; then
        await_exit duplex-peer 1
        [[ $RC == 0 ]] || die "duplex-peer exited $RC while the $PEER peer was still running"
        DPEER_DONE=1
        log "duplex-peer exited 0 before the $PEER peer finished"
        break
    fi
    sleep 0.1
done
await_exit foreign 100
sed "s/^/  [foreign] /" "$WORK/foreign.out" >&2
[[ $RC == 0 ]] || die "the $PEER peer failed (exit $RC)"
joined=$(grep -m1 '^joined ' "$WORK/foreign.out")
if [[ $ROLE == duplex-offers ]]; then
    [[ $joined == *' peers []' ]] || die "the $PEER peer should have joined an empty room: '$joined'"
else
    [[ $joined == *'"duplex"'* ]] || die "the $PEER peer should have found duplex in the room: '$joined'"
fi
pass=$(grep -m1 "^PASS $SCENARIO" "$WORK/foreign.out" || true)
[[ -n $pass ]] || die "the $PEER peer exited 0 without a 'PASS $SCENARIO' line"

case $SCENARIO in
    receive-file)
        read -r _ _ size sha <<<"$pass"
        [[ $size == "$SRC_SIZE" ]] || die "the $PEER peer received $size bytes, the file has $SRC_SIZE"
        [[ $sha == "$SRC_SHA" ]] || die "the $PEER peer's SHA-256 $sha differs from sha256sum's $SRC_SHA"
        log "the $PEER peer received $size bytes with sha256sum's digest $sha"
        # duplex-peer --send-file exits 0 by itself once file-ok came.
        if [[ -z $DPEER_DONE ]]; then
            await_exit duplex-peer 15
            [[ $RC == 0 ]] || die "duplex-peer --send-file: exit status $RC after the transfer (expected 0)"
        fi
        ;;
    send-file)
        got=$RECV/random.bin
        [[ -f $got ]] || die "duplex-peer stored no random.bin in --receive-dir (there: $(find "$RECV" -mindepth 1 -printf '%f '))"
        size=$(stat -c %s "$got")
        sha=$(sha256sum "$got" | cut -d' ' -f1)
        [[ $size == "$SRC_SIZE" && $sha == "$SRC_SHA" ]] ||
            die "duplex-peer stored $size bytes with sha256 $sha; sent $SRC_SIZE bytes with sha256 $SRC_SHA"
        grep -qxF "received random.bin $SRC_SIZE bytes sha256 $SRC_SHA" "$WORK/duplex-peer.out" ||
            die "duplex-peer printed no 'received random.bin $SRC_SIZE bytes sha256 $SRC_SHA' line"
        log "duplex-peer stored random.bin: $size bytes, sha256 $sha (= the source)"
        ;;
esac
if [[ $SCENARIO != receive-file && -z $DPEER_DONE ]]; then
    # --echo and --receive-dir run until SIGTERM, and then exit 0.
    kill -TERM "$PID_duplex_peer" 2>/dev/null || true
    await_exit duplex-peer 5
    [[ $RC == 0 ]] || die "duplex-peer: exit status $RC after SIGTERM (expected 0)"
fi
log "duplex-peer exited 0"
echo "PASS $PEER $ROLE $SCENARIO"
