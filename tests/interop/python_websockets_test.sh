#!/bin/bash
# python_websockets_test.sh: duplex against python3-websockets (Debian 10.4), both directions.
#   tests/interop/python_websockets_test.sh PATH/duplex-server PATH/ws_client_check
# (or DUPLEX_SERVER=... WS_CLIENT_CHECK=... tests/interop/python_websockets_test.sh)
# Uses /usr/bin/python3 (override with PYTHON=...), which must import websockets.
source "$(dirname "$0")/lib.sh"
interop_init 90 "$@"
"$PYTHON" -c 'import websockets' 2>/dev/null ||
    die "$PYTHON cannot import websockets: apt-get install python3-websockets"

# (a) websockets client -> duplex-server /echo, without and with permessage-deflate offered: a server
#     started without --deflate must decline the offer, and the echoes must still work.
start_duplex_server
run_step py-client 30 "$PYTHON" "$INTEROP_DIR/py_ws_client.py" "ws://127.0.0.1:$SERVER_PORT/echo" ||
    die "python websockets client -> duplex-server"
run_step py-client-deflate 30 "$PYTHON" "$INTEROP_DIR/py_ws_client.py" "ws://127.0.0.1:$SERVER_PORT/echo" \
    --deflate --expect-no-deflate ||
    die "python websockets client (permessage-deflate offered, must be declined) -> duplex-server"
stop_duplex_server

# (b) duplex client -> websockets echo server.
spawn py-echo "$PYTHON" -u "$INTEROP_DIR/py_ws_echo_server.py"
PY_PORT=$(wait_port py-echo)
log "python websockets echo server listening on 127.0.0.1:$PY_PORT"
run_step duplex-client 30 "$WS_CLIENT_CHECK" "ws://127.0.0.1:$PY_PORT/echo" ||
    die "duplex client -> python websockets echo server"
# The server logs the close when its side of the close handshake is done, which may be just after the client exits.
wait_line py-echo '^closed by peer with ' ||
    die "websockets echo server saw no close from the duplex client"
grep -q '^closed by peer with 1000$' "$WORK/py-echo.out" ||
    die "websockets echo server did not see a 1000 close: $(grep '^closed' "$WORK/py-echo.out")"
