// proto/signal/message.hpp: the messages of duplex's signaling protocol
// (docs/signaling.md) as types, and the one place where their JSON is read
// and written, for the server (client messages in) and for a peer (server
// messages in) alike.
//
// Reading never throws and never trusts a field's JSON type: a message that
// does not match the schema is a ParseError with a message for the log (the
// server answers it with `bad-message`; a peer logs it and goes on). Unknown
// fields are ignored and never relayed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace duplex::proto::signal {

/// 1-64 characters of A-Za-z0-9_.- (room names and peer ids).
bool is_valid_name(std::string_view s) noexcept;

enum class SdpKind : std::uint8_t { Offer, Answer };
std::string_view to_string(SdpKind k) noexcept;

// -- messages both ways ----------------------------------------------------
/// An offer or an answer: `peer` is the target ("to") when a client sends
/// it, the sender ("from") when the server relays it.
struct Description {
    SdpKind kind = SdpKind::Offer;
    std::string peer;
    std::string sdp;
};
/// An ICE candidate; "" is the end of candidates. `peer` as in Description.
struct Candidate {
    std::string peer;
    std::string candidate;
    std::optional<std::string> sdp_mid;
    std::optional<std::uint16_t> sdp_mline_index;
};

// -- client → server -------------------------------------------------------
struct Join {
    std::string room;
    std::string id;     // "": the server assigns one
    std::string token;  // "": none
};
struct Leave {};
using ClientMessage = std::variant<Join, Description, Candidate, Leave>;

// -- server → client -------------------------------------------------------
/// An RTCIceServer: urls and, for TURN, credentials.
struct IceServer {
    std::vector<std::string> urls;
    std::string username;
    std::string credential;
};
struct Joined {
    std::string room;
    std::string id;
    std::vector<std::string> peers;
    std::vector<IceServer> ice_servers;
};
struct PeerJoined {
    std::string id;
};
struct PeerLeft {
    std::string id;
};
struct Error {
    std::string code;     // a slug: bad-message, not-joined, room-full, ...
    std::string message;  // for people
};
using ServerMessage = std::variant<Joined, PeerJoined, PeerLeft, Description, Candidate, Error>;

/// Why a message does not match the schema (for `bad-message` and logs).
struct ParseError {
    std::string message;
};

/// Limits a reader applies beyond the types (what a field may hold).
struct SchemaLimits {
    std::size_t max_sdp = 64 * 1024;
    std::size_t max_candidate = 1024;
    std::size_t max_peers = 1024;        // ids in `joined`
    std::size_t max_ice_servers = 16;
    std::size_t max_urls = 16;           // per ICE server
    std::size_t max_field = 1024;        // token, urls, credentials, error texts
};

std::variant<ClientMessage, ParseError> parse_client_message(std::string_view text, const SchemaLimits& limits = {});
std::variant<ServerMessage, ParseError> parse_server_message(std::string_view text, const SchemaLimits& limits = {});

/// The JSON text of a message. Client messages carry "to", server messages "from".
std::string write_client_message(const ClientMessage& m);
std::string write_server_message(const ServerMessage& m);

}  // namespace duplex::proto::signal
