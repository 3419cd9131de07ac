// api/ice_servers.cpp: ICE server URLs and the host-candidate address rules.
#include "api/ice_servers.hpp"

#include "runtime/udp.hpp"

#include <charconv>

namespace duplex {
namespace detail {

std::optional<base::Endpoint> stun_server_endpoint(const std::string& url) {
    // "stun:host[:port]" with a numeric host (no resolver here yet).
    std::string_view u = url;
    if (u.rfind("stun:", 0) != 0) return std::nullopt;
    u.remove_prefix(5);
    if (auto q = u.find('?'); q != std::string_view::npos) u = u.substr(0, q);
    std::string_view host = u;
    std::uint16_t port = 3478;
    if (!u.empty() && u.front() == '[') {
        auto close = u.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = u.substr(1, close - 1);
        if (close + 1 < u.size() && u[close + 1] == ':') {
            auto p = u.substr(close + 2);
            if (std::from_chars(p.data(), p.data() + p.size(), port).ec != std::errc{}) return std::nullopt;
        }
    } else if (auto colon = u.rfind(':'); colon != std::string_view::npos && u.find(':') == colon) {
        host = u.substr(0, colon);
        auto p = u.substr(colon + 1);
        if (std::from_chars(p.data(), p.data() + p.size(), port).ec != std::errc{}) return std::nullopt;
    }
    if (host == "localhost") host = "127.0.0.1";
    auto ip = base::IpAddress::parse(host);
    if (!ip) return std::nullopt;
    return base::Endpoint{*ip, port};
}

bool address_allowed(const base::IpAddress& ip, const std::vector<std::string>& allowed) {
    if (allowed.empty()) return !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified();
    for (const auto& rule : allowed) {
        std::string_view r = rule;
        unsigned bits = ip.is_v6() ? 128 : 32;
        if (auto slash = r.find('/'); slash != std::string_view::npos) {
            auto b = r.substr(slash + 1);
            if (std::from_chars(b.data(), b.data() + b.size(), bits).ec != std::errc{}) continue;
            r = r.substr(0, slash);
        }
        auto net = base::IpAddress::parse(r);
        if (!net || net->is_v6() != ip.is_v6() || bits > net->size() * 8) continue;
        bool match = true;
        for (unsigned i = 0; i < bits && match; ++i) {
            const unsigned byte = i / 8, bit = 7 - i % 8;
            match = ((net->data()[byte] >> bit) & 1) == ((ip.data()[byte] >> bit) & 1);
        }
        if (match) return true;
    }
    return false;
}

}  // namespace detail

std::vector<std::string> host_candidate_addresses(const Configuration& config) {
    std::vector<std::string> out;
    for (const auto& ifa : runtime::interface_addresses())
        if (detail::address_allowed(ifa.ip, config.allowed_addresses)) out.push_back(ifa.ip.to_string());
    return out;
}

}  // namespace duplex
