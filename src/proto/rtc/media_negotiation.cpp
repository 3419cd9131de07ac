// proto/rtc/media_negotiation.cpp: the audio and video m= sections of
// offers and answers (RFC 8829 §5.2, §5.3) and what a negotiation gives a
// transceiver (codec, payload types, feedback, extensions, SSRCs); see
// media.hpp.
#include "proto/rtc/media.hpp"
#include "proto/rtc/media_transceiver.hpp"

#include "proto/sdp/codec_negotiation.hpp"

#include <algorithm>

namespace duplex::proto::rtc {

using namespace media_detail;

namespace {

// What duplex sends and receives: every codec a depacketizer exists for, in
// the order of `preferences` and only those when it names any (each video
// codec followed by its RTX).
std::vector<sdp::RtpCodec> supported(MediaKind kind, const std::vector<MediaCodec>& preferences) {
    // transport-cc: we tell the sender what arrived when (transport_feedback.hpp).
    const std::vector<sdp::RtcpFeedback> fb = {{"nack", ""}, {"nack", "pli"}, {"ccm", "fir"}, {"transport-cc", ""}};
    const std::vector<sdp::RtcpFeedback> audio_fb = {{"transport-cc", ""}};
    auto block = [&](MediaCodec c) -> std::vector<sdp::RtpCodec> {
        switch (c) {
        case MediaCodec::Opus: return {sdp::RtpCodec::make(111, "opus", 48000, 2, "minptime=10;useinbandfec=1", audio_fb)};
        case MediaCodec::Vp8:
            return {sdp::RtpCodec::make(96, "VP8", 90000, 0, "", fb), sdp::RtpCodec::make(97, "rtx", 90000, 0, "apt=96")};
        case MediaCodec::H264:  // packetization mode 1, then 0 (RFC 6184 §6.2, §6.3)
            return {sdp::RtpCodec::make(102, "H264", 90000, 0,
                                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", fb),
                    sdp::RtpCodec::make(103, "rtx", 90000, 0, "apt=102"),
                    sdp::RtpCodec::make(104, "H264", 90000, 0,
                                        "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f", fb),
                    sdp::RtpCodec::make(105, "rtx", 90000, 0, "apt=104")};
        }
        return {};
    };
    static const std::vector<MediaCodec> audio_default = {MediaCodec::Opus};
    static const std::vector<MediaCodec> video_default = {MediaCodec::Vp8, MediaCodec::H264};
    const auto& order = preferences.empty() ? (kind == MediaKind::Audio ? audio_default : video_default) : preferences;
    std::vector<sdp::RtpCodec> out;
    for (auto c : order)
        if (of_kind(c, kind))
            for (auto& r : block(c)) out.push_back(std::move(r));
    return out;
}

// RFC 8829 §5.3.1: an answer lists the codecs in the order of the codec
// preferences when there are some (the offerer's order otherwise), each RTX
// after the codec it repairs.
void order_by_preference(std::vector<sdp::RtpCodec>& codecs, const std::vector<MediaCodec>& preferences) {
    if (preferences.empty()) return;
    // By preference, then (within one codec: H.264's two modes) the order
    // they had, each RTX right after the one it repairs.
    auto rank = [&](const sdp::RtpCodec& c) {
        std::size_t primary = static_cast<std::size_t>(&c - codecs.data());
        if (auto apt = c.associated_payload_type()) {
            for (std::size_t i = 0; i < codecs.size(); ++i)
                if (codecs[i].payload_type == *apt) primary = i;
        }
        const auto codec = codec_of(codecs[primary]);
        const auto at = codec ? std::find(preferences.begin(), preferences.end(), public_codec(*codec)) : preferences.end();
        const bool repair = &codecs[primary] != &c;
        return (static_cast<std::size_t>(at - preferences.begin()) * codecs.size() + primary) * 2 + (repair ? 1 : 0);
    };
    std::vector<std::pair<std::size_t, sdp::RtpCodec>> ranked;
    for (auto& c : codecs) ranked.emplace_back(rank(c), c);
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (std::size_t i = 0; i < codecs.size(); ++i) codecs[i] = std::move(ranked[i].second);
}

std::vector<std::string_view> known_extensions(MediaKind kind) {
    std::vector<std::string_view> v = {rtp::uri::kMid, rtp::uri::kAbsSendTime, rtp::uri::kTransportWideCc};
    if (kind == MediaKind::Audio) v.push_back(rtp::uri::kAudioLevel);
    return v;
}

}  // namespace

std::optional<sdp::RtpSection> Media::offer_section(const std::string& mid) const {
    for (auto& t : transceivers_) {
        if (t->info.mid != mid || t->info.stopped) continue;
        sdp::RtpSection s;
        s.kind = t->info.kind == MediaKind::Audio ? "audio" : "video";
        s.mid = mid;
        s.codecs = supported(t->info.kind, t->options.codecs);
        std::uint8_t id = 1;
        for (auto uri : known_extensions(t->info.kind)) s.extensions.push_back({id++, std::string(uri), std::nullopt, {}});
        s.direction = sdp::make_direction(t->info.send, t->info.receive);
        if (t->info.send) {
            s.msid_stream = t->stream_id;
            s.msid_track = t->track_id;
            if (t->info.kind == MediaKind::Video) s.ssrc_groups = {{"FID", {t->ssrc, t->rtx_ssrc}}};
            s.ssrcs = {{t->ssrc, cname_, {}}};
            if (t->info.kind == MediaKind::Video) s.ssrcs.push_back({t->rtx_ssrc, cname_, {}});
        }
        return s;
    }
    return std::nullopt;
}

bool Media::would_answer(const sdp::RtpSection& offered) const {
    const MediaKind kind = offered.kind == "audio" ? MediaKind::Audio : MediaKind::Video;
    const auto codecs = sdp::negotiate_codecs(offered.codecs, supported(kind, {}));
    if (std::none_of(codecs.begin(), codecs.end(), [](const sdp::RtpCodec& c) { return codec_of(c).has_value(); }))
        return false;
    const bool ours = std::any_of(transceivers_.begin(), transceivers_.end(), [&](const auto& t) {
        return t->info.kind == kind && !t->info.stopped && (t->info.mid == offered.mid || t->info.mid.empty());
    });
    return ours || (accept_remote_tracks_ && transceivers_.size() < max_transceivers_);
}

std::optional<sdp::RtpSection> Media::answer_section(const sdp::RtpSection& offered) {
    const MediaKind kind = offered.kind == "audio" ? MediaKind::Audio : MediaKind::Video;
    Transceiver* t = find_mid(offered.mid);
    if (t != nullptr && t->info.kind != kind) t = nullptr;  // a mid of ours reused for another kind: not this one
    if (t == nullptr) {  // a track of ours not yet in a section takes it (JSEP §5.10)
        for (auto& c : transceivers_)
            if (c->info.mid.empty() && c->info.kind == kind && !c->info.stopped) {
                c->info.mid = offered.mid;
                t = c.get();
                break;
            }
    }
    if (t == nullptr && !accept_remote_tracks_) return std::nullopt;
    if (t == nullptr) {
        TransceiverOptions o;
        o.kind = kind;
        o.send = false;
        o.receive = true;
        t = find(add(o, offered.mid));  // nullptr at the cap (max_transceivers): the section is refused
        if (t == nullptr) return std::nullopt;
        t->created_by_remote = true;
    }
    if (t->info.kind != kind || t->info.stopped) return std::nullopt;
    sdp::RtpSection a;
    a.codecs = sdp::negotiate_codecs(offered.codecs, supported(kind, t->options.codecs));
    order_by_preference(a.codecs, t->options.codecs);
    bool usable = false;
    for (const auto& c : a.codecs) usable = usable || codec_of(c).has_value();
    if (!usable) return std::nullopt;
    a.extensions = sdp::negotiate_extensions(offered.extensions, known_extensions(kind));
    a.direction = sdp::answer_direction(offered.direction, t->info.send, t->info.receive);
    if (sdp::sends(a.direction)) {
        a.msid_stream = t->stream_id;
        a.msid_track = t->track_id;
        bool rtx = false;
        for (const auto& c : a.codecs) rtx = rtx || c.is("rtx");
        a.ssrcs = {{t->ssrc, cname_, {}}};
        if (rtx) {
            a.ssrc_groups = {{"FID", {t->ssrc, t->rtx_ssrc}}};
            a.ssrcs.push_back({t->rtx_ssrc, cname_, {}});
        }
    }
    return a;
}

void Media::apply(const sdp::RtpSection& local, const sdp::RtpSection& remote, const sdp::RtpSection& answer) {
    Transceiver* t = find_mid(local.mid);
    if (t == nullptr || t->info.stopped) return;
    t->info.sending = sdp::sends(local.direction) && sdp::receives(remote.direction);
    t->info.receiving = sdp::receives(local.direction) && sdp::sends(remote.direction);
    // The answer lists the negotiated codecs in the offerer's order: the
    // first one we can carry is what both sides send (RFC 3264 §6.1).
    t->codec.reset();
    t->receive_types.clear();
    t->receive_rtx.clear();
    t->rtx_pt = 0;
    for (const auto& c : answer.codecs) {
        if (auto apt = c.associated_payload_type()) {
            t->receive_rtx[c.payload_type] = *apt;
            continue;
        }
        auto codec = codec_of(c);
        if (!codec) continue;
        t->receive_types[c.payload_type] = *codec;
        if (!t->codec) {
            t->codec = codec;
            t->info.codec = public_codec(*codec);
            t->info.payload_type = c.payload_type;
        }
    }
    for (const auto& [rtx, apt] : t->receive_rtx)
        if (apt == t->info.payload_type) t->rtx_pt = rtx;
    t->nack_ok = t->pli_ok = t->transport_cc_ok = false;
    bool single_nal = false;
    for (const auto& c : answer.codecs)
        if (c.payload_type == t->info.payload_type) {
            t->nack_ok = c.has_feedback("nack");
            t->pli_ok = c.has_feedback("nack", "pli");
            t->transport_cc_ok = c.has_feedback("transport-cc");
            // RFC 6184 §8.1: packetization-mode absent is 0.
            single_nal = c.is("H264") && c.parameter("packetization-mode").value_or("0") == "0";
        }
    t->ext = rtp::ExtensionIds{};
    for (const auto& e : answer.extensions) (void)t->ext.bind(e.uri, e.id);
    t->transport_cc_ok = t->transport_cc_ok && t->ext.transport_wide_cc != 0;
    if (!t->codec) {
        t->info.sending = t->info.receiving = false;
        return;
    }
    if (t->info.sending && (t->packetizer_codec != t->codec || t->single_nal != single_nal)) {  // new, or changed
        t->packetizer = rtp::make_packetizer(*t->codec, rtp::PacketizerOptions{single_nal});
        t->packetizer_codec = t->codec;
    }
    t->single_nal = single_nal;
    if (t->info.sending && !t->history) t->history = std::make_unique<rtp::PacketHistory>(512);
    if (t->info.receiving) {
        // An SSRC of ours is not the remote's (libdatachannel's answers
        // repeat our a=ssrc-group): its streams are then found as
        // unsignalled ones.
        if (auto ssrc = remote.primary_ssrc(); ssrc && !ours(*ssrc)) bind_remote_ssrc(*t, *ssrc, false);
        if (auto rtx = remote.rtx_ssrc(); rtx && !ours(*rtx)) bind_remote_ssrc(*t, *rtx, true);
        if (!t->jitter || t->jitter->codec() != *t->codec) reset_receiver(*t);
        t->jitter->set_loss_wait(loss_wait(*t));
        t->info.remote_stream_id = remote.msid_stream.value_or("");
        t->info.remote_track_id = remote.msid_track.value_or("");
        if (t->created_by_remote && !t->announced) {
            t->announced = true;
            out_.emit(event::TrackAdded{t->key});
        }
    }
}

base::Status Media::set_codec_preferences(TransceiverKey key, std::vector<MediaCodec> codecs) {
    Transceiver* t = find(key);
    if (t == nullptr || t->info.stopped) return base::Status(make_error_code(Errc::invalid_state), "no such transceiver, or it is stopped");
    std::vector<MediaCodec> unique;
    for (auto c : codecs) {
        if (!of_kind(c, t->info.kind))
            return base::Status(make_error_code(Errc::invalid_argument), std::string("a codec of the other kind for ") +
                                                         (t->info.kind == MediaKind::Audio ? "audio" : "video"));
        if (std::find(unique.begin(), unique.end(), c) == unique.end()) unique.push_back(c);
    }
    t->options.codecs = std::move(unique);
    return {};
}

}  // namespace duplex::proto::rtc
