// proto/http/message.hpp: the parsed head of an HTTP/1.1 message (RFC 9112 §2-§5,
// RFC 9110 §5): request or status line plus header fields, with the look-ups a
// WebSocket handshake needs (case-insensitive names, comma-separated token lists).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::proto::http {

struct Header {
    std::string name;
    std::string value;
};

/// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1).
class Headers {
public:
    void add(std::string name, std::string value) { fields_.push_back({std::move(name), std::move(value)}); }
    /// The first field of that name, or nullopt.
    std::optional<std::string_view> get(std::string_view name) const;
    /// All values of that name joined by ", " (RFC 9110 §5.3 combining), or nullopt.
    std::optional<std::string> get_combined(std::string_view name) const;
    std::size_t count(std::string_view name) const;
    /// True when a comma-separated list in any field of that name holds `token`
    /// (case-insensitive), e.g. has_token("Connection", "upgrade").
    bool has_token(std::string_view name, std::string_view token) const;
    const std::vector<Header>& fields() const noexcept { return fields_; }
    std::size_t size() const noexcept { return fields_.size(); }

private:
    std::vector<Header> fields_;
};

struct Request {
    std::string method;
    std::string target;      // request-target as sent (origin-form for us)
    int version_minor = 1;   // HTTP/1.<minor>
    Headers headers;

    std::string_view path() const;   // target up to '?'
    std::string_view query() const;  // after '?', without it ("" when none)
};

struct Response {
    int status = 0;
    std::string reason;
    int version_minor = 1;
    Headers headers;
};

bool iequals(std::string_view a, std::string_view b) noexcept;
/// Splits a comma-separated list (RFC 9110 §5.6.1), trimming optional white space
/// and dropping empty elements.
std::vector<std::string_view> split_list(std::string_view value);
std::string_view trim_ows(std::string_view s) noexcept;
/// RFC 9110 §5.6.2 token characters.
bool is_token(std::string_view s) noexcept;

}  // namespace duplex::proto::http
