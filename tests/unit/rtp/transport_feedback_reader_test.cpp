// The sender's reading of transport-wide feedback (draft-holmer-rmcat-
// transport-wide-cc-extensions-01 §3.1): the draft's layout byte by byte,
// everything our recorder writes read back, and packets that lie.
#include "proto/rtp/rtcp.hpp"
#include "proto/rtp/transport_feedback.hpp"
#include "proto/rtp/transport_feedback_reader.hpp"

#include "support/byte_literals.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

using namespace std::chrono_literals;
namespace rtp = duplex::proto::rtp;
using Instant = duplex::base::Instant;
using duplex::test::bytes;

namespace {

// The packet of TransportFeedback.APacketAsTheDraftLaysItOut: base 100, five
// statuses (small, small, none, small, large), deltas 0, 1 ms, 1 ms, -1 ms.
const std::vector<std::byte> kDraftPacket = bytes({0xAF, 0xCD, 0x00, 0x06, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                                   0x08, 0x00, 0x64, 0x00, 0x05, 0x00, 0x00, 0x02, 0x07, 0xD4, 0x60,
                                                   0x00, 0x04, 0x04, 0xFF, 0xFC, 0x01});

}  // namespace

TEST(TransportFeedbackReader, ReadsThePacketAsTheDraftLaysItOut) {
    const auto fb = rtp::read_transport_feedback(kDraftPacket);
    ASSERT_TRUE(fb);
    EXPECT_EQ(fb->sender_ssrc, 0x01020304u);
    EXPECT_EQ(fb->media_ssrc, 0x05060708u);
    EXPECT_EQ(fb->base_sequence, 100);
    EXPECT_EQ(fb->status_count, 5);
    EXPECT_EQ(fb->feedback_count, 7);
    ASSERT_EQ(fb->received.size(), 4u);
    const std::int64_t ref = 2 * 64000;  // reference time 2 (64 ms units)
    EXPECT_EQ(fb->received[0].sequence, 100);
    EXPECT_EQ(fb->received[0].at_us, ref);
    EXPECT_EQ(fb->received[1].sequence, 101);
    EXPECT_EQ(fb->received[1].at_us, ref + 1000);
    EXPECT_EQ(fb->received[2].sequence, 103);  // 102 did not arrive
    EXPECT_EQ(fb->received[2].at_us, ref + 2000);
    EXPECT_EQ(fb->received[3].sequence, 104);
    EXPECT_EQ(fb->received[3].at_us, ref + 1000);  // a negative (large) delta
}

TEST(TransportFeedbackReader, ReadsBackEverythingTheRecorderWrites) {
    std::mt19937 rng(11);
    for (int round = 0; round < 300; ++round) {
        rtp::TransportFeedbackRecorder rec;
        std::map<std::uint16_t, Instant> truth;
        auto seq = static_cast<std::uint16_t>(rng());
        Instant t = Instant{} + std::chrono::milliseconds(rng() % 100000);
        const int n = 1 + static_cast<int>(rng() % 500);
        for (int i = 0; i < n; ++i, ++seq) {
            t += std::chrono::microseconds(rng() % 5 == 0 ? rng() % 100000 : rng() % 2000);
            if (rng() % 8 == 0) continue;  // lost
            rec.on_packet(seq, t);
            truth.emplace(seq, t);
        }
        std::map<std::uint16_t, std::int64_t> read;
        std::vector<std::byte> out;
        Instant now = t + 1s;
        while (rec.write(1, 2, now, out)) {
            const auto fb = rtp::read_transport_feedback(out);
            ASSERT_TRUE(fb) << "round " << round;
            std::uint16_t prev = 0;
            for (std::size_t i = 0; i < fb->received.size(); ++i) {
                const auto& a = fb->received[i];
                if (i > 0) {
                    EXPECT_NE(a.sequence, prev);
                }
                prev = a.sequence;
                read.emplace(a.sequence, a.at_us);
            }
            out.clear();
            now += 1s;
        }
        ASSERT_EQ(read.size(), truth.size()) << "round " << round;
        // The arrival times, from the first, to the 250 µs tick.
        const auto t0 = truth.begin()->second;
        const auto r0 = read.at(truth.begin()->first);
        for (const auto& [s, at] : truth) {
            const auto want = std::chrono::duration_cast<std::chrono::microseconds>(at - t0).count();
            EXPECT_LE(std::llabs(read.at(s) - r0 - want), 500) << "round " << round << " seq " << s;
        }
    }
}

TEST(TransportFeedbackReader, APacketThatLiesIsRefused) {
    ASSERT_TRUE(rtp::read_transport_feedback(kDraftPacket));
    auto p = kDraftPacket;
    p[0] = std::byte{0xAE};  // FMT 14
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    p = kDraftPacket;
    p[1] = std::byte{206};  // PSFB
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    p = kDraftPacket;
    p[0] = std::byte{0x8F};  // no padding (P clear)...
    p[3] = std::byte{0x07};  // ...and one word longer than the bytes
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    p = kDraftPacket;
    p[15] = std::byte{0x09};  // nine statuses: the chunks run into the deltas and the deltas run out
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    p = kDraftPacket;
    p[20] = std::byte{0xFC};  // a two-bit vector whose first symbol is 3 (reserved)
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    p = kDraftPacket;
    p[3] = std::byte{0x01};  // two words long, shorter than the fixed part, and 9 bytes of padding in its
    p[7] = std::byte{0x09};  // last: the end went below the start (found by the fuzzer: a read past the packet)
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    p = kDraftPacket;
    p.back() = std::byte{0x09};  // more padding than the packet
    EXPECT_FALSE(rtp::read_transport_feedback(p));
    // Cut short: only its padding may be missing (as parse_rtcp hands it over).
    for (std::size_t n = 0; n + 1 < kDraftPacket.size(); ++n)
        EXPECT_FALSE(rtp::read_transport_feedback(std::span(kDraftPacket.data(), n))) << n;
}

TEST(TransportFeedbackReader, ReadsThePacketAsTheCompoundParserHandsItOver) {
    // In a compound after a receiver report, as Chromium sends it: parse_rtcp
    // takes the padding off the last packet; the reader must still read it.
    std::vector<std::byte> compound;
    rtp::write_receiver_report(rtp::ReceiverReport{0x01020304, {}}, compound);
    compound.insert(compound.end(), kDraftPacket.begin(), kDraftPacket.end());
    const auto parsed = rtp::parse_rtcp(compound);
    ASSERT_TRUE(parsed.ok());
    ASSERT_EQ(parsed.value().size(), 2u);
    const auto* other = std::get_if<rtp::OtherRtcp>(&parsed.value()[1]);
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->packet.size(), kDraftPacket.size() - 1);  // without its byte of padding
    const auto fb = rtp::read_transport_feedback(other->packet);
    ASSERT_TRUE(fb);
    ASSERT_EQ(fb->received.size(), 4u);
    EXPECT_EQ(fb->received[3].sequence, 104);
}

TEST(TransportFeedbackReader, ARunOfLossesIsCountedNotListed) {
    // 65535 statuses in run-length chunks of "not received" (8191 each),
    // then one small delta: 24 bytes claim 65535 packets.
    std::vector<std::byte> p = bytes({0x8F, 0xCD, 0x00, 0x00, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 0});
    std::uint32_t left = 65534;
    while (left > 0) {
        const std::uint32_t run = std::min<std::uint32_t>(left, 0x1fff);
        p.push_back(std::byte((run >> 8) & 0x1f));
        p.push_back(std::byte(run & 0xff));
        left -= run;
    }
    p.push_back(std::byte{0x20});  // run-length: one small delta
    p.push_back(std::byte{0x01});
    p.push_back(std::byte{0x04});  // 1 ms
    while (p.size() % 4 != 0) p.push_back(std::byte{0});
    p[2] = std::byte((p.size() / 4 - 1) >> 8);
    p[3] = std::byte((p.size() / 4 - 1) & 0xff);
    const auto fb = rtp::read_transport_feedback(p);
    ASSERT_TRUE(fb);
    EXPECT_EQ(fb->status_count, 65535);
    ASSERT_EQ(fb->received.size(), 1u);
    EXPECT_EQ(fb->received[0].sequence, 65534);
    EXPECT_EQ(fb->received[0].at_us, 1000);
    EXPECT_LE(fb->received.capacity(), p.size());
}
