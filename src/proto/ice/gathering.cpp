// proto/ice/gathering.cpp: the agent's local candidates (RFC 8445 §5.1):
// host sockets, server-reflexive candidates through STUN servers, relayed
// candidates from TURN allocations (made and kept by the transport, which
// hands their addresses in), and the peer-reflexive ones checks teach us.
#include "proto/ice/agent.hpp"

#include "proto/ice/agent_limits.hpp"

#include <algorithm>

namespace duplex::proto::ice {

using namespace detail;

void Agent::add_host(base::Endpoint local) {
    if (state_ == IceState::Closed || host(local) != nullptr || hosts_.size() >= kMaxHosts + kMaxRelays) return;
    const auto n_hosts = static_cast<std::size_t>(std::count_if(
        hosts_.begin(), hosts_.end(), [](const HostSocket& h) { return h.type == CandidateType::Host; }));
    if (n_hosts >= kMaxHosts) return;
    // §5.1.2.1: one local preference per host address; the first socket the
    // runtime hands in is preferred.
    const auto pref = static_cast<std::uint16_t>(65535 - n_hosts);
    // With the relay policy (W3C iceTransportPolicy "relay") a host socket
    // only carries TURN traffic: no candidate, no pair, no STUN gathering.
    const bool usable = !config_.relay_only;
    HostSocket h{local, pref, candidate_foundation(CandidateType::Host, local.ip, std::nullopt, Transport::Udp),
                 CandidateType::Host, usable};
    hosts_.push_back(h);
    if (!usable) {
        gather_check_due_ = true;  // gathering may be complete: relays are the transport's to add
        return;
    }
    emit_local_candidate(host_candidate(h));

    for (const auto& server : stun_servers_) {
        if (same_family(local, server)) pending_gathers_.emplace_back(local, server);
    }
    if (!selected_nominated_) pair_with_remotes(h);
    gathering_reported_ = false;
    gather_check_due_ = true;
    update_state(last_now_);
}

void Agent::add_relay(base::Endpoint relayed, base::Endpoint base, base::IpAddress server, RelayProtocol protocol) {
    if (state_ == IceState::Closed || host(relayed) != nullptr) return;
    const auto n_relays = static_cast<std::size_t>(std::count_if(
        hosts_.begin(), hosts_.end(), [](const HostSocket& h) { return h.type == CandidateType::Relayed; }));
    if (n_relays >= kMaxRelays) return;
    // §5.1.2.1 leaves the local preference to us; as browsers do, a relay
    // reached over UDP is preferred to one over TCP, and that to TLS (each
    // adds a hop of head-of-line blocking). Then the first one handed in.
    const unsigned rank = protocol == RelayProtocol::Udp ? 2 : protocol == RelayProtocol::Tcp ? 1 : 0;
    const auto pref = static_cast<std::uint16_t>((rank << 14) | (0x3FFF - n_relays));
    // §5.1.1.3: the foundation names the type, the base (the host socket),
    // the server and the transport to it.
    const Transport to_server = protocol == RelayProtocol::Udp ? Transport::Udp : Transport::Tcp;
    HostSocket h{relayed, pref, candidate_foundation(CandidateType::Relayed, base.ip, server, to_server),
                 CandidateType::Relayed, true};
    hosts_.push_back(h);

    Candidate c;
    c.foundation = h.foundation;
    c.priority = candidate_priority(CandidateType::Relayed, pref);
    c.address = relayed;
    c.type = CandidateType::Relayed;
    // RFC 8839 §5.1: raddr/rport of a relayed candidate is its mapped
    // address; the base is as good and reveals no more than the host
    // candidate (under the relay policy, nothing: 0.0.0.0 0 as browsers do).
    c.related = config_.relay_only ? base::Endpoint{base.ip.is_v6() ? base::IpAddress::v6({}) : base::IpAddress::v4({}), 0}
                                   : base;
    emit_local_candidate(std::move(c));
    if (!selected_nominated_) pair_with_remotes(h);
    gathering_reported_ = false;
    gather_check_due_ = true;
    update_state(last_now_);
}

void Agent::add_tcp_passive(base::Endpoint local) {
    if (state_ == IceState::Closed || host(local) != nullptr || config_.relay_only) return;
    const auto n_tcp = static_cast<std::size_t>(std::count_if(
        hosts_.begin(), hosts_.end(), [](const HostSocket& h) { return h.transport == Transport::Tcp; }));
    if (n_tcp >= kMaxHosts) return;
    const auto pref = tcp_local_preference(4, static_cast<unsigned>(8191 - n_tcp));
    HostSocket h{local, pref, candidate_foundation(CandidateType::Host, local.ip, std::nullopt, Transport::Tcp),
                 CandidateType::Host, true, Transport::Tcp};
    hosts_.push_back(h);
    emit_local_candidate(host_candidate(h));
    gathering_reported_ = false;
    gather_check_due_ = true;
}

Candidate Agent::host_candidate(const HostSocket& h) const {
    Candidate c;
    c.foundation = h.foundation;
    c.address = h.address;
    c.type = CandidateType::Host;
    c.transport = h.transport;
    if (h.transport == Transport::Tcp) {
        c.priority = tcp_candidate_priority(h.local_preference);
        c.tcptype = "passive";
    } else {
        c.priority = candidate_priority(CandidateType::Host, h.local_preference);
    }
    return c;
}

void Agent::set_relay_only(bool on) {
    // Takes effect with the next restart(): which candidates it signals, and
    // which sockets take checks from then on.
    config_.relay_only = on;
    for (auto& h : hosts_)
        if (h.type == CandidateType::Host) h.usable = !on;
}

void Agent::remove_relay(const base::Endpoint& relayed) {
    const auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const HostSocket& h) {
        return h.address == relayed && h.type == CandidateType::Relayed;
    });
    if (it == hosts_.end()) return;
    hosts_.erase(it);
    local_candidates_.erase(std::remove_if(local_candidates_.begin(), local_candidates_.end(),
                                           [&](const Candidate& c) { return c.address == relayed; }),
                            local_candidates_.end());
    const bool selected_here = selected_ && selected_->local == relayed;
    transactions_.erase(std::remove_if(transactions_.begin(), transactions_.end(),
                                       [&](const Outstanding& o) {
                                           return o.local == relayed && !(selected_here && o.kind == TxKind::Consent);
                                       }),
                        transactions_.end());
    if (nominating_ && nominating_->first == relayed) nominating_.reset();
    checklist_.remove_local(relayed);
    update_state(last_now_);
}

std::optional<CandidateType> Agent::local_type(const base::Endpoint& local) const {
    const HostSocket* h = host(local);
    if (h == nullptr) return std::nullopt;
    return h->type;
}

void Agent::add_stun_server(base::Endpoint server) {
    if (state_ == IceState::Closed || stun_servers_.size() >= kMaxStunServers) return;
    if (std::find(stun_servers_.begin(), stun_servers_.end(), server) != stun_servers_.end()) return;
    stun_servers_.push_back(server);
    for (const auto& h : hosts_) {
        if (h.type == CandidateType::Host && h.usable && h.transport == Transport::Udp && same_family(h.address, server))
            pending_gathers_.emplace_back(h.address, server);
    }
    gathering_reported_ = false;
    gather_check_due_ = true;
}

void Agent::set_stun_servers(std::vector<base::Endpoint> servers) {
    if (servers.size() > kMaxStunServers) servers.resize(kMaxStunServers);
    stun_servers_ = std::move(servers);
    // Gathers not begun through a server no longer listed are dropped; the
    // next restart() gathers through the new ones.
    pending_gathers_.erase(std::remove_if(pending_gathers_.begin(), pending_gathers_.end(),
                                          [&](const auto& g) {
                                              return std::find(stun_servers_.begin(), stun_servers_.end(), g.second) ==
                                                     stun_servers_.end();
                                          }),
                           pending_gathers_.end());
}

void Agent::hold_gathering(bool hold) {
    gathering_held_ = hold;
    if (!hold) gather_check_due_ = true;
}

void Agent::emit_local_candidate(Candidate c) {
    if (local_candidates_.size() >= kMaxLocalCandidates) return;
    c.ufrag = local_.ufrag;  // RFC 8838 §4.1: tells the peer which generation it belongs to
    local_candidates_.push_back(c);
    emit(event::LocalCandidate{std::move(c)});
}

void Agent::learn_local_prflx(const base::Endpoint& base, const base::Endpoint& mapped, std::uint32_t priority) {
    for (const auto& c : local_candidates_) {
        if (c.address == mapped) return;
    }
    if (local_candidates_.size() >= kMaxLocalCandidates) return;
    // §7.2.5.3.1: a peer-reflexive local candidate; its base is the socket
    // the check went out of. It is not signalled to the peer.
    const HostSocket* h = host(base);
    const Transport transport = h != nullptr ? h->transport : Transport::Udp;
    Candidate c;
    c.foundation = candidate_foundation(CandidateType::PeerReflexive, base.ip, std::nullopt, transport);
    c.priority = priority;
    c.address = mapped;
    c.type = CandidateType::PeerReflexive;
    c.transport = transport;
    c.related = base;
    c.ufrag = local_.ufrag;
    local_candidates_.push_back(std::move(c));
}

void Agent::on_gather_response(const Outstanding& o, const stun::Message& msg) {
    if (msg.cls() != stun::Class::SuccessResponse) return;  // this server gives us nothing
    auto mapped = msg.xor_mapped_address();
    if (!mapped) mapped = msg.mapped_address();  // RFC 5389 §15.1 servers of old
    const HostSocket* h = host(o.local);
    if (!mapped || h == nullptr || mapped->ip.is_unspecified()) return;
    add_server_reflexive(*h, *mapped, o.remote.ip);
}

void Agent::add_server_reflexive(base::Endpoint base, base::Endpoint mapped, base::IpAddress server) {
    const HostSocket* h = host(base);
    if (h == nullptr || h->type != CandidateType::Host || !h->usable || h->transport != Transport::Udp) return;
    add_server_reflexive(*h, mapped, server);
}

void Agent::add_server_reflexive(const HostSocket& h, const base::Endpoint& mapped, const base::IpAddress& server) {
    if (state_ == IceState::Closed) return;
    // §5.1.3: a server-reflexive candidate equal to a host (no NAT) or to one
    // we already have is redundant.
    for (const auto& c : local_candidates_) {
        if (c.address == mapped && c.type != CandidateType::PeerReflexive) return;
    }
    Candidate c;
    c.foundation = candidate_foundation(CandidateType::ServerReflexive, h.address.ip, server, Transport::Udp);
    c.priority = candidate_priority(CandidateType::ServerReflexive, h.local_preference);
    c.address = mapped;
    c.type = CandidateType::ServerReflexive;
    c.related = h.address;
    emit_local_candidate(std::move(c));
}

void Agent::send_gather(const base::Endpoint& local, const base::Endpoint& server, base::Instant now) {
    // §5.1.1.2: a plain Binding request, no authentication.
    const auto id = new_transaction_id();
    stun::MessageWriter w(stun::Class::Request, stun::Method::Binding, id);
    w.add_fingerprint();
    auto data = std::move(w).take();
    queue_transmit(local, server, data);
    transactions_.push_back(Outstanding{TxKind::Gather,
                                        stun::Transaction(id, std::move(data), now, config_.gather_policy), local,
                                        server, false, controlling_, {}, generation_});
    last_transaction_start_ = now;
}

}  // namespace duplex::proto::ice
