#include "proto/rtc/transport.hpp"

#include "base/digest.hpp"
#include "base/enum_cast.hpp"

namespace duplex::proto::rtc {

namespace {

constexpr std::size_t kMaxQueuedDtls = 32;  // DTLS datagrams held until ICE has a path

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
      tie_breaker_(random_u64()) {}

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
    agent_ = std::make_unique<ice::Agent>(ac, now);
    for (const auto& h : hosts_) agent_->add_host(h);
    for (const auto& s : config_.stun_servers) agent_->add_stun_server(s);
    for (const auto& s : looked_up_stun_) agent_->add_stun_server(s);
    agent_->hold_gathering(stun_lookups_ > 0);
    if (gathering_ == GatheringState::New) {
        gathering_ = GatheringState::Gathering;
        out_.emit(event::GatheringChange{gathering_});
    }
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
    agent_->restart(c, now);
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
    if (agent_) {
        agent_->add_host(local);
        pump_agent(now);
    }
}

void Transport::hosts_complete(base::Instant now) { pump_agent(now); }

void Transport::begin_stun_lookup() {
    ++stun_lookups_;
    if (agent_) agent_->hold_gathering(true);
}

void Transport::end_stun_lookup(std::vector<base::Endpoint> servers, base::Instant now) {
    if (stun_lookups_ > 0) --stun_lookups_;
    for (const auto& s : servers) {
        looked_up_stun_.push_back(s);
        if (agent_) agent_->add_stun_server(s);
    }
    if (agent_) {
        agent_->hold_gathering(stun_lookups_ > 0);
        pump_agent(now);
    }
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
    while (auto t = agent_->poll_transmit())
        out_.transmits.push_back(Transmit{t->local, t->destination, std::move(t->data)});
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
                out_.fail("ICE: no candidate pair worked (no path to the peer, or consent lost)");
            out_.emit(event::IceChange{ice_state_});
            if (ice_state_ == IceState::Connected || ice_state_ == IceState::Completed) {
                flush_dtls_waiting();
                start_dtls_client(now);
            }
            listener_.on_transport_change();
        } else if (std::get_if<ice::event::DataPairChange>(&*ev)) {
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
    out_.transmits.push_back(Transmit{pair->first, pair->second, std::move(d)});
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
        out_.transmits.push_back(Transmit{pair->first, pair->second, std::move(dtls_waiting_.front())});
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
    const auto first = std::to_integer<unsigned>(datagram[0]);
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
    // 64..79 TURN channel data: not yet; dropped.
}

std::optional<dtls::SrtpKeyingMaterial> Transport::srtp_keys() const {
    if (!dtls_ || !dtls_connected_) return std::nullopt;
    return dtls_->srtp_keying_material();
}

void Transport::send_media(std::vector<std::byte> datagram) {
    auto pair = agent_ ? agent_->data_pair() : std::nullopt;
    if (!pair) return;
    out_.transmits.push_back(Transmit{pair->first, pair->second, std::move(datagram)});
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
    return t;
}

void Transport::handle_timeout(base::Instant now) {
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
    ice_state_ = IceState::Closed;
    out_.emit(event::IceChange{IceState::Closed});
}

void Transport::fill_stats(PeerStats& st) const {
    if (!agent_) return;
    if (auto pair = agent_->data_pair()) {
        st.local_candidate = pair->first.to_string();
        st.remote_candidate = pair->second.to_string();
    }
    st.rtt = agent_->round_trip_time();
}

}  // namespace duplex::proto::rtc
