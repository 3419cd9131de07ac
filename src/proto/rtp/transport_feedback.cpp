// proto/rtp/transport_feedback.cpp: see transport_feedback.hpp.
#include "proto/rtp/transport_feedback.hpp"

#include "base/bytes.hpp"

#include <algorithm>

namespace duplex::proto::rtp {

namespace {

constexpr std::uint8_t kFmtTransportFeedback = 15;  // RTPFB (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1)
constexpr std::uint8_t kRtpfb = 205;
constexpr std::int64_t kTick = 250;                  // µs: the unit of a receive delta
constexpr std::int64_t kReferenceUnit = 64000;       // µs: the unit of the reference time

enum Symbol : std::uint8_t { kNotReceived = 0, kSmallDelta = 1, kLargeDelta = 2 };

void put16(std::vector<std::byte>& out, std::uint16_t v) {
    out.push_back(std::byte(v >> 8));
    out.push_back(std::byte(v & 0xff));
}

}  // namespace

std::int64_t TransportFeedbackRecorder::extend(std::uint16_t sequence) const noexcept {
    // RFC 3550 §A.1's unwrapping: the number closest to the newest one.
    if (highest_ < 0) return sequence;
    const auto delta = static_cast<std::int16_t>(static_cast<std::uint16_t>(sequence - static_cast<std::uint16_t>(highest_)));
    return highest_ + delta;
}

TransportFeedbackRecorder::TransportFeedbackRecorder(TransportFeedbackConfig config) : config_(config) {
    std::size_t n = 16;
    while (n < config_.max_pending) n <<= 1;
    ring_.resize(n);
    symbols_.reserve(config_.max_statuses);
    deltas_.reserve(config_.max_statuses);
}

void TransportFeedbackRecorder::on_packet(std::uint16_t sequence, base::Instant arrival) {
    const std::int64_t ext = extend(sequence);
    if (!epoch_) epoch_ = arrival;
    if (next_base_ >= 0 && ext < next_base_) return;  // reported missing already: too late to say more
    if (next_base_ < 0) next_base_ = ext;
    const auto capacity = static_cast<std::int64_t>(ring_.size());
    if (ext - next_base_ >= capacity) {
        // Further ahead than the ring holds (a receiver that cannot send):
        // the oldest are forgotten.
        const std::int64_t new_base = ext - capacity + 1;
        for (std::int64_t s = next_base_; s < new_base && pending_ > 0; ++s)
            if (has(s)) {
                slot(s).sequence = -1;
                --pending_;
            }
        next_base_ = new_base;
    }
    if (has(ext)) return;  // a duplicate keeps its first arrival
    slot(ext) = Arrival{ext, arrival};
    ++pending_;
    highest_ = std::max(highest_, ext);
    if (!due_) due_ = arrival + config_.interval;
}

std::optional<base::Instant> TransportFeedbackRecorder::poll_timeout() const noexcept {
    return pending_ == 0 ? std::nullopt : due_;
}

bool TransportFeedbackRecorder::write(std::uint32_t sender_ssrc, std::uint32_t media_ssrc, base::Instant now,
                                      std::vector<std::byte>& out) {
    if (pending_ == 0 || !due_ || now < *due_) return false;
    std::int64_t first = next_base_;
    while (first <= highest_ && !has(first)) ++first;
    if (first > highest_) return false;
    // A run of numbers that never came longer than a packet can say: the
    // report starts at the first that came (the sender takes the run as lost).
    if (first - next_base_ >= static_cast<std::int64_t>(config_.max_statuses)) next_base_ = first;
    const std::int64_t base = next_base_;
    // Arrival times in ticks from the epoch; the reference time is the first
    // arrival's, in 64 ms units (§3.1), and the deltas run on from it.
    auto ticks = [this](base::Instant t) {
        return std::chrono::duration_cast<std::chrono::microseconds>(t - *epoch_).count() / kTick;
    };
    const std::int64_t reference = ticks(slot(first).at) * kTick / kReferenceUnit;
    std::int64_t previous = reference * (kReferenceUnit / kTick);

    auto& symbols = symbols_;
    auto& deltas = deltas_;
    symbols.clear();
    deltas.clear();
    std::int64_t last = base - 1;
    for (std::int64_t seq = first; seq <= highest_; ++seq) {
        if (!has(seq)) continue;
        if (seq - base + 1 > static_cast<std::int64_t>(config_.max_statuses)) break;
        const std::int64_t delta = ticks(slot(seq).at) - previous;
        if (delta < -32768 || delta > 32767) break;  // not expressible: the rest go in the next packet
        symbols.insert(symbols.end(), static_cast<std::size_t>(seq - last - 1), kNotReceived);
        symbols.push_back(delta >= 0 && delta <= 255 ? kSmallDelta : kLargeDelta);
        deltas.push_back(delta);
        previous += delta;
        last = seq;
    }
    if (symbols.empty()) return false;

    const std::size_t at = out.size();
    out.push_back(std::byte((2 << 6) | kFmtTransportFeedback));
    out.push_back(std::byte(kRtpfb));
    put16(out, 0);  // length, below
    put16(out, static_cast<std::uint16_t>(sender_ssrc >> 16));
    put16(out, static_cast<std::uint16_t>(sender_ssrc));
    put16(out, static_cast<std::uint16_t>(media_ssrc >> 16));
    put16(out, static_cast<std::uint16_t>(media_ssrc));
    put16(out, static_cast<std::uint16_t>(base & 0xffff));
    put16(out, static_cast<std::uint16_t>(symbols.size()));
    const auto ref24 = static_cast<std::uint32_t>(reference) & 0xffffff;
    out.push_back(std::byte(ref24 >> 16));
    out.push_back(std::byte((ref24 >> 8) & 0xff));
    out.push_back(std::byte(ref24 & 0xff));
    out.push_back(std::byte(feedback_count_++));
    // Chunks: a run of 7 or more alike as one run-length chunk; else 14
    // one-bit symbols when none is large; else 7 two-bit symbols.
    for (std::size_t i = 0; i < symbols.size();) {
        std::size_t run = 1;
        while (i + run < symbols.size() && symbols[i + run] == symbols[i] && run < 0x1fff) ++run;
        if (run >= 7) {
            put16(out, static_cast<std::uint16_t>((symbols[i] << 13) | run));
            i += run;
            continue;
        }
        const std::size_t n14 = std::min<std::size_t>(14, symbols.size() - i);
        if (std::all_of(symbols.begin() + static_cast<std::ptrdiff_t>(i), symbols.begin() + static_cast<std::ptrdiff_t>(i + n14),
                        [](std::uint8_t s) { return s != kLargeDelta; })) {
            std::uint16_t chunk = 0x8000;
            for (std::size_t k = 0; k < n14; ++k) chunk = static_cast<std::uint16_t>(chunk | (symbols[i + k] << (13 - k)));
            put16(out, chunk);
            i += n14;
            continue;
        }
        const std::size_t n7 = std::min<std::size_t>(7, symbols.size() - i);
        std::uint16_t chunk = 0xc000;
        for (std::size_t k = 0; k < n7; ++k) chunk = static_cast<std::uint16_t>(chunk | (symbols[i + k] << (12 - 2 * k)));
        put16(out, chunk);
        i += n7;
    }
    for (auto d : deltas) {
        if (d >= 0 && d <= 255) out.push_back(std::byte(d));
        else put16(out, static_cast<std::uint16_t>(static_cast<std::int16_t>(d)));
    }
    // Padding to 32 bits: zeros, the last byte their count, and the P bit.
    const std::size_t padding = (4 - (out.size() - at) % 4) % 4;
    if (padding > 0) {
        out.insert(out.end(), padding - 1, std::byte{0});
        out.push_back(std::byte(padding));
        out[at] |= std::byte{0x20};
    }
    base::store_be16(out.data() + at + 2, static_cast<std::uint16_t>((out.size() - at) / 4 - 1));

    for (std::int64_t seq = base; seq <= last; ++seq)
        if (has(seq)) {
            slot(seq).sequence = -1;
            --pending_;
        }
    next_base_ = last + 1;
    due_ = pending_ == 0 ? std::nullopt : std::optional<base::Instant>(now + config_.interval);
    ++written_;
    return true;
}

}  // namespace duplex::proto::rtp
