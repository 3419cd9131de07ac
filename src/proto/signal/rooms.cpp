#include "proto/signal/rooms.hpp"

#include "proto/signal/auth.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace duplex::proto::signal {

using nlohmann::json;

namespace {
std::string error_json(std::string_view code, std::string_view message) {
    return json{{"type", "error"}, {"code", code}, {"message", message}}.dump();
}
}  // namespace

bool is_valid_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
    });
}

/// A validated client message: only the fields the protocol knows (others
/// are ignored, never relayed).
struct Rooms::Incoming {
    std::string type;
    std::string room, id, token;              // join
    std::string to, sdp;                      // offer / answer / candidate
    std::string candidate;                    // candidate ("" = end of candidates)
    std::optional<std::string> sdp_mid;
    std::optional<std::int64_t> sdp_mline_index;
};

Rooms::Rooms(Config config) : config_(std::move(config)) {}

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
    // No exceptions: a parse failure is a discarded value.
    const json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        error(peer, p, "bad-message", "not a JSON object", out);
        return out;
    }
    auto str = [&](const char* key, std::string& into, bool required) {
        auto it = j.find(key);
        if (it == j.end()) return !required;
        if (!it->is_string()) return false;
        into = it->get<std::string>();
        return true;
    };
    Incoming m;
    if (!str("type", m.type, true)) {
        error(peer, p, "bad-message", "missing \"type\"", out);
        return out;
    }
    if (m.type == "join") {
        if (!str("room", m.room, true) || !is_valid_name(m.room)) {
            error(peer, p, "bad-message", "\"room\" must be 1-64 characters of A-Za-z0-9_.-", out);
            return out;
        }
        if (!str("id", m.id, false) || (j.contains("id") && !is_valid_name(m.id))) {
            error(peer, p, "bad-message", "\"id\" must be 1-64 characters of A-Za-z0-9_.-", out);
            return out;
        }
        if (!str("token", m.token, false)) {
            error(peer, p, "bad-message", "\"token\" must be a string", out);
            return out;
        }
        join(peer, p, m, unix_now, out);
    } else if (m.type == "offer" || m.type == "answer") {
        if (!str("to", m.to, true) || !str("sdp", m.sdp, true)) {
            error(peer, p, "bad-message", "\"to\" and \"sdp\" must be strings", out);
            return out;
        }
        relay(peer, p, m, out);
    } else if (m.type == "candidate") {
        if (!str("to", m.to, true) || !str("candidate", m.candidate, true)) {
            error(peer, p, "bad-message", "\"to\" and \"candidate\" must be strings", out);
            return out;
        }
        if (auto it = j.find("sdpMid"); it != j.end() && !it->is_null()) {
            if (!it->is_string()) return error(peer, p, "bad-message", "\"sdpMid\" must be a string", out), out;
            m.sdp_mid = it->get<std::string>();
        }
        if (auto it = j.find("sdpMLineIndex"); it != j.end() && !it->is_null()) {
            if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 1024)
                return error(peer, p, "bad-message", "\"sdpMLineIndex\" must be a small integer", out), out;
            m.sdp_mline_index = it->get<std::int64_t>();
        }
        relay(peer, p, m, out);
    } else if (m.type == "leave") {
        if (!p.joined) return error(peer, p, "not-joined", "join a room first", out), out;
        leave(peer, p, out);
    } else {
        error(peer, p, "bad-message", "unknown \"type\"", out);
    }
    return out;
}

void Rooms::join(PeerRef ref, Peer& p, const Incoming& m, std::int64_t unix_now, Output& out) {
    if (p.joined) return error(ref, p, "already-joined", "already in room " + p.room, out);
    if (!config_.secret.empty() && !check_token(config_.secret, m.token, m.room, unix_now))
        return error(ref, p, "unauthorized", "a valid token for this room is required", out);
    auto it = rooms_.find(m.room);
    if (it == rooms_.end() && rooms_.size() >= config_.limits.max_rooms)
        return error(ref, p, "room-full", "too many rooms", out);
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
    Room& room = rooms_[m.room];
    json peers = json::array();
    for (const auto& [other_id, other_ref] : room.by_id) {
        peers.push_back(other_id);
        out.sends.push_back({other_ref, json{{"type", "peer-joined"}, {"id", id}}.dump()});
    }
    room.by_id.emplace(id, ref);
    p.joined = true;
    p.room = m.room;
    p.id = id;
    json ice = json::array();
    if (config_.ice_servers) {
        ice = json::parse(config_.ice_servers(id, unix_now), nullptr, false);
        if (ice.is_discarded() || !ice.is_array()) ice = json::array();
    }
    out.sends.push_back(
        {ref, json{{"type", "joined"}, {"room", m.room}, {"id", id}, {"peers", peers}, {"iceServers", ice}}.dump()});
}

void Rooms::relay(PeerRef ref, Peer& p, const Incoming& m, Output& out) {
    if (!p.joined) return error(ref, p, "not-joined", "join a room first", out);
    auto& room = rooms_[p.room];
    auto target = room.by_id.find(m.to);
    if (target == room.by_id.end() || target->second == ref)
        return error(ref, p, "unknown-peer", "no peer \"" + m.to.substr(0, 64) + "\" in this room", out);
    // Only the known fields travel, with "from" in place of "to".
    json r{{"type", m.type}, {"from", p.id}};
    if (m.type == "candidate") {
        r["candidate"] = m.candidate;
        if (m.sdp_mid) r["sdpMid"] = *m.sdp_mid;
        if (m.sdp_mline_index) r["sdpMLineIndex"] = *m.sdp_mline_index;
    } else {
        r["sdp"] = m.sdp;
    }
    out.sends.push_back({target->second, r.dump()});
}

void Rooms::leave(PeerRef ref, Peer& p, Output& out) {
    auto it = rooms_.find(p.room);
    if (it != rooms_.end()) {
        it->second.by_id.erase(p.id);
        for (const auto& [other_id, other_ref] : it->second.by_id)
            out.sends.push_back({other_ref, json{{"type", "peer-left"}, {"id", p.id}}.dump()});
        if (it->second.by_id.empty()) rooms_.erase(it);  // nothing left behind
    }
    (void)ref;
    p.joined = false;
    p.room.clear();
    p.id.clear();
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
