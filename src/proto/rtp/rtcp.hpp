// proto/rtp/rtcp.hpp: RTCP (RFC 3550 §6) packets and compound packets: sender
// and receiver reports, SDES, BYE, and the feedback messages of RFC 4585 and
// RFC 5104 (generic NACK, PLI, FIR), read as views of the bytes they came in
// and written by appending to a buffer. Reduced-size RTCP (RFC 5506: a
// compound that does not start with a report) is read as well.
//
//   |V=2|P|  count  |      PT       |    length (32-bit words - 1)  |
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace duplex::proto::rtp {

enum class RtcpError {
    too_short = 1,   // a header or body shorter than it says
    bad_version,     // V is not 2
    bad_length,      // the length field runs past the compound
    bad_padding,     // padding anywhere but in the last packet, or a bad count
    bad_body,        // a body that does not match its type (too few bytes for its count)
};
const std::error_category& rtcp_category() noexcept;
inline std::error_code make_error_code(RtcpError e) noexcept { return {static_cast<int>(e), rtcp_category()}; }

namespace rtcp_type {
inline constexpr std::uint8_t kSenderReport = 200;
inline constexpr std::uint8_t kReceiverReport = 201;
inline constexpr std::uint8_t kSdes = 202;
inline constexpr std::uint8_t kBye = 203;
inline constexpr std::uint8_t kApp = 204;
inline constexpr std::uint8_t kTransportFeedback = 205;  // RTPFB (RFC 4585 §6.1)
inline constexpr std::uint8_t kPayloadFeedback = 206;    // PSFB
}  // namespace rtcp_type

/// A report block (RFC 3550 §6.4.1), as it is on the wire.
struct ReportBlock {
    std::uint32_t ssrc = 0;               // the source it is about
    std::uint8_t fraction_lost = 0;       // since the last report, /256
    std::int32_t cumulative_lost = 0;     // 24-bit signed
    std::uint32_t highest_sequence = 0;   // extended highest sequence number received
    std::uint32_t jitter = 0;             // interarrival jitter, in RTP timestamp units
    std::uint32_t last_sr = 0;            // LSR: the middle 32 bits of the last SR's NTP time
    std::uint32_t delay_since_last_sr = 0;  // DLSR, in 1/65536 s
};

struct SenderReport {
    std::uint32_t ssrc = 0;
    std::uint64_t ntp_time = 0;        // 32.32 fixed point seconds since 1900
    std::uint32_t rtp_time = 0;
    std::uint32_t packet_count = 0;
    std::uint32_t octet_count = 0;
    std::vector<ReportBlock> blocks;
};
struct ReceiverReport {
    std::uint32_t ssrc = 0;
    std::vector<ReportBlock> blocks;
};
/// SDES (RFC 3550 §6.5): the CNAME of each chunk that has one.
struct Sdes {
    struct Chunk {
        std::uint32_t ssrc = 0;
        std::string_view cname;  // empty when the chunk has none
    };
    std::vector<Chunk> chunks;
};
struct Bye {
    std::vector<std::uint32_t> ssrcs;
    std::string_view reason;
};
/// Generic NACK (RFC 4585 §6.2.1): the sequence numbers asked for again.
struct Nack {
    std::uint32_t sender_ssrc = 0;
    std::uint32_t media_ssrc = 0;
    std::vector<std::uint16_t> lost;  // in the order the packet lists them
};
/// Picture loss indication (RFC 4585 §6.3.1).
struct Pli {
    std::uint32_t sender_ssrc = 0;
    std::uint32_t media_ssrc = 0;
};
/// Full intra request (RFC 5104 §4.3.1): one entry per source asked.
struct Fir {
    std::uint32_t sender_ssrc = 0;
    struct Entry {
        std::uint32_t ssrc = 0;
        std::uint8_t sequence = 0;
    };
    std::vector<Entry> entries;
};
/// Any other packet (APP, transport-wide feedback, REMB, XR, ...), kept whole.
struct OtherRtcp {
    std::uint8_t type = 0;
    std::uint8_t count = 0;  // the count/FMT field
    base::Bytes packet;      // header included
};
using RtcpPacket = std::variant<SenderReport, ReceiverReport, Sdes, Bye, Nack, Pli, Fir, OtherRtcp>;

/// Reads a compound (or reduced-size) RTCP packet into its parts.
base::Result<std::vector<RtcpPacket>> parse_rtcp(base::Bytes compound);

// --- writing: each appends one packet to `out` (a compound is several) ---
void write_sender_report(const SenderReport& sr, std::vector<std::byte>& out);
void write_receiver_report(const ReceiverReport& rr, std::vector<std::byte>& out);
void write_sdes_cname(std::uint32_t ssrc, std::string_view cname, std::vector<std::byte>& out);
void write_bye(std::span<const std::uint32_t> ssrcs, std::string_view reason, std::vector<std::byte>& out);
/// Packs `lost` (any order, duplicates allowed) into PID/BLP pairs: each
/// pair covers a sequence number and the 16 after it (RFC 4585 §6.2.1).
void write_nack(std::uint32_t sender_ssrc, std::uint32_t media_ssrc, std::span<const std::uint16_t> lost,
                std::vector<std::byte>& out);
void write_pli(std::uint32_t sender_ssrc, std::uint32_t media_ssrc, std::vector<std::byte>& out);
void write_fir(std::uint32_t sender_ssrc, std::span<const Fir::Entry> entries, std::vector<std::byte>& out);

/// The NTP time of an SR (RFC 3550 §4) and the middle 32 bits a report block
/// echoes as LSR.
constexpr std::uint32_t ntp_middle(std::uint64_t ntp) noexcept { return static_cast<std::uint32_t>(ntp >> 16); }

}  // namespace duplex::proto::rtp

template <>
struct std::is_error_code_enum<duplex::proto::rtp::RtcpError> : std::true_type {};
