// proto/rtp/payload_format.hpp: how an encoded frame travels in RTP payloads
// and comes back, one codec to a file (opus.cpp, vp8.cpp, h264.cpp; VP9 or AV1
// would be one more file each). A packetizer writes payloads into the
// caller's buffers and a depacketizer appends to the caller's frame buffer:
// neither allocates per packet.
#pragma once

#include "base/bytes.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace duplex::proto::rtp {

enum class Codec : std::uint8_t { Opus, Vp8, H264 };
/// "opus", "VP8", "H264": the encoding names of `a=rtpmap`.
std::string_view codec_name(Codec c) noexcept;

/// Splits one encoded frame into RTP payloads.
class Packetizer {
public:
    virtual ~Packetizer() = default;
    /// Begins a frame; `frame` must stay valid until next() returns 0.
    /// `max_payload` is the most one payload may hold (the MTU less the RTP
    /// header, its extensions and the SRTP tag).
    virtual void start(base::Bytes frame, std::size_t max_payload) = 0;
    /// Writes the next payload into `out` (at least max_payload bytes) and
    /// returns its size; 0 when the frame is done (or cannot be sent: a
    /// frame of a codec that cannot be split and does not fit). `last` is
    /// set on the frame's last payload: for video it is the RTP marker bit
    /// (RFC 7741 §4.1, RFC 6184 §5.1); for audio (every packet is a whole
    /// frame) the sender sets the marker itself, on the first packet after
    /// silence (RFC 7587 §4.1), not from `last`.
    virtual std::size_t next(std::span<std::byte> out, bool& last) = 0;
};

/// Turns RTP payloads, given in sequence order, back into frames.
class Depacketizer {
public:
    virtual ~Depacketizer() = default;
    /// Whether the payload begins a frame (VP8: S=1 and partition 0) or, for
    /// codecs without such a bit (H.264), a NAL unit; a frame's payloads are
    /// otherwise known by their RTP timestamp and marker.
    virtual bool starts_frame(base::Bytes payload) const = 0;
    /// Whether a frame's first payload is that of a key frame (decodable
    /// alone: VP8 P=0, H.264 an IDR or SPS); audio frames always are.
    virtual bool is_key_frame(base::Bytes first_payload) const = 0;
    /// Appends what the payload carries of the frame to `frame` (the payload
    /// descriptor removed; H.264 NAL units in Annex B form, each after a
    /// 4-byte start code). False, with `frame` unchanged, when malformed.
    virtual bool append(base::Bytes payload, std::vector<std::byte>& frame) = 0;
};

struct PacketizerOptions {
    /// H.264 packetization mode 0 (RFC 6184 §6.2): single NAL unit packets
    /// only, no STAP-A or FU-A; a frame with a NAL unit larger than a payload
    /// cannot be sent (next() gives 0 at once).
    bool single_nal_only = false;
};

std::unique_ptr<Packetizer> make_packetizer(Codec codec, PacketizerOptions options = {});
std::unique_ptr<Depacketizer> make_depacketizer(Codec codec);

}  // namespace duplex::proto::rtp
