#include "proto/rtc/transport.hpp"

#include "base/digest.hpp"
#include "base/enum_cast.hpp"

#include <algorithm>

namespace duplex::proto::rtc {

namespace {

constexpr std::size_t kMaxQueuedDtls = 32;  // DTLS datagrams held until ICE has a path
constexpr std::size_t kMaxRelays = 16;      // TURN allocations (servers × host sockets)
constexpr std::size_t kMaxRedirects = 3;    // 300 Try Alternate, followed in a row for one allocation
constexpr std::size_t kMaxTcpPaths = 16;    // ICE-TCP connections the peer may hold open to us
constexpr std::size_t kMaxTcpFrame = 2 + 65535;  // RFC 4571: a 16-bit length

/// The method of a STUN message (RFC 8489 §5: M0-M11 around the class bits).
stun::Method stun_method_of(base::Bytes m) {
    const unsigned type = base::load_be16(m.data());
    return static_cast<stun::Method>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

std::uint64_t random_u64() {
    std::array<std::byte, 8> r{};
    (void)base::random_bytes(r);
    return base::load_be64(r.data());
}

#define SAME(name) DUPLEX_SAME_ENUMERATOR(IceState, ice::IceState, name)
SAME(New);
SAME(Checking);
SAME(Connected);
SAME(Completed);
SAME(Failed);
SAME(Disconnected);
SAME(Closed);
#undef SAME

}  // namespace

std::string random_ice_string(std::size_t n) {
    // RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/".
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<std::byte> r(n);
    (void)base::random_bytes(r);
    std::string s(n, 'A');
    for (std::size_t i = 0; i < n; ++i) s[i] = alphabet[std::to_integer<unsigned>(r[i]) % 64];
    return s;
}

Transport::Transport(PeerOutputs& out, Listener& listener, const PeerConfig& config, dtls::Certificate certificate)
    : out_(out),
      listener_(listener),
      config_(config),
      certificate_(std::move(certificate)),
      credentials_{random_ice_string(8), random_ice_string(24)},
      tie_breaker_(random_u64()),
      stun_servers_(config.stun_servers),
      turn_servers_(config.turn_servers),
      relay_only_(config.relay_only) {}

// ---------------------------------------------------------------------- ICE --

void Transport::new_local_credentials() {
    credentials_ = ice::Credentials{random_ice_string(8), random_ice_string(24)};
    local_candidates_.clear();
    gathering_complete_ = false;
}

void Transport::ensure_agent(bool controlling, base::Instant now) {
    if (agent_) return;
    ice::AgentConfig ac;
    ac.controlling = controlling;
    ac.tie_breaker = tie_breaker_;
    ac.local = credentials_;
    ac.failed_timeout = config_.ice_failed_timeout;
    ac.ta = config_.ice_pacing;
    apply_next_servers();  // a set_servers() before the first gathering
    ac.relay_only = relay_only_;
    agent_ = std::make_unique<ice::Agent>(ac, now);
    now_ = std::max(now_, now);
    for (const auto& h : hosts_) agent_->add_host(h);
    for (const auto& s : stun_servers_) agent_->add_stun_server(s);
    for (const auto& s : looked_up_stun_) agent_->add_stun_server(s);
    for (const auto& r : relays_) add_relay_to_agent(r);
    for (const auto& t : tcp_hosts_) agent_->add_tcp_passive(t);
    if (gathering_ == GatheringState::New) {
        gathering_ = GatheringState::Gathering;
        out_.emit(event::GatheringChange{gathering_});
    }
    start_relays(now);
}

// -------------------------------------------------------------------- TURN --

namespace {
/// A TURN client for `server`'s credentials: over UDP, or a stream (TCP, TLS).
std::unique_ptr<turn::Client> turn_client(const TurnServer& server, bool stream, base::Instant now) {
    turn::ClientConfig tc;
    tc.username = server.username;
    tc.password = server.password;
    tc.stream = stream;
    return std::make_unique<turn::Client>(tc, now);
}
}  // namespace

void Transport::start_relays(base::Instant now) {
    if (!agent_) return;
    auto want = turn_servers_;
    want.insert(want.end(), looked_up_turn_.begin(), looked_up_turn_.end());
    // Failed relays make room: one for the same server is made again below.
    // A stream relay's connection goes with it (if it is not gone already).
    relays_.erase(std::remove_if(relays_.begin(), relays_.end(),
                                 [this](const Relay& r) {
                                     const auto st = r.client->state();
                                     const bool over = st == turn::ClientState::Failed || st == turn::ClientState::Redirected;
                                     if (over && r.stream != 0) out_.emit(event::CloseStream{r.stream});
                                     return over;
                                 }),
                  relays_.end());
    for (const auto& server : want) {
        if (relays_.size() >= kMaxRelays) break;
        if (server.protocol != ice::RelayProtocol::Udp) {
            // RFC 8656 §3.1: over TCP or TLS, one connection and one allocation
            // per server; the runtime opens it.
            const bool have = std::any_of(relays_.begin(), relays_.end(), [&](const Relay& r) {
                return r.stream != 0 && r.configured == server.address && r.server.protocol == server.protocol;
            });
            if (have) continue;
            const auto id = next_stream_++;
            base::Endpoint unknown;
            unknown.ip = server.address.ip.is_v6() ? base::IpAddress::v6({}) : base::IpAddress::v4({});
            relays_.push_back(
                Relay{server, unknown, turn_client(server, true, now), false, std::nullopt, id, false, server.address, {server.address}});
            out_.emit(event::OpenStream{id, server.address, server.protocol == ice::RelayProtocol::Tls, server.host});
            continue;
        }
        for (const auto& h : hosts_) {
            if (h.ip.is_v6() != server.address.ip.is_v6() || relays_.size() >= kMaxRelays) continue;
            const bool have = std::any_of(relays_.begin(), relays_.end(), [&](const Relay& r) {
                return r.stream == 0 && r.base == h && r.configured == server.address;
            });
            if (have) continue;
            relays_.push_back(
                Relay{server, h, turn_client(server, false, now), false, std::nullopt, 0, false, server.address, {server.address}});
            pump_relay(relays_.size() - 1, now);
        }
    }
    update_gathering_hold();
}

// ------------------------------------------------------------------ ICE-TCP --

void Transport::add_tcp_host(const base::Endpoint& local, base::Instant now) {
    tcp_hosts_.push_back(local);
    if (agent_) {
        agent_->add_tcp_passive(local);
        pump_agent(now);
    }
}

bool Transport::tcp_accepted(std::uint32_t id, const base::Endpoint& local, const base::Endpoint& remote,
                             base::Instant now) {
    now_ = std::max(now_, now);
    if (tcp_path(local, remote) != nullptr) return false;
    if (tcp_paths_.size() >= kMaxTcpPaths) {
        // Full: a connection that carried no check ICE accepted (anyone can
        // open one to a listening port) makes room; if all did, this one waits.
        const auto idle = std::find_if(tcp_paths_.begin(), tcp_paths_.end(), [&](const TcpPath& p) {
            return !(agent_ && agent_->accepts_data(p.local, p.remote));
        });
        if (idle == tcp_paths_.end()) return false;
        out_.emit(event::CloseStream{idle->id});
        tcp_paths_.erase(idle);
    }
    tcp_paths_.push_back(TcpPath{id, local, remote, {}});
    return true;
}

Transport::TcpPath* Transport::tcp_path(const base::Endpoint& local, const base::Endpoint& remote) {
    for (auto& p : tcp_paths_)
        if (p.local == local && p.remote == remote) return &p;
    return nullptr;
}

void Transport::stream_connected(std::uint32_t id, base::Instant now) {
    now_ = std::max(now_, now);
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        if (relays_[i].stream != id) continue;
        relays_[i].connected = true;
        pump_relay(i, now);  // the Allocate request, held until now
    }
}

void Transport::stream_data(std::uint32_t id, base::Bytes data, base::Instant now) {
    now_ = std::max(now_, now);
    for (std::size_t i = 0; i < tcp_paths_.size(); ++i) {
        if (tcp_paths_[i].id != id) continue;
        // RFC 4571 §2: LENGTH (16 bits) then the datagram, over and over.
        // Whole frames in `data` are handed on in place; a piece waits.
        auto& buf = tcp_paths_[i].buffer;
        const base::Endpoint local = tcp_paths_[i].local, remote = tcp_paths_[i].remote;
        base::Bytes rest = data;
        if (!buf.empty()) {
            const std::size_t want = buf.size() < 2 ? 2 - buf.size() : 0;
            const std::size_t take_head = std::min(want, rest.size());
            buf.insert(buf.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(take_head));
            rest = rest.subspan(take_head);
            if (buf.size() < 2) return;
            const std::size_t frame = 2 + base::load_be16(buf.data());
            const std::size_t take = std::min(frame - buf.size(), rest.size());
            buf.insert(buf.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(take));
            rest = rest.subspan(take);
            if (buf.size() < frame) return;
            std::vector<std::byte> whole = std::move(buf);
            buf.clear();
            handle_datagram(local, remote, base::Bytes(whole).subspan(2), now);
        }
        while (rest.size() >= 2) {
            const std::size_t frame = 2 + base::load_be16(rest.data());
            if (rest.size() < frame) break;
            handle_datagram(local, remote, rest.subspan(2, frame - 2), now);
            rest = rest.subspan(frame);
        }
        // handle_datagram may have ended this path (a close): find it again.
        if (TcpPath* p = tcp_path(local, remote); p != nullptr && !rest.empty()) {
            if (p->buffer.size() + rest.size() > kMaxTcpFrame) return;  // cannot be: a frame is at most this
            p->buffer.assign(rest.begin(), rest.end());
        }
        return;
    }
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        if (relays_[i].stream != id) continue;
        relays_[i].client->handle_stream(data, now);
        while (auto received = relays_[i].client->poll_received(now)) {
            pump_relay(i, now);
            if (!relays_[i].client->relayed()) continue;
            // The view lives until the next poll_received(); the relayed
            // address is no stream's, so this does not come back here.
            handle_datagram(*relays_[i].client->relayed(), received->peer, received->data, now);
        }
        pump_relay(i, now);
        return;
    }
}

void Transport::stream_closed(std::uint32_t id, const std::string& why, base::Instant now) {
    now_ = std::max(now_, now);
    // An ICE-TCP path that closed is gone: its pair's consent lapses.
    tcp_paths_.erase(std::remove_if(tcp_paths_.begin(), tcp_paths_.end(), [&](const TcpPath& p) { return p.id == id; }),
                     tcp_paths_.end());
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        if (relays_[i].stream != id) continue;
        relays_[i].connected = false;
        relays_[i].client->connection_lost(why);
        pump_relay(i, now);
    }
}

void Transport::set_servers(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, bool relay_only) {
    next_servers_ = Servers{std::move(stun), std::move(turn), relay_only};
}

void Transport::apply_next_servers() {
    if (!next_servers_) return;
    stun_servers_ = std::move(next_servers_->stun);
    turn_servers_ = std::move(next_servers_->turn);
    relay_only_ = next_servers_->relay_only;
    next_servers_.reset();
    // Names looked up for the old configuration go with it (the runtime
    // looks the new ones up: end_server_lookup adds them).
    looked_up_stun_.clear();
    looked_up_turn_.clear();
    if (!agent_) return;
    agent_->set_relay_only(relay_only_);
    agent_->set_stun_servers(stun_servers_);
}

void Transport::add_relay_to_agent(const Relay& r) {
    if (!agent_ || !r.allocation || r.client->state() != turn::ClientState::Allocated) return;
    agent_->add_relay(r.allocation->relayed, r.base, r.server.address.ip, r.server.protocol);
    if (r.stream != 0) return;  // a mapped TCP address is no UDP candidate
    // RFC 8656 §7.3: the Allocate answer's XOR-MAPPED-ADDRESS is our address
    // as the server saw it: a server-reflexive candidate, as from STUN.
    if (r.allocation->mapped.port != 0) agent_->add_server_reflexive(r.base, r.allocation->mapped, r.server.address.ip);
}

void Transport::pump_relay(std::size_t index, base::Instant now) {
    Relay& r = relays_[index];
    // Over a stream, nothing goes before the connection is up.
    if (r.stream == 0 || r.connected) {
        while (auto t = r.client->poll_transmit())
            out_.transmits.push_back(Transmit{r.base, r.server.address, std::move(*t), r.stream});
    }
    bool changed = false;
    std::optional<turn::client_event::Redirected> redirected;
    while (auto ev = r.client->poll_event()) {
        if (auto* to = std::get_if<turn::client_event::Redirected>(&*ev)) {
            redirected = *to;
            continue;
        }
        if (auto* a = std::get_if<turn::client_event::Allocated>(&*ev)) {
            relays_[index].allocation = *a;
            relays_[index].allocated = true;
            // A stream's base: our address as the server saw it (what RFC
            // 8839 §5.1 puts in raddr), as good as any for the foundation.
            if (relays_[index].stream != 0 && a->mapped.port != 0) relays_[index].base = a->mapped;
            add_relay_to_agent(relays_[index]);
            changed = true;
        } else if (auto* f = std::get_if<turn::client_event::Failed>(&*ev)) {
            if (turn_error_.empty()) turn_error_ = relays_[index].server.url + ": " + f->reason;
            out_.emit(event::CandidateError{relays_[index].server.url, f->code, f->reason});
            // Its relayed candidate is dead: out of ICE. The next restart
            // allocates again (start_relays replaces failed relays).
            if (agent_ && relays_[index].allocation) agent_->remove_relay(relays_[index].allocation->relayed);
            changed = true;
        }
    }
    // Before the agent runs (it may restart ICE, which remakes relays_).
    if (redirected && !redirect_relay(index, *redirected, now)) changed = true;
    if (changed) {
        update_gathering_hold();
        pump_agent(now);
    }
}

bool Transport::redirect_relay(std::size_t index, const turn::client_event::Redirected& to, base::Instant now) {
    Relay& r = relays_[index];
    // RFC 8489 §10: the same request to the alternate, over the same
    // transport, with the same credentials; never back to a server already
    // tried (a loop), and only so many times.
    std::string refused;
    if (std::find(r.tried.begin(), r.tried.end(), to.server) != r.tried.end())
        refused = "a redirection loop (300 Try Alternate back to " + to.server.to_string() + ")";
    else if (r.tried.size() > kMaxRedirects)
        refused = "redirected more than " + std::to_string(kMaxRedirects) + " times (300 Try Alternate)";
    else if (to.server.ip.is_v6() != r.server.address.ip.is_v6())
        refused = "redirected to " + to.server.to_string() + ", of the other address family (300 Try Alternate)";
    if (!refused.empty()) {
        if (turn_error_.empty()) turn_error_ = r.server.url + ": " + refused;
        out_.emit(event::CandidateError{r.server.url, 300, refused});
        if (r.stream != 0) out_.emit(event::CloseStream{r.stream});
        return false;  // the client is over: start_relays replaces it at the next restart
    }
    r.tried.push_back(to.server);
    r.server.address = to.server;
    r.client = turn_client(r.server, r.stream != 0, now);
    if (r.stream != 0) {
        // §3.1: a stream's allocation is its connection's: a new one, to the
        // alternate. Over TLS its certificate names ALTERNATE-DOMAIN, or the
        // server first named (RFC 8489 §14.16).
        out_.emit(event::CloseStream{r.stream});
        r.stream = next_stream_++;
        r.connected = false;
        if (!to.domain.empty()) r.server.host = to.domain;
        out_.emit(event::OpenStream{r.stream, r.server.address, r.server.protocol == ice::RelayProtocol::Tls, r.server.host});
        return true;
    }
    pump_relay(index, now);
    return true;
}

Transport::Relay* Transport::relay_at(const base::Endpoint& relayed) {
    for (auto& r : relays_)
        if (r.allocated && r.client->state() == turn::ClientState::Allocated && r.client->relayed() == relayed) return &r;
    return nullptr;
}

void Transport::update_gathering_hold() {
    if (!agent_) return;
    const bool allocating = std::any_of(relays_.begin(), relays_.end(), [](const Relay& r) {
        return r.client->state() == turn::ClientState::Allocating;
    });
    agent_->hold_gathering(server_lookups_ > 0 || allocating);
}

void Transport::transmit(const base::Endpoint& local, const base::Endpoint& to, std::vector<std::byte> data) {
    if (!tcp_paths_.empty()) {
        if (TcpPath* p = tcp_path(local, to)) {
            // RFC 4571 §2: a 2-byte length before each datagram.
            if (data.size() > 65535) return out_.recycle(std::move(data));
            auto framed = out_.buffer(data.size() + 2);
            base::store_be16(framed.data(), static_cast<std::uint16_t>(data.size()));
            std::copy(data.begin(), data.end(), framed.begin() + 2);
            out_.recycle(std::move(data));
            out_.transmits.push_back(Transmit{local, to, std::move(framed), p->id});
            return;
        }
    }
    if (!relays_.empty()) {
        if (Relay* r = relay_at(local)) {
            // A pooled buffer: with a channel bound, wrapping copies into it
            // and allocates nothing.
            auto framed = out_.buffer(0);
            const auto w = r->client->wrap(to, data, now_, framed);
            out_.recycle(std::move(data));
            if (w == turn::Client::Wrap::Ready) {
                out_.transmits.push_back(Transmit{r->base, r->server.address, std::move(framed), r->stream});
            } else {
                out_.recycle(std::move(framed));
            }
            // A permission or channel asked for, or packets it held, now free.
            while (auto t = r->client->poll_transmit())
                out_.transmits.push_back(Transmit{r->base, r->server.address, std::move(*t), r->stream});
            return;
        }
    }
    out_.transmits.push_back(Transmit{local, to, std::move(data)});
}

void Transport::drop_agent() {
    agent_.reset();
    local_candidates_.clear();
    gathering_complete_ = false;
    announcing_ = false;
    if (gathering_ != GatheringState::New) {
        gathering_ = GatheringState::New;
        out_.emit(event::GatheringChange{gathering_});
    }
}

void Transport::use_local_credentials(const ice::Credentials& c, base::Instant now) {
    if (!agent_) return;
    if (c.ufrag == agent_->local_credentials().ufrag && c.pwd == agent_->local_credentials().pwd) return;
    local_candidates_.clear();
    gathering_complete_ = false;
    if (gathering_ != GatheringState::Gathering) {
        gathering_ = GatheringState::Gathering;
        out_.emit(event::GatheringChange{gathering_});
    }
    apply_next_servers();
    agent_->restart(c, now);
    start_relays(now);  // servers set since: their allocations
}

void Transport::set_remote_credentials(const ice::Credentials& c) {
    if (agent_) agent_->set_remote_credentials(c);
}

/// A remote candidate to ICE. One named by an mDNS hostname is still
/// given to the agent, which skips it but then knows not to declare
/// failure on an exhausted checklist (RFC 8445 §7.3.1.3: the peer's
/// checks may still teach us its address); the runtime hears of it to
/// resolve the name (draft-ietf-mmusic-mdns-ice-candidates §3.2.2). The
/// lookup is IO, so it is not done here.
void Transport::add_remote_candidate(const ice::Candidate& c, base::Instant now) {
    if (!agent_) return;
    if (c.is_mdns() && c.component == 1 && c.transport == ice::Transport::Udp)
        out_.emit(event::ResolveHostname{c.to_sdp_attribute()});
    agent_->add_remote_candidate(c, now);
}

void Transport::end_of_remote_candidates() {
    if (agent_) agent_->end_of_remote_candidates();
}

void Transport::add_host(const base::Endpoint& local, base::Instant now) {
    hosts_.push_back(local);
    now_ = std::max(now_, now);
    if (agent_) {
        agent_->add_host(local);
        start_relays(now);
        pump_agent(now);
    }
}

void Transport::hosts_complete(base::Instant now) { pump_agent(now); }

void Transport::begin_server_lookup() {
    ++server_lookups_;
    update_gathering_hold();
}

void Transport::end_server_lookup(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, base::Instant now) {
    now_ = std::max(now_, now);
    if (server_lookups_ > 0) --server_lookups_;
    if (next_servers_) {
        // Names of a configuration that waits for the next restart.
        next_servers_->stun.insert(next_servers_->stun.end(), stun.begin(), stun.end());
        next_servers_->turn.insert(next_servers_->turn.end(), turn.begin(), turn.end());
        update_gathering_hold();
        pump_agent(now);
        return;
    }
    for (const auto& s : stun) {
        looked_up_stun_.push_back(s);
        if (agent_) agent_->add_stun_server(s);
    }
    for (auto& t : turn) looked_up_turn_.push_back(std::move(t));
    start_relays(now);
    update_gathering_hold();
    pump_agent(now);
}

void Transport::announce_candidates(const std::string& mid) {
    announcing_ = true;
    mid_ = mid;
    for (const auto& c : local_candidates_) out_.emit(event::LocalCandidate{c, mid_});
    if (gathering_complete_) announce_gathering_complete();
}

sdp::TransportParams Transport::local_params(sdp::Setup setup, std::size_t max_message_size) const {
    sdp::TransportParams p;
    p.ice_ufrag = credentials_.ufrag;
    p.ice_pwd = credentials_.pwd;
    p.fingerprint_algorithm = "sha-256";
    p.fingerprint = certificate_.fingerprint("sha-256");
    p.setup = setup;
    p.candidates = local_candidates_;
    p.end_of_candidates = gathering_complete_;
    p.max_message_size = static_cast<std::uint32_t>(max_message_size);
    return p;
}

void Transport::pump_agent(base::Instant now) {
    if (!agent_) return;
    while (auto t = agent_->poll_transmit()) transmit(t->local, t->destination, std::move(t->data));
    while (auto ev = agent_->poll_event()) {
        if (auto* c = std::get_if<ice::event::LocalCandidate>(&*ev)) {
            auto text = c->candidate.to_sdp_attribute();
            local_candidates_.push_back(text);
            if (announcing_) out_.emit(event::LocalCandidate{text, mid_});
        } else if (std::get_if<ice::event::GatheringComplete>(&*ev)) {
            gathering_complete_ = true;
            if (announcing_) announce_gathering_complete();
        } else if (auto* s = std::get_if<ice::event::StateChange>(&*ev)) {
            ice_state_ = base::same_order_cast<IceState>(s->state);
            if (ice_state_ == IceState::Failed)
                out_.fail("ICE: no candidate pair worked (no path to the peer, or consent lost)" +
                          (turn_error_.empty() ? std::string() : "; " + turn_error_));
            out_.emit(event::IceChange{ice_state_});
            if (ice_state_ == IceState::Connected || ice_state_ == IceState::Completed) {
                flush_dtls_waiting();
                start_dtls_client(now);
            }
            listener_.on_transport_change();
        } else if (std::get_if<ice::event::DataPairChange>(&*ev)) {
            out_.emit(event::PathChange{});
            flush_dtls_waiting();
            start_dtls_client(now);
        }
    }
    // A check may have proven an early sender's path.
    feed_early_dtls(now);
}

void Transport::announce_gathering_complete() {
    if (gathering_ == GatheringState::Complete) return;
    gathering_ = GatheringState::Complete;
    out_.emit(event::LocalCandidate{std::string(), mid_});
    out_.emit(event::GatheringChange{gathering_});
}

// --------------------------------------------------------------------- DTLS --

std::optional<dtls::Role> Transport::dtls_role() const {
    if (!dtls_) return std::nullopt;
    return dtls_->role();
}

void Transport::start_dtls(dtls::Role role, const std::string& fingerprint_algorithm, const std::string& fingerprint,
                           base::Instant now) {
    if (dtls_) return;
    dtls::EndpointConfig dc;
    dc.role = role;
    dc.certificate = certificate_;
    dc.remote_fingerprint_algorithm = fingerprint_algorithm;
    dc.remote_fingerprint = fingerprint;
    // use_srtp is negotiated even without media: browsers always offer it,
    // and some stacks (werift) fail a handshake that leaves it out.
    dc.srtp = true;
    dtls_ = std::make_unique<dtls::Endpoint>(std::move(dc));
    feed_early_dtls(now);
    start_dtls_client(now);
}

void Transport::send_datagram(std::vector<std::byte> d) {
    auto pair = agent_ ? agent_->data_pair() : std::nullopt;
    if (!pair) {
        if (dtls_waiting_.size() < kMaxQueuedDtls) dtls_waiting_.push_back(std::move(d));
        return;
    }
    transmit(pair->first, pair->second, std::move(d));
}

void Transport::feed_early_dtls(base::Instant now) {
    if (!agent_ || !dtls_ || dtls_early_.empty()) return;
    bool fed = false;
    for (auto it = dtls_early_.begin(); it != dtls_early_.end();) {
        if (agent_->accepts_data(it->local, it->from)) {
            auto data = std::move(it->data);
            it = dtls_early_.erase(it);
            dtls_->handle_datagram(data, now);
            fed = true;
        } else {
            ++it;
        }
    }
    if (fed) pump_dtls(now);
}

void Transport::flush_dtls_waiting() {
    auto pair = agent_ ? agent_->data_pair() : std::nullopt;
    if (!pair) return;
    while (!dtls_waiting_.empty()) {
        transmit(pair->first, pair->second, std::move(dtls_waiting_.front()));
        dtls_waiting_.pop_front();
    }
}

/// The DTLS client speaks first, once ICE has a path to speak on.
void Transport::start_dtls_client(base::Instant now) {
    if (!dtls_ || dtls_->state() != dtls::State::New || dtls_->role() != dtls::Role::Client) return;
    if (!agent_ || !agent_->data_pair()) return;
    dtls_->start(now);
    pump_dtls(now);
}

void Transport::pump_dtls(base::Instant now) {
    if (!dtls_) return;
    while (auto d = dtls_->poll_transmit()) send_datagram(std::move(*d));
    while (auto ev = dtls_->poll_event()) {
        if (auto* c = std::get_if<dtls::Connected>(&*ev)) {
            dtls_connected_ = true;
            out_.stats.dtls_cipher = c->cipher;
            listener_.on_dtls_connected(now);
            listener_.on_transport_change();
        } else if (auto* d = std::get_if<dtls::Data>(&*ev)) {
            listener_.on_dtls_data(d->data, now);
        } else if (std::get_if<dtls::Closed>(&*ev)) {
            listener_.on_dtls_ended();
        } else if (auto* f = std::get_if<dtls::Failed>(&*ev)) {
            out_.fail("DTLS: " + f->reason);
            listener_.on_dtls_ended();
            listener_.on_transport_change();
        }
    }
    // What the listener sent meanwhile (SCTP over DTLS).
    while (auto d = dtls_->poll_transmit()) send_datagram(std::move(*d));
}

void Transport::send_app_data(base::Bytes data, base::Instant now) {
    if (!dtls_ || !dtls_connected_) return;
    (void)dtls_->send(data, now);
    while (auto d = dtls_->poll_transmit()) send_datagram(std::move(*d));
}

// ------------------------------------------------- the network, time, the end --

void Transport::handle_datagram(const base::Endpoint& local, const base::Endpoint& from, base::Bytes datagram,
                                base::Instant now) {
    if (datagram.empty()) return;
    now_ = std::max(now_, now);
    const auto first = std::to_integer<unsigned>(datagram[0]);
    // From a TURN server to the socket its allocation was made from: TURN's
    // own messages and relayed data. A Binding answer from the same address
    // (the server doubles as a STUN server) goes on to ICE.
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        if (relays_[i].stream != 0 || relays_[i].base != local || relays_[i].server.address != from) continue;
        if (first <= 3 && datagram.size() >= 2 && stun_method_of(datagram) == stun::Method::Binding) break;
        const auto received = relays_[i].client->handle_datagram(datagram, now);
        pump_relay(i, now);
        if (received && relays_[i].client->relayed()) {
            const base::Endpoint relayed = *relays_[i].client->relayed();
            const base::Endpoint peer = received->peer;
            // The data views `datagram`; the relayed address is no TURN
            // client's base, so this comes back here only once.
            handle_datagram(relayed, peer, received->data, now);
        }
        return;
    }
    // RFC 7983 §7 (updating RFC 5764 §5.1.2).
    if (first <= 3) {
        if (agent_) {
            agent_->handle_stun(local, from, datagram, now);
            pump_agent(now);
        }
    } else if (first >= 20 && first <= 63) {
        // DTLS is ours only over a path an ICE check has proven (RFC 8445
        // §12.2): the data pair, a valid pair, or one the peer checked.
        if (!dtls_ || !agent_ || !agent_->accepts_data(local, from)) {
            // Kept (a few) until the answer made our DTLS endpoint or the
            // sender's check arrives: the peer may get there first.
            if (dtls_early_.size() >= kMaxQueuedDtls) dtls_early_.pop_front();  // newest win: DTLS retransmits
            dtls_early_.push_back(EarlyDtls{local, from, std::vector<std::byte>(datagram.begin(), datagram.end())});
            return;
        }
        dtls_->handle_datagram(datagram, now);
        pump_dtls(now);
    } else if (first >= 128 && first <= 191) {
        // SRTP keys come from DTLS; the path must be one ICE proved.
        if (dtls_connected_ && agent_ && agent_->accepts_data(local, from)) listener_.on_media_packet(datagram, now);
    }
    // 64..79: ChannelData not from our TURN server (above): dropped.
}

std::optional<dtls::SrtpKeyingMaterial> Transport::srtp_keys() const {
    if (!dtls_ || !dtls_connected_) return std::nullopt;
    return dtls_->srtp_keying_material();
}

void Transport::send_media(std::vector<std::byte> datagram) {
    auto pair = agent_ ? agent_->data_pair() : std::nullopt;
    if (!pair) return;
    transmit(pair->first, pair->second, std::move(datagram));
}

void Transport::pump(base::Instant now) {
    pump_agent(now);
    pump_dtls(now);
    pump_agent(now);
}

std::optional<base::Instant> Transport::poll_timeout() const {
    std::optional<base::Instant> t;
    auto fold = [&t](std::optional<base::Instant> x) {
        if (x && (!t || *x < *t)) t = x;
    };
    if (agent_) fold(agent_->poll_timeout());
    if (dtls_) fold(dtls_->poll_timeout());
    for (const auto& r : relays_) fold(r.client->poll_timeout());
    return t;
}

void Transport::handle_timeout(base::Instant now) {
    now_ = std::max(now_, now);
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        relays_[i].client->handle_timeout(now);
        pump_relay(i, now);
    }
    if (agent_) {
        agent_->handle_timeout(now);
        pump_agent(now);
    }
    if (dtls_) {
        dtls_->handle_timeout(now);
        pump_dtls(now);
    }
}

void Transport::close(base::Instant now) {
    if (dtls_) {
        dtls_->close(now);
        while (auto d = dtls_->poll_transmit()) send_datagram(std::move(*d));
    }
    if (agent_) agent_->close();
    // §7.4: the allocations are released (Refresh, LIFETIME 0).
    for (auto& r : relays_) {
        r.client->close(now);
        while (auto t = r.client->poll_transmit()) {
            if (r.stream == 0 || r.connected)
                out_.transmits.push_back(Transmit{r.base, r.server.address, std::move(*t), r.stream});
        }
    }
    ice_state_ = IceState::Closed;
    out_.emit(event::IceChange{IceState::Closed});
}

void Transport::fill_stats(PeerStats& st) const {
    if (!agent_) return;
    if (auto pair = agent_->data_pair()) {
        st.local_candidate = pair->first.to_string();
        st.remote_candidate = pair->second.to_string();
        const auto [ours, theirs] = agent_->pair_types(pair->first, pair->second);
        st.local_candidate_type = ours ? std::string(ice::to_string(*ours)) : std::string();
        st.remote_candidate_type = theirs ? std::string(ice::to_string(*theirs)) : std::string();
        st.relay_protocol.clear();
        const bool tcp = std::any_of(tcp_paths_.begin(), tcp_paths_.end(), [&](const TcpPath& p) {
            return p.local == pair->first && p.remote == pair->second;
        });
        st.candidate_protocol = tcp ? "tcp" : "udp";
        for (const auto& r : relays_)
            if (r.allocation && r.allocation->relayed == pair->first) st.relay_protocol = std::string(ice::to_string(r.server.protocol));
    }
    st.rtt = agent_->round_trip_time();
}

}  // namespace duplex::proto::rtc
