// runtime/udp.cpp
#include "runtime/udp.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace duplex::runtime {

namespace {
constexpr std::size_t kBatch = 16;
constexpr std::size_t kMaxDatagram = 65536;
}  // namespace


base::Result<std::unique_ptr<UdpSocket>> UdpSocket::bind(Loop& loop, const base::Endpoint& local, ReceiveFn on_receive,
                                                         std::uint16_t port_min, std::uint16_t port_max) {
    const int family = local.ip.is_v6() ? AF_INET6 : AF_INET;
    int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::error_code(errno, std::system_category());
    if (family == AF_INET6) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    // Data channels move bursts of ~1200-byte datagrams; a larger receive
    // buffer absorbs a burst while the loop is busy.
    int rcvbuf = 1 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcvbuf, sizeof rcvbuf);

    std::error_code last;
    bool bound = false;
    const unsigned first = port_min != 0 ? port_min : local.port;
    const unsigned last_port = port_min != 0 ? (port_max >= port_min ? port_max : port_min) : local.port;
    for (unsigned p = first; p <= last_port && !bound; ++p) {
        base::Endpoint at = local;
        at.port = static_cast<std::uint16_t>(p);
        Address a = to_address(at);
        if (::bind(fd, a.sockaddr_ptr(), a.length()) == 0) bound = true;
        else last = std::error_code(errno, std::system_category());
    }
    if (!bound) {
        ::close(fd);
        return last;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    std::unique_ptr<UdpSocket> s(new UdpSocket(loop, fd, std::move(on_receive)));
    s->local_ = to_endpoint(reinterpret_cast<const sockaddr*>(&ss));
    loop.add_fd(fd, EPOLLIN, s.get());
    return s;
}

UdpSocket::~UdpSocket() { close(); }

void UdpSocket::close() noexcept {
    if (fd_ < 0) return;
    loop_.remove_fd(fd_);
    ::close(fd_);
    fd_ = -1;
}

bool UdpSocket::send_to(const base::Endpoint& to, base::Bytes datagram) noexcept {
    if (fd_ < 0) return false;
    Address a = to_address(to);
    ssize_t n = ::sendto(fd_, datagram.data(), datagram.size(), MSG_DONTWAIT, a.sockaddr_ptr(), a.length());
    if (n < 0) return false;
    ++out_;
    return true;
}

std::size_t UdpSocket::send_many(std::span<const Outgoing> datagrams) noexcept {
    if (fd_ < 0) return 0;
    std::size_t done = 0;
    while (done < datagrams.size()) {
        constexpr std::size_t kMax = 64;
        std::array<mmsghdr, kMax> msgs{};
        std::array<iovec, kMax> iov{};
        std::array<Address, kMax> to{};
        const std::size_t n = std::min(kMax, datagrams.size() - done);
        for (std::size_t i = 0; i < n; ++i) {
            const auto& d = datagrams[done + i];
            to[i] = to_address(d.to);
            iov[i] = {const_cast<std::byte*>(d.data.data()), d.data.size()};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = const_cast<sockaddr*>(to[i].sockaddr_ptr());
            msgs[i].msg_hdr.msg_namelen = to[i].length();
        }
        const int sent = ::sendmmsg(fd_, msgs.data(), static_cast<unsigned>(n), MSG_DONTWAIT);
        if (sent <= 0) {
            // A full buffer or an unreachable destination: skip that datagram
            // (UDP may lose it; ICE, DTLS and SCTP retransmit) and go on.
            ++done;
            continue;
        }
        done += static_cast<std::size_t>(sent);
        out_ += static_cast<std::uint64_t>(sent);
    }
    return done;
}

void UdpSocket::on_io(std::uint32_t) {
    // Datagrams land in the loop's shared read buffer (valid during the
    // callback, as a TCP read's), not in one of the socket's own: a socket
    // costs no buffer of its own (a PeerConnection holds one per address).
    const base::MutableBytes shared = loop_.read_buffer();
    const std::size_t batch = std::clamp<std::size_t>(shared.size() / kMaxDatagram, 1, kBatch);
    const std::size_t slot = std::min(kMaxDatagram, shared.size());
    // Bounded per wake-up so one busy socket cannot starve the loop.
    for (int round = 0; round < 8 && fd_ >= 0; ++round) {
        std::array<mmsghdr, kBatch> msgs{};
        std::array<iovec, kBatch> iov{};
        std::array<sockaddr_storage, kBatch> from{};
        for (std::size_t i = 0; i < batch; ++i) {
            iov[i] = {shared.data() + i * slot, slot};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        }
        int n = ::recvmmsg(fd_, msgs.data(), static_cast<unsigned>(batch), MSG_DONTWAIT, nullptr);
        if (n <= 0) return;
        for (int i = 0; i < n && fd_ >= 0; ++i) {
            const auto idx = static_cast<std::size_t>(i);
            ++in_;
            // Larger than a slot (a loop made with a small read buffer): cut,
            // so not handed on.
            if ((msgs[idx].msg_hdr.msg_flags & MSG_TRUNC) != 0) continue;
            on_receive_(to_endpoint(reinterpret_cast<const sockaddr*>(&from[idx])),
                        base::Bytes(shared.data() + idx * slot, msgs[idx].msg_len));
        }
        if (static_cast<std::size_t>(n) < batch) return;
    }
}

void UdpSocket::set_multicast(std::uint8_t ttl, bool loop_back) noexcept {
    if (fd_ < 0) return;
    const unsigned char t = ttl, l = loop_back ? 1 : 0;
    (void)::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof t);
    (void)::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &l, sizeof l);
}

std::vector<InterfaceAddress> interface_addresses() {
    std::vector<InterfaceAddress> v4, v6;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return {};
    for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
        if (it->ifa_addr == nullptr || (it->ifa_flags & IFF_UP) == 0) continue;
        const int fam = it->ifa_addr->sa_family;
        if (fam != AF_INET && fam != AF_INET6) continue;
        base::Endpoint e = to_endpoint(it->ifa_addr);
        if (e.ip.is_link_local()) continue;
        (fam == AF_INET ? v4 : v6).push_back({it->ifa_name, e.ip});
    }
    freeifaddrs(list);
    v4.insert(v4.end(), v6.begin(), v6.end());
    return v4;
}

}  // namespace duplex::runtime
