// duplex-peer/media_tracks.hpp: duplex-peer's audio and video: the sources it
// sends to every peer (--video testsrc|FILE.ivf, --audio tone|FILE.ogg), the
// recorder of what each peer sends (--record DIR: DIR/<peer>-<mid>.ivf|.ogg),
// and the per-track counts it prints when a peer goes.
//
// One encoder per source and codec feeds every peer (a key frame asked by
// one is sent to all); the test pattern is encoded in VP8 and/or H.264, as
// the peers' negotiations ask (--video-codec h264 puts H.264 first in our
// offers and, by codec preferences, in our answers). Sources are paced by a
// loop timer: the test pattern at 30 frames/s
// (its RTP clock 90 kHz), an IVF file by its timestamps (looped), the tone and
// an Ogg file 20 ms a packet (48 kHz).
//
// The test pattern's encoders follow the bandwidth estimate
// (PeerConnection::on_outgoing_bitrate): the lowest of the peers', less what
// the audio takes, up to --video-kbps. Files go at their own rate.
#pragma once

#include "console.hpp"

#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include "media/annex_b.hpp"
#include "media/audio_level.hpp"
#include "media/h264_codec.hpp"
#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"
#include "media/opus_codec.hpp"
#include "media/test_pattern.hpp"
#include "media/vp8_codec.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex_peer {

struct MediaOptions {
    std::string video;    // "", "testsrc" or an .ivf path
    std::string audio;    // "", "tone" or an .ogg path
    std::string record;   // "" or a directory
    duplex::Codec video_codec = duplex::Codec::Vp8;  // what our offers prefer (--video-codec)
    int width = 640, height = 480, fps = 30, video_kbps = 800;
};

class MediaTracks {
public:
    MediaTracks(duplex::EventLoop& loop, MediaOptions o, Console& console);
    ~MediaTracks();
    /// Opens the sources and the encoders; false with `error` set when one
    /// cannot be used (a missing file, a file of another codec).
    bool open(std::string& error);
    bool active() const noexcept { return !opt_.video.empty() || !opt_.audio.empty() || !opt_.record.empty(); }

    /// Our tracks for a peer we offer to: what we send, and what we record.
    void before_offer(const std::string& peer, duplex::PeerConnection& pc);
    /// Before a remote offer is applied: tracks of ours for its m= lines
    /// (`audio` and `video` of each), so that they are answered as we want.
    void before_answer(const std::string& peer, duplex::PeerConnection& pc, std::size_t audio, std::size_t video);
    /// A peer goes: its counts are printed and its files closed.
    void finish(const std::string& peer);
    void finish_all();

private:
    struct Track;
    void add(const std::string& peer, duplex::PeerConnection& pc, duplex::MediaKind kind);
    void record(std::shared_ptr<Track> t);
    void tick_video();
    void tick_audio();
    /// A peer's bandwidth estimate moved: the encoders aim at the lowest.
    void on_bitrate(const std::string& peer, std::uint32_t bps);
    void apply_bitrate();

    duplex::EventLoop& loop_;
    MediaOptions opt_;
    Console& console_;
    std::map<std::string, std::vector<std::shared_ptr<Track>>> tracks_;  // by peer
    struct Estimate {
        std::uint32_t last = 0, lowest = 0;  // bits per second
    };
    std::map<std::string, Estimate> estimates_;  // by peer, once it has one
    int encoding_kbps_ = 0;                      // what the encoders aim at now

    // Video source.
    std::unique_ptr<duplex::media::TestPattern> pattern_;
    std::unique_ptr<duplex::media::Vp8Encoder> encoder_;
    std::unique_ptr<duplex::media::H264Encoder> h264_;
    bool want_h264_key_ = true;
    std::optional<duplex::media::AnnexBReader> annex_b_;  // --video FILE.h264
    std::optional<std::optional<duplex::media::IvfReader>> ivf_holder_;
    duplex::media::IvfReader* ivf_ = nullptr;
    std::uint64_t ivf_offset_ = 0;   // pts added by each loop of the file
    std::uint64_t ivf_last_ = 0;
    bool want_key_ = true;
    std::uint64_t video_frames_ = 0;
    duplex::EventLoop::TimerId video_timer_ = 0;
    std::chrono::steady_clock::time_point video_start_;

    // Audio source.
    std::unique_ptr<duplex::media::Tone> tone_;
    std::unique_ptr<duplex::media::OpusEncoder> opus_;
    std::unique_ptr<duplex::media::OggOpusReader> ogg_;
    std::uint32_t audio_ts_ = 0;
    std::uint64_t audio_packets_ = 0;
    duplex::EventLoop::TimerId audio_timer_ = 0;
    std::chrono::steady_clock::time_point audio_start_;
};

}  // namespace duplex_peer
