// runtime/address.hpp: an IPv4 or IPv6 socket address (sockaddr_storage) with
// parsing and printing of numeric hosts.
#pragma once

#include "base/endpoint.hpp"

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duplex::runtime {

class Address {
public:
    Address() = default;
    Address(const sockaddr* sa, socklen_t len);

    /// A numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "[::1]") host and a port.
    static std::optional<Address> parse(std::string_view host, std::uint16_t port);

    int family() const noexcept { return ss_.ss_family; }
    const sockaddr* sockaddr_ptr() const noexcept { return reinterpret_cast<const sockaddr*>(&ss_); }
    socklen_t length() const noexcept { return len_; }
    std::uint16_t port() const noexcept;
    std::string ip() const;         // "127.0.0.1", "::1"
    std::string to_string() const;  // "127.0.0.1:80", "[::1]:80"

private:
    sockaddr_storage ss_{};
    socklen_t len_ = 0;
};

/// Between the socket address and the protocol core's endpoint (an
/// IPv4-mapped IPv6 address is the IPv4 peer it maps).
Address to_address(const base::Endpoint& e);
base::Endpoint to_endpoint(const Address& a);
base::Endpoint to_endpoint(const sockaddr* sa);  // AF_INET or AF_INET6

}  // namespace duplex::runtime
