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
#             lossy-media-echo    duplex-peer --echo --media-echo; aiortc sends a moving VP8 video and an Opus tone and
#                                 must decode 60 video frames of its size and 100 audio frames that came back across
#                                 the loss twice; duplex-peer must have sent NACKs for the video it lost and
#                                 retransmitted (RTX) what aiortc NACKed
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
    echo "usage: $0 PATH/duplex-server PATH/duplex-peer lossy-receive-file|lossy-unordered|lossy-media-echo [duplex-answers|duplex-offers]" >&2
    exit 2
}
[[ $# -eq 3 || $# -eq 4 ]] || usage
case $3 in lossy-receive-file | lossy-unordered | lossy-media-echo) ;; *) usage ;; esac
case ${4:-duplex-answers} in duplex-offers | duplex-answers) ;; *) usage ;; esac

if [[ ${DUPLEX_RTC_NETNS:-} != 1 ]]; then
    DUPLEX_RTC_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec "$@"' rtc_loss_netns bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RTC_DIR=$INTEROP_DIR/rtc
# shellcheck source=rtc/lib_rtc.sh
source "$RTC_DIR/lib_rtc.sh"
SCENARIO=$3
ROLE=${4:-duplex-answers}
STARTED=$SECONDS
rtc_init 150 "$1" "$2"   # sets DUPLEX_PEER, WORK, TMPDIR=$WORK/tmp
"$PYTHON" -c 'import aiortc, websockets' 2>/dev/null ||
    die "$PYTHON cannot import aiortc and websockets: apt-get install python3-aiortc python3-websockets"

SEED=${RTC_LOSS_SEED:-$((RANDOM * 32768 + RANDOM))}
case $SCENARIO in
    lossy-receive-file) DELAY_MS=5 ;;
    lossy-unordered) DELAY_MS=20 ;;
    lossy-media-echo) DELAY_MS=30 ;;
esac
RELAY=${RTC_RELAY:-loss=0.05,delay_ms=$DELAY_MS,reorder=0.05,seed=$SEED}
log "relay: $RELAY"

rtc_start_signal
ROOM=rtc-loss-$ROLE-$SCENARIO-$$
SRC=$WORK/random.bin
if [[ $SCENARIO == lossy-receive-file ]]; then rtc_make_source "$SRC"; fi

FOREIGN=("$PYTHON" "$RTC_DIR/peer_aiortc.py" --signal "$SIGNAL" --room "$ROOM" --id aiortc --scenario "$SCENARIO"
    --relay "$RELAY" --timeout 135 -v)
DPEER=("$DUPLEX_PEER" --signal "$SIGNAL" --room "$ROOM" --id duplex --bind 127.0.0.1 -v --timeout 130)
case $SCENARIO in
    lossy-receive-file) DPEER+=(--send-file "$SRC") ;;
    lossy-unordered) DPEER+=(--echo) ;;
    lossy-media-echo) DPEER+=(--echo --media-echo) ;;
esac

log "aiortc: ${FOREIGN[*]}"
log "duplex-peer: ${DPEER[*]}"
rtc_start_peers "$ROLE" aiortc
PEERS_STARTED=$SECONDS
rtc_watch_peers aiortc
rtc_foreign_result aiortc 140 aiortc
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
        rtc_dpeer_exits_by_itself
        ;;
    lossy-unordered)
        rtc_dpeer_stop 'duplex-peer --echo'
        ;;
    lossy-media-echo)
        rtc_dpeer_stop 'duplex-peer --media-echo'
        video=$(grep -m1 -E 'peer aiortc: video: ' "$WORK/duplex-peer.err" || true)
        [[ -n $video ]] || die "duplex-peer reported no video counts"
        log "duplex-peer: $video"
        nacks=$(grep -oE 'NACKs sent [0-9]+' <<<"$video" | grep -oE '[0-9]+$')
        resent=$(grep -oE 'packets retransmitted [0-9]+' <<<"$video" | grep -oE '[0-9]+$')
        [[ $nacks -gt 0 ]] || die "duplex-peer sent no NACK for the video it lost ($video)"
        [[ $resent -gt 0 ]] || die "duplex-peer retransmitted nothing aiortc asked for ($video)"
        ;;
esac
log "duplex-peer exited 0"
echo "$relay_lines"
echo "$pass"
echo "PASS $SCENARIO $ROLE in $((SECONDS - PEERS_STARTED)) s (relay $RELAY; total $((SECONDS - STARTED)) s)"
