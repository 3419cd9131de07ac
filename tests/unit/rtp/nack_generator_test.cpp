// NACK generation on virtual time: gaps become requests at once, repeats
// follow the round trip, recovery and age end them, a wide gap asks for a
// key frame instead, and wrap-around is one sequence.
#include "proto/rtp/nack_generator.hpp"

#include <gtest/gtest.h>

namespace rtp = duplex::proto::rtp;
using duplex::base::Instant;
using namespace std::chrono_literals;
using Seqs = std::vector<std::uint16_t>;

TEST(NackGenerator, AGapIsRequestedAtOnceThenOncePerRoundTrip) {
    rtp::NackGenerator g;
    g.set_rtt(50ms);
    Instant t{};
    g.on_packet(10, t);
    g.on_packet(11, t);
    EXPECT_EQ(g.poll_nacks(t), Seqs{});
    EXPECT_FALSE(g.poll_timeout());
    g.on_packet(14, t);
    EXPECT_EQ(g.poll_nacks(t), (Seqs{12, 13}));
    EXPECT_EQ(g.poll_nacks(t + 10ms), Seqs{});  // not again before a round trip
    EXPECT_EQ(g.poll_timeout(), t + 50ms);
    g.on_packet(12, t + 30ms);  // recovered
    EXPECT_EQ(g.poll_nacks(t + 50ms), (Seqs{13}));
    EXPECT_EQ(g.stats().recovered, 1u);
    EXPECT_EQ(g.stats().requested, 3u);
    g.on_packet(11, t + 60ms);  // an old duplicate changes nothing
    EXPECT_EQ(g.tracked(), 1u);
}

TEST(NackGenerator, RetriesAndAgeAreBounded) {
    rtp::NackConfig cfg;
    cfg.max_retries = 3;
    cfg.max_age = 1s;
    rtp::NackGenerator g(cfg);
    g.set_rtt(1ms);  // below min_interval (5 ms): the floor applies
    Instant t{};
    g.on_packet(1, t);
    g.on_packet(3, t);
    int sent = 0;
    // Follow poll_timeout as a runtime would: three requests 5 ms apart, then it is forgotten.
    Instant now = t;
    for (int i = 0; i < 10; ++i) {
        sent += static_cast<int>(g.poll_nacks(now).size());
        auto next = g.poll_timeout();
        if (!next) break;
        EXPECT_GT(*next, now - 1ns);
        now = *next;
    }
    EXPECT_EQ(sent, 3);
    EXPECT_EQ(g.tracked(), 0u);
    EXPECT_EQ(g.stats().given_up, 1u);
    EXPECT_EQ(now, t + 10ms);

    // With a long round trip, age ends it first.
    rtp::NackGenerator slow(cfg);
    slow.set_rtt(800ms);
    slow.on_packet(1, t);
    slow.on_packet(3, t);
    EXPECT_EQ(slow.poll_nacks(t), (Seqs{2}));
    EXPECT_EQ(slow.poll_nacks(t + 800ms), (Seqs{2}));
    EXPECT_EQ(slow.poll_timeout(), t + 1s);
    EXPECT_EQ(slow.poll_nacks(t + 1s), Seqs{});
    EXPECT_EQ(slow.tracked(), 0u);
}

TEST(NackGenerator, WrapAroundIsOneSequence) {
    rtp::NackGenerator g;
    Instant t{};
    g.on_packet(65533, t);
    g.on_packet(1, t);
    EXPECT_EQ(g.poll_nacks(t), (Seqs{65534, 65535, 0}));
    g.on_packet(0, t);
    g.on_packet(65535, t);
    EXPECT_EQ(g.tracked(), 1u);
    EXPECT_EQ(g.stats().recovered, 2u);
}

TEST(NackGenerator, AWideGapAsksForAKeyFrameNotForEachPacket) {
    rtp::NackConfig cfg;
    cfg.max_tracked = 100;
    rtp::NackGenerator g(cfg);
    Instant t{};
    g.on_packet(0, t);
    g.on_packet(5, t);
    EXPECT_EQ(g.tracked(), 4u);
    g.on_packet(300, t);  // 294 more: over the bound
    EXPECT_EQ(g.tracked(), 0u);
    EXPECT_TRUE(g.take_key_frame_request());
    EXPECT_FALSE(g.take_key_frame_request());
    EXPECT_EQ(g.stats().overflows, 1u);
    EXPECT_EQ(g.poll_nacks(t), Seqs{});
    // A flood of scattered gaps never holds more than the bound.
    for (std::uint16_t s = 302; s < 20000; s = static_cast<std::uint16_t>(s + 2)) {
        g.on_packet(s, t);
        ASSERT_LE(g.tracked(), 100u);
    }
}
