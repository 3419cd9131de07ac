// proto/rtp/transport_feedback.hpp: the receive side of transport-wide
// congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01).
// Every packet that carries a transport-wide sequence number (any stream of
// the transport, retransmissions and padding probes too) has its arrival
// time noted, and about every 100 ms the receiver tells the sender which
// arrived and when, in an RTCP transport feedback packet (RTPFB, FMT 15,
// §3.1). A browser's sender makes its bandwidth estimate from these (delay-
// and loss-based); without them it stays at its start rate (~300 kbit/s:
// a 640x480 camera goes out at 320x240 and a few frames a second, and its
// retransmissions are rationed by the same low rate).
//
// The packet: base sequence number and status count; a reference time (24
// bits, 64 ms units) and a feedback count; status chunks (run-length, or
// vectors of 14 one-bit or 7 two-bit symbols: not received, received with a
// small delta, received with a large or negative one); then the receive
// deltas, in 250 µs units (1 byte small, 2 bytes signed large), padded to 32
// bits with the P bit (as libwebrtc writes it).
//
// Sans-IO: arrival times are given; write() says what to send. Arrivals are
// held in a ring allocated once (as the jitter buffer's packets are): noting
// one allocates nothing.
#pragma once

#include "base/time.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace duplex::proto::rtp {

struct TransportFeedbackConfig {
    base::Duration interval = std::chrono::milliseconds(100);
    std::size_t max_statuses = 400;   // per packet: ~1 KB at most (~2.5 bytes a status)
    std::size_t max_pending = 4096;   // arrivals held between packets, a power of two (oldest forgotten beyond)
};

class TransportFeedbackRecorder {
public:
    explicit TransportFeedbackRecorder(TransportFeedbackConfig config = {});

    /// A packet with transport-wide sequence number `sequence` arrived.
    void on_packet(std::uint16_t sequence, base::Instant arrival);
    /// When the next feedback is due (nullopt: nothing to report).
    std::optional<base::Instant> poll_timeout() const noexcept;
    /// Appends one feedback packet (RTCP RTPFB FMT 15) to `out` if one is
    /// due at `now`: what arrived since the last one, from the first number
    /// not yet reported. False if nothing was due.
    bool write(std::uint32_t sender_ssrc, std::uint32_t media_ssrc, base::Instant now, std::vector<std::byte>& out);

    std::uint64_t packets_written() const noexcept { return written_; }

private:
    std::int64_t extend(std::uint16_t sequence) const noexcept;
    struct Arrival {
        std::int64_t sequence = -1;  // extended; -1: empty
        base::Instant at{};
    };
    Arrival& slot(std::int64_t seq) noexcept { return ring_[static_cast<std::size_t>(seq) & (ring_.size() - 1)]; }
    bool has(std::int64_t seq) noexcept { return slot(seq).sequence == seq; }

    TransportFeedbackConfig config_;
    std::vector<Arrival> ring_;                       // by extended sequence number
    std::size_t pending_ = 0;                         // arrivals held, not yet reported
    std::int64_t highest_ = -1;                       // newest extended number seen (-1: none)
    std::int64_t next_base_ = -1;                     // first number not yet reported (-1: none)
    std::vector<std::uint8_t> symbols_;               // write()'s work space, kept
    std::vector<std::int64_t> deltas_;
    std::optional<base::Instant> epoch_;              // the zero of the reference time
    std::optional<base::Instant> due_;
    std::uint8_t feedback_count_ = 0;
    std::uint64_t written_ = 0;
};

}  // namespace duplex::proto::rtp
