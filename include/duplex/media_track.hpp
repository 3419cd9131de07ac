// duplex/media_track.hpp: an audio or video track of a PeerConnection, as
// encoded frames (W3C webrtc-pc §5: an RTCRtpTransceiver with its sender's
// and receiver's track). duplex does not force a codec library on its users:
// a track takes encoded frames to send and hands over the encoded frames it
// receives, whole and in decoding order (RTP, RTCP feedback, SRTP, the
// jitter buffer, NACK/RTX and key-frame requests are done underneath).
//
//   auto video = pc.add_track(duplex::MediaKind::Video);          // VP8 unless told otherwise
//   video->on_key_frame_request([&] { encoder.force_key_frame(); });
//   (void)video->send_frame(encoded_bytes, rtp_timestamp);         // 90 kHz for video, 48 kHz for Opus
//
//   pc.on_track([](duplex::MediaTrack track) {
//       track.on_frame([](const duplex::EncodedFrame& f) { decoder.decode(f.data); });
//   });
//
// A MediaTrack is a handle (cheap to copy) that lives on its PeerConnection's
// loop; its callbacks run there.
#pragma once

#include <duplex/status.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace duplex {

namespace detail {
class PeerImpl;
struct TrackState;
}  // namespace detail

enum class MediaKind { Audio, Video };
enum class Codec { Opus, Vp8, H264 };
/// RTCRtpTransceiverDirection.
enum class TrackDirection { SendRecv, SendOnly, RecvOnly, Inactive };
const char* to_string(MediaKind k) noexcept;
const char* to_string(Codec c) noexcept;
const char* to_string(TrackDirection d) noexcept;

struct TrackInit {
    TrackDirection direction = TrackDirection::SendRecv;
    std::string stream_id;           ///< a=msid's stream ("-" when empty)
    std::optional<Codec> codec;      ///< the one to prefer, the others after it (see set_codec_preferences)
};

/// One received frame, valid during the callback.
struct EncodedFrame {
    Codec codec = Codec::Vp8;
    std::uint32_t rtp_timestamp = 0;
    bool key_frame = false;
    std::span<const std::byte> data;  ///< VP8 frame, H.264 Annex B access unit, or Opus packet
    /// Audio: the level the sender put in the ssrc-audio-level extension, in
    /// -dBov (0 loudest .. 127 silence, RFC 6464), if it did.
    std::optional<std::uint8_t> audio_level;
};

/// The W3C stats of the track's streams (inbound-rtp, outbound-rtp,
/// remote-inbound-rtp).
struct TrackStats {
    std::uint64_t packets_sent = 0, bytes_sent = 0, frames_sent = 0;
    std::uint64_t retransmitted_packets_sent = 0, nacks_received = 0, plis_received = 0;
    /// Packets a NACK asked for that did not go again (yet): retransmissions
    /// take no more than the bandwidth estimate (get_stats()), with a burst
    /// of a second's worth.
    std::uint64_t retransmissions_skipped = 0;
    std::uint64_t packets_received = 0, bytes_received = 0, packets_lost = 0;
    std::uint64_t retransmitted_packets_received = 0;
    std::uint64_t frames_received = 0, key_frames_received = 0, frames_dropped = 0;
    std::uint64_t nacks_sent = 0, plis_sent = 0;
    double jitter_seconds = 0;
    std::optional<std::chrono::microseconds> round_trip_time;
};

class MediaTrack {
public:
    MediaTrack() = default;  ///< an empty handle

    MediaKind kind() const;
    std::string mid() const;                           ///< empty until negotiated
    TrackDirection direction() const;                  ///< what was asked
    std::optional<TrackDirection> current_direction() const;  ///< what the negotiation gave
    std::optional<Codec> codec() const;                ///< once negotiated
    std::string id() const;                            ///< MediaStreamTrack.id: ours, in our a=msid
    std::string remote_stream_id() const;              ///< the remote's a=msid stream, for a received track
    std::string remote_track_id() const;               ///< the remote's a=msid track (its MediaStreamTrack.id)

    /// Sends one encoded frame with this RTP timestamp once the track sends
    /// (negotiated, connected): invalid_state before.
    /// `audio_level`: an audio frame's level in -dBov (0 loudest .. 127
    /// silence, RFC 6464), sent with it in the ssrc-audio-level extension
    /// when negotiated (a browser shows it as the receiver's
    /// getSynchronizationSources().audioLevel); more is invalid_argument.
    Status send_frame(std::span<const std::byte> frame, std::uint32_t rtp_timestamp,
                      std::optional<std::uint8_t> audio_level = std::nullopt);
    /// Asks the remote sender for a key frame (PLI).
    Status request_key_frame();
    /// RTCRtpTransceiver.direction: asked of the next negotiation (fires
    /// on_negotiation_needed); current_direction() follows once it is done.
    Status set_direction(TrackDirection d);
    /// RTCRtpTransceiver.setCodecPreferences: the codecs this track offers
    /// and accepts from its next negotiation on, in this order (an answer
    /// lists them so too, RFC 8829 §5.3.1); empty: all of its kind, the
    /// default order. A codec of the other kind is invalid_argument. Does
    /// not fire on_negotiation_needed by itself.
    Status set_codec_preferences(std::vector<Codec> codecs);
    /// RTCRtpTransceiver.stop(): nothing more goes either way; the next
    /// negotiation carries the track's m= line at port 0 (fires
    /// on_negotiation_needed). A track the remote stopped is stopped too.
    Status stop();
    bool stopped() const;
    void on_frame(std::function<void(const EncodedFrame&)> fn);
    /// The remote asked for a key frame (PLI/FIR): encode the next one as such.
    void on_key_frame_request(std::function<void()> fn);
    TrackStats stats() const;

    explicit operator bool() const noexcept { return state_ != nullptr; }

private:
    friend class detail::PeerImpl;
    explicit MediaTrack(std::shared_ptr<detail::TrackState> s) : state_(std::move(s)) {}
    std::shared_ptr<detail::TrackState> state_;
};

}  // namespace duplex
