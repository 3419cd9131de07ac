// JSEP with audio and video sections: our offers, our answers to real
// offers (Chromium, aiortc, the Firefox-shaped one) under a media policy,
// and which section's transport counts.
#include "proto/sdp/codec_negotiation.hpp"
#include "proto/sdp/jsep.hpp"

#include "fixtures.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace sdp = duplex::proto::sdp;
namespace fx = duplex::test::sdp_fixtures;

namespace {

constexpr std::string_view kMidUri = "urn:ietf:params:rtp-hdrext:sdes:mid";

sdp::SessionDescription parse_ok(const std::string& text) {
    auto r = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&r)) ADD_FAILURE() << e->to_string();
    return std::get<sdp::SessionDescription>(std::move(r));
}

sdp::TransportParams local_params() {
    sdp::TransportParams p;
    p.ice_ufrag = "ufrA";
    p.ice_pwd = "abcdefghijklmnopqrstuvwx";
    p.fingerprint =
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    p.candidates = {"candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"};
    return p;
}

sdp::RtpCodec codec(std::uint8_t pt, std::string name, std::uint32_t rate, std::uint8_t channels = 0,
                    std::string fmtp = {}, std::vector<sdp::RtcpFeedback> fb = {}) {
    return sdp::RtpCodec::make(pt, std::move(name), rate, channels, std::move(fmtp), std::move(fb));
}

std::vector<sdp::RtpCodec> support(const std::string& kind) {
    if (kind == "audio") return {codec(111, "opus", 48000, 2, "minptime=10;useinbandfec=1")};
    const std::vector<sdp::RtcpFeedback> fb = {{"nack", ""}, {"nack", "pli"}, {"ccm", "fir"}};
    return {codec(96, "VP8", 90000, 0, "", fb),
            codec(102, "H264", 90000, 0, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", fb),
            codec(97, "rtx", 90000, 0, "apt=96")};
}

// We receive whatever is offered and send nothing (no track yet).
std::optional<sdp::RtpSection> receive_only(const sdp::RtpSection& offered) {
    sdp::RtpSection a;
    a.codecs = sdp::negotiate_codecs(offered.codecs, support(offered.kind));
    a.extensions = sdp::negotiate_extensions(offered.extensions, {kMidUri});
    a.direction = sdp::answer_direction(offered.direction, false, true);
    return a;
}

sdp::RtpSection read_ok(const sdp::Media& m) {
    auto r = sdp::read_rtp_section(m);
    if (auto* e = std::get_if<sdp::RtpSectionError>(&r)) ADD_FAILURE() << e->message;
    return std::get<sdp::RtpSection>(std::move(r));
}

sdp::SessionDescription answer_ok(const sdp::SessionDescription& offer, const sdp::MediaAnswerPolicy& policy) {
    auto r = sdp::create_answer(offer, local_params(), 5, 1, policy);
    if (auto* e = std::get_if<sdp::JsepError>(&r)) ADD_FAILURE() << e->message;
    return parse_ok(sdp::write(std::get<sdp::SessionDescription>(r)));  // what the peer would read
}

}  // namespace

TEST(JsepMedia, OurOfferWithAudioVideoAndData) {
    sdp::RtpSection audio;
    audio.kind = "audio";
    audio.codecs = support("audio");
    audio.extensions = {{1, std::string(kMidUri), std::nullopt, {}}};
    audio.msid_stream = "s";
    audio.msid_track = "a";
    audio.ssrcs = {{1111, "cn", ""}};
    sdp::RtpSection video;
    video.kind = "video";
    video.codecs = support("video");
    video.direction = sdp::Direction::SendOnly;
    video.ssrc_groups = {{"FID", {2222, 3333}}};
    video.ssrcs = {{2222, "cn", ""}, {3333, "cn", ""}};
    const auto offer = parse_ok(sdp::write(sdp::create_offer(local_params(), 9, 2,
                                                               {sdp::OfferSection::media("0", audio),
                                                                sdp::OfferSection::media("1", video),
                                                                sdp::OfferSection::data("2")})));

    EXPECT_EQ(offer.attribute("group"), "BUNDLE 0 1 2");
    ASSERT_EQ(offer.media.size(), 3u);
    for (const auto& m : offer.media) {
        EXPECT_EQ(m.port, 9);
        EXPECT_EQ(m.attribute("ice-ufrag"), "ufrA");
        EXPECT_EQ(m.attribute("setup"), "actpass");
        EXPECT_EQ(m.attributes_named("candidate").size(), 1u);
    }
    EXPECT_EQ(offer.media[0].protocol, "UDP/TLS/RTP/SAVPF");
    const auto a = read_ok(offer.media[0]);
    EXPECT_EQ(a.mid, "0");
    EXPECT_TRUE(a.rtcp_mux);
    EXPECT_TRUE(a.rtcp_reduced_size);
    EXPECT_EQ(a.codecs, audio.codecs);
    EXPECT_EQ(a.extensions, audio.extensions);
    EXPECT_EQ(a.msid_track, "a");
    EXPECT_EQ(a.ssrcs, audio.ssrcs);
    const auto v = read_ok(offer.media[1]);
    EXPECT_EQ(v.mid, "1");
    EXPECT_EQ(v.direction, sdp::Direction::SendOnly);
    EXPECT_EQ(v.codecs, video.codecs);
    EXPECT_EQ(v.rtx_ssrc(), 3333u);
    EXPECT_TRUE(sdp::is_data_channel_section(offer.media[2]));

    auto remote = std::get<sdp::RemoteParams>(sdp::extract_remote(offer));
    EXPECT_EQ(remote.transport_index, 0u);
    EXPECT_EQ(remote.transport_mid, "0");
    EXPECT_TRUE(remote.has_data_channel);
    EXPECT_EQ(remote.media_index, 2u);
    EXPECT_EQ(remote.mid, "2");
    EXPECT_EQ(remote.candidates.size(), 1u);
}

TEST(JsepMedia, AnswerToChromiumAcceptsAudioVideoAndData) {
    const auto offer = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    const auto answer = answer_ok(offer, receive_only);
    EXPECT_EQ(answer.attribute("group"), "BUNDLE 0 1 2");
    ASSERT_EQ(answer.media.size(), 3u);
    const auto a = read_ok(answer.media[0]);
    EXPECT_EQ(a.mid, "0");
    EXPECT_EQ(a.direction, sdp::Direction::RecvOnly);
    ASSERT_EQ(a.codecs.size(), 1u);
    EXPECT_EQ(a.codecs[0].payload_type, 111);
    EXPECT_EQ(a.extensions, (std::vector<sdp::HeaderExtension>{{4, std::string(kMidUri), std::nullopt, {}}}));
    EXPECT_TRUE(a.rtcp_mux);
    EXPECT_TRUE(a.rtcp_reduced_size);  // offered, so answered
    EXPECT_TRUE(a.ssrcs.empty());
    const auto v = read_ok(answer.media[1]);
    std::vector<int> types;
    for (const auto& c : v.codecs) types.push_back(c.payload_type);
    EXPECT_EQ(types, (std::vector<int>{96, 97, 108, 109}));
    for (const auto& m : answer.media) {
        EXPECT_NE(m.port, 0);
        EXPECT_EQ(m.attribute("setup"), "active");
        EXPECT_EQ(m.attribute("ice-ufrag"), "ufrA");
    }
    // The offerer, reading our answer, finds our transport on the tag.
    auto back = std::get<sdp::RemoteParams>(sdp::extract_remote(answer));
    EXPECT_EQ(back.transport_index, 0u);
    EXPECT_EQ(back.ice_ufrag, "ufrA");
    EXPECT_TRUE(back.has_data_channel);
}

TEST(JsepMedia, RejectedVideoLeavesTheGroupAndAMediaOnlyOfferIsAnswerable) {
    auto offer = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    auto no_video = [](const sdp::RtpSection& o) -> std::optional<sdp::RtpSection> {
        if (o.kind == "video") return std::nullopt;
        return receive_only(o);
    };
    const auto answer = answer_ok(offer, no_video);
    EXPECT_EQ(answer.attribute("group"), "BUNDLE 0 2");
    EXPECT_TRUE(answer.media[1].rejected());
    EXPECT_EQ(answer.media[1].attributes.size(), 1u);  // only a=mid (RFC 8843 §7.3.3)

    offer.media.pop_back();  // no data channel any more
    offer.attributes[0].value = "BUNDLE 0 1";
    const auto media_only = answer_ok(offer, receive_only);
    EXPECT_EQ(media_only.attribute("group"), "BUNDLE 0 1");
    auto back = std::get<sdp::RemoteParams>(sdp::extract_remote(media_only));
    EXPECT_FALSE(back.has_data_channel);
    EXPECT_EQ(back.transport_mid, "0");
    // Without a policy, as before: nothing we take.
    auto refused = sdp::create_answer(offer, local_params());
    ASSERT_TRUE(std::holds_alternative<sdp::JsepError>(refused));
    EXPECT_EQ(std::get<sdp::JsepError>(refused).message, "no data channel m-line");
    auto nothing = sdp::create_answer(offer, local_params(), 1, 1,
                                      [](const sdp::RtpSection&) -> std::optional<sdp::RtpSection> { return std::nullopt; });
    ASSERT_TRUE(std::holds_alternative<sdp::JsepError>(nothing));
    EXPECT_NE(std::get<sdp::JsepError>(nothing).message.find("nothing to accept"), std::string::npos);
}

TEST(JsepMedia, TheTransportIsThatOfTheFirstAcceptedSectionOfTheGroup) {
    // aiortc 1.4 gives each section its own ICE credentials: which ones count
    // depends on what the answer accepts.
    const auto offer = parse_ok(fx::read("aiortc_av_offer.sdp"));
    auto all = std::get<sdp::RemoteParams>(sdp::extract_remote(offer));
    EXPECT_EQ(all.transport_index, 0u);
    EXPECT_EQ(all.ice_ufrag, "0vMi");
    auto data_only = std::get<sdp::RemoteParams>(
        sdp::extract_remote(offer, [](std::size_t, const sdp::Media& m) { return sdp::is_data_channel_section(m); }));
    EXPECT_EQ(data_only.transport_index, 2u);
    EXPECT_EQ(data_only.ice_ufrag, "bXS1");
    EXPECT_TRUE(data_only.legacy_sctpmap);
    auto video_first = std::get<sdp::RemoteParams>(
        sdp::extract_remote(offer, [](std::size_t i, const sdp::Media&) { return i != 0; }));
    EXPECT_EQ(video_first.ice_ufrag, "EZ7k");
    EXPECT_EQ(video_first.candidates.size(), 1u);
    EXPECT_NE(video_first.candidates[0].find(" 55878 "), std::string::npos);  // the video section's own

    // Answered with audio and video too: aiortc will use section 0's transport.
    const auto answer = answer_ok(offer, receive_only);
    EXPECT_EQ(answer.attribute("group"), "BUNDLE 0 1 2");
    const auto v = read_ok(answer.media[1]);
    std::vector<int> types;
    for (const auto& c : v.codecs) types.push_back(c.payload_type);
    EXPECT_EQ(types, (std::vector<int>{97, 98, 101, 102}));
    EXPECT_FALSE(v.rtcp_reduced_size);  // aiortc did not offer it
}

TEST(JsepMedia, SectionsWithoutRtcpMuxOrUnreadableAreRejectedNotTheOffer) {
    auto offer = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    auto& audio = offer.media[0].attributes;
    std::erase_if(audio, [](const sdp::Attribute& a) { return a.name == "rtcp-mux"; });
    auto& video = offer.media[1].attributes;
    video.push_back({"extmap", "4 urn:duplicate:id"});  // id 4 twice: unreadable
    const auto answer = answer_ok(offer, receive_only);
    EXPECT_TRUE(answer.media[0].rejected());
    EXPECT_TRUE(answer.media[1].rejected());
    EXPECT_FALSE(answer.media[2].rejected());
    EXPECT_EQ(answer.attribute("group"), "BUNDLE 2");
}

TEST(JsepMedia, FirefoxShapedOfferWithSessionLevelFingerprint) {
    const auto offer = parse_ok(fx::read("firefox_av_dc_offer.sdp"));
    const auto answer = answer_ok(offer, receive_only);
    EXPECT_FALSE(answer.media[0].rejected());
    EXPECT_FALSE(answer.media[1].rejected());
    const auto a = read_ok(answer.media[0]);
    ASSERT_EQ(a.codecs.size(), 1u);
    EXPECT_EQ(a.codecs[0].payload_type, 109);
    EXPECT_EQ(a.extensions.size(), 1u);
    EXPECT_EQ(a.extensions[0].id, 3);
}

TEST(JsepMedia, WithoutABundleGroupOneSectionIsTaken) {
    // One transport: without BUNDLE only the data channels' section (or,
    // without one, the first audio/video section) can be served.
    auto offer = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    std::erase_if(offer.attributes, [](const sdp::Attribute& a) { return a.name == "group"; });
    const auto answer = answer_ok(offer, receive_only);
    EXPECT_TRUE(answer.media[0].rejected());
    EXPECT_TRUE(answer.media[1].rejected());
    EXPECT_FALSE(answer.media[2].rejected());
    EXPECT_FALSE(answer.has_attribute("group"));
    offer.media.pop_back();
    const auto media_only = answer_ok(offer, receive_only);
    EXPECT_FALSE(media_only.media[0].rejected());
    EXPECT_TRUE(media_only.media[1].rejected());
    // And a section outside the group is refused even when others are grouped.
    auto partial = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    partial.attributes[0].value = "BUNDLE 0 2";
    const auto a2 = answer_ok(partial, receive_only);
    EXPECT_FALSE(a2.media[0].rejected());
    EXPECT_TRUE(a2.media[1].rejected());
    EXPECT_EQ(a2.attribute("group"), "BUNDLE 0 2");
}
