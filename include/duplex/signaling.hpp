// duplex/signaling.hpp: the WebRTC signaling service (docs/signaling.md) on a
// route of a WebSocketServer: rooms of peers with unique ids, and the relay
// of offers, answers and ICE candidates between them.
//
//   duplex::WebSocketServer server(loop, {.port = 8080});
//   duplex::SignalingServer signaling(server, "/signal", {.stun_urls = {"stun:stun.example.org"}});
#pragma once

#include <duplex/websocket_server.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace duplex {

namespace detail {
struct SignalCore;
}

struct SignalingOptions {
    /// When set, `join` needs a token (make_signaling_token) for its room.
    std::string secret;
    /// Handed to clients in `joined` as RTCIceServer entries.
    std::vector<std::string> stun_urls;
    std::vector<std::string> turn_urls;
    /// With TURN: ephemeral credentials in coturn's REST format (use-auth-secret).
    std::string turn_secret;
    std::chrono::seconds turn_ttl{3600};
    /// The largest message of a peer in a room (an SDP fits easily); larger
    /// ones are refused with 1009 at their frame header.
    std::size_t max_message_size = 64 * 1024;
    /// The largest message before the peer joined (a join with a token fits):
    /// an unauthenticated connection gets the smallest budget.
    std::size_t max_unjoined_message_size = 4 * 1024;
    /// Bytes queued for one signaling peer before the server's backpressure
    /// policy applies (signaling is small; the server-wide default is 16 MiB).
    std::size_t max_backpressure = 1024 * 1024;
    std::size_t max_room_size = 16;
    std::size_t max_rooms = 10000;
    /// Rooms that peers from one IP address may have created at once (0: no limit).
    std::size_t max_rooms_per_address = 32;
    double messages_per_second = 50;  ///< per peer, with bursts of `burst`
    double burst = 200;
    std::size_t max_errors = 20;      ///< errors before the connection is closed with 1008
};

/// @par Thread safety
/// Construct before the server listens. Every room lives on the server's
/// first loop (docs/decisions/0007-signaling-rooms.md): connections on other
/// loops post their messages there, and replies are posted back by
/// WebSocket::send.
class SignalingServer {
public:
    SignalingServer(WebSocketServer& server, std::string path = "/signal", SignalingOptions options = {});
    ~SignalingServer();
    SignalingServer(const SignalingServer&) = delete;
    SignalingServer& operator=(const SignalingServer&) = delete;

    /// Rooms and peers right now (read on the rooms' loop; approximate elsewhere).
    std::size_t room_count() const;
    std::size_t peer_count() const;

private:
    std::shared_ptr<detail::SignalCore> core_;
};

/// A join token for `room`, valid until `expiry` (Unix seconds), signed with `secret`.
std::string make_signaling_token(std::string_view secret, std::string_view room, std::int64_t expiry);

}  // namespace duplex
