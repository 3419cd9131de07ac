#!/bin/bash
# tls_test.sh: wss:// and https:// between duplex and the node `ws` library, python3-websockets, headless Chromium
# and curl, both directions, with a throwaway self-signed certificate (no CA) made here with `openssl`.
#   tests/interop/tls_test.sh PATH/duplex-server PATH/ws_client_check
# (or DUPLEX_SERVER=... WS_CLIENT_CHECK=... tests/interop/tls_test.sh)
# Needs openssl and curl, tests/interop/node_modules (npm ci --prefix tests/interop), /usr/bin/python3 with
# websockets, and chromium. Certificate verification is on everywhere except where a step says otherwise.
source "$(dirname "$0")/lib.sh"
interop_init 90 "$@"
require_node_modules ws playwright-core
"$PYTHON" -c 'import websockets' 2>/dev/null ||
    die "$PYTHON cannot import websockets: apt-get install python3-websockets"
for tool in openssl curl; do command -v "$tool" >/dev/null || die "$tool is missing: apt-get install $tool"; done

WEB_DIR=$(cd "$INTEROP_DIR/../../web" && pwd)
NODE_CLIENT=("$NODE" "$INTEROP_DIR/node_ws_client.js")
PY_CLIENT=("$PYTHON" "$INTEROP_DIR/py_ws_client.py")
CURL=(curl -s --noproxy '*' --max-time 5)

# make_cert NAME CN SAN: a self-signed EC P-256 leaf certificate (CA:FALSE, serverAuth, valid one day) in
# $WORK/NAME.pem with its key in $WORK/NAME.key. Its own config file, so that no openssl.cnf default
# (v3_ca's CA:TRUE) creeps in.
make_cert() {
    local name=$1 cn=$2 san=$3
    cat >"$WORK/$name.cnf" <<EOF
[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = $cn
[leaf]
subjectAltName = $san
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
EOF
    openssl req -x509 -config "$WORK/$name.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout "$WORK/$name.key" -out "$WORK/$name.pem" 2>"$WORK/openssl.err" ||
        die "openssl could not make $name: $(cat "$WORK/openssl.err")"
}
make_cert cert localhost 'IP:127.0.0.1, DNS:localhost'
CERT=$WORK/cert.pem KEY=$WORK/cert.key
# A second key that does not belong to the certificate, and a certificate for the name `localhost` only (no IP
# SAN; its CN is 127.0.0.1, which must not count).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/other.key" 2>"$WORK/openssl.err" ||
    die "openssl could not make a second key: $(cat "$WORK/openssl.err")"
make_cert dnsonly 127.0.0.1 'DNS:localhost'
log "certificate: $(openssl x509 -in "$CERT" -noout -subject -ext subjectAltName | tr '\n' ' ')"

# expect_fail STEP REGEX: the step failed (before) and its output matches REGEX.
expect_fail() {
    grep -qE -- "$2" "$WORK/$1.out" "$WORK/$1.err" || die "$1 failed, but not with /$2/"
    log "$1 failed as it must: $(grep -hE -- "$2" "$WORK/$1.out" "$WORK/$1.err" | head -n 1)"
}

# (6a) Bad --cert/--key: exit 2 at once, one line on stderr naming the problem, no listening line.
bad_server() {   # NAME REGEX args...
    local name=$1 re=$2 rc=0
    shift 2
    run_step "$name" 10 "$DUPLEX_SERVER" --host 127.0.0.1 --port 0 "$@" || rc=$?
    [[ $rc -eq 2 ]] || die "$name: duplex-server exited $rc, want 2"
    [[ $(wc -l <"$WORK/$name.err") -eq 1 ]] || die "$name: want one line on stderr, got $(wc -l <"$WORK/$name.err")"
    grep -qE -- "$re" "$WORK/$name.err" || die "$name: stderr does not match /$re/: $(cat "$WORK/$name.err")"
    ! grep -q listening "$WORK/$name.out" || die "$name: printed a listening line"
    log "$name: exit 2, $(cat "$WORK/$name.err")"
}
bad_server bad-cert-missing "certificate.*$WORK/missing\\.pem" --cert "$WORK/missing.pem" --key "$KEY"
bad_server bad-key-missing "key.*$WORK/missing\\.key" --cert "$CERT" --key "$WORK/missing.key"
bad_server bad-key-mismatch "$WORK/other\\.key.*does not match|does not match.*$WORK/other\\.key" \
    --cert "$CERT" --key "$WORK/other.key"
bad_server bad-cert-without-key "--cert.*--key" --cert "$CERT"

# The server for (1), (2), (3), (5) and (6b): wss:// and https:// with the certificate, the web page from web/.
start_duplex_server --web "$WEB_DIR" --cert "$CERT" --key "$KEY"
grep -qx "listening on https://127.0.0.1:$SERVER_PORT" "$WORK/duplex-server.out" ||
    die "duplex-server --cert did not say https: $(head -n 1 "$WORK/duplex-server.out")"
WSS=wss://127.0.0.1:$SERVER_PORT/echo

# (1) node ws client, verification on (ca = the certificate): every echo, close 1000. Without ca (Node's own
#     CA store) it must be refused: proof that verification is really on.
run_step node-wss 20 "${NODE_CLIENT[@]}" "$WSS" --ca "$CERT" || die "node ws client --ca -> duplex-server over wss"
run_step node-wss-no-ca 20 "${NODE_CLIENT[@]}" "$WSS" && die "node ws client without ca accepted a self-signed certificate"
expect_fail node-wss-no-ca 'self[- ]signed certificate'

# (2) python websockets client, ssl.SSLContext trusting only the certificate, hostname checked: by IP literal (IP
#     SAN) and by the name localhost (DNS SAN; the TCP connection still goes to 127.0.0.1, localhost is never
#     resolved). A name the certificate does not carry must be refused.
run_step py-wss-ip 20 "${PY_CLIENT[@]}" "$WSS" --ca "$CERT" || die "python websockets client -> wss://127.0.0.1"
run_step py-wss-localhost 20 "${PY_CLIENT[@]}" "wss://localhost:$SERVER_PORT/echo" --ca "$CERT" \
    --connect-host 127.0.0.1 || die "python websockets client -> wss://localhost"
run_step py-wss-wrong-name 20 "${PY_CLIENT[@]}" "wss://wrong.invalid:$SERVER_PORT/echo" --ca "$CERT" \
    --connect-host 127.0.0.1 && die "python websockets client accepted the certificate for wrong.invalid"
expect_fail py-wss-wrong-name 'CERTIFICATE_VERIFY_FAILED.*Hostname mismatch'

# (3) duplex's client: with --ca by IP and by name; with the system store it must fail verification; --insecure
#     skips it.
run_step duplex-client-ip 30 "$WS_CLIENT_CHECK" --ca "$CERT" "$WSS" || die "ws_client_check --ca -> wss://127.0.0.1"
run_step duplex-client-localhost 30 "$WS_CLIENT_CHECK" --ca "$CERT" "wss://localhost:$SERVER_PORT/echo" ||
    die "ws_client_check --ca -> wss://localhost"
run_step duplex-client-system-store 30 "$WS_CLIENT_CHECK" "$WSS" &&
    die "ws_client_check trusted a self-signed certificate through the system store"
expect_fail duplex-client-system-store '^FAIL .*certificate verification failed'
run_step duplex-client-insecure 30 "$WS_CLIENT_CHECK" --insecure "$WSS" || die "ws_client_check --insecure"

# (6b) https: /healthz with curl (-k, and verified with --cacert); plain HTTP and plain ws:// to the TLS port fail
#      but do not hurt the server, which still serves TLS clients afterwards.
[[ $("${CURL[@]}" -k "https://127.0.0.1:$SERVER_PORT/healthz") == ok ]] || die "curl -sk https://.../healthz is not ok"
[[ $("${CURL[@]}" --cacert "$CERT" "https://127.0.0.1:$SERVER_PORT/healthz") == ok ]] ||
    die "curl --cacert https://.../healthz is not ok"
log "curl https://127.0.0.1:$SERVER_PORT/healthz: ok (with -k and with --cacert)"
rc=0
"${CURL[@]}" -o "$WORK/plain-http.body" "http://127.0.0.1:$SERVER_PORT/healthz" || rc=$?
[[ $rc -ne 0 ]] || die "plain http:// to the TLS port got an answer: $(head -c 200 "$WORK/plain-http.body")"
[[ $rc -ne 28 ]] || die "plain http:// to the TLS port: no answer and no close within 5 s"
log "plain http:// to the TLS port: curl exit $rc (connection closed)"
run_step duplex-client-plain-ws 30 "$WS_CLIENT_CHECK" "ws://127.0.0.1:$SERVER_PORT/echo" &&
    die "plain ws:// to the TLS port passed"
alive "$PID_duplex_server" || die "duplex-server died after plain HTTP on its TLS port"
run_step duplex-client-after-plain 30 "$WS_CLIENT_CHECK" --ca "$CERT" "$WSS" ||
    die "ws_client_check --ca after plain HTTP on the TLS port"
[[ $("${CURL[@]}" -k "https://127.0.0.1:$SERVER_PORT/healthz") == ok ]] || die "https /healthz after plain HTTP is not ok"

# (5) Chromium: the page over https, its own socket over wss, and a page WebSocket of its own. TMPDIR inside
#     $WORK, so the EXIT trap also finds a Chromium left behind by a dead helper.
run_step chromium 45 env TMPDIR="$WORK" "$NODE" "$INTEROP_DIR/tls_chromium_client.js" \
    "https://127.0.0.1:$SERVER_PORT" || die "chromium over https/wss"
stop_duplex_server

# (1b) permessage-deflate over wss: node ws (perMessageDeflate) and python websockets against --deflate.
start_duplex_server --deflate --cert "$CERT" --key "$KEY"
WSS=wss://127.0.0.1:$SERVER_PORT/echo
run_step node-wss-deflate 20 "${NODE_CLIENT[@]}" "$WSS" --ca "$CERT" --deflate --expect-deflate ||
    die "node ws client (deflate) --ca -> duplex-server --deflate over wss"
run_step py-wss-deflate 20 "${PY_CLIENT[@]}" "$WSS" --ca "$CERT" --deflate --expect-deflate ||
    die "python websockets client (deflate) -> duplex-server --deflate over wss"
stop_duplex_server

# (3b) duplex's client checks an IP literal against IP SANs only: a certificate for the name localhost (CN
#      127.0.0.1, no IP SAN) is good for wss://localhost and not for wss://127.0.0.1.
start_duplex_server --cert "$WORK/dnsonly.pem" --key "$WORK/dnsonly.key"
run_step duplex-client-dnsonly-ip 30 "$WS_CLIENT_CHECK" --ca "$WORK/dnsonly.pem" "wss://127.0.0.1:$SERVER_PORT/echo" &&
    die "ws_client_check accepted a certificate without IP SAN for wss://127.0.0.1"
expect_fail duplex-client-dnsonly-ip '^FAIL .*certificate verification failed.*mismatch'
run_step duplex-client-dnsonly-name 30 "$WS_CLIENT_CHECK" --ca "$WORK/dnsonly.pem" \
    "wss://localhost:$SERVER_PORT/echo" || die "ws_client_check --ca (DNS SAN only) -> wss://localhost"
stop_duplex_server

# (4) duplex's client --ca -> wss echo servers of the other two: node ws (https.createServer) and python
#     websockets (ssl.SSLContext); each must see the client's close as 1000.
check_peer_close() {   # NAME
    wait_line "$1" '^closed by peer with ' || die "$1 saw no close from the duplex client"
    grep -q '^closed by peer with 1000$' "$WORK/$1.out" ||
        die "$1 did not see a 1000 close: $(grep '^closed' "$WORK/$1.out")"
}
spawn node-wss-echo "$NODE" "$INTEROP_DIR/node_ws_echo_server.js" --cert "$CERT" --key "$KEY"
NODE_PORT=$(wait_port node-wss-echo)
log "node ws wss echo server listening on 127.0.0.1:$NODE_PORT"
run_step duplex-client-node 30 "$WS_CLIENT_CHECK" --ca "$CERT" "wss://127.0.0.1:$NODE_PORT/echo" ||
    die "ws_client_check --ca -> node ws wss echo server"
check_peer_close node-wss-echo
spawn py-wss-echo "$PYTHON" -u "$INTEROP_DIR/py_ws_echo_server.py" --cert "$CERT" --key "$KEY"
PY_PORT=$(wait_port py-wss-echo)
log "python websockets wss echo server listening on 127.0.0.1:$PY_PORT"
run_step duplex-client-python 30 "$WS_CLIENT_CHECK" --ca "$CERT" "wss://127.0.0.1:$PY_PORT/echo" ||
    die "ws_client_check --ca -> python websockets wss echo server"
check_peer_close py-wss-echo
