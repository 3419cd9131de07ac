// base/endpoint.hpp: an IP address and a UDP/TCP port as plain values, with
// no socket types in sight, so that the sans-IO machines (STUN's
// XOR-MAPPED-ADDRESS, ICE candidates, SDP) can hold and compare addresses.
// The runtime converts to and from sockaddr (runtime/address.hpp).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace duplex::base {

class IpAddress {
public:
    IpAddress() = default;  // 0.0.0.0
    static IpAddress v4(std::array<std::uint8_t, 4> b) noexcept;
    static IpAddress v6(std::array<std::uint8_t, 16> b) noexcept;
    /// A numeric IPv4 ("127.0.0.1") or IPv6 ("::1", also "[::1]") address.
    static std::optional<IpAddress> parse(std::string_view text);

    bool is_v6() const noexcept { return v6_; }
    bool is_v4() const noexcept { return !v6_; }
    /// 4 bytes for IPv4, 16 for IPv6 (network order).
    const std::uint8_t* data() const noexcept { return bytes_.data(); }
    std::size_t size() const noexcept { return v6_ ? 16 : 4; }

    bool is_loopback() const noexcept;
    bool is_unspecified() const noexcept;
    bool is_link_local() const noexcept;
    std::string to_string() const;  // "127.0.0.1", "::1"

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

private:
    bool v6_ = false;
    std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first 4
};

struct Endpoint {
    IpAddress ip;
    std::uint16_t port = 0;

    /// "1.2.3.4:5", "[::1]:5".
    static std::optional<Endpoint> parse(std::string_view text);
    std::string to_string() const;

    friend bool operator==(const Endpoint&, const Endpoint&) = default;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace duplex::base

template <>
struct std::hash<duplex::base::Endpoint> {
    std::size_t operator()(const duplex::base::Endpoint& e) const noexcept {
        std::size_t h = e.ip.is_v6() ? 1469598103934665603ull : 1099511628211ull;
        for (std::size_t i = 0; i < e.ip.size(); ++i) h = (h ^ e.ip.data()[i]) * 1099511628211ull;
        return h ^ (std::size_t{e.port} << 1);
    }
};
