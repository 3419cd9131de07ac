// proto/rtp/nack_generator.hpp: which packets a receiver asks again for, and
// when (generic NACK, RFC 4585 §6.2.1; the retransmissions come back on the
// RTX stream, RFC 4588).
//
// Every sequence number skipped by a newer packet becomes a request, sent at
// once (a gap is a loss far more often than a reorder on the paths WebRTC
// takes; RFC 4585 §3.5.1 leaves the timing to us), then repeated once per
// round trip (never more often than min_interval) while the packet has not
// come, up to max_retries times, and forgotten after max_age (by then the
// jitter buffer has given its frame up). A gap wider than max_tracked is not
// asked for packet by packet: the generator forgets it and says a key frame
// is the way back (the owner sends a PLI, RFC 4585 §6.3.1).
//
// Sans-IO: time is given; poll_nacks() says what to put in the next NACK.
#pragma once

#include "base/time.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace duplex::proto::rtp {

struct NackConfig {
    int max_retries = 10;
    base::Duration min_interval = std::chrono::milliseconds(5);
    base::Duration initial_rtt = std::chrono::milliseconds(100);  // until set_rtt() is told better
    base::Duration max_age = std::chrono::seconds(1);
    std::size_t max_tracked = 512;
};

struct NackStats {
    std::uint64_t requested = 0;   // sequence numbers put in NACKs, repeats included
    std::uint64_t recovered = 0;   // asked for, then received
    std::uint64_t given_up = 0;    // asked max_retries times or too old
    std::uint64_t overflows = 0;   // gaps too wide to ask for
};

class NackGenerator {
public:
    explicit NackGenerator(NackConfig config = {}) : config_(config), rtt_(config.initial_rtt) {}

    /// A packet of the stream arrived (a retransmission too, with the
    /// original sequence number from the RTX payload).
    void on_packet(std::uint16_t sequence, base::Instant now);
    /// The sequence numbers to request now, oldest first; each returned is
    /// counted as sent.
    std::vector<std::uint16_t> poll_nacks(base::Instant now);
    std::optional<base::Instant> poll_timeout() const noexcept;
    /// The round-trip time (from RTCP SR/RR, RFC 3550 §6.4.1).
    void set_rtt(base::Duration rtt) noexcept { rtt_ = rtt; }
    /// A gap too wide to repair was seen: ask for a key frame. Cleared by
    /// taking it.
    bool take_key_frame_request() noexcept {
        const bool r = key_frame_request_;
        key_frame_request_ = false;
        return r;
    }
    std::size_t tracked() const noexcept { return missing_.size(); }
    const NackStats& stats() const noexcept { return stats_; }

private:
    struct Missing {
        base::Instant detected;
        std::optional<base::Instant> sent;
        int retries = 0;
    };
    std::uint64_t extend(std::uint16_t sequence) const noexcept;
    base::Duration interval() const noexcept { return rtt_ > config_.min_interval ? rtt_ : config_.min_interval; }

    NackConfig config_;
    base::Duration rtt_;
    bool started_ = false;
    std::uint64_t highest_ = 0;
    std::map<std::uint64_t, Missing> missing_;  // bounded by max_tracked
    bool key_frame_request_ = false;
    NackStats stats_;
};

}  // namespace duplex::proto::rtp
