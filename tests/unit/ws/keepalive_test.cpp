// The keep-alive rule (proto/ws/keepalive.hpp) on virtual time: when a quiet
// peer is pinged, when a silent one is closed, what traffic changes, what a
// span over 2^32 ms becomes, and when a client's timer should fire.
#include "proto/ws/keepalive.hpp"

#include <gtest/gtest.h>

using namespace duplex::proto::ws;
using namespace std::chrono_literals;
using Action = KeepAlive::Action;

namespace {

const duplex::base::Instant t0 = duplex::base::Instant{} + 1000h;

TEST(KeepAlive, AQuietPeerIsPingedOncePerIntervalAndASilentOneClosed) {
    KeepAlive k(t0);
    const KeepAlivePolicy p{30s, 120s};
    EXPECT_EQ(k.poll(t0 + 29999ms, p), Action::None);
    EXPECT_EQ(k.poll(t0 + 30s, p), Action::Ping);
    EXPECT_EQ(k.poll(t0 + 30s, p), Action::None);      // just pinged
    EXPECT_EQ(k.poll(t0 + 59999ms, p), Action::None);
    EXPECT_EQ(k.poll(t0 + 60s, p), Action::Ping);      // still quiet: again
    EXPECT_EQ(k.poll(t0 + 90s, p), Action::Ping);
    EXPECT_EQ(k.poll(t0 + 119999ms, p), Action::None);
    EXPECT_EQ(k.poll(t0 + 120s, p), Action::CloseIdle);  // nothing at all for idle_for
}

TEST(KeepAlive, TrafficPostponesBothAndAPongCounts) {
    KeepAlive k(t0);
    const KeepAlivePolicy p{30s, 120s};
    k.on_receive(t0 + 20s);
    EXPECT_EQ(k.poll(t0 + 30s, p), Action::None);  // quiet for 10 s only
    EXPECT_EQ(k.poll(t0 + 50s, p), Action::Ping);
    k.on_receive(t0 + 51s);                        // the pong
    EXPECT_EQ(k.poll(t0 + 80s, p), Action::None);  // quiet for 29 s
    EXPECT_EQ(k.poll(t0 + 81s, p), Action::Ping);
    EXPECT_EQ(k.poll(t0 + 170s, p), Action::Ping);  // quiet again (not polled since 81 s)
    EXPECT_EQ(k.poll(t0 + 171s, p), Action::CloseIdle);  // 120 s after the pong
}

TEST(KeepAlive, ZeroTurnsEachOff) {
    KeepAlive k(t0);
    EXPECT_EQ(k.poll(t0 + 1000h, {0s, 0s}), Action::None);
    EXPECT_EQ(k.poll(t0 + 1000h, {0s, 10s}), Action::CloseIdle);
    KeepAlive j(t0);
    EXPECT_EQ(j.poll(t0 + 1000h, {10s, 0s}), Action::Ping);
    EXPECT_FALSE(j.poll_timeout(t0, {0s, 0s}));
}

// Spans are 32-bit milliseconds: a policy over 2^32 - 1 ms (49.7 days) is
// held there. A 60-day idle timeout closes at 49.7 days, not at 60 (nor, by
// wrapping, never); a poll at least every 49.7 days is all it needs.
TEST(KeepAlive, SpansOverFortyNineDaysAreHeldAtTheLongestTheRuleTellsApart) {
    KeepAlive k(t0);
    const KeepAlivePolicy p{0s, 24h * 60};
    const auto longest = std::chrono::milliseconds(UINT32_MAX);
    EXPECT_EQ(KeepAlive::kLongest, longest);
    EXPECT_EQ(k.poll(t0 + 24h * 49, p), Action::None);
    EXPECT_EQ(k.poll(t0 + longest - 1ms, p), Action::None);
    EXPECT_EQ(k.poll(t0 + longest, p), Action::CloseIdle);
    // The tick itself wraps (its epoch is the steady clock's): the rule holds across it.
    const auto wrap = duplex::base::Instant{} + std::chrono::milliseconds(std::uint64_t{1} << 32) - 5s;
    KeepAlive w(wrap);
    EXPECT_EQ(w.poll(wrap + 9s, {10s, 0s}), Action::None);
    EXPECT_EQ(w.poll(wrap + 10s, {10s, 0s}), Action::Ping);
}

TEST(KeepAlive, PollTimeoutIsWhenPollWouldNextAct) {
    KeepAlive k(t0);
    const KeepAlivePolicy p{30s, 120s};
    EXPECT_EQ(k.poll_timeout(t0, p), t0 + 30s);
    k.on_receive(t0 + 10s);
    EXPECT_EQ(k.poll_timeout(t0 + 10s, p), t0 + 40s);
    EXPECT_EQ(k.poll(t0 + 40s, p), Action::Ping);
    EXPECT_EQ(k.poll_timeout(t0 + 40s, p), t0 + 70s);
    EXPECT_EQ(k.poll(t0 + 70s, p), Action::Ping);
    // Past every ping: the idle close is next, then it is due now.
    EXPECT_EQ(k.poll_timeout(t0 + 129s, {0s, 120s}), t0 + 130s);
    EXPECT_EQ(k.poll_timeout(t0 + 200s, {0s, 120s}), t0 + 200s);
}

}  // namespace
