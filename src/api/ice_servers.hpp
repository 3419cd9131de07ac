// api/ice_servers.hpp: what a Configuration's ICE servers and address rules
// mean: the URLs a PeerConnection uses (RFC 7064 stun:, by address or by
// name; TURN is issue 17's), and the interfaces it gathers host candidates
// from.
#pragma once

#include <duplex/peer_connection.hpp>

#include "base/endpoint.hpp"
#include "proto/ice/server_url.hpp"

#include <optional>
#include <string>
#include <vector>

namespace duplex::detail {

/// What the ICE servers' URLs ask for: STUN servers by address, STUN
/// servers by name (to look up), and the URLs not used yet (TURN, and STUN
/// over TLS). A URL that is not one (proto/ice/server_url.hpp) is the error.
struct IceServerPlan {
    std::vector<base::Endpoint> stun;
    std::vector<proto::ice::ServerUrl> stun_names;
    std::vector<std::string> unused;
};
Result<IceServerPlan> plan_ice_servers(const std::vector<IceServer>& servers);

/// Whether host candidates may come from `ip`: one of the addresses or
/// prefixes of `allowed`, or (none given) any but loopback, link-local and
/// unspecified, as a browser does.
bool address_allowed(const base::IpAddress& ip, const std::vector<std::string>& allowed);

}  // namespace duplex::detail
