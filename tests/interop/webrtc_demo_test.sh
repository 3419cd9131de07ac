#!/bin/sh
# The WebRTC demo page (web/index.html) end to end: duplex-server and headless Chromium, both inside one
# private, loopback-only network namespace (so nothing WebRTC gathers or sends can leave the machine).
#
#   tests/interop/webrtc_demo_test.sh PATH/duplex-server [PATH/duplex-peer] [pair] [mesh] [denied] [turn]
#                                     [toggles] [https] [glare] [native-chat] [native-files] [native-glare]
#
# turn needs coturn (turnserver; apt-get install coturn), started by webrtc_demo_test.js inside the namespace;
# https needs openssl (a throwaway certificate). native-chat, native-files and native-glare need duplex-peer's path
# (the page with apps/duplex-peer); without that path the default is the seven browser-only cases.
#
# Re-executes itself under `unshare --net` (needs root, as /work/shared/peers/netns_run.sh), brings lo up,
# then runs webrtc_demo_test.js, which does the work (watchdog, process groups, cleanup: see there).
set -eu
if [ "${DUPLEX_DEMO_NETNS:-}" != 1 ]; then
    DUPLEX_DEMO_NETNS=1 exec unshare --net sh -c 'ip link set lo up && exec "$@"' webrtc_demo_netns sh "$0" "$@"
fi
exec "${NODE:-node}" "$(dirname "$0")/webrtc_demo_test.js" "$@"
