// proto/signal/rooms.hpp: the signaling protocol of duplex-server's /signal
// route (docs/signaling.md) as a sans-IO machine: rooms of peers with unique
// ids, and the relay of offers, answers and ICE candidates between them.
//
// The machine knows peers only as opaque handles (PeerRef). It is fed the
// text messages they send and their disconnections, and answers with the
// messages to deliver (to which peer) and the peers to close (1008). It reads
// no clock (the wall-clock time for token expiry is passed in) and draws no
// randomness of its own (peer ids come from an injected generator).
//
// Shared rooms (Config::shared: several servers, one Redis; docs/scaling.md):
// a room may have members on other nodes. A join is then claimed with the
// other nodes before it completes (Output::claims, answered by
// complete_join(): the id free and the room not full across nodes); members
// on other nodes are known by id and node (remote_joined/remote_left), and
// messages for them leave as Output::forwards. The machine still does no
// IO: the API layer carries claims, releases and forwards through Redis.
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
    /// Rooms span several nodes (see above).
    bool shared = false;
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

    // Shared rooms only.
    /// A join to confirm with the other nodes; answer with complete_join().
    struct Claim {
        PeerRef peer;
        std::string room;
        std::string id;
    };
    std::vector<Claim> claims;
    /// A member of ours is gone from the room: free its id, tell the others.
    struct Release {
        std::string room;
        std::string id;
    };
    std::vector<Release> releases;
    /// A message (its JSON text, "from" set) for a member on another node.
    struct Forward {
        std::string node;
        std::string room;
        std::string to;
        std::string text;
    };
    std::vector<Forward> forwards;
    /// Rooms that may no longer need their events (see wants_events()).
    std::vector<std::string> idle_rooms;
};

/// The other nodes' answer to a claim.
struct ClaimResult {
    enum class Kind : std::uint8_t { Ok, IdTaken, RoomFull, Unavailable };
    Kind kind = Kind::Unavailable;
    /// Ok: every member of the room across nodes, the claimant included: id, node.
    std::vector<std::pair<std::string, std::string>> members;
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

    // Shared rooms (Config::shared).
    /// The answer to `claim`. Unavailable (Redis down): the join completes
    /// with this node's members only. A claim that succeeded for a peer
    /// that is gone (or claims another id by now) is released.
    Output complete_join(const Output::Claim& claim, const ClaimResult& result, std::int64_t unix_now);
    /// A member joined on another node (`node` names it): announced to ours.
    Output remote_joined(const std::string& room, const std::string& id, const std::string& node);
    /// A member on another node left (or its node died): announced to ours.
    /// `node` empty: whichever node it was on.
    Output remote_left(const std::string& room, const std::string& id, const std::string& node);
    /// A message forwarded from another node to our member `to`.
    Output deliver_forwarded(const std::string& room, const std::string& to, std::string text);
    /// Whether this node has members in `room`, or joins to it under way.
    bool wants_events(const std::string& room) const;
    /// Rooms with members here, and the members on other nodes that we know of.
    std::vector<std::string> local_rooms() const;
    std::vector<std::pair<std::string, std::string>> remote_members(const std::string& room) const;
    /// Our members: room, id (to register them again after Redis was away).
    std::vector<std::pair<std::string, std::string>> local_members() const;

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
        // Shared rooms: a join claimed and not yet answered.
        bool claiming = false;
        bool assigned_id = false;  // the server chose the id (another is tried if it is taken)
        int claim_tries = 0;
        std::string claim_room, claim_id;
    };
    struct Room {
        std::unordered_map<std::string, PeerRef> by_id;
        std::unordered_map<std::string, std::string> remote;  // id -> node (shared rooms)
        std::string created_by;  // the address whose peer made it
    };

    void join(PeerRef ref, Peer& p, const Join& m, std::int64_t unix_now, Output& out);
    void enter(PeerRef ref, Peer& p, const std::string& room, const std::string& id, std::int64_t unix_now,
               const std::vector<std::pair<std::string, std::string>>& remote, Output& out);
    bool id_free(const std::string& room, const std::string& id) const;
    template <class Relayed>
    void relay(PeerRef ref, Peer& p, Relayed m, Output& out);
    void leave(PeerRef ref, Peer& p, Output& out);
    void error(PeerRef ref, Peer& p, std::string_view code, std::string_view message, Output& out);
    bool take_token(Peer& p, double now);

    Config config_;
    std::unordered_map<PeerRef, Peer> peers_;
    std::unordered_map<std::string, Room> rooms_;
    std::unordered_map<std::string, std::size_t> rooms_by_address_;
    std::unordered_map<std::string, std::size_t> claims_by_room_;  // joins under way (shared rooms)
};

}  // namespace duplex::proto::signal
