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

#include "proto/signal/message.hpp"

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
    /// Rooms that peers from one address may have created and that still
    /// exist (0: no limit): one address cannot take every room. A connection
    /// is in one room at a time.
    std::size_t max_rooms_per_address = 32;
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
    /// The RTCIceServer list handed out in `joined`, built per peer so that
    /// TURN credentials can name it. Unset: none.
    std::function<std::vector<IceServer>(std::string_view peer_id, std::int64_t unix_now)> ice_servers;
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
    /// Peers that entered a room (their messages may be as large as
    /// max_message_size now) or left one (back to the unjoined budget).
    std::vector<PeerRef> joined;
    std::vector<PeerRef> left;
};

class Rooms {
public:
    explicit Rooms(Config config);

    /// A new connection from `address` (its IP: the per-address room
    /// limit's key). A peer never announced counts under "".
    void handle_connect(PeerRef peer, std::string address);

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
        std::string address;
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
        std::string created_by;  // the address whose peer made it
    };

    void join(PeerRef ref, Peer& p, const Join& m, std::int64_t unix_now, Output& out);
    template <class Relayed>
    void relay(PeerRef ref, Peer& p, Relayed m, Output& out);
    void leave(PeerRef ref, Peer& p, Output& out);
    void error(PeerRef ref, Peer& p, std::string_view code, std::string_view message, Output& out);
    bool take_token(Peer& p, double now);

    Config config_;
    std::unordered_map<PeerRef, Peer> peers_;
    std::unordered_map<std::string, Room> rooms_;
    std::unordered_map<std::string, std::size_t> rooms_by_address_;
};

}  // namespace duplex::proto::signal
