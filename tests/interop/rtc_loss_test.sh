#!/bin/bash
# duplex-peer against aiortc through a lossy path: `tc netem` is not available, so aiortc's side (rtc/peer_aiortc.py
# --relay, rtc/lossy_relay.py) puts a UDP relay of its own between the peers' candidates. Every candidate the peers
# exchange (in `candidate` messages and in a=candidate lines of an SDP) is rewritten to a relay socket, so neither
# peer learns the other's real address and all of STUN, DTLS and SCTP crosses the relay, which drops, delays (with
# jitter) and reorders datagrams. Signaling by duplex-server's /signal, in a private loopback-only network namespace.
#
#   tests/interop/rtc_loss_test.sh PATH/duplex-server PATH/duplex-peer SCENARIO [ROLE]
#
#   SCENARIO  lossy-receive-file  duplex-peer --send-file (10 MiB of random bytes) -> aiortc; aiortc's SHA-256 must
#                                 be sha256sum's of the source, and duplex-peer must exit 0 by itself
#             lossy-unordered     duplex-peer --echo; aiortc opens `lossy` (ordered=False, maxRetransmits=0), sends
#                                 500 numbered messages 2 ms apart, which come back on `lossy`, then a marker on the
#                                 reliable `data`; fewer than 500 but more than 250 echoes, some after the first
#                                 lost message, no duplicates, and the marker's echo (checked by peer_aiortc.py)
#   ROLE      duplex-answers (default: aiortc offers, duplex-peer's answer carries its candidate in the SDP as well
#             as in a `candidate` message, so both are rewritten) or duplex-offers (as in rtc_interop_test.sh)
#
# The relay: $RTC_RELAY if set, else 5 % loss each way, 5 % of datagrams reordered (held back one more delay) and a
# one-way delay (+ up to 1/4 of it as jitter) of 20 ms for lossy-unordered but 5 ms for lossy-receive-file, with the
# seed $RTC_LOSS_SEED or a random one (logged, to replay a failure's loss pattern). Why 5 ms for the file: at 5 %
# random loss any Reno-like congestion control (usrsctp's) keeps about sqrt(3/(2*0.05)) = 5.5 packets in flight,
# one per 1.1 KiB, so goodput is ~6 KiB per round trip: with 20 ms each way (RTT ~45 ms) the 10 MiB take ~100 s,
# with 5 ms ~35 s (measured). RTC_RELAY=loss=0.05,delay_ms=20,reorder=0.05 runs the slow one (fits the watchdog).
# Checked afterwards: aiortc's selected ICE pair leads to a relay socket; in each direction the relay forwarded
# STUN, DTLS handshake and SCTP (DTLS application data) datagrams and dropped some; duplex-peer exits 0. (Datagrams
# from a source the relay does not know yet, i.e. duplex-peer's first checks racing its answer, are dropped and
# counted as `unmapped`; they are never forwarded.)
# Watchdog 150 s; process groups, logs on failure and cleanup as in lib.sh. Prints `PASS SCENARIO ROLE` and the
# relay's counts. Re-executes itself under `unshare --net` (needs root) with lo up.
set -euo pipefail

usage() {
    echo "usage: $0 PATH/duplex-server PATH/duplex-peer lossy-receive-file|lossy-unordered [duplex-answers|duplex-offers]" >&2
    exit 2
}
[[ $# -eq 3 || $# -eq 4 ]] || usage
case $3 in lossy-receive-file | lossy-unordered) ;; *) usage ;; esac
case ${4:-duplex-answers} in duplex-offers | duplex-answers) ;; *) usage ;; esac

if [[ ${DUPLEX_RTC_NETNS:-} != 1 ]]; then
    DUPLEX_RTC_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec "$@"' rtc_loss_netns bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RTC_DIR=$INTEROP_DIR/rtc
SCENARIO=$3
ROLE=${4:-duplex-answers}
[[ -x $1 ]] || die "duplex-server: '$1' is not an executable file"
[[ -x $2 ]] || die "duplex-peer: '$2' is not an executable file (build apps/duplex-peer first)"
DUPLEX_PEER=$2
interop_init 150 "$1" "$2"
STARTED=$SECONDS

others=$(ip -o link show | awk -F': ' '$2 != "lo" { print $2 }')
[[ -z $others ]] || die "not in a loopback-only network namespace (interfaces: $others)"
"$PYTHON" -c 'import aiortc, websockets' 2>/dev/null ||
    die "$PYTHON cannot import aiortc and websockets: apt-get install python3-aiortc python3-websockets"

export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

SEED=${RTC_LOSS_SEED:-$((RANDOM * 32768 + RANDOM))}
case $SCENARIO in
    lossy-receive-file) DELAY_MS=5 ;;
    lossy-unordered) DELAY_MS=20 ;;
esac
RELAY=${RTC_RELAY:-loss=0.05,delay_ms=$DELAY_MS,reorder=0.05,seed=$SEED}
log "relay: $RELAY"

start_duplex_server
SIGNAL=ws://127.0.0.1:$SERVER_PORT/signal
ROOM=rtc-loss-$ROLE-$SCENARIO-$$
SRC=$WORK/random.bin
if [[ $SCENARIO == lossy-receive-file ]]; then
    head -c $((10 * 1024 * 1024)) /dev/urandom >"$SRC"
    SRC_SIZE=$(stat -c %s "$SRC")
    SRC_SHA=$(sha256sum "$SRC" | cut -d' ' -f1)
    log "source file: $SRC_SIZE bytes, sha256 $SRC_SHA"
fi

FOREIGN=("$PYTHON" "$RTC_DIR/peer_aiortc.py" --signal "$SIGNAL" --room "$ROOM" --id aiortc --scenario "$SCENARIO"
    --relay "$RELAY" --timeout 135 -v)
DPEER=("$DUPLEX_PEER" --signal "$SIGNAL" --room "$ROOM" --id duplex --bind 127.0.0.1 -v --timeout 130)
case $SCENARIO in
    lossy-receive-file) DPEER+=(--send-file "$SRC") ;;
    lossy-unordered) DPEER+=(--echo) ;;
esac

# wait_log NAME out|err REGEX SECONDS: a matching line in NAME's stdout or stderr; false as soon as NAME exits
# without one, or when time runs out.
wait_log() {
    local name=$1 stream=$2 re=$3 limit=$4 pidvar="PID_${1//[^A-Za-z0-9_]/_}" i
    for ((i = 0; i < limit * 20; i++)); do
        grep -qE "$re" "$WORK/$name.$stream" 2>/dev/null && return 0
        alive "${!pidvar}" || return 1
        sleep 0.05
    done
    return 1
}

# await_exit NAME SECONDS: sets RC to NAME's exit status, or to "running" if it did not exit in time.
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

log "aiortc: ${FOREIGN[*]}"
log "duplex-peer: ${DPEER[*]}"
if [[ $ROLE == duplex-offers ]]; then
    spawn foreign "${FOREIGN[@]}"
    wait_log foreign out '^joined ' 30 || die "the aiortc peer did not join room $ROOM (within 30 s)"
    spawn duplex-peer "${DPEER[@]}"
else
    spawn duplex-peer "${DPEER[@]}"
    wait_log duplex-peer err 'joined room' 20 ||
        die "duplex-peer did not log 'joined room' (it runs with -v) (within 20 s)"
    spawn foreign "${FOREIGN[@]}"
fi
PEERS_STARTED=$SECONDS

DPEER_DONE=
# shellcheck disable=SC2154  # PID_* are set by spawn
while alive "$PID_foreign"; do
    if ! alive "$PID_duplex_peer"; then
        await_exit duplex-peer 1
        [[ $RC == 0 ]] || die "duplex-peer exited $RC while the aiortc peer was still running"
        DPEER_DONE=1
        log "duplex-peer exited 0 before the aiortc peer finished"
        break
    fi
    sleep 0.1
done
await_exit foreign 140
sed "s/^/  [aiortc] /" "$WORK/foreign.out" >&2
[[ $RC == 0 ]] || die "the aiortc peer failed (exit $RC)"
pass=$(grep -m1 "^PASS $SCENARIO" "$WORK/foreign.out" || true)
[[ -n $pass ]] || die "the aiortc peer exited 0 without a 'PASS $SCENARIO' line"

# Everything crossed the relay.
grep -qE '^selected pair .* \(a relay socket\)$' "$WORK/foreign.out" ||
    die "the aiortc peer printed no 'selected pair ... (a relay socket)' line"
# relay_count DIRECTION FIELD: FIELD=N of the `RELAY DIRECTION ...` line.
relay_count() {
    local v
    v=$(grep -m1 "^RELAY $1 " "$WORK/foreign.out" | grep -oE " $2=[0-9]+" | cut -d= -f2)
    [[ -n $v ]] || die "no $2= count for $1 in the relay's RELAY lines"
    echo "$v"
}
for dir in 'aiortc->other' 'other->aiortc'; do
    for field in forwarded dropped stun dtls sctp; do
        n=$(relay_count "$dir" "$field")
        [[ $n -gt 0 ]] || die "relay $dir: $field=$n (expected > 0: all traffic must cross the lossy relay)"
    done
done
relay_lines=$(grep '^RELAY ' "$WORK/foreign.out")

case $SCENARIO in
    lossy-receive-file)
        read -r _ _ size sha <<<"$pass"
        [[ $size == "$SRC_SIZE" ]] || die "the aiortc peer received $size bytes, the file has $SRC_SIZE"
        [[ $sha == "$SRC_SHA" ]] || die "the aiortc peer's SHA-256 $sha differs from sha256sum's $SRC_SHA"
        log "the aiortc peer received $size bytes with sha256sum's digest $sha"
        if [[ -z $DPEER_DONE ]]; then
            await_exit duplex-peer 15
            [[ $RC == 0 ]] || die "duplex-peer --send-file: exit status $RC after the transfer (expected 0)"
        fi
        ;;
    lossy-unordered)
        if [[ -z $DPEER_DONE ]]; then
            kill -TERM "$PID_duplex_peer" 2>/dev/null || true
            await_exit duplex-peer 5
            [[ $RC == 0 ]] || die "duplex-peer --echo: exit status $RC after SIGTERM (expected 0)"
        fi
        ;;
esac
log "duplex-peer exited 0"
echo "$relay_lines"
echo "$pass"
echo "PASS $SCENARIO $ROLE in $((SECONDS - PEERS_STARTED)) s (relay $RELAY; total $((SECONDS - STARTED)) s)"
