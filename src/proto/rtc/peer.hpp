// proto/rtc/peer.hpp: one WebRTC peer connection as a sans-IO machine: ICE,
// DTLS, SCTP and DCEP composed, described by SDP (JSEP, RFC 8829).
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
//   0..3 STUN → ICE,  20..63 DTLS → DTLS,  128..191 RTP/RTCP (dropped until
//   media lands), anything else dropped.
//
// One caveat from usrsctp (DESIGN.md): its timers are global to the process,
// so handle_timeout() of one peer can produce packets for another; the runtime
// polls every peer of the process after driving any of them.
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/result.hpp"
#include "base/time.hpp"

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

struct PeerConfig {
    std::string certificate_pem;                 // empty: generate ECDSA P-256
    std::string private_key_pem;
    std::vector<base::Endpoint> stun_servers;
    std::size_t max_message_size = 256 * 1024;   // what we accept (a=max-message-size)
    base::Duration ice_failed_timeout = base::seconds(30);
    base::Duration ice_pacing = base::milliseconds(50);  // Ta, RFC 8445 §14.2
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

struct Transmit {
    base::Endpoint local;        // the socket to send from
    base::Endpoint destination;
    std::vector<std::byte> data;
};

namespace event {
struct LocalCandidate { std::string candidate; std::string mid; };   // empty candidate: gathering complete
struct GatheringChange { GatheringState state; };
struct IceChange { IceState state; };
struct ConnectionChange { ConnectionState state; };
struct SignalingChange { SignalingState state; };
struct NegotiationNeeded {};
struct ChannelOpen { ChannelKey key; };
struct RemoteChannel { ChannelKey key; };  // the remote opened a channel (DCEP); ChannelOpen follows
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
}  // namespace event

using PeerEvent = std::variant<event::LocalCandidate, event::GatheringChange, event::IceChange, event::ConnectionChange,
                               event::SignalingChange, event::NegotiationNeeded, event::ChannelOpen,
                               event::RemoteChannel, event::ChannelMessage, event::ChannelClosed,
                               event::ChannelBufferedLow, event::ChannelError, event::ResolveHostname>;

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
    std::optional<base::Duration> rtt;
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
    void handle_datagram(const base::Endpoint& local, const base::Endpoint& from, base::Bytes datagram,
                         base::Instant now);
    std::optional<Transmit> poll_transmit();

    // --- data channels ---
    base::Result<ChannelKey> create_channel(const ChannelOptions& options, base::Instant now);
    base::Status send(ChannelKey key, bool binary, base::Bytes data, base::Instant now);
    void close_channel(ChannelKey key, base::Instant now);
    const ChannelInfo* channel(ChannelKey key) const;
    /// Bytes handed to send() on the channel that SCTP has not sent yet.
    std::size_t buffered_amount(ChannelKey key) const;
    void set_low_threshold(ChannelKey key, std::size_t bytes);

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
