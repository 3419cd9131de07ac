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
#             media-echo      duplex-peer --echo --media-echo; aiortc sends a moving video (VP8) and a tone (Opus) and
#                             must decode what comes back (PASS media-echo video N WxH audio M); werift and ndc send
#                             synthetic VP8 and Opus frames (rtc/synthetic_media.js) and must get them back byte for
#                             byte (PASS media-echo video N audio M); ndc's answer names no SSRC, so duplex finds its
#                             streams by payload type; duplex-peer must say it echoes both and report the frames
#
# RTC_TWO_NODES=1: two duplex-servers sharing rooms through a redis-server (docs/scaling.md); duplex-peer signals
# through the first, the foreign peer through the second.
# duplex-peer runs with --id duplex --bind 127.0.0.1 -v --timeout 60; the foreign peer with --id PEER --timeout 90
# and $RTC_PEER_ARGS (e.g. --skip-empty). duplex-answers waits for duplex-peer's -v line "joined room" before the
# foreign peer joins; duplex-offers waits for the foreign peer's "joined" line before duplex-peer starts. Afterwards
# duplex-peer must exit 0: by itself after --send-file, on SIGTERM after --echo and --receive-dir.
# Watchdog 120 s; process groups, logs on failure and cleanup as in lib.sh. Prints `PASS PEER ROLE SCENARIO`.
# Re-executes itself under `unshare --net` (needs root) with lo up: nothing WebRTC gathers can leave the machine.
set -euo pipefail

usage() {
    echo "usage: $0 PATH/duplex-server PATH/duplex-peer chromium|aiortc|werift|ndc duplex-offers|duplex-answers echo|receive-file|send-file|media-echo" >&2
    exit 2
}
[[ $# -eq 5 ]] || usage
case $3 in chromium | aiortc | werift | ndc) ;; *) usage ;; esac
case $4 in duplex-offers | duplex-answers) ;; *) usage ;; esac
case $5 in echo | receive-file | send-file | media-echo) ;; *) usage ;; esac

if [[ ${DUPLEX_RTC_NETNS:-} != 1 ]]; then
    DUPLEX_RTC_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec "$@"' rtc_interop_netns bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RTC_DIR=$INTEROP_DIR/rtc
# shellcheck source=rtc/lib_rtc.sh
source "$RTC_DIR/lib_rtc.sh"
PEER=$3
ROLE=$4
SCENARIO=$5
rtc_init 120 "$1" "$2"   # sets DUPLEX_PEER, WORK, TMPDIR=$WORK/tmp

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

mkdir -p "$WORK/recv"

rtc_start_signal
ROOM=rtc-$PEER-$ROLE-$SCENARIO-$$
SRC=$WORK/random.bin
RECV=$WORK/recv
if [[ $SCENARIO != echo ]]; then rtc_make_source "$SRC"; fi

FOREIGN+=(--signal "$SIGNAL_FOREIGN" --room "$ROOM" --id "$PEER" --scenario "$SCENARIO" --timeout 90 -v)
[[ $SCENARIO == send-file ]] && FOREIGN+=(--file "$SRC")
# shellcheck disable=SC2206  # word splitting of the extra arguments is wanted
[[ -n ${RTC_PEER_ARGS:-} ]] && FOREIGN+=($RTC_PEER_ARGS)
DPEER=("$DUPLEX_PEER" --signal "$SIGNAL" --room "$ROOM" --id duplex --bind 127.0.0.1 -v --timeout 60)
case $SCENARIO in
    echo) DPEER+=(--echo) ;;
    media-echo) DPEER+=(--echo --media-echo) ;;
    receive-file) DPEER+=(--send-file "$SRC") ;;
    send-file) DPEER+=(--receive-dir "$RECV") ;;
esac

log "foreign peer: ${FOREIGN[*]}"
log "duplex-peer: ${DPEER[*]}"
rtc_start_peers "$ROLE" "$PEER"
rtc_watch_peers "$PEER"
rtc_foreign_result "$PEER" 100 foreign
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
        rtc_dpeer_exits_by_itself
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
# --echo and --receive-dir run until SIGTERM, and then exit 0.
if [[ $SCENARIO != receive-file ]]; then rtc_dpeer_stop duplex-peer; fi
if [[ $SCENARIO == media-echo ]]; then
    grep -q "echoing its video (VP8)" "$WORK/duplex-peer.err" && grep -q "echoing its audio (opus)" "$WORK/duplex-peer.err" ||
        die "duplex-peer did not say it echoes the $PEER peer's video (VP8) and audio (opus)"
    grep -qE "video: [1-9][0-9]* frames received \([0-9]+ key\), [1-9][0-9]* echoed" "$WORK/duplex-peer.err" ||
        die "duplex-peer reported no video frames received and echoed"
    log "duplex-peer: $(grep -E 'video: |audio: ' "$WORK/duplex-peer.err" | tr '\n' ' ')"
fi
log "duplex-peer exited 0"
echo "PASS $PEER $ROLE $SCENARIO"
