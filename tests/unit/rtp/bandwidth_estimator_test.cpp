// Send-side bandwidth estimation (draft-ietf-rmcat-gcc-02) against a path
// simulated here: a bottleneck of a given rate with a drop-tail queue, a
// propagation delay, random loss. The sender is an encoder that follows the
// target (a frame 30 times a second, as big as the target allows, in
// packets of at most 1200 bytes); the receiver is our own
// TransportFeedbackRecorder, whose packets are read back by the reader, so
// the estimator sees the bytes a real remote would send.
#include "proto/rtp/bandwidth_estimator.hpp"
#include "proto/rtp/transport_feedback.hpp"
#include "proto/rtp/transport_feedback_reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <vector>

using namespace std::chrono_literals;
namespace rtp = duplex::proto::rtp;
using Instant = duplex::base::Instant;
using Duration = duplex::base::Duration;

namespace {

struct Path {
    std::function<double(Duration)> rate_bps;  // the bottleneck's rate at a time since the start
    Duration propagation = 20ms;
    Duration max_queue = 300ms;  // a packet that would wait longer is dropped
    double random_loss = 0;
};

struct Outcome {
    std::vector<std::pair<Duration, std::uint32_t>> targets;  // every 100 ms
    std::uint64_t sent = 0, queue_dropped = 0, random_dropped = 0;
    std::vector<Duration> queue_drops;  // when
    Duration max_queue_seen{};
    std::uint32_t target_at(Duration t) const {
        for (const auto& [at, bps] : targets)
            if (at >= t) return bps;
        return targets.back().second;
    }
    // The mean target over [from, to).
    double mean(Duration from, Duration to) const {
        double sum = 0;
        int n = 0;
        for (const auto& [at, bps] : targets)
            if (at >= from && at < to) {
                sum += bps;
                ++n;
            }
        return n ? sum / n : 0;
    }
};

// `app_limit_bps`: the most the application has to send, whatever the target.
Outcome simulate(const Path& path, Duration length, rtp::BandwidthEstimatorConfig config = {},
                 double app_limit_bps = 1e12, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> uniform(0, 1);
    rtp::BandwidthEstimator bwe(config);
    rtp::TransportFeedbackRecorder receiver;
    Outcome out;
    const Instant t0 = Instant{} + 1000s;
    Instant busy_until = t0;
    struct InFlight {
        Instant arrives;
        std::uint16_t sequence;
    };
    std::deque<InFlight> packets;  // in arrival order (one FIFO path)
    std::deque<std::pair<Instant, std::vector<std::byte>>> feedback;
    std::uint16_t sequence = 0;
    Instant next_frame = t0, next_sample = t0;
    std::vector<std::byte> fb;
    for (Instant now = t0; now < t0 + length; now += 1ms) {
        if (now >= next_frame) {
            next_frame += 33333us;
            const double bps = std::min<double>(bwe.target_bps(), app_limit_bps);
            auto frame = static_cast<std::size_t>(bps / 8 / 30);
            while (frame > 0) {
                const std::size_t size = std::min<std::size_t>(frame, 1200);
                frame -= size;
                const std::uint16_t seq = sequence++;
                bwe.on_sent(seq, size, now);
                ++out.sent;
                if (uniform(rng) < path.random_loss) {
                    ++out.random_dropped;
                    continue;
                }
                const Instant start = std::max(now, busy_until);
                if (start - now > path.max_queue) {
                    ++out.queue_dropped;
                    out.queue_drops.push_back(now - t0);
                    continue;
                }
                out.max_queue_seen = std::max(out.max_queue_seen, start - now);
                const double rate = path.rate_bps(now - t0);
                busy_until = start + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(static_cast<double>(size) * 8.0 / rate));
                packets.push_back({busy_until + path.propagation, seq});
            }
        }
        while (!packets.empty() && packets.front().arrives <= now) {
            receiver.on_packet(packets.front().sequence, packets.front().arrives);
            packets.pop_front();
        }
        fb.clear();
        if (receiver.write(1, 2, now, fb)) feedback.emplace_back(now + path.propagation, fb);
        while (!feedback.empty() && feedback.front().first <= now) {
            const auto read = rtp::read_transport_feedback(feedback.front().second);
            EXPECT_TRUE(read);
            if (read) bwe.on_feedback(*read, now);
            feedback.pop_front();
        }
        if (now >= next_sample) {
            out.targets.emplace_back(now - t0, bwe.target_bps());
            next_sample += 100ms;
        }
    }
    return out;
}

}  // namespace

TEST(BandwidthEstimator, StartingAboveTheBottleneckItComesDownAndStaysNearIt) {
    Path path;
    path.rate_bps = [](Duration) { return 1'000'000.0; };
    rtp::BandwidthEstimatorConfig config;
    config.start_bps = 3'000'000;
    const Outcome o = simulate(path, 40s, config);
    EXPECT_LT(o.target_at(3s), 1'000'000u) << "three seconds in";
    const double late = o.mean(20s, 40s);
    EXPECT_GT(late, 600'000) << "it must use the path";
    EXPECT_LT(late, 1'150'000) << "it must not keep a standing queue";
    // What a start three times too fast overflows is dropped at once; after
    // that, the queue is kept short of its 300 ms.
    const auto dropped_late = std::count_if(o.queue_drops.begin(), o.queue_drops.end(), [](Duration t) { return t >= 3s; });
    EXPECT_LT(static_cast<std::uint64_t>(dropped_late), o.sent / 100) << "drops at the bottleneck after 3 s: " << dropped_late << " of " << o.sent;
}

TEST(BandwidthEstimator, StartingLowItGrowsToThePath) {
    Path path;
    path.rate_bps = [](Duration) { return 2'000'000.0; };
    rtp::BandwidthEstimatorConfig config;
    config.start_bps = 300'000;
    const Outcome o = simulate(path, 40s, config);
    EXPECT_GT(o.mean(30s, 40s), 1'200'000);
    EXPECT_LT(o.mean(30s, 40s), 2'300'000);
}

TEST(BandwidthEstimator, WhenThePathNarrowsItFollowsWithinSeconds) {
    Path path;
    path.rate_bps = [](Duration t) { return t < 15s ? 3'000'000.0 : 500'000.0; };
    rtp::BandwidthEstimatorConfig config;
    config.start_bps = 2'000'000;
    const Outcome o = simulate(path, 30s, config);
    EXPECT_GT(o.target_at(14s), 1'500'000u);
    EXPECT_LT(o.target_at(18s), 550'000u) << "three seconds after the path narrowed to 500 kbit/s";
    EXPECT_GT(o.mean(22s, 30s), 250'000);
    EXPECT_LT(o.mean(22s, 30s), 600'000);
}

TEST(BandwidthEstimator, HeavyRandomLossLowersItAndLightLossDoesNot) {
    Path heavy;
    heavy.rate_bps = [](Duration) { return 50'000'000.0; };
    heavy.random_loss = 0.25;
    rtp::BandwidthEstimatorConfig config;
    config.start_bps = 2'000'000;
    const Outcome lossy = simulate(heavy, 15s, config);
    EXPECT_LT(lossy.target_at(14s), 500'000u) << "25 % loss";

    Path light = heavy;
    light.random_loss = 0.01;
    const Outcome fine = simulate(light, 15s, config);
    EXPECT_GE(fine.target_at(14s), 2'000'000u) << "1 % loss";
}

TEST(BandwidthEstimator, AnApplicationThatSendsLessDoesNotRaiseItWithoutBound) {
    Path path;
    path.rate_bps = [](Duration) { return 50'000'000.0; };
    rtp::BandwidthEstimatorConfig config;
    config.start_bps = 300'000;
    const Outcome o = simulate(path, 30s, config, 200'000);
    EXPECT_LE(o.target_at(29s), 1.5 * 200'000 + 10'000 + 20'000);
    EXPECT_GE(o.target_at(29s), 200'000u);
}

TEST(BandwidthEstimator, APacketReportedMissingThatArrivesLaterWasNotLost) {
    // A receiver reports a packet that came after its report said it was
    // missing (reordered) again, as received.
    rtp::BandwidthEstimator bwe;
    const Instant t0 = Instant{} + 5s;
    for (std::uint16_t s = 0; s < 40; ++s) bwe.on_sent(s, 1000, t0 + std::chrono::milliseconds(s));
    rtp::TransportFeedback fb;
    fb.base_sequence = 0;
    fb.status_count = 40;
    for (std::uint16_t s = 0; s < 40; ++s)
        if (s % 4 != 0) fb.received.push_back({s, 100'000 + s * 1000});  // 0, 4, 8, ... missing
    bwe.on_feedback(fb, t0 + 50ms);
    rtp::TransportFeedback late;
    late.base_sequence = 0;
    late.status_count = 40;
    for (std::uint16_t s = 0; s < 40; s += 4) late.received.push_back({s, 150'000 + s * 1000});
    bwe.on_feedback(late, t0 + 1100ms);  // the loss period ends: 0 of 40 lost
    EXPECT_DOUBLE_EQ(bwe.loss(), 0.0);
}

TEST(BandwidthEstimator, FeedbackForPacketsNeverSentOrToldTwiceChangesNothing) {
    rtp::BandwidthEstimator bwe;
    const Instant t0 = Instant{} + 5s;
    for (std::uint16_t s = 0; s < 40; ++s) bwe.on_sent(s, 1000, t0 + std::chrono::milliseconds(s));
    rtp::TransportFeedback fb;
    fb.base_sequence = 100;
    fb.status_count = 50;  // none of them sent: no loss counted
    bwe.on_feedback(fb, t0 + 50ms);
    EXPECT_EQ(bwe.target_bps(), rtp::BandwidthEstimatorConfig{}.start_bps);
    fb.base_sequence = 0;
    fb.status_count = 40;  // all 40 lost, reported a second after the first feedback (the loss period)
    bwe.on_feedback(fb, t0 + 1100ms);
    EXPECT_DOUBLE_EQ(bwe.loss(), 1.0);
    const auto after = bwe.target_bps();
    EXPECT_LT(after, rtp::BandwidthEstimatorConfig{}.start_bps);
    // The same report again: those packets were taken already.
    bwe.on_feedback(fb, t0 + 2500ms);
    EXPECT_EQ(bwe.target_bps(), after);
}
