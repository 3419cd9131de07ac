#!/bin/bash
# deflate_test.sh: permessage-deflate (RFC 7692) between duplex and the node `ws` library and python3-websockets,
# both directions, with compression agreed and checked on the wire.
#   tests/interop/deflate_test.sh PATH/duplex-server PATH/ws_client_check
# (or DUPLEX_SERVER=... WS_CLIENT_CHECK=... tests/interop/deflate_test.sh)
# Needs tests/interop/node_modules (npm ci --prefix tests/interop) and /usr/bin/python3 with websockets.
# (The offer declined by a server without --deflate is checked in node_ws_test.sh and python_websockets_test.sh.)
source "$(dirname "$0")/lib.sh"
interop_init 90 "$@"
require_node_modules ws
"$PYTHON" -c 'import websockets' 2>/dev/null ||
    die "$PYTHON cannot import websockets: apt-get install python3-websockets"

NODE_CLIENT=("$NODE" "$INTEROP_DIR/node_ws_client.js")
PY_CLIENT=("$PYTHON" "$INTEROP_DIR/py_ws_client.py")

# (a) clients -> duplex-server --deflate: agreed, compressed both ways, every echo equal, close 1000.
start_duplex_server --deflate
URL="ws://127.0.0.1:$SERVER_PORT/echo"
run_step node-deflate 20 "${NODE_CLIENT[@]}" "$URL" --deflate --expect-deflate ||
    die "node ws client (deflate) -> duplex-server --deflate"
run_step node-deflate-threshold0 20 "${NODE_CLIENT[@]}" "$URL" --threshold 0 --expect-deflate ||
    die "node ws client (deflate, threshold 0) -> duplex-server --deflate"
run_step py-deflate 20 "${PY_CLIENT[@]}" "$URL" --deflate --expect-deflate ||
    die "python websockets client (deflate) -> duplex-server --deflate"
# The client bounds the server's window: the server must answer with it and compress within it.
for bits in 10 8; do
    run_step "py-deflate-window$bits" 20 "${PY_CLIENT[@]}" "$URL" --server-max-window-bits "$bits" --expect-deflate \
        --expect-param server_max_window_bits || die "python websockets client (server_max_window_bits=$bits) -> duplex-server --deflate"
done
# The client asks the server to reset its context per message (and says it resets its own): the server must agree.
run_step py-deflate-no-context 20 "${PY_CLIENT[@]}" "$URL" --server-no-context-takeover --client-no-context-takeover \
    --expect-deflate --expect-param server_no_context_takeover --expect-param client_no_context_takeover ||
    die "python websockets client (server_ and client_no_context_takeover) -> duplex-server --deflate"
stop_duplex_server

# (b) clients -> duplex-server --deflate-no-context-takeover: the server must say server_no_context_takeover
#     (and keep to it: ws and websockets then reset their inflaters after each message). Three node connections
#     at once share the server's compressor.
start_duplex_server --deflate-no-context-takeover
URL="ws://127.0.0.1:$SERVER_PORT/echo"
run_step node-no-context 30 "${NODE_CLIENT[@]}" "$URL" --threshold 0 --expect-deflate \
    --expect-param server_no_context_takeover --connections 3 ||
    die "node ws clients (deflate, threshold 0) -> duplex-server --deflate-no-context-takeover"
run_step py-no-context 20 "${PY_CLIENT[@]}" "$URL" --deflate --expect-deflate --expect-param server_no_context_takeover ||
    die "python websockets client (deflate) -> duplex-server --deflate-no-context-takeover"
run_step py-no-context-window10 20 "${PY_CLIENT[@]}" "$URL" --server-max-window-bits 10 --expect-deflate \
    --expect-param server_no_context_takeover --expect-param server_max_window_bits ||
    die "python websockets client (server_max_window_bits=10) -> duplex-server --deflate-no-context-takeover"
stop_duplex_server

# check_duplex_client NAME STEP: ws_client_check --deflate passed with permessage-deflate agreed, the echo server
# NAME saw a 1000 close, and it read less than 64 KiB although the client sent over 1 MiB (so it was compressed).
check_duplex_client() {
    local name=$1 step=$2 nread
    grep -qE '^PASS .*extensions: permessage-deflate' "$WORK/$step.out" ||
        die "$step: no permessage-deflate in the PASS line"
    wait_line "$name" '^closed by peer with ' || die "$name saw no close from the duplex client"
    grep -q '^closed by peer with 1000$' "$WORK/$name.out" ||
        die "$name did not see a 1000 close: $(grep '^closed' "$WORK/$name.out")"
    nread=$(sed -n 's/^read \([0-9]*\) bytes$/\1/p' "$WORK/$name.out" | tail -n 1)
    [[ -n $nread ]] || die "$name printed no byte count"
    ((nread < 65536)) || die "$name read $nread bytes: the duplex client did not compress"
    log "$name: agreed '$(sed -n 's/^agreed extensions: //p' "$WORK/$name.out" | tail -n 1)', read $nread bytes"
}

# (c) duplex client --deflate -> node ws echo server with permessage-deflate on (threshold 0).
spawn node-echo "$NODE" "$INTEROP_DIR/node_ws_echo_server.js" --deflate
NODE_PORT=$(wait_port node-echo)
log "node ws echo server (deflate) listening on 127.0.0.1:$NODE_PORT"
run_step duplex-client-node 30 "$WS_CLIENT_CHECK" --deflate "ws://127.0.0.1:$NODE_PORT/echo" ||
    die "duplex client (deflate) -> node ws echo server (deflate)"
check_duplex_client node-echo duplex-client-node

# (d) duplex client --deflate -> python websockets echo server (compression on by default; it answers with
#     server_max_window_bits=12; client_max_window_bits=12).
spawn py-echo "$PYTHON" -u "$INTEROP_DIR/py_ws_echo_server.py"
PY_PORT=$(wait_port py-echo)
log "python websockets echo server listening on 127.0.0.1:$PY_PORT"
run_step duplex-client-python 30 "$WS_CLIENT_CHECK" --deflate "ws://127.0.0.1:$PY_PORT/echo" ||
    die "duplex client (deflate) -> python websockets echo server"
check_duplex_client py-echo duplex-client-python
