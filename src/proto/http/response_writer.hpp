// proto/http/response_writer.hpp: serialises HTTP/1.1 heads (RFC 9112 §4, §3).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace duplex::proto::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// The standard reason phrase of a status code ("" when unknown).
std::string_view reason_phrase(int status) noexcept;

/// "HTTP/1.1 <status> <reason>\r\n" + fields + "\r\n". Adds nothing by itself:
/// the caller lists Content-Length / Connection as it needs them.
std::string write_response_head(int status, const HeaderList& headers);

/// A complete small response with a text body, Content-Length and
/// Connection: close (for errors that end the connection).
std::string write_simple_response(int status, const HeaderList& extra, std::string_view body,
                                  bool close_connection = true);

}  // namespace duplex::proto::http
