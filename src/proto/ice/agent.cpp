// proto/ice/agent.cpp: the full ICE agent (RFC 8445) with trickle (RFC 8838)
// and consent freshness (RFC 7675): checks, nomination, state. Gathering of
// local candidates is in gathering.cpp. See agent.hpp for the drive contract.
#include "proto/ice/agent.hpp"

#include "proto/ice/agent_limits.hpp"

#include "base/digest.hpp"

#include <algorithm>

namespace duplex::proto::ice {

using namespace detail;

std::string_view to_string(IceState s) noexcept {
    switch (s) {
        case IceState::New: return "new";
        case IceState::Checking: return "checking";
        case IceState::Connected: return "connected";
        case IceState::Completed: return "completed";
        case IceState::Failed: return "failed";
        case IceState::Disconnected: return "disconnected";
        case IceState::Closed: return "closed";
    }
    return "new";
}

Agent::Agent(AgentConfig config, base::Instant now)
    : config_(std::move(config)),
      controlling_(config_.controlling),
      local_(config_.local),
      last_now_(now),
      checklist_(config_.max_pairs, config_.max_triggered),
      consent_next_(now),
      last_consent_ok_(now),
      jitter_state_((config_.tie_breaker ^ 0x9E3779B97F4A7C15ull) | 1) {}

// ---------------------------------------------------------------------------
// Local and remote candidates

void Agent::advance(base::Instant now) noexcept { last_now_ = std::max(last_now_, now); }

const Agent::HostSocket* Agent::host(const base::Endpoint& local) const {
    for (const auto& h : hosts_) {
        if (h.address == local) return &h;
    }
    return nullptr;
}

void Agent::set_remote_credentials(Credentials remote) {
    if (state_ == IceState::Closed) return;
    if (remote_ && *remote_ == remote) return;
    if (remote_) {
        // The peer restarted ICE (§9): its candidates and our checks belong to
        // the old generation; the selected pair stays until a new nomination.
        // Our own restart() may follow (the answerer's new credentials); it
        // then keeps these remote credentials.
        reset_checks();
        remote_restarted_ = true;
    }
    remote_ = std::move(remote);
    if (!checks_since_) checks_since_ = last_now_;
    update_state(last_now_);
}

void Agent::add_remote_candidate(const Candidate& c, base::Instant now) {
    advance(now);
    if (state_ == IceState::Closed) return;
    // One component (rtcp-mux), UDP only; TCP candidates are unusable here.
    if (c.component != 1 || c.transport != Transport::Udp) return;
    if (c.is_mdns()) {
        // We cannot resolve mDNS names here; the peer's checks will still
        // reach us and teach us its address as peer-reflexive (§7.3.1.3).
        ignored_remote_ = true;
        update_state(now);
        return;
    }
    // RFC 8838 §4.1: a candidate of another generation (stale after a restart).
    if (remote_ && !c.ufrag.empty() && c.ufrag != remote_->ufrag) return;
    if (c.address.ip.is_unspecified() || c.address.port == 0) return;

    for (auto& r : remote_candidates_) {
        if (r.address == c.address) {
            // A signalled candidate replaces the peer-reflexive one learned
            // from the same address (RFC 8838 §11.4); the pair keeps its state.
            if (r.type == CandidateType::PeerReflexive && c.type != CandidateType::PeerReflexive) {
                r = c;
                pair_with_hosts(r);
            }
            return;
        }
    }
    if (remote_candidates_.size() >= config_.max_remote_candidates) return;
    remote_candidates_.push_back(c);
    if (!selected_nominated_) pair_with_hosts(c);
    update_state(now);
}

void Agent::end_of_remote_candidates() {
    if (state_ == IceState::Closed) return;
    end_of_remote_ = true;
    update_state(last_now_);
}

void Agent::add_pair(const HostSocket& h, const Candidate& remote) {
    CandidatePair p;
    p.local = h.address;
    p.remote = remote.address;
    p.local_priority = h.transport == Transport::Tcp ? tcp_candidate_priority(h.local_preference)
                                                     : candidate_priority(h.type, h.local_preference);
    p.remote_priority = remote.priority;
    p.foundation = h.foundation + ":" + remote.foundation;
    checklist_.add(std::move(p), controlling_);
}

// §6.1.2.2: pair each local candidate with each remote one of the same
// component and IP family. After §6.1.2.4 pruning only bases remain on the
// local side: host sockets and relayed addresses (a server-reflexive
// candidate is replaced by its base).
void Agent::pair_with_hosts(const Candidate& remote) {
    for (const auto& h : hosts_) {
        if (h.usable && h.transport == remote.transport && same_family(h.address, remote.address)) add_pair(h, remote);
    }
}

void Agent::pair_with_remotes(const HostSocket& h) {
    if (!h.usable) return;
    for (const auto& r : remote_candidates_) {
        if (h.transport == r.transport && same_family(h.address, r.address)) add_pair(h, r);
    }
}

// ---------------------------------------------------------------------------
// Incoming STUN

void Agent::handle_stun(base::Endpoint local, base::Endpoint from, base::Bytes datagram, base::Instant now) {
    advance(now);
    const HostSocket* base = host(local);
    if (!active() || base == nullptr || !base->usable) return;
    auto msg = stun::Message::parse(datagram);
    if (!msg || msg->method() != static_cast<std::uint16_t>(stun::Method::Binding)) return;
    switch (msg->cls()) {
        case stun::Class::Request: handle_request(local, from, *msg, datagram, now); break;
        case stun::Class::SuccessResponse:
        case stun::Class::ErrorResponse: handle_response(local, from, *msg, datagram, now); break;
        case stun::Class::Indication: break;  // §11 keepalive: nothing to do
    }
    if (!active()) return;
    maybe_nominate(now);
    update_state(now);
}

void Agent::handle_request(const base::Endpoint& local, const base::Endpoint& from, const stun::Message& msg,
                           base::Bytes datagram, base::Instant now) {
    // §7.3 (RFC 8445) and RFC 8489 §6.3.1, §9.1.3. Checks carry FINGERPRINT
    // (§7.1.2.1 via RFC 8489 §7); without a valid one this is not ICE: drop.
    if (!stun::has_valid_fingerprint(datagram)) return;
    const auto unknown = msg.unknown_required_attributes();
    if (!unknown.empty()) {
        send_error(local, from, msg.transaction_id(), 420, "Unknown Attribute", nullptr, &unknown);
        return;
    }
    const auto username = msg.username();
    if (!username || !msg.has(stun::AttributeType::MessageIntegrity)) {
        // RFC 8489 §9.1.3: no USERNAME or no MESSAGE-INTEGRITY → 400.
        send_error(local, from, msg.transaction_id(), 400, "Bad Request", nullptr);
        return;
    }
    // §7.2.2: USERNAME is "<receiver's ufrag>:<sender's ufrag>".
    const auto colon = username->find(':');
    const std::string_view ours = std::string_view(*username).substr(0, colon);
    const std::string_view theirs =
        colon == std::string::npos ? std::string_view{} : std::string_view(*username).substr(colon + 1);
    const Credentials* creds = nullptr;
    bool old_generation = false;
    if (colon != std::string::npos && ours == local_.ufrag) {
        creds = &local_;
    } else if (colon != std::string::npos && selected_ && selected_->generation != generation_ &&
               ours == selected_->local_creds.ufrag && local == selected_->local && from == selected_->remote) {
        // §9: after a restart the old selected pair stays usable; the peer's
        // consent checks on it still use the old credentials.
        creds = &selected_->local_creds;
        old_generation = true;
    }
    if (creds == nullptr || !stun::verify_integrity(datagram, bytes_of(creds->pwd))) {
        send_error(local, from, msg.transaction_id(), 401, "Unauthenticated", nullptr);  // RFC 8489 §9.1.3
        return;
    }
    const auto priority = msg.priority();
    if (!priority) {
        send_error(local, from, msg.transaction_id(), 400, "Bad Request", &creds->pwd);  // §7.1.1 requires it
        return;
    }
    const std::string pwd = creds->pwd;  // `creds` may point into selected_, which select() replaces

    // §7.3.1.1 role conflict.
    if (!old_generation) {
        const auto their_controlling = msg.ice_controlling();
        const auto their_controlled = msg.ice_controlled();
        if (controlling_ && their_controlling) {
            if (config_.tie_breaker >= *their_controlling) {
                send_error(local, from, msg.transaction_id(), 487, "Role Conflict", &pwd);
                return;
            }
            switch_role(false);
        } else if (!controlling_ && their_controlled) {
            if (config_.tie_breaker >= *their_controlled) {
                switch_role(true);
            } else {
                send_error(local, from, msg.transaction_id(), 487, "Role Conflict", &pwd);
                return;
            }
        }
    }

    // §7.3.1.2: the success response reflects the source address.
    stun::MessageWriter w(stun::Class::SuccessResponse, stun::Method::Binding, msg.transaction_id());
    w.add_xor_mapped_address(from);
    w.add_message_integrity(bytes_of(pwd));
    w.add_fingerprint();
    queue_transmit(local, from, std::move(w).take());
    if (old_generation) return;
    // A check for another remote generation than the one we were told about,
    // or a source no socket of ours could answer from (another IP family).
    if (remote_ && theirs != remote_->ufrag) return;
    if (!same_family(local, from)) return;

    // §7.3.1.3: an unknown source is a peer-reflexive remote candidate, with
    // the priority from the request and a foundation of its own.
    const Transport base_transport = host(local)->transport;
    const auto same_path = [&](const Candidate& c) { return c.address == from && c.transport == base_transport; };
    const bool known = std::any_of(remote_candidates_.begin(), remote_candidates_.end(), same_path);
    if (!known) {
        if (remote_candidates_.size() >= config_.max_remote_candidates) return;
        Candidate c;
        c.foundation = "prflx" + std::to_string(++prflx_counter_);
        c.priority = *priority;
        c.address = from;
        c.type = CandidateType::PeerReflexive;
        c.transport = base_transport;  // over ICE-TCP: the connection's far end (RFC 6544 §7.2)
        remote_candidates_.push_back(c);
    }
    CandidatePair* pair = checklist_.find(local, from);
    if (pair == nullptr) {
        const auto it = std::find_if(remote_candidates_.begin(), remote_candidates_.end(), same_path);
        if (it == remote_candidates_.end()) return;
        add_pair(*host(local), *it);
        pair = checklist_.find(local, from);
        if (pair == nullptr) return;  // the checklist is full of better pairs
    }
    pair->peer_checked = true;
    // §7.3.1.4 triggered checks. An In-Progress check is left to finish
    // (the RFC allows cancelling it; its retransmissions do the same job).
    if (pair->state == PairState::Waiting || pair->state == PairState::Frozen || pair->state == PairState::Failed) {
        checklist_.enqueue_triggered(local, from);
        pair = checklist_.find(local, from);
    }
    // §7.3.1.5: the controlled agent nominates on USE-CANDIDATE, once its own
    // check on the pair has succeeded.
    if (!controlling_ && msg.has(stun::AttributeType::UseCandidate)) {
        if (pair->valid && pair->state != PairState::Failed) {
            pair->nominated = true;
            select(*pair, now);
        } else {
            pair->nominate_on_success = true;
        }
    }
}

void Agent::handle_response(const base::Endpoint& local, const base::Endpoint& from, const stun::Message& msg,
                            base::Bytes datagram, base::Instant now) {
    const auto it = std::find_if(transactions_.begin(), transactions_.end(), [&](const Outstanding& o) {
        return o.tx.id() == msg.transaction_id();
    });
    if (it == transactions_.end()) return;  // unknown or already answered: drop
    bool done = false;
    const bool unambiguous = it->tx.sends() == 1 && msg.cls() == stun::Class::SuccessResponse;
    const base::Duration sample = now - it->tx.started();
    // The handlers may start transactions (invalidating `it`): keep the pair.
    const base::Endpoint tx_local = it->local, tx_remote = it->remote;
    switch (it->kind) {
        case TxKind::Check:
            done = on_check_response(*it, local, from, msg, datagram, now);
            // A check on the pair data goes over measures its round trip.
            if (done && unambiguous && data_pair() == std::make_pair(tx_local, tx_remote)) rtt_ = sample;
            break;
        case TxKind::Consent:
            done = on_consent_response(*it, local, from, msg, datagram, now);
            // A consent answer on the selected pair measures its round trip.
            if (done && unambiguous && selected_ && selected_->local == tx_local && selected_->remote == tx_remote)
                rtt_ = sample;
            break;
        case TxKind::Gather:
            // The server must answer from where we sent (the transaction is
            // not authenticated; this keeps blind spoofing out).
            if (from != it->remote || local != it->local) return;
            on_gather_response(*it, msg);
            done = true;
            gather_check_due_ = true;
            break;
    }
    if (!done) return;
    const auto id = msg.transaction_id();
    transactions_.erase(std::remove_if(transactions_.begin(), transactions_.end(),
                                       [&](const Outstanding& o) { return o.tx.id() == id; }),
                        transactions_.end());
}

bool Agent::on_check_response(const Outstanding& o, const base::Endpoint& local, const base::Endpoint& from,
                              const stun::Message& msg, base::Bytes datagram, base::Instant now) {
    // §7.2.5: a response whose MESSAGE-INTEGRITY fails is discarded; the
    // transaction goes on. 400/401 answers may come without one.
    const bool has_mi = msg.has(stun::AttributeType::MessageIntegrity) ||
                        msg.has(stun::AttributeType::MessageIntegritySha256);
    if (has_mi && !stun::verify_integrity(datagram, bytes_of(o.remote_pwd))) return false;
    if (msg.has(stun::AttributeType::Fingerprint) && !stun::has_valid_fingerprint(datagram)) return false;
    if (msg.cls() == stun::Class::SuccessResponse && !has_mi) return false;
    if (o.generation != generation_) return true;  // a check of a generation we left behind
    CandidatePair* pair = checklist_.find(o.local, o.remote);
    if (pair == nullptr) return true;

    if (msg.cls() == stun::Class::ErrorResponse) {
        const auto ec = msg.error_code();
        if (ec && ec->code == 487) {
            // §7.2.5.1: switch to the role opposite to the one the request
            // claimed (unless we already did) and check the pair again.
            if (o.sent_controlling == controlling_) switch_role(!o.sent_controlling);
            checklist_.enqueue_triggered(o.local, o.remote);
            return true;
        }
        pair_failed(*pair, o);  // §7.2.5.2.4: any other error is unrecoverable
        return true;
    }
    // §7.2.5.2.1: non-symmetric addresses fail the pair.
    if (from != o.remote || local != o.local) {
        pair_failed(*pair, o);
        return true;
    }
    // §7.2.5.3.1: a mapped address that is no local candidate of ours is a
    // new peer-reflexive local candidate.
    if (const auto mapped = msg.xor_mapped_address()) learn_local_prflx(o.local, *mapped, prflx_priority(o.local));

    // §7.2.5.3.2 / §7.2.5.3.3: into the valid list; unfreeze its foundation.
    pair->state = PairState::Succeeded;
    pair->mapped = msg.xor_mapped_address();
    pair->valid = true;
    checklist_.unfreeze(pair->foundation);
    pair = checklist_.find(o.local, o.remote);
    if (!first_valid_at_) first_valid_at_ = now;
    if (selected_ && selected_->local == local && selected_->remote == from) {
        last_consent_ok_ = now;  // RFC 7675: any authenticated response counts
        consent_unanswered_since_.reset();
    }
    // §7.2.5.3.4 / §8.1.1: a check that carried USE-CANDIDATE nominates the
    // pair; the controlled side nominates on success when the peer asked.
    if (o.use_candidate && o.sent_controlling && controlling_) {
        pair->nominated = true;
        nominating_.reset();
        select(*pair, now);
    } else if (!controlling_ && pair->nominate_on_success) {
        pair->nominated = true;
        select(*pair, now);
    }
    return true;
}

void Agent::pair_failed(CandidatePair& pair, const Outstanding& o) {
    pair.state = PairState::Failed;
    if (o.use_candidate) {
        pair.valid = false;
        pair.nominate_on_success = false;
        nominating_.reset();
    }
}

bool Agent::on_consent_response(const Outstanding& o, const base::Endpoint& local, const base::Endpoint& from,
                                const stun::Message& msg, base::Bytes datagram, base::Instant now) {
    // RFC 7675 §5.1: only an authenticated success response from the address
    // the check went to refreshes consent.
    if (!stun::verify_integrity(datagram, bytes_of(o.remote_pwd))) return false;
    if (msg.has(stun::AttributeType::Fingerprint) && !stun::has_valid_fingerprint(datagram)) return false;
    if (from != o.remote || local != o.local) return false;
    if (msg.cls() != stun::Class::SuccessResponse) return true;
    if (selected_ && selected_->local == o.local && selected_->remote == o.remote) {
        last_consent_ok_ = now;
        consent_unanswered_since_.reset();
    }
    return true;
}

void Agent::on_transaction_failed(const Outstanding& o) {
    switch (o.kind) {
        case TxKind::Check: {
            // §7.2.5.2.2 (timeout): the pair fails.
            if (o.generation != generation_) return;
            CandidatePair* pair = checklist_.find(o.local, o.remote);
            if (pair != nullptr && pair->state == PairState::InProgress) pair_failed(*pair, o);
            else if (pair != nullptr && o.use_candidate) pair_failed(*pair, o);
            return;
        }
        case TxKind::Gather: gather_check_due_ = true; return;
        case TxKind::Consent: return;  // consent is judged by time since the last answer
    }
}

void Agent::send_error(const base::Endpoint& local, const base::Endpoint& to, const stun::TransactionId& id,
                       std::uint16_t code, std::string_view reason, const std::string* pwd,
                       const std::vector<std::uint16_t>* unknown) {
    stun::MessageWriter w(stun::Class::ErrorResponse, stun::Method::Binding, id);
    w.add_error_code(code, reason);
    if (unknown != nullptr) w.add_unknown_attributes(*unknown);
    // RFC 8489 §9.1.3: 400/401 go unauthenticated; others carry MI (§7.3.1.1).
    if (pwd != nullptr) w.add_message_integrity(bytes_of(*pwd));
    w.add_fingerprint();
    queue_transmit(local, to, std::move(w).take());
}

void Agent::switch_role(bool controlling) {
    // §7.3.1.1 / §7.2.5.1: pair priorities depend on the role; a nomination
    // under way belongs to the old role.
    controlling_ = controlling;
    checklist_.set_role(controlling);
    for (auto& p : checklist_.pairs()) p.nominate_on_success = false;
    nominating_.reset();
}

// ---------------------------------------------------------------------------
// Outgoing checks, paced by Ta

std::uint32_t Agent::prflx_priority(const base::Endpoint& local) const {
    // §7.1.1: PRIORITY is what a peer-reflexive candidate from this base would get.
    const HostSocket* h = host(local);
    return candidate_priority(CandidateType::PeerReflexive, h != nullptr ? h->local_preference : 65535);
}

stun::TransactionId Agent::new_transaction_id() {
    stun::TransactionId id{};
    if (!base::random_bytes(id)) {
        for (auto& b : id) b = std::byte(static_cast<std::uint8_t>(consent_rng() >> 56));
    }
    return id;
}

std::uint64_t Agent::consent_rng() noexcept {
    // xorshift64*: deterministic per tie-breaker, good enough for jitter.
    jitter_state_ ^= jitter_state_ >> 12;
    jitter_state_ ^= jitter_state_ << 25;
    jitter_state_ ^= jitter_state_ >> 27;
    return jitter_state_ * 0x2545F4914F6CDD1Dull;
}

base::Duration Agent::consent_jitter() {
    // RFC 7675 §5.1: uniformly random in 0.8..1.2 of the interval.
    const auto permille = static_cast<base::Duration::rep>(800 + consent_rng() % 401);
    return config_.consent_interval * permille / 1000;
}

bool Agent::slot_free(base::Instant now) const noexcept {
    return !last_transaction_start_ || now >= *last_transaction_start_ + config_.ta;
}

std::size_t Agent::max_transactions() const noexcept { return config_.max_pairs + kMaxStunServers * kMaxHosts; }

void Agent::send_check(CandidatePair& pair, base::Instant now) {
    const auto id = new_transaction_id();
    const bool use_candidate = controlling_ && pair.nominate_on_success;
    // §7.2.2 / §7.1: a Binding request with USERNAME "remote:local",
    // PRIORITY, the role and tie-breaker, USE-CANDIDATE when nominating,
    // MESSAGE-INTEGRITY with the peer's password, FINGERPRINT.
    stun::MessageWriter w(stun::Class::Request, stun::Method::Binding, id);
    w.add_username(remote_->ufrag + ":" + local_.ufrag);
    w.add_u32(stun::AttributeType::Priority, prflx_priority(pair.local));
    if (controlling_) {
        w.add_u64(stun::AttributeType::IceControlling, config_.tie_breaker);
    } else {
        w.add_u64(stun::AttributeType::IceControlled, config_.tie_breaker);
    }
    if (use_candidate) w.add_flag(stun::AttributeType::UseCandidate);
    w.add_message_integrity(bytes_of(remote_->pwd));
    w.add_fingerprint();
    auto data = std::move(w).take();
    queue_transmit(pair.local, pair.remote, data);
    transactions_.push_back(Outstanding{TxKind::Check, stun::Transaction(id, std::move(data), now, config_.check_policy),
                                        pair.local, pair.remote, use_candidate, controlling_, remote_->pwd,
                                        generation_});
    pair.state = PairState::InProgress;
    if (use_candidate) nominating_ = CheckList::Key{pair.local, pair.remote};
    last_transaction_start_ = now;
}

void Agent::send_consent(base::Instant now) {
    const Selected& s = *selected_;
    const auto id = new_transaction_id();
    // RFC 7675 §5.1: a consent check is an ICE connectivity check on the
    // selected pair (with USE-CANDIDATE from the controlling side, which
    // keeps the nomination in place at a peer that lost track of it).
    stun::MessageWriter w(stun::Class::Request, stun::Method::Binding, id);
    w.add_username(s.remote_creds.ufrag + ":" + s.local_creds.ufrag);
    w.add_u32(stun::AttributeType::Priority, prflx_priority(s.local));
    if (controlling_) {
        w.add_u64(stun::AttributeType::IceControlling, config_.tie_breaker);
        w.add_flag(stun::AttributeType::UseCandidate);
    } else {
        w.add_u64(stun::AttributeType::IceControlled, config_.tie_breaker);
    }
    w.add_message_integrity(bytes_of(s.remote_creds.pwd));
    w.add_fingerprint();
    auto data = std::move(w).take();
    queue_transmit(s.local, s.remote, data);
    // Bound the consent transactions in flight: the oldest gives way.
    const auto in_flight = std::count_if(transactions_.begin(), transactions_.end(),
                                         [](const Outstanding& o) { return o.kind == TxKind::Consent; });
    if (static_cast<std::size_t>(in_flight) >= kMaxConsentInFlight) {
        transactions_.erase(std::find_if(transactions_.begin(), transactions_.end(),
                                         [](const Outstanding& o) { return o.kind == TxKind::Consent; }));
    }
    transactions_.push_back(Outstanding{TxKind::Consent,
                                        stun::Transaction(id, std::move(data), now, config_.check_policy), s.local,
                                        s.remote, false, controlling_, s.remote_creds.pwd, s.generation});
    if (!consent_unanswered_since_) consent_unanswered_since_ = now;
    consent_next_ = now + consent_jitter();
    last_transaction_start_ = now;
}

void Agent::start_next_transaction(base::Instant now) {
    // §14.2: one new transaction per Ta across the agent. Order: consent
    // (keeps the connection), triggered checks (§6.1.4.1), gathering, then
    // the ordinary check of the highest-priority Waiting pair (§6.1.4.2).
    if (!active() || !slot_free(now)) return;
    if (selected_ && now >= consent_next_) {
        send_consent(now);
        return;
    }
    if (transactions_.size() >= max_transactions()) return;
    if (remote_) {
        while (const auto key = checklist_.pop_triggered()) {
            CandidatePair* pair = checklist_.find(key->first, key->second);
            if (pair == nullptr || pair->state == PairState::InProgress) continue;
            send_check(*pair, now);
            return;
        }
    }
    if (!pending_gathers_.empty()) {
        const auto [local, server] = pending_gathers_.front();
        pending_gathers_.pop_front();
        send_gather(local, server, now);
        return;
    }
    if (remote_ && !selected_nominated_) {
        if (CandidatePair* pair = checklist_.next_ordinary()) send_check(*pair, now);
    }
}

// ---------------------------------------------------------------------------
// Nomination and state

void Agent::maybe_nominate(base::Instant now) {
    // §8.1.1 regular nomination: once a pair is valid (and higher-priority
    // pairs had a short while to succeed), check it again with USE-CANDIDATE.
    if (!controlling_ || nominating_ || selected_nominated_ || !remote_ || !first_valid_at_) return;
    CandidatePair* best = checklist_.best_valid();
    if (best == nullptr) return;
    const auto best_priority = best->priority;
    const bool better_pending = std::any_of(
        checklist_.pairs().begin(), checklist_.pairs().end(), [&](const CandidatePair& p) {
            return p.priority > best_priority && (p.state == PairState::Frozen || p.state == PairState::Waiting ||
                                                  p.state == PairState::InProgress);
        });
    if (better_pending && now < *first_valid_at_ + nomination_wait(*best)) return;
    best->nominate_on_success = true;
    nominating_ = CheckList::Key{best->local, best->remote};
    checklist_.enqueue_triggered(best->local, best->remote);
}

bool Agent::relayed(const CandidatePair& p) const {
    if (local_type(p.local) == CandidateType::Relayed) return true;
    for (const auto& c : remote_candidates_)
        if (c.address == p.remote) return c.type == CandidateType::Relayed;
    return false;
}

base::Duration Agent::nomination_wait(const CandidatePair& best) const {
    if (!relayed(best)) return config_.nomination_delay;
    const bool direct_pending = std::any_of(
        checklist_.pairs().begin(), checklist_.pairs().end(), [&](const CandidatePair& p) {
            return p.priority > best.priority && !relayed(p) &&
                   (p.state == PairState::Frozen || p.state == PairState::Waiting || p.state == PairState::InProgress);
        });
    return direct_pending ? std::max(config_.nomination_delay, config_.relay_nomination_delay) : config_.nomination_delay;
}

void Agent::select(const CandidatePair& pair, base::Instant now) {
    if (!remote_) return;
    if (selected_ && selected_->generation == generation_) {
        if (selected_->local == pair.local && selected_->remote == pair.remote) return;
        // §8.1.1: of several nominated pairs the highest-priority one is used.
        if (selected_->priority > pair.priority) return;
    }
    selected_ = Selected{pair.local, pair.remote, local_, *remote_, pair.priority, generation_};
    selected_remote_type_.reset();
    for (const auto& c : remote_candidates_)
        if (c.address == pair.remote) selected_remote_type_ = c.type;
    selected_nominated_ = true;
    remote_restarted_ = false;
    // §8.1.2: retransmissions of checks on lower-priority pairs stop; those
    // pairs will not be used.
    const auto sel_priority = pair.priority;
    const CheckList::Key sel_key{pair.local, pair.remote};
    transactions_.erase(
        std::remove_if(transactions_.begin(), transactions_.end(),
                       [&](const Outstanding& o) {
                           if (o.kind != TxKind::Check || CheckList::Key{o.local, o.remote} == sel_key) return false;
                           const CandidatePair* p = checklist_.find(o.local, o.remote);
                           return p == nullptr || p->priority < sel_priority;
                       }),
        transactions_.end());
    for (auto& p : checklist_.pairs()) {
        if (p.state == PairState::InProgress && p.priority < sel_priority &&
            CheckList::Key{p.local, p.remote} != sel_key) {
            p.state = PairState::Failed;
        }
    }
    last_consent_ok_ = now;
    consent_unanswered_since_.reset();
    consent_next_ = now + consent_jitter();
    // §8.1.2: nominated, so unchecked pairs go and no ordinary checks start.
    checklist_.remove_unchecked();
    emit(event::SelectedPair{pair.local, pair.remote});
}

void Agent::update_state(base::Instant now) {
    if (!active()) return;
    report_data_pair();
    if (selected_) {
        // RFC 7675 §5.1: consent expires consent_timeout after the last answer.
        if (now - last_consent_ok_ >= config_.consent_timeout) {
            fail();
            return;
        }
        if (consent_unanswered_since_ && now - *consent_unanswered_since_ >= config_.disconnected_after) {
            set_state(IceState::Disconnected);
            return;
        }
        if (state_ == IceState::Completed) return;
        // Completed (controlling): nominated, the peer has no more candidates
        // and no check is still running.
        const bool done = controlling_ && selected_nominated_ && selected_->generation == generation_ &&
                          end_of_remote_ && !checklist_.any_in_progress() && !checklist_.has_triggered();
        set_state(done ? IceState::Completed : IceState::Connected);
        return;
    }
    // The relay policy with every TURN server failed (or none given): no
    // pair can ever form, and the peer's checks cannot reach a host socket.
    if (config_.relay_only && gathering_reported_ && !gathering_held_ &&
        std::none_of(hosts_.begin(), hosts_.end(), [](const HostSocket& h) { return h.usable; })) {
        if (checks_since_) fail();
        return;
    }
    if (!checks_since_) return;  // no remote credentials yet
    if (now - *checks_since_ >= config_.failed_timeout) {
        fail();
        return;
    }
    // RFC 8838 §8 / RFC 8445 §7.2.5.4: every pair failed and the peer has no
    // more candidates. When we skipped an mDNS candidate the peer may still
    // reach us (peer-reflexive), so only failed_timeout ends that wait; so
    // does an empty checklist: the peer's checks may still teach us a
    // peer-reflexive candidate (§7.3.1.3), as browsers wait for it.
    if (end_of_remote_ && !ignored_remote_ && !checklist_.pairs().empty() && checklist_.exhausted() &&
        !checklist_.any_valid() && !nominating_) {
        fail();
        return;
    }
    if (state_ == IceState::New && !checklist_.pairs().empty()) set_state(IceState::Checking);
    // W3C iceConnectionState "connected": a usable connection was found,
    // checks (and the nomination) still go on; data may use it (§12.1).
    if (checklist_.best_valid() != nullptr) set_state(IceState::Connected);
}

void Agent::report_data_pair() {
    auto pair = data_pair();
    if (!pair || pair == reported_data_pair_) return;
    reported_data_pair_ = pair;
    emit(event::DataPairChange{pair->first, pair->second});
}

void Agent::fail() {
    set_state(IceState::Failed);
    selected_.reset();
    transactions_.clear();
    pending_gathers_.clear();
    nominating_.reset();
    if (!gathering_reported_) {
        gathering_reported_ = true;
        emit(event::GatheringComplete{});
    }
}

void Agent::set_state(IceState s) {
    if (s == state_) return;
    state_ = s;
    emit(event::StateChange{s});
}

void Agent::reset_checks() {
    ++generation_;
    remote_.reset();
    remote_candidates_.clear();
    checklist_.clear();
    transactions_.erase(std::remove_if(transactions_.begin(), transactions_.end(),
                                       [](const Outstanding& o) { return o.kind == TxKind::Check; }),
                        transactions_.end());
    nominating_.reset();
    first_valid_at_.reset();
    checks_since_.reset();
    end_of_remote_ = false;
    ignored_remote_ = false;
    selected_nominated_ = false;
}

void Agent::restart(Credentials new_local, base::Instant now) {
    advance(now);
    if (state_ == IceState::Closed) return;
    // The peer's restart came first (we answer its offer): its new
    // credentials and candidates already belong to the new generation.
    std::optional<Credentials> keep_remote;
    std::vector<Candidate> keep_candidates;
    const bool keep_end = end_of_remote_, keep_ignored = ignored_remote_;
    if (remote_restarted_ && remote_) {
        keep_remote = remote_;
        keep_candidates = remote_candidates_;
    }
    remote_restarted_ = false;
    reset_checks();
    local_ = std::move(new_local);
    if (keep_remote) {
        remote_ = keep_remote;
        checks_since_ = now;
        end_of_remote_ = keep_end;
        ignored_remote_ = keep_ignored;
        remote_candidates_ = std::move(keep_candidates);
        for (const auto& c : remote_candidates_) pair_with_hosts(c);
    }
    if (state_ == IceState::Failed) set_state(IceState::New);
    if (state_ == IceState::Completed) set_state(IceState::Connected);
    // §9 / RFC 8838 §4.1: the same host and server-reflexive candidates are
    // signalled again in the new generation.
    // Under the relay policy (it may have changed: set_relay_only) only the
    // relayed ones; a host socket that became usable gets its candidates.
    std::vector<Candidate> again;
    for (const auto& c : local_candidates_) {
        if (c.type == CandidateType::PeerReflexive) continue;
        const base::Endpoint base = c.type == CandidateType::ServerReflexive && c.related ? *c.related : c.address;
        const HostSocket* h = host(base);
        if (c.type != CandidateType::Relayed && (h == nullptr || !h->usable)) continue;
        again.push_back(c);
    }
    local_candidates_.clear();
    for (auto& c : again) emit_local_candidate(std::move(c));
    for (const auto& h : hosts_) {
        if (h.type != CandidateType::Host || !h.usable) continue;
        const bool announced = std::any_of(again.begin(), again.end(), [&](const Candidate& c) {
            return c.type == CandidateType::Host && c.address == h.address;
        });
        if (announced) continue;
        emit_local_candidate(host_candidate(h));
    }
    // §9 leaves re-gathering to us: server-reflexive candidates are signalled
    // again above; a STUN server not asked yet from a host socket (new ones
    // from setConfiguration, or a socket that became usable) is asked now.
    for (const auto& h : hosts_) {
        if (h.type != CandidateType::Host || !h.usable || h.transport != Transport::Udp) continue;
        for (const auto& server : stun_servers_) {
            if (!same_family(h.address, server)) continue;
            const bool have = std::any_of(local_candidates_.begin(), local_candidates_.end(), [&](const Candidate& c) {
                return c.type == CandidateType::ServerReflexive && c.related == h.address &&
                       c.foundation == candidate_foundation(CandidateType::ServerReflexive, h.address.ip, server.ip,
                                                            Transport::Udp);
            });
            const bool queued = std::find(pending_gathers_.begin(), pending_gathers_.end(),
                                          std::make_pair(h.address, server)) != pending_gathers_.end();
            if (!have && !queued) pending_gathers_.emplace_back(h.address, server);
        }
    }
    gathering_reported_ = false;
    gather_check_due_ = true;
    update_state(now);
}

void Agent::close() {
    if (state_ == IceState::Closed) return;
    set_state(IceState::Closed);
    selected_.reset();
    transactions_.clear();
    pending_gathers_.clear();
    checklist_.clear();
    transmits_.clear();
}

std::optional<std::pair<base::Endpoint, base::Endpoint>> Agent::selected_pair() const {
    if (!selected_ || !active()) return std::nullopt;
    return std::make_pair(selected_->local, selected_->remote);
}

std::optional<std::pair<base::Endpoint, base::Endpoint>> Agent::data_pair() const {
    if (!active()) return std::nullopt;
    if (selected_) return std::make_pair(selected_->local, selected_->remote);
    if (const CandidatePair* p = checklist_.best_valid()) return std::make_pair(p->local, p->remote);
    return std::nullopt;
}

std::pair<std::optional<CandidateType>, std::optional<CandidateType>> Agent::pair_types(
    const base::Endpoint& local, const base::Endpoint& remote) const {
    std::optional<CandidateType> ours = local_type(local), theirs;
    // Behind a NAT the peer sees our mapped address: a server- or
    // peer-reflexive candidate of this base (§7.2.5.3.1).
    if (const CandidatePair* p = checklist_.find(local, remote); p && p->mapped && *p->mapped != local &&
                                                                  ours == CandidateType::Host) {
        ours = CandidateType::PeerReflexive;
        for (const auto& c : local_candidates_)
            if (c.address == *p->mapped) ours = c.type;
    }
    for (const auto& c : remote_candidates_)
        if (c.address == remote) theirs = c.type;
    if (!theirs && selected_ && selected_->remote == remote) theirs = selected_remote_type_;
    return {ours, theirs};
}

bool Agent::accepts_data(const base::Endpoint& local, const base::Endpoint& from) const {
    if (!active()) return false;
    if (selected_ && selected_->local == local && selected_->remote == from) return true;
    const CandidatePair* p = checklist_.find(local, from);
    return p != nullptr && (p->valid || p->peer_checked);
}

// ---------------------------------------------------------------------------
// Time

void Agent::handle_timeout(base::Instant now) {
    advance(now);
    now = last_now_;
    if (state_ == IceState::Closed) return;
    if (active()) {
        // Retransmissions (RFC 8489 §6.2.1) and timeouts.
        std::vector<Outstanding> failed;
        for (std::size_t i = 0; i < transactions_.size();) {
            auto& o = transactions_[i];
            const auto deadline = o.tx.deadline();
            if (deadline && *deadline <= now) {
                if (o.tx.on_timeout(now) == stun::Transaction::Step::Retransmit) {
                    queue_transmit(o.local, o.remote, o.tx.request());
                }
            }
            if (o.tx.failed()) {
                failed.push_back(std::move(o));
                transactions_.erase(transactions_.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        for (const auto& o : failed) on_transaction_failed(o);
        maybe_nominate(now);
        start_next_transaction(now);
    }
    if (gather_check_due_) {
        gather_check_due_ = false;
        const bool gathering = !pending_gathers_.empty() ||
                               std::any_of(transactions_.begin(), transactions_.end(),
                                           [](const Outstanding& o) { return o.kind == TxKind::Gather; });
        if (!gathering && !gathering_reported_ && !gathering_held_) {
            gathering_reported_ = true;
            emit(event::GatheringComplete{});
        }
    }
    update_state(now);
}

std::optional<base::Instant> Agent::poll_timeout() const {
    if (state_ == IceState::Closed) return std::nullopt;
    std::optional<base::Instant> t;
    const auto consider = [&t](base::Instant x) {
        if (!t || x < *t) t = x;
    };
    if (gather_check_due_) consider(last_now_);
    if (active()) {
        const base::Instant slot =
            last_transaction_start_ ? std::max(*last_transaction_start_ + config_.ta, last_now_) : last_now_;
        const bool room = transactions_.size() < max_transactions();
        const bool check_work =
            remote_ && (checklist_.has_triggered() || (!selected_nominated_ && checklist_.has_ordinary_work()));
        if (room && (check_work || !pending_gathers_.empty())) consider(slot);
        if (selected_) {
            consider(std::max(consent_next_, slot));
            consider(last_consent_ok_ + config_.consent_timeout);
            if (consent_unanswered_since_ && state_ != IceState::Disconnected) {
                consider(*consent_unanswered_since_ + config_.disconnected_after);
            }
        } else if (checks_since_) {
            consider(*checks_since_ + config_.failed_timeout);
        }
        for (const auto& o : transactions_) {
            if (const auto d = o.tx.deadline()) consider(*d);
        }
        if (controlling_ && !nominating_ && !selected_nominated_ && remote_ && first_valid_at_) {
            if (const CandidatePair* best = checklist_.best_valid()) consider(*first_valid_at_ + nomination_wait(*best));
        }
    }
    if (t) return std::max(*t, last_now_);
    return t;
}

// ---------------------------------------------------------------------------
// Outputs

void Agent::queue_transmit(const base::Endpoint& local, const base::Endpoint& to, std::vector<std::byte> data) {
    if (transmits_.size() >= kMaxTransmits) return;  // the runtime is not draining: drop, STUN retransmits
    transmits_.push_back(Transmit{local, to, std::move(data)});
}

void Agent::emit(Event e) {
    if (events_.size() >= kMaxEvents) return;
    events_.push_back(std::move(e));
}

std::optional<Transmit> Agent::poll_transmit() {
    if (transmits_.empty()) return std::nullopt;
    Transmit t = std::move(transmits_.front());
    transmits_.pop_front();
    return t;
}

std::optional<Event> Agent::poll_event() {
    if (events_.empty()) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
}

}  // namespace duplex::proto::ice
