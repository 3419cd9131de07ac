// api/media_track.cpp: duplex::MediaTrack, the public handle to a transceiver
// of a PeerConnection and its track (encoded frames in and out), and the
// PeerImpl side of tracks: adding one, delivering frames and requests.
#include <duplex/media_track.hpp>

#include "api/peer_impl.hpp"

namespace duplex {

namespace {

proto::rtc::MediaKind to_proto(MediaKind k) {
    return k == MediaKind::Audio ? proto::rtc::MediaKind::Audio : proto::rtc::MediaKind::Video;
}

Codec from_proto(proto::rtc::MediaCodec c) {
    switch (c) {
    case proto::rtc::MediaCodec::Opus: return Codec::Opus;
    case proto::rtc::MediaCodec::Vp8: return Codec::Vp8;
    case proto::rtc::MediaCodec::H264: return Codec::H264;
    }
    return Codec::Vp8;
}

proto::rtc::MediaCodec to_proto(Codec c) {
    switch (c) {
    case Codec::Opus: return proto::rtc::MediaCodec::Opus;
    case Codec::Vp8: return proto::rtc::MediaCodec::Vp8;
    case Codec::H264: return proto::rtc::MediaCodec::H264;
    }
    return proto::rtc::MediaCodec::Vp8;
}

TrackDirection direction_of(bool send, bool receive) {
    if (send && receive) return TrackDirection::SendRecv;
    if (send) return TrackDirection::SendOnly;
    if (receive) return TrackDirection::RecvOnly;
    return TrackDirection::Inactive;
}

// The transceiver as the calling thread may see it: live on the loop
// thread, else the copy made after the loop's last flush.
std::optional<proto::rtc::TransceiverInfo> info_of(const std::shared_ptr<detail::TrackState>& st) {
    if (!st) return std::nullopt;
    if (st->loop->in_loop_thread()) {
        auto p = st->peer.lock();
        const auto* t = p ? p->transceiver(*st) : nullptr;
        if (t) return *t;
    }
    std::lock_guard<std::mutex> lock(st->mu);
    return st->snapshot;
}

template <class Fn>
void track_on_loop(const std::shared_ptr<detail::TrackState>& st, Fn fn) {
    if (!st) return;
    if (st->loop->in_loop_thread()) fn(*st);
    else st->loop->post([st, fn]() mutable { fn(*st); });
}

}  // namespace

const char* to_string(MediaKind k) noexcept { return k == MediaKind::Audio ? "audio" : "video"; }
const char* to_string(Codec c) noexcept {
    switch (c) {
    case Codec::Opus: return "opus";
    case Codec::Vp8: return "VP8";
    case Codec::H264: return "H264";
    }
    return "?";
}
const char* to_string(TrackDirection d) noexcept {
    static const char* names[] = {"sendrecv", "sendonly", "recvonly", "inactive"};
    return names[static_cast<int>(d)];
}

// ----------------------------------------------------------------- the handle

MediaKind MediaTrack::kind() const { return state_ ? state_->kind : MediaKind::Video; }

std::string MediaTrack::mid() const {
    auto t = info_of(state_);
    return t ? t->mid : std::string();
}

TrackDirection MediaTrack::direction() const { return state_ ? state_->direction : TrackDirection::Inactive; }

std::optional<TrackDirection> MediaTrack::current_direction() const {
    auto t = info_of(state_);
    if (!t || !t->codec) return std::nullopt;
    return direction_of(t->sending, t->receiving);
}

std::optional<Codec> MediaTrack::codec() const {
    auto t = info_of(state_);
    if (!t || !t->codec) return std::nullopt;
    return from_proto(*t->codec);
}

std::string MediaTrack::id() const {
    auto t = info_of(state_);
    return t ? t->track_id : std::string();
}

std::string MediaTrack::remote_track_id() const {
    auto t = info_of(state_);
    return t ? t->remote_track_id : std::string();
}

std::string MediaTrack::remote_stream_id() const {
    auto t = info_of(state_);
    return t ? t->remote_stream_id : std::string();
}

Status MediaTrack::send_frame(std::span<const std::byte> frame, std::uint32_t rtp_timestamp,
                              std::optional<std::uint8_t> audio_level) {
    if (!state_) return Status(Errc::invalid_state, "empty MediaTrack handle");
    if (audio_level && *audio_level > 127)
        return Status(Errc::invalid_argument, "an audio level is 0 (loudest) to 127 (silence) -dBov");
    if (state_->loop->in_loop_thread()) {
        auto p = state_->peer.lock();
        if (!p) return Status(Errc::invalid_state, "the peer connection is gone");
        return p->send_frame(*state_, frame, rtp_timestamp, audio_level);
    }
    track_on_loop(state_, [f = std::vector<std::byte>(frame.begin(), frame.end()), rtp_timestamp,
                           audio_level](detail::TrackState& s) {
        if (auto p = s.peer.lock()) (void)p->send_frame(s, f, rtp_timestamp, audio_level);
    });
    return {};
}

Status MediaTrack::request_key_frame() {
    if (!state_) return Status(Errc::invalid_state, "empty MediaTrack handle");
    if (state_->loop->in_loop_thread()) {
        auto p = state_->peer.lock();
        if (!p) return Status(Errc::invalid_state, "the peer connection is gone");
        return p->request_key_frame(*state_);
    }
    track_on_loop(state_, [](detail::TrackState& s) {
        if (auto p = s.peer.lock()) (void)p->request_key_frame(s);
    });
    return {};
}

Status MediaTrack::set_direction(TrackDirection d) {
    if (!state_) return Status(Errc::invalid_state, "empty MediaTrack handle");
    if (state_->loop->in_loop_thread()) {
        auto p = state_->peer.lock();
        if (!p) return Status(Errc::invalid_state, "the peer connection is gone");
        return p->set_direction(*state_, d);
    }
    track_on_loop(state_, [d](detail::TrackState& s) {
        if (auto p = s.peer.lock()) (void)p->set_direction(s, d);
    });
    return {};
}

Status MediaTrack::set_codec_preferences(std::vector<Codec> codecs) {
    if (!state_) return Status(Errc::invalid_state, "empty MediaTrack handle");
    for (auto c : codecs)
        if ((c == Codec::Opus) != (state_->kind == MediaKind::Audio))
            return Status(Errc::invalid_argument, std::string(to_string(c)) + " is not a codec for " + to_string(state_->kind));
    track_on_loop(state_, [codecs = std::move(codecs)](detail::TrackState& s) mutable {
        if (auto p = s.peer.lock()) (void)p->set_codec_preferences(s, std::move(codecs));
    });
    return {};
}

Status MediaTrack::stop() {
    if (!state_) return Status(Errc::invalid_state, "empty MediaTrack handle");
    if (state_->loop->in_loop_thread()) {
        auto p = state_->peer.lock();
        if (!p) return Status(Errc::invalid_state, "the peer connection is gone");
        return p->stop(*state_);
    }
    track_on_loop(state_, [](detail::TrackState& s) {
        if (auto p = s.peer.lock()) (void)p->stop(s);
    });
    return {};
}

bool MediaTrack::stopped() const {
    auto t = info_of(state_);
    return t && t->stopped;
}

void MediaTrack::on_frame(std::function<void(const EncodedFrame&)> fn) {
    track_on_loop(state_, [fn = std::move(fn)](detail::TrackState& s) mutable {
        s.on_frame = std::move(fn);
        ++s.handlers_set;
    });
}

void MediaTrack::on_key_frame_request(std::function<void()> fn) {
    track_on_loop(state_, [fn = std::move(fn)](detail::TrackState& s) mutable {
        s.on_key_frame_request = std::move(fn);
        ++s.handlers_set;
    });
}

TrackStats MediaTrack::stats() const {
    TrackStats out;
    const auto t = info_of(state_);
    if (!t) return out;
    const auto& s = t->stats;
    out.packets_sent = s.packets_sent;
    out.bytes_sent = s.bytes_sent;
    out.frames_sent = s.frames_sent;
    out.retransmitted_packets_sent = s.retransmitted_packets_sent;
    out.retransmissions_skipped = s.retransmissions_skipped;
    out.nacks_received = s.nacks_received;
    out.plis_received = s.plis_received;
    out.packets_received = s.packets_received;
    out.bytes_received = s.bytes_received;
    out.packets_lost = s.packets_lost;
    out.retransmitted_packets_received = s.retransmitted_packets_received;
    out.frames_received = s.frames_received;
    out.key_frames_received = s.key_frames_received;
    out.frames_dropped = s.frames_dropped;
    out.nacks_sent = s.nacks_sent;
    out.plis_sent = s.plis_sent;
    out.jitter_seconds = s.jitter_seconds;
    if (s.round_trip_time) out.round_trip_time = std::chrono::duration_cast<std::chrono::microseconds>(*s.round_trip_time);
    return out;
}

// ------------------------------------------------------------ the peer's side

namespace detail {

namespace {

// Runs a track's handler where it is stored: no copy per frame, and a
// mutable handler keeps its state. It is moved out for the call and put back
// unless the call set another (or the track was closed), and the track is
// kept alive meanwhile (the handler may drop the last handle).
template <class Fn, class... Args>
void run_handler(std::shared_ptr<TrackState> track, Fn TrackState::*slot, Args&&... args) {
    Fn fn = std::move((*track).*slot);
    const auto set = track->handlers_set;
    fn(std::forward<Args>(args)...);
    if (track->handlers_set == set) (*track).*slot = std::move(fn);
}

}  // namespace

Result<MediaTrack> PeerImpl::add_track(MediaKind kind, const TrackInit& init) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the peer connection is closed");
    proto::rtc::TransceiverOptions o;
    o.kind = to_proto(kind);
    o.send = init.direction == TrackDirection::SendRecv || init.direction == TrackDirection::SendOnly;
    o.receive = init.direction == TrackDirection::SendRecv || init.direction == TrackDirection::RecvOnly;
    o.stream_id = init.stream_id;
    if (init.codec) {
        // The one named first, then the others of the kind (RFC 8829 §5.2.1).
        o.codecs.push_back(to_proto(*init.codec));
        for (auto c : {Codec::Opus, Codec::Vp8, Codec::H264})
            if (c != *init.codec && (c == Codec::Opus) == (kind == MediaKind::Audio)) o.codecs.push_back(to_proto(c));
    }
    auto key = peer_->add_transceiver(o, base::Clock::now());
    if (!key) return key.status();
    auto st = std::make_shared<TrackState>();
    st->peer = weak_from_this();
    st->loop = &loop_;
    st->key = key.value();
    st->kind = kind;
    st->direction = init.direction;
    tracks_[st->key] = st;
    flush_soon();
    return MediaTrack(st);
}

void PeerImpl::set_on_track(std::function<void(MediaTrack)> fn) {
    on_track_fn = std::move(fn);
    if (peer_) peer_->set_accept_remote_tracks(on_track_fn != nullptr);
}

const proto::rtc::TransceiverInfo* PeerImpl::transceiver(const TrackState& t) const {
    return peer_ ? peer_->transceiver(t.key) : nullptr;
}

void PeerImpl::snapshot_tracks() {
    if (!peer_) return;
    for (auto& [key, st] : tracks_) {
        const auto* t = peer_->transceiver(key);
        std::lock_guard<std::mutex> lock(st->mu);
        if (t) st->snapshot = *t;
    }
}

Status PeerImpl::send_frame(TrackState& t, std::span<const std::byte> frame, std::uint32_t rtp_timestamp,
                            std::optional<std::uint8_t> audio_level) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto st = peer_->send_frame(t.key, frame, rtp_timestamp, base::Clock::now(), audio_level);
    flush();
    return st;
}

Status PeerImpl::set_direction(TrackState& t, TrackDirection d) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the peer connection is closed");
    const bool send = d == TrackDirection::SendRecv || d == TrackDirection::SendOnly;
    const bool receive = d == TrackDirection::SendRecv || d == TrackDirection::RecvOnly;
    auto st = peer_->set_transceiver_direction(t.key, send, receive, base::Clock::now());
    if (st.ok()) t.direction = d;
    flush_soon();
    return st;
}

Status PeerImpl::set_codec_preferences(TrackState& t, std::vector<Codec> codecs) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the peer connection is closed");
    std::vector<proto::rtc::MediaCodec> proto_codecs;
    for (auto c : codecs) proto_codecs.push_back(to_proto(c));
    return peer_->set_codec_preferences(t.key, std::move(proto_codecs));
}

Status PeerImpl::stop(TrackState& t) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto st = peer_->stop_transceiver(t.key, base::Clock::now());
    if (st.ok()) t.direction = TrackDirection::Inactive;
    flush_soon();
    return st;
}

Status PeerImpl::request_key_frame(TrackState& t) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto st = peer_->request_key_frame(t.key, base::Clock::now());
    flush();
    return st;
}

void PeerImpl::deliver_track_event(proto::rtc::PeerEvent& ev) {
    using namespace proto::rtc::event;
    if (auto* a = std::get_if<TrackAdded>(&ev)) {
        const auto* info = peer_->transceiver(a->key);
        if (!info) return;
        auto st = std::make_shared<TrackState>();
        st->peer = weak_from_this();
        st->loop = &loop_;
        st->key = a->key;
        st->kind = info->kind == proto::rtc::MediaKind::Audio ? MediaKind::Audio : MediaKind::Video;
        st->direction = TrackDirection::RecvOnly;
        tracks_[st->key] = st;
        if (on_track_fn) on_track_fn(MediaTrack(st));
    } else if (auto* f = std::get_if<TrackFrame>(&ev)) {
        auto it = tracks_.find(f->key);
        if (it == tracks_.end() || !it->second->on_frame) return;
        const auto* info = peer_->transceiver(f->key);
        EncodedFrame frame;
        frame.codec = info && info->codec ? from_proto(*info->codec) : Codec::Vp8;
        frame.rtp_timestamp = f->rtp_timestamp;
        frame.key_frame = f->key_frame;
        frame.data = f->data;
        frame.audio_level = f->audio_level;
        run_handler(it->second, &TrackState::on_frame, frame);
    } else if (auto* k = std::get_if<KeyFrameRequested>(&ev)) {
        auto it = tracks_.find(k->key);
        if (it == tracks_.end() || !it->second->on_key_frame_request) return;
        run_handler(it->second, &TrackState::on_key_frame_request);
    }
}

}  // namespace detail
}  // namespace duplex
