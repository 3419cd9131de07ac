// proto/sdp/rtp_section.hpp: what an audio or video m= section says about
// its RTP stream, read from the SDP model and written back into it.
//
//   m=video 9 UDP/TLS/RTP/SAVPF 96 97            the payload types, in order of preference
//   a=mid:1                                      RFC 9143 §4.4 (the BUNDLE demux key, RFC 8843 §9.2)
//   a=sendrecv                                   RFC 3264 §5.1 (sendonly, recvonly, inactive)
//   a=msid:<stream id> <track id>                RFC 8830 §2 ("-" for no stream)
//   a=rtcp-mux / a=rtcp-rsize                    RFC 5761 §5.1.1 / RFC 5506 §5
//   a=extmap:<id>[/<direction>] <uri> [<attrs>]  RFC 8285 §8
//   a=rtpmap:96 VP8/90000                        RFC 8866 §6.6: <name>/<clock rate>[/<channels>]
//   a=fmtp:97 apt=96                             RFC 8866 §6.15: format parameters, verbatim
//   a=rtcp-fb:96 nack pli                        RFC 4585 §4.2 ("*" applies to every payload type)
//   a=ssrc-group:FID 1111 2222                   RFC 5576 §4.2 (FID: RFC 4588 §8.3, RTX)
//   a=ssrc:1111 cname:abc                        RFC 5576 §4.1
//
// Reading is tolerant where browsers differ (a payload type in the m= line
// without an a=rtpmap is kept only if it is one of RFC 3551's static types;
// attributes for payload types that the m= line does not list are ignored;
// unknown attributes are left alone) and strict where a mistake would
// misroute media: payload types are 0..127 (RFC 3550 §5.1), and 64..95 are
// skipped (with the marker bit they look like RTCP under rtcp-mux, RFC 5761
// §4); extmap ids are 1..255 and unique; a payload type has at most one
// rtpmap; SSRCs are 32-bit numbers. Counts are bounded (RtpSectionLimits) so that a hostile offer
// cannot make us keep unbounded state.
#pragma once

#include "proto/sdp/session_description.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace duplex::proto::sdp {

/// RFC 3264 §5.1 (the a=sendrecv family).
enum class Direction { SendRecv, SendOnly, RecvOnly, Inactive };

std::string_view to_string(Direction d) noexcept;
std::optional<Direction> parse_direction(std::string_view s) noexcept;
/// The same stream seen from the other end: sendonly <-> recvonly.
Direction reverse(Direction d) noexcept;
bool sends(Direction d) noexcept;
bool receives(Direction d) noexcept;
Direction make_direction(bool send, bool receive) noexcept;

/// a=rtcp-fb:<pt> <type> [<parameter>] (RFC 4585 §4.2): "nack", "nack pli",
/// "ccm fir" (RFC 5104 §7.1), "transport-cc", "goog-remb".
struct RtcpFeedback {
    std::string type;
    std::string parameter;  // empty if none

    friend bool operator==(const RtcpFeedback&, const RtcpFeedback&) = default;
};

/// One payload type of the m= line, with its rtpmap, fmtp and rtcp-fb.
struct RtpCodec {
    std::uint8_t payload_type = 0;
    std::string name;               // as written: "opus", "VP8", "H264", "rtx", "red", ...
    std::uint32_t clock_rate = 0;
    std::uint8_t channels = 0;      // audio only; 0 = not written (one channel, RFC 8866 §6.6)
    std::string format_parameters;  // the a=fmtp value, verbatim ("" if none)
    std::vector<RtcpFeedback> feedback;

    /// The value of one "key=value" of the fmtp (keys are case-insensitive,
    /// RFC 8866 §6.15 leaves the syntax to the format; every format here
    /// uses ';'-separated pairs). nullopt if absent.
    std::optional<std::string_view> parameter(std::string_view key) const noexcept;
    /// For an "rtx" codec, the payload type it repairs (RFC 4588 §8.6 apt=).
    std::optional<std::uint8_t> associated_payload_type() const noexcept;
    /// Name compared case-insensitively (RFC 4855 §3: media subtype names are).
    bool is(std::string_view codec_name) const noexcept;
    bool has_feedback(std::string_view type, std::string_view parameter = {}) const noexcept;

    /// One built by hand (what we support, a test's offer).
    static RtpCodec make(std::uint8_t payload_type, std::string name, std::uint32_t clock_rate,
                         std::uint8_t channels = 0, std::string format_parameters = {},
                         std::vector<RtcpFeedback> feedback = {}) {
        RtpCodec c;
        c.payload_type = payload_type;
        c.name = std::move(name);
        c.clock_rate = clock_rate;
        c.channels = channels;
        c.format_parameters = std::move(format_parameters);
        c.feedback = std::move(feedback);
        return c;
    }

    friend bool operator==(const RtpCodec&, const RtpCodec&) = default;
};

/// a=extmap (RFC 8285 §8).
struct HeaderExtension {
    std::uint8_t id = 0;                      // 1..14 one-byte, 1..255 two-byte
    std::string uri;
    std::optional<Direction> direction;       // "a=extmap:<id>/<direction>"
    std::string attributes;                   // anything after the URI, verbatim

    friend bool operator==(const HeaderExtension&, const HeaderExtension&) = default;
};

/// a=ssrc-group (RFC 5576 §4.2).
struct SsrcGroup {
    std::string semantics;                    // "FID" (RTX), "SIM", "FEC-FR", ...
    std::vector<std::uint32_t> ssrcs;

    friend bool operator==(const SsrcGroup&, const SsrcGroup&) = default;
};

/// One a=ssrc source with the attributes we use (RFC 5576 §4.1, §6.1).
struct SsrcInfo {
    std::uint32_t ssrc = 0;
    std::string cname;                        // a=ssrc:<ssrc> cname:<cname>
    std::string msid;                         // a=ssrc:<ssrc> msid:<value> (legacy, Chromium still writes it)

    friend bool operator==(const SsrcInfo&, const SsrcInfo&) = default;
};

/// The RTP view of one audio/video m= section.
struct RtpSection {
    std::string kind;                         // "audio" or "video"
    std::string mid;
    Direction direction = Direction::SendRecv;  // absent attribute: sendrecv (RFC 3264 §5.1)
    std::vector<RtpCodec> codecs;             // in the m= line's order
    std::vector<HeaderExtension> extensions;
    bool rtcp_mux = false;
    bool rtcp_reduced_size = false;
    std::optional<std::string> msid_stream;   // a=msid:<stream> <track>; "-" means none
    std::optional<std::string> msid_track;
    std::vector<SsrcGroup> ssrc_groups;
    std::vector<SsrcInfo> ssrcs;

    /// The codec with this payload type, or nullptr.
    const RtpCodec* codec(std::uint8_t payload_type) const noexcept;
    /// The id negotiated for this extension URI, or 0.
    std::uint8_t extension_id(std::string_view uri) const noexcept;
    /// The media SSRC and, from an FID group, its RTX SSRC (RFC 4588 §8.3).
    std::optional<std::uint32_t> primary_ssrc() const noexcept;
    std::optional<std::uint32_t> rtx_ssrc() const noexcept;

    friend bool operator==(const RtpSection&, const RtpSection&) = default;
};

struct RtpSectionLimits {
    std::size_t max_codecs = 64;              // Chromium offers ~25 video payload types
    std::size_t max_extensions = 32;
    std::size_t max_ssrcs = 16;               // simulcast with RTX is 6
    std::size_t max_feedback_per_codec = 16;
};

struct RtpSectionError {
    std::string message;
};

/// Is this an RTP section we can read (audio or video, an RTP/AVP family
/// profile such as UDP/TLS/RTP/SAVPF)?
bool is_rtp_section(const Media& m) noexcept;

/// Reads an audio/video section. The section's own transport attributes
/// (ICE, DTLS) are not part of it: see jsep.hpp.
std::variant<RtpSection, RtpSectionError> read_rtp_section(const Media& m, const RtpSectionLimits& limits = {});

/// Writes the section's RTP attributes into `m` (its formats and a= lines,
/// after whatever attributes `m` already has), in the order Chromium uses:
/// mid, extmap, direction, msid, rtcp-mux, rtcp-rsize, then per codec
/// rtpmap, rtcp-fb, fmtp, then ssrc-group and ssrc lines.
void write_rtp_section(const RtpSection& s, Media& m);

}  // namespace duplex::proto::sdp
