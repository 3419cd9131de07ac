// proto/ice/agent.hpp: a full ICE agent (RFC 8445), either role, for one data
// stream with one component (rtcp-mux + BUNDLE, as WebRTC always uses), over
// UDP, with relayed candidates from TURN (RFC 8656) beside host and
// server-reflexive ones, and passive TCP host candidates (ICE-TCP, RFC 6544)
// that the peer's active side connects to. Trickle ICE (RFC 8838), consent
// freshness (RFC 7675), ICE restart (§9). The peer's TCP candidates are not
// paired (we are only ever passive: its checks on a connection teach us the
// path). Gathering is in
// gathering.cpp, checks and state in agent.cpp.
//
// Drive contract (sans-IO, docs/decisions/0001-sans-io-contract.md):
//   inputs   add_host / add_stun_server / add_relay / set_remote_credentials /
//            add_remote_candidate / end_of_remote_candidates / restart / close,
//            handle_stun(local socket, source, datagram, now), handle_timeout(now)
//   outputs  after every input, drain poll_transmit() (send `data` from the
//            socket bound at `local` to `destination`) and poll_event(), then
//            arm a timer for poll_timeout() and call handle_timeout() then.
//   `now` never goes backwards; the agent reads no clock and owns no socket.
//
// States, as the browser's iceConnectionState:
//
//   New ──remote creds + a pair──▶ Checking ──a valid pair──▶ Connected ──▶ Completed
//                                     │                          │  ▲         (controlling: nominated,
//                                     │ all pairs failed after   │  │ consent  end-of-candidates, no
//                                     │ end-of-candidates, or    ▼  │ answered checks left)
//                                     │ failed_timeout       Disconnected (consent unanswered)
//                                     ▼                          │
//                                  Failed ◀─── consent_timeout ──┘        close() ─▶ Closed
//
// Thread safety: none; one agent belongs to one loop.
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/time.hpp"
#include "proto/ice/candidate.hpp"
#include "proto/ice/checklist.hpp"
#include "proto/ice/pair.hpp"
#include "proto/stun/message.hpp"
#include "proto/stun/transaction.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace duplex::proto::ice {

/// ice-ufrag / ice-pwd (RFC 8839 §5.4).
struct Credentials {
    std::string ufrag;
    std::string pwd;
    friend bool operator==(const Credentials&, const Credentials&) = default;
};

/// As W3C RTCIceConnectionState.
enum class IceState : std::uint8_t { New, Checking, Connected, Completed, Failed, Disconnected, Closed };
std::string_view to_string(IceState s) noexcept;

struct AgentConfig {
    bool controlling = false;
    std::uint64_t tie_breaker = 0;  // §7.1.3; draw it at random
    Credentials local;
    /// §14.2 pacing: one new STUN transaction (check, gathering, consent)
    /// per Ta across the agent.
    base::Duration ta = base::milliseconds(50);
    /// RFC 7675 §5.1: a consent check on the selected pair every interval,
    /// randomized to 0.8..1.2 of it. It also keeps NAT bindings open (§11).
    base::Duration consent_interval = base::seconds(5);
    /// RFC 7675 §5.1: no response for this long, consent is lost → Failed.
    base::Duration consent_timeout = base::seconds(30);
    /// A consent check unanswered this long → Disconnected (like browsers).
    base::Duration disconnected_after = base::seconds(5);
    /// No pair selected this long after checks could start → Failed.
    base::Duration failed_timeout = base::seconds(30);
    /// Controlling: after the first pair succeeds, how long to wait for a
    /// higher-priority pair before nominating (§8.1.1 leaves this open).
    base::Duration nomination_delay = base::milliseconds(200);
    /// The same wait when the best valid pair goes through a relay and a
    /// direct pair is still being checked: a direct pair often needs a
    /// retransmitted check (the first one opens the NATs, §2.2), and a
    /// relay once nominated stays for good (§8.1.2). Data flows on the
    /// relayed pair meanwhile (§12.1).
    base::Duration relay_nomination_delay = base::milliseconds(2500);
    /// §14.3: retransmission of checks. RTO 500 ms as for any STUN request;
    /// 6 sends with a last wait of 8·RTO fail a silent pair after 19.5 s.
    stun::RetransmitPolicy check_policy{base::milliseconds(500), 6, 8};
    /// Server-reflexive gathering: give up on a silent STUN server after 5.5 s.
    stun::RetransmitPolicy gather_policy{base::milliseconds(500), 4, 4};
    /// W3C iceTransportPolicy "relay": only relayed candidates are signalled
    /// and paired; host sockets carry nothing but the TURN traffic.
    bool relay_only = false;
    /// Bounds on what the peer can grow (§6.1.2.5).
    std::size_t max_remote_candidates = 100;
    std::size_t max_pairs = 100;
    std::size_t max_triggered = 100;
};

/// One datagram to send from the socket bound at `local`.
struct Transmit {
    base::Endpoint local;
    base::Endpoint destination;
    std::vector<std::byte> data;
};

namespace event {
/// A local candidate to signal to the peer (trickle).
struct LocalCandidate {
    Candidate candidate;
};
/// No more local candidates (signal end-of-candidates).
struct GatheringComplete {};
struct StateChange {
    IceState state;
};
/// The pair is selected (nominated, §8.1.1 / §7.3.1.5).
struct SelectedPair {
    base::Endpoint local;
    base::Endpoint remote;
};
/// Application data now goes from socket `local` to `remote` (data_pair()):
/// the best valid pair before selection (§12.1), the selected pair after.
struct DataPairChange {
    base::Endpoint local;
    base::Endpoint remote;
};
}  // namespace event

using Event = std::variant<event::LocalCandidate, event::GatheringComplete, event::StateChange, event::SelectedPair,
                           event::DataPairChange>;

class Agent {
public:
    Agent(AgentConfig config, base::Instant now);

    /// The runtime bound a UDP socket at `local`: a host candidate (§5.1.1.1).
    /// The runtime has already applied its address allow-list.
    void add_host(base::Endpoint local);
    /// Gather a server-reflexive candidate from each host socket of the same
    /// family through this STUN server (§5.1.1.2, a Binding request without
    /// authentication).
    void add_stun_server(base::Endpoint server);
    /// A TURN allocation (RFC 8656) made from host socket `base` to the
    /// server at `server` gave the relayed address `relayed`: a relayed
    /// candidate (§5.1.1.2). Checks and data on its pairs name `relayed` as
    /// their local socket; the transport wraps them for the TURN server and
    /// hands what the relay brings back in as arriving on `relayed`.
    void add_relay(base::Endpoint relayed, base::Endpoint base, base::IpAddress server, RelayProtocol protocol);
    /// The runtime listens for TCP at `local`: a passive host candidate of
    /// ICE-TCP (RFC 6544 §4.1, tcptype passive). The peer's active side
    /// connects and checks first; each connection is a path of its own,
    /// known by its remote address (learned as peer-reflexive, §7.3.1.3),
    /// on which we answer and check back. The transport frames the
    /// datagrams (RFC 4571). `local` must differ from every UDP socket's.
    void add_tcp_passive(base::Endpoint local);
    /// The TURN allocation behind `relayed` is gone (refused, expired, its
    /// connection lost): its candidate is not signalled again and its pairs
    /// go. A selected pair through it is left to consent freshness (it fails
    /// there, and a restart finds another path).
    void remove_relay(const base::Endpoint& relayed);
    /// A server-reflexive address learned another way (the XOR-MAPPED-ADDRESS
    /// of a TURN Allocate response, RFC 8656 §7.3): a candidate like those
    /// STUN servers give, unless the relay policy is on.
    void add_server_reflexive(base::Endpoint base, base::Endpoint mapped, base::IpAddress server);
    /// The relay policy changed (setConfiguration): from the next restart(),
    /// host sockets are used or not, and their candidates signalled or not.
    void set_relay_only(bool on);
    /// The type of the local candidate whose base is `local` (Host or Relayed).
    std::optional<CandidateType> local_type(const base::Endpoint& local) const;
    /// The candidate types of a pair, ours and the peer's, as statistics name
    /// them (a host base behind a NAT is used as srflx or prflx).
    std::pair<std::optional<CandidateType>, std::optional<CandidateType>> pair_types(
        const base::Endpoint& local, const base::Endpoint& remote) const;
    /// Replaces the STUN servers (setConfiguration); the next restart()
    /// gathers through these.
    void set_stun_servers(std::vector<base::Endpoint> servers);
    /// While held, gathering is not reported complete (a STUN server's name
    /// is still being looked up: its candidates are yet to come).
    void hold_gathering(bool hold);
    void set_remote_credentials(Credentials remote);
    /// Trickled or signalled candidate (RFC 8838). TCP and mDNS-hostname
    /// candidates are ignored (the peer's checks still reach us and teach us
    /// a peer-reflexive candidate, §7.3.1.3).
    void add_remote_candidate(const Candidate& candidate, base::Instant now);
    /// RFC 8838 §13: the peer will signal no more candidates.
    void end_of_remote_candidates();

    /// A STUN datagram arrived on the socket bound at `local` from `from`.
    /// Anything malformed or unauthenticated is dropped or answered with an
    /// error response; it never changes the agent's state.
    void handle_stun(base::Endpoint local, base::Endpoint from, base::Bytes datagram, base::Instant now);
    void handle_timeout(base::Instant now);

    std::optional<Transmit> poll_transmit();
    std::optional<Event> poll_event();
    std::optional<base::Instant> poll_timeout() const;

    /// The selected pair: {local socket, remote address}.
    std::optional<std::pair<base::Endpoint, base::Endpoint>> selected_pair() const;
    /// Where application data (DTLS) goes: the selected pair, or before one is
    /// selected the highest-priority valid pair. RFC 8445 §12.1: "An ICE agent
    /// MAY send data on any valid pair before selected pairs have been
    /// produced" — so DTLS need not wait a Ta tick for the nomination check.
    std::optional<std::pair<base::Endpoint, base::Endpoint>> data_pair() const;
    /// Data from `from` on socket `local` belongs to this session (§12.2): it
    /// comes over the data pair, a valid pair, or a pair the peer checked.
    bool accepts_data(const base::Endpoint& local, const base::Endpoint& from) const;

    /// ICE restart (§9): new local credentials. The peer's new credentials
    /// (set_remote_credentials) may come before or after this call: as
    /// offerer, restart() then the answer's credentials; as answerer, the
    /// offer's credentials then restart(). The selected pair stays usable
    /// (its consent checks keep the old credentials) until a new pair is
    /// nominated.
    void restart(Credentials new_local, base::Instant now);

    IceState state() const noexcept { return state_; }
    /// The last round trip measured by a check on the data pair or a consent
    /// check on the selected pair (one that was not retransmitted).
    std::optional<base::Duration> round_trip_time() const noexcept { return rtt_; }
    bool controlling() const noexcept { return controlling_; }
    const Credentials& local_credentials() const noexcept { return local_; }
    const std::vector<Candidate>& local_candidates() const noexcept { return local_candidates_; }
    const CheckList& checklist() const noexcept { return checklist_; }

    /// Stops everything; the state becomes Closed and inputs are ignored.
    void close();

private:
    enum class TxKind : std::uint8_t { Check, Gather, Consent };
    struct Outstanding {
        TxKind kind;
        stun::Transaction tx;
        base::Endpoint local;
        base::Endpoint remote;
        bool use_candidate = false;
        bool sent_controlling = false;
        std::string remote_pwd;  // to verify the response's MESSAGE-INTEGRITY
        std::uint32_t generation = 0;
    };
    /// A base of local candidates: a host socket, or a TURN allocation's
    /// relayed address.
    struct HostSocket {
        base::Endpoint address;
        std::uint16_t local_preference;
        std::string foundation;
        CandidateType type = CandidateType::Host;
        bool usable = true;  // false: a host socket under the relay policy
        Transport transport = Transport::Udp;  // Tcp: a passive ICE-TCP listener (RFC 6544)
    };
    struct Selected {
        base::Endpoint local;
        base::Endpoint remote;
        Credentials local_creds;   // the generation it was nominated in (§9 restart)
        Credentials remote_creds;
        std::uint64_t priority = 0;
        std::uint32_t generation = 0;
    };

    bool active() const noexcept { return state_ != IceState::Closed && state_ != IceState::Failed; }
    void advance(base::Instant now) noexcept;
    const HostSocket* host(const base::Endpoint& local) const;
    void pair_with_hosts(const Candidate& remote);
    void pair_with_remotes(const HostSocket& h);
    void add_pair(const HostSocket& h, const Candidate& remote);

    void handle_request(const base::Endpoint& local, const base::Endpoint& from, const stun::Message& msg,
                        base::Bytes datagram, base::Instant now);
    void handle_response(const base::Endpoint& local, const base::Endpoint& from, const stun::Message& msg,
                         base::Bytes datagram, base::Instant now);
    /// These return true when the response ends the transaction (false: it
    /// failed authentication and is ignored; the transaction goes on).
    bool on_check_response(const Outstanding& o, const base::Endpoint& local, const base::Endpoint& from,
                           const stun::Message& msg, base::Bytes datagram, base::Instant now);
    void on_gather_response(const Outstanding& o, const stun::Message& msg);
    bool on_consent_response(const Outstanding& o, const base::Endpoint& local, const base::Endpoint& from,
                             const stun::Message& msg, base::Bytes datagram, base::Instant now);
    void on_transaction_failed(const Outstanding& o);
    void pair_failed(CandidatePair& pair, const Outstanding& o);
    void send_error(const base::Endpoint& local, const base::Endpoint& to, const stun::TransactionId& id,
                    std::uint16_t code, std::string_view reason, const std::string* pwd,
                    const std::vector<std::uint16_t>* unknown = nullptr);
    void add_server_reflexive(const HostSocket& h, const base::Endpoint& mapped, const base::IpAddress& server);
    Candidate host_candidate(const HostSocket& h) const;
    void learn_local_prflx(const base::Endpoint& base, const base::Endpoint& mapped, std::uint32_t priority);
    void switch_role(bool controlling);
    /// Forgets the remote side and the checks of the current generation
    /// (ICE restart, §9); the selected pair stays.
    void reset_checks();

    /// Starts at most one new transaction if the Ta slot is free (§14.2).
    void start_next_transaction(base::Instant now);
    bool slot_free(base::Instant now) const noexcept;
    bool has_transaction_work(base::Instant now) const;
    void send_check(CandidatePair& pair, base::Instant now);
    void send_consent(base::Instant now);
    void send_gather(const base::Endpoint& local, const base::Endpoint& server, base::Instant now);
    std::uint32_t prflx_priority(const base::Endpoint& local) const;

    void maybe_nominate(base::Instant now);
    /// How long maybe_nominate() waits for better pairs, given the best valid one.
    base::Duration nomination_wait(const CandidatePair& best) const;
    bool relayed(const CandidatePair& p) const;
    void select(const CandidatePair& pair, base::Instant now);
    void update_state(base::Instant now);
    void set_state(IceState s);
    void report_data_pair();
    void fail();
    void emit(Event e);
    void queue_transmit(const base::Endpoint& local, const base::Endpoint& to, std::vector<std::byte> data);
    void emit_local_candidate(Candidate c);
    base::Duration consent_jitter();
    std::uint64_t consent_rng() noexcept;
    std::size_t max_transactions() const noexcept;
    stun::TransactionId new_transaction_id();

    AgentConfig config_;
    bool controlling_;
    Credentials local_;
    std::optional<Credentials> remote_;
    std::uint32_t generation_ = 0;
    IceState state_ = IceState::New;
    base::Instant last_now_;

    std::vector<HostSocket> hosts_;
    std::vector<base::Endpoint> stun_servers_;
    std::deque<std::pair<base::Endpoint, base::Endpoint>> pending_gathers_;  // {local, server}
    bool gathering_reported_ = false;
    bool gather_check_due_ = false;
    bool gathering_held_ = false;

    std::vector<Candidate> local_candidates_;  // host, srflx, prflx (learned)
    std::vector<Candidate> remote_candidates_;
    bool end_of_remote_ = false;
    bool remote_restarted_ = false;  // the peer's new credentials came before our restart()
    bool ignored_remote_ = false;  // an mDNS or unusable candidate was skipped
    std::uint32_t prflx_counter_ = 0;

    CheckList checklist_;
    std::vector<Outstanding> transactions_;
    std::optional<base::Instant> last_transaction_start_;
    std::optional<base::Instant> checks_since_;   // failed_timeout counts from here
    std::optional<base::Instant> first_valid_at_;
    std::optional<CheckList::Key> nominating_;

    std::optional<Selected> selected_;
    std::optional<CandidateType> selected_remote_type_;  // kept across a restart
    bool selected_nominated_ = false;  // selected in the current generation
    base::Instant consent_next_;
    base::Instant last_consent_ok_;
    std::optional<base::Instant> consent_unanswered_since_;

    std::uint64_t jitter_state_;
    std::deque<Transmit> transmits_;
    std::deque<Event> events_;
    std::optional<base::Duration> rtt_;
    std::optional<std::pair<base::Endpoint, base::Endpoint>> reported_data_pair_;
};

}  // namespace duplex::proto::ice
