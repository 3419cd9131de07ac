// proto/sdp/codec_negotiation.cpp: see codec_negotiation.hpp.
#include "proto/sdp/codec_negotiation.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>

namespace duplex::proto::sdp {

namespace {

std::optional<unsigned> hex_byte(std::string_view two) noexcept {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(two.data(), two.data() + two.size(), v, 16);
    if (ec != std::errc{} || end != two.data() + two.size()) return std::nullopt;
    return v;
}

unsigned decimal_or(std::optional<std::string_view> s, unsigned fallback) noexcept {
    if (!s) return fallback;
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || end != s->data() + s->size()) return fallback;
    return v;
}

unsigned channels(const RtpCodec& c) noexcept { return c.channels == 0 ? 1 : c.channels; }

}  // namespace

std::optional<H264Profile> h264_profile(std::string_view id) noexcept {
    if (id.size() != 6) return std::nullopt;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return std::nullopt;
    const unsigned profile_idc = *hex_byte(id.substr(0, 2));
    const unsigned iop = *hex_byte(id.substr(2, 2));  // constraint_set0_flag is its top bit
    const bool cs0 = iop & 0x80, cs1 = iop & 0x40, cs4 = iop & 0x08, cs5 = iop & 0x04;
    // H.264 Annex A.2: a stream that obeys constraint_set1 obeys the Main
    // profile's limits too, which for Baseline/Extended makes it Constrained
    // Baseline (A.2.1.1); High with constraint_set4 and 5 is Constrained High.
    switch (profile_idc) {
    case 0x42: return cs1 ? H264Profile::ConstrainedBaseline : H264Profile::Baseline;
    case 0x4D: return cs0 ? H264Profile::ConstrainedBaseline : H264Profile::Main;
    case 0x58:
        if (cs0 && cs1) return H264Profile::ConstrainedBaseline;
        return cs0 ? H264Profile::Baseline : H264Profile::Other;
    case 0x64:
        return cs4 && cs5 ? H264Profile::ConstrainedHigh : H264Profile::High;
    default: return H264Profile::Other;
    }
}

bool codecs_match(const RtpCodec& offered, const RtpCodec& local) noexcept {
    if (!offered.is(local.name) || offered.clock_rate != local.clock_rate || channels(offered) != channels(local))
        return false;
    if (offered.is("H264")) {
        if (decimal_or(offered.parameter("packetization-mode"), 0) != decimal_or(local.parameter("packetization-mode"), 0))
            return false;
        const auto a = h264_profile(offered.parameter("profile-level-id").value_or("42000a"));
        const auto b = h264_profile(local.parameter("profile-level-id").value_or("42000a"));
        return a && b && *a == *b && *a != H264Profile::Other;
    }
    if (offered.is("VP9"))
        return decimal_or(offered.parameter("profile-id"), 0) == decimal_or(local.parameter("profile-id"), 0);
    if (offered.is("AV1")) return decimal_or(offered.parameter("profile"), 0) == decimal_or(local.parameter("profile"), 0);
    return true;
}

std::vector<RtpCodec> negotiate_codecs(const std::vector<RtpCodec>& offered, const std::vector<RtpCodec>& support) {
    const auto local_rtx = std::find_if(support.begin(), support.end(), [](const RtpCodec& c) { return c.is("rtx"); });
    std::vector<RtpCodec> kept;
    std::vector<std::uint8_t> kept_types;
    for (const auto& o : offered) {
        if (o.is("rtx")) continue;
        auto local = std::find_if(support.begin(), support.end(), [&](const RtpCodec& l) { return !l.is("rtx") && codecs_match(o, l); });
        if (local == support.end()) continue;
        kept_types.push_back(o.payload_type);
    }
    for (const auto& o : offered) {
        if (o.is("rtx")) {
            const auto apt = o.associated_payload_type();
            if (local_rtx == support.end() || !apt ||
                std::find(kept_types.begin(), kept_types.end(), *apt) == kept_types.end())
                continue;
            RtpCodec c = o;
            c.format_parameters = "apt=" + std::to_string(*apt);
            c.feedback.clear();
            kept.push_back(std::move(c));
            continue;
        }
        if (std::find(kept_types.begin(), kept_types.end(), o.payload_type) == kept_types.end()) continue;
        const auto& local =
            *std::find_if(support.begin(), support.end(), [&](const RtpCodec& l) { return !l.is("rtx") && codecs_match(o, l); });
        RtpCodec c;
        c.payload_type = o.payload_type;
        c.name = o.name;
        c.clock_rate = o.clock_rate;
        c.channels = o.channels;
        // Our own format parameters: they say what we receive. For H.264 the
        // profile matched and the level is each side's own (level-asymmetry).
        c.format_parameters = local.format_parameters;
        for (const auto& fb : o.feedback)
            if (local.has_feedback(fb.type, fb.parameter)) c.feedback.push_back(fb);
        kept.push_back(std::move(c));
    }
    return kept;
}

std::vector<HeaderExtension> negotiate_extensions(const std::vector<HeaderExtension>& offered,
                                                  const std::vector<std::string_view>& known) {
    std::vector<HeaderExtension> kept;
    for (const auto& e : offered)
        if (std::find(known.begin(), known.end(), e.uri) != known.end()) kept.push_back(HeaderExtension{e.id, e.uri, e.direction, {}});
    return kept;
}

Direction answer_direction(Direction offered, bool want_send, bool want_receive) noexcept {
    // They send what they offered as send; we may receive only that, and
    // send only what they are ready to receive.
    return make_direction(want_send && receives(offered), want_receive && sends(offered));
}

}  // namespace duplex::proto::sdp
