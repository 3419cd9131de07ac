#!/bin/bash
# Checks the foreign peers (and rtc_interop_test.sh itself) without duplex-peer: each run is
# rtc_interop_test.sh with standin_duplex_peer.sh in duplex-peer's place, i.e. one foreign peer against another
# foreign peer in stand-in mode, signaled by the real duplex-server. Not part of CI.
#
#   tests/interop/rtc/self_check.sh [PATH/duplex-server]      (default: build/apps/duplex-server)
#
# PAIRS="PEER:STANDIN ..." picks the pairs (default below); each pair runs echo in both roles, then receive-file
# in one role and send-file in the other (alternating from pair to pair). Prints one line per run and a summary;
# exits 1 if any run failed (its output is shown).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
server=${1:-$root/build/apps/duplex-server}
[[ -x $server ]] || { echo "self_check.sh: no duplex-server at $server" >&2; exit 2; }
PAIRS=${PAIRS:-"werift:aiortc aiortc:werift ndc:chromium chromium:ndc chromium:aiortc aiortc:chromium werift:ndc ndc:werift"}

pass=0 fail=0 n=0
results=()
for pair in $PAIRS; do
    peer=${pair%%:*}
    standin=${pair##*:}
    if ((n % 2 == 0)); then
        runs=("duplex-offers echo" "duplex-answers echo" "duplex-offers receive-file" "duplex-answers send-file")
    else
        runs=("duplex-answers echo" "duplex-offers echo" "duplex-answers receive-file" "duplex-offers send-file")
    fi
    n=$((n + 1))
    for run in "${runs[@]}"; do
        read -r role scenario <<<"$run"
        extra=
        # werift sends empty messages as zero-length DATA chunks, so a werift echo-server cannot echo them.
        [[ $standin == werift && $scenario == echo ]] && extra=--skip-empty
        t0=$(date +%s%N)
        output=$(STANDIN=$standin RTC_PEER_ARGS=$extra \
            bash "$here/../rtc_interop_test.sh" "$server" "$here/standin_duplex_peer.sh" "$peer" "$role" "$scenario" 2>&1)
        rc=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        secs=$((ms / 1000)).$((ms % 1000 / 100))
        line=$(printf '%-8s vs %-8s (stand-in)  %-14s %-12s' "$peer" "$standin" "$role" "$scenario")
        if [[ $rc -eq 0 ]] && grep -qx "PASS $peer $role $scenario" <<<"$output"; then
            pass=$((pass + 1))
            results+=("PASS  $line ${secs}s")
            echo "PASS  $line ${secs}s"
        else
            fail=$((fail + 1))
            results+=("FAIL  $line ${secs}s (exit $rc)")
            echo "FAIL  $line ${secs}s (exit $rc)"
            printf '%s\n' "$output" | sed 's/^/      | /'
        fi
    done
done
echo "---- $pass passed, $fail failed"
((fail == 0))
