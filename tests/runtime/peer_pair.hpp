// tests/runtime/peer_pair.hpp: two PeerConnections on one loop, over real UDP
// on 127.0.0.1, wired to each other as a signaling channel would (candidates
// wait until the other side has a remote description). Shared by the
// data-channel and the media-track runtime tests.
#pragma once

#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <vector>

namespace duplex::test {

using namespace std::chrono_literals;

/// Runs the loop until `done` or `limit` (waking at least every 5 ms).
inline bool run_until(EventLoop& loop, const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        loop.run_once(5);
    }
    return true;
}

inline Configuration loopback() {
    Configuration c;
    c.allowed_addresses = {"127.0.0.1"};
    return c;
}

struct PeerPair {
    EventLoop loop;
    PeerConnection a{loop, loopback()}, b{loop, loopback()};
    std::vector<IceCandidate> to_a, to_b;

    static void deliver(PeerConnection& pc, std::vector<IceCandidate>& queue) {
        if (!pc.remote_description()) return;
        for (auto& c : queue) EXPECT_TRUE(pc.add_ice_candidate(c).ok()) << c.candidate;
        queue.clear();
    }

    PeerPair() {
        a.on_ice_candidate([this](const IceCandidate& c) { to_b.push_back(c); deliver(b, to_b); });
        b.on_ice_candidate([this](const IceCandidate& c) { to_a.push_back(c); deliver(a, to_a); });
    }

    /// a offers, b answers (after `before_answer`, e.g. b adding its own tracks).
    void negotiate(const std::function<void()>& before_answer = {}) {
        auto offer = a.create_offer();
        ASSERT_TRUE(offer.ok()) << offer.status().message();
        ASSERT_TRUE(a.set_local_description(*offer).ok());
        ASSERT_TRUE(b.set_remote_description(*offer).ok());
        deliver(b, to_b);
        if (before_answer) before_answer();
        auto answer = b.create_answer();
        ASSERT_TRUE(answer.ok()) << answer.status().message();
        ASSERT_TRUE(b.set_local_description(*answer).ok());
        ASSERT_TRUE(a.set_remote_description(*answer).ok());
        deliver(a, to_a);
    }

    bool connected() {
        const bool ok = run_until(loop, [&] {
            return a.connection_state() == PeerConnectionState::Connected &&
                   b.connection_state() == PeerConnectionState::Connected;
        });
        if (!ok)
            ADD_FAILURE() << "a: ice " << to_string(a.ice_connection_state()) << ", connection "
                          << to_string(a.connection_state()) << "; b: ice " << to_string(b.ice_connection_state())
                          << ", connection " << to_string(b.connection_state());
        return ok;
    }
};

}  // namespace duplex::test
