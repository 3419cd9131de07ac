// proto/ice/server_url.hpp: the URL of an ICE server, as an RTCIceServer
// lists it: STUN (RFC 7064 §3.1) and TURN (RFC 7065 §3.1).
//
//   stun:host[:port]          stuns:host[:port]
//   turn:host[:port][?transport=udp|tcp]    turns:host[:port][?transport=tcp]
//
// host is an IPv4 address, an IPv6 address in brackets, or a name (RFC 3986
// reg-name); the port defaults to 3478, or 5349 for the TLS schemes (stuns,
// turns). A TURN URL's transport defaults to UDP (turn:) or TCP (turns:, TLS
// over TCP); a STUN URL has no query. Anything else is an error that says
// what is wrong: a URL that cannot be used is never dropped in silence.
#pragma once

#include "base/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace duplex::proto::ice {

struct ServerUrl {
    enum class Scheme { Stun, Stuns, Turn, Turns };
    enum class Transport { Udp, Tcp };

    Scheme scheme = Scheme::Stun;
    std::string host;            ///< without brackets for IPv6; names as given (case kept)
    bool host_is_name = false;   ///< a name to resolve (not an IP literal)
    std::uint16_t port = 3478;
    Transport transport = Transport::Udp;

    bool is_turn() const noexcept { return scheme == Scheme::Turn || scheme == Scheme::Turns; }
    bool is_tls() const noexcept { return scheme == Scheme::Stuns || scheme == Scheme::Turns; }
    /// Back to text, in the canonical form (default port and transport written out).
    std::string to_string() const;
};

/// Parses one URL; the error's message names the problem.
base::Result<ServerUrl> parse_server_url(std::string_view url);

}  // namespace duplex::proto::ice
