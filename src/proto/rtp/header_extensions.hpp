// proto/rtp/header_extensions.hpp: the RTP header extensions duplex writes
// and reads, named by the URIs an SDP `a=extmap` binds to ids (RFC 8285 §5),
// and the coding of each one's data.
#pragma once

#include "base/bytes.hpp"
#include "base/time.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duplex::proto::rtp {

namespace uri {
/// RFC 8843 §15.1: the media section's mid, for demultiplexing under BUNDLE.
inline constexpr std::string_view kMid = "urn:ietf:params:rtp-hdrext:sdes:mid";
/// RFC 8843 §15.2 / RFC 8852: the RTP stream id (simulcast layers).
inline constexpr std::string_view kRtpStreamId = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// The send time as 24 bits of 6.18 fixed-point seconds (webrtc.org).
inline constexpr std::string_view kAbsSendTime = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// A 16-bit sequence number across every stream of a transport (transport-wide congestion control).
inline constexpr std::string_view kTransportWideCc =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// RFC 6464: the audio level of the packet and whether it holds voice.
inline constexpr std::string_view kAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
}  // namespace uri

/// The ids bound to the extensions we know, for one direction of a session
/// (0: not in use). Ids are 1..14 (one-byte form) or 1..255 (two-byte).
struct ExtensionIds {
    std::uint8_t mid = 0;
    std::uint8_t rtp_stream_id = 0;
    std::uint8_t abs_send_time = 0;
    std::uint8_t transport_wide_cc = 0;
    std::uint8_t audio_level = 0;

    /// Binds `uri` to `id` if it is one we know; false (nothing changed) otherwise.
    bool bind(std::string_view extension_uri, std::uint8_t id) noexcept;
};

// --- the data of each ---

/// abs-send-time: seconds as 6.18 fixed point, modulo 64 s, from any
/// monotonic time (only differences matter to the receiver).
std::array<std::byte, 3> abs_send_time(base::Instant t) noexcept;
/// The same back, in 2^-18 s units (0 .. 2^24-1).
std::optional<std::uint32_t> read_abs_send_time(base::Bytes data) noexcept;

std::array<std::byte, 2> transport_wide_sequence(std::uint16_t seq) noexcept;
std::optional<std::uint16_t> read_transport_wide_sequence(base::Bytes data) noexcept;

/// RFC 6464 §3: the level in -dBov (0 loudest .. 127 silence) and the voice flag.
struct AudioLevel {
    bool voice = false;
    std::uint8_t level = 127;
};
std::byte audio_level(AudioLevel a) noexcept;
std::optional<AudioLevel> read_audio_level(base::Bytes data) noexcept;

/// A mid (RFC 8843 §15.1, an RFC 7941 SDES item): 1 to 16 bytes in the
/// one-byte form, up to 255 in the two-byte form; empty is refused.
std::optional<std::string> read_mid(base::Bytes data);

}  // namespace duplex::proto::rtp
