#include "runtime/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

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

}  // namespace duplex::runtime
