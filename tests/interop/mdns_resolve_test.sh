#!/bin/bash
# mDNS resolution of ICE candidates against a real responder, inside a private loopback-only network namespace.
#
#   tests/interop/mdns_resolve_test.sh PATH/mdns_resolve_check
#
# Starts Debian's python3-zeroconf (mdns_responder.py: not our code) answering duplex-test-host.local with
# 127.0.0.1, then runs mdns_resolve_check (mdns_resolve_check.cpp): detail::MdnsResolver (api/mdns_resolver) resolves that name,
# a name nobody answers gives nullopt at its timeout without hanging, and a PeerConnection pair connects when the
# only candidate exchanged is a host candidate renamed to the .local name (trickled, and in an answer's SDP).
#
# Multicast on lo inside a fresh namespace needs one thing: a route for 224.0.0.0/4 (there is no default route;
# without it sendto(224.0.0.251) fails with ENETUNREACH and the lookup times out). Tried here: the MULTICAST flag
# on lo is not needed, the kernel loops the query back to the responder's group membership on 127.0.0.1 anyway.
# Watchdog 60 s; process groups, logs on failure and cleanup as in lib.sh. Re-executes itself under
# `unshare --net` (needs root): the queries cannot leave the machine. Prints `PASS` at the end.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 PATH/mdns_resolve_check" >&2; exit 2; }

if [[ ${DUPLEX_MDNS_NETNS:-} != 1 ]]; then
    DUPLEX_MDNS_NETNS=1 exec unshare --net bash -c \
        'ip link set lo up && ip route add 224.0.0.0/4 dev lo && exec "$@"' \
        mdns_netns bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
CHECK=$1
[[ -x $CHECK ]] || die "mdns_resolve_check: '$CHECK' is not an executable file"
# lib.sh's interop_init checks two executables (server and client of the WebSocket tests); here there is one.
interop_init 60 "$CHECK" "$CHECK"

others=$(ip -o link show | awk -F': ' '$2 != "lo" { print $2 }')
[[ -z $others ]] || die "not in a loopback-only network namespace (interfaces: $others)"
ip route show 224.0.0.0/4 | grep -q . || die "no route for 224.0.0.0/4 in the namespace"

"$PYTHON" -c 'import zeroconf' 2>/dev/null || die "$PYTHON cannot import zeroconf: apt-get install python3-zeroconf"

NAME=duplex-test-host.local
UNANSWERED=nobody-answers-$$.local
spawn responder "$PYTHON" "$INTEROP_DIR/mdns_responder.py" "$NAME" 127.0.0.1 127.0.0.1
# zeroconf probes the name before it claims it (RFC 6762 §8.1: three probes 250 ms apart).
wait_line responder "^ready " 15 || die "the zeroconf responder did not register $NAME"
log "zeroconf answers $NAME with 127.0.0.1"

export DUPLEX_LOG=${DUPLEX_LOG:-info}  # the facade logs each mDNS result at info
run_step check 45 "$CHECK" "$NAME" "$UNANSWERED" || die "mdns_resolve_check failed"
grep -q '^PASS ' "$WORK/check.out" || die "mdns_resolve_check printed no PASS line"
alive "$PID_responder" || die "the responder died during the test"
