// SDP parse/write (RFC 8866) on real peers' descriptions and on broken ones.
#include "proto/sdp/session_description.hpp"

#include "unit/sdp/fixtures.hpp"

#include <gtest/gtest.h>

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

sdp::ParseError parse_error(const std::string& text, const sdp::ParseLimits& limits = {}) {
    auto r = sdp::parse(text, limits);
    if (auto* e = std::get_if<sdp::ParseError>(&r)) return *e;
    ADD_FAILURE() << "parsed, but should not have:\n" << text;
    return {};
}

std::string crlf(std::string lf_text) {
    std::string out;
    for (char c : lf_text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

std::string to_lf(const std::string& text) {
    std::string out;
    for (char c : text)
        if (c != '\r') out += c;
    return out;
}

const std::string kMinimal = crlf(
    "v=0\n"
    "o=- 1 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
    "c=IN IP4 0.0.0.0\n"
    "a=mid:0\n");

}  // namespace

// ------------------------------------------------------------------ fixtures

class SdpFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(SdpFixture, ParsesAndWritesBackByteForByte) {
    const std::string text = fx::read(GetParam());
    const auto sd = parse_ok(text);
    EXPECT_FALSE(sd.media.empty());
    EXPECT_EQ(sdp::write(sd), text);
}

TEST_P(SdpFixture, LfInputParsesToTheSameModelAndWritesCrlf) {
    const std::string text = fx::read(GetParam());
    const auto from_crlf = parse_ok(text);
    const auto from_lf = parse_ok(to_lf(text));
    EXPECT_EQ(sdp::write(from_lf), text);
    EXPECT_EQ(sdp::write(from_lf), sdp::write(from_crlf));
}

TEST_P(SdpFixture, EveryAttributeLineIsKeptInOrder) {
    const std::string text = fx::read(GetParam());
    const auto sd = parse_ok(text);
    std::size_t a_lines = 0;
    for (std::size_t pos = 0; (pos = text.find("\r\na=", pos)) != std::string::npos; ++pos) ++a_lines;
    std::size_t model = sd.attributes.size();
    for (const auto& m : sd.media) model += m.attributes.size();
    EXPECT_EQ(model, a_lines);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SdpFixture, ::testing::ValuesIn(fx::all()),
                         [](const auto& param_info) {
                             return param_info.param.substr(0, param_info.param.find('.'));
                         });

TEST(SdpParse, ChromiumAudioVideoDataOfferStructure) {
    const auto sd = parse_ok(fx::read("chromium_av_dc_offer.sdp"));
    ASSERT_EQ(sd.media.size(), 3u);
    EXPECT_EQ(sd.media[0].kind, "audio");
    EXPECT_EQ(sd.media[0].protocol, "UDP/TLS/RTP/SAVPF");
    EXPECT_EQ(sd.media[0].formats, (std::vector<std::string>{"111", "63", "9", "0", "8", "13", "110", "126"}));
    EXPECT_EQ(sd.media[1].kind, "video");
    EXPECT_EQ(sd.media[1].formats.size(), 23u);
    EXPECT_EQ(sd.media[2].kind, "application");
    EXPECT_EQ(sd.media[2].port, 37294);
    EXPECT_EQ(sd.media[2].formats, (std::vector<std::string>{"webrtc-datachannel"}));
    EXPECT_EQ(sd.media[0].mid(), "0");
    EXPECT_EQ(sd.media[1].mid(), "1");
    EXPECT_EQ(sd.media[2].mid(), "2");
    EXPECT_EQ(sd.attribute("group"), "BUNDLE 0 1 2");
    EXPECT_TRUE(sd.has_attribute("extmap-allow-mixed"));
    EXPECT_EQ(sd.attribute("extmap-allow-mixed"), "");  // property attribute: present, no value
    EXPECT_EQ(sd.media[0].attributes_named("candidate").size(), 2u);
    EXPECT_EQ(sd.media[1].attributes_named("rtcp-fb").size(), 50u);
    EXPECT_EQ(sd.origin.username, "-");
    EXPECT_EQ(sd.origin.session_id, 8039251125443228884u);
    EXPECT_EQ(sd.origin.session_version, 2u);
    EXPECT_EQ(sd.origin.address, "127.0.0.1");
    ASSERT_TRUE(sd.media[2].connection.has_value());
    EXPECT_EQ(sd.media[2].connection->address, "127.0.0.1");
    EXPECT_NE(sd.find_media("1"), nullptr);
    EXPECT_EQ(sd.find_media("1")->kind, "video");
    EXPECT_EQ(sd.find_media("7"), nullptr);
}

TEST(SdpParse, AiortcLegacyOfferAndFirefoxSessionLevelFingerprint) {
    const auto aiortc = parse_ok(fx::read("aiortc_dc_offer.sdp"));
    ASSERT_EQ(aiortc.media.size(), 1u);
    EXPECT_EQ(aiortc.media[0].protocol, "DTLS/SCTP");
    EXPECT_EQ(aiortc.media[0].formats, (std::vector<std::string>{"5000"}));
    EXPECT_EQ(aiortc.media[0].attribute("sctpmap"), "5000 webrtc-datachannel 65535");
    EXPECT_EQ(aiortc.attribute("msid-semantic"), "WMS *");

    const auto firefox = parse_ok(fx::read("firefox_av_dc_offer.sdp"));
    EXPECT_EQ(firefox.origin.username, "mozilla...THIS_IS_SDPARTA-115.0");
    EXPECT_EQ(firefox.origin.session_version, 0u);
    EXPECT_TRUE(firefox.attribute("fingerprint").has_value());
    EXPECT_FALSE(firefox.media[2].attribute("fingerprint").has_value());
    EXPECT_EQ(firefox.media[2].attribute("max-message-size"), "1073741823");
}

TEST(SdpParse, UnknownAttributesAreKeptVerbatim) {
    const std::string text = crlf(
        "v=0\n"
        "o=- 1 2 IN IP4 127.0.0.1\n"
        "s=-\n"
        "t=0 0\n"
        "a=msid-semantic: WMS\n"
        "a=x-vendor-thing:  two  spaces :colons: \n"
        "a=x-flag\n"
        "a=x-empty:\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
        "c=IN IP4 0.0.0.0\n"
        "a=x-media-level:=weird=\n");
    const auto sd = parse_ok(text);
    EXPECT_EQ(sd.attribute("msid-semantic"), " WMS");
    EXPECT_EQ(sd.attribute("x-vendor-thing"), "  two  spaces :colons: ");
    ASSERT_EQ(sd.attributes.size(), 4u);
    EXPECT_FALSE(sd.attributes[2].value.has_value());      // a=x-flag
    ASSERT_TRUE(sd.attributes[3].value.has_value());       // a=x-empty:
    EXPECT_EQ(*sd.attributes[3].value, "");
    EXPECT_EQ(sd.media[0].attribute("x-media-level"), "=weird=");
    EXPECT_EQ(sdp::write(sd), text);
}

TEST(SdpParse, OptionalLinesRoundTrip) {
    const std::string text = crlf(
        "v=0\n"
        "o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\n"
        "s=Call to John Smith\n"
        "i=SDP Offer #1\n"
        "u=http://www.jdoe.example.com/home.html\n"
        "e=Jane Doe <jane@jdoe.example.com>\n"
        "p=+1 617 555-6011\n"
        "c=IN IP4 198.51.100.1\n"
        "b=AS:128\n"
        "t=0 0\n"
        "r=7d 1h 0 25h\n"
        "t=3034423619 3042462419\n"
        "z=2882844526 -1h 2898848070 0\n"
        "m=audio 49170/2 RTP/AVP 0\n"
        "i=voice\n"
        "c=IN IP4 198.51.100.2\n"
        "b=AS:64\n"
        "a=rtpmap:0 PCMU/8000\n"
        "m=video 0 RTP/AVP 99\n"
        "a=rtpmap:99 h263-1998/90000\n");
    const auto sd = parse_ok(text);
    ASSERT_EQ(sd.timings.size(), 2u);
    EXPECT_EQ(sd.timings[0].repeats, (std::vector<std::string>{"7d 1h 0 25h"}));
    EXPECT_EQ(sd.timings[1].start, 3034423619u);
    ASSERT_EQ(sd.media.size(), 2u);
    ASSERT_TRUE(sd.media[0].port_count.has_value());
    EXPECT_EQ(*sd.media[0].port_count, 2);
    EXPECT_EQ(sd.media[0].title, "voice");
    EXPECT_TRUE(sd.media[1].rejected());
    EXPECT_FALSE(sd.media[0].rejected());
    EXPECT_EQ(sdp::write(sd), text);
}

TEST(SdpParse, ToleratesMissingFinalNewlineAndTrailingEmptyLines) {
    std::string no_final = kMinimal.substr(0, kMinimal.size() - 2);
    EXPECT_EQ(sdp::write(parse_ok(no_final)), kMinimal);
    EXPECT_EQ(sdp::write(parse_ok(kMinimal + "\r\n\r\n")), kMinimal);
    EXPECT_EQ(sdp::write(parse_ok(to_lf(kMinimal) + "\n")), kMinimal);
}

TEST(SdpWrite, BuiltModelAndLineInjectionIsDefused) {
    sdp::SessionDescription sd;
    sd.origin.session_id = 42;
    sd.add_attribute("x-evil", "a\r\nm=audio 1 RTP/AVP 0");
    const std::string out = sdp::write(sd);
    EXPECT_EQ(out, crlf("v=0\no=- 42 0 IN IP4 127.0.0.1\ns=-\nt=0 0\na=x-evil:am=audio 1 RTP/AVP 0\n"));
    const auto back = parse_ok(out);
    EXPECT_TRUE(back.media.empty());
}

// ------------------------------------------------------------ malformed input

TEST(SdpParseErrors, MissingOrWrongVersionLine) {
    auto e = parse_error(crlf("o=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 1u);
    EXPECT_NE(e.message.find("v=0"), std::string::npos) << e.message;
    EXPECT_EQ(e.to_string().rfind("SDP line 1: ", 0), 0u) << e.to_string();

    e = parse_error(crlf("v=1\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 1u);
    e = parse_error(crlf("v = 0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 1u);
    e = parse_error("");
    EXPECT_EQ(e.line, 0u);
    e = parse_error("\r\n\r\n");
    EXPECT_EQ(e.line, 0u);
}

TEST(SdpParseErrors, OriginSessionAndTiming) {
    auto e = parse_error(crlf("v=0\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 2u);
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 2u);
    e = parse_error(crlf("v=0\no=- x 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 2u);
    e = parse_error(crlf("v=0\no=- 18446744073709551616 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 2u);
    EXPECT_NE(e.message.find("2^64"), std::string::npos) << e.message;
    e = parse_error(crlf("v=0\no=-  1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n"));
    EXPECT_EQ(e.line, 2u);
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\nt=0 0\n"));
    EXPECT_EQ(e.line, 3u);
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\no=- 1 2 IN IP4 127.0.0.1\n"));
    EXPECT_EQ(e.line, 5u);
    EXPECT_NE(e.message.find("o="), std::string::npos);
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\na=foo\n"));
    EXPECT_NE(e.message.find("t="), std::string::npos) << e.message;
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0\n"));
    EXPECT_EQ(e.line, 4u);
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nr=1 2 3\nt=0 0\n"));
    EXPECT_EQ(e.line, 4u);
    e = parse_error(crlf("v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\nc=IN IP4\n"));
    EXPECT_EQ(e.line, 5u);
}

TEST(SdpParseErrors, BadMediaLines) {
    const std::string head = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n";
    struct Case { const char* m_line; const char* why; };
    for (const Case c : {Case{"m=application 9 UDP/DTLS/SCTP", "no format"},
                         Case{"m=application", "no port"},
                         Case{"m=application 70000 UDP/DTLS/SCTP webrtc-datachannel", "port above 65535"},
                         Case{"m=application -1 UDP/DTLS/SCTP webrtc-datachannel", "negative port"},
                         Case{"m=application 9x UDP/DTLS/SCTP webrtc-datachannel", "port not a number"},
                         Case{"m=application  9 UDP/DTLS/SCTP webrtc-datachannel", "two spaces"},
                         Case{"m=application 9/0 UDP/DTLS/SCTP webrtc-datachannel", "zero port count"},
                         Case{"m=application 9/ UDP/DTLS/SCTP webrtc-datachannel", "empty port count"},
                         Case{"m=application 9 UDP//SCTP webrtc-datachannel", "empty proto part"},
                         Case{"m=application 9 UDP/DTLS/SCTP webrtc-datachannel ", "trailing space"},
                         Case{"m=audio 9 UDP/TLS/RTP/SAVPF 111 \"x\"", "format not a token"}}) {
        const auto e = parse_error(crlf(head + c.m_line + "\na=mid:0\n"));
        EXPECT_EQ(e.line, 5u) << c.why;
        EXPECT_FALSE(e.message.empty()) << c.why;
    }
    // A port of exactly 65535 and of 0 are in range.
    EXPECT_EQ(parse_ok(crlf(head + "m=application 65535 UDP/DTLS/SCTP webrtc-datachannel\n")).media[0].port, 65535);
    EXPECT_TRUE(parse_ok(crlf(head + "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\n")).media[0].rejected());
}

TEST(SdpParseErrors, BadLinesAnywhere) {
    const std::string head = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n";
    auto e = parse_error(crlf(head + "x=unknown\n"));
    EXPECT_EQ(e.line, 5u);
    EXPECT_NE(e.message.find("unknown line type"), std::string::npos);
    e = parse_error(crlf(head + "a\n"));
    EXPECT_EQ(e.line, 5u);
    e = parse_error(crlf(head + "A=foo\n"));
    EXPECT_EQ(e.line, 5u);
    e = parse_error(crlf(head + "a=:value\n"));
    EXPECT_EQ(e.line, 5u);
    e = parse_error(crlf(head + "a=bad name:value\n"));
    EXPECT_EQ(e.line, 5u);
    std::string with_nul = crlf(head) + std::string("a=nul\0here\r\n", 12);
    e = parse_error(with_nul);
    EXPECT_EQ(e.line, 5u);
    EXPECT_NE(e.message.find("control"), std::string::npos);
    e = parse_error(crlf(head + "a=x\n\na=y\n"));
    EXPECT_EQ(e.line, 6u);
    EXPECT_NE(e.message.find("empty line"), std::string::npos);
    e = parse_error(crlf(head + "a=stray\rcarriage\n"));
    EXPECT_EQ(e.line, 5u);
    e = parse_error(crlf(head + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nt=0 0\n"));
    EXPECT_EQ(e.line, 6u);
    e = parse_error(crlf(head + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\nc=IN IP4 0.0.0.0\n"));
    EXPECT_EQ(e.line, 7u);
}

TEST(SdpParseErrors, Limits) {
    // Size: just over 256 KiB of otherwise valid text.
    std::string big = kMinimal;
    while (big.size() <= 256 * 1024) big += "a=x-padding:0123456789012345678901234567890123456789\r\n";
    auto e = parse_error(big);
    EXPECT_EQ(e.line, 0u);
    EXPECT_NE(e.message.find("bytes"), std::string::npos) << e.message;
    EXPECT_EQ(e.to_string().rfind("SDP: ", 0), 0u);

    // Lines: 4096 are fine, the 4097th is refused.
    std::string lines = kMinimal;
    std::size_t count = 7;
    while (count < 4096) {
        lines += "a=x\r\n";
        ++count;
    }
    (void)parse_ok(lines);
    e = parse_error(lines + "a=x\r\n");
    EXPECT_EQ(e.line, 4097u);

    // Media sections: 64 are fine, the 65th is refused.
    std::string media = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    for (int i = 0; i < 64; ++i) media += "m=audio 0 RTP/AVP 0\r\n";
    EXPECT_EQ(parse_ok(media).media.size(), 64u);
    e = parse_error(media + "m=audio 0 RTP/AVP 0\r\n");
    EXPECT_EQ(e.line, 69u);

    // The limits are options.
    sdp::ParseLimits tight;
    tight.max_media = 1;
    e = parse_error("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=audio 0 RTP/AVP 0\r\n",
                    tight);
    EXPECT_EQ(e.line, 6u);
}
