// proto/rtc/negotiation.cpp: rtc::Peer's JSEP (RFC 8829): offers and
// answers, the W3C signaling state, rollback (explicit, and the implicit one
// of perfect negotiation), ICE restarts, and what the descriptions tell the
// transport (its ICE role, the remote's credentials and candidates, the DTLS
// role and fingerprint). The parts themselves are composed in peer.cpp.
#include "proto/rtc/peer_impl.hpp"

#include "base/enum_cast.hpp"

namespace duplex::proto::rtc {

namespace {

sdp::SdpType to_sdp_type(SdpKind k) {
    switch (k) {
        case SdpKind::Offer: return sdp::SdpType::Offer;
        case SdpKind::Answer: return sdp::SdpType::Answer;
        case SdpKind::Pranswer: return sdp::SdpType::Pranswer;
        case SdpKind::Rollback: return sdp::SdpType::Rollback;
    }
    return sdp::SdpType::Offer;
}

base::Status status_of(const sdp::SignalingResult& r) {
    if (auto* e = std::get_if<sdp::SignalingError>(&r)) return rtc_error(Errc::invalid_state, e->message);
    return {};
}

#define SAME(name) DUPLEX_SAME_ENUMERATOR(SignalingState, sdp::SignalingState, name)
SAME(Stable);
SAME(HaveLocalOffer);
SAME(HaveRemoteOffer);
SAME(HaveLocalPranswer);
SAME(HaveRemotePranswer);
SAME(Closed);
#undef SAME

SignalingState convert(sdp::SignalingState s) { return base::same_order_cast<SignalingState>(s); }

// RFC 8842 §5.2: once the DTLS roles are fixed, a new description keeps them.
std::optional<sdp::Setup> fixed_setup(const Transport& t) {
    auto role = t.dtls_role();
    if (!role) return std::nullopt;
    return *role == dtls::Role::Client ? sdp::Setup::Active : sdp::Setup::Passive;
}

}  // namespace

// ----------------------------------------------------------- Impl's part --

/// Undoes our pending offer (W3C webrtc-pc §4.4.1.5 rollback; also the
/// implicit rollback of a colliding remote offer in perfect negotiation).
/// In the first negotiation nothing was established yet: the ICE agent
/// started as the controlling side is dropped, and the one made for the
/// remote offer will be controlled (RFC 8445 §6.1.1: the offerer controls).
void Peer::Impl::rollback_local_offer() {
    local_desc = rollback_local;
    rollback_local.reset();
    media.unassign_mids(offered_mids);
    offered_mids.clear();
    if (!remote_desc && !transport.has_dtls()) {
        transport.drop_agent();
        offerer = false;
    }
}

/// Both descriptions are known: the DTLS role follows from a=setup
/// (RFC 8842 §5): the answerer picks active (client) or passive (server).
void Peer::Impl::ensure_dtls(base::Instant now) {
    if (transport.has_dtls() || !remote || !local_desc) return;
    dtls::Role role;
    if (offerer) role = remote->setup == sdp::Setup::Passive ? dtls::Role::Client : dtls::Role::Server;
    else role = remote->setup == sdp::Setup::Active ? dtls::Role::Server : dtls::Role::Client;
    channels.set_dtls_role(role == dtls::Role::Client);
    transport.start_dtls(role, remote->fingerprint_algorithm, remote->fingerprint, now);
    update_connection_state();
}

bool Peer::Impl::accepts_section(const sdp::Media& m, SdpKind kind) const {
    if (sdp::is_data_channel_section(m)) return true;
    if (!sdp::is_rtp_section(m) || (m.rejected() && !m.has_attribute("bundle-only"))) return false;
    if (kind != SdpKind::Offer) return true;  // an answer rejected what it did not take
    // An offered section we will accept (the rule of Media::answer_section:
    // rtcp-mux, and a codec we carry).
    if (!m.has_attribute("rtcp-mux")) return false;
    auto read = sdp::read_rtp_section(m);
    auto* s = std::get_if<sdp::RtpSection>(&read);
    return s != nullptr && media.would_answer(*s);
}

void Peer::Impl::apply_media() {
    if (!local_desc || !remote_desc || media.empty()) return;
    auto l = sdp::parse(local_desc->second);
    auto r = sdp::parse(remote_desc->second);
    auto* ld = std::get_if<sdp::SessionDescription>(&l);
    auto* rd = std::get_if<sdp::SessionDescription>(&r);
    if (ld == nullptr || rd == nullptr) return;
    const sdp::SessionDescription& answer = local_desc->first == SdpKind::Answer ? *ld : *rd;
    for (const auto& am : answer.media) {
        if (!sdp::is_rtp_section(am)) continue;
        const auto section_mid = am.mid();
        if (!section_mid) continue;
        if (am.rejected()) {  // refused, or stopped by either side
            media.stop(std::string(*section_mid));
            continue;
        }
        const auto* lm = ld->find_media(*section_mid);
        const auto* rm = rd->find_media(*section_mid);
        if (lm == nullptr || rm == nullptr) continue;
        auto ls = sdp::read_rtp_section(*lm);
        auto rs = sdp::read_rtp_section(*rm);
        auto as = sdp::read_rtp_section(am);
        if (!std::holds_alternative<sdp::RtpSection>(ls) || !std::holds_alternative<sdp::RtpSection>(rs) ||
            !std::holds_alternative<sdp::RtpSection>(as))
            continue;
        media.apply(std::get<sdp::RtpSection>(ls), std::get<sdp::RtpSection>(rs), std::get<sdp::RtpSection>(as));
    }
}

base::Status Peer::Impl::apply_remote(const sdp::SessionDescription& d, SdpKind kind, base::Instant now) {
    auto r = sdp::extract_remote(d, [&](std::size_t, const sdp::Media& m) { return accepts_section(m, kind); });
    if (auto* e = std::get_if<sdp::JsepError>(&r)) return rtc_error(Errc::invalid_argument, e->message);
    auto& rp = std::get<sdp::RemoteParams>(r);
    const bool restart = remote && (remote->ice_ufrag != rp.ice_ufrag || remote->ice_pwd != rp.ice_pwd);
    if (remote && remote->fingerprint != rp.fingerprint && transport.has_dtls())
        return rtc_error(Errc::invalid_argument, "the remote DTLS fingerprint changed during the session");
    remote = rp;
    if (kind == SdpKind::Offer) {
        // The data channels keep their own m= line's mid (none yet if the
        // offer has no data section: our next offer adds one if a channel
        // needs it); candidates go under the BUNDLE tag.
        if (rp.has_data_channel) mid = rp.mid.empty() ? "0" : rp.mid;
        else if (!local_desc) mid.clear();
        transport_mid = rp.transport_mid.empty() ? (mid.empty() ? "0" : mid) : rp.transport_mid;
        transport.set_mid(transport_mid);
    }
    transport.ensure_agent(offerer, now);
    // RFC 8445 §9 / RFC 8839 §4.4.1.1.1: an offer with new credentials
    // restarts ICE; the answer then carries new credentials of ours too
    // (the agent restarts when that answer is set as local description).
    if (restart && kind == SdpKind::Offer) transport.new_local_credentials();
    transport.set_remote_credentials(ice::Credentials{rp.ice_ufrag, rp.ice_pwd});
    for (const auto& c : rp.candidates)
        if (auto cand = ice::Candidate::parse(c)) transport.add_remote_candidate(*cand, now);
    if (rp.end_of_candidates) transport.end_of_remote_candidates();
    return {};
}

// ------------------------------------------------------------ Peer's JSEP --

base::Result<std::string> Peer::create_offer() {
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (s.signaling.state() == sdp::SignalingState::HaveRemoteOffer)
        return rtc_error(Errc::invalid_state, "create_offer: called in state have-remote-offer");
    // RFC 8842 §5.2: an offer says actpass; once the roles are fixed a new
    // offer keeps them.
    const sdp::Setup setup = fixed_setup(s.transport).value_or(sdp::Setup::ActPass);
    const auto local = s.transport.local_params(setup, s.config.max_message_size);
    if (s.media.empty() && !s.mid.empty())
        return sdp::write(sdp::create_offer(local, s.session_id, s.session_version, s.mid));
    // RFC 8829 §5.2.2: every m= line of the current description, in order
    // (a rejected or stopped one stays, port 0); new ones follow, with mids
    // not used before.
    std::vector<sdp::OfferSection> sections;
    std::vector<std::string> taken;
    const auto* current = s.local_desc ? &s.local_desc->second : (s.remote_desc ? &s.remote_desc->second : nullptr);
    if (current) {
        auto parsed = sdp::parse(*current);
        if (auto* d = std::get_if<sdp::SessionDescription>(&parsed))
            for (const auto& m : d->media) {
                const std::string m_mid(m.mid().value_or(""));
                taken.push_back(m_mid);
                if (!m.rejected() && m_mid == s.mid) {
                    sections.push_back(sdp::OfferSection::data(m_mid));
                    continue;
                }
                if (!m.rejected())
                    if (auto rtp = s.media.offer_section(m_mid)) {
                        sections.push_back(sdp::OfferSection::media(m_mid, std::move(*rtp)));
                        continue;
                    }
                sections.push_back(sdp::OfferSection::rejected_line(m_mid, m.kind, m.protocol, m.formats));
            }
    }
    auto is_taken = [&taken](const std::string& m) { return std::find(taken.begin(), taken.end(), m) != taken.end(); };
    // The data channels' section: always in a first offer (as before), and
    // in a later one when channels exist but the session has none.
    if (s.mid.empty() && (s.channels.ever_created() > 0 || !current)) {
        for (unsigned n = 0; s.mid.empty(); ++n)
            if (auto m = std::to_string(n); !is_taken(m) && !s.media.has_mid(m)) s.mid = m;
    }
    if (!s.mid.empty() && !is_taken(s.mid)) {
        sections.push_back(sdp::OfferSection::data(s.mid));
        taken.push_back(s.mid);
    }
    s.offered_mids = s.media.assign_mids([&](const std::string& m) { return is_taken(m) || m == s.mid; });
    for (const auto& m : s.media.mids())
        if (!is_taken(m))
            if (auto rtp = s.media.offer_section(m)) sections.push_back(sdp::OfferSection::media(m, std::move(*rtp)));
    return sdp::write(sdp::create_offer(local, s.session_id, s.session_version, sections));
}

base::Result<std::string> Peer::create_answer() {
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (!s.remote_desc || s.remote_desc->first != SdpKind::Offer ||
        (s.signaling.state() != sdp::SignalingState::HaveRemoteOffer &&
         s.signaling.state() != sdp::SignalingState::HaveLocalPranswer))
        return rtc_error(Errc::invalid_state, "create_answer: there is no remote offer to answer");
    auto parsed = sdp::parse(s.remote_desc->second);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed)) return rtc_error(Errc::invalid_argument, e->to_string());
    // RFC 8842 §5.2: the answerer picks; active (DTLS client) as browsers do,
    // unless the roles were fixed by an earlier exchange.
    const sdp::Setup setup = fixed_setup(s.transport).value_or(sdp::Setup::Active);
    auto answer = sdp::create_answer(std::get<sdp::SessionDescription>(parsed),
                                     s.transport.local_params(setup, s.config.max_message_size), s.session_id,
                                     s.session_version,
                                     [&s](const sdp::RtpSection& offered) { return s.media.answer_section(offered); });
    if (auto* e = std::get_if<sdp::JsepError>(&answer)) return rtc_error(Errc::invalid_argument, e->message);
    return sdp::write(std::get<sdp::SessionDescription>(answer));
}

base::Status Peer::set_local_description(SdpKind kind, std::string_view text, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    auto probe = s.signaling;
    if (auto st = status_of(probe.set_local(to_sdp_type(kind))); !st.ok()) return st;
    if (kind == SdpKind::Rollback) {
        s.signaling = probe;
        s.rollback_local_offer();
        s.out.emit(event::SignalingChange{convert(s.signaling.state())});
        return {};
    }
    auto parsed = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed)) return rtc_error(Errc::invalid_argument, e->to_string());
    if (kind == SdpKind::Offer && !s.remote_desc) s.offerer = true;
    if (kind == SdpKind::Offer) s.rollback_local = s.local_desc;
    s.signaling = probe;
    s.local_desc = std::make_pair(kind, std::string(text));
    ++s.session_version;
    const bool had_agent = s.transport.has_agent();
    s.transport.ensure_agent(s.offerer, now);
    // Our description read from our side: its BUNDLE tag (candidates are
    // announced under it) and its credentials (new ones are an ICE restart
    // we offer, or our answer to the peer's).
    auto mine = sdp::extract_remote(std::get<sdp::SessionDescription>(parsed));
    if (auto* p = std::get_if<sdp::RemoteParams>(&mine)) {
        if (!p->transport_mid.empty()) s.transport_mid = p->transport_mid;
        s.transport.set_mid(s.transport_mid);
        if (had_agent) s.transport.use_local_credentials(ice::Credentials{p->ice_ufrag, p->ice_pwd}, now);
    }
    // Candidates gathered before the description was set are announced now.
    s.transport.announce_candidates(s.transport_mid);
    s.out.emit(event::SignalingChange{convert(s.signaling.state())});
    if (kind == SdpKind::Answer) {
        s.ensure_dtls(now);
        s.apply_media();
    }
    s.transport.pump(now);
    return {};
}

base::Status Peer::set_remote_description(SdpKind kind, std::string_view text, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (kind == SdpKind::Rollback) {
        if (auto st = status_of(s.signaling.set_remote(to_sdp_type(kind))); !st.ok()) return st;
        s.remote_desc.reset();
        s.out.emit(event::SignalingChange{convert(s.signaling.state())});
        return {};
    }
    auto parsed = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed))
        return rtc_error(Errc::invalid_argument, "invalid remote SDP: " + e->to_string());
    // Check the state first, then the content: a refused description changes nothing.
    auto probe = s.signaling;
    if (auto st = status_of(probe.set_remote(to_sdp_type(kind))); !st.ok()) return st;
    // A remote offer while ours is pending: our offer is rolled back first
    // (the implicit rollback of perfect negotiation, W3C webrtc-pc §4.4.1.6).
    if (kind == SdpKind::Offer && s.signaling.state() == sdp::SignalingState::HaveLocalOffer) s.rollback_local_offer();
    if (kind == SdpKind::Offer && !s.local_desc) s.offerer = false;
    auto st = s.apply_remote(std::get<sdp::SessionDescription>(parsed), kind, now);
    if (!st.ok()) return st;
    s.signaling = probe;
    s.remote_desc = std::make_pair(kind, std::string(text));
    s.out.emit(event::SignalingChange{convert(s.signaling.state())});
    if (kind == SdpKind::Answer) {
        s.ensure_dtls(now);
        s.apply_media();
        s.offered_mids.clear();  // the answer settled them
    }
    s.transport.pump(now);
    return {};
}

base::Status Peer::add_remote_candidate(std::string_view candidate, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (!s.remote_desc) return rtc_error(Errc::invalid_state, "add_ice_candidate: no remote description yet");
    if (candidate.empty()) {
        s.transport.end_of_remote_candidates();
        s.transport.pump(now);
        return {};
    }
    auto c = ice::Candidate::parse(candidate);
    if (!c) return rtc_error(Errc::invalid_argument, "add_ice_candidate: cannot parse \"" + std::string(candidate) + "\"");
    s.transport.add_remote_candidate(*c, now);
    s.transport.pump(now);
    return {};
}

void Peer::restart_ice() {
    auto& s = *impl_;
    if (s.closed || !s.local_desc) return;
    // The next offer carries new credentials (W3C webrtc-pc §4.4.1.6 restartIce).
    s.transport.new_local_credentials();
    s.out.emit(event::NegotiationNeeded{});
}

SignalingState Peer::signaling_state() const noexcept {
    if (impl_->closed) return SignalingState::Closed;
    return convert(impl_->signaling.state());
}
std::optional<std::pair<SdpKind, std::string>> Peer::local_description() const { return impl_->local_desc; }
std::optional<std::pair<SdpKind, std::string>> Peer::remote_description() const { return impl_->remote_desc; }

}  // namespace duplex::proto::rtc
