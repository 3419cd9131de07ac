// api/signal_core.hpp: the body of a SignalingServer: the proto/signal
// machine, the connections of its peers, and (with the server's Redis) what
// carries its rooms across nodes (api/shared_rooms.cpp, docs/scaling.md).
// Everything here runs on the server's first loop ("home").
#pragma once

#include <duplex/signaling.hpp>

#include "proto/signal/rooms.hpp"
#include "runtime/loop.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

namespace duplex::detail {

class RedisBus;

struct SignalCore : std::enable_shared_from_this<SignalCore> {
    EventLoop& home;
    proto::signal::Rooms rooms;
    std::unordered_map<proto::signal::PeerRef, WebSocket> peers;
    std::atomic<proto::signal::PeerRef> next{1};
    std::atomic<std::size_t> room_count{0}, peer_count{0};
    std::size_t max_message_size, max_unjoined_message_size, max_room_size;

    SignalCore(EventLoop& loop, proto::signal::Config config, const SignalingOptions& o)
        : home(loop),
          rooms(std::move(config)),
          max_message_size(o.max_message_size),
          max_unjoined_message_size(std::min(o.max_unjoined_message_size, o.max_message_size)),
          max_room_size(o.max_room_size) {}
    ~SignalCore();

    /// Runs on the home loop: now if we are there, else posted.
    template <class Fn>
    void at_home(Fn fn) {
        if (home.in_loop_thread()) fn();
        else home.post(std::move(fn));
    }

    /// Does what the machine asked: sends, closes, and (shared rooms) claims,
    /// releases and forwards through Redis.
    void apply(const proto::signal::Output& out);

    static double mono_seconds() {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    }
    static std::int64_t unix_now() {
        return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    }

    // Rooms across nodes (api/shared_rooms.cpp).
    /// The server's Redis exists: listen to room events and forwards, keep members alive.
    void attach(const std::shared_ptr<RedisBus>& bus);
    void carry(const proto::signal::Output& out);
    void claim(const proto::signal::Output::Claim& c);
    void on_room_event(std::string_view channel, std::string_view payload);
    void on_forward(std::string_view payload);
    /// Every kAliveEvery: our members registered, the others' checked against
    /// their nodes' liveness, missed joins and leaves made up for.
    void reconcile();
    void reconcile_room(const std::string& room);
    std::shared_ptr<RedisBus> bus;
    runtime::Loop::TimerId reconcile_timer = 0;
    /// Members of other nodes that the last round did not find in Redis (room -> ids).
    std::unordered_map<std::string, std::set<std::string>> missing;
};

}  // namespace duplex::detail
