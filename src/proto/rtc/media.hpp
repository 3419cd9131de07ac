// proto/rtc/media.hpp: a peer's audio and video: transceivers, their SDP
// sections, and RTP/RTCP over SRTP on the transport's 128..191 branch
// (RFC 7983 §7). Internal to proto/rtc; a third part beside the transport
// and the data channels (decision 0017). The SDP sections are in
// media_negotiation.cpp, the packets in media.cpp, the state both share in
// media_transceiver.hpp.
//
//   send_frame ─► packetizer ─► RTP (mid, abs-send-time, transport-wide seq,
//              audio level) ─► history (for NACK → RTX, RFC 4588) ─► SRTP ─► Link
//   SRTP in ─► known SSRC? (signalled, or bound by the mid extension or an
//              unshared payload type, RFC 8843 §9.2; at most kMaxRemoteSsrcs)
//              ─► RTP ─► transport-wide seq noted ─► RTX unwrapped
//              ─► jitter buffer ─► TrackFrame        └─► NACK generator
//   SRTCP in ─► SR (for our RR's LSR/DLSR), RR (round-trip time), NACK
//              (answered from the history), PLI/FIR (KeyFrameRequested),
//              BYE (the remote's SSRC forgotten), transport-wide feedback
//              (the bandwidth estimate: OutgoingBitrate); a stream of ours that
//              stops, or the connection closing, sends BYE (RFC 3550 §6.6)
//   timer    ─► SR/RR + SDES every second, NACKs when due, PLI when the
//              jitter buffer lost its reference (at most every 300 ms),
//              transport-cc feedback every ~100 ms (transport_feedback.hpp)
#pragma once

#include "proto/rtc/outputs.hpp"
#include "proto/rtc/peer.hpp"
#include "proto/rtp/bandwidth_estimator.hpp"
#include "proto/rtp/jitter_buffer.hpp"
#include "proto/rtp/nack_generator.hpp"
#include "proto/rtp/header_extensions.hpp"
#include "proto/rtp/payload_format.hpp"
#include "proto/rtp/rtx.hpp"
#include "proto/rtp/transport_feedback.hpp"
#include "proto/sdp/rtp_section.hpp"
#include "proto/srtp/session.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace duplex::proto::dtls {
struct SrtpKeyingMaterial;
}

namespace duplex::proto::rtc {

class Media {
public:
    /// How the media part sends its datagrams (SRTP and SRTCP): on the
    /// transport's data pair.
    class Link {
    public:
        virtual void send_media(std::vector<std::byte> datagram) = 0;

    protected:
        ~Link() = default;
    };

    static constexpr std::size_t kMaxRemoteSsrcs = 32;

    Media(PeerOutputs& out, Link& link, bool accept_remote_tracks, std::size_t max_transceivers);
    ~Media();

    // --- transceivers ---
    /// 0 at the cap (PeerConfig::max_transceivers).
    TransceiverKey add(const TransceiverOptions& options, std::string mid);
    /// Its m= line was rejected (port 0): it neither sends nor receives
    /// again (W3C: stopped), and what it kept of the remote stream goes.
    void stop(const std::string& mid);
    /// Ours, stopped by the application (W3C RTCRtpTransceiver.stop): the
    /// next offer or answer carries its m= line at port 0. False if unknown.
    bool stop_local(TransceiverKey key);
    /// What we ask for from the next negotiation (W3C direction). False if
    /// unknown or stopped.
    bool set_direction(TransceiverKey key, bool send, bool receive);
    base::Status set_codec_preferences(TransceiverKey key, std::vector<MediaCodec> codecs);
    void fill_stats(PeerStats& st) const;
    /// The connection closes: RTCP BYE for what we send (RFC 3550 §6.6).
    void close();
    /// The round trip ICE measured: what NACK timing uses until RTCP
    /// measures one (a receive-only peer never gets one from RTCP: only a
    /// sender's reports carry the times, RFC 3550 §6.4.1).
    void set_path_rtt(std::optional<base::Duration> rtt);
    const TransceiverInfo* info(TransceiverKey key) const;
    std::vector<TransceiverKey> keys() const;
    bool empty() const noexcept { return transceivers_.empty(); }
    void set_accept_remote_tracks(bool accept) noexcept { accept_remote_tracks_ = accept; }

    // --- the negotiation ---
    /// Our section for the transceiver with this mid, in an offer.
    std::optional<sdp::RtpSection> offer_section(const std::string& mid) const;
    /// The mids of our transceivers, in the order they were added.
    std::vector<std::string> mids() const;
    bool has_mid(const std::string& mid) const;
    /// Gives each transceiver without a mid the smallest number not `taken`
    /// (nor used by another transceiver); returns those it gave one.
    std::vector<TransceiverKey> assign_mids(const std::function<bool(const std::string&)>& taken);
    /// Takes back the mids assign_mids gave (W3C rollback, §4.4.1.5).
    void unassign_mids(const std::vector<TransceiverKey>& keys);
    /// Whether answer_section() will take this offered section (before it
    /// is asked: the transport of an offer is that of what we accept).
    bool would_answer(const sdp::RtpSection& offered) const;
    /// Our answer to an offered section: the transceiver with its mid, or an
    /// unassociated one of its kind, or (if remote tracks are accepted) a new
    /// receive-only one (W3C setRemoteDescription makes it; TrackAdded is
    /// emitted when applied).
    std::optional<sdp::RtpSection> answer_section(const sdp::RtpSection& offered);
    /// Both descriptions hold this section: what we send and receive, with
    /// which codec, payload types, SSRCs and extension ids. `answer` is the
    /// answer's section (its codecs are the negotiated ones).
    void apply(const sdp::RtpSection& local, const sdp::RtpSection& remote, const sdp::RtpSection& answer);

    // --- the wire ---
    /// DTLS is up: SRTP keys from its exporter (RFC 5764 §4.2).
    void start_srtp(const dtls::SrtpKeyingMaterial& keys, bool dtls_client);
    bool srtp_ready() const noexcept { return srtp_ != nullptr; }
    void handle_packet(base::Bytes datagram, base::Instant now);
    base::Status send_frame(TransceiverKey key, base::Bytes frame, std::uint32_t rtp_timestamp, base::Instant now,
                            std::optional<std::uint8_t> audio_level = std::nullopt);
    base::Status request_key_frame(TransceiverKey key, base::Instant now);
    std::optional<base::Instant> poll_timeout() const;
    void handle_timeout(base::Instant now);

private:
    struct Transceiver;
    Transceiver* find(TransceiverKey key);
    Transceiver* find_mid(const std::string& mid);
    Transceiver* find_ssrc(std::uint32_t ssrc, bool& rtx);
    Transceiver* find_payload_type(std::uint8_t payload_type);  // the one receiving it, if only one
    bool ours(std::uint32_t ssrc) const;  // one of our streams' SSRCs
    void send_rtp(Transceiver& t, const rtp::Header& h, base::Bytes payload, base::Instant now, bool retransmission);
    void send_rtcp(std::vector<std::byte> compound);
    void on_rtp(base::Bytes plain, base::Instant now);
    void on_rtcp(base::Bytes plain, base::Instant now);
    void drain_frames(Transceiver& t, base::Instant now);
    void send_feedback(Transceiver& t, base::Instant now);
    std::optional<base::Instant> key_request_at(const Transceiver& t) const;
    /// A remote SSRC for the transceiver: a new one replaces the old (whose
    /// SRTP state is dropped) and starts the receiver afresh.
    void bind_remote_ssrc(Transceiver& t, std::uint32_t ssrc, bool rtx);
    void reset_receiver(Transceiver& t);
    base::Duration loss_wait(const Transceiver& t) const;
    void send_reports(base::Instant now);

    PeerOutputs& out_;
    Link& link_;
    std::vector<std::unique_ptr<Transceiver>> transceivers_;
    TransceiverKey next_key_ = 1;
    std::unique_ptr<srtp::Sessions> srtp_;
    std::vector<std::uint32_t> remote_ssrcs_;  // authenticated so far (bounded)
    std::uint16_t transport_sequence_ = 0;     // transport-wide-cc, one counter for all streams
    rtp::TransportFeedbackRecorder transport_feedback_;  // what arrived, told back (transport-cc)
    std::uint32_t transport_feedback_media_ssrc_ = 0;
    std::uint64_t transport_feedback_received_ = 0;
    rtp::BandwidthEstimator estimator_;               // what we may send, from the remote's feedback
    std::uint32_t said_bps_ = 0;                      // the estimate last said (OutgoingBitrate); 0: none yet
    double resend_tokens_ = 0;                        // retransmissions' budget, in bytes (a token bucket)
    std::optional<base::Instant> resend_tokens_at_;   // when it was last filled
    std::optional<base::Duration> path_rtt_;
    base::Duration rtt_of(const Transceiver& t) const;
    void send_transport_feedback(base::Instant now);
    void send_bye(std::span<Transceiver* const> leaving);
    std::string cname_;
    base::Instant next_report_{};
    std::vector<std::byte> scratch_;           // one packet being written
    std::uint64_t unauthenticated_ = 0;
    bool accept_remote_tracks_;
    std::size_t max_transceivers_;
};

}  // namespace duplex::proto::rtc
