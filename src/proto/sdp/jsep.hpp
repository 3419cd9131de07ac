// proto/sdp/jsep.hpp: offer/answer (RFC 8829 JSEP) for data channels and, given
// their RTP parameters (rtp_section.hpp), audio and video sections,
// with the SDP of SCTP over DTLS (RFC 8841), ICE (RFC 8839), BUNDLE (RFC 8843)
// and DTLS fingerprint/setup (RFC 8122, RFC 8842).
//
// These are pure functions over the SDP model: no state, no IO, no clock.
// The signaling state machine lives in signaling_state.hpp.
//
// What we build (create_offer), one m= section and a BUNDLE group of it:
//
//   v=0
//   o=- <session id> <version> IN IP4 127.0.0.1
//   s=-
//   t=0 0
//   a=group:BUNDLE <mid>
//   a=msid-semantic: WMS
//   [a=ice-lite]
//   m=application 9 UDP/DTLS/SCTP webrtc-datachannel
//   c=IN IP4 0.0.0.0
//   a=candidate:...                 (each local candidate given)
//   [a=end-of-candidates]
//   a=ice-ufrag:... / a=ice-pwd:... / [a=ice-options:trickle]
//   a=fingerprint:sha-256 AB:CD:...
//   a=setup:actpass
//   a=mid:<mid>
//   a=sctp-port:5000
//   a=max-message-size:262144
//
// The m= port and c= address are the placeholders of RFC 8829 §5.2.1 (9 and
// 0.0.0.0) even when candidates are included: ICE agents use a=candidate, and
// we do not pick a "default candidate" (candidate parsing lives in proto/ice).
#pragma once

#include "proto/sdp/rtp_section.hpp"
#include "proto/sdp/session_description.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace duplex::proto::sdp {

/// a=setup values (RFC 4145 §4, RFC 8842 §5). holdconn is not used by WebRTC.
enum class Setup { ActPass, Active, Passive };

std::string_view to_string(Setup s) noexcept;
std::optional<Setup> parse_setup(std::string_view s) noexcept;

/// What we announce about our own transport.
struct TransportParams {
    std::string ice_ufrag, ice_pwd;
    bool ice_lite = false;
    bool trickle = true;
    std::string fingerprint_algorithm = "sha-256";
    std::string fingerprint;                 // "AB:CD:..."
    Setup setup = Setup::ActPass;            // in an offer; an answer derives its own (see create_answer)
    std::vector<std::string> candidates;     // "candidate:..." strings (the "candidate:" prefix is optional)
    bool end_of_candidates = false;
    std::uint16_t sctp_port = 5000;
    std::uint32_t max_message_size = 262144;
};

/// What we learn from the peer's description.
struct RemoteParams {
    /// The section whose ICE and DTLS attributes are used: the BUNDLE tag
    /// (RFC 8843 §7.3.1), i.e. the first accepted section of the group.
    std::size_t transport_index = 0;
    std::string transport_mid;
    bool has_data_channel = false;           // the fields below up to sctp_port are its
    std::size_t media_index = 0;             // which m= section carries the data channels
    std::string mid;                         // its mid; empty if the section has no a=mid
    std::string ice_ufrag, ice_pwd;
    bool ice_lite = false;
    bool trickle = false;
    std::string fingerprint_algorithm;       // lower case: sha-256, sha-384 or sha-512
    std::string fingerprint;                 // upper-case hex pairs separated by ':'
    Setup setup = Setup::Active;
    std::vector<std::string> candidates;     // "candidate:..." strings, as in RTCIceCandidate.candidate
    bool end_of_candidates = false;
    std::uint16_t sctp_port = 5000;
    /// The largest message the peer accepts (RFC 8841 §6): 65536 when the
    /// attribute is absent; kNoMessageSizeLimit when it is 0 ("any size") or
    /// larger than 2^32-1. The sender still applies its own local cap.
    std::uint32_t max_message_size = 65536;
    /// True when the section uses the legacy "DTLS/SCTP <port>" + a=sctpmap
    /// syntax (pre-RFC 8841 drafts; aiortc 1.4 still offers it).
    bool legacy_sctpmap = false;
};

inline constexpr std::uint32_t kNoMessageSizeLimit = 0xFFFFFFFFu;

struct JsepError {
    std::string message;
};

/// Our offer: one data-channel m= section with the given mid (see above).
/// a=setup is local.setup (actpass unless the caller chose otherwise, which
/// RFC 8842 §5.2 now allows).
SessionDescription create_offer(const TransportParams& local, std::uint64_t session_id,
                                std::uint64_t session_version, std::string mid = "0");

/// One m= section of an offer of ours: an audio or video section (its mid,
/// codecs, extensions, direction, msid and SSRCs), or without `rtp` the data
/// channels' section.
struct OfferSection {
    std::string mid;
    std::optional<RtpSection> rtp;
    /// An m= line of the current description that stays rejected (RFC 8829
    /// §5.2.2: a later offer keeps every m= line, in order): written with
    /// port 0, this kind, protocol and formats, and a=mid only.
    bool rejected = false;
    std::string kind, protocol;
    std::vector<std::string> formats;

    static OfferSection data(std::string mid) { return with(std::move(mid), std::nullopt); }
    static OfferSection media(std::string mid, RtpSection rtp) { return with(std::move(mid), std::move(rtp)); }
    static OfferSection rejected_line(std::string mid, std::string kind, std::string protocol,
                                      std::vector<std::string> formats) {
        OfferSection s = with(std::move(mid), std::nullopt);
        s.rejected = true;
        s.kind = std::move(kind);
        s.protocol = std::move(protocol);
        s.formats = std::move(formats);
        return s;
    }

private:
    static OfferSection with(std::string mid, std::optional<RtpSection> rtp) {
        OfferSection s;
        s.mid = std::move(mid);
        s.rtp = std::move(rtp);
        return s;
    }
};

/// Our offer with these sections, in this order, all in one BUNDLE group
/// (RFC 8843 §7.2) whose first mid is the tag. Every section carries the
/// transport attributes, the candidates included, as browsers write them,
/// and a=rtcp-mux (RFC 8829 §5.2.1: required, with a=rtcp-rsize for RTP).
SessionDescription create_offer(const TransportParams& local, std::uint64_t session_id,
                                std::uint64_t session_version, const std::vector<OfferSection>& sections);

/// How an answer treats each offered audio/video section: the section to
/// answer with (codecs from negotiate_codecs, a direction from
/// answer_direction, our msid and SSRCs; mid and kind are the offer's), or
/// nullopt to reject it. No policy: every audio/video section is rejected.
using MediaAnswerPolicy = std::function<std::optional<RtpSection>(const RtpSection& offered)>;

/// Our answer to a remote offer (RFC 8829 §5.3.1). Every m= section of the
/// offer is answered, in order, with the same mid:
///  - the first usable data-channel section (application, proto UDP/DTLS/SCTP,
///    TCP/DTLS/SCTP or the legacy DTLS/SCTP, nonzero port or a=bundle-only)
///    is accepted with our transport parameters; a=setup is active when the
///    offer says actpass (RFC 8842 §5: the answerer chooses; active, as
///    browsers do, unless local.setup is passive), and the opposite of the
///    offer's active/passive otherwise;
///  - every other section is rejected: port 0, the same media, protocol and
///    formats, c=IN IP4 0.0.0.0 (c= is mandatory, RFC 8866 §5.7), and a=mid
///    only (RFC 8843 §7.3.3: no ICE/DTLS attributes in a rejected section);
///  - if the offer had a BUNDLE group holding the accepted mid, the answer has
///    a=group:BUNDLE <accepted mid>: rejected mids leave the group, so the
///    accepted one becomes its tag (RFC 8843 §7.3.3, §7.3.4).
/// No usable data-channel section -> JsepError "no data channel m-line".
/// The o= line carries session_id/session_version (the caller's own, RFC 8829
/// §5.3.1: independent of the offer's).
/// With a media policy, audio/video sections it accepts are answered with its
/// RtpSection and our transport attributes, and join the BUNDLE group; an
/// offer without a data-channel section is then answerable, and only an
/// offer where nothing is accepted is an error. We have one transport: an
/// audio/video section outside the offer's BUNDLE group is rejected, and an
/// offer with no group gets one section accepted (the data channels', or
/// else the first audio/video one the policy takes).
std::variant<SessionDescription, JsepError> create_answer(const SessionDescription& remote_offer,
                                                          const TransportParams& local,
                                                          std::uint64_t session_id = 0,
                                                          std::uint64_t session_version = 1,
                                                          const MediaAnswerPolicy& media = {});

/// The peer's transport parameters, from its first usable data-channel m=
/// section (the same rule as create_answer, so on an answer it picks the
/// section that was accepted). ICE credentials, fingerprint and setup are
/// taken at media level first, then at session level.
///  - missing ufrag/pwd, or ones outside RFC 8839 §5.4 (ice-char, 4..256 and
///    22..256 characters) -> error;
///  - no fingerprint -> error; only sha-256/384/512 are accepted (RFC 8122
///    §5 lists weaker ones we refuse); the first acceptable one is used;
///  - a=setup missing -> active, the RFC 4145 §4 default (RFC 8842 §5 makes it
///    mandatory, so this only matters for sloppy peers); holdconn -> error;
///  - a=sctp-port missing -> 5000 (RFC 8841 §5.2 default); in the legacy
///    syntax the port is the m= format / a=sctpmap number;
///  - a=max-message-size: see RemoteParams::max_message_size.
///
/// Which sections count: by default the first usable data-channel section
/// and every audio/video section with a nonzero port (or a=bundle-only); for
/// an offer, the caller passes the sections it will accept, since the
/// transport is that of the first accepted section of the BUNDLE group (a
/// peer such as aiortc 1.4 gives each section its own credentials). No
/// section counts -> error.
using SectionFilter = std::function<bool(std::size_t index, const Media& media)>;
std::variant<RemoteParams, JsepError> extract_remote(const SessionDescription& description,
                                                     const SectionFilter& accepted = {});

/// True if this m= section can carry our data channels (see create_answer).
bool is_data_channel_section(const Media& media) noexcept;

}  // namespace duplex::proto::sdp
