#!/bin/bash
# A video call between duplex-peer and headless Chromium across a lossy path, both ways at once: duplex-peer sends
# its VP8 test pattern (--video testsrc) and records Chromium's fake camera (--record), Chromium plays the pattern and
# sends its camera. The path is rtc/lossy_relay.py behind a signaling proxy (rtc/relay_proxy.py: the page cannot run
# a relay itself): every candidate either side is told is a relay socket, so every datagram crosses the relay, which
# drops 5 % each way at random from one second into the media on (the handshakes are through by then: a lost DTLS
# Finished would cost a second of media to its retransmission timer, which is not what this measures), delays 30 ms
# (+ up to 7.5 ms jitter), and drops everything both ways for 300 ms twelve seconds into the media (a burst). Signaling by duplex-server's /signal, in a loopback-only network namespace.
#
#   tests/interop/rtc_video_loss_test.sh PATH/duplex-server PATH/duplex-peer [vp8|h264] [loss|bottleneck]
#
# The codec (default vp8) is both directions': with h264 duplex-peer runs with --video-codec h264, so its answer
# puts H.264 first (its codec preferences) and Chromium sends its camera in H.264 too; the recording is then Annex B
# (.h264, decoded by OpenH264), which has no timestamps, so the 500 ms hole check is VP8's alone.
#
# The page (rtc/chromium_peer.js --scenario video-call --duration $RTC_CALL_SECONDS, default 30) joins second and
# offers; once duplex-peer's picture shows it reads the frame number of the pattern's bar code, plays for the
# duration, reads it again, stops its camera and reports its getStats counts. Checked:
#   duplex -> Chromium: frames decoded >= 99 % of the frame numbers that went by; no two frames shown more than
#     500 ms apart (the longest gap, from requestVideoFrameCallback: the burst makes one of ~400 ms); Chromium sent
#     NACKs and duplex-peer retransmitted (RTX).
#   Chromium -> duplex: the IVF that duplex-peer recorded decodes with libvpx without an error (media_check), holds
#     >= 99 % of the frames Chromium sent, no two frames in it are more than 500 ms apart, and is 640x480 (Chromium
#     sends its camera at full size only once its bandwidth estimate rose, which takes our transport-cc feedback);
#     duplex-peer sent NACKs.
#   The relay dropped datagrams at random and in the burst, in both directions.
# bottleneck: instead of loss, a path of 1000 kbit/s each way with a 300 ms drop-tail queue and 20 ms of delay, which
# duplex-peer's test pattern (--video-kbps 2500: ~1.5 Mbit/s) overflows unless it follows its bandwidth estimate
# (PeerConnection::on_outgoing_bitrate, made from Chromium's transport-cc feedback). Checked: duplex-peer's estimate
# went below the path's rate; duplex -> chromium: frames decoded >= 95 % of the frame numbers that went by, no freeze
# of 2 s; the relay's queue dropped less than 10 % of what came to it from duplex-peer (64 % when duplex-peer does not
# follow the estimate, and the call fails); chromium -> duplex: the
# recording decodes and holds >= 95 % of the frames Chromium sent (Chromium follows our feedback).
# $RTC_RELAY replaces the impairment (e.g. without the burst), $RTC_LOSS_SEED the seed (logged, to replay a run).
# Watchdog 150 s; process groups, logs on failure and cleanup as in lib.sh. Prints `PASS video-loss`.
# Needs DUPLEX_MEDIA_CHECK (the CMake test sets it). Re-executes itself under `unshare --net` (needs root).
set -euo pipefail

usage() {
    echo "usage: DUPLEX_MEDIA_CHECK=PATH/media_check $0 PATH/duplex-server PATH/duplex-peer [vp8|h264] [loss|bottleneck]" >&2
    exit 2
}
[[ $# -ge 2 && $# -le 4 ]] || usage
case ${3:-vp8} in vp8 | h264) ;; *) usage ;; esac
case ${4:-loss} in loss | bottleneck) ;; *) usage ;; esac
[[ -x ${DUPLEX_MEDIA_CHECK:-} ]] || usage

if [[ ${DUPLEX_RTC_NETNS:-} != 1 ]]; then
    DUPLEX_RTC_NETNS=1 exec unshare --net bash -c 'ip link set lo up && exec "$@"' rtc_video_loss_netns bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RTC_DIR=$INTEROP_DIR/rtc
# shellcheck source=rtc/lib_rtc.sh
source "$RTC_DIR/lib_rtc.sh"
CODEC=${3:-vp8}
MODE=${4:-loss}
rtc_init 150 "$1" "$2"   # sets DUPLEX_PEER, WORK, TMPDIR=$WORK/tmp
require_node_modules playwright-core
"$PYTHON" -c 'import websockets' 2>/dev/null || die "$PYTHON cannot import websockets: apt-get install python3-websockets"

SECONDS_OF_CALL=${RTC_CALL_SECONDS:-30}
SEED=${RTC_LOSS_SEED:-$RANDOM}
if [[ $MODE == bottleneck ]]; then
    RELAY=${RTC_RELAY:-rate_kbps=1000,queue_ms=300,delay_ms=20}
else
    RELAY=${RTC_RELAY:-loss=0.05,delay_ms=30,burst=12:300,loss_after=1}
fi
[[ $RELAY == *seed=* ]] || RELAY="$RELAY,seed=$SEED"
log "relay: $RELAY"

rtc_start_signal
spawn proxy "$PYTHON" "$RTC_DIR/relay_proxy.py" --upstream "$SIGNAL" --relay "$RELAY"
wait_log proxy out '^listening ws://' 10 || die "relay_proxy.py did not start"
PROXY=$(grep -m1 -oE 'ws://[^ ]+' "$WORK/proxy.out")

ROOM=video-loss-$$
REC=$WORK/rec
mkdir -p "$REC"
DPEER=("$DUPLEX_PEER" --signal "$SIGNAL" --room "$ROOM" --id duplex --bind 127.0.0.1 -v --timeout 120
    --video testsrc --video-codec "$CODEC" --record "$REC")
[[ $MODE != bottleneck ]] || DPEER+=(--video-kbps 2500)
FOREIGN=("$NODE" "$RTC_DIR/chromium_peer.js" --signal "$PROXY" --room "$ROOM" --id chromium --scenario video-call
    --duration "$SECONDS_OF_CALL" --timeout $((SECONDS_OF_CALL + 60)) -v)
log "duplex-peer: ${DPEER[*]}"
rtc_start_peers duplex-answers chromium
rtc_watch_peers chromium
rtc_foreign_result chromium 100 chromium
pass=$(grep -m1 '^PASS video-call ' "$WORK/foreign.out" || true)
[[ -n $pass ]] || die "the chromium peer exited 0 without a 'PASS video-call' line"
report=${pass#PASS video-call }
# The page stopped its camera 500 ms before its last stats and then closed: what it sent has arrived.
rtc_dpeer_stop duplex-peer
kill -TERM "$PID_proxy" 2>/dev/null || true
await_exit proxy 5
grep '^RELAY ' "$WORK/proxy.out" >&2 || true

field() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$report" "$1"; }
expected=$(field expected) decoded=$(field decoded) gap=$(field maxGapMs) nacks=$(field nacksSent)
in_codec=$(field inCodec) out_codec=$(field outCodec)
want_mime=$([[ $CODEC == h264 ]] && echo video/H264 || echo video/VP8)
[[ $in_codec == "$want_mime" && $out_codec == "$want_mime" ]] ||
    die "chromium received $in_codec and sent $out_codec; the call was to be $want_mime both ways"
sent=$(field sent) rtx=$(grep -oE 'video: sent [0-9]+ frames.*' "$WORK/duplex-peer.err" | tail -1)
log "chromium: $report"
log "duplex-peer: $rtx"
(( expected >= SECONDS_OF_CALL * 25 )) || die "only $expected frame numbers went by in $SECONDS_OF_CALL s (duplex-peer sends 30 a second)"
if [[ $MODE == bottleneck ]]; then
    estimate=$(grep -oE "peer chromium: outgoing bitrate estimate [0-9]+ kbit/s, lowest [0-9]+ kbit/s" "$WORK/duplex-peer.err" | tail -1)
    [[ $estimate =~ lowest\ ([0-9]+)\ kbit/s ]] || die "duplex-peer reported no bandwidth estimate ('$estimate')"
    rate=$(grep -oE 'rate_kbps=[0-9.]+' <<<"$RELAY" | cut -d= -f2)
    (( BASH_REMATCH[1] < ${rate%.*} )) || die "duplex-peer's estimate never went below the path's $rate kbit/s ($estimate)"
    (( decoded * 100 >= expected * 95 )) || die "duplex -> chromium: $decoded frames decoded of $expected sent (< 95 %)"
    # The start is the hard part: the estimate begins at 1 Mbit/s, the path's rate, and the queue overflows before the
    # trend shows (seen once in CI: a 1067 ms freeze 1.8 s in, 7.8 % dropped; 0 % and 67 ms in most runs).
    (( gap < 2000 )) || die "duplex -> chromium: $gap ms between two frames shown (a freeze of 2 s or more)"
    relay=$(grep -E '^RELAY remote->local ' "$WORK/proxy.out" || true)
    [[ $relay =~ forwarded=([0-9]+)\ .*queue_dropped=([0-9]+) ]] || die "no relay summary of duplex-peer's direction ('$relay')"
    (( BASH_REMATCH[2] * 10 < BASH_REMATCH[1] + BASH_REMATCH[2] )) ||
        die "duplex -> chromium: the path's queue dropped ${BASH_REMATCH[2]} of $(( BASH_REMATCH[1] + BASH_REMATCH[2] )) datagrams (>= 10 %)"
    log "duplex -> chromium: $decoded of $expected frames decoded, the longest gap $gap ms; $estimate; $relay"
    line=$(grep -oE 'recorded video to [^ ]+: [0-9]+ frames.*' "$WORK/duplex-peer.err" | tail -1)
    [[ $line =~ recorded\ video\ to\ ([^ ]+):\ ([0-9]+)\ frames ]] || die "duplex-peer reported no recording ('$line')"
    rec=${BASH_REMATCH[1]}
    check=$("$DUPLEX_MEDIA_CHECK" "$rec")
    [[ $check =~ ^video\ (frames|nals)\ ([0-9]+)\ decoded\ ([0-9]+)\ errors\ ([0-9]+) ]] || die "media_check: '$check'"
    (( BASH_REMATCH[4] == 0 )) || die "chromium -> duplex: ${BASH_REMATCH[4]} recorded frames do not decode"
    frames=${BASH_REMATCH[3]}
    (( frames * 100 >= sent * 95 )) || die "chromium -> duplex: $frames frames recorded of $sent sent (< 95 %)"
    log "chromium -> duplex: $check; chromium sent $sent frames"
    echo "PASS video-bottleneck $CODEC"
    exit 0
fi
(( decoded * 100 >= expected * 99 )) || die "duplex -> chromium: $decoded frames decoded of $expected sent (< 99 %)"
(( gap < 500 )) || die "duplex -> chromium: $gap ms between two frames shown (a freeze of 500 ms or more)"
(( nacks > 0 )) || die "duplex -> chromium: Chromium sent no NACK across a 5 % loss"
[[ $rtx =~ packets\ retransmitted\ ([0-9]+) ]] && (( BASH_REMATCH[1] > 0 )) ||
    die "duplex -> chromium: duplex-peer retransmitted nothing ($rtx)"
log "duplex -> chromium: $decoded of $expected frames decoded, the longest gap $gap ms, $nacks NACKs"

line=$(grep -oE 'recorded video to [^ ]+: [0-9]+ frames.*' "$WORK/duplex-peer.err" | tail -1)
[[ $line =~ recorded\ video\ to\ ([^ ]+):\ ([0-9]+)\ frames.*NACKs\ sent\ ([0-9]+) ]] ||
    die "duplex-peer reported no recording with its NACK count ('$line')"
rec=${BASH_REMATCH[1]} recorded=${BASH_REMATCH[2]} dnacks=${BASH_REMATCH[3]}
check=$("$DUPLEX_MEDIA_CHECK" "$rec")
log "chromium -> duplex: $check; chromium sent $sent frames; duplex-peer: $line"
# IVF: `video frames N decoded D errors E size WxH ... max_gap_ms G`; Annex B: `video nals N decoded D errors E size
# WxH ...` (a frame is what decodes; no timestamps, no gap).
[[ $check =~ ^video\ (frames|nals)\ ([0-9]+)\ decoded\ ([0-9]+)\ errors\ ([0-9]+)\ size\ ([0-9]+x[0-9]+) ]] ||
    die "media_check: '$check'"
errors=${BASH_REMATCH[4]} size=${BASH_REMATCH[5]}
if [[ $CODEC == h264 ]]; then frames=${BASH_REMATCH[3]}; else frames=${BASH_REMATCH[2]}; fi
(( errors == 0 )) || die "chromium -> duplex: $errors recorded frames do not decode"
[[ $CODEC == h264 ]] || (( frames == recorded )) || die "duplex-peer counted $recorded frames, the file holds $frames"
(( frames * 100 >= sent * 99 )) || die "chromium -> duplex: $frames frames recorded of $sent sent (< 99 %)"
if [[ $CODEC == vp8 ]]; then
    [[ $check =~ max_gap_ms\ ([0-9]+) ]] || die "media_check gave no max_gap_ms: '$check'"
    (( BASH_REMATCH[1] < 500 )) || die "chromium -> duplex: ${BASH_REMATCH[1]} ms between two recorded frames (>= 500)"
fi
# Chromium's camera at its full size: its bandwidth estimate rose, on our transport-cc feedback (without it, it
# stays at its start rate and sends 320x240 at a few frames a second).
[[ $size == 640x480 ]] || die "chromium -> duplex: the camera came at $size, not 640x480"
(( dnacks > 0 )) || die "chromium -> duplex: duplex-peer sent no NACK across a 5 % loss"
[[ $RELAY != *burst=* ]] || grep -qE 'local->remote .*burst_dropped=[1-9].*' "$WORK/proxy.out" ||
    die "the relay dropped nothing in the burst"
grep -qE 'local->remote forwarded=[0-9]+ dropped=[1-9]' "$WORK/proxy.out" &&
    grep -qE 'remote->local forwarded=[0-9]+ dropped=[1-9]' "$WORK/proxy.out" || die "the relay dropped nothing at random"
echo "PASS video-loss $CODEC"
