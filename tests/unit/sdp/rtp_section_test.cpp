// The RTP view of audio/video m= sections: real offers (Chromium, the
// Firefox-shaped one, aiortc), hand-made edge cases, and write/read round trips.
#include "proto/sdp/rtp_section.hpp"

#include "fixtures.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace sdp = duplex::proto::sdp;
namespace fixtures = duplex::test::sdp_fixtures;

namespace {

sdp::SessionDescription parse_ok(const std::string& text) {
    auto r = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&r)) ADD_FAILURE() << e->to_string();
    return std::get<sdp::SessionDescription>(std::move(r));
}

sdp::RtpSection read_ok(const sdp::Media& m) {
    auto r = sdp::read_rtp_section(m);
    if (auto* e = std::get_if<sdp::RtpSectionError>(&r)) ADD_FAILURE() << e->message;
    return std::get<sdp::RtpSection>(std::move(r));
}

// A one-section description around the given m= line and attributes.
sdp::Media media(const std::string& m_line, const std::string& attributes) {
    auto sd = parse_ok("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + m_line + "\r\n" + attributes);
    return sd.media.at(0);
}

std::string read_error(const sdp::Media& m) {
    auto r = sdp::read_rtp_section(m);
    if (auto* e = std::get_if<sdp::RtpSectionError>(&r)) return e->message;
    return "(read)";
}

}  // namespace

TEST(RtpSection, ChromiumAudioSection) {
    const auto sd = parse_ok(fixtures::read("chromium_av_dc_offer.sdp"));
    const auto s = read_ok(sd.media.at(0));
    EXPECT_EQ(s.kind, "audio");
    EXPECT_EQ(s.mid, "0");
    EXPECT_EQ(s.direction, sdp::Direction::SendRecv);
    EXPECT_TRUE(s.rtcp_mux);
    EXPECT_TRUE(s.rtcp_reduced_size);
    ASSERT_EQ(s.codecs.size(), 8u);
    const auto& opus = s.codecs[0];
    EXPECT_EQ(opus.payload_type, 111);
    EXPECT_EQ(opus.name, "opus");
    EXPECT_EQ(opus.clock_rate, 48000u);
    EXPECT_EQ(opus.channels, 2);
    EXPECT_EQ(opus.parameter("useinbandfec"), "1");
    EXPECT_EQ(opus.parameter("MINPTIME"), "10");  // keys are case-insensitive
    EXPECT_FALSE(opus.parameter("stereo"));
    EXPECT_TRUE(opus.has_feedback("transport-cc"));
    EXPECT_EQ(s.codecs[1].name, "red");
    EXPECT_EQ(s.codecs[3].payload_type, 0);
    EXPECT_EQ(s.codecs[3].name, "PCMU");
    EXPECT_EQ(s.extension_id("urn:ietf:params:rtp-hdrext:ssrc-audio-level"), 1);
    EXPECT_EQ(s.extension_id("urn:ietf:params:rtp-hdrext:sdes:mid"), 4);
    EXPECT_EQ(s.extension_id("urn:example:absent"), 0);
    EXPECT_EQ(s.msid_stream, "32eec8a9-644d-4e8c-92c9-8ae82d490e71");
    EXPECT_EQ(s.msid_track, "085018b5-df9a-47e9-8f09-de7a18a95585");
    ASSERT_EQ(s.ssrcs.size(), 1u);
    EXPECT_EQ(s.ssrcs[0].ssrc, 430885190u);
    EXPECT_EQ(s.ssrcs[0].cname, "fgMcV4ByhWRGsAq4");
    EXPECT_EQ(s.primary_ssrc(), 430885190u);
    EXPECT_FALSE(s.rtx_ssrc());
}

TEST(RtpSection, ChromiumVideoSectionWithRtxAndH264Profiles) {
    const auto sd = parse_ok(fixtures::read("chromium_av_dc_offer.sdp"));
    const auto s = read_ok(sd.media.at(1));
    EXPECT_EQ(s.kind, "video");
    EXPECT_EQ(s.mid, "1");
    ASSERT_EQ(s.codecs.size(), 23u);
    const auto* vp8 = s.codec(96);
    ASSERT_NE(vp8, nullptr);
    EXPECT_EQ(vp8->name, "VP8");
    EXPECT_EQ(vp8->clock_rate, 90000u);
    EXPECT_EQ(vp8->channels, 0);
    EXPECT_TRUE(vp8->has_feedback("nack"));
    EXPECT_TRUE(vp8->has_feedback("nack", "pli"));
    EXPECT_TRUE(vp8->has_feedback("ccm", "fir"));
    EXPECT_FALSE(vp8->has_feedback("ccm", "tmmbr"));
    const auto* rtx = s.codec(97);
    ASSERT_NE(rtx, nullptr);
    EXPECT_TRUE(rtx->is("RTX"));
    EXPECT_EQ(rtx->associated_payload_type(), 96);
    EXPECT_FALSE(vp8->associated_payload_type());  // apt only means something on rtx
    const auto* h264 = s.codec(108);
    ASSERT_NE(h264, nullptr);
    EXPECT_EQ(h264->parameter("profile-level-id"), "42e01f");
    EXPECT_EQ(h264->parameter("packetization-mode"), "1");
    EXPECT_EQ(s.codec(120)->name, "ulpfec");
    EXPECT_EQ(s.extension_id("http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"), 3);
    EXPECT_EQ(s.extensions.size(), 11u);
    ASSERT_EQ(s.ssrc_groups.size(), 1u);
    EXPECT_EQ(s.ssrc_groups[0].semantics, "FID");
    EXPECT_EQ(s.primary_ssrc(), 1381522224u);
    EXPECT_EQ(s.rtx_ssrc(), 2990343643u);
    EXPECT_EQ(s.ssrcs.size(), 2u);
    EXPECT_EQ(s.ssrcs[1].msid, "32eec8a9-644d-4e8c-92c9-8ae82d490e71 6351bf59-913f-47cc-a2f2-cdce2f5a15ae");
}

TEST(RtpSection, FirefoxShapedSectionsExtmapDirectionsAndBracedIds) {
    const auto sd = parse_ok(fixtures::read("firefox_av_dc_offer.sdp"));
    const auto audio = read_ok(sd.media.at(0));
    ASSERT_EQ(audio.codecs.size(), 5u);
    EXPECT_EQ(audio.codecs[0].name, "opus");
    EXPECT_EQ(audio.codecs[0].parameter("stereo"), "1");
    EXPECT_EQ(audio.codecs[1].channels, 1);  // G722/8000/1: written, kept
    EXPECT_EQ(audio.codecs[4].name, "telephone-event");
    EXPECT_EQ(audio.codecs[4].format_parameters, "0-15");  // not key=value: kept verbatim
    ASSERT_EQ(audio.extensions.size(), 3u);
    EXPECT_EQ(audio.extensions[1].direction, sdp::Direction::RecvOnly);
    EXPECT_FALSE(audio.extensions[0].direction);
    EXPECT_EQ(audio.msid_stream, "{3f2a9c41-7d6e-4b8a-9e05-c1d2b3a4f5e6}");

    const auto video = read_ok(sd.media.at(1));
    ASSERT_EQ(video.codecs.size(), 8u);
    EXPECT_EQ(video.codec(124)->associated_payload_type(), 120);
    EXPECT_EQ(video.codec(97)->parameter("packetization-mode"), std::nullopt);  // mode 0 by default
    EXPECT_EQ(video.primary_ssrc(), 2233445566u);
    EXPECT_EQ(video.rtx_ssrc(), 3344556677u);
}

TEST(RtpSection, NotForTheDataSectionOrOtherProtocols) {
    const auto sd = parse_ok(fixtures::read("chromium_av_dc_offer.sdp"));
    EXPECT_FALSE(sdp::is_rtp_section(sd.media.at(2)));
    EXPECT_NE(read_error(sd.media.at(2)).find("not an RTP"), std::string::npos);
    EXPECT_FALSE(sdp::is_rtp_section(media("m=audio 9 UDP/BFCP 1", "")));
    EXPECT_TRUE(sdp::is_rtp_section(media("m=video 9 RTP/AVP 96", "")));
    EXPECT_TRUE(sdp::is_rtp_section(media("m=video 9 TCP/TLS/RTP/SAVPF 96", "")));
}

TEST(RtpSection, StaticTypesWithoutRtpmapAreKnownOthersAreDropped) {
    const auto s = read_ok(media("m=audio 9 UDP/TLS/RTP/SAVPF 0 8 100 101 9", "a=rtpmap:101 opus/48000/2\r\n"));
    ASSERT_EQ(s.codecs.size(), 4u);  // 100 has no rtpmap and no static meaning
    EXPECT_EQ(s.codecs[0].name, "PCMU");
    EXPECT_EQ(s.codecs[0].clock_rate, 8000u);
    EXPECT_EQ(s.codecs[1].name, "PCMA");
    EXPECT_EQ(s.codecs[2].name, "opus");
    EXPECT_EQ(s.codecs[3].name, "G722");
}

TEST(RtpSection, TypesThatLookLikeRtcpUnderMuxAreSkipped) {
    // RFC 5761 §4: 72 with the marker bit set is RTCP's 200 (SR).
    const auto s = read_ok(media("m=video 9 UDP/TLS/RTP/SAVPF 72 96 95 64",
                                "a=rtpmap:72 VP8/90000\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:95 H264/90000\r\n"
                                "a=rtpmap:64 VP9/90000\r\n"));
    ASSERT_EQ(s.codecs.size(), 1u);
    EXPECT_EQ(s.codecs[0].payload_type, 96);
}

TEST(RtpSection, WildcardFeedbackAppliesToEveryType) {
    const auto s = read_ok(media("m=video 9 UDP/TLS/RTP/SAVPF 96 97",
                                "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 H264/90000\r\na=rtcp-fb:* nack\r\n"
                                "a=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 nack\r\n"));
    EXPECT_TRUE(s.codec(96)->has_feedback("nack"));
    EXPECT_TRUE(s.codec(96)->has_feedback("nack", "pli"));
    EXPECT_EQ(s.codec(96)->feedback.size(), 2u);  // "nack" once, though said twice
    EXPECT_TRUE(s.codec(97)->has_feedback("nack"));
    EXPECT_FALSE(s.codec(97)->has_feedback("nack", "pli"));
}

TEST(RtpSection, DirectionsAndAttributesForUnlistedTypes) {
    for (auto [attr, want] : {std::pair{"a=sendonly\r\n", sdp::Direction::SendOnly},
                              std::pair{"a=recvonly\r\n", sdp::Direction::RecvOnly},
                              std::pair{"a=inactive\r\n", sdp::Direction::Inactive},
                              std::pair{"", sdp::Direction::SendRecv}}) {
        const auto s = read_ok(media("m=audio 9 UDP/TLS/RTP/SAVPF 111",
                                    std::string("a=rtpmap:111 opus/48000/2\r\na=rtpmap:112 opus/48000/2\r\n"
                                                "a=fmtp:113 x=1\r\n") + attr));
        EXPECT_EQ(s.direction, want) << attr;
        EXPECT_EQ(s.codecs.size(), 1u);
    }
    EXPECT_EQ(sdp::reverse(sdp::Direction::SendOnly), sdp::Direction::RecvOnly);
    EXPECT_EQ(sdp::reverse(sdp::Direction::RecvOnly), sdp::Direction::SendOnly);
    EXPECT_EQ(sdp::reverse(sdp::Direction::Inactive), sdp::Direction::Inactive);
    EXPECT_EQ(sdp::make_direction(true, false), sdp::Direction::SendOnly);
    EXPECT_EQ(sdp::make_direction(false, false), sdp::Direction::Inactive);
}

TEST(RtpSection, MistakesThatWouldMisrouteMediaAreErrors) {
    const std::string m = "m=video 9 UDP/TLS/RTP/SAVPF 96";
    EXPECT_NE(read_error(media("m=video 9 UDP/TLS/RTP/SAVPF 96 x", "")).find("not a payload type"), std::string::npos);
    EXPECT_NE(read_error(media("m=video 9 UDP/TLS/RTP/SAVPF 128", "")).find("not a payload type"), std::string::npos);
    EXPECT_NE(read_error(media(m, "a=rtpmap:96 VP8/90000\r\na=rtpmap:96 H264/90000\r\n")).find("two a=rtpmap"),
              std::string::npos);
    for (const char* bad : {"a=rtpmap:96 VP8\r\n", "a=rtpmap:96 VP8/0\r\n", "a=rtpmap:96 /90000\r\n",
                            "a=rtpmap:96 VP8/90000/0\r\n", "a=rtpmap:200 VP8/90000\r\n", "a=rtpmap:96 VP8/x\r\n"})
        EXPECT_NE(read_error(media(m, bad)).find("bad a=rtpmap"), std::string::npos) << bad;
    EXPECT_NE(read_error(media(m, "a=extmap:1 urn:a\r\na=extmap:1 urn:b\r\n")).find("used twice"), std::string::npos);
    for (const char* bad : {"a=extmap:0 urn:a\r\n", "a=extmap:256 urn:a\r\n", "a=extmap:1\r\n",
                            "a=extmap:1/sideways urn:a\r\n"})
        EXPECT_FALSE(read_error(media(m, bad)).empty()) << bad;
    EXPECT_NE(read_error(media(m, "a=ssrc:4294967296 cname:x\r\n")).find("bad a=ssrc"), std::string::npos);
    EXPECT_NE(read_error(media(m, "a=ssrc-group:FID 1 x\r\n")).find("bad SSRC"), std::string::npos);
    EXPECT_NE(read_error(media(m, "a=ssrc-group:FID\r\n")).find("bad a=ssrc-group"), std::string::npos);
    EXPECT_NE(read_error(media(m, "a=msid:\r\n")).find("bad a=msid"), std::string::npos);
}

TEST(RtpSection, CountsAreBounded) {
    std::string formats, maps, ssrcs, ext;
    for (int pt = 0; pt < 64; ++pt) formats += " " + std::to_string(pt);
    for (int pt = 96; pt < 128; ++pt) formats += " " + std::to_string(pt);
    sdp::RtpSectionLimits limits;
    limits.max_codecs = 10;
    auto r = sdp::read_rtp_section(media("m=video 9 UDP/TLS/RTP/SAVPF" + formats, ""), limits);
    ASSERT_TRUE(std::holds_alternative<sdp::RtpSectionError>(r));
    EXPECT_NE(std::get<sdp::RtpSectionError>(r).message.find("more than 10 payload types"), std::string::npos);

    for (int i = 1; i <= 17; ++i) ssrcs += "a=ssrc:" + std::to_string(i) + " cname:x\r\n";
    EXPECT_NE(read_error(media("m=video 9 UDP/TLS/RTP/SAVPF 96", ssrcs)).find("more than 16 SSRCs"), std::string::npos);
    for (int i = 1; i <= 33; ++i) ext += "a=extmap:" + std::to_string(i) + " urn:x:" + std::to_string(i) + "\r\n";
    EXPECT_NE(read_error(media("m=video 9 UDP/TLS/RTP/SAVPF 96", ext)).find("more than 32 a=extmap"), std::string::npos);
    std::string fb = "a=rtpmap:96 VP8/90000\r\n";
    for (int i = 0; i < 17; ++i) fb += "a=rtcp-fb:96 x" + std::to_string(i) + "\r\n";
    EXPECT_NE(read_error(media("m=video 9 UDP/TLS/RTP/SAVPF 96", fb)).find("more than 16 a=rtcp-fb"), std::string::npos);
}

TEST(RtpSection, WrittenSectionsReadBackTheSame) {
    for (const char* name : {"chromium_av_dc_offer.sdp", "firefox_av_dc_offer.sdp", "aiortc_av_offer.sdp"}) {
        const auto sd = parse_ok(fixtures::read(name));
        int sections = 0;
        for (const auto& m : sd.media) {
            if (!sdp::is_rtp_section(m)) continue;
            ++sections;
            const auto s = read_ok(m);
            sdp::Media out;
            out.port = 9;
            out.protocol = m.protocol;
            sdp::write_rtp_section(s, out);
            // Through the text too: the attributes must survive write and parse.
            sdp::SessionDescription wrapper;
            wrapper.media.push_back(out);
            const auto again = parse_ok(sdp::write(wrapper));
            EXPECT_EQ(read_ok(again.media.at(0)), s) << name << " mid " << s.mid;
        }
        EXPECT_EQ(sections, 2) << name;
    }
}
