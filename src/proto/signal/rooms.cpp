#include "proto/signal/rooms.hpp"

#include "proto/signal/auth.hpp"

#include <algorithm>
#include <type_traits>

namespace duplex::proto::signal {

namespace {
std::string error_json(std::string_view code, std::string_view message) {
    return write_server_message(Error{std::string(code), std::string(message)});
}
}  // namespace

Rooms::Rooms(Config config) : config_(std::move(config)) {}

void Rooms::handle_connect(PeerRef peer, std::string address) { peers_[peer].address = std::move(address); }

std::size_t Rooms::room_size(const std::string& room) const {
    auto it = rooms_.find(room);
    return it == rooms_.end() ? 0 : it->second.by_id.size();
}

bool Rooms::take_token(Peer& p, double now) {
    const auto& l = config_.limits;
    if (!p.seen) {
        p.seen = true;
        p.tokens = l.burst;
        p.last = now;
    }
    p.tokens = std::min(l.burst, p.tokens + (now - p.last) * l.rate);
    p.last = now;
    if (p.tokens < 1) return false;
    p.tokens -= 1;
    return true;
}

void Rooms::error(PeerRef ref, Peer& p, std::string_view code, std::string_view message, Output& out) {
    out.sends.push_back({ref, error_json(code, message)});
    // Repeated abuse ends the connection (1008): bounded work per peer.
    if (++p.errors >= config_.limits.max_errors) out.close.push_back(ref);
}

Output Rooms::handle_binary(PeerRef peer, double mono_seconds) {
    Output out;
    Peer& p = peers_[peer];
    if (!take_token(p, mono_seconds)) return error(peer, p, "rate-limited", "too many messages", out), out;
    error(peer, p, "bad-message", "the protocol is JSON text messages", out);
    return out;
}

Output Rooms::handle_message(PeerRef peer, std::string_view text, std::int64_t unix_now, double mono_seconds) {
    Output out;
    Peer& p = peers_[peer];
    if (!take_token(p, mono_seconds)) {
        error(peer, p, "rate-limited", "too many messages", out);
        return out;
    }
    if (text.size() > config_.limits.max_message_size) {
        error(peer, p, "bad-message", "message too large", out);
        return out;
    }
    SchemaLimits schema;
    schema.max_sdp = config_.limits.max_message_size;
    auto parsed = parse_client_message(text, schema);
    if (auto* e = std::get_if<ParseError>(&parsed)) {
        error(peer, p, "bad-message", e->message, out);
        return out;
    }
    std::visit(
        [&](auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Join>) {
                join(peer, p, m, unix_now, out);
            } else if constexpr (std::is_same_v<T, Leave>) {
                if (!p.joined) return error(peer, p, "not-joined", "join a room first", out);
                leave(peer, p, out);
            } else {
                relay(peer, p, std::move(m), out);
            }
        },
        std::get<ClientMessage>(parsed));
    return out;
}

void Rooms::join(PeerRef ref, Peer& p, const Join& m, std::int64_t unix_now, Output& out) {
    if (p.joined) return error(ref, p, "already-joined", "already in room " + p.room, out);
    if (!config_.secret.empty() && !check_token(config_.secret, m.token, m.room, unix_now))
        return error(ref, p, "unauthorized", "a valid token for this room is required", out);
    auto it = rooms_.find(m.room);
    if (it == rooms_.end() && rooms_.size() >= config_.limits.max_rooms)
        return error(ref, p, "room-full", "too many rooms", out);
    if (it == rooms_.end() && config_.limits.max_rooms_per_address > 0) {
        auto n = rooms_by_address_.find(p.address);
        if (n != rooms_by_address_.end() && n->second >= config_.limits.max_rooms_per_address)
            return error(ref, p, "room-full", "too many rooms from your address", out);
    }
    if (it != rooms_.end() && it->second.by_id.size() >= config_.limits.max_room_size)
        return error(ref, p, "room-full", "the room is full", out);
    std::string id = m.id;
    if (!id.empty()) {
        if (it != rooms_.end() && it->second.by_id.count(id)) return error(ref, p, "id-taken", "that id is taken", out);
    } else {
        // Server-assigned: unique in the room (retry on the rare collision).
        for (int tries = 0; tries < 16; ++tries) {
            id = config_.new_id ? config_.new_id() : std::to_string(ref);
            if (it == rooms_.end() || !it->second.by_id.count(id)) break;
        }
        if (it != rooms_.end() && it->second.by_id.count(id)) return error(ref, p, "id-taken", "no free id", out);
    }
    if (it == rooms_.end()) {
        it = rooms_.emplace(m.room, Room{}).first;
        it->second.created_by = p.address;
        ++rooms_by_address_[p.address];
    }
    Room& room = it->second;
    Joined joined;
    joined.room = m.room;
    joined.id = id;
    const std::string announce = write_server_message(PeerJoined{id});
    for (const auto& [other_id, other_ref] : room.by_id) {
        joined.peers.push_back(other_id);
        out.sends.push_back({other_ref, announce});
    }
    room.by_id.emplace(id, ref);
    p.joined = true;
    p.room = m.room;
    p.id = id;
    if (config_.ice_servers) joined.ice_servers = config_.ice_servers(id, unix_now);
    out.sends.push_back({ref, write_server_message(joined)});
    out.joined.push_back(ref);
}

template <class Relayed>
void Rooms::relay(PeerRef ref, Peer& p, Relayed m, Output& out) {
    if (!p.joined) return error(ref, p, "not-joined", "join a room first", out);
    auto& room = rooms_[p.room];
    auto target = room.by_id.find(m.peer);
    if (target == room.by_id.end() || target->second == ref)
        return error(ref, p, "unknown-peer", "no peer \"" + m.peer + "\" in this room", out);
    // Only the known fields travel, with "from" in place of "to".
    m.peer = p.id;
    out.sends.push_back({target->second, write_server_message(std::move(m))});
}

void Rooms::leave(PeerRef ref, Peer& p, Output& out) {
    auto it = rooms_.find(p.room);
    if (it != rooms_.end()) {
        it->second.by_id.erase(p.id);
        const std::string left = write_server_message(PeerLeft{p.id});
        for (const auto& [other_id, other_ref] : it->second.by_id) out.sends.push_back({other_ref, left});
        if (it->second.by_id.empty()) {  // nothing left behind
            auto n = rooms_by_address_.find(it->second.created_by);
            if (n != rooms_by_address_.end() && --n->second == 0) rooms_by_address_.erase(n);
            rooms_.erase(it);
        }
    }
    p.joined = false;
    p.room.clear();
    p.id.clear();
    out.left.push_back(ref);
}

Output Rooms::handle_disconnect(PeerRef peer) {
    Output out;
    auto it = peers_.find(peer);
    if (it == peers_.end()) return out;
    if (it->second.joined) leave(peer, it->second, out);
    peers_.erase(it);
    return out;
}

}  // namespace duplex::proto::signal
