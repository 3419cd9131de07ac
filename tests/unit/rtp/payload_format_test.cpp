// Payload formats (RFC 7587 Opus, RFC 7741 VP8, RFC 6184 H.264): byte-literal
// payloads as browsers send them, and packetize → depacketize round trips
// over random frame sizes and payload limits.
#include "proto/rtp/payload_format.hpp"

#include "support/byte_literals.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace duplex;
using duplex::test::bytes;
using namespace duplex::proto::rtp;

namespace {


struct Sent {
    std::vector<std::vector<std::byte>> payloads;
    std::vector<bool> last;
};

Sent packetize(Packetizer& p, base::Bytes frame, std::size_t max) {
    Sent s;
    p.start(frame, max);
    std::vector<std::byte> buf(max);
    for (;;) {
        bool last = false;
        const std::size_t n = p.next(buf, last);
        if (n == 0) break;
        EXPECT_LE(n, max);
        s.payloads.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        s.last.push_back(last);
        if (s.payloads.size() > 100000) break;
    }
    return s;
}

std::vector<std::byte> depacketize(Depacketizer& d, const Sent& s) {
    std::vector<std::byte> frame;
    for (const auto& p : s.payloads) EXPECT_TRUE(d.append(p, frame));
    return frame;
}

// A Chrome VP8 key frame's first payload: X, S, PID 0; I with a 15-bit
// PictureID; then the VP8 payload header with P = 0.
TEST(Vp8Payload, ReadsTheDescriptorAsBrowsersWriteIt) {
    auto d = make_depacketizer(Codec::Vp8);
    const auto first = bytes({0x90, 0x80, 0x8a, 0x5c, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a});
    EXPECT_TRUE(d->starts_frame(first));
    EXPECT_TRUE(d->is_key_frame(first));
    std::vector<std::byte> frame;
    ASSERT_TRUE(d->append(first, frame));
    EXPECT_EQ(frame, bytes({0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}));
    // A later payload (S = 0), and an inter frame (P = 1).
    EXPECT_FALSE(d->starts_frame(bytes({0x80, 0x80, 0x8a, 0x5c, 0x33})));
    EXPECT_FALSE(d->is_key_frame(bytes({0x90, 0x80, 0x8a, 0x5d, 0x31, 0x00})));
    // The short forms: no extension; L, T and K fields.
    frame.clear();
    ASSERT_TRUE(d->append(bytes({0x10, 0xAB}), frame));
    EXPECT_EQ(frame, bytes({0xAB}));
    frame.clear();
    ASSERT_TRUE(d->append(bytes({0x90, 0xF0, 0x05, 0x07, 0x20, 0xCD}), frame));  // I (7-bit), L, T, K
    EXPECT_EQ(frame, bytes({0xCD}));
    // A descriptor longer than its payload.
    EXPECT_FALSE(d->append(bytes({0x90, 0x80, 0x8a}), frame));
}

// H.264: a STAP-A of SPS and PPS, FU-A fragments of an IDR, a single NAL.
TEST(H264Payload, ReadsSingleStapAAndFuA) {
    auto d = make_depacketizer(Codec::H264);
    const auto stap = bytes({0x78, 0x00, 0x03, 0x67, 0x42, 0x1f, 0x00, 0x02, 0x68, 0xce});
    const auto fu_start = bytes({0x7c, 0x85, 0xAA, 0xBB});
    const auto fu_end = bytes({0x7c, 0x45, 0xCC});
    EXPECT_TRUE(d->is_key_frame(stap));      // holds an SPS
    EXPECT_TRUE(d->is_key_frame(fu_start));  // S and IDR
    EXPECT_FALSE(d->starts_frame(fu_end));
    std::vector<std::byte> frame;
    ASSERT_TRUE(d->append(stap, frame));
    ASSERT_TRUE(d->append(fu_start, frame));
    ASSERT_TRUE(d->append(fu_end, frame));
    ASSERT_TRUE(d->append(bytes({0x41, 0x9a}), frame));  // a non-IDR slice
    EXPECT_EQ(frame, bytes({0, 0, 0, 1, 0x67, 0x42, 0x1f, 0, 0, 0, 1, 0x68, 0xce,  //
                            0, 0, 0, 1, 0x65, 0xAA, 0xBB, 0xCC,                   //
                            0, 0, 0, 1, 0x41, 0x9a}));
    EXPECT_FALSE(d->is_key_frame(bytes({0x41, 0x9a})));
    // Malformed: a STAP-A size past the end; interleaved-mode types.
    const auto before = frame.size();
    EXPECT_FALSE(d->append(bytes({0x78, 0x00, 0x09, 0x67}), frame));
    EXPECT_FALSE(d->append(bytes({0x79, 0x00, 0x01, 0x67}), frame));  // STAP-B
    EXPECT_EQ(frame.size(), before);
}

TEST(H264Payload, SmallNalsGoTogetherLargeOnesInFragments) {
    // An access unit: SPS, PPS, and a 5000-byte IDR slice, in Annex B with
    // both start code lengths.
    std::vector<std::byte> au = bytes({0, 0, 0, 1, 0x67, 0x42, 0x1f, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65});
    for (int i = 0; i < 5000; ++i) au.push_back(std::byte(1 + i % 200));
    auto p = make_packetizer(Codec::H264);
    auto s = packetize(*p, au, 1200);
    ASSERT_GE(s.payloads.size(), 6u);
    EXPECT_EQ(std::to_integer<int>(s.payloads[0][0]) & 0x1f, 24);  // SPS + PPS aggregated (STAP-A)
    EXPECT_EQ(std::to_integer<int>(s.payloads[1][0]) & 0x1f, 28);  // then FU-A
    EXPECT_EQ(std::to_integer<int>(s.payloads[1][1]), 0x85);       // S, type 5
    EXPECT_EQ(std::to_integer<int>(s.payloads.back()[1]) & 0x40, 0x40);  // E on the last fragment
    for (std::size_t k = 0; k + 1 < s.last.size(); ++k) EXPECT_FALSE(s.last[k]) << k;
    EXPECT_TRUE(s.last.back());
    auto d = make_depacketizer(Codec::H264);
    EXPECT_TRUE(d->is_key_frame(s.payloads[0]));
    auto back = depacketize(*d, s);
    std::vector<std::byte> expect = bytes({0, 0, 0, 1, 0x67, 0x42, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65});
    expect.insert(expect.end(), au.begin() + 17, au.end());
    EXPECT_EQ(back, expect);  // every NAL back, after 4-byte start codes
}

// Packetization mode 0 (RFC 6184 §6.2): one NAL unit a packet, nothing
// aggregated or fragmented; a NAL unit too large for a packet stops the frame
// before anything is sent.
TEST(H264Payload, ModeZeroSendsSingleNalUnitsOrNothing) {
    std::vector<std::byte> au = bytes({0, 0, 0, 1, 0x67, 0x42, 0x1f, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65});
    for (int i = 0; i < 900; ++i) au.push_back(std::byte(1 + i % 200));
    au.insert(au.end(), {std::byte{0}, std::byte{0}, std::byte{1}, std::byte{0x41}, std::byte{0x9a}});
    auto p = make_packetizer(Codec::H264, PacketizerOptions{true});
    auto s = packetize(*p, au, 1200);
    ASSERT_EQ(s.payloads.size(), 4u);  // SPS, PPS, the IDR slice, a P slice: each alone
    for (const auto& payload : s.payloads) {
        const int type = std::to_integer<int>(payload[0]) & 0x1f;
        EXPECT_TRUE(type >= 1 && type <= 23) << type;
    }
    EXPECT_EQ(s.payloads[2].size(), 901u);
    EXPECT_TRUE(s.last.back());
    auto d = make_depacketizer(Codec::H264);
    EXPECT_TRUE(d->is_key_frame(s.payloads[0]));
    std::vector<std::byte> expect = bytes({0, 0, 0, 1, 0x67, 0x42, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65});
    expect.insert(expect.end(), au.begin() + 17, au.begin() + 17 + 900);
    expect.insert(expect.end(), {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}, std::byte{0x41}, std::byte{0x9a}});
    EXPECT_EQ(depacketize(*d, s), expect);
    // The same IDR slice against a 600-byte limit: no packet at all.
    EXPECT_TRUE(packetize(*p, au, 600).payloads.empty());
}

// A NAL of type 0 or 24..31 in the encoder's output would be read by the
// receiver as a STAP or an FU (RFC 6184 §5.4): it is not sent. (Found by
// rtp_depacketizer_fuzz.)
TEST(H264Payload, NalTypesThatMeanPayloadStructuresAreNotSent) {
    const auto au = bytes({0, 0, 1, 0x00, 0x11, 0, 0, 1, 0x78, 0x22, 0, 0, 1, 0x41, 0x33});
    auto p = make_packetizer(Codec::H264);
    auto s = packetize(*p, au, 1200);
    ASSERT_EQ(s.payloads.size(), 1u);
    EXPECT_EQ(s.payloads[0], bytes({0x41, 0x33}));
}

// Random frames through each codec, random payload limits: what comes out
// is what went in (H.264 with its start codes made 4 bytes long).
TEST(PayloadFormats, RandomFramesRoundTrip) {
    std::mt19937 rng(7);
    for (const Codec c : {Codec::Opus, Codec::Vp8, Codec::H264}) {
        SCOPED_TRACE(std::string(codec_name(c)));
        auto p = make_packetizer(c);
        auto d = make_depacketizer(c);
        for (int i = 0; i < 300; ++i) {
            const std::size_t max = 40 + rng() % 1200;
            std::vector<std::byte> frame, expect;
            if (c == Codec::H264) {
                const int nals = 1 + static_cast<int>(rng() % 5);
                for (int k = 0; k < nals; ++k) {
                    const std::size_t len = 1 + rng() % 4000;
                    static constexpr std::byte kSc[] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}};
                    frame.insert(frame.end(), std::begin(kSc) + (rng() % 2), std::end(kSc));
                    expect.insert(expect.end(), std::begin(kSc), std::end(kSc));
                    for (std::size_t b = 0; b < len; ++b) {
                        // Emulation prevention keeps 00 00 0x out of a NAL (H.264 §7.4.1); so do we.
                        const auto v = std::byte(b == 0 ? 0x41 : 1 + rng() % 255);
                        frame.push_back(v);
                        expect.push_back(v);
                    }
                }
            } else {
                frame.resize(c == Codec::Opus ? 1 + rng() % std::min<std::size_t>(max, 400) : 1 + rng() % 20000);
                for (auto& b : frame) b = std::byte(rng());
                expect = frame;
            }
            auto s = packetize(*p, frame, max);
            ASSERT_FALSE(s.payloads.empty()) << i;
            for (std::size_t k = 0; k < s.last.size(); ++k) ASSERT_EQ(s.last[k], k + 1 == s.last.size()) << i;
            EXPECT_TRUE(d->starts_frame(s.payloads.front())) << i;
            EXPECT_EQ(depacketize(*d, s), expect) << i << " max " << max;
        }
    }
    // An Opus packet larger than a payload is not split: nothing is sent.
    auto p = make_packetizer(Codec::Opus);
    std::vector<std::byte> big(500);
    EXPECT_TRUE(packetize(*p, big, 100).payloads.empty());
}

}  // namespace
