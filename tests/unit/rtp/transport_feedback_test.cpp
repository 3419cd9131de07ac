// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-
// wide-cc-extensions-01 §3.1): byte-literal packets, and every packet read
// back by a reader written from the draft here.
#include "proto/rtp/transport_feedback.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

using namespace duplex;
using namespace std::chrono_literals;
namespace rtp = duplex::proto::rtp;
using Instant = duplex::base::Instant;

namespace {

std::vector<std::byte> bytes(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int b : v) out.push_back(std::byte(b));
    return out;
}

unsigned u8(const std::vector<std::byte>& p, std::size_t i) { return std::to_integer<unsigned>(p.at(i)); }
unsigned u16(const std::vector<std::byte>& p, std::size_t i) { return u8(p, i) << 8 | u8(p, i + 1); }

// What a sender reads from one packet: sequence number -> arrival, in µs
// from the reference time's zero (the reader's own reading of §3.1).
struct Read {
    unsigned base = 0, count = 0, fb_count = 0;
    std::map<unsigned, std::int64_t> arrivals;  // 16-bit sequence -> µs
    bool ok = false;
};

Read read(const std::vector<std::byte>& p) {
    Read r;
    if (p.size() < 20 || (u8(p, 0) >> 6) != 2 || (u8(p, 0) & 0x1f) != 15 || u8(p, 1) != 205) return r;
    std::size_t end = (u16(p, 2) + 1) * 4;
    if (end != p.size()) return r;
    if (u8(p, 0) & 0x20) end -= u8(p, p.size() - 1);
    r.base = u16(p, 12);
    r.count = u16(p, 14);
    const std::int64_t reference = static_cast<std::int64_t>(u8(p, 16) << 16 | u8(p, 17) << 8 | u8(p, 18));
    r.fb_count = u8(p, 19);
    std::vector<unsigned> symbols;
    std::size_t at = 20;
    while (symbols.size() < r.count) {
        if (at + 2 > end) return r;
        const unsigned c = u16(p, at);
        at += 2;
        if (!(c & 0x8000)) {
            for (unsigned k = 0; k < (c & 0x1fff); ++k) symbols.push_back((c >> 13) & 3);
        } else if (!(c & 0x4000)) {
            for (int k = 13; k >= 0; --k) symbols.push_back((c >> k) & 1);
        } else {
            for (int k = 12; k >= 0; k -= 2) symbols.push_back((c >> k) & 3);
        }
    }
    symbols.resize(r.count);
    std::int64_t t = reference * 64000;
    for (unsigned i = 0; i < r.count; ++i) {
        if (symbols[i] == 0) continue;
        std::int64_t d;
        if (symbols[i] == 1) {
            if (at + 1 > end) return r;
            d = u8(p, at);
            at += 1;
        } else {
            if (at + 2 > end) return r;
            d = static_cast<std::int16_t>(u16(p, at));
            at += 2;
        }
        t += d * 250;
        r.arrivals[(r.base + i) & 0xffff] = t;
    }
    r.ok = at <= end;
    return r;
}

}  // namespace

TEST(TransportFeedback, APacketAsTheDraftLaysItOut) {
    rtp::TransportFeedbackRecorder rec;
    const Instant t0{};
    rec.on_packet(100, t0);
    rec.on_packet(101, t0 + 1ms);
    rec.on_packet(103, t0 + 2ms);   // 102 never comes
    rec.on_packet(104, t0 + 1ms);   // overtaken: a negative delta
    EXPECT_EQ(rec.poll_timeout(), t0 + 100ms);
    std::vector<std::byte> out;
    EXPECT_FALSE(rec.write(0x01020304, 0x05060708, t0 + 99ms, out));
    ASSERT_TRUE(rec.write(0x01020304, 0x05060708, t0 + 100ms, out));
    EXPECT_EQ(out, bytes({0xAF, 0xCD, 0x00, 0x06,           // V=2 P=1 FMT=15, RTPFB, 7 words
                          0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                          0x00, 0x64, 0x00, 0x05,           // base 100, 5 statuses
                          0x00, 0x00, 0x00, 0x00,           // reference time 0, feedback 0
                          0xD4, 0x60,                       // two-bit vector: small small none small large
                          0x00, 0x04, 0x04, 0xFF, 0xFC,     // deltas 0, 1 ms, 1 ms, -1 ms
                          0x01}));                          // one byte of padding
    EXPECT_EQ(rec.poll_timeout(), std::nullopt);
}

TEST(TransportFeedback, RunsAndWrapAroundReadBack) {
    rtp::TransportFeedbackRecorder rec;
    Instant t{};
    t += 5s;  // a reference time past zero
    std::map<unsigned, std::int64_t> sent;
    for (unsigned i = 0; i < 30; ++i) {
        const auto seq = static_cast<std::uint16_t>(65530 + i);  // wraps after 6
        rec.on_packet(seq, t + i * 2ms);
    }
    std::vector<std::byte> out;
    ASSERT_TRUE(rec.write(1, 2, t + 1s, out));
    const Read r = read(out);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.base, 65530u);
    EXPECT_EQ(r.count, 30u);
    EXPECT_EQ(u16(out, 20), 0x2000u | 30u);  // one run-length chunk: 30 small deltas
    ASSERT_EQ(r.arrivals.size(), 30u);
    const std::int64_t first = r.arrivals.at(65530);
    for (unsigned i = 0; i < 30; ++i) EXPECT_EQ(r.arrivals.at((65530 + i) & 0xffff) - first, i * 2000) << i;
}

TEST(TransportFeedback, EveryPatternReadsBackToTheQuarterMillisecond) {
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
        rtp::TransportFeedbackRecorder rec;
        const Instant t0 = Instant{} + std::chrono::milliseconds(rng() % 100000);
        std::map<unsigned, Instant> truth;
        auto seq = static_cast<std::uint16_t>(rng());
        Instant t = t0;
        const int n = 1 + static_cast<int>(rng() % 300);
        for (int i = 0; i < n; ++i, ++seq) {
            t += std::chrono::microseconds(rng() % 4 == 0 ? rng() % 200000 : rng() % 3000);  // some large gaps
            if (rng() % 10 == 0) continue;                                                     // lost
            const Instant at = rng() % 20 == 0 ? t - std::chrono::milliseconds(rng() % 20) : t;  // some overtaken
            rec.on_packet(seq, at);
            truth.emplace(seq, at);
        }
        std::map<unsigned, std::int64_t> got;
        std::vector<std::byte> out;
        Instant now = t;
        unsigned expected_count = 0;
        while (rec.poll_timeout()) {
            now = std::max(now, *rec.poll_timeout());
            out.clear();
            ASSERT_TRUE(rec.write(9, 8, now, out));
            const Read r = read(out);
            ASSERT_TRUE(r.ok) << round;
            EXPECT_EQ(r.fb_count, expected_count++ & 0xff);
            EXPECT_EQ(out.size() % 4, 0u);
            got.insert(r.arrivals.begin(), r.arrivals.end());
        }
        // Each packet's time relative to the first one's, to 250 µs (the
        // reference time's zero is the recorder's own).
        ASSERT_EQ(got.size(), truth.size()) << round;
        const auto first = truth.begin();
        for (const auto& [s, at] : truth) {
            const auto want = std::chrono::duration_cast<std::chrono::microseconds>(at - first->second).count();
            const auto have = got.at(s) - got.at(first->first);
            EXPECT_NEAR(static_cast<double>(have), static_cast<double>(want), 250.0) << round << " seq " << s;
        }
    }
}

TEST(TransportFeedback, LatePacketsAndAReceiverThatCannotSendAreBounded) {
    rtp::TransportFeedbackConfig cfg;
    cfg.max_pending = 128;
    rtp::TransportFeedbackRecorder rec(cfg);
    Instant t{};
    for (unsigned i = 0; i < 1000; ++i) rec.on_packet(static_cast<std::uint16_t>(i), t + i * 1ms);
    std::vector<std::byte> out;
    ASSERT_TRUE(rec.write(1, 2, t + 2s, out));
    const Read r = read(out);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.base, 872u);  // only the newest 128 were kept
    EXPECT_EQ(r.count, 128u);
    // Reported, then late: not reported again.
    rec.on_packet(950, t + 3s);
    EXPECT_EQ(rec.poll_timeout(), std::nullopt);
    rec.on_packet(1000, t + 3s);
    out.clear();
    ASSERT_TRUE(rec.write(1, 2, t + 4s, out));
    EXPECT_EQ(read(out).base, 1000u);
}
