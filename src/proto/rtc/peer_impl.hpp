// proto/rtc/peer_impl.hpp: the composition behind rtc::Peer, shared by
// peer.cpp (the parts wired together: network, time, channels, the end) and
// negotiation.cpp (JSEP: descriptions, rollback, ICE restart). Internal.
//
//   Transport (ICE + DTLS + demux) ──DTLS app data──► DataChannels (SCTP + DCEP)
//        ▲    │                                              │
//        │    └──SRTP/SRTCP (128..191)──► Media (RTP, RTCP, jitter buffers, NACK/RTX)
//        │                                  │ (keyed from DTLS-SRTP when DTLS is up)
//        └──────── SCTP packets, SRTP datagrams ◄────────────┘
//   the negotiation tells the transport its role, the remote's credentials,
//   candidates and fingerprint, and when to start DTLS in which role; and
//   the media part which sections were accepted, with what.
#pragma once

#include "proto/rtc/data_channels.hpp"
#include "proto/rtc/media.hpp"
#include "proto/rtc/outputs.hpp"
#include "proto/rtc/peer.hpp"
#include "proto/rtc/transport.hpp"
#include "proto/sdp/jsep.hpp"
#include "proto/sdp/session_description.hpp"
#include "proto/sdp/signaling_state.hpp"

#include <optional>
#include <string>
#include <utility>

namespace duplex::proto::rtc {

class Peer::Impl final : Transport::Listener, DataChannels::Link, Media::Link {
public:
    Impl(PeerConfig c, dtls::Certificate certificate)
        : config(std::move(c)),
          transport(out, *this, config, std::move(certificate)),
          channels(out, *this, config.max_message_size),
          media(out, *this, config.accept_remote_tracks, config.max_transceivers) {}

    PeerConfig config;
    PeerOutputs out;
    Transport transport;
    DataChannels channels;
    Media media;

    // --- the negotiation (negotiation.cpp) ---
    std::uint64_t session_id;  // RFC 8866 §5.2: a numeric id, < 2^63 (set in create)
    std::uint64_t session_version = 1;
    sdp::SignalingMachine signaling;
    std::optional<std::pair<SdpKind, std::string>> local_desc, remote_desc;
    std::optional<std::pair<SdpKind, std::string>> rollback_local;  // what a local rollback restores
    std::optional<sdp::RemoteParams> remote;
    std::string mid = "0";            // the data channels' m= line; empty when the session has none yet
    std::string transport_mid = "0";  // the BUNDLE tag: what our candidates are announced under
    std::vector<TransceiverKey> offered_mids;  // mids our pending offer gave out (a rollback takes them back)
    bool offerer = false;  // we made the first offer (ICE controlling, RFC 8445 §6.1.1)

    void rollback_local_offer();
    void ensure_dtls(base::Instant now);
    base::Status apply_remote(const sdp::SessionDescription& d, SdpKind kind, base::Instant now);
    /// Which sections of a remote description we take: its data channels,
    /// and the audio/video sections the media part can carry.
    bool accepts_section(const sdp::Media& m, SdpKind kind) const;
    /// An offer and its answer are both set: the media part learns what was
    /// negotiated for each audio/video section.
    void apply_media();

    // --- the state of the whole (peer.cpp) ---
    IceState ice_state() const noexcept { return closed ? IceState::Closed : transport.ice_state(); }
    ConnectionState conn_state = ConnectionState::New;
    bool closed = false;
    void update_connection_state();

private:
    // Transport::Listener
    void on_transport_change() override { update_connection_state(); }
    void on_dtls_connected(base::Instant now) override;
    void on_dtls_data(base::Bytes data, base::Instant now) override { channels.handle_packet(data, now); }
    void on_dtls_ended() override { channels.close_all(); }
    void on_media_packet(base::Bytes datagram, base::Instant now) override { media.handle_packet(datagram, now); }
    // Media::Link
    void send_media(std::vector<std::byte> datagram) override { transport.send_media(std::move(datagram)); }
    // DataChannels::Link
    void send_sctp_packet(base::Bytes packet, base::Instant now) override { transport.send_app_data(packet, now); }
};

base::Status rtc_error(Errc e, std::string detail);

}  // namespace duplex::proto::rtc
