// api/http.cpp: the public HTTP request/response types.
#include <duplex/http.hpp>

#include "api/http_convert.hpp"
#include "proto/http/message.hpp"

namespace duplex {

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
    for (const auto& h : headers)
        if (proto::http::iequals(h.name, name)) return std::string_view(h.value);
    return std::nullopt;
}

HttpResponse& HttpResponse::set_header(std::string name, std::string value) {
    for (auto& h : headers) {
        if (proto::http::iequals(h.name, name)) {
            h.value = std::move(value);
            return *this;
        }
    }
    headers.push_back({std::move(name), std::move(value)});
    return *this;
}

namespace detail {

HttpRequest to_public(const proto::http::Request& req, std::string remote_address) {
    HttpRequest out;
    out.method = req.method;
    out.target = req.target;
    out.path.assign(req.path());
    out.query.assign(req.query());
    out.headers.reserve(req.headers.size());
    for (const auto& f : req.headers.fields()) out.headers.push_back({f.name, f.value});
    out.remote_address = std::move(remote_address);
    return out;
}

proto::http::HeaderList to_header_list(const std::vector<HttpHeader>& headers) {
    proto::http::HeaderList out;
    out.reserve(headers.size());
    for (const auto& h : headers) out.emplace_back(h.name, h.value);
    return out;
}

bool is_safe_header(const HttpHeader& h) {
    // A name that is a token and a value with no CR/LF: no response splitting.
    if (!proto::http::is_token(h.name)) return false;
    return h.value.find_first_of("\r\n") == std::string::npos;
}

}  // namespace detail
}  // namespace duplex
