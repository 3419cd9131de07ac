// proto/rtp/jitter_buffer.cpp: see jitter_buffer.hpp.
#include "proto/rtp/jitter_buffer.hpp"

#include <algorithm>
#include <cmath>

namespace duplex::proto::rtp {

namespace {

constexpr std::uint64_t kStart = std::uint64_t{1} << 32;     // room below the first number to move back
constexpr auto kTimingReset = std::chrono::seconds(5);       // a transit this much slower: the sender restarted

std::size_t round_up_pow2(std::size_t n) {
    std::size_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

base::Duration media_time(std::uint64_t ext_ts, std::uint32_t clock_rate) noexcept {
    // ext_ts < 2^34 in practice: the products stay far below 2^63.
    const auto seconds = ext_ts / clock_rate;
    const auto rest = ext_ts % clock_rate;
    return std::chrono::duration_cast<base::Duration>(
        std::chrono::seconds(static_cast<std::int64_t>(seconds)) +
        std::chrono::nanoseconds(static_cast<std::int64_t>(rest * 1'000'000'000ull / clock_rate)));
}

}  // namespace

JitterBuffer::JitterBuffer(Codec codec, JitterBufferConfig config)
    : codec_(codec), config_(config), depacketizer_(make_depacketizer(codec)) {
    config_.capacity = round_up_pow2(std::max<std::size_t>(config_.capacity, 16));
    mask_ = config_.capacity - 1;
    slots_.resize(config_.capacity);
    for (auto& s : slots_) s.payload.reserve(config_.max_packet_payload);
    frame_.reserve(64 * 1024);
    waiting_for_key_ = codec_ != Codec::Opus;  // a decoder starts from a key frame
}

std::uint64_t JitterBuffer::extend(std::uint16_t sequence) const noexcept {
    // RFC 3550 §A.1: the 64-bit number closest to the newest one seen.
    std::uint64_t candidate = (highest_ & ~std::uint64_t{0xFFFF}) | sequence;
    if (candidate + 0x8000 < highest_) candidate += 0x10000;
    else if (candidate > highest_ + 0x8000 && candidate >= 0x10000) candidate -= 0x10000;
    return candidate;
}

std::uint64_t JitterBuffer::extend_timestamp(std::uint32_t timestamp) const noexcept {
    std::uint64_t candidate = (last_ext_ts_ & ~std::uint64_t{0xFFFFFFFF}) | timestamp;
    if (candidate + 0x80000000u < last_ext_ts_) candidate += std::uint64_t{1} << 32;
    else if (candidate > last_ext_ts_ + 0x80000000u && candidate >= (std::uint64_t{1} << 32))
        candidate -= std::uint64_t{1} << 32;
    return candidate;
}

void JitterBuffer::update_jitter(std::uint32_t timestamp, base::Instant now) noexcept {
    // RFC 3550 §A.8: J += (|D| - J) / 16, D the change in transit time, in
    // timestamp units.
    if (last_transit_) {
        const double arrival_delta =
            std::chrono::duration<double>(now - last_transit_->second).count() * config_.clock_rate;
        const double ts_delta = static_cast<double>(static_cast<std::int32_t>(timestamp - last_transit_->first));
        const double d = std::fabs(arrival_delta - ts_delta);
        jitter_ += (d - jitter_) / 16.0;
        stats_.jitter_ms = jitter_ * 1000.0 / config_.clock_rate;
    }
    last_transit_ = std::make_pair(timestamp, now);
}

base::Duration JitterBuffer::delay() const noexcept {
    const auto three_jitters = std::chrono::duration_cast<base::Duration>(
        std::chrono::duration<double>(3.0 * jitter_ / config_.clock_rate));
    return std::clamp<base::Duration>(three_jitters, config_.min_delay, config_.max_delay);
}

void JitterBuffer::insert(std::uint16_t sequence, std::uint32_t timestamp, bool marker, base::Bytes payload,
                          base::Instant now, bool retransmission) {
    if (payload.size() > config_.max_packet_payload) {
        ++stats_.oversized;
        return;
    }
    std::uint64_t ext;
    if (!started_) {
        started_ = true;
        ext = kStart + sequence;
        next_ = highest_ = ext;
        last_ext_ts_ = kStart + timestamp;
    } else {
        ext = extend(sequence);
    }
    if (has(ext)) {
        ++stats_.duplicates;
        return;
    }
    if (ext < next_) {
        // Before anything is released, a packet that overtook the first one
        // may still open the stream; afterwards it is late.
        if (released_any_ || next_ - ext >= config_.capacity / 2 || highest_ - ext >= config_.capacity) {
            ++stats_.late;
            return;
        }
        next_ = ext;
    }
    if (ext >= next_ + config_.capacity) {
        // Further ahead than we hold: what is held is given up.
        ++stats_.overruns;
        flush();
        next_ = ext;
        if (codec_ != Codec::Opus) waiting_for_key_ = true;
    }
    Slot& s = slot(ext);
    s.used = true;
    s.ext = ext;
    s.marker = marker;
    s.timestamp = timestamp;
    s.arrival = now;
    s.payload.assign(payload.begin(), payload.end());  // within the reserved capacity: no allocation
    highest_ = std::max(highest_, ext);
    ++stats_.packets;

    const std::uint64_t ext_ts = extend_timestamp(timestamp);
    last_ext_ts_ = std::max(last_ext_ts_, ext_ts);
    const base::Instant transit_base = now - media_time(ext_ts, config_.clock_rate);
    if (!have_base_ || transit_base < base_ || transit_base - base_ > kTimingReset) base_ = transit_base;
    have_base_ = true;
    if (!retransmission) update_jitter(timestamp, now);
}

base::Instant JitterBuffer::playout_time(std::uint32_t timestamp) const noexcept {
    return base_ + media_time(extend_timestamp(timestamp), config_.clock_rate) + delay();
}

base::Instant JitterBuffer::give_up_time(const Span& later) const noexcept {
    // The wait runs from the later frame's time, or from when it came if
    // that was later still: a frame that comes late shows the loss late,
    // and the retransmission needs its round trip from then.
    return std::max(playout_time(later.timestamp), later.completed) + loss_wait_;
}

JitterBuffer::Span JitterBuffer::frame_at(std::uint64_t start) const noexcept {
    Span f;
    f.first = f.last = start;
    if (!has(start)) return f;
    const Slot& first = slot(start);
    f.timestamp = first.timestamp;
    f.completed = first.arrival;
    if (codec_ == Codec::Opus) {  // RFC 7587 §4.2: one packet, one frame
        f.complete = true;
        return f;
    }
    if (!depacketizer_->starts_frame(base::Bytes(first.payload.data(), first.payload.size()))) return f;
    for (std::uint64_t e = start;; ++e) {
        const Slot& s = slot(e);
        f.completed = std::max(f.completed, s.arrival);
        f.last = e;
        if (s.marker) {
            f.complete = true;
            return f;
        }
        if (e >= highest_ || !has(e + 1)) return f;  // more to come, or missing
        if (slot(e + 1).timestamp != f.timestamp) {
            // The next number begins another frame, and no marker ended this
            // one (RFC 7741 §4.1, RFC 6184 §5.1: the marker ends a frame): the
            // sender never sent its tail (a browser numbers packets as its
            // pacer sends them, and may drop a frame's rest). Not whole, and
            // nothing can fill it.
            f.cut = true;
            return f;
        }
    }
}

std::optional<std::uint64_t> JitterBuffer::next_frame_start(std::uint64_t after) const noexcept {
    const bool head_known = has(after);
    const std::uint32_t head_ts = head_known ? slot(after).timestamp : 0;
    for (std::uint64_t e = after + 1; e <= highest_; ++e) {
        if (!has(e)) continue;
        if (codec_ == Codec::Opus) return e;
        const Slot& s = slot(e);
        if (has(e - 1) && slot(e - 1).marker) return e;
        if ((!head_known || s.timestamp != head_ts) &&
            depacketizer_->starts_frame(base::Bytes(s.payload.data(), s.payload.size())))
            return e;
    }
    return std::nullopt;
}

void JitterBuffer::release(std::uint64_t first, std::uint64_t last) noexcept {
    for (std::uint64_t e = first; e <= last; ++e)
        if (has(e)) slot(e).used = false;
    next_ = last + 1;
    highest_ = std::max(highest_, last);
}

void JitterBuffer::flush() noexcept {
    for (auto& s : slots_) s.used = false;
}

std::optional<Frame> JitterBuffer::poll_frame(base::Instant now) {
    while (started_) {
        const Span head = frame_at(next_);
        if (head.cut) {
            ++stats_.frames_dropped;
            if (codec_ != Codec::Opus) waiting_for_key_ = true;
            release(head.first, head.last);
            released_any_ = true;
            continue;
        }
        if (!head.complete) {
            // Its time is over when a later frame is whole and due: then it
            // is given up (the wait was the retransmissions' chance).
            const auto later = next_frame_start(next_);
            if (!later) return std::nullopt;
            const Span after = frame_at(*later);
            if (!after.complete || now < give_up_time(after)) return std::nullopt;
            ++stats_.frames_dropped;
            if (codec_ != Codec::Opus) waiting_for_key_ = true;
            release(next_, *later - 1);
            released_any_ = true;
            continue;
        }
        if (now < playout_time(head.timestamp)) return std::nullopt;
        released_any_ = true;
        const Slot& first = slot(head.first);
        const bool key = depacketizer_->is_key_frame(base::Bytes(first.payload.data(), first.payload.size()));
        if (waiting_for_key_ && !key) {  // undecodable: it refers to what was lost
            ++stats_.frames_dropped;
            release(head.first, head.last);
            continue;
        }
        frame_.clear();
        bool ok = true;
        for (std::uint64_t e = head.first; e <= head.last && ok; ++e) {
            const Slot& s = slot(e);
            if (!depacketizer_->append(base::Bytes(s.payload.data(), s.payload.size()), frame_)) {
                ++stats_.malformed;
                ok = false;
            } else if (frame_.size() > config_.max_frame_bytes) {
                ++stats_.oversized;
                ok = false;
            }
        }
        release(head.first, head.last);
        if (!ok) {
            ++stats_.frames_dropped;
            if (codec_ != Codec::Opus) waiting_for_key_ = true;
            continue;
        }
        if (key) waiting_for_key_ = false;
        ++stats_.frames;
        if (key) ++stats_.key_frames;
        Frame f;
        f.rtp_timestamp = head.timestamp;
        f.key_frame = key;
        f.first_sequence = head.first;
        f.last_sequence = head.last;
        f.completed = head.completed;
        f.data = base::Bytes(frame_.data(), frame_.size());
        return f;
    }
    return std::nullopt;
}

std::optional<base::Instant> JitterBuffer::poll_timeout() const noexcept {
    if (!started_) return std::nullopt;
    const Span head = frame_at(next_);
    if (head.cut) return head.completed;  // dropped at once
    if (head.complete) return playout_time(head.timestamp);
    const auto later = next_frame_start(next_);
    if (!later) return std::nullopt;
    const Span after = frame_at(*later);
    if (!after.complete) return std::nullopt;
    return give_up_time(after);
}

std::vector<std::uint16_t> JitterBuffer::missing(std::size_t limit) const {
    std::vector<std::uint16_t> out;
    if (!started_) return out;
    for (std::uint64_t e = next_; e < highest_ && out.size() < limit; ++e)
        if (!has(e)) out.push_back(static_cast<std::uint16_t>(e & 0xFFFF));
    return out;
}

}  // namespace duplex::proto::rtp
