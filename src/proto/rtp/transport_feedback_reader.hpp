// proto/rtp/transport_feedback_reader.hpp: the sender's reading of a
// transport-wide congestion control feedback packet (RTPFB, FMT 15,
// draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1), which says of a
// run of transport-wide sequence numbers which packets arrived and when.
// transport_feedback.hpp writes them; this reads what the remote wrote, for
// the bandwidth estimator (bandwidth_estimator.hpp).
//
// Only the packets that arrived are listed, with their arrival times; the
// others in [base, base + status_count) did not arrive (yet). So what a
// packet makes us hold is bounded by its own size (a run-length chunk of two
// bytes may claim 8191 lost packets: those are counted, not listed).
#pragma once

#include "base/bytes.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace duplex::proto::rtp {

struct TransportFeedback {
    std::uint32_t sender_ssrc = 0, media_ssrc = 0;
    std::uint16_t base_sequence = 0;
    std::uint16_t status_count = 0;
    std::uint8_t feedback_count = 0;
    struct Arrival {
        std::uint16_t sequence = 0;
        /// µs on the remote's clock: the reference time (64 ms units) plus the
        /// receive deltas up to this packet (250 µs units, §3.1.5).
        std::int64_t at_us = 0;
    };
    std::vector<Arrival> received;  // in sequence order
};

/// One RTCP packet, its header included: whole, or as parse_rtcp hands it
/// over (an rtp::OtherRtcp's bytes: the padding of a compound's last packet
/// taken off). nullopt when it is not a transport feedback packet or does
/// not hold what its header and chunks say.
std::optional<TransportFeedback> read_transport_feedback(base::Bytes packet);

}  // namespace duplex::proto::rtp
