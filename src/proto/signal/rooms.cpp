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

bool Rooms::id_free(const std::string& room, const std::string& id) const {
    auto it = rooms_.find(room);
    return it == rooms_.end() || (!it->second.by_id.count(id) && !it->second.remote.count(id));
}

void Rooms::join(PeerRef ref, Peer& p, const Join& m, std::int64_t unix_now, Output& out) {
    if (p.joined) return error(ref, p, "already-joined", "already in room " + p.room, out);
    if (p.claiming) return error(ref, p, "already-joined", "a join is under way", out);
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
    if (it != rooms_.end() && it->second.by_id.size() + it->second.remote.size() >= config_.limits.max_room_size)
        return error(ref, p, "room-full", "the room is full", out);
    std::string id = m.id;
    if (!id.empty()) {
        if (!id_free(m.room, id)) return error(ref, p, "id-taken", "that id is taken", out);
    } else {
        // Server-assigned: unique in the room (retry on the rare collision).
        for (int tries = 0; tries < 16; ++tries) {
            id = config_.new_id ? config_.new_id() : std::to_string(ref);
            if (id_free(m.room, id)) break;
        }
        if (!id_free(m.room, id)) return error(ref, p, "id-taken", "no free id", out);
    }
    if (config_.shared) {
        // The other nodes confirm first: the id free and the room not full
        // across all of them (complete_join).
        p.claiming = true;
        p.assigned_id = m.id.empty();
        p.claim_tries = 1;
        p.claim_room = m.room;
        p.claim_id = id;
        ++claims_by_room_[m.room];
        out.claims.push_back({ref, m.room, id});
        return;
    }
    enter(ref, p, m.room, id, unix_now, {}, out);
}

// The join completes: `remote` are the room's members on other nodes.
void Rooms::enter(PeerRef ref, Peer& p, const std::string& room_name, const std::string& id, std::int64_t unix_now,
                  const std::vector<std::pair<std::string, std::string>>& remote, Output& out) {
    auto it = rooms_.find(room_name);
    if (it == rooms_.end()) {
        it = rooms_.emplace(room_name, Room{}).first;
        it->second.created_by = p.address;
        ++rooms_by_address_[p.address];
    }
    Room& room = it->second;
    for (const auto& [rid, node] : remote)
        if (rid != id && !room.by_id.count(rid)) room.remote[rid] = node;
    Joined joined;
    joined.room = room_name;
    joined.id = id;
    const std::string announce = write_server_message(PeerJoined{id});
    for (const auto& [other_id, other_ref] : room.by_id) {
        joined.peers.push_back(other_id);
        out.sends.push_back({other_ref, announce});
    }
    for (const auto& [other_id, node] : room.remote) joined.peers.push_back(other_id);
    room.by_id.emplace(id, ref);
    p.joined = true;
    p.room = room_name;
    p.id = id;
    if (config_.ice_servers) joined.ice_servers = config_.ice_servers(id, unix_now);
    out.sends.push_back({ref, write_server_message(joined)});
    out.joined.push_back(ref);
}

Output Rooms::complete_join(const Output::Claim& claim, const ClaimResult& r, std::int64_t unix_now) {
    Output out;
    const PeerRef ref = claim.peer;
    auto pit = peers_.find(ref);
    if (pit == peers_.end() || !pit->second.claiming || pit->second.claim_room != claim.room ||
        pit->second.claim_id != claim.id) {
        // Gone, or claiming something else now: what this claim took is freed.
        if (r.kind == ClaimResult::Kind::Ok) out.releases.push_back({claim.room, claim.id});
        return out;
    }
    Peer& p = pit->second;
    const std::string room = p.claim_room, id = p.claim_id;
    auto done_claiming = [&] {
        p.claiming = false;
        auto c = claims_by_room_.find(room);
        if (c != claims_by_room_.end() && --c->second == 0) claims_by_room_.erase(c);
    };
    switch (r.kind) {
        case ClaimResult::Kind::IdTaken:
            if (p.assigned_id && p.claim_tries < 8) {
                // Taken on another node: another id, claimed again.
                ++p.claim_tries;
                for (int tries = 0; tries < 16; ++tries) {
                    p.claim_id = config_.new_id ? config_.new_id() : std::to_string(ref) + "-" + std::to_string(p.claim_tries);
                    if (id_free(room, p.claim_id)) break;
                }
                out.claims.push_back({ref, room, p.claim_id});
                return out;
            }
            done_claiming();
            out.idle_rooms.push_back(room);
            error(ref, p, "id-taken", "that id is taken", out);
            return out;
        case ClaimResult::Kind::RoomFull:
            done_claiming();
            out.idle_rooms.push_back(room);
            error(ref, p, "room-full", "the room is full", out);
            return out;
        case ClaimResult::Kind::Unavailable:
            // The other nodes cannot be asked: this node's members only,
            // registered with the others once they can be (local_members()).
            done_claiming();
            enter(ref, p, room, id, unix_now, {}, out);
            return out;
        case ClaimResult::Kind::Ok:
            done_claiming();
            enter(ref, p, room, id, unix_now, r.members, out);
            return out;
    }
    return out;
}

Output Rooms::remote_joined(const std::string& room_name, const std::string& id, const std::string& node) {
    Output out;
    auto it = rooms_.find(room_name);
    if (it == rooms_.end() || it->second.by_id.count(id)) return out;
    auto [r, fresh] = it->second.remote.insert_or_assign(id, node);
    (void)r;
    if (!fresh) return out;  // known already (a claim's member list, or a repeat)
    const std::string announce = write_server_message(PeerJoined{id});
    for (const auto& [other_id, other_ref] : it->second.by_id) out.sends.push_back({other_ref, announce});
    return out;
}

Output Rooms::remote_left(const std::string& room_name, const std::string& id, const std::string& node) {
    Output out;
    auto it = rooms_.find(room_name);
    if (it == rooms_.end()) return out;
    auto r = it->second.remote.find(id);
    // A leave from a node the member is no longer on (it joined again elsewhere) is stale.
    if (r == it->second.remote.end() || (!node.empty() && r->second != node)) return out;
    it->second.remote.erase(r);
    const std::string left = write_server_message(PeerLeft{id});
    for (const auto& [other_id, other_ref] : it->second.by_id) out.sends.push_back({other_ref, left});
    return out;
}

Output Rooms::deliver_forwarded(const std::string& room_name, const std::string& to, std::string text) {
    Output out;
    auto it = rooms_.find(room_name);
    if (it == rooms_.end()) return out;
    auto target = it->second.by_id.find(to);
    if (target != it->second.by_id.end()) out.sends.push_back({target->second, std::move(text)});
    return out;
}

bool Rooms::wants_events(const std::string& room) const { return rooms_.count(room) || claims_by_room_.count(room); }

std::vector<std::string> Rooms::local_rooms() const {
    std::vector<std::string> out;
    out.reserve(rooms_.size());
    for (const auto& [name, room] : rooms_) out.push_back(name);
    return out;
}

std::vector<std::pair<std::string, std::string>> Rooms::remote_members(const std::string& room) const {
    auto it = rooms_.find(room);
    if (it == rooms_.end()) return {};
    return {it->second.remote.begin(), it->second.remote.end()};
}

std::vector<std::pair<std::string, std::string>> Rooms::local_members() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, room] : rooms_)
        for (const auto& [id, ref] : room.by_id) out.emplace_back(name, id);
    return out;
}

template <class Relayed>
void Rooms::relay(PeerRef ref, Peer& p, Relayed m, Output& out) {
    if (!p.joined) return error(ref, p, "not-joined", "join a room first", out);
    auto& room = rooms_[p.room];
    auto target = room.by_id.find(m.peer);
    if (target == room.by_id.end() || target->second == ref) {
        auto remote = room.remote.find(m.peer);
        if (remote == room.remote.end())
            return error(ref, p, "unknown-peer", "no peer \"" + m.peer + "\" in this room", out);
        // On another node: forwarded there, with "from" in place of "to".
        std::string to = m.peer;
        m.peer = p.id;
        out.forwards.push_back({remote->second, p.room, std::move(to), write_server_message(std::move(m))});
        return;
    }
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
        if (config_.shared) out.releases.push_back({p.room, p.id});
        if (it->second.by_id.empty()) {  // nothing left behind (what we knew of other nodes' members included)
            auto n = rooms_by_address_.find(it->second.created_by);
            if (n != rooms_by_address_.end() && --n->second == 0) rooms_by_address_.erase(n);
            rooms_.erase(it);
            if (config_.shared) out.idle_rooms.push_back(p.room);
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
    if (it->second.claiming) {
        // Its claim may still succeed: the id it took is freed either way.
        out.releases.push_back({it->second.claim_room, it->second.claim_id});
        auto c = claims_by_room_.find(it->second.claim_room);
        if (c != claims_by_room_.end() && --c->second == 0) claims_by_room_.erase(c);
        out.idle_rooms.push_back(it->second.claim_room);
    }
    peers_.erase(it);
    return out;
}

}  // namespace duplex::proto::signal
