// proto/http/error.hpp: why a message head was refused, and the status code
// a server answers with (RFC 9110 §15, RFC 6585 §5 for 431).
#pragma once

#include <system_error>

namespace duplex::proto::http {

enum class HttpError {
    bad_request = 1,          // 400: malformed request line or field (RFC 9112 §3, §5)
    uri_too_long,             // 414: request line past the limit (RFC 9112 §3)
    fields_too_large,         // 431: head past the size or field-count limit (RFC 6585 §5)
    version_not_supported,    // 505: HTTP/2+ or another major version (RFC 9110 §15.6.6)
    bad_status_line,          // (client) the response's status line is malformed
    body_not_allowed,         // 400 here: a body on a request we do not take bodies for
};

const std::error_category& http_category() noexcept;
inline std::error_code make_error_code(HttpError e) noexcept { return {static_cast<int>(e), http_category()}; }

/// The status a server answers an error of http_category() with; 400 otherwise.
int status_for(std::error_code ec) noexcept;

}  // namespace duplex::proto::http

template <>
struct std::is_error_code_enum<duplex::proto::http::HttpError> : std::true_type {};
