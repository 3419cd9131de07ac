// api/signaling.cpp: SignalingServer, the proto/signal machine on a route.
#include <duplex/signaling.hpp>

#include "base/digest.hpp"
#include "proto/signal/auth.hpp"
#include "proto/signal/rooms.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <unordered_map>

namespace duplex {
namespace detail {

struct SignalCore {
    EventLoop& home;
    proto::signal::Rooms rooms;
    std::unordered_map<proto::signal::PeerRef, WebSocket> peers;
    std::atomic<proto::signal::PeerRef> next{1};
    std::atomic<std::size_t> room_count{0}, peer_count{0};

    SignalCore(EventLoop& loop, proto::signal::Config config) : home(loop), rooms(std::move(config)) {}

    /// Runs on the home loop: now if we are there, else posted.
    template <class Fn>
    void at_home(Fn fn) {
        if (home.in_loop_thread()) fn();
        else home.post(std::move(fn));
    }

    void apply(const proto::signal::Output& out) {
        for (const auto& s : out.sends) {
            auto it = peers.find(s.to);
            if (it != peers.end()) (void)it->second.send(s.text);
        }
        for (auto ref : out.close) {
            auto it = peers.find(ref);
            if (it != peers.end()) (void)it->second.close(1008, "too many bad signaling messages");
        }
        room_count = rooms.room_count();
        peer_count = rooms.peer_count();
    }

    static double mono_seconds() {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    }
    static std::int64_t unix_now() {
        return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
};

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

proto::signal::Config to_config(const SignalingOptions& o) {
    proto::signal::Config c;
    c.secret = o.secret;
    c.limits.max_message_size = o.max_message_size;
    c.limits.max_room_size = o.max_room_size;
    c.limits.max_rooms = o.max_rooms;
    c.limits.rate = o.messages_per_second;
    c.limits.burst = o.burst;
    c.limits.max_errors = o.max_errors;
    c.new_id = random_id;
    c.ice_servers = [o](std::string_view peer_id, std::int64_t now) {
        nlohmann::json list = nlohmann::json::array();
        if (!o.stun_urls.empty()) list.push_back({{"urls", o.stun_urls}});
        if (!o.turn_urls.empty()) {
            nlohmann::json turn{{"urls", o.turn_urls}};
            if (!o.turn_secret.empty()) {
                const auto cred = proto::signal::turn_credentials(o.turn_secret, peer_id, now + o.turn_ttl.count());
                turn["username"] = cred.username;
                turn["credential"] = cred.password;
            }
            list.push_back(turn);
        }
        return list.dump();
    };
    return c;
}

}  // namespace

SignalingServer::SignalingServer(WebSocketServer& server, std::string path, SignalingOptions options)
    : core_(std::make_shared<detail::SignalCore>(server.loop(), to_config(options))) {
    std::weak_ptr<detail::SignalCore> weak = core_;
    server.route(std::move(path), {nullptr, [weak](WebSocket& ws, const HttpRequest&) {
                                       auto core = weak.lock();
                                       if (!core) return (void)ws.close(1001, "signaling stopped");
                                       const auto ref = core->next.fetch_add(1);
                                       core->at_home([core, ref, ws] { core->peers.emplace(ref, ws); });
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
                                   }});
}

SignalingServer::~SignalingServer() = default;

std::size_t SignalingServer::room_count() const { return core_->room_count.load(); }
std::size_t SignalingServer::peer_count() const { return core_->peer_count.load(); }

std::string make_signaling_token(std::string_view secret, std::string_view room, std::int64_t expiry) {
    return proto::signal::make_token(secret, room, expiry);
}

}  // namespace duplex
