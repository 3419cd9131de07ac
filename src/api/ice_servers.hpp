// api/ice_servers.hpp: what a Configuration's ICE servers and address rules
// mean: the URLs a PeerConnection can use (RFC 7064 stun:), and the
// interfaces it gathers host candidates from.
#pragma once

#include <duplex/peer_connection.hpp>

#include "base/endpoint.hpp"

#include <optional>
#include <string>
#include <vector>

namespace duplex::detail {

/// "stun:host[:port]" (RFC 7064) with a numeric host or localhost; default port 3478.
std::optional<base::Endpoint> stun_server_endpoint(const std::string& url);

/// Whether host candidates may come from `ip`: one of the addresses or
/// prefixes of `allowed`, or (none given) any but loopback, link-local and
/// unspecified, as a browser does.
bool address_allowed(const base::IpAddress& ip, const std::vector<std::string>& allowed);

}  // namespace duplex::detail
