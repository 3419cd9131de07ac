// JSEP offer/answer for data channels (RFC 8829, 8841, 8839, 8843, 8122/8842)
// against real peers' offers and answers.
#include "proto/sdp/jsep.hpp"

#include "unit/sdp/fixtures.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <variant>

namespace sdp = duplex::proto::sdp;
namespace fx = duplex::test::sdp_fixtures;

namespace {

sdp::SessionDescription parse_ok(const std::string& text) {
    auto r = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&r)) {
        ADD_FAILURE() << e->to_string();
        return {};
    }
    return std::get<sdp::SessionDescription>(std::move(r));
}

sdp::RemoteParams remote_ok(const sdp::SessionDescription& sd) {
    auto r = sdp::extract_remote(sd);
    if (auto* e = std::get_if<sdp::JsepError>(&r)) {
        ADD_FAILURE() << e->message;
        return {};
    }
    return std::get<sdp::RemoteParams>(std::move(r));
}

std::string remote_error(const std::string& text) {
    auto r = sdp::extract_remote(parse_ok(text));
    if (auto* e = std::get_if<sdp::JsepError>(&r)) return e->message;
    ADD_FAILURE() << "extract_remote accepted:\n" << text;
    return {};
}

sdp::TransportParams local_params() {
    sdp::TransportParams p;
    p.ice_ufrag = "dUpX";
    p.ice_pwd = "0123456789abcdefABCDEF+/";
    p.fingerprint = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    p.candidates = {"candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
                    "candidate:2 1 udp 1694498815 127.0.0.2 40001 typ srflx raddr 127.0.0.1 rport 40000"};
    p.max_message_size = 262144;
    return p;
}

std::string crlf(const std::string& lf_text) {
    std::string out;
    for (char c : lf_text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// A small data-channel offer to vary one attribute at a time.
std::string offer_text(const std::string& extra_session, const std::string& media_attrs) {
    return crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE 0\n" + extra_session +
                "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n" + media_attrs);
}

const std::string kIce = "a=ice-ufrag:abcd\na=ice-pwd:abcdefghijklmnopqrstuv\n";
const std::string kFp =
    "a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n";

}  // namespace

// ------------------------------------------------ extract_remote on fixtures

struct Expected {
    const char* file;
    std::size_t media_index;
    const char* mid;
    const char* ufrag;
    const char* pwd;
    const char* fingerprint_prefix;  // the first bytes, checked with the full length
    sdp::Setup setup;
    bool trickle;
    std::size_t candidates;
    bool end_of_candidates;
    std::uint16_t sctp_port;
    std::uint32_t max_message_size;
    bool legacy;
};

class RemoteFixture : public ::testing::TestWithParam<Expected> {};

TEST_P(RemoteFixture, ExtractsTheFixturesTransport) {
    const Expected& x = GetParam();
    const auto r = remote_ok(parse_ok(fx::read(x.file)));
    EXPECT_EQ(r.media_index, x.media_index);
    EXPECT_EQ(r.mid, x.mid);
    EXPECT_EQ(r.ice_ufrag, x.ufrag);
    EXPECT_EQ(r.ice_pwd, x.pwd);
    EXPECT_EQ(r.fingerprint_algorithm, "sha-256");
    EXPECT_EQ(r.fingerprint.size(), 95u);
    EXPECT_EQ(r.fingerprint.rfind(x.fingerprint_prefix, 0), 0u) << r.fingerprint;
    EXPECT_EQ(r.setup, x.setup);
    EXPECT_EQ(r.trickle, x.trickle);
    EXPECT_EQ(r.candidates.size(), x.candidates);
    for (const auto& c : r.candidates) EXPECT_EQ(c.rfind("candidate:", 0), 0u) << c;
    EXPECT_EQ(r.end_of_candidates, x.end_of_candidates);
    EXPECT_EQ(r.sctp_port, x.sctp_port);
    EXPECT_EQ(r.max_message_size, x.max_message_size);
    EXPECT_EQ(r.legacy_sctpmap, x.legacy);
    EXPECT_FALSE(r.ice_lite);
}

// Values read off the fixture texts in tests/fixtures/sdp/.
INSTANTIATE_TEST_SUITE_P(
    Fixtures, RemoteFixture,
    ::testing::Values(
        Expected{"chromium_dc_offer.sdp", 0, "0", "OUZV", "Swn4V3SH83dPuRSCfHRA1tcp", "B6:FA:3C:7D",
                 sdp::Setup::ActPass, true, 2, false, 5000, 262144, false},
        Expected{"chromium_av_dc_offer.sdp", 2, "2", "vThV", "eXPkd7I0vS5BsiIoJOvLuqN4", "C2:40:F2:EC",
                 sdp::Setup::ActPass, true, 2, false, 5000, 262144, false},
        Expected{"chromium_dc_answer.sdp", 0, "0", "dtiy", "3qv1dRuzyk4/Hs04IAKxqxVn", "36:A2:D6:08",
                 sdp::Setup::Active, true, 1, false, 5000, 262144, false},
        Expected{"aiortc_dc_offer.sdp", 0, "0", "Xejw", "Kb4CZFNAH2HDLeqbmQNcP4", "53:0D:BD:7E",
                 sdp::Setup::ActPass, false, 1, true, 5000, 65536, true},
        Expected{"aiortc_dc_answer.sdp", 0, "0", "XvBV", "mnbh5etI1FSyApao55fUyt", "73:82:BC:8E",
                 sdp::Setup::Active, false, 1, true, 5000, 65536, false},
        Expected{"firefox_av_dc_offer.sdp", 2, "2", "5a7c9e1b", "9c1e7b2d4f6a8c0e1b3d5f7a9c2e4b6d",
                 "4E:61:2B:0F", sdp::Setup::ActPass, true, 2, true, 5000, 1073741823, false}),
    [](const auto& param_info) {
        std::string n = param_info.param.file;
        return n.substr(0, n.find('.'));
    });

TEST(ExtractRemote, CandidatesAreTheFixturesOwnLines) {
    const std::string text = fx::read("chromium_dc_offer.sdp");
    const auto r = remote_ok(parse_ok(text));
    ASSERT_EQ(r.candidates.size(), 2u);
    for (const auto& c : r.candidates) EXPECT_NE(text.find("a=" + c + "\r\n"), std::string::npos) << c;
    EXPECT_NE(r.candidates[1].find("tcptype active"), std::string::npos);
}

// ------------------------------------------------- create_answer on offers

class AnswerFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(AnswerFixture, AcceptsTheDataSectionAndRejectsTheRest) {
    const auto offer = parse_ok(fx::read(GetParam()));
    const auto offered = remote_ok(offer);
    const auto local = local_params();
    auto result = sdp::create_answer(offer, local, 777, 1);
    ASSERT_TRUE(std::holds_alternative<sdp::SessionDescription>(result))
        << std::get<sdp::JsepError>(result).message;
    const auto& answer = std::get<sdp::SessionDescription>(result);

    // What we send must parse, and write back identically.
    const std::string text = sdp::write(answer);
    const auto reparsed = parse_ok(text);
    EXPECT_EQ(sdp::write(reparsed), text);
    EXPECT_EQ(answer.origin.session_id, 777u);

    ASSERT_EQ(answer.media.size(), offer.media.size());
    for (std::size_t i = 0; i < offer.media.size(); ++i) {
        const auto& om = offer.media[i];
        const auto& am = answer.media[i];
        EXPECT_EQ(am.mid(), om.mid()) << i;  // RFC 8829 §5.3.1: same order, same mid
        EXPECT_EQ(am.kind, om.kind) << i;
        EXPECT_EQ(am.protocol, om.protocol) << i;
        ASSERT_TRUE(am.connection.has_value());
        if (i == offered.media_index) {
            EXPECT_NE(am.port, 0) << i;
            EXPECT_EQ(am.attribute("ice-ufrag"), local.ice_ufrag);
            EXPECT_EQ(am.attribute("ice-pwd"), local.ice_pwd);
            EXPECT_EQ(am.attribute("fingerprint"), "sha-256 " + local.fingerprint);
            EXPECT_EQ(am.attribute("setup"), "active");
            EXPECT_EQ(am.attribute("ice-options"), "trickle");
            EXPECT_EQ(am.attribute("max-message-size"), "262144");
            EXPECT_EQ(am.attributes_named("candidate").size(), 2u);
            if (offered.legacy_sctpmap) {
                EXPECT_EQ(am.formats, (std::vector<std::string>{"5000"}));
                EXPECT_EQ(am.attribute("sctpmap"), "5000 webrtc-datachannel 65535");
                EXPECT_FALSE(am.has_attribute("sctp-port"));
            } else {
                EXPECT_EQ(am.formats, (std::vector<std::string>{"webrtc-datachannel"}));
                EXPECT_EQ(am.attribute("sctp-port"), "5000");
            }
        } else {
            EXPECT_EQ(am.port, 0) << i;
            EXPECT_EQ(am.formats, om.formats) << i;
            EXPECT_FALSE(am.formats.empty());
            ASSERT_EQ(am.attributes.size(), 1u) << i;  // RFC 8843 §7.3.3: only a=mid
            EXPECT_EQ(am.attributes[0].name, "mid");
        }
    }
    // BUNDLE lists only the accepted mid, which thereby becomes the tag.
    EXPECT_EQ(answer.attributes_named("group"), (std::vector<std::string_view>{"BUNDLE " + offered.mid}));

    // The offerer reads back exactly our parameters.
    const auto back = remote_ok(reparsed);
    EXPECT_EQ(back.media_index, offered.media_index);
    EXPECT_EQ(back.mid, offered.mid);
    EXPECT_EQ(back.ice_ufrag, local.ice_ufrag);
    EXPECT_EQ(back.ice_pwd, local.ice_pwd);
    EXPECT_EQ(back.fingerprint, local.fingerprint);
    EXPECT_EQ(back.setup, sdp::Setup::Active);
    EXPECT_EQ(back.candidates, local.candidates);
    EXPECT_EQ(back.sctp_port, 5000);
    EXPECT_EQ(back.max_message_size, 262144u);
    EXPECT_TRUE(back.trickle);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AnswerFixture, ::testing::ValuesIn(fx::offers()),
                         [](const auto& param_info) {
                             return param_info.param.substr(0, param_info.param.find('.'));
                         });

TEST(CreateAnswer, AudioVideoOfferMovesTheBundleTag) {
    // Chromium's offer bundles "0 1 2" with the audio section (mid 0) as tag.
    const auto offer = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    ASSERT_EQ(offer.attribute("group"), "BUNDLE 0 1 2");
    auto answer = std::get<sdp::SessionDescription>(sdp::create_answer(offer, local_params()));
    EXPECT_EQ(answer.attribute("group"), "BUNDLE 2");
    EXPECT_EQ(answer.media[0].kind, "audio");
    EXPECT_TRUE(answer.media[0].rejected());
    EXPECT_TRUE(answer.media[1].rejected());
    EXPECT_FALSE(answer.media[2].rejected());
}

TEST(CreateAnswer, SetupFollowsTheOffer) {
    const auto local = local_params();
    struct Case { const char* offered; sdp::Setup local_setup; const char* answered; };
    for (const Case c : {Case{"actpass", sdp::Setup::ActPass, "active"},
                         Case{"actpass", sdp::Setup::Passive, "passive"},
                         Case{"actpass", sdp::Setup::Active, "active"},
                         Case{"active", sdp::Setup::ActPass, "passive"},
                         Case{"passive", sdp::Setup::ActPass, "active"}}) {
        auto p = local;
        p.setup = c.local_setup;
        const auto offer = parse_ok(offer_text("", kIce + kFp + "a=setup:" + c.offered + "\na=mid:0\n"));
        auto answer = std::get<sdp::SessionDescription>(sdp::create_answer(offer, p));
        EXPECT_EQ(answer.media[0].attribute("setup"), c.answered) << c.offered;
    }
    // No a=setup: the offerer is active by default (RFC 4145 §4), so we are passive.
    const auto offer = parse_ok(offer_text("", kIce + kFp + "a=mid:0\n"));
    auto answer = std::get<sdp::SessionDescription>(sdp::create_answer(offer, local));
    EXPECT_EQ(answer.media[0].attribute("setup"), "passive");
}

TEST(CreateAnswer, NoBundleInTheOfferMeansNoneInTheAnswer) {
    const auto offer = parse_ok(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
                                     "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n" +
                                     kIce + kFp + "a=setup:actpass\na=mid:data\n"));
    auto answer = std::get<sdp::SessionDescription>(sdp::create_answer(offer, local_params()));
    EXPECT_FALSE(answer.has_attribute("group"));
    EXPECT_EQ(answer.media[0].mid(), "data");
}

TEST(CreateAnswer, OnlyTheFirstUsableApplicationSectionIsAccepted) {
    // The first application section is already rejected by the offerer, the
    // second is usable, the third is a second data section.
    const std::string text = crlf(
        "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE b c\n" +
        std::string("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\na=mid:a\n") +
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n" + kIce + kFp +
        "a=setup:actpass\na=mid:b\n" +
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\n" + kIce + kFp +
        "a=setup:actpass\na=mid:c\n");
    const auto offer = parse_ok(text);
    auto answer = std::get<sdp::SessionDescription>(sdp::create_answer(offer, local_params()));
    ASSERT_EQ(answer.media.size(), 3u);
    EXPECT_TRUE(answer.media[0].rejected());
    EXPECT_FALSE(answer.media[1].rejected());
    EXPECT_TRUE(answer.media[2].rejected());
    EXPECT_EQ(answer.attribute("group"), "BUNDLE b");
    EXPECT_EQ(remote_ok(answer).mid, "b");
}

TEST(CreateAnswer, NoDataChannelSectionIsAnError) {
    const auto offer = parse_ok(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
                                     "m=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\n" +
                                     kIce + kFp + "a=setup:actpass\na=mid:0\n"));
    auto answer = sdp::create_answer(offer, local_params());
    ASSERT_TRUE(std::holds_alternative<sdp::JsepError>(answer));
    EXPECT_EQ(std::get<sdp::JsepError>(answer).message, "no data channel m-line");

    // An application section of another protocol does not count either.
    const auto other = parse_ok(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
                                     "m=application 9 UDP/BFCP *\nc=IN IP4 0.0.0.0\n" +
                                     kIce + kFp + "a=mid:0\n"));
    EXPECT_TRUE(std::holds_alternative<sdp::JsepError>(sdp::create_answer(other, local_params())));
}

TEST(CreateAnswer, UnusableOfferTransportIsAnError) {
    const auto offer = parse_ok(offer_text("", kIce + "a=setup:actpass\na=mid:0\n"));  // no fingerprint
    auto answer = sdp::create_answer(offer, local_params());
    ASSERT_TRUE(std::holds_alternative<sdp::JsepError>(answer));
    EXPECT_NE(std::get<sdp::JsepError>(answer).message.find("fingerprint"), std::string::npos);
}

// ------------------------------------------------------------- create_offer

TEST(CreateOffer, RoundTripsThroughTextAndExtractRemote) {
    auto local = local_params();
    local.end_of_candidates = true;
    local.sctp_port = 5001;
    local.max_message_size = 1 << 20;
    const auto offer = sdp::create_offer(local, 4242, 7, "data");
    const std::string text = sdp::write(offer);
    EXPECT_EQ(text.rfind("v=0\r\no=- 4242 7 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", 0), 0u) << text;
    EXPECT_NE(text.find("\r\na=group:BUNDLE data\r\n"), std::string::npos);
    EXPECT_NE(text.find("\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"),
              std::string::npos);
    EXPECT_NE(text.find("\r\na=setup:actpass\r\n"), std::string::npos);
    EXPECT_NE(text.find("\r\na=end-of-candidates\r\n"), std::string::npos);
    EXPECT_EQ(text.find("ice-lite"), std::string::npos);

    const auto parsed = parse_ok(text);
    EXPECT_EQ(sdp::write(parsed), text);
    const auto r = remote_ok(parsed);
    EXPECT_EQ(r.mid, "data");
    EXPECT_EQ(r.ice_ufrag, local.ice_ufrag);
    EXPECT_EQ(r.ice_pwd, local.ice_pwd);
    EXPECT_EQ(r.fingerprint_algorithm, "sha-256");
    EXPECT_EQ(r.fingerprint, local.fingerprint);
    EXPECT_EQ(r.setup, sdp::Setup::ActPass);
    EXPECT_EQ(r.candidates, local.candidates);
    EXPECT_TRUE(r.end_of_candidates);
    EXPECT_TRUE(r.trickle);
    EXPECT_EQ(r.sctp_port, 5001);
    EXPECT_EQ(r.max_message_size, 1u << 20);
    EXPECT_FALSE(r.ice_lite);

    // Our own offer answered by ourselves: the full loop.
    auto answer = sdp::create_answer(parsed, local_params(), 9, 1);
    ASSERT_TRUE(std::holds_alternative<sdp::SessionDescription>(answer));
    EXPECT_EQ(remote_ok(std::get<sdp::SessionDescription>(answer)).setup, sdp::Setup::Active);
}

TEST(CreateOffer, IceLiteNoTrickleAndBareCandidates) {
    auto local = local_params();
    local.ice_lite = true;
    local.trickle = false;
    local.candidates = {"1 1 udp 2130706431 127.0.0.1 40000 typ host",
                        "a=candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host"};
    const auto r = remote_ok(parse_ok(sdp::write(sdp::create_offer(local, 1, 1))));
    EXPECT_TRUE(r.ice_lite);
    EXPECT_FALSE(r.trickle);
    EXPECT_EQ(r.mid, "0");
    EXPECT_EQ(r.candidates, (std::vector<std::string>{"candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
                                                      "candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host"}));
}

// ----------------------------------------------------- extract_remote rules

TEST(ExtractRemote, FingerprintRules) {
    EXPECT_EQ(remote_error(offer_text("", kIce + "a=setup:actpass\na=mid:0\n")), "missing a=fingerprint");

    const std::string sha1 = "a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\n";
    const auto e = remote_error(offer_text("", kIce + sha1 + "a=setup:actpass\na=mid:0\n"));
    EXPECT_NE(e.find("sha-1"), std::string::npos) << e;
    EXPECT_NE(e.find("sha-256"), std::string::npos) << e;

    // A refused one followed by a good one: the good one is used.
    auto r = remote_ok(parse_ok(offer_text("", kIce + sha1 + kFp + "a=setup:actpass\na=mid:0\n")));
    EXPECT_EQ(r.fingerprint.substr(0, 5), "AB:CD");

    // Wrong length for the hash, or not hex.
    EXPECT_NE(remote_error(offer_text("", kIce + "a=fingerprint:sha-256 AB:CD\na=mid:0\n")).find("malformed"),
              std::string::npos);
    std::string bad_hex = kFp;
    bad_hex[bad_hex.size() - 2] = 'G';
    EXPECT_NE(remote_error(offer_text("", kIce + bad_hex + "a=mid:0\n")).find("malformed"), std::string::npos);
    EXPECT_NE(remote_error(offer_text("", kIce + "a=fingerprint:sha-256\na=mid:0\n")).find("fingerprint"),
              std::string::npos);

    // Upper-case hash name and lower-case hex are normalized; sha-512 works.
    std::string fp512 = "a=fingerprint:SHA-512 ";
    for (int i = 0; i < 64; ++i) fp512 += std::string(i ? ":" : "") + "ab";
    r = remote_ok(parse_ok(offer_text(fp512 + "\n", kIce + "a=mid:0\n")));  // session level
    EXPECT_EQ(r.fingerprint_algorithm, "sha-512");
    EXPECT_EQ(r.fingerprint.substr(0, 6), "AB:AB:");
    EXPECT_EQ(r.fingerprint.size(), 64u * 3 - 1);
}

TEST(ExtractRemote, IceCredentialRules) {
    EXPECT_EQ(remote_error(offer_text("", "a=ice-pwd:abcdefghijklmnopqrstuv\n" + kFp)), "missing a=ice-ufrag");
    EXPECT_EQ(remote_error(offer_text("", "a=ice-ufrag:abcd\n" + kFp)), "missing a=ice-pwd");
    EXPECT_NE(remote_error(offer_text("", "a=ice-ufrag:abc\na=ice-pwd:abcdefghijklmnopqrstuv\n" + kFp))
                  .find("ice-ufrag"),
              std::string::npos);
    EXPECT_NE(remote_error(offer_text("", "a=ice-ufrag:abcd\na=ice-pwd:short\n" + kFp)).find("ice-pwd"),
              std::string::npos);
    EXPECT_NE(remote_error(offer_text("", "a=ice-ufrag:ab-d\na=ice-pwd:abcdefghijklmnopqrstuv\n" + kFp))
                  .find("ice-ufrag"),
              std::string::npos);
    // Session-level credentials are the fallback; media level wins.
    auto r = remote_ok(parse_ok(offer_text(kIce, kFp + "a=ice-ufrag:MEDIA\n")));
    EXPECT_EQ(r.ice_ufrag, "MEDIA");
    EXPECT_EQ(r.ice_pwd, "abcdefghijklmnopqrstuv");
}

TEST(ExtractRemote, SetupSctpPortAndMessageSizeRules) {
    auto r = remote_ok(parse_ok(offer_text("", kIce + kFp)));
    EXPECT_EQ(r.setup, sdp::Setup::Active);          // RFC 4145 default
    EXPECT_EQ(r.sctp_port, 5000);                    // RFC 8841 default
    EXPECT_EQ(r.max_message_size, 65536u);           // RFC 8841 §6.1 default
    EXPECT_EQ(r.mid, "");
    EXPECT_FALSE(r.trickle);

    EXPECT_NE(remote_error(offer_text("", kIce + kFp + "a=setup:holdconn\n")).find("holdconn"), std::string::npos);
    r = remote_ok(parse_ok(offer_text("a=setup:passive\n", kIce + kFp)));
    EXPECT_EQ(r.setup, sdp::Setup::Passive);

    r = remote_ok(parse_ok(offer_text("", kIce + kFp + "a=sctp-port:5001\na=max-message-size:0\n")));
    EXPECT_EQ(r.sctp_port, 5001);
    EXPECT_EQ(r.max_message_size, sdp::kNoMessageSizeLimit);
    r = remote_ok(parse_ok(offer_text("", kIce + kFp + "a=max-message-size:99999999999999999999999\n")));
    EXPECT_EQ(r.max_message_size, sdp::kNoMessageSizeLimit);
    r = remote_ok(parse_ok(offer_text("", kIce + kFp + "a=max-message-size:1024\n")));
    EXPECT_EQ(r.max_message_size, 1024u);

    EXPECT_NE(remote_error(offer_text("", kIce + kFp + "a=sctp-port:0\n")).find("sctp-port"), std::string::npos);
    EXPECT_NE(remote_error(offer_text("", kIce + kFp + "a=sctp-port:65536\n")).find("sctp-port"), std::string::npos);
    EXPECT_NE(remote_error(offer_text("", kIce + kFp + "a=max-message-size:-1\n")).find("max-message-size"),
              std::string::npos);
    EXPECT_NE(remote_error(offer_text("", kIce + kFp + "a=max-message-size:\n")).find("max-message-size"),
              std::string::npos);
}

TEST(ExtractRemote, IceOptionsAndEndOfCandidatesAtEitherLevel) {
    auto r = remote_ok(parse_ok(offer_text("a=ice-options:ice2 trickle\na=end-of-candidates\n", kIce + kFp)));
    EXPECT_TRUE(r.trickle);
    EXPECT_TRUE(r.end_of_candidates);
    r = remote_ok(parse_ok(offer_text("", kIce + kFp + "a=ice-options:trickled\n")));
    EXPECT_FALSE(r.trickle);
    r = remote_ok(parse_ok(offer_text("a=ice-lite\n", kIce + kFp)));
    EXPECT_TRUE(r.ice_lite);
}

TEST(Setup, StringsRoundTrip) {
    for (auto s : {sdp::Setup::ActPass, sdp::Setup::Active, sdp::Setup::Passive})
        EXPECT_EQ(sdp::parse_setup(sdp::to_string(s)), s);
    EXPECT_FALSE(sdp::parse_setup("holdconn").has_value());
    EXPECT_FALSE(sdp::parse_setup("Active").has_value());
}
