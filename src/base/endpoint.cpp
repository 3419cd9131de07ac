// base/endpoint.cpp: numeric address parsing and printing (inet_pton/ntop:
// pure functions of their arguments, no socket is touched).
#include "base/endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace duplex::base {

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> b) noexcept {
    IpAddress a;
    std::memcpy(a.bytes_.data(), b.data(), 4);
    return a;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> b) noexcept {
    IpAddress a;
    a.v6_ = true;
    a.bytes_ = b;
    return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 45) return std::nullopt;
    char buf[64];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    std::array<std::uint8_t, 16> b{};
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buf, b.data()) != 1) return std::nullopt;
        return v4({b[0], b[1], b[2], b[3]});
    }
    if (inet_pton(AF_INET6, buf, b.data()) != 1) return std::nullopt;
    return v6(b);
}

bool IpAddress::is_loopback() const noexcept {
    if (!v6_) return bytes_[0] == 127;
    static constexpr std::array<std::uint8_t, 16> one{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return bytes_ == one;
}

bool IpAddress::is_unspecified() const noexcept {
    for (std::size_t i = 0; i < size(); ++i)
        if (bytes_[i] != 0) return false;
    return true;
}

bool IpAddress::is_link_local() const noexcept {
    if (!v6_) return bytes_[0] == 169 && bytes_[1] == 254;
    return bytes_[0] == 0xfe && (bytes_[1] & 0xc0) == 0x80;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs brackets
    }
    auto ip = IpAddress::parse(host);
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (!ip || ec != std::errc{} || end != port.data() + port.size() || p > 65535 || port.empty()) return std::nullopt;
    return Endpoint{*ip, static_cast<std::uint16_t>(p)};
}

std::string Endpoint::to_string() const {
    return ip.is_v6() ? "[" + ip.to_string() + "]:" + std::to_string(port) : ip.to_string() + ":" + std::to_string(port);
}

}  // namespace duplex::base
