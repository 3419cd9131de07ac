// proto/rtc/transport.hpp: a peer's transport: the ICE agent and the DTLS
// endpoint on top of it, and the demultiplexer of what arrives on the
// sockets (RFC 7983 §7):
//
//   datagram ──demux──► ICE agent (STUN, first byte 0..3)     ► transmits
//                   └─► DTLS endpoint (20..63) ─app data─► the Listener (SCTP)
//   app data (SCTP) ─► DTLS record ─► datagram on ICE's data pair (selected, or valid before that)
//                   └─► the Listener (SRTP/SRTCP, 128..191) once DTLS is up
//   datagram from a TURN server ──► its TURN client ─relayed data─► demux (as
//                                     arriving on the relayed address)
//   to a peer from a relayed address ──► its TURN client ─ChannelData/Send─► server
//
// Each TURN server over UDP gets one TURN client per host socket of its
// family once the ICE agent exists (browsers gather when the first
// description is set); one over TCP or TLS gets one client on a stream
// connection that the runtime opens (event::OpenStream). Each relayed address
// becomes a relayed candidate.
//
// It knows nothing of descriptions: the negotiation tells it the ICE role,
// the remote credentials and candidates, when to announce its candidates and
// under which mid, and when to start DTLS in which role.
#pragma once

#include "proto/dtls/certificate.hpp"
#include "proto/dtls/endpoint.hpp"
#include "proto/ice/agent.hpp"
#include "proto/ice/candidate.hpp"
#include "proto/rtc/outputs.hpp"
#include "proto/rtc/peer.hpp"
#include "proto/sdp/jsep.hpp"
#include "proto/turn/client.hpp"

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace duplex::proto::rtc {

class Transport {
public:
    /// What the transport tells the rest of the peer.
    class Listener {
    public:
        /// ICE or DTLS changed state (the connection state may follow).
        virtual void on_transport_change() = 0;
        virtual void on_dtls_connected(base::Instant now) = 0;
        virtual void on_dtls_data(base::Bytes data, base::Instant now) = 0;
        /// DTLS ended: closed by the peer, or failed.
        virtual void on_dtls_ended() = 0;
        /// SRTP or SRTCP (first byte 128..191) over a path ICE has proven.
        virtual void on_media_packet(base::Bytes datagram, base::Instant now) = 0;

    protected:
        ~Listener() = default;
    };

    Transport(PeerOutputs& out, Listener& listener, const PeerConfig& config, dtls::Certificate certificate);

    // --- ICE: credentials, candidates, role ---
    const ice::Credentials& local_credentials() const noexcept { return credentials_; }
    /// New local credentials for the next description (an ICE restart).
    void new_local_credentials();
    /// The agent, made with this role on first call (RFC 8445 §6.1.1: the
    /// offerer controls).
    void ensure_agent(bool controlling, base::Instant now);
    bool has_agent() const noexcept { return agent_ != nullptr; }
    /// Forgets an agent nothing was established with (a rolled-back first offer).
    void drop_agent();
    /// Our description carries these credentials: if they are new, the agent
    /// starts a new generation and gathers again (RFC 8838 §4.1).
    void use_local_credentials(const ice::Credentials& c, base::Instant now);
    void set_remote_credentials(const ice::Credentials& c);
    /// A remote candidate; one named by mDNS is reported to the runtime too.
    void add_remote_candidate(const ice::Candidate& c, base::Instant now);
    void end_of_remote_candidates();
    void add_host(const base::Endpoint& local, base::Instant now);
    void hosts_complete(base::Instant now);
    /// New ICE servers and relay policy (setConfiguration): used from the
    /// next ICE restart (or the first gathering, if it has not begun). TURN
    /// allocations made already stay until the connection closes.
    void set_servers(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, bool relay_only);
    /// A STUN or TURN server's name is being looked up: gathering waits for it.
    void begin_server_lookup();
    /// The lookup ended: its addresses (none: nothing), then gathering goes on.
    void end_server_lookup(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, base::Instant now);
    /// Candidates are announced from now on, under `mid`; those gathered
    /// already are announced now.
    void announce_candidates(const std::string& mid);
    void set_mid(const std::string& mid) { mid_ = mid; }
    /// Our transport parameters for a description.
    sdp::TransportParams local_params(sdp::Setup setup, std::size_t max_message_size) const;

    // --- DTLS ---
    bool has_dtls() const noexcept { return dtls_ != nullptr; }
    std::optional<dtls::Role> dtls_role() const;
    /// Both descriptions are known: DTLS in `role`, checking the peer's
    /// certificate against the fingerprint of its description.
    void start_dtls(dtls::Role role, const std::string& fingerprint_algorithm, const std::string& fingerprint,
                    base::Instant now);
    bool dtls_connected() const noexcept { return dtls_connected_; }
    bool dtls_failed() const noexcept { return dtls_ && dtls_->state() == dtls::State::Failed; }
    /// Application data (SCTP packets) over DTLS, once it is up.
    void send_app_data(base::Bytes data, base::Instant now);
    /// The DTLS-SRTP keys (RFC 5764 §4.2), once DTLS is up.
    std::optional<dtls::SrtpKeyingMaterial> srtp_keys() const;
    /// An SRTP/SRTCP datagram on the data pair; dropped while there is none.
    void send_media(std::vector<std::byte> datagram);

    // --- the network, time, the end ---
    /// ICE-TCP: a passive listener, and a connection the peer made to it.
    void add_tcp_host(const base::Endpoint& local, base::Instant now);
    bool tcp_accepted(std::uint32_t id, const base::Endpoint& local, const base::Endpoint& remote, base::Instant now);
    /// A stream connection (a TURN server's, event::OpenStream, or an ICE-TCP
    /// one) is up, brought bytes, or ended.
    void stream_connected(std::uint32_t id, base::Instant now);
    void stream_data(std::uint32_t id, base::Bytes data, base::Instant now);
    void stream_closed(std::uint32_t id, const std::string& why, base::Instant now);
    void handle_datagram(const base::Endpoint& local, const base::Endpoint& from, base::Bytes datagram,
                         base::Instant now);
    void pump(base::Instant now);
    std::optional<base::Instant> poll_timeout() const;
    void handle_timeout(base::Instant now);
    void close(base::Instant now);

    IceState ice_state() const noexcept { return ice_state_; }
    GatheringState gathering_state() const noexcept { return gathering_; }
    void fill_stats(PeerStats& st) const;
    /// The path's round trip from ICE's checks (consent freshness), if any.
    std::optional<base::Duration> path_rtt() const { return agent_ ? agent_->round_trip_time() : std::nullopt; }
    const dtls::Certificate& certificate() const noexcept { return certificate_; }

private:
    /// One TURN allocation: a server, from one host socket.
    struct Relay {
        TurnServer server;
        base::Endpoint base;     // the host socket (UDP); for a stream, the mapped address once allocated
        std::unique_ptr<turn::Client> client;
        bool allocated = false;
        std::optional<turn::client_event::Allocated> allocation;
        std::uint32_t stream = 0;  // TCP/TLS: the connection's id (event::OpenStream)
        bool connected = false;    // the stream is up: what the client sends may go
        // The server as configured (`server.address` is where a 300 Try
        // Alternate sent us), and every address tried for it: a loop ends.
        base::Endpoint configured;
        std::vector<base::Endpoint> tried;
    };
    /// A 300 Try Alternate: the same allocation at `to` (true), or refused (a loop…).
    bool redirect_relay(std::size_t index, const turn::client_event::Redirected& to, base::Instant now);
    void start_relays(base::Instant now);
    void pump_relay(std::size_t index, base::Instant now);
    void add_relay_to_agent(const Relay& r);
    Relay* relay_at(const base::Endpoint& relayed);
    void update_gathering_hold();
    /// Every datagram leaves through here: from a relayed address, it is
    /// wrapped for the TURN server; otherwise it goes as it is.
    void transmit(const base::Endpoint& local, const base::Endpoint& to, std::vector<std::byte> data);
    void pump_agent(base::Instant now);
    void pump_dtls(base::Instant now);
    void announce_gathering_complete();
    void send_datagram(std::vector<std::byte> d);
    void feed_early_dtls(base::Instant now);
    void flush_dtls_waiting();
    void start_dtls_client(base::Instant now);

    PeerOutputs& out_;
    Listener& listener_;
    const PeerConfig& config_;
    dtls::Certificate certificate_;
    ice::Credentials credentials_;
    std::uint64_t tie_breaker_;

    std::vector<base::Endpoint> hosts_;
    // The servers in use: config_'s at first, set_servers() later.
    std::vector<base::Endpoint> stun_servers_;
    std::vector<TurnServer> turn_servers_;
    bool relay_only_ = false;
    struct Servers {
        std::vector<base::Endpoint> stun;
        std::vector<TurnServer> turn;
        bool relay_only = false;
    };
    std::optional<Servers> next_servers_;  // set_servers() before a restart applies them
    void apply_next_servers();
    std::vector<base::Endpoint> looked_up_stun_;  // STUN servers found by name (beside stun_servers_)
    std::vector<TurnServer> looked_up_turn_;      // TURN servers likewise
    int server_lookups_ = 0;                      // names still being looked up
    std::vector<Relay> relays_;
    // Stream ids: ours (OpenStream) count up from 1; the runtime's accepted
    // ICE-TCP connections use its own ids from 0x8000'0000 up.
    std::uint32_t next_stream_ = 1;
    /// An ICE-TCP connection (RFC 6544): datagrams framed by a 2-byte length
    /// (RFC 4571) both ways; `buffer` holds an unfinished frame.
    struct TcpPath {
        std::uint32_t id;
        base::Endpoint local, remote;
        std::vector<std::byte> buffer;
    };
    std::vector<base::Endpoint> tcp_hosts_;
    std::vector<TcpPath> tcp_paths_;
    TcpPath* tcp_path(const base::Endpoint& local, const base::Endpoint& remote);
    std::string turn_error_;                      // the first TURN failure, told when ICE fails
    base::Instant now_{};                         // the latest input's time (for wrapping)
    std::unique_ptr<ice::Agent> agent_;
    std::vector<std::string> local_candidates_;  // gathered, as SDP attribute values
    bool gathering_complete_ = false;
    bool announcing_ = false;  // candidates are announced only after a local description is set
    std::string mid_ = "0";
    IceState ice_state_ = IceState::New;
    GatheringState gathering_ = GatheringState::New;

    std::unique_ptr<dtls::Endpoint> dtls_;
    bool dtls_connected_ = false;
    std::deque<std::vector<std::byte>> dtls_waiting_;  // out, before ICE has a valid pair
    // In, before we have a DTLS endpoint or the sender is a checked remote:
    // the peer may find a valid pair first and send its ClientHello before
    // its check (or our answer) reaches us. {local socket, from, datagram}.
    struct EarlyDtls {
        base::Endpoint local, from;
        std::vector<std::byte> data;
    };
    std::deque<EarlyDtls> dtls_early_;
};

/// RFC 8839 §5.4 ice-chars, `n` of them, from the CSPRNG.
std::string random_ice_string(std::size_t n);

}  // namespace duplex::proto::rtc
