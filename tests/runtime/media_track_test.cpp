// MediaTrack through two PeerConnections on one loop, over real UDP on
// loopback: a video track one way (frames whole and in order, the remote's
// stream id, key-frame requests both ways), audio both ways on tracks each
// side added, and the rule that a peer without on_track refuses remote media.
#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include "runtime/peer_pair.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace duplex;
using namespace std::chrono_literals;

namespace {

using Pair = duplex::test::PeerPair;
using duplex::test::loopback;
using duplex::test::run_until;

std::vector<std::byte> vp8_frame(int n, bool key, std::size_t size) {
    std::vector<std::byte> f(size);
    for (std::size_t i = 0; i < size; ++i) f[i] = std::byte(static_cast<std::uint8_t>(n + i * 3));
    f[0] = std::byte(key ? 0x00 : 0x01);
    return f;
}

}  // namespace

TEST(MediaTrack, VideoFramesReachTheRemoteTrack) {
    Pair p;
    auto video = p.a.add_track(MediaKind::Video, {TrackDirection::SendOnly, "cam", std::nullopt});
    ASSERT_TRUE(video.ok());
    int key_requests = 0;
    video->on_key_frame_request([&] { ++key_requests; });
    std::vector<MediaTrack> remote;
    std::vector<std::vector<std::byte>> got;
    std::vector<bool> keys;
    int counted_inside = 0;  // what the handler's own state counted
    p.b.on_track([&](MediaTrack t) {
        remote.push_back(t);
        // A mutable handler keeps its state from one frame to the next.
        t.on_frame([&, n = 0](const EncodedFrame& f) mutable {
            got.emplace_back(f.data.begin(), f.data.end());
            keys.push_back(f.key_frame);
            EXPECT_EQ(f.codec, Codec::Vp8);
            counted_inside = ++n;
        });
    });
    EXPECT_FALSE(video->send_frame(vp8_frame(0, true, 100), 0).ok());  // not negotiated yet
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_EQ(remote.size(), 1u);
    EXPECT_EQ(remote[0].kind(), MediaKind::Video);
    EXPECT_EQ(remote[0].remote_stream_id(), "cam");
    EXPECT_FALSE(video->id().empty());
    EXPECT_EQ(remote[0].remote_track_id(), video->id());  // what A called its track, B hears
    EXPECT_EQ(remote[0].mid(), video->mid());
    EXPECT_EQ(video->current_direction(), TrackDirection::SendOnly);
    EXPECT_EQ(remote[0].current_direction(), TrackDirection::RecvOnly);
    EXPECT_EQ(video->codec(), Codec::Vp8);
    std::vector<std::vector<std::byte>> sent;
    for (int i = 0; i < 30; ++i) {
        sent.push_back(vp8_frame(i, i == 0, 400 + static_cast<std::size_t>(i) * 300));
        ASSERT_TRUE(video->send_frame(sent.back(), 3000 * static_cast<std::uint32_t>(i)).ok());
        p.loop.run_once(0);
    }
    ASSERT_TRUE(run_until(p.loop, [&] { return got.size() >= sent.size(); }));
    EXPECT_EQ(got, sent);
    EXPECT_EQ(counted_inside, 30);
    EXPECT_TRUE(keys[0]);
    ASSERT_TRUE(remote[0].request_key_frame().ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return key_requests == 1; }));
    EXPECT_EQ(video->stats().frames_sent, 30u);
    EXPECT_EQ(remote[0].stats().frames_received, 30u);
    EXPECT_EQ(remote[0].stats().plis_sent, 1u);
}

TEST(MediaTrack, AudioBothWaysOnTracksEachSideAdded) {
    Pair p;
    auto mine = p.a.add_track(MediaKind::Audio);
    ASSERT_TRUE(mine.ok());
    MediaTrack theirs;
    std::vector<std::uint32_t> at_a, at_b;
    std::vector<std::optional<std::uint8_t>> levels_at_b, levels_at_a;
    mine->on_frame([&](const EncodedFrame& f) {
        at_a.push_back(f.rtp_timestamp);
        levels_at_a.push_back(f.audio_level);
    });
    p.negotiate([&] {
        auto t = p.b.add_track(MediaKind::Audio);
        ASSERT_TRUE(t.ok());
        theirs = *t;
        theirs.on_frame([&](const EncodedFrame& f) {
            EXPECT_EQ(f.codec, Codec::Opus);
            at_b.push_back(f.rtp_timestamp);
            levels_at_b.push_back(f.audio_level);
        });
    });
    ASSERT_TRUE(p.connected());
    EXPECT_EQ(theirs.current_direction(), TrackDirection::SendRecv);
    // A's frames carry their level (RFC 6464, -dBov), B's none.
    const std::vector<std::byte> opus(60, std::byte{0x78});
    EXPECT_EQ(mine->send_frame(opus, 0, 128).code(), Errc::invalid_argument);
    for (std::uint32_t i = 0; i < 20; ++i) {
        ASSERT_TRUE(mine->send_frame(opus, 960 * i, static_cast<std::uint8_t>(i * 5)).ok());
        ASSERT_TRUE(theirs.send_frame(opus, 480000 + 960 * i).ok());
        p.loop.run_once(0);
    }
    ASSERT_TRUE(run_until(p.loop, [&] { return at_a.size() >= 20 && at_b.size() >= 20; }));
    EXPECT_EQ(at_b[19], 960u * 19);
    EXPECT_EQ(at_a[19], 480000u + 960 * 19);
    for (std::size_t i = 0; i < 20; ++i) {
        EXPECT_EQ(levels_at_b[i], std::optional<std::uint8_t>(static_cast<std::uint8_t>(i * 5))) << i;
        EXPECT_EQ(levels_at_a[i], std::nullopt) << i;
    }
}

TEST(MediaTrack, WithoutOnTrackRemoteMediaIsRefused) {
    Pair p;
    auto video = p.a.add_track(MediaKind::Video);
    ASSERT_TRUE(video.ok());
    (void)p.a.create_data_channel("chat");
    p.negotiate();  // b has no on_track handler and no track
    ASSERT_TRUE(p.connected());
    auto answer = p.b.local_description();
    ASSERT_TRUE(answer.has_value());
    EXPECT_NE(answer->sdp.find("m=video 0 "), std::string::npos) << answer->sdp;
    EXPECT_FALSE(video->current_direction().has_value());
    EXPECT_FALSE(video->send_frame(vp8_frame(0, true, 100), 0).ok());
}

TEST(MediaTrack, AVideoTrackAddedToALiveDataConnection) {
    Pair p;
    auto dc = p.a.create_data_channel("chat");
    ASSERT_TRUE(dc.ok());
    std::vector<DataChannel> remote_channels;
    p.b.on_data_channel([&](DataChannel c) { remote_channels.push_back(c); });
    std::vector<MediaTrack> remote_tracks;
    std::size_t frames = 0;
    p.b.on_track([&](MediaTrack t) {
        remote_tracks.push_back(t);
        t.on_frame([&](const EncodedFrame&) { ++frames; });
    });
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return dc->ready_state() == DataChannelState::Open && !remote_channels.empty(); }));
    // Later, the call gets video: a new offer with the application section first, as before.
    auto video = p.a.add_track(MediaKind::Video, {TrackDirection::SendOnly, "", std::nullopt});
    ASSERT_TRUE(video.ok());
    p.negotiate();
    auto offer = p.a.local_description();
    ASSERT_TRUE(offer.has_value());
    const auto app_at = offer->sdp.find("m=application"), video_at = offer->sdp.find("m=video");
    EXPECT_TRUE(app_at != std::string::npos && video_at != std::string::npos && app_at < video_at) << offer->sdp;
    EXPECT_EQ(video->current_direction(), TrackDirection::SendOnly);
    ASSERT_TRUE(run_until(p.loop, [&] { return remote_tracks.size() == 1; })) << p.b.local_description()->sdp;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(video->send_frame(vp8_frame(i, i == 0, 2000), 3000 * static_cast<std::uint32_t>(i)).ok());
        p.loop.run_once(0);
    }
    ASSERT_TRUE(run_until(p.loop, [&] { return frames >= 10; }));
    // The channel lived through it.
    std::string got;
    remote_channels[0].on_message([&](std::string_view d, bool) { got = std::string(d); });
    ASSERT_TRUE(dc->send("still here").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got == "still here"; }));
}

TEST(MediaTrack, CodecPreferencesChooseWhatIsSent) {
    Pair p;
    auto video = p.a.add_track(MediaKind::Video, {TrackDirection::SendOnly, "cam", std::nullopt});
    ASSERT_TRUE(video.ok());
    const auto refused = video->set_codec_preferences({Codec::Opus});
    EXPECT_EQ(refused.code(), Errc::invalid_argument);
    EXPECT_NE(refused.message().find("opus is not a codec for video"), std::string::npos) << refused.message();
    ASSERT_TRUE(video->set_codec_preferences({Codec::H264}).ok());
    std::vector<MediaTrack> remote;
    std::vector<Codec> codecs;
    p.b.on_track([&](MediaTrack t) {
        remote.push_back(t);
        t.on_frame([&](const EncodedFrame& f) { codecs.push_back(f.codec); });
    });
    p.negotiate();
    ASSERT_TRUE(p.connected());
    EXPECT_EQ(video->codec(), Codec::H264);
    ASSERT_EQ(remote.size(), 1u);
    EXPECT_EQ(remote[0].codec(), Codec::H264);
    // An H.264 access unit (Annex B): an IDR slice.
    const std::vector<std::byte> idr = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}, std::byte{0x65},
                                        std::byte{0x88}, std::byte{0x84}, std::byte{0x21}};
    ASSERT_TRUE(video->send_frame(idr, 0).ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return !codecs.empty(); }));
    EXPECT_EQ(codecs[0], Codec::H264);
}

TEST(MediaTrack, TracksAreBoundedByMaxTracks) {
    EventLoop loop;
    Configuration c = loopback();
    c.max_tracks = 2;
    PeerConnection pc(loop, c);
    EXPECT_TRUE(pc.add_track(MediaKind::Audio).ok());
    EXPECT_TRUE(pc.add_track(MediaKind::Video).ok());
    auto third = pc.add_track(MediaKind::Video);
    ASSERT_FALSE(third.ok());
    EXPECT_NE(third.status().message().find("too many transceivers"), std::string::npos) << third.status().message();
}

TEST(MediaTrack, DirectionChangesAndStopRenegotiateOnALiveCall) {
    Pair p;
    auto dc = p.a.create_data_channel("chat");
    ASSERT_TRUE(dc.ok());
    std::vector<DataChannel> remote_channels;
    p.b.on_data_channel([&](DataChannel c) { remote_channels.push_back(c); });
    auto video = p.a.add_track(MediaKind::Video, {TrackDirection::SendOnly, "", std::nullopt});
    ASSERT_TRUE(video.ok());
    std::vector<MediaTrack> remote;
    std::size_t frames = 0;
    p.b.on_track([&](MediaTrack t) {
        remote.push_back(t);
        t.on_frame([&](const EncodedFrame&) { ++frames; });
    });
    p.negotiate();
    ASSERT_TRUE(p.connected());
    auto send = [&](int n, int from) {
        for (int i = 0; i < n; ++i) {
            if (!video->send_frame(vp8_frame(from + i, i == 0, 500), 3000 * static_cast<std::uint32_t>(from + i)).ok())
                return false;
            p.loop.run_once(0);
        }
        return true;
    };
    ASSERT_TRUE(send(5, 0));
    ASSERT_TRUE(run_until(p.loop, [&] { return frames >= 5; }));

    // Nothing to send for a while: receive-only, which the remote (that sends nothing) answers inactive.
    ASSERT_TRUE(video->set_direction(TrackDirection::RecvOnly).ok());
    p.negotiate();
    EXPECT_EQ(video->current_direction(), TrackDirection::Inactive);
    EXPECT_FALSE(video->send_frame(vp8_frame(9, true, 500), 99999).ok());
    // And sending again.
    ASSERT_TRUE(video->set_direction(TrackDirection::SendOnly).ok());
    p.negotiate();
    EXPECT_EQ(video->current_direction(), TrackDirection::SendOnly);
    ASSERT_TRUE(send(5, 100));
    ASSERT_TRUE(run_until(p.loop, [&] { return frames >= 10; }));

    // Stopped: its m= line goes to port 0, the remote's track stops too, the channel stays.
    ASSERT_TRUE(video->stop().ok());
    EXPECT_TRUE(video->stopped());
    p.negotiate();
    EXPECT_NE(p.a.local_description()->sdp.find("m=video 0 "), std::string::npos) << p.a.local_description()->sdp;
    EXPECT_FALSE(video->send_frame(vp8_frame(200, true, 500), 600000).ok());
    ASSERT_EQ(remote.size(), 1u);
    ASSERT_TRUE(run_until(p.loop, [&] { return remote[0].stopped(); }));
    ASSERT_TRUE(run_until(p.loop, [&] { return !remote_channels.empty() && remote_channels[0].ready_state() == DataChannelState::Open; }));
    std::string got;
    remote_channels[0].on_message([&](std::string_view d, bool) { got = std::string(d); });
    ASSERT_TRUE(dc->send("after the stop").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got == "after the stop"; }));
}
