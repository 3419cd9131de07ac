// The jitter buffer on virtual time: frames made by the real packetizers,
// sent through reorder, loss, duplication, jitter and wrap-around, and what
// comes out (order, bytes, timing, drops, the key-frame wish, the gaps).
#include "proto/rtp/jitter_buffer.hpp"

#include "proto/rtp/payload_format.hpp"
#include "proto/rtp/rtx.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace rtp = duplex::proto::rtp;
using duplex::base::Instant;
using namespace std::chrono_literals;

namespace {

struct Pkt {
    std::uint16_t seq;
    std::uint32_t ts;
    bool marker;
    std::vector<std::byte> payload;
};

// A VP8 frame of `size` bytes whose first byte says key (P=0) or delta (P=1)
// and whose other bytes carry the frame number, packetized at 300 bytes.
std::vector<std::byte> vp8_frame(int number, bool key, std::size_t size) {
    std::vector<std::byte> f(size);
    for (std::size_t i = 0; i < size; ++i) f[i] = std::byte(static_cast<std::uint8_t>(number * 31 + i));
    f[0] = std::byte(key ? 0x00 : 0x01);
    return f;
}

struct Sender {
    rtp::Codec codec;
    std::uint16_t seq;
    std::uint32_t ts;
    std::unique_ptr<rtp::Packetizer> packetizer = rtp::make_packetizer(codec);

    std::vector<Pkt> frame(const std::vector<std::byte>& data, std::uint32_t ts_step) {
        std::vector<Pkt> out;
        packetizer->start(duplex::base::Bytes(data.data(), data.size()), 300);
        std::vector<std::byte> buf(1200);
        for (;;) {
            bool last = false;
            const std::size_t n = packetizer->next(buf, last);
            if (n == 0) break;
            out.push_back(Pkt{seq++, ts, codec == rtp::Codec::Opus ? false : last, {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)}});
        }
        ts += ts_step;
        return out;
    }
};

struct Received {
    std::uint32_t ts;
    bool key;
    std::vector<std::byte> data;
    Instant at;
};

// Drives the buffer: inserts each packet at its time and polls at every
// timeout until `end`.
struct Rig {
    rtp::JitterBuffer jb;
    Instant now{};
    std::vector<Received> out;

    explicit Rig(rtp::Codec c, rtp::JitterBufferConfig cfg = {}) : jb(c, cfg) {}

    void drain() {
        while (auto f = jb.poll_frame(now))
            out.push_back(Received{f->rtp_timestamp, f->key_frame, {f->data.begin(), f->data.end()}, now});
    }
    void advance_to(Instant t) {
        for (;;) {
            drain();
            auto next = jb.poll_timeout();
            if (!next || *next > t) break;
            if (*next <= now) {  // due, yet poll_frame gave nothing: the two disagree
                ADD_FAILURE() << "poll_timeout is due but poll_frame returns nothing";
                break;
            }
            now = *next;
        }
        now = t;
        drain();
    }
    void insert(const Pkt& p, Instant at) {
        advance_to(at);
        jb.insert(p.seq, p.ts, p.marker, duplex::base::Bytes(p.payload.data(), p.payload.size()), now);
        drain();
    }
};

}  // namespace

TEST(JitterBuffer, InOrderFramesComeOutWholeAtTheirTime) {
    rtp::JitterBufferConfig cfg;
    cfg.min_delay = 20ms;
    Rig rig(rtp::Codec::Vp8, cfg);
    Sender s{rtp::Codec::Vp8, 1000, 5000};
    std::vector<std::vector<std::byte>> frames;
    Instant t{};
    for (int i = 0; i < 30; ++i) {
        frames.push_back(vp8_frame(i, i == 0, 100 + static_cast<std::size_t>(i) * 97));
        for (const auto& p : s.frame(frames.back(), 3000)) rig.insert(p, t);
        t += 33333us;
    }
    rig.advance_to(t + 1s);
    ASSERT_EQ(rig.out.size(), 30u);
    for (int i = 0; i < 30; ++i) {
        EXPECT_EQ(rig.out[static_cast<std::size_t>(i)].data, frames[static_cast<std::size_t>(i)]) << i;
        EXPECT_EQ(rig.out[static_cast<std::size_t>(i)].ts, 5000u + 3000u * static_cast<std::uint32_t>(i));
    }
    EXPECT_TRUE(rig.out[0].key);
    EXPECT_FALSE(rig.out[1].key);
    // No jitter: each frame leaves min_delay after it arrived, not sooner.
    for (int i = 0; i < 30; ++i) {
        const auto sent = Instant{} + i * 33333us;
        EXPECT_GE(rig.out[static_cast<std::size_t>(i)].at, sent + 20ms - 1us) << i;
        EXPECT_LE(rig.out[static_cast<std::size_t>(i)].at, sent + 21ms) << i;
    }
    EXPECT_EQ(rig.jb.stats().frames, 30u);
    EXPECT_EQ(rig.jb.stats().key_frames, 1u);
    EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
    EXPECT_FALSE(rig.jb.key_frame_wanted());
}

TEST(JitterBuffer, ReorderedAndDuplicatedPacketsMakeTheSameFrames) {
    Rig rig(rtp::Codec::Vp8);
    Sender s{rtp::Codec::Vp8, 7, 0};
    std::vector<std::vector<std::byte>> frames;
    std::vector<Pkt> all;
    for (int i = 0; i < 40; ++i) {
        frames.push_back(vp8_frame(i, i == 0, 1000));
        for (auto& p : s.frame(frames.back(), 3000)) all.push_back(std::move(p));
    }
    // Swap neighbours within windows of 4 and send a third of them twice:
    // every packet still arrives before its frame's time.
    std::mt19937 rng(42);
    for (std::size_t i = 0; i + 4 <= all.size(); i += 4) std::shuffle(all.begin() + static_cast<std::ptrdiff_t>(i), all.begin() + static_cast<std::ptrdiff_t>(i + 4), rng);
    Instant t{};
    for (std::size_t i = 0; i < all.size(); ++i) {
        rig.insert(all[i], t);
        if (i % 3 == 0) rig.insert(all[i], t);
        t += 8ms;
    }
    rig.advance_to(t + 2s);
    ASSERT_EQ(rig.out.size(), frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(rig.out[i].data, frames[i]) << i;
    EXPECT_GT(rig.jb.stats().duplicates, 0u);
    EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
    EXPECT_GT(rig.jb.stats().jitter_ms, 0.0);
}

TEST(JitterBuffer, SequenceAndTimestampWrapAround) {
    Rig rig(rtp::Codec::Vp8);
    Sender s{rtp::Codec::Vp8, 65530, 0xFFFFFFFFu - 6000};
    Instant t{};
    for (int i = 0; i < 10; ++i) {
        for (const auto& p : s.frame(vp8_frame(i, i == 0, 700), 3000)) rig.insert(p, t);
        t += 33ms;
    }
    rig.advance_to(t + 1s);
    ASSERT_EQ(rig.out.size(), 10u);
    EXPECT_EQ(rig.out[3].ts, 0xFFFFFFFFu - 6000 + 9000);  // past 2^32
    for (std::size_t i = 1; i < rig.out.size(); ++i) EXPECT_GT(rig.out[i].at, rig.out[i - 1].at) << i;
    EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
}

TEST(JitterBuffer, ALostPacketIsListedThenItsFrameDroppedAndAKeyFrameWanted) {
    Rig rig(rtp::Codec::Vp8);
    Sender s{rtp::Codec::Vp8, 100, 0};
    Instant t{};
    std::vector<std::vector<Pkt>> sent;
    for (int i = 0; i < 6; ++i) sent.push_back(s.frame(vp8_frame(i, i == 0 || i == 4, 700), 3000));
    // Frame 2's middle packet (of three) is lost.
    const std::uint16_t lost = sent[2][1].seq;
    for (int i = 0; i < 6; ++i) {
        for (const auto& p : sent[static_cast<std::size_t>(i)])
            if (p.seq != lost) rig.insert(p, t);
        if (i == 2 || i == 3) {  // seen as soon as a later packet came
            EXPECT_EQ(rig.jb.missing(), (std::vector<std::uint16_t>{lost}));
        }
        t += 33ms;
    }
    rig.advance_to(t + 1s);
    // 0 and 1 come out; 2 is incomplete, 3 refers to it: both dropped; 4 is
    // a key frame and everything starts again.
    std::vector<std::uint32_t> ts;
    for (const auto& r : rig.out) ts.push_back(r.ts);
    EXPECT_EQ(ts, (std::vector<std::uint32_t>{0, 3000, 12000, 15000}));
    EXPECT_EQ(rig.jb.stats().frames_dropped, 2u);
    EXPECT_FALSE(rig.jb.key_frame_wanted());
    EXPECT_TRUE(rig.jb.missing().empty());
}

TEST(JitterBuffer, ARetransmissionInTimeSavesTheFrame) {
    Rig rig(rtp::Codec::Vp8);
    Sender s{rtp::Codec::Vp8, 100, 0};
    std::vector<std::vector<Pkt>> sent;
    for (int i = 0; i < 4; ++i) sent.push_back(s.frame(vp8_frame(i, i == 0, 700), 3000));
    Instant t{};
    for (const auto& p : sent[0]) rig.insert(p, t);
    t += 33ms;
    rig.insert(sent[1][0], t);
    rig.insert(sent[1][2], t);
    t += 33ms;
    for (const auto& p : sent[2]) rig.insert(p, t);
    EXPECT_EQ(rig.jb.missing(), (std::vector<std::uint16_t>{sent[1][1].seq}));
    EXPECT_TRUE(rig.jb.poll_timeout().has_value());
    t += 5ms;  // the NACK's round trip: before frame 2's time
    rig.insert(sent[1][1], t);
    rig.advance_to(t + 1s);
    EXPECT_EQ(rig.out.size(), 3u);
    EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
    // Too late: a retransmission after its frame was given up is counted, not used.
    rig.insert(sent[1][1], t + 2s);
    EXPECT_EQ(rig.jb.stats().late, 1u);
}

TEST(JitterBuffer, TheDelayFollowsTheJitterWithinItsBounds) {
    rtp::JitterBufferConfig cfg;
    cfg.min_delay = 10ms;
    cfg.max_delay = 200ms;
    Rig rig(rtp::Codec::Vp8, cfg);
    Sender s{rtp::Codec::Vp8, 0, 0};
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> extra(0, 40);  // 0..40 ms of queueing on the way
    Instant t{};
    for (int i = 0; i < 300; ++i) {
        const auto arrival = t + std::chrono::milliseconds(extra(rng));
        for (const auto& p : s.frame(vp8_frame(i, i == 0, 200), 3000)) rig.insert(p, std::max(arrival, rig.now));
        t += 33ms;
    }
    rig.advance_to(t + 1s);
    EXPECT_GT(rig.jb.stats().jitter_ms, 5.0);
    EXPECT_GT(rig.jb.delay(), 15ms);
    EXPECT_LE(rig.jb.delay(), 200ms);
    EXPECT_EQ(rig.out.size(), 300u);
    // Released in order and evenly enough: once the delay has grown, frames
    // leave at their media times plus a steady offset, not when they arrive.
    for (std::size_t i = 1; i < rig.out.size(); ++i) EXPECT_GE(rig.out[i].at, rig.out[i - 1].at);

    rtp::JitterBufferConfig capped = cfg;
    capped.max_delay = 30ms;
    Rig rig2(rtp::Codec::Vp8, capped);
    Sender s2{rtp::Codec::Vp8, 0, 0};
    std::mt19937 rng2(7);
    t = Instant{};
    for (int i = 0; i < 100; ++i) {
        const auto arrival = t + std::chrono::milliseconds(extra(rng2));
        for (const auto& p : s2.frame(vp8_frame(i, i == 0, 200), 3000)) rig2.insert(p, std::max(arrival, rig2.now));
        t += 33ms;
    }
    EXPECT_EQ(rig2.jb.delay(), 30ms);
}

TEST(JitterBuffer, OpusPacketsAreFramesAndALossIsOneDrop) {
    Rig rig(rtp::Codec::Opus);
    Sender s{rtp::Codec::Opus, 65500, 0};
    Instant t{};
    std::vector<std::vector<std::byte>> frames;
    for (int i = 0; i < 100; ++i) {
        frames.push_back(vp8_frame(i, true, 60));  // any bytes: an Opus frame is opaque here
        auto pkts = s.frame(frames.back(), 960);
        ASSERT_EQ(pkts.size(), 1u);
        if (i != 50) rig.insert(pkts[0], t);
        t += 20ms;
    }
    rig.advance_to(t + 1s);
    EXPECT_EQ(rig.out.size(), 99u);
    EXPECT_EQ(rig.out[50].data, frames[51]);
    EXPECT_EQ(rig.jb.stats().frames_dropped, 1u);
    EXPECT_FALSE(rig.jb.key_frame_wanted());  // audio needs none
}

TEST(JitterBuffer, StreamStartingMidFrameWaitsForAKeyFrame) {
    Rig rig(rtp::Codec::Vp8);
    Sender s{rtp::Codec::Vp8, 10, 0};
    auto f0 = s.frame(vp8_frame(0, true, 700), 3000);
    auto f1 = s.frame(vp8_frame(1, false, 700), 3000);
    auto f2 = s.frame(vp8_frame(2, true, 700), 3000);
    Instant t{};
    for (std::size_t i = 1; i < f0.size(); ++i) rig.insert(f0[i], t);  // joined late: no start
    t += 33ms;
    for (const auto& p : f1) rig.insert(p, t);
    EXPECT_TRUE(rig.jb.key_frame_wanted());
    t += 33ms;
    for (const auto& p : f2) rig.insert(p, t);
    rig.advance_to(t + 1s);
    ASSERT_EQ(rig.out.size(), 1u);
    EXPECT_TRUE(rig.out[0].key);
    EXPECT_EQ(rig.out[0].ts, 6000u);
    EXPECT_FALSE(rig.jb.key_frame_wanted());
}

TEST(JitterBuffer, HostileStreamsAreBounded) {
    rtp::JitterBufferConfig cfg;
    cfg.capacity = 64;
    cfg.max_frame_bytes = 2000;
    Rig rig(rtp::Codec::Vp8, cfg);
    Sender s{rtp::Codec::Vp8, 0, 0};
    Instant t{};
    for (const auto& p : s.frame(vp8_frame(0, true, 700), 3000)) rig.insert(p, t);
    // A frame that never ends (no marker, one timestamp), far longer than we hold.
    const std::vector<std::byte> cont = {std::byte{0x00}, std::byte{1}, std::byte{2}};  // a descriptor with S=0
    for (int i = 0; i < 1000; ++i) rig.insert(Pkt{static_cast<std::uint16_t>(10 + i), 3000, false, cont}, t);
    EXPECT_LE(rig.jb.missing(1000).size(), 64u);
    // A jump far ahead flushes and waits for a key frame.
    rig.insert(Pkt{30000, 900000, true, s.frame(vp8_frame(1, false, 100), 3000)[0].payload}, t);
    EXPECT_GE(rig.jb.stats().overruns, 1u);
    EXPECT_TRUE(rig.jb.key_frame_wanted());
    // Payloads and frames over their limits are dropped, not held.
    std::vector<std::byte> huge(1501);
    rig.insert(Pkt{30001, 903000, true, huge}, t);
    EXPECT_EQ(rig.jb.stats().oversized, 1u);
    Sender big{rtp::Codec::Vp8, 40000, 1'000'000};
    for (const auto& p : big.frame(vp8_frame(2, true, 5000), 3000)) rig.insert(p, t);
    rig.advance_to(t + 1s);
    EXPECT_GE(rig.jb.stats().oversized, 2u);
    // Only the first key frame came out (the later packets, all at the same
    // instant, made it due at once); the rest was flushed or over its limit.
    ASSERT_EQ(rig.out.size(), 1u);
    EXPECT_EQ(rig.out[0].ts, 0u);
    EXPECT_EQ(rig.out[0].data.size(), 700u);
}

TEST(PacketHistory, APacketGoesAgainAtMostOncePerInterval) {
    rtp::PacketHistory h(16);
    const std::vector<std::byte> pkt(100, std::byte{7});
    Instant t{};
    h.store(5, pkt, t);
    EXPECT_TRUE(h.take_for_resend(5, t + 1ms, 50ms).has_value());
    EXPECT_FALSE(h.take_for_resend(5, t + 20ms, 50ms).has_value());  // a repeated NACK within the round trip
    EXPECT_TRUE(h.take_for_resend(5, t + 60ms, 50ms).has_value());
    EXPECT_FALSE(h.take_for_resend(6, t + 60ms, 50ms).has_value());  // never sent
    h.store(21, pkt, t);  // 21 takes 5's slot (16 entries)
    EXPECT_FALSE(h.find(5).has_value());
    EXPECT_TRUE(h.take_for_resend(21, t + 1ms, 50ms).has_value());
}

TEST(JitterBuffer, TheLossWaitGivesARetransmissionItsRoundTrip) {
    // Frame 1 loses a packet; its retransmission comes 80 ms later, after
    // frame 2 is due. Without a loss wait frame 1 is given up; with 100 ms
    // it is saved, and only the frames behind it wait.
    for (auto wait : {0ms, 100ms}) {
        Rig rig(rtp::Codec::Vp8);
        rig.jb.set_loss_wait(wait);
        Sender s{rtp::Codec::Vp8, 100, 0};
        std::vector<std::vector<Pkt>> sent;
        for (int i = 0; i < 4; ++i) sent.push_back(s.frame(vp8_frame(i, i == 0, 700), 3000));
        Instant t{};
        for (const auto& p : sent[0]) rig.insert(p, t);
        t += 33ms;
        rig.insert(sent[1][0], t);
        rig.insert(sent[1][2], t);
        t += 33ms;
        for (const auto& p : sent[2]) rig.insert(p, t);
        rig.insert(sent[1][1], t + 80ms);
        rig.advance_to(t + 1s);
        if (wait == 0ms) {
            EXPECT_EQ(rig.jb.stats().frames_dropped, 2u);  // frame 1, and frame 2 that refers to it
        } else {
            EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
            ASSERT_EQ(rig.out.size(), 3u);
            EXPECT_GE(rig.out[1].at, t + 80ms);  // frame 1 when its packet came
        }
    }
}

TEST(JitterBuffer, TheLossWaitRunsFromWhenTheLaterFrameCameNotFromWhenItWasDue) {
    // Frame 1 loses a packet, and frame 2 (which shows the loss) comes 200 ms
    // late, long after its time: the retransmission, 80 ms after frame 2,
    // still saves frame 1 (seen given up, with frame 2, when the wait ran
    // from frame 2's time).
    Rig rig(rtp::Codec::Vp8);
    rig.jb.set_loss_wait(100ms);
    Sender s{rtp::Codec::Vp8, 100, 0};
    std::vector<std::vector<Pkt>> sent;
    for (int i = 0; i < 4; ++i) sent.push_back(s.frame(vp8_frame(i, i == 0, 700), 3000));
    Instant t{};
    for (const auto& p : sent[0]) rig.insert(p, t);
    t += 33ms;
    rig.insert(sent[1][0], t);
    rig.insert(sent[1][2], t);
    t += 33ms + 200ms;
    for (const auto& p : sent[2]) rig.insert(p, t);
    EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
    rig.insert(sent[1][1], t + 80ms);
    rig.advance_to(t + 1s);
    EXPECT_EQ(rig.jb.stats().frames_dropped, 0u);
    ASSERT_EQ(rig.out.size(), 3u);
    EXPECT_GE(rig.out[1].at, t + 80ms);
}

TEST(JitterBuffer, AFrameWhoseTailTheSenderNeverSentIsDroppedNotCutShort) {
    // The sender numbered its packets as they left (a browser's pacer does)
    // and sent only the first of frame 0's before the next frame: the next
    // sequence number is frame 1's. Frame 0 has no marker, so it is not
    // whole (RFC 7741 §4.1: the marker ends a frame); handing out its first
    // packet as the frame gave the decoder a cut-off key frame (seen in CI:
    // Chromium's first 640x480 key frame, then a 320x240 one). It is dropped
    // at once (nothing can fill it) and frame 1, a key frame, goes.
    Rig rig(rtp::Codec::Vp8);
    rig.jb.set_loss_wait(100ms);
    Sender s{rtp::Codec::Vp8, 100, 0};
    const auto f0 = s.frame(vp8_frame(0, true, 900), 3000);   // 3 packets; only the first is sent
    s.seq = 101;                                                // what the sender numbers next
    const auto f1 = s.frame(vp8_frame(1, true, 600), 3000);
    const auto f2 = s.frame(vp8_frame(2, false, 300), 3000);
    Instant t{};
    rig.insert(f0[0], t);
    t += 33ms;
    for (const auto& p : f1) rig.insert(p, t);
    t += 33ms;
    for (const auto& p : f2) rig.insert(p, t);
    rig.advance_to(t + 1s);
    ASSERT_EQ(rig.out.size(), 2u);
    EXPECT_EQ(rig.out[0].data, vp8_frame(1, true, 600));
    EXPECT_TRUE(rig.out[0].key);
    EXPECT_EQ(rig.out[1].data, vp8_frame(2, false, 300));
    EXPECT_EQ(rig.jb.stats().frames_dropped, 1u);
    EXPECT_LT(rig.out[0].at, Instant{} + 33ms + 100ms);  // not held for the loss wait: nothing could fill it
}
