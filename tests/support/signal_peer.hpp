// tests/support/signal_peer.hpp: a client of the /signal route on its own
// loop thread that records the JSON messages it receives.
#pragma once

#include <duplex/websocket.hpp>

#include "support/server_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <mutex>
#include <string>

namespace duplex::test {

/// A signaling client on its own loop thread that records what it receives.
class Peer {
public:
    explicit Peer(std::uint16_t port) {
        t_.call([&] {
            ws_ = WebSocket::connect(t_.loop, "ws://127.0.0.1:" + std::to_string(port) + "/signal");
            ws_.on_message([this](std::string_view m, bool) {
                std::lock_guard<std::mutex> l(mu_);
                got_.push_back(nlohmann::json::parse(m));
            });
            ws_.on_close([this](std::uint16_t c, std::string_view) { closed_ = c; });
            return 0;
        });
        EXPECT_TRUE(eventually([&] { return ws_.ready_state() == ReadyState::Open; }));
    }
    ~Peer() {
        // On the loop's thread: no handler of ours runs after this (messages
        // still on their way would otherwise reach members already destroyed).
        t_.call([&] {
            ws_.on_message(nullptr);
            ws_.on_close(nullptr);
            (void)ws_.close();
            ws_ = {};
            return 0;
        });
    }
    void send(const nlohmann::json& j) { (void)ws_.send(j.dump()); }  // posted from this thread
    nlohmann::json next(std::chrono::milliseconds within = std::chrono::milliseconds(3000)) {
        nlohmann::json out;
        eventually([&] {
            std::lock_guard<std::mutex> l(mu_);
            if (got_.empty()) return false;
            out = got_.front();
            got_.pop_front();
            return true;
        }, within);
        return out;
    }
    void close_now() { t_.call([&] { (void)ws_.close(); return 0; }); }
    int closed() const { return closed_; }

private:
    LoopThread t_;
    WebSocket ws_;
    std::mutex mu_;
    std::deque<nlohmann::json> got_;
    std::atomic<int> closed_{-1};
};

}  // namespace duplex::test
