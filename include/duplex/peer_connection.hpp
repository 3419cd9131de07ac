// duplex/peer_connection.hpp: an RTCPeerConnection (W3C webrtc-pc §4) with
// data channels and audio/video tracks: ICE (RFC 8445), DTLS (RFC 6347),
// SCTP (RFC 8261) and DCEP (RFC 8832), SRTP (RFC 3711, 5764), described by
// SDP offers and answers (RFC 8829).
//
//   duplex::PeerConnection pc(loop, {.ice_servers = {{{"stun:stun.example.org"}}}});
//   pc.on_ice_candidate([&](const duplex::IceCandidate& c) { signal(c); });
//   auto dc = pc.create_data_channel("chat");
//   auto offer = pc.create_offer();
//   (void)pc.set_local_description(*offer);   // ...send offer->sdp; later:
//   (void)pc.set_remote_description({duplex::SdpType::Answer, answer_sdp});
//
// It lives on the loop it is given, like the WebSocket types: callbacks run
// there; calls from another thread are posted. Closing from a callback is
// safe. Secure by default: the DTLS certificate's fingerprint must match the
// SDP, or the connection fails.
#pragma once

#include <duplex/data_channel.hpp>
#include <duplex/event_loop.hpp>
#include <duplex/media_track.hpp>
#include <duplex/result.hpp>
#include <duplex/status.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duplex {

/// RTCIceServer. urls: "stun:host[:port]" (RFC 7064) and
/// "turn:host[:port][?transport=udp|tcp]" or "turns:host[:port]" (RFC 7065:
/// TURN over UDP, TCP or TLS, with `username` and `credential`: long-term
/// credentials), by address or by name (looked up off the loop). A turns:
/// server's certificate is checked against its host (see
/// Configuration::turn_tls_ca_file). "stuns:" is accepted but not used
/// (logged). Anything else is an error, and so is a TURN URL without a
/// username or credential (as browsers do).
struct IceServer {
    std::vector<std::string> urls;
    std::string username;
    std::string credential;
};

/// RTCIceTransportPolicy: All gathers host, server-reflexive and relayed
/// candidates; Relay only relayed ones (no local address is revealed, and
/// every path goes through a TURN server).
enum class IceTransportPolicy { All, Relay };

struct Configuration {
    std::vector<IceServer> ice_servers;
    IceTransportPolicy ice_transport_policy = IceTransportPolicy::All;
    /// CAs to check turns: servers' certificates against (PEM); empty: the
    /// system's store (and SSL_CERT_FILE, as OpenSSL reads it).
    std::string turn_tls_ca_file;
    /// ICE-TCP (RFC 6544): also listen for TCP on each host address and
    /// offer it as a passive candidate, which a browser's active TCP
    /// candidates connect to: a peer whose UDP is blocked reaches us with no
    /// TURN server. Off by default (it opens a listening port per address).
    bool ice_tcp = false;
    /// Host candidates only from these addresses or prefixes ("127.0.0.1",
    /// "10.0.0.0/8", "::1"); empty: every interface except loopback and
    /// link-local (a browser's default).
    std::vector<std::string> allowed_addresses;
    std::uint16_t port_min = 0;                    ///< UDP port range; 0: any
    std::uint16_t port_max = 0;
    std::string certificate_pem;                   ///< empty: a fresh ECDSA P-256 certificate
    std::string private_key_pem;
    std::size_t max_message_size = 256 * 1024;     ///< advertised in SDP; larger inbound messages fail the channel
    std::chrono::milliseconds ice_failed_timeout{30000};
    /// Ta, the pace of new ICE transactions (RFC 8445 §14.2: 50 ms by default;
    /// "MAY use another value"). Smaller finds the best of many candidate
    /// pairs (and nominates it) sooner, at the cost of more check traffic.
    /// Data does not wait for it: DTLS starts on the first valid pair
    /// (RFC 8445 §12.1), one round trip after the first check.
    std::chrono::milliseconds ice_pacing{50};
    /// Tracks (transceivers) at most, ours and the remote's: a receiving one
    /// holds a jitter buffer of up to 1.5 MB, a sending one 0.75 MB of
    /// history. A remote offer's audio/video sections beyond are refused
    /// (port 0); add_track fails.
    std::size_t max_tracks = 16;
};

enum class SdpType { Offer, Answer, Pranswer, Rollback };
const char* to_string(SdpType t) noexcept;  // "offer", ...
std::optional<SdpType> sdp_type_from_string(std::string_view s) noexcept;

struct SessionDescription {
    SdpType type = SdpType::Offer;
    std::string sdp;
};

/// RTCPeerConnectionIceErrorEvent.
struct IceCandidateError {
    std::string url;         ///< the server's URL, as configured
    int error_code = 0;      ///< the STUN error code (401, 437, 486…), or 0 when it did not answer
    std::string error_text;  ///< what went wrong, in words
};

/// RTCIceCandidateInit. An empty `candidate` means end-of-candidates.
struct IceCandidate {
    std::string candidate;   ///< "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host"
    std::string sdp_mid;
    int sdp_mline_index = 0;
};

enum class PeerConnectionState { New, Connecting, Connected, Disconnected, Failed, Closed };
enum class IceConnectionState { New, Checking, Connected, Completed, Failed, Disconnected, Closed };
enum class IceGatheringState { New, Gathering, Complete };
enum class SignalingState { Stable, HaveLocalOffer, HaveRemoteOffer, HaveLocalPranswer, HaveRemotePranswer, Closed };
const char* to_string(PeerConnectionState s) noexcept;  // "connected", as the browser spells it
const char* to_string(IceConnectionState s) noexcept;
const char* to_string(IceGatheringState s) noexcept;
const char* to_string(SignalingState s) noexcept;

struct PeerConnectionStats {
    std::uint64_t bytes_sent = 0;          ///< data-channel payload bytes
    std::uint64_t bytes_received = 0;
    std::uint64_t messages_sent = 0;
    std::uint64_t messages_received = 0;
    std::uint32_t data_channels_opened = 0;
    std::uint32_t data_channels_closed = 0;
    std::string local_candidate;           ///< the pair in use (selected, or before that the best valid one), "ip:port"
    std::string remote_candidate;
    /// The types of that pair's candidates: "host", "srflx", "prflx" or
    /// "relay" (RTCIceCandidateStats.candidateType).
    std::string local_candidate_type;
    std::string remote_candidate_type;
    /// For a relayed local candidate: how its TURN server is reached ("udp"),
    /// as RTCIceCandidateStats.relayProtocol.
    std::string relay_protocol;
    /// The pair's own transport: "udp", or "tcp" over ICE-TCP (RTCIceCandidateStats.protocol).
    std::string candidate_protocol;
    std::optional<std::chrono::microseconds> round_trip_time;  ///< from ICE checks and consent checks on that pair
    /// How fast our media may go, all tracks together, in bits per second:
    /// the send-side bandwidth estimate made from the remote's transport-wide
    /// feedback (RTCIceCandidatePairStats.availableOutgoingBitrate). Empty
    /// until the remote sent some (it must negotiate transport-cc).
    std::optional<std::uint32_t> available_outgoing_bitrate;
    std::string dtls_cipher;
    /// The first failure seen, naming the layer: "ICE: …" (no path),
    /// "DTLS: …" (e.g. "remote certificate fingerprint does not match the
    /// SDP"), "SCTP: …" (the data channels' association). Empty while
    /// nothing has failed; kept after an ICE restart that recovered.
    std::string failure_reason;
};

/// The local addresses a PeerConnection with `config` gathers host
/// candidates from ("192.168.1.20", "::1"), after `allowed_addresses`.
/// Empty: it could reach nobody (on a loopback-only host without an
/// allow-list, say), which a program can tell its user before it tries.
std::vector<std::string> host_candidate_addresses(const Configuration& config);

class PeerConnection {
public:
    explicit PeerConnection(EventLoop& loop, Configuration config = {});
    /// The same, but a configuration that cannot be used is the error (a
    /// malformed ICE server URL, a bad certificate, no socket) rather than a
    /// logged line and a closed connection (the constructor's way).
    static Result<PeerConnection> create(EventLoop& loop, Configuration config = {});
    PeerConnection() = default;  ///< an empty handle

    Result<DataChannel> create_data_channel(std::string label, DataChannelInit init = {});
    /// addTransceiver(kind): a track of ours, sending and/or receiving
    /// encoded frames (media_track.hpp). Fires on_negotiation_needed.
    Result<MediaTrack> add_track(MediaKind kind, TrackInit init = {});
    Result<SessionDescription> create_offer();
    Result<SessionDescription> create_answer();
    Status set_local_description(const SessionDescription& description);
    /// The implicit form (perfect negotiation): creates the offer or answer that the state calls for.
    Status set_local_description();
    Status set_remote_description(const SessionDescription& description);
    Status add_ice_candidate(const IceCandidate& candidate);
    /// setConfiguration(): new ICE servers (and TURN credentials: REST ones
    /// expire) and transport policy, used from the next ICE restart
    /// (restart_ice(), or the peer's), or from the first gathering if it has
    /// not begun. TURN allocations made already stay until close. A bad URL is
    /// invalid_argument; changing the certificate, the local addresses and
    /// ports, ice_tcp, max_message_size or max_tracks is invalid_state.
    Status set_configuration(const Configuration& config);
    /// restartIce(): the next offer has new ICE credentials; the data
    /// channels stay open while ICE finds a path again. Fires on_negotiation_needed.
    void restart_ice();

    std::optional<SessionDescription> local_description() const;
    std::optional<SessionDescription> remote_description() const;
    PeerConnectionState connection_state() const;
    IceConnectionState ice_connection_state() const;
    IceGatheringState ice_gathering_state() const;
    SignalingState signaling_state() const;
    PeerConnectionStats get_stats() const;

    void on_ice_candidate(std::function<void(const IceCandidate&)> fn);
    /// icecandidateerror: a STUN or TURN server gave no candidate (a TURN
    /// server refused the credentials: code 401; no answer: code 0).
    void on_ice_candidate_error(std::function<void(const IceCandidateError&)> fn);
    void on_data_channel(std::function<void(DataChannel)> fn);
    /// A remote offer brought a track (ontrack). Until a handler is set, a
    /// remote audio/video section with no track of ours to take it is
    /// refused (port 0): an application that takes no media receives none.
    void on_track(std::function<void(MediaTrack)> fn);
    void on_connection_state_change(std::function<void(PeerConnectionState)> fn);
    /// The candidate pair data goes over changed (selectedcandidatepairchange):
    /// a better pair was nominated, or an ICE restart found another path.
    /// get_stats() names it.
    void on_selected_candidate_pair_change(std::function<void()> fn);
    /// The bandwidth estimate for our media moved by 5 % or more (and its
    /// first value): set the encoders' rates so that all tracks together
    /// stay below it. duplex sends the frames it is given; an application
    /// that ignores this sends at its own rate whatever the path takes
    /// (see get_stats().available_outgoing_bitrate).
    void on_outgoing_bitrate(std::function<void(std::uint32_t bits_per_second)> fn);
    void on_ice_connection_state_change(std::function<void(IceConnectionState)> fn);
    void on_ice_gathering_state_change(std::function<void(IceGatheringState)> fn);
    void on_signaling_state_change(std::function<void(SignalingState)> fn);
    void on_negotiation_needed(std::function<void()> fn);

    void close();

    explicit operator bool() const noexcept { return impl_ != nullptr; }
    EventLoop* loop() const noexcept;

private:
    std::shared_ptr<detail::PeerImpl> impl_;
};

}  // namespace duplex
