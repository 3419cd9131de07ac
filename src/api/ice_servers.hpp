// api/ice_servers.hpp: what a Configuration's ICE servers and address rules
// mean: the URLs a PeerConnection uses (RFC 7064 stun:, RFC 7065 turn:, by
// address or by name), and the interfaces it gathers host candidates from.
#pragma once

#include <duplex/peer_connection.hpp>

#include "base/endpoint.hpp"
#include "proto/ice/server_url.hpp"
#include "proto/rtc/peer.hpp"

#include <optional>
#include <string>
#include <vector>

namespace duplex::detail {

/// A STUN or TURN server known by name, with the credentials it goes with.
struct NamedServer {
    proto::ice::ServerUrl url;
    std::string username;
    std::string credential;
};

/// How a TURN URL reaches its server: turn: over UDP (or TCP with
/// ?transport=tcp), turns: over TLS (RFC 7065 §3.1).
proto::ice::RelayProtocol relay_protocol_of(const proto::ice::ServerUrl& url);

/// What the ICE servers' URLs ask for: STUN and TURN servers by address,
/// servers by name (to look up), and the URLs not used (STUN over TLS). A URL that is not one (proto/ice/server_url.hpp), or a
/// TURN URL without credentials, is the error.
struct IceServerPlan {
    std::vector<base::Endpoint> stun;
    std::vector<proto::rtc::TurnServer> turn;
    std::vector<NamedServer> names;
    std::vector<std::string> unused;
};
Result<IceServerPlan> plan_ice_servers(const std::vector<IceServer>& servers);

/// Whether host candidates may come from `ip`: one of the addresses or
/// prefixes of `allowed`, or (none given) any but loopback, link-local and
/// unspecified, as a browser does.
bool address_allowed(const base::IpAddress& ip, const std::vector<std::string>& allowed);

}  // namespace duplex::detail
