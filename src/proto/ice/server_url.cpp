// proto/ice/server_url.cpp: see server_url.hpp.
#include "proto/ice/server_url.hpp"

#include "base/endpoint.hpp"

#include <cctype>
#include <charconv>

namespace duplex::proto::ice {

namespace {

base::Status bad(std::string_view url, std::string_view why) {
    return base::Status(make_error_code(base::Errc::invalid_argument),
                        "ICE server URL '" + std::string(url.substr(0, 200)) + "': " + std::string(why));
}

// RFC 3986 §3.2.2 reg-name: unreserved, sub-delims and percent-encodings.
bool reg_name(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (std::isalnum(c) || std::string_view("-._~!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos)
            continue;
        if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            i += 2;
            continue;
        }
        return false;
    }
    return true;
}

}  // namespace

base::Result<ServerUrl> parse_server_url(std::string_view url) {
    ServerUrl u;
    const auto colon = url.find(':');
    if (colon == std::string_view::npos) return bad(url, "no scheme (stun:, stuns:, turn: or turns:)");
    std::string scheme(url.substr(0, colon));
    for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (scheme == "stun") u.scheme = ServerUrl::Scheme::Stun;
    else if (scheme == "stuns") u.scheme = ServerUrl::Scheme::Stuns;
    else if (scheme == "turn") u.scheme = ServerUrl::Scheme::Turn;
    else if (scheme == "turns") u.scheme = ServerUrl::Scheme::Turns;
    else return bad(url, "the scheme is not stun:, stuns:, turn: or turns:");
    u.port = u.is_tls() ? 5349 : 3478;
    u.transport = u.scheme == ServerUrl::Scheme::Turns ? ServerUrl::Transport::Tcp : ServerUrl::Transport::Udp;

    std::string_view rest = url.substr(colon + 1);
    if (rest.starts_with("//")) return bad(url, "no '//' after the scheme (RFC 7064 §3.1: stun:host[:port])");
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    // host: [IPv6] or an IPv4 address or a name, then an optional :port.
    std::string_view host = rest, port;
    if (!rest.starts_with('[') && rest.find(':') != rest.rfind(':'))
        return bad(url, "an IPv6 address must be in brackets ([::1]:3478)");
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) return bad(url, "an IPv6 address without its ']'");
        host = rest.substr(1, close - 1);
        const auto after = rest.substr(close + 1);
        if (!after.empty() && !after.starts_with(':')) return bad(url, "something after the IPv6 address that is not :port");
        if (!after.empty()) port = after.substr(1);
        auto ip = base::IpAddress::parse(host);
        if (!ip || !ip->is_v6()) return bad(url, "not an IPv6 address in the brackets");
    } else if (const auto c = rest.rfind(':'); c != std::string_view::npos) {
        host = rest.substr(0, c);
        port = rest.substr(c + 1);
    }
    if (host.empty()) return bad(url, "no host");
    if (!rest.starts_with('[')) {
        if (auto ip = base::IpAddress::parse(host); ip && !ip->is_v6()) {
            u.host_is_name = false;
        } else if (reg_name(host)) {
            u.host_is_name = true;
        } else {
            return bad(url, "the host is neither an address nor a name");
        }
    }
    u.host = std::string(host);
    if (!port.empty() || rest.ends_with(':')) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            return bad(url, "the port is not a number from 1 to 65535");
        u.port = static_cast<std::uint16_t>(value);
    }
    if (!query.empty() || url.find('?') != std::string_view::npos) {
        if (!u.is_turn()) return bad(url, "a STUN URL takes no query (RFC 7064 §3.1)");
        if (query == "transport=udp") {
            if (u.scheme == ServerUrl::Scheme::Turns) return bad(url, "turns: runs over TLS, so over TCP (RFC 7065 §3)");
            u.transport = ServerUrl::Transport::Udp;
        } else if (query == "transport=tcp") {
            u.transport = ServerUrl::Transport::Tcp;
        } else {
            return bad(url, "the only query is ?transport=udp or ?transport=tcp (RFC 7065 §3.1)");
        }
    }
    return u;
}

std::string ServerUrl::to_string() const {
    static const char* names[] = {"stun", "stuns", "turn", "turns"};
    std::string s = names[static_cast<int>(scheme)];
    s += ':';
    const bool v6 = host.find(':') != std::string::npos;
    s += v6 ? "[" + host + "]" : host;
    s += ':' + std::to_string(port);
    if (is_turn()) s += transport == Transport::Udp ? "?transport=udp" : "?transport=tcp";
    return s;
}

}  // namespace duplex::proto::ice
