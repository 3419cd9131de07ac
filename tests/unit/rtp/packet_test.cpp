// RTP packets (RFC 3550 §5.1) and header extensions (RFC 8285), against
// byte-literal packets: what parse() reads, what write() writes back, and
// every malformed shape refused with its error.
#include "proto/rtp/header_extensions.hpp"
#include "proto/rtp/packet.hpp"

#include "support/byte_literals.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace duplex;
using duplex::test::bytes;
using namespace duplex::proto::rtp;

namespace {

std::string text(base::Bytes b) { return std::string(base::as_string_view(b)); }

// V=2, X, M, PT 96, seq 0x1234, ts 0x11223344, SSRC 0xAABBCCDD; a one-byte
// extension block of one word: id 1 "a" (L=0), id 3 {1,2} (L=1), a pad byte;
// payload "hello".
const std::vector<std::byte> kWithExtensions =
    bytes({0x90, 0xE0, 0x12, 0x34, 0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB, 0xCC, 0xDD,  //
           0xBE, 0xDE, 0x00, 0x02, 0x10, 'a', 0x31, 0x01, 0x02, 0x00, 0x00, 0x00,  //
           'h', 'e', 'l', 'l', 'o'});

TEST(RtpPacket, ReadsTheHeaderExtensionsAndPayload) {
    auto p = parse(kWithExtensions);
    ASSERT_TRUE(p) << p.status().message();
    EXPECT_TRUE(p->marker);
    EXPECT_EQ(p->payload_type, 96);
    EXPECT_EQ(p->sequence, 0x1234);
    EXPECT_EQ(p->timestamp, 0x11223344u);
    EXPECT_EQ(p->ssrc, 0xAABBCCDDu);
    EXPECT_EQ(p->extension_profile, kOneByteProfile);
    EXPECT_EQ(text(*p->extension(1)), "a");
    ASSERT_TRUE(p->extension(3));
    EXPECT_EQ(p->extension(3)->size(), 2u);
    EXPECT_FALSE(p->extension(2));
    EXPECT_EQ(text(p->payload), "hello");
}

TEST(RtpPacket, WritesWhatItReads) {
    const std::vector<std::byte> a = bytes({'a'}), two = bytes({1, 2});
    const Extension ext[] = {{1, a}, {3, two}};
    Header h;
    h.marker = true;
    h.payload_type = 96;
    h.sequence = 0x1234;
    h.timestamp = 0x11223344;
    h.ssrc = 0xAABBCCDD;
    h.extensions = ext;
    std::vector<std::byte> out(64);
    const auto payload = base::as_bytes(std::string_view("hello"));
    const std::size_t n = write(h, payload, out);
    ASSERT_EQ(n, written_size(h, payload.size()));
    out.resize(n);
    EXPECT_EQ(out, kWithExtensions);
}

TEST(RtpPacket, CsrcsPaddingAndTheTwoByteForm) {
    const std::uint32_t csrcs[] = {7, 8};
    std::vector<std::byte> long_value(20, std::byte{0x5a});
    const Extension ext[] = {{20, long_value}};  // id over 14 and 20 bytes: the two-byte form
    Header h;
    h.payload_type = 111;
    h.sequence = 65535;
    h.csrcs = csrcs;
    h.extensions = ext;
    h.padding = 3;
    std::vector<std::byte> out(128);
    const auto n = write(h, base::as_bytes(std::string_view("xy")), out);
    ASSERT_GT(n, 0u);
    auto p = parse(base::Bytes(out.data(), n));
    ASSERT_TRUE(p) << p.status().message();
    EXPECT_EQ(p->csrc_count, 2);
    EXPECT_EQ(p->csrcs[1], 8u);
    EXPECT_EQ((p->extension_profile & kTwoByteProfileMask), kTwoByteProfile);
    ASSERT_TRUE(p->extension(20));
    EXPECT_EQ(p->extension(20)->size(), 20u);
    EXPECT_EQ(p->padding, 3);
    EXPECT_EQ(text(p->payload), "xy");
    // Not writable: more than 15 CSRCs, a two-byte id of 0.
    std::vector<std::uint32_t> many(16, 1);
    Header bad;
    bad.csrcs = many;
    EXPECT_EQ(write(bad, {}, out), 0u);
    const Extension zero[] = {{0, long_value}};
    Header bad2;
    bad2.extensions = zero;
    EXPECT_EQ(write(bad2, {}, out), 0u);
    // Too small a buffer: nothing written.
    std::vector<std::byte> tiny(10);
    EXPECT_EQ(write(h, {}, tiny), 0u);
}

TEST(RtpPacket, MalformedPacketsAreRefusedWithTheirError) {
    auto err = [](std::vector<std::byte> d) { return parse(d).error(); };
    EXPECT_EQ(err(bytes({0x80, 0x60, 0, 1})), make_error_code(RtpError::too_short));
    EXPECT_EQ(err(bytes({0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0})), make_error_code(RtpError::bad_version));
    // Two CSRCs announced, one there.
    EXPECT_EQ(err(bytes({0x82, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7})), make_error_code(RtpError::too_short));
    // Padding: a count of 0, and one longer than the packet's payload.
    EXPECT_EQ(err(bytes({0xA0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 'x', 0})), make_error_code(RtpError::bad_padding));
    EXPECT_EQ(err(bytes({0xA0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 'x', 9})), make_error_code(RtpError::bad_padding));
    // An extension block longer than the packet; an element overrunning its block.
    EXPECT_EQ(err(bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 5, 0x10, 'a', 0, 0})),
              make_error_code(RtpError::bad_extension));
    EXPECT_EQ(err(bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 1, 0x1F, 'a', 0, 0})),
              make_error_code(RtpError::bad_extension));
    // RTCP on a multiplexed port (RFC 5761 §4): PT 200 is not RTP.
    EXPECT_EQ(err(bytes({0x80, 200, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0})), make_error_code(RtpError::is_rtcp));
    EXPECT_TRUE(looks_like_rtcp(bytes({0x81, 201})));
    EXPECT_FALSE(looks_like_rtcp(bytes({0x80, 0xE0})));  // PT 96 with the marker
}

// Whatever write() writes, parse() reads back the same, for random headers,
// extension sets and payloads.
TEST(RtpPacket, RandomPacketsRoundTrip) {
    std::mt19937 rng(42);
    for (int i = 0; i < 2000; ++i) {
        std::vector<std::uint32_t> csrcs(rng() % 16);
        for (auto& c : csrcs) c = static_cast<std::uint32_t>(rng());
        std::vector<std::vector<std::byte>> values(rng() % 5);
        std::vector<Extension> ext;
        std::vector<std::uint8_t> used;
        const bool small = rng() % 2;
        for (auto& v : values) {
            v.resize(small ? 1 + rng() % 16 : rng() % 40);
            for (auto& b : v) b = std::byte(rng());
            std::uint8_t id;
            do id = static_cast<std::uint8_t>(small ? 1 + rng() % 14 : 1 + rng() % 255);
            while (std::find(used.begin(), used.end(), id) != used.end());
            used.push_back(id);
            ext.push_back({id, v});
        }
        std::vector<std::byte> payload(rng() % 1200);
        for (auto& b : payload) b = std::byte(rng());
        Header h;
        h.marker = rng() % 2;
        h.payload_type = static_cast<std::uint8_t>(rng() % 128);
        if (h.payload_type >= 64 && h.payload_type <= 95) h.payload_type = 0;  // RTCP's range (RFC 5761 §4)
        h.sequence = static_cast<std::uint16_t>(rng());
        h.timestamp = static_cast<std::uint32_t>(rng());
        h.ssrc = static_cast<std::uint32_t>(rng());
        h.csrcs = csrcs;
        h.extensions = ext;
        h.padding = static_cast<std::uint8_t>(rng() % 3 == 0 ? 1 + rng() % 8 : 0);
        std::vector<std::byte> out(written_size(h, payload.size()));
        ASSERT_EQ(write(h, payload, out), out.size());
        auto p = parse(out);
        ASSERT_TRUE(p) << i << ": " << p.status().message();
        EXPECT_EQ(p->sequence, h.sequence);
        EXPECT_EQ(p->timestamp, h.timestamp);
        EXPECT_EQ(p->ssrc, h.ssrc);
        EXPECT_EQ(p->marker, h.marker);
        EXPECT_EQ(p->csrc_count, csrcs.size());
        ASSERT_EQ(p->payload.size(), payload.size());
        EXPECT_TRUE(std::equal(payload.begin(), payload.end(), p->payload.begin()));
        for (const auto& e : ext) {
            auto got = p->extension(e.id);
            ASSERT_TRUE(got) << i << " id " << int(e.id);
            EXPECT_TRUE(std::equal(e.data.begin(), e.data.end(), got->begin(), got->end()));
        }
    }
}

TEST(RtpPacket, SequenceNumbersCompareAcrossTheWrap) {
    EXPECT_TRUE(seq_newer(1, 0));
    EXPECT_TRUE(seq_newer(0, 65535));
    EXPECT_TRUE(seq_newer(100, 65500));
    EXPECT_FALSE(seq_newer(65500, 100));
    EXPECT_FALSE(seq_newer(5, 5));
}

TEST(RtpHeaderExtensions, EachCodesItsData) {
    ExtensionIds ids;
    EXPECT_TRUE(ids.bind(uri::kMid, 4));
    EXPECT_TRUE(ids.bind(uri::kTransportWideCc, 5));
    EXPECT_FALSE(ids.bind("urn:example:unknown", 6));
    EXPECT_EQ(ids.mid, 4);
    EXPECT_EQ(ids.transport_wide_cc, 5);
    const auto t = transport_wide_sequence(0xBEEF);
    EXPECT_EQ(read_transport_wide_sequence(t), 0xBEEF);
    // abs-send-time: 6.18 fixed point, modulo 64 s: 1.5 s is 0x060000.
    const auto ast = abs_send_time(base::Instant{} + std::chrono::milliseconds(1500));
    EXPECT_EQ(read_abs_send_time(ast), 0x060000u);
    EXPECT_EQ(read_abs_send_time(abs_send_time(base::Instant{} + std::chrono::seconds(65))), 1u << 18);
    const auto level = audio_level({true, 42});
    const std::byte one[] = {level};
    auto back = read_audio_level(one);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->voice);
    EXPECT_EQ(back->level, 42);
    EXPECT_EQ(std::to_integer<int>(audio_level({false, 200})), 127);  // held at silence
    EXPECT_EQ(read_mid(base::as_bytes(std::string_view("0"))), "0");
    EXPECT_FALSE(read_mid({}));
}

}  // namespace
