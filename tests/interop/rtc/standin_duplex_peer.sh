#!/bin/bash
# A stand-in for duplex-peer, for checking the foreign peers and rtc_interop_test.sh before duplex-peer exists:
# takes duplex-peer's command line and runs one of the foreign peers in its stand-in mode instead.
#
#   STANDIN=aiortc|werift|ndc|chromium standin_duplex_peer.sh --signal URL --room R [--id NAME] [--bind ADDR]
#       [--timeout S] [-v] (--echo | --send-file PATH | --receive-dir DIR)
#
# --echo -> --scenario echo-server, --send-file F -> file-sender --file F, --receive-dir D -> file-receiver --dir D.
# --bind is ignored (the foreign peers bind 127.0.0.1 anyway). With -v it logs "duplex-peer: joined room R as ID"
# on stderr, as duplex-peer does, when the foreign peer has joined. STANDIN_ARGS: extra arguments for the peer.
# Not part of CI; used by self_check.sh.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
args=()
verbose=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --signal | --room | --id | --timeout) args+=("$1" "$2"); shift 2 ;;
        --bind) shift 2 ;;
        -v | --verbose) verbose=1; shift ;;
        --echo) args+=(--scenario echo-server); shift ;;
        --send-file) args+=(--scenario file-sender --file "$2"); shift 2 ;;
        --receive-dir) args+=(--scenario file-receiver --dir "$2"); shift 2 ;;
        *) echo "standin_duplex_peer.sh: unsupported argument $1" >&2; exit 2 ;;
    esac
done
case ${STANDIN:-} in
    aiortc) cmd=("${PYTHON:-/usr/bin/python3}" "$dir/peer_aiortc.py") ;;
    werift | ndc) cmd=("${NODE:-node}" "$dir/peer_node.js" --lib "$STANDIN") ;;
    chromium) cmd=("${NODE:-node}" "$dir/chromium_peer.js") ;;
    *) echo "standin_duplex_peer.sh: set STANDIN=aiortc|werift|ndc|chromium" >&2; exit 2 ;;
esac
# shellcheck disable=SC2206  # word splitting of the extra arguments is wanted
[[ -n ${STANDIN_ARGS:-} ]] && args+=($STANDIN_ARGS)
if [[ $verbose == 1 ]]; then
    # The peer's stdout passes through; its "joined ROOM as ID peers [...]" line is also logged the way
    # duplex-peer -v logs it. exec keeps the peer's pid = ours, so SIGTERM reaches it directly.
    exec "${cmd[@]}" "${args[@]}" > >(while IFS= read -r line; do
        printf '%s\n' "$line"
        if [[ $line =~ ^joined\ ([^ ]+)\ as\ ([^ ]+) ]]; then
            printf 'duplex-peer: joined room %s as %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >&2
        fi
    done)
fi
exec "${cmd[@]}" "${args[@]}"
