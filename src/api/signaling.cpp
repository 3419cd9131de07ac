// api/signaling.cpp: SignalingServer, the proto/signal machine on a route.
#include <duplex/signaling.hpp>

#include "api/server_core.hpp"
#include "api/signal_core.hpp"
#include "base/digest.hpp"
#include "proto/signal/auth.hpp"
#include "proto/signal/rooms.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <unordered_map>

namespace duplex {
namespace detail {

void SignalCore::apply(const proto::signal::Output& out) {
    // In a room, a peer may send a whole SDP; out of one, only a join.
    // Before the sends: the peer may answer `joined` at once, and the
    // raise must reach its connection first (both are posted to it in
    // this order when it lives on another loop).
    for (auto ref : out.joined) {
        auto it = peers.find(ref);
        if (it != peers.end()) (void)it->second.set_max_message_size(max_message_size);
    }
    for (auto ref : out.left) {
        auto it = peers.find(ref);
        if (it != peers.end()) (void)it->second.set_max_message_size(max_unjoined_message_size);
    }
    for (const auto& s : out.sends) {
        auto it = peers.find(s.to);
        if (it != peers.end()) (void)it->second.send(s.text);
    }
    for (auto ref : out.close) {
        auto it = peers.find(ref);
        if (it != peers.end()) (void)it->second.close(1008, "too many bad signaling messages");
    }
    carry(out);
    room_count = rooms.room_count();
    peer_count = rooms.peer_count();
}

}  // namespace detail

namespace {

std::string random_id() {
    // 10 characters of [a-z0-9]: ~52 bits, unique per room with a retry.
    static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::array<std::byte, 10> r{};
    base::random_bytes(r);
    std::string id;
    for (auto b : r) id += kAlphabet[std::to_integer<unsigned>(b) % 36];
    return id;
}

/// "1.2.3.4:5" or "[::1]:5" without its port: the per-address room limit's key.
std::string ip_of(const std::string& address) {
    const auto colon = address.rfind(':');
    std::string ip = colon == std::string::npos ? address : address.substr(0, colon);
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    return ip;
}

proto::signal::Config to_config(const SignalingOptions& o, bool shared) {
    proto::signal::Config c;
    c.shared = shared;
    c.secret = o.secret;
    c.limits.max_message_size = o.max_message_size;
    c.limits.max_room_size = o.max_room_size;
    c.limits.max_rooms = o.max_rooms;
    c.limits.rate = o.messages_per_second;
    c.limits.burst = o.burst;
    c.limits.max_errors = o.max_errors;
    c.new_id = random_id;
    c.limits.max_rooms_per_address = o.max_rooms_per_address;
    c.ice_servers = [o](std::string_view peer_id, std::int64_t now) {
        std::vector<proto::signal::IceServer> list;
        if (!o.stun_urls.empty()) list.push_back({o.stun_urls, {}, {}});
        if (!o.turn_urls.empty()) {
            proto::signal::IceServer turn{o.turn_urls, {}, {}};
            if (!o.turn_secret.empty()) {
                const auto cred = proto::signal::turn_credentials(o.turn_secret, peer_id, now + o.turn_ttl.count());
                turn.username = cred.username;
                turn.credential = cred.password;
            }
            list.push_back(std::move(turn));
        }
        return list;
    };
    return c;
}

}  // namespace

SignalingServer::SignalingServer(WebSocketServer& server, std::string path, SignalingOptions options)
    : core_(std::make_shared<detail::SignalCore>(server.loop(), to_config(options, !server.shared_->options.redis.empty()),
                                                 options)) {
    std::weak_ptr<detail::SignalCore> weak = core_;
    // With the server's Redis, rooms span every node that shares it.
    server.shared_->bus_users.push_back([weak](const std::shared_ptr<detail::RedisBus>& bus) {
        if (auto core = weak.lock()) core->attach(bus);
    });
    WebSocketRoute route;
    // Until it joins, a connection may send only a join (decision 0007).
    route.max_message_size = core_->max_unjoined_message_size;
    route.max_backpressure = options.max_backpressure;
    route.on_connection = [weak](WebSocket& ws, const HttpRequest& req) {
        auto core = weak.lock();
        if (!core) return (void)ws.close(1001, "signaling stopped");
        const auto ref = core->next.fetch_add(1);
        core->at_home([core, ref, ws, address = ip_of(req.remote_address)] {
            core->peers.emplace(ref, ws);
            core->rooms.handle_connect(ref, address);
        });
        ws.on_message([weak, ref](std::string_view data, bool binary) {
            auto c = weak.lock();
            if (!c) return;
            c->at_home([c, ref, text = std::string(data), binary] {
                const auto now = detail::SignalCore::mono_seconds();
                c->apply(binary ? c->rooms.handle_binary(ref, now)
                                : c->rooms.handle_message(ref, text, detail::SignalCore::unix_now(), now));
            });
        });
        ws.on_close([weak, ref](std::uint16_t, std::string_view) {
            auto c = weak.lock();
            if (!c) return;
            c->at_home([c, ref] {
                c->peers.erase(ref);
                c->apply(c->rooms.handle_disconnect(ref));
            });
        });
    };
    server.route(std::move(path), std::move(route));
}

SignalingServer::~SignalingServer() = default;

std::size_t SignalingServer::room_count() const { return core_->room_count.load(); }
std::size_t SignalingServer::peer_count() const { return core_->peer_count.load(); }

std::string make_signaling_token(std::string_view secret, std::string_view room, std::int64_t expiry) {
    return proto::signal::make_token(secret, room, expiry);
}

}  // namespace duplex
