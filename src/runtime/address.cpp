#include "runtime/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

namespace duplex::runtime {

Address::Address(const sockaddr* sa, socklen_t len) {
    len_ = len > sizeof(ss_) ? sizeof(ss_) : len;
    std::memcpy(&ss_, sa, len_);
}

std::optional<Address> Address::parse(std::string_view host, std::uint16_t port) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string h(host);
    Address a;
    sockaddr_in v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        std::memcpy(&a.ss_, &v4, sizeof(v4));
        a.len_ = sizeof(v4);
        return a;
    }
    sockaddr_in6 v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        std::memcpy(&a.ss_, &v6, sizeof(v6));
        a.len_ = sizeof(v6);
        return a;
    }
    return std::nullopt;
}

std::uint16_t Address::port() const noexcept {
    if (ss_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss_)->sin_port);
    if (ss_.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_port);
    return 0;
}

std::string Address::ip() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss_.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr, buf, sizeof(buf));
    else if (ss_.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr, buf, sizeof(buf));
    return buf;
}

std::string Address::to_string() const {
    if (ss_.ss_family == AF_INET6) return "[" + ip() + "]:" + std::to_string(port());
    return ip() + ":" + std::to_string(port());
}

Address to_address(const base::Endpoint& e) {
    sockaddr_storage ss{};
    if (e.ip.is_v6()) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(e.port);
        std::memcpy(&s6->sin6_addr, e.ip.data(), 16);
        return Address(reinterpret_cast<const sockaddr*>(&ss), sizeof(sockaddr_in6));
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(e.port);
    std::memcpy(&s4->sin_addr, e.ip.data(), 4);
    return Address(reinterpret_cast<const sockaddr*>(&ss), sizeof(sockaddr_in));
}

base::Endpoint to_endpoint(const sockaddr* sa) {
    base::Endpoint e;
    if (sa->sa_family == AF_INET6) {
        const auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
        std::array<std::uint8_t, 16> b{};
        std::memcpy(b.data(), &s6->sin6_addr, 16);
        // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 peer it maps.
        static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(b.data(), mapped, 12) == 0) e.ip = base::IpAddress::v4({b[12], b[13], b[14], b[15]});
        else e.ip = base::IpAddress::v6(b);
        e.port = ntohs(s6->sin6_port);
    } else if (sa->sa_family == AF_INET) {
        const auto* s4 = reinterpret_cast<const sockaddr_in*>(sa);
        std::array<std::uint8_t, 4> b{};
        std::memcpy(b.data(), &s4->sin_addr, 4);
        e.ip = base::IpAddress::v4(b);
        e.port = ntohs(s4->sin_port);
    }
    return e;
}

base::Endpoint to_endpoint(const Address& a) { return to_endpoint(a.sockaddr_ptr()); }

}  // namespace duplex::runtime
