// proto/rtp/bandwidth_estimator.cpp: see bandwidth_estimator.hpp.
#include "proto/rtp/bandwidth_estimator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace duplex::proto::rtp {

namespace {

using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr std::int64_t kGroupSpanUs = 5000;        // packets sent within 5 ms are one group (GCC §5.2)
constexpr std::size_t kTrendWindow = 20;           // groups the trend is fitted over
constexpr double kSmoothing = 0.9;                 // of the accumulated delay
constexpr double kTrendGain = 4.0;                 // the trend's scale against the threshold
constexpr std::uint32_t kMaxDeltasCounted = 60;
constexpr double kOverusingMs = 10;                // over the threshold this long: over-use (GCC §5.4)
constexpr double kThresholdUp = 0.0087, kThresholdDown = 0.039;  // its adaptation (GCC §5.4: k_u, k_d)
constexpr double kMinThreshold = 6, kMaxThreshold = 600;
constexpr double kBeta = 0.85;                     // a decrease: to this share of what arrived (GCC §5.5)
constexpr double kIncreasePerSecond = 1.08;        // multiplicative increase (GCC §5.5, §6)
constexpr std::int64_t kAckWindowUs = 500'000;
constexpr std::size_t kMaxAcked = 8192;
constexpr auto kDecreaseInterval = std::chrono::milliseconds(200);  // at most one decrease per ~round trip
// Near the rate at which the path last over-used, the increase is additive:
// a packet's worth of bits per response time (~200 ms), not 8 % a second.
constexpr double kAdditiveBitsPerSecond = 1200 * 8 / 0.2;
constexpr std::uint32_t kLossBatch = 20;           // packets a loss fraction is measured over, at least
constexpr auto kLossPeriod = std::chrono::seconds(1);  // and time (GCC §6: as receiver reports come, ~1 s)
constexpr double kHighLoss = 0.10, kLowLoss = 0.02;  // GCC §6

double seconds(base::Duration d) { return duration_cast<duration<double>>(d).count(); }

}  // namespace

BandwidthEstimator::BandwidthEstimator(BandwidthEstimatorConfig config) : config_(config) {
    config_.min_bps = std::max<std::uint32_t>(config_.min_bps, 10'000);
    config_.max_bps = std::max(config_.max_bps, config_.min_bps);
    config_.start_bps = std::clamp(config_.start_bps, config_.min_bps, config_.max_bps);
    delay_target_ = loss_target_ = config_.start_bps;
    std::size_t n = 16;
    while (n < std::min<std::size_t>(config_.max_in_flight, std::size_t{1} << 20)) n <<= 1;
    sent_.resize(n);
}

std::int64_t BandwidthEstimator::extend(std::uint16_t sequence) const noexcept {
    // RFC 3550 §A.1's unwrapping: the number closest to the newest one sent.
    if (highest_sent_ < 0) return sequence;
    const auto delta = static_cast<std::int16_t>(static_cast<std::uint16_t>(sequence - static_cast<std::uint16_t>(highest_sent_)));
    return highest_sent_ + delta;
}

void BandwidthEstimator::on_sent(std::uint16_t sequence, std::size_t bytes, base::Instant at) {
    if (!epoch_) epoch_ = at;
    const std::int64_t ext = extend(sequence);
    highest_sent_ = std::max(highest_sent_, ext);
    slot(ext) = Sent{ext, duration_cast<microseconds>(at - *epoch_).count(), static_cast<std::uint32_t>(bytes), Told::Not};
}

void BandwidthEstimator::on_feedback(const TransportFeedback& feedback, base::Instant now) {
    if (highest_sent_ < 0) return;
    const std::int64_t base = extend(feedback.base_sequence);
    // Only the numbers we still hold are looked at (a packet of a few bytes
    // may claim 65535 statuses).
    const std::int64_t lowest = std::max<std::int64_t>(0, highest_sent_ - static_cast<std::int64_t>(sent_.size()) + 1);
    const std::int64_t first = std::max<std::int64_t>(0, lowest - base);
    const std::int64_t end = std::min<std::int64_t>(feedback.status_count, highest_sent_ - base + 1);
    const auto offset = [&](const TransportFeedback::Arrival& a) {
        return static_cast<std::uint16_t>(a.sequence - feedback.base_sequence);
    };
    std::size_t next = 0;  // into feedback.received, which is in sequence order
    while (next < feedback.received.size() && offset(feedback.received[next]) < first) ++next;
    for (std::int64_t i = first; i < end; ++i) {
        const std::int64_t seq = base + i;
        const bool arrived = next < feedback.received.size() && offset(feedback.received[next]) == i;
        const std::int64_t at = arrived ? feedback.received[next++].at_us : 0;
        Sent& s = slot(seq);
        if (s.sequence != seq) continue;  // forgotten
        if (s.told == Told::Not) {
            s.told = arrived ? Told::Arrived : Told::Lost;
            if (arrived) {
                ++batch_received_;
                on_arrival(s, at);
            } else {
                ++batch_lost_;
            }
        } else if (s.told == Told::Lost && arrived) {
            // Reported missing before, arrived late (a receiver reports such
            // a packet again): it was not lost.
            s.told = Told::Arrived;
            if (batch_lost_ > 0) --batch_lost_;
            ++batch_received_;
            on_arrival(s, at);
        }
    }
    update_loss_target(now);
    update_delay_target(now);
    last_update_ = now;
}

void BandwidthEstimator::on_arrival(const Sent& s, std::int64_t arrival_us) {
    // The remote's clock went back (a new reference): what was measured on
    // the old one says nothing of the new.
    if (!acked_.empty() && arrival_us < acked_.back().first - 1'000'000) {
        acked_.clear();
        acked_bytes_ = 0;
        reset_delay_state();
    }
    acked_.emplace_back(arrival_us, s.bytes);
    acked_bytes_ += s.bytes;
    while (acked_.size() > kMaxAcked || (acked_.size() > 1 && acked_.back().first - acked_.front().first > kAckWindowUs)) {
        acked_bytes_ -= acked_.front().second;
        acked_.pop_front();
    }

    if (!group_) {
        group_ = Group{s.send_us, s.send_us, arrival_us};
        return;
    }
    if (s.send_us < group_->first_send_us) return;  // sent before this group (reordered): it says nothing new
    if (s.send_us - group_->first_send_us <= kGroupSpanUs) {
        group_->last_send_us = std::max(group_->last_send_us, s.send_us);
        group_->last_arrival_us = std::max(group_->last_arrival_us, arrival_us);
        return;
    }
    // A new group begins: the one before it is whole.
    if (previous_group_)
        on_group_delta(group_->last_send_us - previous_group_->last_send_us,
                       group_->last_arrival_us - previous_group_->last_arrival_us, group_->last_arrival_us);
    previous_group_ = group_;
    group_ = Group{s.send_us, s.send_us, arrival_us};
}

void BandwidthEstimator::on_group_delta(std::int64_t send_delta_us, std::int64_t arrival_delta_us, std::int64_t arrival_us) {
    if (!first_arrival_us_) first_arrival_us_ = arrival_us;
    // The change of the one-way delay from one group to the next (GCC §5.3).
    const double delta_ms = static_cast<double>(arrival_delta_us - send_delta_us) / 1000.0;
    deltas_ = std::min(deltas_ + 1, kMaxDeltasCounted);
    accumulated_ms_ += delta_ms;
    smoothed_ms_ = kSmoothing * smoothed_ms_ + (1 - kSmoothing) * accumulated_ms_;
    trend_window_.emplace_back(static_cast<double>(arrival_us - *first_arrival_us_) / 1000.0, smoothed_ms_);
    if (trend_window_.size() > kTrendWindow) trend_window_.pop_front();
    if (trend_window_.size() == kTrendWindow) {
        // The slope of the least-squares line through (arrival, delay).
        double mx = 0, my = 0;
        for (const auto& [x, y] : trend_window_) {
            mx += x;
            my += y;
        }
        mx /= kTrendWindow;
        my /= kTrendWindow;
        double num = 0, den = 0;
        for (const auto& [x, y] : trend_window_) {
            num += (x - mx) * (y - my);
            den += (x - mx) * (x - mx);
        }
        if (den > 0) trend_ = num / den;
    }
    detect(static_cast<double>(deltas_) * trend_ * kTrendGain, arrival_us);
}

void BandwidthEstimator::detect(double trend, std::int64_t arrival_us) {
    const double dt_ms = last_detect_us_ ? static_cast<double>(arrival_us - *last_detect_us_) / 1000.0 : 0;
    last_detect_us_ = arrival_us;
    if (trend > threshold_) {
        time_over_ms_ = time_over_ms_ < 0 ? dt_ms / 2 : time_over_ms_ + dt_ms;
        ++overuse_count_;
        // Over-use is said once the trend stayed above the threshold a while
        // and is not falling (a queue that is draining already is not one).
        if (time_over_ms_ > kOverusingMs && overuse_count_ > 1 && trend >= previous_trend_) {
            time_over_ms_ = 0;
            overuse_count_ = 0;
            usage_ = Usage::Over;
        }
    } else if (trend < -threshold_) {
        time_over_ms_ = -1;
        overuse_count_ = 0;
        usage_ = Usage::Under;
    } else {
        time_over_ms_ = -1;
        overuse_count_ = 0;
        usage_ = Usage::Normal;
    }
    previous_trend_ = trend;
    // The threshold follows the trend (GCC §5.4), slowly up and faster
    // down, so that a competing flow's queue does not starve us; a sudden
    // spike far above it is not followed.
    const double magnitude = std::fabs(trend);
    if (magnitude <= threshold_ + 15) {
        const double k = magnitude < threshold_ ? kThresholdDown : kThresholdUp;
        threshold_ += k * (magnitude - threshold_) * std::min(dt_ms, 100.0);
        threshold_ = std::clamp(threshold_, kMinThreshold, kMaxThreshold);
    }
}

void BandwidthEstimator::reset_delay_state() {
    group_.reset();
    previous_group_.reset();
    first_arrival_us_.reset();
    accumulated_ms_ = smoothed_ms_ = 0;
    trend_window_.clear();
    deltas_ = 0;
    trend_ = previous_trend_ = 0;
    time_over_ms_ = -1;
    overuse_count_ = 0;
    last_detect_us_.reset();
    usage_ = Usage::Normal;
}

std::optional<std::uint32_t> BandwidthEstimator::acknowledged_bps() const noexcept {
    // Over at least a quarter of a second of arrivals: fewer say little.
    if (acked_.size() < 2) return std::nullopt;
    const std::int64_t span = acked_.back().first - acked_.front().first;
    if (span < kAckWindowUs / 2) return std::nullopt;
    return static_cast<std::uint32_t>(static_cast<double>(acked_bytes_ - acked_.front().second) * 8e6 / static_cast<double>(span));
}

double BandwidthEstimator::ceiling() const noexcept {
    const auto acked = acknowledged_bps();
    const double app = acked ? 1.5 * *acked + 10'000 : config_.max_bps;
    return std::max<double>(config_.min_bps, std::min<double>(config_.max_bps, app));
}

void BandwidthEstimator::update_delay_target(base::Instant now) {
    const double dt = last_update_ ? std::min(seconds(now - *last_update_), 1.0) : 0;
    switch (usage_) {
    case Usage::Over:
        if (!last_decrease_ || now - *last_decrease_ >= kDecreaseInterval) {
            const auto acked = acknowledged_bps();
            const double lower = kBeta * (acked ? static_cast<double>(*acked) : delay_target_);
            if (lower < delay_target_) delay_target_ = lower;
            last_decrease_ = now;
            congested_at_ = acked ? static_cast<double>(*acked) : delay_target_ / kBeta;
        }
        break;
    case Usage::Under:
        break;  // a queue drains: hold until it is empty
    case Usage::Normal:
        // Far above where the path last over-used, it has grown: what was
        // learnt of it is forgotten.
        if (congested_at_ && delay_target_ > 1.5 * *congested_at_) congested_at_.reset();
        if (congested_at_ && delay_target_ > 0.9 * *congested_at_) delay_target_ += kAdditiveBitsPerSecond * dt;
        else delay_target_ *= std::pow(kIncreasePerSecond, dt);
        break;
    }
    delay_target_ = std::clamp(delay_target_, static_cast<double>(config_.min_bps), ceiling());
}

void BandwidthEstimator::update_loss_target(base::Instant now) {
    if (!loss_period_start_) loss_period_start_ = now;
    if (batch_lost_ + batch_received_ < kLossBatch || now - *loss_period_start_ < kLossPeriod) return;
    loss_ = static_cast<double>(batch_lost_) / static_cast<double>(batch_lost_ + batch_received_);
    batch_lost_ = batch_received_ = 0;
    loss_period_start_ = now;
    const double dt = last_loss_update_ ? std::min(seconds(now - *last_loss_update_), 2.0) : 0;
    last_loss_update_ = now;
    if (loss_ > kHighLoss) {
        loss_target_ *= 1 - 0.5 * loss_;
    } else if (loss_ < kLowLoss) {
        loss_target_ *= std::pow(kIncreasePerSecond, dt);
    }
    loss_target_ = std::clamp(loss_target_, static_cast<double>(config_.min_bps), ceiling());
}

std::uint32_t BandwidthEstimator::target_bps() const noexcept {
    return static_cast<std::uint32_t>(std::clamp(std::min(delay_target_, loss_target_), static_cast<double>(config_.min_bps),
                                                 static_cast<double>(config_.max_bps)));
}

}  // namespace duplex::proto::rtp
