// proto/sdp/codec_negotiation.hpp: which codecs and header extensions an
// answer keeps, and the direction it takes (RFC 3264 §6.1, RFC 8829 §5.3.1).
//
// The answerer keeps, in the offerer's order of preference, every offered
// codec it also supports, with the payload type the offerer chose (RFC 3264
// §6.1: "the answerer MUST use the same payload type numbers"), an RTX
// payload type only if the codec it repairs was kept (RFC 4588 §8.6), the
// rtcp-fb both sides list (RFC 4585 §4.2), and every offered header
// extension whose URI it knows, with the offerer's id (RFC 8285 §6).
//
// "Supports" is the rule browsers apply: the same encoding name (case-
// insensitive), clock rate and channel count, and per codec:
//  - H.264 (RFC 6184 §8.2.2): the same packetization-mode (absent = 0) and
//    the same profile, classified from profile-level-id as Chromium does
//    (constrained baseline, baseline, main, constrained high, high); the
//    level is not part of the match (level-asymmetry-allowed, RFC 6184 §8.1);
//  - VP9: the same profile-id (absent = 0); AV1: the same profile (absent = 0).
#pragma once

#include "proto/sdp/rtp_section.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace duplex::proto::sdp {

/// H.264 profiles as offer/answer tells them apart (ITU-T H.264 Annex A:
/// profile_idc and the constraint_set flags of profile-level-id).
enum class H264Profile { ConstrainedBaseline, Baseline, Main, ConstrainedHigh, High, Other };

/// From the six hex digits of profile-level-id (RFC 6184 §8.1: when it is
/// absent, Baseline level 1 is implied, which is 42000a). nullopt if the
/// value is not six hex digits.
std::optional<H264Profile> h264_profile(std::string_view profile_level_id) noexcept;

/// Whether a local codec can stand for an offered one (see above).
bool codecs_match(const RtpCodec& offered, const RtpCodec& local) noexcept;

/// The codecs of an answer to `offered`, from what we `support` (fmtp and
/// rtcp-fb of our own for each kept codec; RTX kept when `support` lists an
/// "rtx" codec). Empty when nothing matches: the section is then rejected.
std::vector<RtpCodec> negotiate_codecs(const std::vector<RtpCodec>& offered, const std::vector<RtpCodec>& support);

/// The header extensions of an answer: the offered ones whose URI is in
/// `known`, with the offered ids and directions.
std::vector<HeaderExtension> negotiate_extensions(const std::vector<HeaderExtension>& offered,
                                                  const std::vector<std::string_view>& known);

/// The answer's direction (RFC 3264 §6.1): what the offer allows, reversed,
/// narrowed to what we want (send when we have a track, receive when we
/// accept one).
Direction answer_direction(Direction offered, bool want_send, bool want_receive) noexcept;

}  // namespace duplex::proto::sdp
