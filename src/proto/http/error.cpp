#include "proto/http/error.hpp"

#include <string>

namespace duplex::proto::http {

namespace {
class HttpCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "http"; }
    std::string message(int ev) const override {
        switch (static_cast<HttpError>(ev)) {
            case HttpError::bad_request: return "malformed HTTP request";
            case HttpError::uri_too_long: return "request line too long";
            case HttpError::fields_too_large: return "request header fields too large";
            case HttpError::version_not_supported: return "HTTP version not supported";
            case HttpError::bad_status_line: return "malformed HTTP status line";
            case HttpError::body_not_allowed: return "request body not allowed";
        }
        return "unknown HTTP error";
    }
};
}  // namespace

const std::error_category& http_category() noexcept {
    static const HttpCategory category;
    return category;
}

int status_for(std::error_code ec) noexcept {
    if (ec.category() != http_category()) return 400;
    switch (static_cast<HttpError>(ec.value())) {
        case HttpError::uri_too_long: return 414;
        case HttpError::fields_too_large: return 431;
        case HttpError::version_not_supported: return 505;
        default: return 400;
    }
}

}  // namespace duplex::proto::http
