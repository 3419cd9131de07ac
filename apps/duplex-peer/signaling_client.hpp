// duplex-peer/signaling_client.hpp: duplex-peer's side of the signaling
// protocol (docs/signaling.md): connect, join (with a deadline), then typed
// server messages. Every message is read through proto/signal's schema: one
// that does not match it is reported and ignored, never trusted (issue 14: a
// field of the wrong JSON type ended the program).
#pragma once

#include "console.hpp"

#include <duplex/event_loop.hpp>
#include <duplex/websocket.hpp>

#include "proto/signal/message.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace duplex_peer {

namespace signal = duplex::proto::signal;

class SignalingClient {
public:
    struct Handlers {
        std::function<void(const signal::Joined&)> joined;
        std::function<void(const std::string& id)> peer_joined;
        std::function<void(const std::string& id)> peer_left;
        std::function<void(const signal::Description&)> description;  // peer: the sender
        std::function<void(const signal::Candidate&)> candidate;       // peer: the sender
        /// The server refused something (an `error` message). Before `joined`
        /// it was the join: the caller decides whether that is fatal.
        std::function<void(const signal::Error&, bool before_join)> refused;
        /// The connection could not be made, or ended, or the join went
        /// unanswered: nothing more will come.
        std::function<void(const std::string& why)> lost;
    };

    SignalingClient(duplex::EventLoop& loop, const Console& console, Handlers handlers)
        : loop_(loop), console_(console), h_(std::move(handlers)) {}

    /// Connects to `url` and joins `join.room`; `join_timeout` bounds the
    /// wait for `joined` from the moment the connection opens.
    void start(const std::string& url, signal::Join join, std::chrono::milliseconds join_timeout);
    void send(const signal::ClientMessage& m);
    void close();
    bool joined() const noexcept { return joined_; }

private:
    void on_message(std::string_view text);

    duplex::EventLoop& loop_;
    const Console& console_;
    Handlers h_;
    duplex::WebSocket ws_;
    std::string url_;
    bool joined_ = false;
    bool closing_ = false;
    duplex::EventLoop::TimerId join_timer_ = 0;
};

}  // namespace duplex_peer
