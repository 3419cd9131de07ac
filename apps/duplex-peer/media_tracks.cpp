// duplex-peer/media_tracks.cpp: see media_tracks.hpp.
#include "media_tracks.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace duplex_peer {

namespace fs = std::filesystem;
using namespace std::chrono;

namespace {
// The encoders are never asked for less: below it a 640x480 picture is mush.
constexpr int kMinVideoKbps = 50;
}  // namespace

struct MediaTracks::Track {
    std::string peer;
    duplex::MediaTrack track;
    duplex::MediaKind kind = duplex::MediaKind::Video;
    bool sends = false;
    bool records = false;
    // The recording, opened at the first frame (its codec names the file).
    std::string path;
    std::unique_ptr<duplex::media::IvfWriter> ivf;
    std::unique_ptr<duplex::media::OggOpusWriter> ogg;
    std::FILE* annex_b = nullptr;
    std::uint64_t recorded = 0, recorded_keys = 0;
    bool failed = false;
    bool started = false;  // sending began: its first frame must be a key frame
    bool told_codec = false;  // said once that the file's codec is not the one negotiated

    ~Track() {
        if (annex_b) std::fclose(annex_b);
    }
    bool sending() const {
        const auto d = track.current_direction();
        return sends && d && (*d == duplex::TrackDirection::SendRecv || *d == duplex::TrackDirection::SendOnly);
    }
};

MediaTracks::MediaTracks(duplex::EventLoop& loop, MediaOptions o, Console& console)
    : loop_(loop), opt_(std::move(o)), console_(console) {}

MediaTracks::~MediaTracks() {
    if (video_timer_) loop_.clear_timeout(video_timer_);
    if (audio_timer_) loop_.clear_timeout(audio_timer_);
}

bool MediaTracks::open(std::string& error) {
    if (opt_.video == "testsrc") {
        pattern_ = std::make_unique<duplex::media::TestPattern>(opt_.width, opt_.height);
        encoder_ = duplex::media::Vp8Encoder::create(opt_.width, opt_.height, opt_.fps, opt_.video_kbps, error);
        if (!encoder_) return false;
        // Slices of at most 1000 bytes: one NAL unit a packet, as packetization mode 0 needs.
        h264_ = duplex::media::H264Encoder::create(opt_.width, opt_.height, opt_.fps, opt_.video_kbps, error, 1000);
        if (!h264_) return false;
    } else if (opt_.video_codec == duplex::Codec::H264 && !opt_.video.empty()) {  // an .h264 file (main.cpp)
        annex_b_ = duplex::media::AnnexBReader::open(opt_.video, error);
        if (!annex_b_) return false;
    } else if (!opt_.video.empty()) {
        ivf_holder_.emplace(duplex::media::IvfReader::open(opt_.video, error));
        if (!*ivf_holder_) return false;
        ivf_ = &**ivf_holder_;
    }
    if (opt_.audio == "tone") {
        tone_ = std::make_unique<duplex::media::Tone>();
        opus_ = duplex::media::OpusEncoder::create(64000, error);
        if (!opus_) return false;
    } else if (!opt_.audio.empty()) {
        ogg_ = duplex::media::OggOpusReader::open(opt_.audio, error);
        if (!ogg_) return false;
    }
    if (!opt_.record.empty() && !fs::is_directory(opt_.record)) {  // main() made it
        error = "--record " + opt_.record + " is not a directory";
        return false;
    }
    if (!opt_.video.empty()) {
        video_start_ = steady_clock::now();
        tick_video();
    }
    if (!opt_.audio.empty()) {
        audio_start_ = steady_clock::now();
        tick_audio();
    }
    return true;
}

// ---------------------------------------------------------------- tracks --

void MediaTracks::add(const std::string& peer, duplex::PeerConnection& pc, duplex::MediaKind kind) {
    const bool sends = kind == duplex::MediaKind::Video ? !opt_.video.empty() : !opt_.audio.empty();
    const bool records = !opt_.record.empty();
    if (!sends && !records) return;
    const auto dir = sends && records ? duplex::TrackDirection::SendRecv
                     : sends          ? duplex::TrackDirection::SendOnly
                                      : duplex::TrackDirection::RecvOnly;
    std::optional<duplex::Codec> prefer;
    if (kind == duplex::MediaKind::Video && opt_.video_codec == duplex::Codec::H264) prefer = duplex::Codec::H264;
    auto track = pc.add_track(kind, {dir, "duplex-peer", prefer});
    if (!track) return console_.error("peer " + peer + ": add_track: " + track.status().message());
    auto t = std::make_shared<Track>();
    t->peer = peer;
    t->track = *track;
    t->kind = kind;
    t->sends = sends;
    if (kind == duplex::MediaKind::Video && sends) {
        t->track.on_key_frame_request([this] { want_key_ = want_h264_key_ = true; });
        pc.on_outgoing_bitrate([this, peer](std::uint32_t bps) { on_bitrate(peer, bps); });
    }
    tracks_[peer].push_back(t);
    if (records) record(t);
}

void MediaTracks::record(std::shared_ptr<Track> t) {
    t->records = true;
    std::weak_ptr<Track> weak = t;
    t->track.on_frame([this, weak](const duplex::EncodedFrame& f) {
        auto self = weak.lock();
        if (!self || self->failed) return;
        if (self->path.empty()) {
            const char* ext = f.codec == duplex::Codec::Vp8 ? "ivf" : f.codec == duplex::Codec::Opus ? "ogg" : "h264";
            self->path = (fs::path(opt_.record) / (self->peer + "-" + self->track.mid() + "." + ext)).string();
            std::string error;
            if (f.codec == duplex::Codec::Vp8) {
                self->ivf = std::make_unique<duplex::media::IvfWriter>(self->path);
            } else if (f.codec == duplex::Codec::Opus) {
                self->ogg = duplex::media::OggOpusWriter::create(self->path, error);
            } else {
                self->annex_b = std::fopen(self->path.c_str(), "wb");  // H.264 frames are Annex B already
                if (!self->annex_b) error = "cannot create " + self->path;
            }
            if (!error.empty()) {
                self->failed = true;
                return console_.error("peer " + self->peer + ": not recording: " + error);
            }
            console_.say("peer " + self->peer + ": recording its " + duplex::to_string(self->track.kind()) + " (" +
                         duplex::to_string(f.codec) + ") to " + self->path);
        }
        bool ok = true;
        if (self->ivf) ok = self->ivf->write(f.data.data(), f.data.size(), f.rtp_timestamp);
        else if (self->ogg) ok = self->ogg->write(f.data.data(), f.data.size());
        else if (self->annex_b) ok = std::fwrite(f.data.data(), 1, f.data.size(), self->annex_b) == f.data.size();
        if (!ok) {
            self->failed = true;
            return console_.error("peer " + self->peer + ": recording stopped: cannot write " + self->path);
        }
        ++self->recorded;
        if (f.key_frame && f.codec != duplex::Codec::Opus) ++self->recorded_keys;
    });
}

void MediaTracks::before_offer(const std::string& peer, duplex::PeerConnection& pc) {
    if (!active()) return;
    add(peer, pc, duplex::MediaKind::Audio);
    add(peer, pc, duplex::MediaKind::Video);
    if (!opt_.record.empty())
        pc.on_track([this, peer](duplex::MediaTrack track) {
            auto t = std::make_shared<Track>();
            t->peer = peer;
            t->track = track;
            t->kind = track.kind();
            tracks_[peer].push_back(t);
            record(t);
        });
}

void MediaTracks::before_answer(const std::string& peer, duplex::PeerConnection& pc, std::size_t audio, std::size_t video) {
    if (!active()) return;
    std::size_t have_audio = 0, have_video = 0;
    for (const auto& t : tracks_[peer]) ++(t->kind == duplex::MediaKind::Audio ? have_audio : have_video);
    for (; have_audio < audio; ++have_audio) add(peer, pc, duplex::MediaKind::Audio);
    for (; have_video < video; ++have_video) add(peer, pc, duplex::MediaKind::Video);
}

void MediaTracks::on_bitrate(const std::string& peer, std::uint32_t bps) {
    auto& e = estimates_[peer];
    e.last = bps;
    e.lowest = e.lowest == 0 ? bps : std::min(e.lowest, bps);
    apply_bitrate();
}

void MediaTracks::apply_bitrate() {
    if (!pattern_) return;
    std::uint32_t lowest = UINT32_MAX;
    for (const auto& [peer, e] : estimates_) lowest = std::min(lowest, e.last);
    // The audio (Opus at 64 kbit/s, or a file's) and its packets' headers take their share first.
    const std::uint32_t audio = opus_ || ogg_ ? 80'000 : 0;
    // No peer with an estimate left: --video-kbps again.
    const int kbps = estimates_.empty() ? opt_.video_kbps
                                        : std::clamp(static_cast<int>((lowest > audio ? lowest - audio : 0) / 1000),
                                                     kMinVideoKbps, opt_.video_kbps);
    if (kbps == encoding_kbps_) return;
    encoding_kbps_ = kbps;
    if (encoder_) encoder_->set_bitrate(kbps);
    if (h264_) h264_->set_bitrate(kbps);
    console_.detail((estimates_.empty() ? std::string("video: no bandwidth estimate left")
                                        : "video: the bandwidth estimate is " + std::to_string(lowest / 1000) + " kbit/s") +
                    ": encoding at " + std::to_string(kbps) + " kbit/s");
}

void MediaTracks::finish(const std::string& peer) {
    if (auto e = estimates_.find(peer); e != estimates_.end()) {
        console_.say("peer " + peer + ": outgoing bitrate estimate " + std::to_string(e->second.last / 1000) +
                     " kbit/s, lowest " + std::to_string(e->second.lowest / 1000) + " kbit/s");
        estimates_.erase(e);
        apply_bitrate();
    }
    auto it = tracks_.find(peer);
    if (it == tracks_.end()) return;
    for (const auto& t : it->second) {
        const auto s = t->track.stats();
        const std::string kind = duplex::to_string(t->kind);
        if (t->sends)
            console_.say("peer " + peer + ": " + kind + ": sent " + std::to_string(s.frames_sent) + " frames; NACKs received " +
                         std::to_string(s.nacks_received) + ", PLIs received " + std::to_string(s.plis_received) +
                         ", packets retransmitted " + std::to_string(s.retransmitted_packets_sent) +
                         (s.retransmissions_skipped ? " (" + std::to_string(s.retransmissions_skipped) + " over the budget)" : ""));
        if (t->records) {
            if (t->recorded == 0) console_.say("peer " + peer + ": " + kind + ": nothing received to record");
            else
                console_.say("peer " + peer + ": recorded " + kind + " to " + t->path + ": " + std::to_string(t->recorded) +
                             " frames (" + std::to_string(t->recorded_keys) + " key); NACKs sent " +
                             std::to_string(s.nacks_sent) + ", PLIs sent " + std::to_string(s.plis_sent) +
                             ", packets lost " + std::to_string(s.packets_lost));
        }
        t->track.on_frame(nullptr);
        t->track.on_key_frame_request(nullptr);
    }
    tracks_.erase(it);  // the writers close (the IVF header gets its frame count)
}

void MediaTracks::finish_all() {
    while (!tracks_.empty()) finish(tracks_.begin()->first);
}

// --------------------------------------------------------------- sources --

void MediaTracks::tick_video() {
    std::uint32_t ts = 0;
    steady_clock::time_point next;
    // What each codec's tracks get this tick.
    std::vector<std::byte> vp8, h264;
    if (pattern_) {
        const auto& picture = pattern_->next();
        bool need_vp8 = false, need_h264 = false;
        for (auto& [peer, list] : tracks_)
            for (auto& t : list) {
                if (t->kind != duplex::MediaKind::Video || !t->sending()) continue;
                const bool is_h264 = t->track.codec() == duplex::Codec::H264;
                // A track that starts sending needs a key frame to start from.
                if (!t->started) {
                    t->started = true;
                    (is_h264 ? want_h264_key_ : want_key_) = true;
                }
                (is_h264 ? need_h264 : need_vp8) = true;
            }
        if (need_vp8) {
            vp8 = encoder_->encode(picture, want_key_);
            want_key_ = false;
        }
        if (need_h264) {
            h264 = h264_->encode(picture, want_h264_key_);
            want_h264_key_ = false;
        }
        ts = static_cast<std::uint32_t>(video_frames_ * 90000 / static_cast<std::uint64_t>(opt_.fps));
        ++video_frames_;
        next = video_start_ + microseconds(video_frames_ * 1'000'000 / static_cast<std::uint64_t>(opt_.fps));
    } else if (annex_b_) {
        // No timestamps in the file: one access unit a frame at --fps.
        auto au = annex_b_->next();
        if (!au) {  // the end: again from the start, time going on
            annex_b_->rewind();
            au = annex_b_->next();
        }
        if (!au) return console_.error("--video " + opt_.video + ": no access unit to send");
        h264 = std::move(*au);
        ts = static_cast<std::uint32_t>(video_frames_ * 90000 / static_cast<std::uint64_t>(opt_.fps));
        ++video_frames_;
        next = video_start_ + microseconds(video_frames_ * 1'000'000 / static_cast<std::uint64_t>(opt_.fps));
    } else {
        auto f = ivf_->next();
        if (!f) {  // the end: again from the start, time going on
            ivf_offset_ = ivf_last_ + 1;
            ivf_->rewind();
            f = ivf_->next();
        }
        if (!f) return console_.error("--video " + opt_.video + ": no frame to send");
        const std::uint64_t pts = ivf_offset_ + f->pts;
        ivf_last_ = pts;
        vp8 = std::move(f->data);
        const double seconds = static_cast<double>(pts) * ivf_->scale / ivf_->rate;
        ts = static_cast<std::uint32_t>(seconds * 90000);
        next = video_start_ + microseconds(static_cast<std::int64_t>(seconds * 1e6)) + milliseconds(1000 / opt_.fps);
        ++video_frames_;
    }
    for (auto& [peer, list] : tracks_)
        for (auto& t : list) {
            if (t->kind != duplex::MediaKind::Video || !t->sending()) continue;
            const auto& frame = t->track.codec() == duplex::Codec::H264 ? h264 : vp8;
            if (!frame.empty()) (void)t->track.send_frame(frame, ts);
            else if (!pattern_ && !t->told_codec) {  // a file of one codec, a track of the other
                t->told_codec = true;
                console_.error("peer " + peer + ": video: it takes " + duplex::to_string(*t->track.codec()) + ", --video " +
                               opt_.video + " is " + (annex_b_ ? "H.264" : "VP8") + ": nothing sent");
            }
        }
    const auto delay = duration_cast<milliseconds>(next - steady_clock::now());
    video_timer_ = loop_.set_timeout(std::max(delay, milliseconds(0)), [this] { tick_video(); });
}

void MediaTracks::tick_audio() {
    std::vector<std::byte> packet;
    int samples = duplex::media::kOpusFrameSamples;
    std::optional<std::uint8_t> level;  // of the tone (a file's packets are not decoded here)
    if (opus_) {
        const auto& pcm = tone_->next();
        level = duplex::media::audio_level_dbov(pcm);
        packet = opus_->encode(pcm);
    } else {
        auto p = ogg_->next();
        if (!p) {  // the end: the file again
            std::string error;
            ogg_ = duplex::media::OggOpusReader::open(opt_.audio, error);
            if (ogg_) p = ogg_->next();
        }
        if (!p || p->samples == 0) return console_.error("--audio " + opt_.audio + ": no packet to send");
        packet = std::move(p->data);
        samples = p->samples;
    }
    const std::uint32_t ts = audio_ts_;
    audio_ts_ += static_cast<std::uint32_t>(samples);
    ++audio_packets_;
    if (!packet.empty())
        for (auto& [peer, list] : tracks_)
            for (auto& t : list)
                if (t->kind == duplex::MediaKind::Audio && t->sending()) (void)t->track.send_frame(packet, ts, level);
    const auto next = audio_start_ + microseconds(static_cast<std::int64_t>(audio_ts_) * 1'000'000 / 48000);
    const auto delay = duration_cast<milliseconds>(next - steady_clock::now());
    audio_timer_ = loop_.set_timeout(std::max(delay, milliseconds(0)), [this] { tick_audio(); });
}

}  // namespace duplex_peer
