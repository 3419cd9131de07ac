#include "api/url.hpp"

#include "proto/http/message.hpp"

namespace duplex::detail {

std::string WsUrl::host_header() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != (secure ? 443 : 80)) h += ":" + std::to_string(port);
    return h;
}

std::optional<WsUrl> parse_ws_url(std::string_view url) {
    WsUrl out;
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    const auto scheme = url.substr(0, scheme_end);
    if (proto::http::iequals(scheme, "ws")) out.secure = false;
    else if (proto::http::iequals(scheme, "wss")) out.secure = true;
    else return std::nullopt;
    out.port = out.secure ? 443 : 80;
    std::string_view rest = url.substr(scheme_end + 3);
    // §3: fragment identifiers are meaningless and MUST NOT be used.
    if (rest.find('#') != std::string_view::npos) return std::nullopt;
    const auto path_start = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_start);
    if (path_start != std::string_view::npos) {
        out.target.assign(rest.substr(path_start));
        if (out.target.front() == '?') out.target.insert(0, "/");
    }
    if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo
    std::string_view host = authority, port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port = after.substr(1);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    if (!port.empty()) {
        unsigned long p = 0;
        for (char c : port) {
            if (c < '0' || c > '9') return std::nullopt;
            p = p * 10 + static_cast<unsigned long>(c - '0');
            if (p > 65535) return std::nullopt;
        }
        if (p == 0) return std::nullopt;
        out.port = static_cast<std::uint16_t>(p);
    }
    for (char c : out.target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
    out.host.assign(host);
    return out;
}

}  // namespace duplex::detail
