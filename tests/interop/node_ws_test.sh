#!/bin/bash
# node_ws_test.sh: duplex against the node `ws` library, both directions.
#   tests/interop/node_ws_test.sh PATH/duplex-server PATH/ws_client_check
# (or DUPLEX_SERVER=... WS_CLIENT_CHECK=... tests/interop/node_ws_test.sh)
# Needs tests/interop/node_modules: npm ci --prefix tests/interop
source "$(dirname "$0")/lib.sh"
interop_init 90 "$@"
require_node_modules ws

# (a) node ws client -> duplex-server /echo, without and with permessage-deflate offered: a server
#     started without --deflate must decline the offer, and the echoes must still work.
start_duplex_server
run_step node-client 20 "$NODE" "$INTEROP_DIR/node_ws_client.js" "ws://127.0.0.1:$SERVER_PORT/echo" ||
    die "node ws client -> duplex-server"
run_step node-client-deflate 20 "$NODE" "$INTEROP_DIR/node_ws_client.js" "ws://127.0.0.1:$SERVER_PORT/echo" \
    --deflate --expect-no-deflate || die "node ws client (permessage-deflate offered, must be declined) -> duplex-server"
stop_duplex_server

# (b) duplex client -> node ws echo server.
spawn node-echo "$NODE" "$INTEROP_DIR/node_ws_echo_server.js"
NODE_PORT=$(wait_port node-echo)
log "node ws echo server listening on 127.0.0.1:$NODE_PORT"
run_step duplex-client 30 "$WS_CLIENT_CHECK" "ws://127.0.0.1:$NODE_PORT/echo" ||
    die "duplex client -> node ws echo server"
# The server logs the close when its side of the close handshake is done, which may be just after the client exits.
wait_line node-echo '^closed by peer with ' ||
    die "node ws echo server saw no close from the duplex client"
grep -q '^closed by peer with 1000$' "$WORK/node-echo.out" ||
    die "node ws echo server did not see a 1000 close: $(grep '^closed' "$WORK/node-echo.out")"
