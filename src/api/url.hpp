// api/url.hpp: parsing of ws:// and wss:// URLs (RFC 6455 §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duplex::detail {

struct WsUrl {
    bool secure = false;
    std::string host;          // without brackets for IPv6
    std::uint16_t port = 80;
    std::string target = "/";  // path and query; never empty
    /// The Host header value: host, bracketed if IPv6, with :port if not default.
    std::string host_header() const;
};

/// nullopt for anything but an absolute ws/wss URL without a fragment (§3).
std::optional<WsUrl> parse_ws_url(std::string_view url);

}  // namespace duplex::detail
