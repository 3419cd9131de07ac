// rtc::Peer with audio and video: two peers connected in memory (ICE, DTLS,
// SRTP), frames made by the real packetizers sent one way or both, through
// a lossy path that NACK and RTX repair, key-frame requests, and SRTP that
// does not authenticate. DTLS keeps real time (decision 0008), so the pair
// runs on the clock, waiting on the peers' own deadlines.
#include "proto/rtc/peer.hpp"
#include "proto/sdp/session_description.hpp"

#include "unit/rtc/peer_pair_in_memory.hpp"
#include "unit/sdp/fixtures.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

using namespace duplex;
using namespace duplex::proto::rtc;
using namespace std::chrono_literals;

namespace {

using duplex::test::now;
using duplex::test::Pair;
using duplex::test::Received;

std::vector<std::byte> frame_bytes(int number, bool key, std::size_t size) {
    std::vector<std::byte> f(size);
    for (std::size_t i = 0; i < size; ++i) f[i] = std::byte(static_cast<std::uint8_t>(number * 7 + i * 13));
    f[0] = std::byte(key ? 0x00 : 0x01);  // VP8: the inverse key frame flag
    return f;
}

// The payload type of an RTP datagram (SRTP keeps the header clear).
int rtp_payload_type(const Transmit& t) {
    if (t.data.size() < 12) return -1;
    const auto b0 = std::to_integer<unsigned>(t.data[0]);
    const auto b1 = std::to_integer<unsigned>(t.data[1]);
    if (b0 < 128 || b0 > 191) return -1;
    if ((b1 & 0x7F) >= 64 && (b1 & 0x7F) <= 95) return -1;  // RTCP
    return static_cast<int>(b1 & 0x7F);
}

}  // namespace

TEST(PeerMedia, VideoFramesCrossWholeAndInOrder) {
    Pair p;
    TransceiverOptions o;
    o.kind = MediaKind::Video;
    o.send = true;
    o.receive = false;
    o.stream_id = "camera";
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));

    const auto* info = p.a.peer->transceiver(tx);
    ASSERT_NE(info, nullptr);
    EXPECT_TRUE(info->sending);
    EXPECT_FALSE(info->receiving);
    EXPECT_EQ(info->codec, MediaCodec::Vp8);
    ASSERT_EQ(p.b.added.size(), 1u);  // B's recvonly transceiver, made by the offer
    const auto rx = p.b.added[0];
    EXPECT_TRUE(p.b.peer->transceiver(rx)->receiving);
    EXPECT_EQ(p.b.peer->transceiver(rx)->remote_stream_id, "camera");
    EXPECT_EQ(p.b.peer->transceiver(rx)->mid, info->mid);

    std::vector<std::vector<std::byte>> sent;
    for (int i = 0; i < 40; ++i) {
        sent.push_back(frame_bytes(i, i % 20 == 0, 500 + static_cast<std::size_t>(i) * 211));
        ASSERT_TRUE(p.a.peer->send_frame(tx, sent.back(), 1000 + 3000 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() >= sent.size(); }, 5s)) << p.b.frames.size();
    for (std::size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(p.b.frames[i].data, sent[i]) << i;
        EXPECT_EQ(p.b.frames[i].ts, 1000 + 3000 * i);
        EXPECT_EQ(p.b.frames[i].key, rx);
    }
    EXPECT_TRUE(p.b.frames[0].key_frame);
    EXPECT_EQ(p.a.peer->transceiver(tx)->stats.frames_sent, 40u);
    EXPECT_EQ(p.b.peer->transceiver(rx)->stats.frames_received, 40u);
    EXPECT_EQ(p.b.peer->transceiver(rx)->stats.frames_dropped, 0u);
    // A receive-only transceiver cannot send; an unknown key is an error.
    EXPECT_FALSE(p.b.peer->send_frame(rx, sent[0], 0, now()).ok());
    EXPECT_FALSE(p.a.peer->send_frame(999, sent[0], 0, now()).ok());
}

TEST(PeerMedia, LostPacketsAreAskedForAndComeBackOverRtx) {
    Pair p;
    TransceiverOptions o;
    o.receive = false;
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    const int video_pt = p.a.peer->transceiver(tx)->payload_type;
    // Every 7th original video packet is lost once (RTX, another payload type, passes).
    int count = 0;
    p.drop_a_to_b = [&](const Transmit& t) { return rtp_payload_type(t) == video_pt && ++count % 7 == 0; };
    std::vector<std::vector<std::byte>> sent;
    for (int i = 0; i < 30; ++i) {
        sent.push_back(frame_bytes(i, i == 0, 3000));
        ASSERT_TRUE(p.a.peer->send_frame(tx, sent.back(), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() >= sent.size(); }, 5s)) << p.b.frames.size();
    for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(p.b.frames[i].data, sent[i]) << i;
    const auto rx = p.b.added.at(0);
    const auto& in = p.b.peer->transceiver(rx)->stats;
    const auto& out = p.a.peer->transceiver(tx)->stats;
    EXPECT_GT(count / 7, 5);
    EXPECT_GE(in.nacks_sent, 1u);
    EXPECT_GE(out.nacks_received, 1u);
    EXPECT_GE(out.retransmitted_packets_sent, static_cast<std::uint64_t>(count / 7));
    EXPECT_GE(in.retransmitted_packets_received, static_cast<std::uint64_t>(count / 7));
    EXPECT_EQ(in.frames_dropped, 0u);
}

TEST(PeerMedia, RetransmissionsTakeNoMoreThanTheBandwidthEstimate) {
    // Half the video packets are lost and so is every retransmission: B asks
    // again and again (ten times a packet, once per round trip). What A
    // resends draws on a bucket that fills at the estimate and holds a
    // second of it; without it, A would resend each lost packet ten times,
    // several times the media's own rate.
    Pair p;
    TransceiverOptions o;
    o.receive = false;
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    const int video_pt = p.a.peer->transceiver(tx)->payload_type;
    int count = 0;
    std::uint64_t resent_bytes = 0;
    p.drop_a_to_b = [&](const Transmit& t) {
        const int pt = rtp_payload_type(t);
        if (pt >= 0 && pt != video_pt) {  // RTX
            resent_bytes += t.data.size();
            return true;
        }
        return pt == video_pt && ++count % 2 == 0;
    };
    const auto start = now();
    std::uint32_t highest_estimate = 0;
    for (int i = 0; i < 90; ++i) {  // 3 s of 720 kbit/s
        ASSERT_TRUE(p.a.peer->send_frame(tx, frame_bytes(i, i == 0, 3000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        ASSERT_TRUE(p.run_until([&] { return now() >= start + (i + 1) * 33ms; }, 1s));
        if (auto e = p.a.peer->stats().available_outgoing_bitrate) highest_estimate = std::max(highest_estimate, *e);
    }
    const auto& out = p.a.peer->transceiver(tx)->stats;
    ASSERT_GT(highest_estimate, 0u) << "no estimate: nothing to hold the retransmissions to";
    const double seconds = std::chrono::duration<double>(now() - start).count();
    EXPECT_GT(out.nacks_received, 10u);
    EXPECT_GT(out.retransmissions_skipped, 0u);
    EXPECT_LE(static_cast<double>(resent_bytes) * 8, highest_estimate * (seconds + 1.0))
        << resent_bytes << " bytes resent in " << seconds << " s, the estimate at most " << highest_estimate;
}

TEST(PeerMedia, KeyFrameRequestsReachTheSender) {
    Pair p;
    TransceiverOptions o;
    o.receive = false;
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    const auto rx = p.b.added.at(0);
    EXPECT_FALSE(p.a.peer->request_key_frame(tx, now()).ok());  // A's transceiver receives nothing to ask for
    ASSERT_TRUE(p.a.peer->send_frame(tx, frame_bytes(0, true, 800), 0, now()).ok());
    ASSERT_TRUE(p.run_until([&] { return !p.b.frames.empty(); }, 5s));
    ASSERT_TRUE(p.b.peer->request_key_frame(rx, now()).ok());
    ASSERT_TRUE(p.run_until([&] { return !p.a.key_asks.empty(); }, 5s));
    EXPECT_EQ(p.a.key_asks[0], tx);
    EXPECT_EQ(p.a.peer->transceiver(tx)->stats.plis_received, 1u);
    EXPECT_EQ(p.b.peer->transceiver(rx)->stats.plis_sent, 1u);
}

TEST(PeerMedia, AudioBothWaysWithTheAnswerersOwnTrack) {
    Pair p;
    TransceiverOptions o;
    o.kind = MediaKind::Audio;
    const auto ta = p.a.peer->add_transceiver(o, now()).value();
    TransceiverKey tb = 0;
    p.negotiate([&] { tb = p.b.peer->add_transceiver(o, now()).value(); });
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    EXPECT_TRUE(p.b.added.empty());  // B's own transceiver took the offered section
    EXPECT_EQ(p.b.peer->transceiver(tb)->mid, p.a.peer->transceiver(ta)->mid);
    EXPECT_TRUE(p.a.peer->transceiver(ta)->sending && p.a.peer->transceiver(ta)->receiving);
    EXPECT_TRUE(p.b.peer->transceiver(tb)->sending && p.b.peer->transceiver(tb)->receiving);
    EXPECT_EQ(p.b.peer->transceiver(tb)->codec, MediaCodec::Opus);
    for (int i = 0; i < 25; ++i) {
        const std::uint32_t ts = 960 * static_cast<std::uint32_t>(i);
        ASSERT_TRUE(p.a.peer->send_frame(ta, frame_bytes(i, true, 80), ts, now()).ok());
        ASSERT_TRUE(p.b.peer->send_frame(tb, frame_bytes(100 + i, true, 60), ts, now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.a.frames.size() >= 25 && p.b.frames.size() >= 25; }, 5s));
    EXPECT_EQ(p.b.frames[24].data, frame_bytes(24, true, 80));
    EXPECT_EQ(p.a.frames[24].data, frame_bytes(124, true, 60));
}

// The offer without what names its streams: no a=ssrc / a=ssrc-group lines and
// no mid header extension (as libdatachannel's answers are).
std::string without_stream_names(const std::string& sdp) {
    std::string out;
    std::size_t at = 0;
    while (at < sdp.size()) {
        auto end = sdp.find("\r\n", at);
        if (end == std::string::npos) end = sdp.size();
        const std::string line = sdp.substr(at, end - at);
        at = end + 2;
        if (line.starts_with("a=ssrc") || (line.starts_with("a=extmap:") && line.find("sdes:mid") != std::string::npos))
            continue;
        out += line + "\r\n";
    }
    return out;
}

TEST(PeerMedia, UnsignalledStreamsGoToTheOnlySectionOfTheirPayloadTypeWithoutAStream) {
    // RFC 8843 §9.2: no SSRC in the SDP, no mid in the packets: a payload
    // type that one m= section alone has names it.
    Pair p;
    p.edit_offer = without_stream_names;
    TransceiverOptions video, audio;
    video.kind = MediaKind::Video;
    video.receive = false;
    audio.kind = MediaKind::Audio;
    audio.receive = false;
    const auto tv = p.a.peer->add_transceiver(video, now()).value();
    const auto ta = p.a.peer->add_transceiver(audio, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    ASSERT_EQ(p.b.added.size(), 2u);
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(p.a.peer->send_frame(tv, frame_bytes(i, i == 0, 3000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        ASSERT_TRUE(p.a.peer->send_frame(ta, frame_bytes(50 + i, true, 90), 960 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    std::size_t v = 0, a = 0;
    ASSERT_TRUE(p.run_until([&] {
        v = a = 0;
        for (const auto& f : p.b.frames) ++(p.b.peer->transceiver(f.key)->kind == MediaKind::Video ? v : a);
        return v >= 10 && a >= 10;
    }, 5s)) << v << " video and " << a << " audio frames";
    for (const auto& f : p.b.frames) {
        const auto* info = p.b.peer->transceiver(f.key);
        EXPECT_EQ(info->mid, p.a.peer->transceiver(info->kind == MediaKind::Video ? tv : ta)->mid);
    }
    // Found once, a stream is bound to its section: a video section added
    // later is the only one without a stream, so the new one goes there
    // (and the first keeps its own).
    const auto tv2 = p.a.peer->add_transceiver(video, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.b.added.size() == 3; }, 2s));
    p.b.frames.clear();
    for (int i = 10; i < 20; ++i) {
        const auto ts = 3000 * static_cast<std::uint32_t>(i);
        ASSERT_TRUE(p.a.peer->send_frame(tv, frame_bytes(i, false, 3000), ts, now()).ok());
        ASSERT_TRUE(p.a.peer->send_frame(tv2, frame_bytes(100 + i, i == 10, 2000), ts, now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() >= 20; }, 5s)) << p.b.frames.size();
    for (const auto& f : p.b.frames) {
        const auto& mid = p.b.peer->transceiver(f.key)->mid;
        EXPECT_TRUE(mid == p.a.peer->transceiver(f.data.size() == 3000 ? tv : tv2)->mid) << mid;
    }
}

TEST(PeerMedia, AnAnswerThatRepeatsOurSsrcGroupDoesNotHideTheRemotesStream) {
    // libdatachannel answers with our own a=ssrc-group:FID and no SSRC of its
    // own, and sends on an SSRC it never names: that stream is still found
    // (by payload type), not taken for ours.
    Pair p;
    p.edit_offer = without_stream_names;  // B writes no mid
    TransceiverOptions video;
    video.kind = MediaKind::Video;
    const auto ta = p.a.peer->add_transceiver(video, now()).value();
    std::string fid;
    p.edit_answer = [&](std::string answer) {
        std::string ours;
        for (auto at = p.a.peer->local_description()->second.find("a=ssrc-group:FID"); at != std::string::npos;) {
            ours = p.a.peer->local_description()->second.substr(at, p.a.peer->local_description()->second.find("\r\n", at) - at);
            break;
        }
        fid = ours;
        auto stripped = without_stream_names(answer);
        const auto at = stripped.find("m=video");
        const auto eol = stripped.find("\r\n", stripped.find("a=mid:", at));
        return stripped.insert(eol + 2, ours + "\r\n");
    };
    TransceiverKey tb = 0;
    p.negotiate([&] { tb = p.b.peer->add_transceiver(video, now()).value(); });
    ASSERT_FALSE(fid.empty());
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(p.b.peer->send_frame(tb, frame_bytes(i, i == 0, 3000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.a.frames.size() >= 10; }, 5s)) << p.a.frames.size() << " frames; answer had " << fid;
    EXPECT_EQ(p.a.frames[0].key, ta);
}

TEST(PeerMedia, AnUnsignalledStreamWhosePayloadTypeTwoSectionsShareGoesNowhere) {
    Pair p;
    p.edit_offer = without_stream_names;
    TransceiverOptions video;
    video.kind = MediaKind::Video;
    video.receive = false;
    const auto t1 = p.a.peer->add_transceiver(video, now()).value();
    (void)p.a.peer->add_transceiver(video, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(p.a.peer->send_frame(t1, frame_bytes(i, i == 0, 3000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    // Sent and arrived (A counts them sent) but neither section can claim them.
    EXPECT_FALSE(p.run_until([&] { return !p.b.frames.empty(); }, 300ms));
    EXPECT_EQ(p.a.peer->transceiver(t1)->stats.frames_sent, 10u);
    for (auto key : p.b.added) EXPECT_EQ(p.b.peer->transceiver(key)->stats.packets_received, 0u);
}

// The rtpmap codec names of the video section of an SDP, in order.
std::vector<std::string> video_codecs(const std::string& sdp) {
    std::vector<std::string> out;
    const auto at = sdp.find("m=video");
    if (at == std::string::npos) return out;
    const auto end = sdp.find("\r\nm=", at);
    const std::string section = sdp.substr(at, end == std::string::npos ? std::string::npos : end - at);
    for (std::size_t p = section.find("a=rtpmap:"); p != std::string::npos; p = section.find("a=rtpmap:", p + 1)) {
        const auto name = section.find(' ', p) + 1;
        out.push_back(section.substr(name, section.find('/', name) - name));
    }
    return out;
}

TEST(PeerMedia, CodecPreferencesNarrowAndOrderTheOfferAndTheAnswer) {
    // W3C setCodecPreferences / RFC 8829 §5.2.1, §5.3.1.
    Pair p;
    TransceiverOptions video;
    video.kind = MediaKind::Video;
    const auto ta = p.a.peer->add_transceiver(video, now()).value();
    EXPECT_EQ(p.a.peer->set_codec_preferences(ta, {MediaCodec::Opus}).code(), make_error_code(Errc::invalid_argument));
    ASSERT_TRUE(p.a.peer->set_codec_preferences(ta, {MediaCodec::H264}).ok());
    auto offer = p.a.peer->create_offer().value();
    EXPECT_EQ(video_codecs(offer), (std::vector<std::string>{"H264", "rtx", "H264", "rtx"}));  // modes 1 and 0
    // Back to the default: both, VP8 first.
    ASSERT_TRUE(p.a.peer->set_codec_preferences(ta, {}).ok());
    EXPECT_EQ(video_codecs(p.a.peer->create_offer().value()),
              (std::vector<std::string>{"VP8", "rtx", "H264", "rtx", "H264", "rtx"}));

    // The answerer's own track prefers H.264: its answer lists it first, and
    // both send it.
    TransceiverKey tb = 0;
    std::string answer;
    p.negotiate([&] {
        tb = p.b.peer->add_transceiver(video, now()).value();
        ASSERT_TRUE(p.b.peer->set_codec_preferences(tb, {MediaCodec::H264, MediaCodec::Vp8}).ok());
    });
    EXPECT_EQ(p.b.peer->transceiver(tb)->mid, p.a.peer->transceiver(ta)->mid);
    if (auto d = p.b.peer->local_description()) answer = d->second;
    EXPECT_EQ(video_codecs(answer), (std::vector<std::string>{"H264", "rtx", "H264", "rtx", "VP8", "rtx"})) << answer;
    EXPECT_EQ(p.a.peer->transceiver(ta)->codec, MediaCodec::H264);
    EXPECT_EQ(p.b.peer->transceiver(tb)->codec, MediaCodec::H264);
}

TEST(PeerMedia, TheReceiverToldTheSenderWhatArrivedWhenBothListTransportCcAndItMadeAnEstimate) {
    // draft-holmer-rmcat-transport-wide-cc-extensions-01: every ~100 ms
    // while packets with the transport-wide number arrive. Without
    // a=rtcp-fb transport-cc in the offer, none.
    for (bool listed : {true, false}) {
        Pair p;
        if (!listed)
            p.edit_offer = [](std::string sdp) {
                for (auto at = sdp.find(" transport-cc\r\n"); at != std::string::npos; at = sdp.find(" transport-cc\r\n")) {
                    const auto start = sdp.rfind("\r\n", at) + 2;
                    sdp.erase(start, at + 15 - start);
                }
                return sdp;
            };
        TransceiverOptions video;
        video.kind = MediaKind::Video;
        video.receive = false;
        const auto tv = p.a.peer->add_transceiver(video, now()).value();
        p.negotiate();
        ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
        const auto start = now();
        for (int i = 0; i < 12; ++i) {
            ASSERT_TRUE(p.a.peer->send_frame(tv, frame_bytes(i, i == 0, 2500), 3000 * static_cast<std::uint32_t>(i), now()).ok());
            ASSERT_TRUE(p.run_until([&] { return now() >= start + (i + 1) * 33ms; }, 1s));
        }
        ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() >= 12; }, 2s));
        if (listed) {
            ASSERT_TRUE(p.run_until([&] { return p.a.peer->stats().transport_feedback_received >= 2; }, 2s))
                << p.b.peer->stats().transport_feedback_sent;
            EXPECT_EQ(p.a.peer->stats().transport_feedback_received, p.b.peer->stats().transport_feedback_sent);
            EXPECT_LE(p.b.peer->stats().transport_feedback_sent, 8u);  // ~100 ms apart over ~400 ms, not per packet
            // The sender read it (as parse_rtcp hands it over, in a compound
            // after a report) into a bandwidth estimate, and said so.
            ASSERT_TRUE(p.a.peer->stats().available_outgoing_bitrate);
            const auto said = std::count_if(p.a.events.begin(), p.a.events.end(), [](const PeerEvent& e) {
                return std::holds_alternative<event::OutgoingBitrate>(e);
            });
            EXPECT_GE(said, 1);
            const auto first = std::find_if(p.a.events.begin(), p.a.events.end(), [](const PeerEvent& e) {
                return std::holds_alternative<event::OutgoingBitrate>(e);
            });
            ASSERT_NE(first, p.a.events.end());
            EXPECT_GE(std::get<event::OutgoingBitrate>(*first).bits_per_second, 50'000u);
        } else {
            (void)p.run_until([] { return false; }, 300ms);
            EXPECT_EQ(p.b.peer->stats().transport_feedback_sent, 0u);
            EXPECT_EQ(p.a.peer->stats().transport_feedback_received, 0u);
            EXPECT_FALSE(p.a.peer->stats().available_outgoing_bitrate);
        }
    }
}

TEST(PeerMedia, AReceiveOnlyPeerTimesItsLossWaitOnTheRoundTripIceMeasured) {
    // B only receives: RTCP gives it no round trip (only a sender's report
    // carries the times). ICE's checks measured one (here, under a
    // millisecond): a hole nothing fills costs B eight of those and 60 ms
    // before it gives the frame up, not the 860 ms of an unknown (100 ms)
    // round trip.
    Pair p;
    TransceiverOptions o;
    o.receive = false;
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    ASSERT_TRUE(p.b.peer->stats().rtt.has_value());
    const int video_pt = p.a.peer->transceiver(tx)->payload_type;
    const int rtx_pt = video_pt + 1;  // 97 for VP8's 96
    bool lose = false;
    p.drop_a_to_b = [&](const Transmit& t) {
        const int pt = rtp_payload_type(t);
        if (pt == rtx_pt) return true;  // no retransmission ever arrives
        if (lose && pt == video_pt) {
            lose = false;
            return true;
        }
        return false;
    };
    base::Instant lost_at{};
    const auto start = now();
    for (int i = 0; i < 12; ++i) {
        if (i == 6) {
            lose = true;  // the first packet of frame 6
            lost_at = now();
        }
        ASSERT_TRUE(p.a.peer->send_frame(tx, frame_bytes(i, i == 0 || i == 8, 3000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        ASSERT_TRUE(p.run_until([&] { return now() >= start + (i + 1) * 33ms; }, 1s));
        if (i == 6) break;  // frame 7 and on come after the wait is measured
    }
    for (int i = 7; i < 12; ++i)
        ASSERT_TRUE(p.a.peer->send_frame(tx, frame_bytes(i, i == 8, 3000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
    const auto rx = p.b.added.at(0);
    ASSERT_TRUE(p.run_until([&] { return p.b.peer->transceiver(rx)->stats.frames_dropped > 0; }, 2s));
    const auto waited = now() - lost_at;
    EXPECT_LT(waited, 300ms) << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms";
    EXPECT_FALSE(p.b.peer->transceiver(rx)->stats.round_trip_time.has_value());  // none from RTCP
}

// An Annex B access unit: an IDR slice of `size` bytes.
std::vector<std::byte> h264_idr(std::size_t size) {
    std::vector<std::byte> au = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}, std::byte{0x65}};
    for (std::size_t i = 1; i < size; ++i) au.push_back(std::byte(1 + i % 200));
    return au;
}

TEST(PeerMedia, H264InPacketizationModeZeroWhenThatIsAllTheRemoteTakes) {
    // RFC 6184 §6.2: the remote offers H.264 in mode 0 alone; we answer it,
    // send single NAL unit packets, and refuse a frame whose NAL unit would
    // need fragments.
    Pair p;
    p.edit_offer = [](std::string sdp) {  // only H.264 with packetization-mode=0 (payload types 104, 105)
        std::string out;
        for (std::size_t at = 0; at < sdp.size();) {
            auto end = sdp.find("\r\n", at);
            std::string line = sdp.substr(at, end - at);
            at = end + 2;
            if (line.starts_with("m=video ")) line = line.substr(0, line.find(" UDP/TLS/RTP/SAVPF") + 18) + " 104 105";
            const bool other = (line.starts_with("a=rtpmap:") || line.starts_with("a=fmtp:") || line.starts_with("a=rtcp-fb:")) &&
                               !line.starts_with("a=rtpmap:104") && !line.starts_with("a=rtpmap:105") &&
                               !line.starts_with("a=fmtp:104") && !line.starts_with("a=fmtp:105") &&
                               !line.starts_with("a=rtcp-fb:104");
            if (!other) out += line + "\r\n";
        }
        return out;
    };
    TransceiverOptions video;
    video.kind = MediaKind::Video;
    video.receive = false;
    video.codecs = {MediaCodec::H264};
    const auto ta = p.b.peer->add_transceiver(video, now()).value();  // B answers with its own H.264 track
    (void)ta;
    TransceiverOptions recv;
    recv.kind = MediaKind::Video;
    recv.send = false;
    (void)p.a.peer->add_transceiver(recv, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    const auto* info = p.b.peer->transceiver(ta);
    ASSERT_TRUE(info->sending);
    EXPECT_EQ(info->codec, MediaCodec::H264);
    EXPECT_EQ(info->payload_type, 104);
    const auto big = p.b.peer->send_frame(ta, h264_idr(5000), 0, now());
    EXPECT_FALSE(big.ok());
    EXPECT_NE(big.message().find("packetization-mode 0"), std::string::npos) << big.message();
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(p.b.peer->send_frame(ta, h264_idr(800), 3000 * static_cast<std::uint32_t>(i + 1), now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.a.frames.size() >= 5; }, 5s)) << p.a.frames.size();
    EXPECT_EQ(p.a.frames[0].data, h264_idr(800));
}

TEST(PeerMedia, AStoppedStreamAndAClosedConnectionSayByeAndTheReceiverForgetsThem) {
    // RFC 3550 §6.6: BYE for each stream that ends; the receiver forgets its
    // SSRC (a new stream binds afresh).
    Pair p;
    TransceiverOptions video;
    video.kind = MediaKind::Video;
    video.receive = false;
    const auto t1 = p.a.peer->add_transceiver(video, now()).value();
    const auto t2 = p.a.peer->add_transceiver(video, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(p.a.peer->send_frame(t1, frame_bytes(i, i == 0, 2000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        ASSERT_TRUE(p.a.peer->send_frame(t2, frame_bytes(i, i == 0, 2000), 3000 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() >= 6; }, 5s));
    ASSERT_EQ(p.b.added.size(), 2u);
    auto byes = [&](std::size_t i) { return p.b.peer->transceiver(p.b.added[i])->stats.byes_received; };
    const std::size_t r1 = p.b.peer->transceiver(p.b.added[0])->mid == p.a.peer->transceiver(t1)->mid ? 0 : 1;
    EXPECT_EQ(byes(0) + byes(1), 0u);
    ASSERT_TRUE(p.a.peer->stop_transceiver(t1, now()).ok());
    ASSERT_TRUE(p.run_until([&] { return byes(r1) == 1; }, 2s));
    EXPECT_EQ(byes(1 - r1), 0u);
    // The other stream goes on.
    const std::size_t before = p.b.frames.size();
    ASSERT_TRUE(p.a.peer->send_frame(t2, frame_bytes(9, false, 2000), 3000 * 9, now()).ok());
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() == before + 1; }, 2s));
    p.a.peer->close(now());
    ASSERT_TRUE(p.run_until([&] { return byes(1 - r1) == 1; }, 2s));
}

TEST(PeerMedia, ForgedSrtpIsDroppedAndCounted) {
    Pair p;
    TransceiverOptions o;
    o.receive = false;
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    const auto rx = p.b.added.at(0);
    // RTP-looking datagrams from A's address without the keys: each a new SSRC.
    for (std::uint32_t i = 0; i < 2000; ++i) {
        std::vector<std::byte> d(100, std::byte{0x42});
        d[0] = std::byte{0x80};
        d[1] = std::byte{96};
        d[8] = std::byte(i >> 24);
        d[9] = std::byte(i >> 16);
        d[10] = std::byte(i >> 8);
        d[11] = std::byte(i);
        p.b.peer->handle_datagram(p.b.host, p.a.host, d, now());
    }
    p.pump();
    EXPECT_EQ(p.b.peer->transceiver(rx)->stats.unauthenticated_dropped, 2000u);
    EXPECT_TRUE(p.b.frames.empty());
    // The real stream still gets through.
    ASSERT_TRUE(p.a.peer->send_frame(tx, frame_bytes(0, true, 900), 0, now()).ok());
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() == 1; }, 5s));
}

TEST(PeerMedia, RemoteTracksAreTakenOrRefusedAsConfigured) {
    // aiortc's offer: audio, video and data, each with its own credentials.
    const std::string offer = test::sdp_fixtures::read("aiortc_av_offer.sdp");
    for (bool accept : {true, false}) {
        PeerConfig cfg;
        cfg.accept_remote_tracks = accept;
        auto peer = std::move(Peer::create(cfg, now()).value());
        ASSERT_TRUE(peer->set_remote_description(SdpKind::Offer, offer, now()).ok());
        auto answer_text = peer->create_answer();
        ASSERT_TRUE(answer_text.ok()) << answer_text.error().message();
        auto parsed = proto::sdp::parse(answer_text.value());
        const auto& answer = std::get<proto::sdp::SessionDescription>(parsed);
        ASSERT_EQ(answer.media.size(), 3u);
        EXPECT_EQ(answer.media[0].rejected(), !accept) << accept;
        EXPECT_EQ(answer.media[1].rejected(), !accept) << accept;
        EXPECT_FALSE(answer.media[2].rejected());
        EXPECT_EQ(answer.attribute("group"), accept ? "BUNDLE 0 1 2" : "BUNDLE 2");
        EXPECT_EQ(peer->transceivers().size(), accept ? 2u : 0u);
        if (accept) {
            const auto* video = peer->transceiver(peer->transceivers()[1]);
            EXPECT_EQ(video->kind, MediaKind::Video);
            EXPECT_EQ(video->mid, "1");
            EXPECT_EQ(answer.media[1].attribute("recvonly"), std::string_view{});
        }
    }
}

namespace {

// The m= lines of a description: kind, port and mid, in order.
std::string mlines(const std::string& sdp) {
    auto parsed = proto::sdp::parse(sdp);
    const auto* d = std::get_if<proto::sdp::SessionDescription>(&parsed);
    if (d == nullptr) return "(unparsable)";
    std::string out;
    for (const auto& m : d->media)
        out += (out.empty() ? "" : " ") + m.kind + ":" + (m.rejected() ? "0" : "p") + ":" + std::string(m.mid().value_or("?"));
    return out;
}

std::string without_data_section(std::string offer) {
    const auto at = offer.find("m=application");
    offer.erase(at);
    const auto group = offer.find("a=group:BUNDLE 0 1 2");
    offer.replace(group, 20, "a=group:BUNDLE 0 1");
    return offer;
}

}  // namespace

TEST(PeerMedia, RemoteOffersCannotMakeTransceiversWithoutBound) {
    // Chromium's video section 24 times, each with its own mid.
    const std::string base = test::sdp_fixtures::read("chromium_av_dc_offer.sdp");
    const auto v0 = base.find("m=video"), v1 = base.find("m=application");
    std::string video = base.substr(v0, v1 - v0);
    std::string offer = base.substr(0, base.find("m=audio"));
    std::string group = "a=group:BUNDLE";
    for (int i = 0; i < 24; ++i) {
        std::string section = video;
        section.replace(section.find("a=mid:1"), 7, "a=mid:v" + std::to_string(i));
        offer += section;
        group += " v" + std::to_string(i);
    }
    offer.replace(offer.find("a=group:BUNDLE 0 1 2"), 20, group);
    PeerConfig cfg;
    cfg.max_transceivers = 16;
    auto peer = std::move(Peer::create(cfg, now()).value());
    auto st = peer->set_remote_description(SdpKind::Offer, offer, now());
    ASSERT_TRUE(st.ok()) << st.message();
    auto answer = peer->create_answer();
    ASSERT_TRUE(answer.ok()) << answer.error().message();
    EXPECT_EQ(peer->transceivers().size(), 16u);
    const std::string lines = mlines(answer.value());
    std::size_t accepted = 0, refused = 0;
    for (std::size_t at = lines.find("video:"); at != std::string::npos; at = lines.find("video:", at + 1))
        ++(lines[at + 6] == 'p' ? accepted : refused);
    EXPECT_EQ(accepted, 16u);
    EXPECT_EQ(refused, 8u);
    TransceiverOptions o;
    EXPECT_FALSE(peer->add_transceiver(o, now()).ok());  // at the bound: ours too
}

TEST(PeerMedia, AfterAMediaOnlyOfferOurOfferKeepsItsLinesAndAddsDataWithAFreshMid) {
    auto peer = std::move(Peer::create({}, now()).value());
    const std::string offer = without_data_section(test::sdp_fixtures::read("chromium_av_dc_offer.sdp"));
    ASSERT_TRUE(peer->set_remote_description(SdpKind::Offer, offer, now()).ok());
    auto answer = peer->create_answer();
    ASSERT_TRUE(answer.ok()) << answer.error().message();
    EXPECT_EQ(mlines(answer.value()), "audio:p:0 video:p:1");
    ASSERT_TRUE(peer->set_local_description(SdpKind::Answer, answer.value(), now()).ok());
    auto again = peer->create_offer();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(mlines(again.value()), "audio:p:0 video:p:1");  // no data section without a channel
    ChannelOptions chat;
    chat.label = "chat";
    ASSERT_TRUE(peer->create_channel(chat, now()).ok());
    auto with_data = peer->create_offer();
    ASSERT_TRUE(with_data.ok());
    EXPECT_EQ(mlines(with_data.value()), "audio:p:0 video:p:1 application:p:2");
}

TEST(PeerMedia, ARejectedLineStaysInOurNextOffer) {
    // We take audio only (a track of ours, no on_track): video is refused.
    PeerConfig cfg;
    cfg.accept_remote_tracks = false;
    auto peer = std::move(Peer::create(cfg, now()).value());
    TransceiverOptions audio;
    audio.kind = MediaKind::Audio;
    ASSERT_TRUE(peer->add_transceiver(audio, now()).ok());
    ASSERT_TRUE(peer->set_remote_description(SdpKind::Offer, test::sdp_fixtures::read("chromium_av_dc_offer.sdp"), now()).ok());
    auto answer = peer->create_answer();
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(mlines(answer.value()), "audio:p:0 video:0:1 application:p:2");
    ASSERT_TRUE(peer->set_local_description(SdpKind::Answer, answer.value(), now()).ok());
    // A new track later: the video line stays where it was (port 0), the new one comes last with a new mid.
    TransceiverOptions video;
    ASSERT_TRUE(peer->add_transceiver(video, now()).ok());
    auto offer = peer->create_offer();
    ASSERT_TRUE(offer.ok());
    EXPECT_EQ(mlines(offer.value()), "audio:p:0 video:0:1 application:p:2 video:p:3");
}

TEST(PeerMedia, ARolledBackOfferGivesItsMidsBack) {
    // Our offer gave our tracks mids 1 and 2; the remote's colliding offer
    // (Chromium's: audio 0, video 1, data 2) rolls ours back, and our tracks
    // take its sections by kind.
    auto peer = std::move(Peer::create({}, now()).value());
    TransceiverOptions audio, video;
    audio.kind = MediaKind::Audio;
    const auto ta = peer->add_transceiver(audio, now()).value();
    const auto tv = peer->add_transceiver(video, now()).value();
    auto ours = peer->create_offer();
    ASSERT_TRUE(ours.ok());
    EXPECT_EQ(mlines(ours.value()), "application:p:0 audio:p:1 video:p:2");
    ASSERT_TRUE(peer->set_local_description(SdpKind::Offer, ours.value(), now()).ok());
    ASSERT_TRUE(peer->set_remote_description(SdpKind::Offer, test::sdp_fixtures::read("chromium_av_dc_offer.sdp"), now()).ok());
    auto answer = peer->create_answer();
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(mlines(answer.value()), "audio:p:0 video:p:1 application:p:2");
    EXPECT_EQ(peer->transceiver(ta)->mid, "0");
    EXPECT_EQ(peer->transceiver(tv)->mid, "1");
    EXPECT_EQ(peer->transceivers().size(), 2u);  // none made for the remote: ours took both
}

TEST(PeerMedia, OpusLossIsNotNackedAndNothingIsAskedTwiceWithinARoundTrip) {
    Pair p;
    TransceiverOptions o;
    o.kind = MediaKind::Audio;
    o.receive = false;
    const auto tx = p.a.peer->add_transceiver(o, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected; }, 10s));
    int count = 0;
    const int pt = p.a.peer->transceiver(tx)->payload_type;
    p.drop_a_to_b = [&](const Transmit& t) { return rtp_payload_type(t) == pt && ++count % 5 == 0; };
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(p.a.peer->send_frame(tx, frame_bytes(i, true, 60), 960 * static_cast<std::uint32_t>(i), now()).ok());
        p.pump();
    }
    const auto rx = p.b.added.at(0);
    ASSERT_TRUE(p.run_until([&] { return p.b.frames.size() >= 40; }, 5s));
    // Opus was not negotiated with a=rtcp-fb nack (Chromium never offers it): a loss stays a loss.
    EXPECT_EQ(p.b.peer->transceiver(rx)->stats.nacks_sent, 0u);
    EXPECT_EQ(p.a.peer->transceiver(tx)->stats.retransmitted_packets_sent, 0u);
}
