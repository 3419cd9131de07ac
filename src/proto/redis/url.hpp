// proto/redis/url.hpp: where a Redis server is, as operators write it:
//   redis://[[user]:password@]host[:port][/db]   (port 6379, db 0)
//   rediss://...                                 (the same over TLS)
//   unix:///path/to/redis.sock[?db=N]            (with password=… and user=… too)
// (IANA's redis and rediss URI schemes; the unix form is the one Redis'
// own clients accept.) Percent-escapes are decoded in the user and password.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace duplex::proto::redis {

struct ServerUrl {
    bool tls = false;
    std::string host;       // a name, or an address (IPv6 without brackets)
    std::uint16_t port = 6379;
    std::string unix_path;  // set for unix://, host empty then
    std::string user;       // empty: the default user (AUTH password alone)
    std::string password;   // empty: no AUTH
    unsigned db = 0;

    /// The URL again, with the password replaced by "***" (for logs).
    std::string redacted() const;
};

/// Parses `text`; false with `error` saying why.
bool parse_server_url(std::string_view text, ServerUrl& out, std::string& error);

}  // namespace duplex::proto::redis
