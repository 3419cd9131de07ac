# shellcheck shell=bash
# rtc/nat_topology.sh: an "internet" with NATs, built from network namespaces (../shared/peers/README.md §0b).
# Source it after lib.sh, inside `unshare --net --mount` (nat_test.sh re-executes itself so).
#
#   nat_internet                 # this namespace becomes the router; namespace "pub" (203.0.113.2 and .3) hangs
#                                # off it: coturn, duplex-server and a public peer live there
#   nat_home X N KIND [udp-blocked]
#                                # namespace "homeX" (10.N.0.2) behind router namespace "natX" (10.N.0.1 inside,
#                                # 198.51.100.(4N-2) outside). KIND: symmetric (nft masquerade fully-random: a new
#                                # port per destination) or restricted (masquerade keeping ports: endpoint-independent
#                                # mapping). Either way natX's firewall drops what no inside packet asked for
#                                # (ct state established,related), to the inside and to itself, as home
#                                # routers do. udp-blocked: it also drops
#                                # every UDP packet from inside.
#   in_ns NAME cmd...            # cmd inside namespace NAME
#
# Addresses are documentation and private ranges, inside these namespaces only: nothing leaves them.

in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

nat_internet() {
    command -v nft >/dev/null || die "nft is missing (Debian nftables; scripts/deps.sh installs it)"
    # `ip netns add` mounts under /run/netns: a private /run keeps them ours (and gone with this namespace).
    mount --make-rprivate /
    mount -t tmpfs tmpfs /run
    ip link set lo up
    sysctl -qw net.ipv4.ip_forward=1
    ip netns add pub
    ip link add r_pub type veth peer name eth0 netns pub
    ip addr add 203.0.113.1/24 dev r_pub
    ip link set r_pub up
    in_ns pub ip link set lo up
    in_ns pub ip addr add 203.0.113.2/24 dev eth0
    in_ns pub ip addr add 203.0.113.3/24 dev eth0
    in_ns pub ip link set eth0 up
    in_ns pub ip route add default via 203.0.113.1
}

nat_home() {
    local x=$1 n=$2 kind=$3 blocked=${4:-}
    local nat=nat$x home=home$x
    local out_r=198.51.100.$((4 * n - 3)) out_n=198.51.100.$((4 * n - 2))
    ip netns add "$nat"
    ip netns add "$home"
    # router <-> natX (the NAT's outside), natX <-> homeX (inside)
    ip link add "r_$nat" type veth peer name out0 netns "$nat"
    ip addr add "$out_r/30" dev "r_$nat"
    ip link set "r_$nat" up
    ip route add "10.$n.0.0/24" via "$out_n" 2>/dev/null || true   # never used: the NAT hides it (kept for clarity)
    in_ns "$nat" ip link set lo up
    in_ns "$nat" ip addr add "$out_n/30" dev out0
    in_ns "$nat" ip link set out0 up
    in_ns "$nat" ip route add default via "$out_r"
    in_ns "$nat" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$nat" link add in0 type veth peer name eth0 netns "$home"
    in_ns "$nat" ip addr add "10.$n.0.1/24" dev in0
    in_ns "$nat" ip link set in0 up
    in_ns "$home" ip link set lo up
    in_ns "$home" ip addr add "10.$n.0.2/24" dev eth0
    in_ns "$home" ip link set eth0 up
    in_ns "$home" ip route add default via "10.$n.0.1"

    local masq="masquerade" udp_rule=""
    [[ $kind == symmetric ]] && masq="masquerade fully-random"
    [[ $blocked == udp-blocked ]] && udp_rule='iifname "in0" meta l4proto udp drop'
    in_ns "$nat" nft -f - <<EOF
table ip nat {
    chain post {
        type nat hook postrouting priority 100;
        oifname "out0" $masq
    }
}
table ip filter {
    # Unsolicited packets to the NAT's own outside address are dropped before
    # conntrack keeps them: otherwise a peer's first check (which arrives
    # before ours went out) would hold the mapping's tuple, and masquerade
    # would move our own packets to that peer onto another port.
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "out0" ct state new drop
    }
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        $udp_rule
        iifname "in0" accept
    }
}
EOF
}
