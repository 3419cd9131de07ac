// duplex/http.hpp: the HTTP request a server hands to its handlers (the
// opening handshake of a WebSocket, or a plain GET), and the response a plain
// HTTP handler fills in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex {

struct HttpHeader {
    std::string name;
    std::string value;
};

/// A request as received. A value type: copy it to keep it.
struct HttpRequest {
    std::string method;                 ///< "GET", "HEAD", ...
    std::string target;                 ///< as sent: path and query
    std::string path;                   ///< target up to '?'
    std::string query;                  ///< after '?', without it
    std::vector<HttpHeader> headers;    ///< in arrival order
    std::string remote_address;         ///< "127.0.0.1:53412", "[::1]:53412"

    /// The first header of that name (case-insensitive), if any.
    std::optional<std::string_view> header(std::string_view name) const;
};

/// What a plain HTTP handler answers. Content-Length is added for you.
struct HttpResponse {
    int status = 200;
    std::vector<HttpHeader> headers;
    std::string body;

    HttpResponse& set_header(std::string name, std::string value);
};

}  // namespace duplex
