#!/bin/bash
# duplex-peer behind real NATs (nftables in network namespaces, rtc/nat_topology.sh), through a real TURN server
# (Debian coturn), each case moving a 10 MiB file byte-exact over a data channel.
#
#   tests/interop/nat_test.sh PATH/duplex-server PATH/duplex-peer CASE
#
#   CASE  symmetric        A and B each behind a symmetric NAT (masquerade fully-random); both have coturn's STUN
#                          and TURN (the TURN URL and its REST credentials from duplex-server's `joined`). Host and
#                          server-reflexive pairs cannot work; the transfer must, and at least one side's pair in use
#                          must be relayed.
#         chromium         the same, with headless Chromium (rtc/chromium_peer.js) as B, sending the file.
#         aiortc           the same, with aiortc (rtc/peer_aiortc.py, Debian python3-aiortc) as B.
#         restricted       A behind a port-keeping NAT (endpoint-independent mapping), B public (203.0.113.3); STUN
#                          only, no TURN server at all: A's side of the pair must be server- or peer-reflexive.
#         relay-only       both behind symmetric NATs with --relay-only: both sides' candidates must be relayed.
#         refresh          relay-only with coturn's --max-allocate-lifetime 10: the sender waits 35 s (--delay)
#                          with the connection up, then sends; coturn must have answered at least three Refreshes
#                          per allocation, and the transfer must work.
#         cut              A and B behind port-keeping NATs with STUN and TURN: the direct path is chosen (and
#                          held to ~2 MB/s by a rate limit in the router, so that the transfer takes a while; B
#                          sends 4 s after connecting, once ICE has settled);
#                          once 2 MiB have arrived an nft rule drops the direct path: both must go disconnected,
#                          restart ICE (duplex-peer does on disconnected), go on through the relay, and the
#                          transfer must complete on the same channel.
#         tcp              A's NAT drops all UDP (a firewall that blocks it): A reaches coturn by TURN over TCP
#                          (turn:…?transport=tcp), B over UDP; A's side of the pair must be relay/tcp.
#         tls              the same over TLS (turns:203.0.113.2:5349), coturn's certificate (IP 203.0.113.2)
#                          issued by a CA made here and checked by duplex-peer (--turn-ca): relay/tls.
#         tls-untrusted    B, --relay-only, reaches coturn by TLS without being told to trust its CA: the
#                          certificate check must fail, and B exit non-zero within 15 s naming it.
#         ice-tcp          no TURN, no STUN: A is public (203.0.113.3) with --ice-tcp (RFC 6544 passive TCP
#                          candidates); B is headless Chromium behind a NAT that drops all UDP. Chromium's active
#                          TCP candidate must connect to A's passive one: A's pair must be host/tcp.
#         wrong-password   B has the wrong TURN password with --relay-only: it must exit non-zero within 15 s,
#                          saying 401 and "wrong username or password" (not hang).
#         alternate        a second coturn on 203.0.113.2:3479, and the first one (3478, the only one the peers are
#                          told of) sends every Allocate there (--alternate-server: 300 Try Alternate, RFC 8489
#                          §10); both sides --relay-only: both relayed addresses must be the second coturn's
#                          (ports 50000-50999; the first one's are 49152-49999).
#         alternate-tcp    the same with A over TCP to the first coturn (turn:…?transport=tcp): a new
#                          connection to the alternate.
#         alternate-loop   the two coturns send every Allocate to each other: B, --relay-only, must exit non-zero
#                          within 15 s, naming the redirection loop (not bounce between them for ever).
#
# duplex-server and coturn run in namespace "pub" (203.0.113.2); A in homeA (10.1.0.2), B in homeB (10.2.0.2) or,
# for `restricted`, in pub (203.0.113.3). A receives (--receive-dir), B sends (--send-file). Watchdog 150 s;
# process groups, logs on failure and cleanup as in lib.sh. Prints `PASS nat CASE`.
# Re-executes itself under `unshare --net --mount` (needs root): every address lives in namespaces it creates.
set -euo pipefail

usage() {
    echo "usage: $0 PATH/duplex-server PATH/duplex-peer symmetric|chromium|aiortc|restricted|relay-only|refresh|cut|tcp|tls|tls-untrusted|ice-tcp|wrong-password|alternate|alternate-tcp|alternate-loop" >&2
    exit 2
}
[[ $# -eq 3 ]] || usage
case $3 in symmetric | chromium | aiortc | restricted | relay-only | refresh | cut | tcp | tls | tls-untrusted | ice-tcp | wrong-password | alternate | alternate-tcp | alternate-loop) ;;
    *) usage ;;
esac

if [[ ${DUPLEX_NAT_NETNS:-} != 1 ]]; then
    DUPLEX_NAT_NETNS=1 exec unshare --net --mount bash "$0" "$@"
fi

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
RTC_DIR=$INTEROP_DIR/rtc
# shellcheck source=rtc/nat_topology.sh
source "$RTC_DIR/nat_topology.sh"
# shellcheck source=rtc/lib_rtc.sh
source "$RTC_DIR/lib_rtc.sh"   # await_exit
CASE=$3
DUPLEX_PEER=$2
[[ -x $DUPLEX_PEER ]] || die "duplex-peer: '$DUPLEX_PEER' is not an executable file"
command -v turnserver >/dev/null || die "turnserver is missing (Debian coturn)"
interop_init 150 "$1" "$2"
export TMPDIR=$WORK/tmp
mkdir -p "$TMPDIR"

nat_internet
case $CASE in
    restricted) nat_home A 1 restricted ;;
    tcp | tls) nat_home A 1 symmetric udp-blocked; nat_home B 2 symmetric ;;
    ice-tcp) nat_home B 2 symmetric udp-blocked ;;
    cut)
        nat_home A 1 restricted; nat_home B 2 restricted
        # The direct path between the two NATs, slowed (the relay's path goes through 203.0.113.2, untouched).
        # Only full-size packets are policed: ICE's checks (and SCTP's acknowledgements) always pass, so that
        # ICE does not lose the pair to the policer (it would move to the relay by itself, nothing to test).
        nft -f - <<EOF
table ip cut {
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr 198.51.100.2 ip daddr 198.51.100.6 meta length > 400 limit rate over 2 mbytes/second burst 256 kbytes drop
        ip saddr 198.51.100.6 ip daddr 198.51.100.2 meta length > 400 limit rate over 2 mbytes/second burst 256 kbytes drop
    }
}
EOF
        ;;
    *) nat_home A 1 symmetric; nat_home B 2 symmetric ;;
esac

# ------------------------------------------------------------------ coturn --
SECRET=nat-test-secret
TURN_ARGS=(-n --listening-ip=203.0.113.2 --relay-ip=203.0.113.2 --listening-port=3478 --min-port=49152
    --max-port=49999 --realm=duplex --no-dtls --no-cli --no-multicast-peers --fingerprint
    --log-file=stdout --simple-log -v --pidfile="$WORK/turn.pid" --userdb="$WORK/turndb")
case $CASE in
    symmetric | chromium | aiortc | relay-only | cut) TURN_ARGS+=(--use-auth-secret --static-auth-secret=$SECRET) ;;
    refresh) TURN_ARGS+=(--lt-cred-mech --user=alice:secret --max-allocate-lifetime=10) ;;
    wrong-password | tcp | ice-tcp) TURN_ARGS+=(--lt-cred-mech --user=alice:secret --no-tls) ;;
    alternate*) TURN_ARGS+=(--lt-cred-mech --user=alice:secret --no-tls --alternate-server=203.0.113.2:3479) ;;
    tls | tls-untrusted)
        # A CA of our own and a certificate for coturn's address, which duplex-peer checks (--turn-ca).
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=nat-test-ca \
            -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=203.0.113.2 \
            -keyout "$WORK/turn.key" -out "$WORK/turn.csr" 2>/dev/null
        printf 'subjectAltName=IP:203.0.113.2\n' >"$WORK/san.ext"
        openssl x509 -req -in "$WORK/turn.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
            -extfile "$WORK/san.ext" -out "$WORK/turn.pem" 2>/dev/null
        TURN_ARGS+=(--lt-cred-mech --user=alice:secret --cert="$WORK/turn.pem" --pkey="$WORK/turn.key"
            --tls-listening-port=5349) ;;
esac
case $CASE in symmetric | chromium | aiortc | relay-only | refresh | cut) TURN_ARGS+=(--no-tls) ;; esac
if [[ $CASE != restricted ]]; then
    spawn coturn ip netns exec pub turnserver "${TURN_ARGS[@]}"
else
    # STUN only: coturn answers Binding requests without credentials.
    spawn coturn ip netns exec pub turnserver -n -v --listening-ip=203.0.113.2 --listening-port=3478 --stun-only \
        --no-tls --no-dtls --no-cli --log-file=stdout --simple-log --pidfile="$WORK/turn.pid" --userdb="$WORK/turndb"
fi
wait_line coturn 'UDP listener opened on *: *203\.0\.113\.2:3478' 10 ||
    die "coturn did not open 203.0.113.2:3478 (within 10 s)"
if [[ $CASE == alternate* ]]; then
    # The alternate: its own ports, so that a relayed address tells which coturn made it.
    spawn coturn2 ip netns exec pub turnserver -n --listening-ip=203.0.113.2 --relay-ip=203.0.113.2 --listening-port=3479 \
        --min-port=50000 --max-port=50999 --realm=duplex --no-dtls --no-tls --no-cli --no-multicast-peers --fingerprint \
        --lt-cred-mech --user=alice:secret --log-file=stdout --simple-log -v --pidfile="$WORK/turn2.pid" \
        --userdb="$WORK/turndb2" $([[ $CASE == alternate-loop ]] && echo --alternate-server=203.0.113.2:3478)
    wait_line coturn2 'UDP listener opened on *: *203\.0\.113\.2:3479' 10 ||
        die "the second coturn did not open 203.0.113.2:3479 (within 10 s)"
fi

# ---------------------------------------------------------- duplex-server --
SERVER_ARGS=(--host 203.0.113.2 --port 8080)
case $CASE in
    symmetric | chromium | aiortc | relay-only | cut)
        SERVER_ARGS+=(--stun stun:203.0.113.2:3478 --turn turn:203.0.113.2:3478 --turn-secret "$SECRET") ;;
esac
spawn duplex-server ip netns exec pub "$DUPLEX_SERVER" "${SERVER_ARGS[@]}"
wait_line duplex-server '^listening on http://203\.0\.113\.2:8080$' 10 || die "duplex-server did not listen on 203.0.113.2:8080"
SIGNAL=ws://203.0.113.2:8080/signal

# ------------------------------------------------------------------ peers --
head -c $((10 * 1024 * 1024)) /dev/urandom >"$WORK/source.bin"
SRC_SHA=$(sha256sum "$WORK/source.bin" | cut -d' ' -f1)
mkdir -p "$WORK/received"

A_NS=homeA
A_ARGS=(--signal "$SIGNAL" --room nat --id a --bind 10.1.0.2 -v --timeout 120 --receive-dir "$WORK/received")
B_NS=homeB
B_ARGS=(--signal "$SIGNAL" --room nat --id b --bind 10.2.0.2 -v --timeout 120 --send-file "$WORK/source.bin")
case $CASE in
    restricted)
        B_NS=pub
        B_ARGS=(--signal "$SIGNAL" --room nat --id b --bind 203.0.113.3 -v --timeout 120 --send-file "$WORK/source.bin")
        A_ARGS+=(--stun stun:203.0.113.2:3478)
        B_ARGS+=(--stun stun:203.0.113.2:3478) ;;
    cut)
        # ICE settles (the direct pair nominated over the relayed ones) before the transfer starts.
        B_ARGS+=(--delay 4) ;;
    relay-only)
        A_ARGS+=(--relay-only)
        B_ARGS+=(--relay-only) ;;
    refresh)
        A_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret)
        B_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret --delay 35) ;;
    tcp)
        A_ARGS+=(--turn 'turn:203.0.113.2:3478?transport=tcp' --turn-user alice --turn-pass secret)
        B_ARGS+=(--turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret) ;;
    tls)
        A_ARGS+=(--turn turns:203.0.113.2:5349 --turn-user alice --turn-pass secret --turn-ca "$WORK/ca.pem")
        B_ARGS+=(--turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret) ;;
    ice-tcp)
        A_NS=pub
        A_ARGS=(--signal "$SIGNAL" --room nat --id a --bind 203.0.113.3 -v --timeout 120 --receive-dir "$WORK/received"
            --ice-tcp) ;;
    tls-untrusted)
        A_ARGS+=(--turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret)
        B_ARGS+=(--relay-only --turn turns:203.0.113.2:5349 --turn-user alice --turn-pass secret) ;;
    alternate)
        A_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret)
        B_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret) ;;
    alternate-loop)
        B_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret) ;;
    alternate-tcp)
        A_ARGS+=(--relay-only --turn 'turn:203.0.113.2:3478?transport=tcp' --turn-user alice --turn-pass secret)
        B_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret) ;;
    wrong-password)
        A_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass secret)
        B_ARGS+=(--relay-only --turn turn:203.0.113.2:3478 --turn-user alice --turn-pass wrong) ;;
esac

spawn peer-a ip netns exec "$A_NS" "$DUPLEX_PEER" "${A_ARGS[@]}"
for ((i = 0; i < 200; i++)); do
    grep -q 'joined room' "$WORK/peer-a.err" 2>/dev/null && break
    alive "$PID_peer_a" || die "duplex-peer A exited before it joined"
    sleep 0.05
done
grep -q 'joined room' "$WORK/peer-a.err" || die "duplex-peer A did not join room nat (within 10 s)"

if [[ $CASE == chromium || $CASE == ice-tcp ]]; then
    require_node_modules playwright-core
    # homeB is one of our namespaces (lo and a veth into natB's private range): nothing leaves it.
    spawn peer-b ip netns exec homeB env RTC_ALLOW_ANY_NETNS=1 "$NODE" "$RTC_DIR/chromium_peer.js" --signal "$SIGNAL" --room nat --id b \
        --scenario file-sender --file "$WORK/source.bin" --timeout 100 -v
elif [[ $CASE == aiortc ]]; then
    spawn peer-b ip netns exec homeB env RTC_ALLOW_ANY_NETNS=1 "$PYTHON" "$RTC_DIR/peer_aiortc.py" --signal "$SIGNAL" \
        --room nat --id b --scenario file-sender --file "$WORK/source.bin" --timeout 100 -v
else
    spawn peer-b ip netns exec "$B_NS" "$DUPLEX_PEER" "${B_ARGS[@]}"
fi

if [[ $CASE == wrong-password || $CASE == tls-untrusted || $CASE == alternate-loop ]]; then
    await_exit peer-b 15
    [[ $RC != running ]] || die "duplex-peer B ($CASE) still runs after 15 s"
    [[ $RC != 0 ]] || die "duplex-peer B ($CASE) exited 0"
    if [[ $CASE == wrong-password ]]; then
        grep -q '401' "$WORK/peer-b.err" || die "duplex-peer B did not say 401"
        grep -q 'wrong username or password' "$WORK/peer-b.err" || die "duplex-peer B did not say 'wrong username or password'"
    elif [[ $CASE == alternate-loop ]]; then
        grep -q 'redirection loop' "$WORK/peer-b.err" || die "duplex-peer B did not name the redirection loop"
    else
        grep -qi 'certificate' "$WORK/peer-b.err" || die "duplex-peer B did not name the certificate check"
    fi
    log "B exited $RC: $(grep -m1 'could not connect' "$WORK/peer-b.err" || true)"
    echo "PASS nat $CASE"
    exit 0
fi

if [[ $CASE == cut ]]; then
    # Once 2 MiB arrived (A writes the file as it comes), the direct path goes.
    for ((i = 0; i < 600; i++)); do
        part=$(find "$WORK/received" -name '*.part' -printf '%s\n' 2>/dev/null | head -1)
        [[ -n $part && $part -ge $((2 * 1024 * 1024)) ]] && break
        alive "$PID_peer_b" || die "B ended before 2 MiB arrived"
        sleep 0.05
    done
    [[ -n ${part:-} && $part -ge $((2 * 1024 * 1024)) ]] || die "2 MiB did not arrive within 30 s"
    # The path in use now: the last "connected (PAIR)" or, with -v, "path PAIR" line.
    first=$(grep -oE 'connected \([^)]*\)|: path .*' "$WORK/peer-a.err" | tail -1 || true)
    [[ -n $first && $first != *relay* ]] || die "A's path is relayed before the cut ($first): nothing to cut"
    first_b=$(grep -oE 'connected \([^)]*\)|: path .*' "$WORK/peer-b.err" | tail -1 || true)
    [[ -n $first_b && $first_b != *relay* ]] || die "B's path is relayed before the cut ($first_b): nothing to cut"
    nft insert rule ip cut forward ip saddr 198.51.100.2 ip daddr 198.51.100.6 drop
    nft insert rule ip cut forward ip saddr 198.51.100.6 ip daddr 198.51.100.2 drop
    log "direct path cut at $part bytes received (pair was: $first)"
fi

await_exit peer-b 130
[[ $RC == 0 ]] || die "the sender (B) exited $RC (expected 0 once the file was confirmed)"
kill -TERM "$PID_peer_a" 2>/dev/null || true
await_exit peer-a 5
got=$(sha256sum "$WORK/received/source.bin" 2>/dev/null | cut -d' ' -f1 || true)
[[ $got == "$SRC_SHA" ]] || die "A stored sha256 '$got', expected $SRC_SHA"
log "10 MiB arrived byte-exact (sha256 $SRC_SHA)"

# The pair each duplex-peer used: "connected (LOCAL TYPE[/PROTO] <-> REMOTE TYPE)" (the last one: after an ICE
# restart, the new pair).
pair_a=$(grep -o 'connected ([^)]*)' "$WORK/peer-a.err" | tail -1 || true)
[[ -n $pair_a ]] || die "duplex-peer A printed no 'connected (...)' line"
log "A: $pair_a"
pair_b=
if [[ $CASE != chromium && $CASE != aiortc && $CASE != ice-tcp ]]; then
    pair_b=$(grep -o 'connected ([^)]*)' "$WORK/peer-b.err" | tail -1 || true)
    [[ -n $pair_b ]] || die "duplex-peer B printed no 'connected (...)' line"
    log "B: $pair_b"
fi
local_type() { sed -E 's/connected \([^ ]+ ([a-z]+).*/\1/' <<<"$1"; }
remote_type() { sed -E 's/.*<-> [^ ]+ ([a-z]+)\)/\1/' <<<"$1"; }

case $CASE in
    symmetric | chromium | aiortc)
        # Behind two symmetric NATs only a relay gets through: ours, or the peer's.
        [[ $(local_type "$pair_a") == relay || $(remote_type "$pair_a") == relay ]] ||
            die "A's pair has no relayed side: $pair_a" ;;
    cut)
        for p in a b; do
            grep -q 'disconnected' "$WORK/peer-$p.err" || die "$p never said disconnected"
            [[ $(grep -c 'connected (' "$WORK/peer-$p.err") -ge 2 ]] || die "$p did not connect again after the cut"
        done
        grep -q 'ICE restart' "$WORK/peer-a.err" "$WORK/peer-b.err" || die "nobody restarted ICE"
        grep -hE 'disconnected|ICE restart|: path |connected \(' "$WORK/peer-a.err" "$WORK/peer-b.err" | sed 's/^/  /' >&2
        [[ $pair_a == *relay* ]] || die "after the cut A's pair is not relayed: $pair_a" ;;
    ice-tcp)
        [[ $pair_a == *"host/tcp <->"* ]] || die "A's pair is not ICE-TCP: $pair_a" ;;
    tcp | tls)
        [[ $pair_a == *"relay/$CASE"* ]] || die "A (UDP blocked) does not use a relay over $CASE: $pair_a" ;;
    relay-only | refresh)
        [[ $(local_type "$pair_a") == relay && $(remote_type "$pair_a") == relay ]] || die "A's pair is not relay to relay: $pair_a"
        [[ $(local_type "$pair_b") == relay && $(remote_type "$pair_b") == relay ]] || die "B's pair is not relay to relay: $pair_b"
        [[ $pair_a == *"relay/udp"* ]] || die "A names no relay protocol: $pair_a" ;;
    alternate | alternate-tcp)
        for p in "$pair_a" "$pair_b"; do
            [[ $(local_type "$p") == relay && $(remote_type "$p") == relay ]] || die "not relay to relay: $p"
            port=$(sed -E 's/connected \([^ ]*:([0-9]+) .*/\1/' <<<"$p")
            [[ $port -ge 50000 && $port -le 50999 ]] ||
                die "a relayed port ($port) not of the alternate coturn (50000-50999): the 300 was not followed: $p"
        done
        [[ $CASE != alternate-tcp || $pair_a == *"relay/tcp"* ]] || die "A's relay is not over TCP: $pair_a"
        redirected=$(grep -c '300' "$WORK/coturn.out" || true)
        log "the first coturn redirected $redirected times; both relays are the alternate's" ;;
    restricted)
        t=$(local_type "$pair_a")
        [[ $t == srflx || $t == prflx ]] || die "A (behind the NAT) used a $t candidate, expected srflx or prflx: $pair_a"
        [[ $pair_a != *relay* && $pair_b != *relay* ]] || die "a relay was used with no TURN server: $pair_a / $pair_b"
        [[ $(local_type "$pair_b") == host ]] || die "B (public) should use its host candidate: $pair_b" ;;
esac

if [[ $CASE == refresh ]]; then
    # Each allocation lived 35 s and more with a 10 s lifetime: coturn answered its Refreshes.
    refreshed=$(grep -c 'REFRESH processed, success' "$WORK/coturn.out" || true)
    log "coturn: $refreshed Refreshes answered with success"
    [[ $refreshed -ge 6 ]] || die "coturn answered $refreshed Refreshes (expected at least 3 per allocation, 2 allocations)"
fi
echo "PASS nat $CASE"
