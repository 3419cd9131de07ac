// proto/rtc/media_transceiver.hpp: what media.cpp (the packets) and
// media_negotiation.cpp (the SDP sections) share: one transceiver's state,
// and the codec names between the SDP, the payload formats and the API.
// Private to those two files.
#pragma once

#include "proto/rtc/media.hpp"
#include "proto/sdp/rtp_section.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace duplex::proto::rtc {

namespace media_detail {

std::uint32_t random_u32();
std::string random_id(std::size_t n);
std::optional<rtp::Codec> codec_of(const sdp::RtpCodec& c);
MediaCodec public_codec(rtp::Codec c);
std::uint32_t clock_rate(rtp::Codec c);
bool of_kind(MediaCodec c, MediaKind kind);

}  // namespace media_detail

struct Media::Transceiver {
    TransceiverKey key = 0;
    TransceiverOptions options;
    TransceiverInfo info;
    bool created_by_remote = false;
    bool announced = false;
    std::string stream_id, track_id;
    std::uint32_t ssrc = media_detail::random_u32();
    std::uint32_t rtx_ssrc = media_detail::random_u32();

    // What the negotiation gave.
    std::optional<rtp::Codec> codec;
    bool nack_ok = false, pli_ok = false;             // the rtcp-fb both sides listed (RFC 4585 §4.2)
    bool transport_cc_ok = false;                     // rtcp-fb transport-cc and its extension
    // Audio: the level (RFC 6464) of recent packets, by sequence number (one
    // packet is one frame): handed out with the frame.
    struct Level {
        std::uint16_t sequence = 0;
        std::int16_t level = -1;  // -1: none
    };
    std::array<Level, 64> levels{};
    std::uint8_t rtx_pt = 0;                          // 0: no RTX
    std::map<std::uint8_t, rtp::Codec> receive_types;
    std::map<std::uint8_t, std::uint8_t> receive_rtx; // RTX payload type -> the one it repairs
    rtp::ExtensionIds ext;

    // Sending (made when the negotiation says we send, for its codec).
    std::unique_ptr<rtp::Packetizer> packetizer;
    std::optional<rtp::Codec> packetizer_codec;
    bool single_nal = false;                          // H.264 packetization mode 0
    std::uint16_t sequence = static_cast<std::uint16_t>(media_detail::random_u32());
    std::uint16_t rtx_sequence = static_cast<std::uint16_t>(media_detail::random_u32());
    std::unique_ptr<rtp::PacketHistory> history;
    bool sent_any = false;
    std::uint32_t last_timestamp = 0;
    base::Instant last_sent{};

    // Receiving.
    std::optional<std::uint32_t> remote_ssrc, remote_rtx_ssrc;
    std::unique_ptr<rtp::JitterBuffer> jitter;
    rtp::NackGenerator nack;
    std::optional<base::Instant> last_pli;
    std::optional<base::Instant> first_packet_at;
    bool key_request_pending = false;                 // a gap too wide for NACKs: a PLI is due
    std::optional<std::uint8_t> last_fir_sequence;    // RFC 5104 §4.3.1.2: a repeated FIR is one request
    bool have_sequence = false;                       // RFC 3550 §A.3 counters for the report blocks
    std::uint16_t base_sequence = 0;
    std::uint32_t cycles = 0;
    std::uint16_t max_sequence = 0;
    std::uint64_t received = 0, expected_prior = 0, received_prior = 0;
    std::uint32_t last_sr = 0;                        // LSR of the remote's last SR
    base::Instant last_sr_at{};

    std::uint32_t extended_max() const { return cycles + max_sequence; }
};

}  // namespace duplex::proto::rtc
