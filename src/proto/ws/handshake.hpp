// proto/ws/handshake.hpp: the opening handshake, both roles (RFC 6455 §4):
// validating a client's upgrade request (§4.2.1) and answering it (§4.2.2),
// writing a client's request (§4.1) and checking the server's answer.
// Extension offers (§9.1) are parsed for a negotiator to decide on
// (permessage-deflate plugs in there); no extension is agreed by default.
#pragma once

#include "proto/http/message.hpp"
#include "proto/http/response_writer.hpp"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace duplex::proto::ws {

/// One element of Sec-WebSocket-Extensions (§9.1): a name and its parameters.
struct ExtensionOffer {
    std::string name;
    std::vector<std::pair<std::string, std::optional<std::string>>> params;
};

/// Parses a Sec-WebSocket-Extensions value (§9.1 grammar, quoted values
/// allowed). nullopt when it does not follow the grammar.
std::optional<std::vector<ExtensionOffer>> parse_extensions(std::string_view value);

/// What a valid upgrade request asked for.
struct UpgradeRequest {
    std::string key;                       // Sec-WebSocket-Key
    std::vector<std::string> protocols;    // Sec-WebSocket-Protocol, in the client's order
    std::vector<ExtensionOffer> extensions;
    std::optional<std::string> origin;     // Origin (§10.2), handed to the application
    std::string host;
};

/// Why a request is refused, as the HTTP response to send.
struct Rejection {
    int status = 400;
    http::HeaderList headers;
    std::string message;                   // for the body and the log
};

/// True when the request asks for a WebSocket (Upgrade: websocket), so the
/// server treats it as a handshake (valid or not) rather than a plain GET.
bool wants_websocket(const http::Request& req);

/// §4.2.1: GET over HTTP/1.1+, Host, Upgrade: websocket, Connection: Upgrade,
/// one Sec-WebSocket-Key of 16 base64 bytes, Sec-WebSocket-Version 13 (else
/// 426 with Sec-WebSocket-Version: 13, §4.4).
std::variant<UpgradeRequest, Rejection> check_upgrade_request(const http::Request& req);

/// §4.2.2: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string accept_key(std::string_view key);

/// The 101 response. `protocol` and `extensions` are omitted when empty.
std::string write_accept_response(std::string_view key, std::string_view protocol,
                                  std::string_view extensions, const http::HeaderList& extra = {});

// ----------------------------------------------------------------- client --

/// A fresh Sec-WebSocket-Key: 16 random bytes in base64 (§4.1).
std::string make_client_key(const std::array<std::byte, 16>& nonce);

struct ClientRequest {
    std::string host;                      // Host header value (host[:port])
    std::string target = "/";              // path and query
    std::string key;
    std::vector<std::string> protocols;
    std::string extensions;                // Sec-WebSocket-Extensions offer, "" for none
    std::optional<std::string> origin;
    http::HeaderList extra;
};
std::string write_upgrade_request(const ClientRequest& req);

/// The outcome of checking the server's answer (§4.1, "the client MUST...").
struct ClientAccept {
    std::string protocol;                  // "" when the server chose none
    std::string extensions;                // the agreed extensions, "" for none
};
struct ClientRefusal {
    int status = 0;                        // the HTTP status, when the server refused
    std::string message;
};
std::variant<ClientAccept, ClientRefusal> check_upgrade_response(const http::Response& res,
                                                                  const ClientRequest& req);

}  // namespace duplex::proto::ws
