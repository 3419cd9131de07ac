// api/http_convert.hpp: conversions between proto/http types and the public ones.
#pragma once

#include <duplex/http.hpp>

#include "proto/http/message.hpp"
#include "proto/http/response_writer.hpp"

#include <string>
#include <vector>

namespace duplex::detail {

HttpRequest to_public(const proto::http::Request& req, std::string remote_address);
proto::http::HeaderList to_header_list(const std::vector<HttpHeader>& headers);
/// False for a header an application passed that would break the response.
bool is_safe_header(const HttpHeader& h);

}  // namespace duplex::detail
