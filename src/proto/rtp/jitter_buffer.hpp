// proto/rtp/jitter_buffer.hpp: the receive side of one RTP stream (one SSRC):
// packets in any order, whole frames out, each when its time has come.
//
//   packets ──insert()──► ring of slots, indexed by extended sequence number
//                          │  (RFC 3550 §A.1: 16-bit numbers unwrapped to 64)
//                          ▼
//   frame assembly: from the next expected sequence number, the run of
//   packets with one timestamp up to the marker bit (audio: one packet, one
//   frame), its first payload a frame start for the codec (Depacketizer)
//                          │
//                          ▼
//   release: at the frame's playout time, its RTP timestamp mapped onto the
//   receive clock through the fastest transit seen, plus a delay of three
//   times the interarrival jitter (RFC 3550 §6.4.1, §A.8), within
//   [min_delay, max_delay] ──poll_frame()──► Frame
//
// Loss: a frame that is still incomplete when the next complete one is due
// (the wait is what NACK/RTX retransmissions have to fill the gap) is
// dropped; so is, at once, one that has no marker while the next sequence
// number already begins another frame (the sender never sent its tail). For video every frame after it is then dropped too until a key
// frame (the decoder could not use them) and key_frame_wanted() turns true:
// the owner sends a PLI (RFC 4585 §6.3.1). missing() lists the gaps for the
// NACK generator.
//
// Bounds: at most `capacity` packets are held (a packet further ahead than
// that flushes what is held and waits for a key frame: a sender gone wild
// cannot make us hold more), and a frame larger than max_frame_bytes is
// dropped. Payload buffers are allocated once, at construction: nothing is
// allocated per packet or per frame once the frame buffer has grown.
//
// Time is an input (`now`): no clock is read here.
#pragma once

#include "base/bytes.hpp"
#include "base/time.hpp"
#include "proto/rtp/payload_format.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace duplex::proto::rtp {

struct JitterBufferConfig {
    std::uint32_t clock_rate = 90000;
    std::size_t capacity = 1024;                     // packets held at most (a power of two)
    std::size_t max_packet_payload = 1500;           // a larger payload is dropped
    std::size_t max_frame_bytes = 4 * 1024 * 1024;
    std::chrono::milliseconds min_delay{10};
    std::chrono::milliseconds max_delay{500};
};

/// One whole frame, in decoding order.
struct Frame {
    std::uint32_t rtp_timestamp = 0;
    bool key_frame = false;
    std::uint64_t first_sequence = 0;                // extended sequence numbers
    std::uint64_t last_sequence = 0;
    base::Instant completed{};                       // when its last packet arrived
    /// The frame's bytes (the buffer's own, valid until the next poll_frame).
    base::Bytes data;
};

struct JitterBufferStats {
    std::uint64_t packets = 0;            // accepted
    std::uint64_t duplicates = 0;
    std::uint64_t late = 0;               // came after their frame was released or dropped
    std::uint64_t oversized = 0;          // a payload or frame over its limit
    std::uint64_t malformed = 0;          // the depacketizer refused a payload
    std::uint64_t frames = 0;             // released
    std::uint64_t key_frames = 0;
    std::uint64_t frames_dropped = 0;     // incomplete at their time, or undecodable after a loss
    std::uint64_t overruns = 0;           // a packet too far ahead flushed the buffer
    double jitter_ms = 0;                 // RFC 3550 §A.8 interarrival jitter
};

class JitterBuffer {
public:
    JitterBuffer(Codec codec, JitterBufferConfig config = {});

    /// A packet of this stream arrived at `now` (already unprotected). A
    /// retransmission (RTX) fills its gap but says nothing of the path's
    /// jitter: it is left out of the estimate.
    void insert(std::uint16_t sequence, std::uint32_t timestamp, bool marker, base::Bytes payload, base::Instant now,
                bool retransmission = false);

    /// The next frame whose time has come (or that is dropped: see above),
    /// if any. Call until it returns nullopt.
    std::optional<Frame> poll_frame(base::Instant now);
    /// When poll_frame may next have something (nullopt: only after insert).
    std::optional<base::Instant> poll_timeout() const noexcept;

    /// Sequence numbers not yet received between the next frame's start and
    /// the newest packet, oldest first, at most `limit` of them.
    std::vector<std::uint16_t> missing(std::size_t limit = 64) const;
    /// True after a loss that left the decoder without a reference, until a
    /// key frame is released.
    bool key_frame_wanted() const noexcept { return started_ && waiting_for_key_; }
    /// The current release delay (three times the jitter, within bounds).
    base::Duration delay() const noexcept;
    /// How long past the next frame's time (or its arrival, if it came after
    /// its time) an incomplete frame is still waited for: a retransmission's
    /// round trip when NACKs are in use (0 without). Only a loss costs this
    /// latency: frames behind a complete one go at their own time.
    void set_loss_wait(base::Duration wait) noexcept { loss_wait_ = wait; }

    const JitterBufferStats& stats() const noexcept { return stats_; }
    Codec codec() const noexcept { return codec_; }

private:
    struct Slot {
        bool used = false;
        bool marker = false;
        std::uint64_t ext = 0;
        std::uint32_t timestamp = 0;
        base::Instant arrival{};
        std::vector<std::byte> payload;  // capacity reserved once
    };
    struct Span {                        // a frame found in the ring
        std::uint64_t first = 0, last = 0;
        std::uint32_t timestamp = 0;
        bool complete = false;
        bool cut = false;                // no marker, and the next number begins another frame
        base::Instant completed{};
    };

    Slot& slot(std::uint64_t ext) noexcept { return slots_[ext & mask_]; }
    const Slot& slot(std::uint64_t ext) const noexcept { return slots_[ext & mask_]; }
    bool has(std::uint64_t ext) const noexcept { return slot(ext).used && slot(ext).ext == ext; }
    std::uint64_t extend(std::uint16_t sequence) const noexcept;
    std::uint64_t extend_timestamp(std::uint32_t timestamp) const noexcept;
    Span frame_at(std::uint64_t start) const noexcept;
    std::optional<std::uint64_t> next_frame_start(std::uint64_t after) const noexcept;
    base::Instant playout_time(std::uint32_t timestamp) const noexcept;
    base::Instant give_up_time(const Span& later) const noexcept;  // of the incomplete frame before `later`
    void release(std::uint64_t first, std::uint64_t last) noexcept;
    void flush() noexcept;
    void update_jitter(std::uint32_t timestamp, base::Instant now) noexcept;

    Codec codec_;
    JitterBufferConfig config_;
    std::unique_ptr<Depacketizer> depacketizer_;
    std::vector<Slot> slots_;
    std::uint64_t mask_ = 0;
    bool started_ = false;
    bool released_any_ = false;
    std::uint64_t next_ = 0;              // the first sequence number of the next frame
    std::uint64_t highest_ = 0;           // the newest sequence number seen
    bool waiting_for_key_ = false;
    // Timing: the receive time of RTP timestamp 0 for the fastest packet
    // seen (arrival minus media time, at its minimum), in the receive clock.
    bool have_base_ = false;
    std::uint64_t last_ext_ts_ = 0;       // the newest timestamp, unwrapped
    base::Instant base_{};
    std::optional<std::pair<std::uint32_t, base::Instant>> last_transit_;
    double jitter_ = 0;                   // in timestamp units, RFC 3550 §A.8
    base::Duration loss_wait_{};
    std::vector<std::byte> frame_;
    JitterBufferStats stats_;
};

}  // namespace duplex::proto::rtp
