// proto/signal/rooms.hpp: the signaling protocol of duplex-server's /signal
// route (docs/signaling.md) as a sans-IO machine: rooms of peers with unique
// ids, and the relay of offers, answers and ICE candidates between them.
//
// The machine knows peers only as opaque handles (PeerRef). It is fed the
// text messages they send and their disconnections, and answers with the
// messages to deliver (to which peer) and the peers to close (1008). It reads
// no clock (the wall-clock time for token expiry is passed in) and draws no
// randomness of its own (peer ids come from an injected generator).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace duplex::proto::signal {

using PeerRef = std::uint64_t;

struct Limits {
    std::size_t max_message_size = 64 * 1024;  // bytes of one client message (SDP fits easily)
    std::size_t max_room_size = 16;
    std::size_t max_rooms = 10000;
    /// Token bucket per peer: `rate` messages per second, bursts of `burst`.
    double rate = 50;
    double burst = 200;
    /// Errors (bad messages, rate limit hits) a peer may cause before it is closed with 1008.
    std::size_t max_errors = 20;
};

struct Config {
    Limits limits;
    /// When set, `join` needs a valid token for its room (auth.hpp).
    std::string secret;
    /// The RTCIceServer list handed out in `joined` (a JSON array), built per
    /// peer so that TURN credentials can name it. Unset: "[]".
    std::function<std::string(std::string_view peer_id, std::int64_t unix_now)> ice_servers;
    /// Where server-assigned ids come from (tests pass a fixed sequence).
    std::function<std::string()> new_id;
};

/// What to do after a call: messages to deliver, peers to close.
struct Output {
    struct Send {
        PeerRef to;
        std::string text;
    };
    std::vector<Send> sends;
    std::vector<PeerRef> close;  // with 1008 (policy violation: repeated abuse)
};

class Rooms {
public:
    explicit Rooms(Config config);

    /// A text message from `peer`. `unix_now` is the wall-clock time (token
    /// expiry); `mono_seconds` a monotonic time in seconds (rate limiting).
    Output handle_message(PeerRef peer, std::string_view text, std::int64_t unix_now, double mono_seconds);
    /// `peer` sent a binary message (not part of the protocol).
    Output handle_binary(PeerRef peer, double mono_seconds);
    /// `peer`'s connection is gone: it leaves its room.
    Output handle_disconnect(PeerRef peer);

    std::size_t room_count() const noexcept { return rooms_.size(); }
    std::size_t peer_count() const noexcept { return peers_.size(); }
    std::size_t room_size(const std::string& room) const;

private:
    struct Peer {
        std::string room;
        std::string id;
        double tokens = 0;
        double last = 0;
        std::size_t errors = 0;
        bool joined = false;
        bool seen = false;
    };
    struct Room {
        std::unordered_map<std::string, PeerRef> by_id;
    };

    struct Incoming;
    void join(PeerRef ref, Peer& p, const Incoming& m, std::int64_t unix_now, Output& out);
    void relay(PeerRef ref, Peer& p, const Incoming& m, Output& out);
    void leave(PeerRef ref, Peer& p, Output& out);
    void error(PeerRef ref, Peer& p, std::string_view code, std::string_view message, Output& out);
    bool take_token(Peer& p, double now);

    Config config_;
    std::unordered_map<PeerRef, Peer> peers_;
    std::unordered_map<std::string, Room> rooms_;
};

/// 1-64 characters of A-Za-z0-9_.- (room names and peer ids).
bool is_valid_name(std::string_view s) noexcept;

}  // namespace duplex::proto::signal
