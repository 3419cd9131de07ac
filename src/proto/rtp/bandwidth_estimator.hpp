// proto/rtp/bandwidth_estimator.hpp: how fast we may send, from the remote's
// transport-wide feedback (transport_feedback_reader.hpp) about the packets
// we numbered: send-side bandwidth estimation after Google Congestion
// Control (draft-ietf-rmcat-gcc-02), in two halves whose smaller estimate
// is the target:
//
//   delay-based (§5): packets sent within 5 ms of each other form a group;
//     from one group to the next, how much later the last packet arrived
//     than it was sent (the one-way delay's change) is summed, smoothed, and
//     its trend over the last 20 groups fitted by least squares. A queue
//     that grows somewhere on the path makes the trend positive: above an
//     adaptive threshold for more than 10 ms, the path is over-used and the
//     target drops to 85 % of the rate the remote says it received; in
//     normal use it grows 8 % a second, or near the rate at which the path
//     last over-used by a packet per ~200 ms; under-use (a queue draining)
//     holds it.
//   loss-based (§6): of the packets the feedback accounted for over the
//     last second (as receiver reports would), more than 10 % lost cuts the
//     target by half the loss fraction; less than 2 % lets it grow 8 % a
//     second; in between it holds.
//
// An application that sends less than the target (most do: an encoder
// below its ceiling, or audio alone) does not probe the path, so the target
// never runs past 1.5 times the rate the remote received plus 10 kbit/s.
//
// Sans-IO: send and arrival times are given. What was sent is held in a
// ring allocated once: noting a packet allocates nothing.
#pragma once

#include "base/time.hpp"
#include "proto/rtp/transport_feedback_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace duplex::proto::rtp {

struct BandwidthEstimatorConfig {
    std::uint32_t start_bps = 1'000'000;  // taken within [min_bps, max_bps]
    std::uint32_t min_bps = 50'000;       // at least 10 kbit/s
    std::uint32_t max_bps = 10'000'000;   // at least min_bps
    std::size_t max_in_flight = 8192;  // packets sent and not yet reported on (a power of two, 2^20 at most; older ones forgotten)
};

class BandwidthEstimator {
public:
    enum class Usage { Normal, Over, Under };

    explicit BandwidthEstimator(BandwidthEstimatorConfig config = {});

    /// We sent a packet with transport-wide sequence number `sequence`,
    /// `bytes` long (RTP header, payload and SRTP tag).
    void on_sent(std::uint16_t sequence, std::size_t bytes, base::Instant at);
    /// The remote's feedback arrived at `now`. A packet is taken once, as
    /// the first report that covers it says, but for one reported missing
    /// that a later report says arrived (late: it was not lost).
    void on_feedback(const TransportFeedback& feedback, base::Instant now);

    /// What we may send, in bits per second.
    std::uint32_t target_bps() const noexcept;
    /// The rate the remote received at over the last half second, once
    /// there is one.
    std::optional<std::uint32_t> acknowledged_bps() const noexcept;
    Usage usage() const noexcept { return usage_; }
    /// The fraction lost in the last batch of reported packets.
    double loss() const noexcept { return loss_; }

private:
    enum class Told : std::uint8_t { Not, Lost, Arrived };  // what the feedback said of a packet
    struct Sent {
        std::int64_t sequence = -1;  // extended; -1: empty
        std::int64_t send_us = 0;
        std::uint32_t bytes = 0;
        Told told = Told::Not;
    };
    struct Group {
        std::int64_t first_send_us = 0, last_send_us = 0, last_arrival_us = 0;
    };
    std::int64_t extend(std::uint16_t sequence) const noexcept;
    Sent& slot(std::int64_t sequence) noexcept { return sent_[static_cast<std::size_t>(sequence) & (sent_.size() - 1)]; }
    void on_arrival(const Sent& s, std::int64_t arrival_us);
    void on_group_delta(std::int64_t send_delta_us, std::int64_t arrival_delta_us, std::int64_t arrival_us);
    void detect(double trend, std::int64_t arrival_us);
    void reset_delay_state();
    void update_delay_target(base::Instant now);
    void update_loss_target(base::Instant now);
    double ceiling() const noexcept;  // max_bps, or less while the application sends less

    BandwidthEstimatorConfig config_;
    std::vector<Sent> sent_;
    std::optional<base::Instant> epoch_;  // the zero of send times
    std::int64_t highest_sent_ = -1;

    // What arrived, for the acknowledged rate: (arrival µs, bytes), the last 500 ms.
    std::deque<std::pair<std::int64_t, std::uint32_t>> acked_;
    std::uint64_t acked_bytes_ = 0;

    // Delay-based: the groups, the trend line and the over-use detector.
    std::optional<Group> group_, previous_group_;
    std::optional<std::int64_t> first_arrival_us_;
    double accumulated_ms_ = 0, smoothed_ms_ = 0;
    std::deque<std::pair<double, double>> trend_window_;  // (arrival ms, smoothed delay ms)
    std::uint32_t deltas_ = 0;
    double trend_ = 0, previous_trend_ = 0, threshold_ = 12.5;
    double time_over_ms_ = -1;
    std::uint32_t overuse_count_ = 0;
    std::optional<std::int64_t> last_detect_us_;
    Usage usage_ = Usage::Normal;

    // The rate control.
    double delay_target_, loss_target_;
    std::optional<double> congested_at_;  // what arrived when the path last over-used (bits/s)
    std::optional<base::Instant> last_update_, last_decrease_, last_loss_update_, loss_period_start_;
    std::uint32_t batch_lost_ = 0, batch_received_ = 0;
    double loss_ = 0;
};

}  // namespace duplex::proto::rtp
