// libFuzzer target: the SDP parser (RFC 8866), then, on whatever parses, the
// writer (its output must parse again to the same text), extract_remote and
// create_answer (whose output must parse too), and for each audio/video
// section the RTP reader (what it reads, written and read again, must be the
// same) and the codec negotiation. Must never crash, hang, or read out of
// bounds.
#include "proto/sdp/codec_negotiation.hpp"
#include "proto/sdp/jsep.hpp"
#include "proto/sdp/rtp_section.hpp"
#include "proto/sdp/session_description.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace sdp = duplex::proto::sdp;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = sdp::parse(text);
    auto* sd = std::get_if<sdp::SessionDescription>(&parsed);
    if (sd == nullptr) {
        (void)std::get<sdp::ParseError>(parsed).to_string();
        return 0;
    }

    // write(parse(x)) is a fixed point: parsing it again gives the same text.
    const std::string written = sdp::write(*sd);
    auto again = sdp::parse(written);
    auto* sd2 = std::get_if<sdp::SessionDescription>(&again);
    if (sd2 == nullptr || sdp::write(*sd2) != written) __builtin_trap();

    (void)sdp::extract_remote(*sd);

    for (const auto& m : sd->media) {
        auto read = sdp::read_rtp_section(m);
        auto* section = std::get_if<sdp::RtpSection>(&read);
        if (section == nullptr) continue;
        sdp::Media out;
        out.port = 9;
        out.protocol = m.protocol;
        sdp::write_rtp_section(*section, out);
        auto reread = sdp::read_rtp_section(out);
        auto* section2 = std::get_if<sdp::RtpSection>(&reread);
        if (section2 == nullptr || !(*section2 == *section)) __builtin_trap();
        sdp::RtpCodec vp8;
        vp8.name = "VP8";
        vp8.clock_rate = 90000;
        sdp::RtpCodec h264 = vp8;
        h264.name = "H264";
        h264.format_parameters = "packetization-mode=1;profile-level-id=42e01f";
        sdp::RtpCodec rtx = vp8;
        rtx.name = "rtx";
        const auto kept = sdp::negotiate_codecs(section->codecs, {vp8, h264, rtx});
        if (kept.size() > section->codecs.size()) __builtin_trap();
        (void)sdp::negotiate_extensions(section->extensions, {"urn:ietf:params:rtp-hdrext:sdes:mid"});
    }

    // An answer that takes every audio/video section it can.
    const auto take_all = [](const sdp::RtpSection& offered) -> std::optional<sdp::RtpSection> {
        sdp::RtpCodec opus;
        opus.name = "opus";
        opus.clock_rate = 48000;
        opus.channels = 2;
        sdp::RtpCodec vp8;
        vp8.name = "VP8";
        vp8.clock_rate = 90000;
        sdp::RtpSection a;
        a.codecs = sdp::negotiate_codecs(offered.codecs, {opus, vp8});
        a.direction = sdp::answer_direction(offered.direction, true, true);
        a.ssrcs = {{1, "fuzz", {}}};
        return a;
    };

    sdp::TransportParams local;
    local.ice_ufrag = "fuzz";
    local.ice_pwd = "abcdefghijklmnopqrstuv";
    local.fingerprint =
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    local.candidates = {"candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"};
    for (bool with_media : {false, true}) {
        auto answer = with_media ? sdp::create_answer(*sd, local, 1, 1, take_all) : sdp::create_answer(*sd, local);
        auto* a = std::get_if<sdp::SessionDescription>(&answer);
        if (a == nullptr) continue;
        if (a->media.size() != sd->media.size()) __builtin_trap();
        auto reparsed = sdp::parse(sdp::write(*a));
        if (!std::holds_alternative<sdp::SessionDescription>(reparsed)) __builtin_trap();
        const auto& answer_sd = std::get<sdp::SessionDescription>(reparsed);
        if (std::holds_alternative<sdp::JsepError>(sdp::extract_remote(answer_sd))) __builtin_trap();
        for (const auto& m : answer_sd.media)  // every section we accepted reads back
            if (sdp::is_rtp_section(m) && !m.rejected() &&
                !std::holds_alternative<sdp::RtpSection>(sdp::read_rtp_section(m)))
                __builtin_trap();
    }
    return 0;
}
