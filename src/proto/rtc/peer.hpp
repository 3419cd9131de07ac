// proto/rtc/peer.hpp: one WebRTC peer connection as a sans-IO machine: ICE,
// DTLS, SCTP and DCEP, and RTP/RTCP over SRTP for audio and video (media.hpp),
// composed, described by SDP (JSEP, RFC 8829).
//
// Drive contract (the same as every machine in proto):
//   inputs   add_host(), handle_datagram(), the signaling calls, the channel
//            calls, handle_timeout(now) — each given `now`;
//   outputs  poll_transmit() (datagrams to send, each from a local socket to
//            a remote address), poll_event() (what the application hears);
//   time     poll_timeout() is the earliest deadline of the parts; call
//            handle_timeout(now) when it passes.
// After any input, drain poll_transmit() and poll_event() until empty.
//
// Incoming datagrams are demultiplexed by their first byte (RFC 7983 §7):
//   0..3 STUN → ICE,  20..63 DTLS → DTLS,  128..191 SRTP/SRTCP → media,
//   anything else dropped.
//
// One caveat from usrsctp (DESIGN.md): its timers are global to the process,
// so handle_timeout() of one peer can produce packets for another; the runtime
// polls every peer of the process after driving any of them.
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "proto/ice/candidate.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace duplex::proto::rtc {

enum class SdpKind { Offer, Answer, Pranswer, Rollback };
enum class SignalingState { Stable, HaveLocalOffer, HaveRemoteOffer, HaveLocalPranswer, HaveRemotePranswer, Closed };
enum class IceState { New, Checking, Connected, Completed, Failed, Disconnected, Closed };
enum class ConnectionState { New, Connecting, Connected, Disconnected, Failed, Closed };
enum class GatheringState { New, Gathering, Complete };
enum class ChannelState { Connecting, Open, Closing, Closed };

/// A TURN server by address (RFC 8656), with its long-term credentials.
struct TurnServer {
    base::Endpoint address;
    std::string username;
    std::string password;
    ice::RelayProtocol protocol = ice::RelayProtocol::Udp;
    std::string url;   // as configured, to name it in errors
    std::string host;  // the URL's host: what a TLS certificate must name
};

struct PeerConfig {
    std::string certificate_pem;                 // empty: generate ECDSA P-256
    std::string private_key_pem;
    std::vector<base::Endpoint> stun_servers;
    std::vector<TurnServer> turn_servers;        // relayed candidates through each (UDP to the server)
    /// W3C iceTransportPolicy "relay": only relayed candidates.
    bool relay_only = false;
    std::size_t max_message_size = 256 * 1024;   // what we accept (a=max-message-size)
    base::Duration ice_failed_timeout = base::seconds(30);
    base::Duration ice_pacing = base::milliseconds(50);  // Ta, RFC 8445 §14.2
    /// A remote offer's audio/video section with no transceiver of ours to
    /// take it gets a new receive-only one (W3C setRemoteDescription; then
    /// event::TrackAdded). False: such sections are rejected (port 0), for an
    /// application that takes no media.
    bool accept_remote_tracks = true;
    /// Transceivers at most, ours and the remote's (each receiving one holds
    /// a jitter buffer of up to 1.5 MB, each sending one a 0.75 MB history):
    /// sections beyond are refused (port 0), add_transceiver fails.
    std::size_t max_transceivers = 16;
};

struct ChannelOptions {
    std::string label;
    std::string protocol;
    bool ordered = true;
    std::optional<std::uint16_t> max_retransmits;
    std::optional<std::uint32_t> max_packet_life_time;
    bool negotiated = false;
    std::optional<std::uint16_t> id;
};

/// A channel's handle inside one Peer; stable for its life (stream ids are
/// only known once the DTLS role is).
using ChannelKey = std::uint32_t;

// --- media (media.hpp) ---
enum class MediaKind { Audio, Video };
enum class MediaCodec { Opus, Vp8, H264 };
/// A transceiver's handle inside one Peer.
using TransceiverKey = std::uint32_t;

struct TransceiverOptions {
    MediaKind kind = MediaKind::Video;
    bool send = true;      // we have frames to send
    bool receive = true;   // we take what the remote sends
    std::string stream_id; // a=msid (RFC 8830): empty for "-"
    std::string track_id;  // empty: made up
    /// W3C setCodecPreferences: the codecs to offer and accept, in this
    /// order (empty: every one of the kind, Opus; VP8 then H.264).
    std::vector<MediaCodec> codecs;
};

/// What a transceiver counts (the W3C stats names in the comments).
struct MediaStats {
    std::uint64_t packets_sent = 0, bytes_sent = 0;            // outbound-rtp
    std::uint64_t retransmitted_packets_sent = 0;               // outbound-rtp retransmittedPacketsSent
    std::uint64_t retransmissions_skipped = 0;                  // asked for, over the retransmission budget
    std::uint64_t nacks_received = 0, plis_received = 0;        // outbound-rtp nackCount, pliCount
    std::uint64_t frames_sent = 0;
    std::uint64_t packets_received = 0, bytes_received = 0;    // inbound-rtp
    std::uint64_t packets_lost = 0;                             // inbound-rtp packetsLost (given up on)
    std::uint64_t retransmitted_packets_received = 0;
    std::uint64_t frames_received = 0, key_frames_received = 0, frames_dropped = 0;  // framesReceived...
    std::uint64_t nacks_sent = 0, plis_sent = 0;                // inbound-rtp nackCount, pliCount
    double jitter_seconds = 0;                                  // inbound-rtp jitter
    std::optional<base::Duration> round_trip_time;              // remote-inbound-rtp roundTripTime
    std::uint64_t unauthenticated_dropped = 0;                  // SRTP that failed its check (whole peer)
    std::uint64_t byes_received = 0;                            // RTCP BYE for the remote's stream (RFC 3550 §6.6)
};

struct TransceiverInfo {
    MediaKind kind = MediaKind::Video;
    std::string mid;                            // empty until negotiated
    bool send = false, receive = false;         // what we asked for
    bool sending = false, receiving = false;    // what the negotiation gave (currentDirection)
    std::optional<MediaCodec> codec;            // the codec both sides use, once negotiated
    std::uint8_t payload_type = 0;
    std::string track_id;                       // ours, in our a=msid
    std::string remote_stream_id, remote_track_id;
    bool stopped = false;
    MediaStats stats;
};

struct Transmit {
    base::Endpoint local;        // the socket to send from
    base::Endpoint destination;
    std::vector<std::byte> data;
    /// 0: a UDP datagram. Otherwise bytes for the stream connection with this
    /// id (event::OpenStream), in order; `local` and `destination` are then
    /// only informative.
    std::uint32_t stream = 0;
};

namespace event {
struct LocalCandidate { std::string candidate; std::string mid; };   // empty candidate: gathering complete
struct GatheringChange { GatheringState state; };
struct IceChange { IceState state; };
struct ConnectionChange { ConnectionState state; };
struct SignalingChange { SignalingState state; };
struct NegotiationNeeded {};
struct ChannelOpen { ChannelKey key; std::optional<std::uint16_t> stream; };
/// The remote opened a channel (DCEP); ChannelOpen follows.
struct RemoteChannel { ChannelKey key; ChannelOptions options; };
struct ChannelMessage { ChannelKey key; bool binary; std::vector<std::byte> data; };
struct ChannelClosed { ChannelKey key; };
struct ChannelBufferedLow { ChannelKey key; };
struct ChannelError { ChannelKey key; std::string message; };
/// A remote candidate (trickled, or in the remote description) names its
/// address by an mDNS ".local" hostname, as browsers do to hide their
/// addresses (draft-ietf-mmusic-mdns-ice-candidates §3.2). ICE cannot use it
/// and skips it (peer-reflexive learning, RFC 8445 §7.3.1.3, may still
/// connect); the runtime may look the name up (RFC 6762) and hand the same
/// candidate, with the address in place of the name, to
/// add_remote_candidate(). `candidate` is its attribute value ("candidate:…").
struct ResolveHostname { std::string candidate; };
/// The pair data goes over changed (RTCIceTransport selectedcandidatepairchange):
/// stats() names the new one.
struct PathChange {};
/// Open a TCP connection (TLS when `tls`, the certificate checked against
/// `host`) to a TURN server reached over TCP or TLS (RFC 8656 §3.1); then
/// stream_connected(), stream_data(), stream_closed() with this id, and the
/// Transmits with `stream == id` written to it in order.
struct OpenStream {
    std::uint32_t id = 0;
    base::Endpoint server;
    bool tls = false;
    std::string host;
};
/// Close stream connection `id` (an ICE-TCP connection that carried no
/// check made room for a new one); nothing more is reported of it.
struct CloseStream {
    std::uint32_t id = 0;
};
/// A STUN or TURN server gave no candidate (W3C icecandidateerror): the
/// server's URL, the STUN error code (0: no answer), and why.
struct CandidateError {
    std::string url;
    std::uint16_t code = 0;
    std::string text;
};
/// A remote description made a transceiver (the remote sends on a new m=
/// line): the application's "track" event.
struct TrackAdded { TransceiverKey key; };
/// A whole encoded frame of a received track, in decoding order.
struct TrackFrame {
    TransceiverKey key;
    std::uint32_t rtp_timestamp;
    bool key_frame;
    std::vector<std::byte> data;
    std::optional<std::uint8_t> audio_level = std::nullopt;  // RFC 6464 -dBov, when the sender wrote one
};
/// The remote asked for a key frame (PLI or FIR, RFC 4585 §6.3.1, RFC 5104 §4.3.1).
struct KeyFrameRequested { TransceiverKey key; };
/// What we may send now, all streams together, from the remote's
/// transport-wide feedback (rtp/bandwidth_estimator.hpp): said when it
/// moved by 5 % or more since it was last said.
struct OutgoingBitrate { std::uint32_t bits_per_second; };
}  // namespace event

using PeerEvent = std::variant<event::LocalCandidate, event::GatheringChange, event::IceChange, event::ConnectionChange,
                               event::SignalingChange, event::NegotiationNeeded, event::ChannelOpen,
                               event::RemoteChannel, event::ChannelMessage, event::ChannelClosed,
                               event::ChannelBufferedLow, event::ChannelError, event::ResolveHostname, event::CandidateError, event::OpenStream, event::CloseStream, event::PathChange,
                               event::TrackAdded, event::TrackFrame, event::KeyFrameRequested, event::OutgoingBitrate>;

struct ChannelInfo {
    ChannelOptions options;
    std::optional<std::uint16_t> stream;
    ChannelState state = ChannelState::Connecting;
    std::size_t low_threshold = 0;
};

struct PeerStats {
    std::uint64_t bytes_sent = 0, bytes_received = 0, messages_sent = 0, messages_received = 0;
    std::uint32_t channels_opened = 0, channels_closed = 0;
    std::string local_candidate, remote_candidate, dtls_cipher;
    /// The data pair's candidate types ("host", "srflx", "prflx", "relay"),
    /// and for a relayed local one, how the TURN server is reached ("udp").
    std::string local_candidate_type, remote_candidate_type, relay_protocol;
    std::string candidate_protocol;  // the pair's: "udp", or "tcp" (ICE-TCP)
    std::optional<base::Duration> rtt;
    /// Transport-wide congestion control feedback (RTPFB 15) packets: ours
    /// about what arrived, and the remote's about what we sent.
    std::uint64_t transport_feedback_sent = 0, transport_feedback_received = 0;
    /// The bandwidth estimate for what we send, once the remote's feedback
    /// made one (W3C RTCIceCandidatePairStats.availableOutgoingBitrate).
    std::optional<std::uint32_t> available_outgoing_bitrate;
    std::string failure;  // why the connection failed: "ICE: ...", "DTLS: ...", "SCTP: ..."; "" while it has not
};

class Peer {
public:
    /// Fails when the certificate cannot be generated or loaded.
    static base::Result<std::unique_ptr<Peer>> create(PeerConfig config, base::Instant now);
    ~Peer();
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    // --- signaling (JSEP) ---
    base::Result<std::string> create_offer();
    base::Result<std::string> create_answer();
    base::Status set_local_description(SdpKind kind, std::string_view sdp, base::Instant now);
    base::Status set_remote_description(SdpKind kind, std::string_view sdp, base::Instant now);
    /// A trickled remote candidate ("candidate:…"); empty: end of candidates.
    /// One with an mDNS hostname is skipped by ICE and reported as
    /// event::ResolveHostname.
    base::Status add_remote_candidate(std::string_view candidate, base::Instant now);
    /// The next offer restarts ICE with new credentials; channels stay open.
    void restart_ice();
    SignalingState signaling_state() const noexcept;
    std::optional<std::pair<SdpKind, std::string>> local_description() const;
    std::optional<std::pair<SdpKind, std::string>> remote_description() const;

    // --- network ---
    /// The runtime bound a UDP socket at `local`: a host candidate.
    void add_host(const base::Endpoint& local, base::Instant now);
    /// No more host sockets will come (gathering of host candidates is done).
    void hosts_complete(base::Instant now);
    /// New ICE servers and relay policy (W3C setConfiguration): used from the
    /// next ICE restart (restart_ice(), or the peer's), or from the first
    /// gathering if it has not begun. Names among them: begin_server_lookup()
    /// and end_server_lookup() as at the start.
    void set_ice_servers(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, bool relay_only);
    /// A STUN or TURN server known by name (stun:host, turn:host): gathering
    /// is not complete until end_server_lookup() says what the name gave
    /// (none: nothing).
    void begin_server_lookup();
    void end_server_lookup(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, base::Instant now);
    void handle_datagram(const base::Endpoint& local, const base::Endpoint& from, base::Bytes datagram,
                         base::Instant now);
    /// ICE-TCP (RFC 6544): the runtime listens for TCP at `local` (a passive
    /// host candidate; an address no UDP socket of ours has).
    void add_tcp_host(const base::Endpoint& local, base::Instant now);
    /// A connection to that listener from `remote` was accepted; it is stream
    /// `id` from now on (stream_data, stream_closed, and Transmits with
    /// `stream == id`). False: not taken (too many, all of them checked): the
    /// runtime closes it. Taking it may evict one that carried no check
    /// (event::CloseStream).
    bool tcp_accepted(std::uint32_t id, const base::Endpoint& local, const base::Endpoint& remote, base::Instant now);
    /// The stream connection of an event::OpenStream is up; bytes came on
    /// it; it ended (refused, reset, TLS failed: `why` says so).
    void stream_connected(std::uint32_t id, base::Instant now);
    void stream_data(std::uint32_t id, base::Bytes data, base::Instant now);
    void stream_closed(std::uint32_t id, const std::string& why, base::Instant now);
    std::optional<Transmit> poll_transmit();
    /// A sent datagram's buffer, given back for the next ones (optional: a
    /// runtime that does so spares media an allocation per packet).
    void recycle(std::vector<std::byte>&& buffer);

    // --- data channels ---
    base::Result<ChannelKey> create_channel(const ChannelOptions& options, base::Instant now);
    base::Status send(ChannelKey key, bool binary, base::Bytes data, base::Instant now);
    void close_channel(ChannelKey key, base::Instant now);
    const ChannelInfo* channel(ChannelKey key) const;
    /// Bytes handed to send() on the channel that SCTP has not sent yet.
    std::size_t buffered_amount(ChannelKey key) const;
    void set_low_threshold(ChannelKey key, std::size_t bytes);

    // --- media ---
    /// A transceiver (W3C addTransceiver): its m= line goes in the next offer.
    base::Result<TransceiverKey> add_transceiver(const TransceiverOptions& options, base::Instant now);
    /// Sends one encoded frame at this RTP timestamp (the codec's clock:
    /// 48 kHz for Opus, 90 kHz for video) once the transceiver sends.
    /// `audio_level`: an audio frame's level in -dBov (0 loudest .. 127
    /// silence), sent in the ssrc-audio-level extension when negotiated
    /// (RFC 6464); more than 127 is invalid_argument.
    base::Status send_frame(TransceiverKey key, base::Bytes frame, std::uint32_t rtp_timestamp, base::Instant now,
                            std::optional<std::uint8_t> audio_level = std::nullopt);
    /// Asks the remote sender for a key frame (PLI).
    base::Status request_key_frame(TransceiverKey key, base::Instant now);
    const TransceiverInfo* transceiver(TransceiverKey key) const;
    /// W3C RTCRtpTransceiver.stop(): nothing more is sent or received; the
    /// next negotiation carries its m= line at port 0.
    base::Status stop_transceiver(TransceiverKey key, base::Instant now);
    /// W3C RTCRtpTransceiver.direction: what the next negotiation asks for.
    base::Status set_transceiver_direction(TransceiverKey key, bool send, bool receive, base::Instant now);
    /// W3C RTCRtpTransceiver.setCodecPreferences: the codecs of its next
    /// offers and answers, in this order (empty: the default). A codec of the
    /// other kind is invalid_argument. Fires no negotiation by itself.
    base::Status set_codec_preferences(TransceiverKey key, std::vector<MediaCodec> codecs);
    /// PeerConfig::accept_remote_tracks, changed (for the next remote offer).
    void set_accept_remote_tracks(bool accept) noexcept;
    std::vector<TransceiverKey> transceivers() const;

    // --- time, events, end ---
    std::optional<base::Instant> poll_timeout() const;
    void handle_timeout(base::Instant now);
    std::optional<PeerEvent> poll_event();
    void close(base::Instant now);

    IceState ice_state() const noexcept;
    ConnectionState connection_state() const noexcept;
    GatheringState gathering_state() const noexcept;
    PeerStats stats() const;
    std::string local_fingerprint() const;

    class Impl;

private:
    explicit Peer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

const char* to_string(SignalingState s) noexcept;
const char* to_string(IceState s) noexcept;
const char* to_string(ConnectionState s) noexcept;

}  // namespace duplex::proto::rtc
