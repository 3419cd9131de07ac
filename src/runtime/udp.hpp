// runtime/udp.hpp: a non-blocking UDP socket on a Loop, and the local
// interface addresses that ICE may gather host candidates from.
//
// Datagrams are read in batches (recvmmsg) into one buffer owned by the
// socket and handed to a callback one at a time; a send is one sendto: UDP
// has no partial writes, and a full socket buffer drops the datagram, as the
// network may (ICE, DTLS and SCTP retransmit).
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/result.hpp"
#include "runtime/address.hpp"
#include "runtime/loop.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace duplex::runtime {

/// Thread safety: loop thread only.
class UdpSocket final : Loop::IoHandler {
public:
    using ReceiveFn = std::function<void(const base::Endpoint& from, base::Bytes datagram)>;

    /// Binds to `local` (port 0: any free port; or the first free port in
    /// [port_min, port_max] when port_min != 0).
    static base::Result<std::unique_ptr<UdpSocket>> bind(Loop& loop, const base::Endpoint& local, ReceiveFn on_receive,
                                                         std::uint16_t port_min = 0, std::uint16_t port_max = 0);
    ~UdpSocket();
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;

    const base::Endpoint& local() const noexcept { return local_; }
    /// One datagram. False when the kernel refused it (full buffer, no route);
    /// the caller treats that as loss.
    bool send_to(const base::Endpoint& to, base::Bytes datagram) noexcept;
    struct Outgoing {
        base::Endpoint to;
        base::Bytes data;
    };
    /// Several datagrams in as few system calls as the kernel allows
    /// (sendmmsg); returns how many were taken (the rest count as lost).
    std::size_t send_many(std::span<const Outgoing> datagrams) noexcept;
    void close() noexcept;
    /// IPv4 multicast sending: the TTL of what goes to a group, and whether
    /// this host's own sockets hear it too (IP_MULTICAST_TTL, _LOOP).
    void set_multicast(std::uint8_t ttl, bool loop_back) noexcept;

    std::uint64_t datagrams_in() const noexcept { return in_; }
    std::uint64_t datagrams_out() const noexcept { return out_; }

private:
    UdpSocket(Loop& loop, int fd, ReceiveFn fn) : loop_(loop), fd_(fd), on_receive_(std::move(fn)) {}
    void on_io(std::uint32_t events) override;

    Loop& loop_;
    int fd_ = -1;
    ReceiveFn on_receive_;
    base::Endpoint local_;
    std::uint64_t in_ = 0, out_ = 0;
};

struct InterfaceAddress {
    std::string interface;  // "lo", "eth0"
    base::IpAddress ip;
};

/// The addresses of the up interfaces (getifaddrs), IPv4 first; link-local
/// IPv6 excluded (a scope id cannot travel in SDP).
std::vector<InterfaceAddress> interface_addresses();

}  // namespace duplex::runtime
