// Which codecs, extensions and direction an answer keeps: against the real
// offers of tests/fixtures/sdp/ and hand-made cases for each rule.
#include "proto/sdp/codec_negotiation.hpp"

#include "fixtures.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace sdp = duplex::proto::sdp;
namespace fixtures = duplex::test::sdp_fixtures;

namespace {

sdp::RtpCodec codec(std::uint8_t pt, std::string name, std::uint32_t rate, std::uint8_t channels = 0,
                    std::string fmtp = {}, std::vector<sdp::RtcpFeedback> fb = {}) {
    return sdp::RtpCodec::make(pt, std::move(name), rate, channels, std::move(fmtp), std::move(fb));
}

// What a peer that sends and receives VP8 and constrained-baseline H.264
// mode 1, with NACK, PLI and FIR but no REMB or transport-cc, supports.
std::vector<sdp::RtpCodec> our_video() {
    const std::vector<sdp::RtcpFeedback> fb = {{"nack", ""}, {"nack", "pli"}, {"ccm", "fir"}};
    return {codec(96, "VP8", 90000, 0, "", fb),
            codec(102, "H264", 90000, 0, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", fb),
            codec(97, "rtx", 90000, 0, "apt=96")};
}

std::vector<sdp::RtpCodec> our_audio() {
    return {codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")};
}

sdp::RtpSection section(const std::string& fixture, std::size_t index) {
    auto parsed = sdp::parse(fixtures::read(fixture));
    auto& sd = std::get<sdp::SessionDescription>(parsed);
    return std::get<sdp::RtpSection>(sdp::read_rtp_section(sd.media.at(index)));
}

std::vector<int> types(const std::vector<sdp::RtpCodec>& codecs) {
    std::vector<int> out;
    for (const auto& c : codecs) out.push_back(c.payload_type);
    return out;
}

}  // namespace

TEST(H264Profile, FromProfileLevelId) {
    using P = sdp::H264Profile;
    EXPECT_EQ(sdp::h264_profile("42e01f"), P::ConstrainedBaseline);  // constraint_set0+1
    EXPECT_EQ(sdp::h264_profile("42c01f"), P::ConstrainedBaseline);
    EXPECT_EQ(sdp::h264_profile("42001f"), P::Baseline);
    EXPECT_EQ(sdp::h264_profile("42000a"), P::Baseline);
    EXPECT_EQ(sdp::h264_profile("4d001f"), P::Main);
    EXPECT_EQ(sdp::h264_profile("4d801f"), P::ConstrainedBaseline);  // Main obeying Baseline
    EXPECT_EQ(sdp::h264_profile("58c01f"), P::ConstrainedBaseline);
    EXPECT_EQ(sdp::h264_profile("58801f"), P::Baseline);
    EXPECT_EQ(sdp::h264_profile("640c1f"), P::ConstrainedHigh);
    EXPECT_EQ(sdp::h264_profile("64001f"), P::High);
    EXPECT_EQ(sdp::h264_profile("f4001f"), P::Other);
    EXPECT_EQ(sdp::h264_profile("42E01F"), P::ConstrainedBaseline);
    EXPECT_FALSE(sdp::h264_profile("42e01"));
    EXPECT_FALSE(sdp::h264_profile("42e01g"));
    EXPECT_FALSE(sdp::h264_profile(""));
}

TEST(CodecMatch, NameRateChannelsAndPerCodecRules) {
    EXPECT_TRUE(sdp::codecs_match(codec(111, "OPUS", 48000, 2), codec(100, "opus", 48000, 2)));
    EXPECT_FALSE(sdp::codecs_match(codec(111, "opus", 48000, 1), codec(100, "opus", 48000, 2)));
    EXPECT_FALSE(sdp::codecs_match(codec(111, "opus", 16000, 2), codec(100, "opus", 48000, 2)));
    EXPECT_TRUE(sdp::codecs_match(codec(0, "PCMU", 8000, 1), codec(0, "PCMU", 8000, 0)));  // absent = 1
    const auto cb1 = codec(1, "H264", 90000, 0, "packetization-mode=1;profile-level-id=42e01f");
    EXPECT_TRUE(sdp::codecs_match(codec(2, "H264", 90000, 0, "profile-level-id=42e034;packetization-mode=1"), cb1))
        << "the level is not part of the match";
    EXPECT_TRUE(sdp::codecs_match(codec(2, "H264", 90000, 0, "profile-level-id=4d801f;packetization-mode=1"), cb1))
        << "two spellings of constrained baseline";
    EXPECT_FALSE(sdp::codecs_match(codec(2, "H264", 90000, 0, "profile-level-id=42e01f"), cb1)) << "mode 0 vs 1";
    EXPECT_FALSE(sdp::codecs_match(codec(2, "H264", 90000, 0, "profile-level-id=4d001f;packetization-mode=1"), cb1));
    EXPECT_FALSE(sdp::codecs_match(codec(2, "H264", 90000, 0, "profile-level-id=zz;packetization-mode=1"), cb1));
    EXPECT_TRUE(sdp::codecs_match(codec(2, "VP9", 90000, 0, "profile-id=0"), codec(3, "VP9", 90000)));
    EXPECT_FALSE(sdp::codecs_match(codec(2, "VP9", 90000, 0, "profile-id=2"), codec(3, "VP9", 90000)));
    EXPECT_FALSE(sdp::codecs_match(codec(2, "AV1", 90000, 0, "profile=1"), codec(3, "AV1", 90000)));
}

TEST(NegotiateCodecs, ChromiumVideoOfferKeepsItsOrderTypesAndRtx) {
    const auto offer = section("chromium_av_dc_offer.sdp", 1);
    const auto kept = sdp::negotiate_codecs(offer.codecs, our_video());
    // VP8 96 + rtx 97; H.264 42e01f mode 1 is 108 + rtx 109 (102 is baseline
    // 42001f, 104/114 are mode 0); everything else goes.
    EXPECT_EQ(types(kept), (std::vector<int>{96, 97, 108, 109}));
    EXPECT_EQ(kept[0].name, "VP8");
    // The feedback both list, in the offer's order: not goog-remb nor transport-cc.
    EXPECT_EQ(kept[0].feedback, (std::vector<sdp::RtcpFeedback>{{"ccm", "fir"}, {"nack", ""}, {"nack", "pli"}}));
    EXPECT_EQ(kept[1].format_parameters, "apt=96");
    EXPECT_TRUE(kept[1].feedback.empty());
    EXPECT_EQ(kept[2].parameter("profile-level-id"), "42e01f");
    EXPECT_EQ(kept[3].associated_payload_type(), 108);
}

TEST(NegotiateCodecs, FirefoxVideoOfferAndAudioOffers) {
    const auto video = section("firefox_av_dc_offer.sdp", 1);
    EXPECT_EQ(types(sdp::negotiate_codecs(video.codecs, our_video())), (std::vector<int>{120, 124, 126, 127}));
    const auto audio = section("firefox_av_dc_offer.sdp", 0);
    const auto kept = sdp::negotiate_codecs(audio.codecs, our_audio());
    EXPECT_EQ(types(kept), (std::vector<int>{109}));
    EXPECT_EQ(kept[0].format_parameters, "minptime=10;useinbandfec=1");  // ours: what we receive
    EXPECT_EQ(types(sdp::negotiate_codecs(section("chromium_av_dc_offer.sdp", 0).codecs, our_audio())),
              (std::vector<int>{111}));
    EXPECT_EQ(types(sdp::negotiate_codecs(section("aiortc_av_offer.sdp", 1).codecs, our_video())).size(), 4u);
}

TEST(NegotiateCodecs, RtxOnlyWithItsCodecAndOnlyIfWeDoRtx) {
    const std::vector<sdp::RtpCodec> offered = {codec(100, "rtx", 90000, 0, "apt=101"), codec(101, "VP8", 90000),
                                                codec(102, "rtx", 90000, 0, "apt=103"), codec(103, "VP9", 90000),
                                                codec(104, "rtx", 90000)};
    EXPECT_EQ(types(sdp::negotiate_codecs(offered, our_video())), (std::vector<int>{100, 101}));
    EXPECT_EQ(types(sdp::negotiate_codecs(offered, {codec(96, "VP8", 90000)})), (std::vector<int>{101}));
    EXPECT_TRUE(sdp::negotiate_codecs(offered, our_audio()).empty());
}

TEST(NegotiateExtensions, KnownUrisWithTheOfferedIds) {
    const auto offer = section("chromium_av_dc_offer.sdp", 1);
    const auto kept = sdp::negotiate_extensions(
        offer.extensions, {"urn:ietf:params:rtp-hdrext:sdes:mid", "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                           "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"});
    ASSERT_EQ(kept.size(), 3u);
    EXPECT_EQ(kept[0].id, 2);  // abs-send-time, in the offer's order
    EXPECT_EQ(kept[1].id, 3);
    EXPECT_EQ(kept[2].id, 4);
    EXPECT_EQ(kept[2].uri, "urn:ietf:params:rtp-hdrext:sdes:mid");
}

TEST(AnswerDirection, Rfc3264Table) {
    using D = sdp::Direction;
    // offered, want send, want receive -> answer
    EXPECT_EQ(sdp::answer_direction(D::SendRecv, true, true), D::SendRecv);
    EXPECT_EQ(sdp::answer_direction(D::SendRecv, false, true), D::RecvOnly);
    EXPECT_EQ(sdp::answer_direction(D::SendRecv, true, false), D::SendOnly);
    EXPECT_EQ(sdp::answer_direction(D::SendOnly, true, true), D::RecvOnly);
    EXPECT_EQ(sdp::answer_direction(D::SendOnly, true, false), D::Inactive);
    EXPECT_EQ(sdp::answer_direction(D::RecvOnly, true, true), D::SendOnly);
    EXPECT_EQ(sdp::answer_direction(D::RecvOnly, false, true), D::Inactive);
    EXPECT_EQ(sdp::answer_direction(D::Inactive, true, true), D::Inactive);
}
