// rtc::Peer::set_ice_servers (W3C setConfiguration): new STUN and TURN
// servers and the relay policy take effect at the next ICE restart, not
// before; the restart then gathers through them, and under the relay policy
// no host candidate is signalled any more.
#include "proto/rtc/peer.hpp"
#include "proto/stun/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::proto;
using namespace duplex::proto::rtc;

namespace {

const base::Endpoint kHost{*base::IpAddress::parse("127.0.0.1"), 40000};
const base::Endpoint kStun{*base::IpAddress::parse("203.0.113.5"), 3478};
const base::Endpoint kTurn{*base::IpAddress::parse("203.0.113.6"), 3478};

/// Runs the peer's timers for `span` and returns what it sent where, and the
/// candidates it signalled.
struct Seen {
    std::vector<std::pair<base::Endpoint, std::uint16_t>> requests;  // destination, STUN method
    std::vector<std::string> candidates;
};
Seen run(Peer& p, base::Instant& now, base::Duration span) {
    Seen seen;
    const auto end = now + span;
    for (int guard = 0; guard < 1000 && now < end; ++guard) {
        while (auto t = p.poll_transmit()) {
            auto m = stun::Message::parse(t->data);
            if (m && m->cls() == stun::Class::Request) seen.requests.emplace_back(t->destination, m->method());
        }
        while (auto ev = p.poll_event())
            if (auto* c = std::get_if<event::LocalCandidate>(&*ev); c && !c->candidate.empty()) seen.candidates.push_back(c->candidate);
        const auto t = p.poll_timeout();
        now = t && *t < end ? std::max(*t, now) : end;
        p.handle_timeout(now);
    }
    return seen;
}

bool sent(const Seen& s, const base::Endpoint& to, stun::Method m) {
    for (const auto& [dest, method] : s.requests)
        if (dest == to && method == static_cast<std::uint16_t>(m)) return true;
    return false;
}

void offer(Peer& p, base::Instant now) {
    auto o = p.create_offer();
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(p.set_local_description(SdpKind::Offer, *o, now).ok());
}

}  // namespace

TEST(PeerConfiguration, NewServersAndThePolicyWaitForTheNextRestart) {
    auto now = base::Instant{} + base::seconds(1);
    auto created = Peer::create({}, now);
    ASSERT_TRUE(created.ok());
    auto& p = **created;
    p.add_host(kHost, now);
    p.hosts_complete(now);
    ChannelOptions o;
    o.label = "x";
    ASSERT_TRUE(p.create_channel(o, now).ok());
    offer(p, now);
    auto first = run(p, now, base::seconds(1));
    ASSERT_FALSE(first.candidates.empty());

    p.set_ice_servers({kStun}, {TurnServer{kTurn, "u", "p", ice::RelayProtocol::Udp, "turn:203.0.113.6", "203.0.113.6"}},
                      false);
    auto before = run(p, now, base::seconds(2));
    EXPECT_FALSE(sent(before, kStun, stun::Method::Binding)) << "used before the restart";
    EXPECT_FALSE(sent(before, kTurn, stun::Method::Allocate)) << "used before the restart";

    p.restart_ice();
    offer(p, now);
    auto after = run(p, now, base::seconds(1));
    EXPECT_TRUE(sent(after, kStun, stun::Method::Binding));
    EXPECT_TRUE(sent(after, kTurn, stun::Method::Allocate));
    bool host = false;
    for (const auto& c : after.candidates) host = host || c.find(" typ host") != std::string::npos;
    EXPECT_TRUE(host);

    // The relay policy, at the next restart: no host candidate is signalled,
    // and no STUN server asked (the last gather's retransmissions over first).
    (void)run(p, now, base::seconds(6));
    p.set_ice_servers({}, {TurnServer{kTurn, "u", "p", ice::RelayProtocol::Udp, "turn:203.0.113.6", "203.0.113.6"}},
                      true);
    p.restart_ice();
    offer(p, now);
    auto relay_only = run(p, now, base::seconds(1));
    for (const auto& c : relay_only.candidates) EXPECT_EQ(c.find(" typ host"), std::string::npos) << c;
    EXPECT_FALSE(sent(relay_only, kStun, stun::Method::Binding));
}

namespace {

const base::Endpoint kTurn2{*base::IpAddress::parse("203.0.113.7"), 3478};
const base::Endpoint kRelayed{*base::IpAddress::parse("203.0.113.6"), 50000};

/// A TURN server in a few lines: the 401 round, then success, for Allocate;
/// Refresh answered with `refresh_code` (0: success).
struct MiniTurn {
    base::Endpoint at;
    std::uint16_t refresh_code = 0;
    int allocates = 0;
    std::vector<std::byte> key() const {
        auto k = stun::long_term_key("u", "realm", "p");
        return {k.begin(), k.end()};
    }
    std::optional<std::vector<std::byte>> answer(base::Bytes request) {
        auto m = stun::Message::parse(request);
        if (!m || m->cls() != stun::Class::Request) return std::nullopt;
        if (m->is(stun::Class::Request, stun::Method::Allocate)) {
            ++allocates;
            if (!m->has(stun::AttributeType::MessageIntegrity)) {
                stun::MessageWriter w(stun::Class::ErrorResponse, stun::Method::Allocate, m->transaction_id());
                w.add_error_code(401, "Unauthorized");
                w.add_string(stun::AttributeType::Realm, "realm");
                w.add_string(stun::AttributeType::Nonce, "nonce");
                return std::move(w).take();
            }
            stun::MessageWriter w(stun::Class::SuccessResponse, stun::Method::Allocate, m->transaction_id());
            // A new port for each allocation: a dead one must not come back.
            w.add_xor_address(stun::AttributeType::XorRelayedAddress,
                              base::Endpoint{at.ip, static_cast<std::uint16_t>(kRelayed.port + allocates)});
            w.add_xor_mapped_address(kHost);
            w.add_u32(stun::AttributeType::Lifetime, 600);
            w.add_message_integrity(key());
            return std::move(w).take();
        }
        if (m->is(stun::Class::Request, stun::Method::Refresh) && refresh_code != 0) {
            stun::MessageWriter w(stun::Class::ErrorResponse, stun::Method::Refresh, m->transaction_id());
            w.add_error_code(refresh_code, "Allocation Mismatch");
            w.add_message_integrity(key());
            return std::move(w).take();
        }
        stun::MessageWriter w(stun::Class::SuccessResponse, static_cast<stun::Method>(m->method()), m->transaction_id());
        w.add_message_integrity(key());
        return std::move(w).take();
    }
};

/// Runs the peer for `span`, the TURN servers answering; the candidates it
/// signalled and the candidate errors it reported.
struct Outcome {
    std::vector<std::string> candidates;
    std::vector<event::CandidateError> errors;
};
Outcome serve(Peer& p, base::Instant& now, base::Duration span, std::vector<MiniTurn*> servers) {
    Outcome o;
    const auto end = now + span;
    for (int guard = 0; guard < 2000 && now < end; ++guard) {
        for (bool any = true; any;) {
            any = false;
            while (auto t = p.poll_transmit()) {
                any = true;
                for (auto* s : servers)
                    if (t->destination == s->at)
                        if (auto a = s->answer(t->data)) p.handle_datagram(t->local, s->at, *a, now);
            }
            while (auto ev = p.poll_event()) {
                any = true;
                if (auto* c = std::get_if<event::LocalCandidate>(&*ev); c && !c->candidate.empty())
                    o.candidates.push_back(c->candidate);
                if (auto* e = std::get_if<event::CandidateError>(&*ev)) o.errors.push_back(*e);
            }
        }
        const auto t = p.poll_timeout();
        now = t && *t < end ? std::max(*t, now) : end;
        p.handle_timeout(now);
    }
    return o;
}

int relay_candidates(const Outcome& o, const base::IpAddress& ip) {
    int n = 0;
    for (const auto& c : o.candidates)
        if (c.find(" typ relay") != std::string::npos && c.find(" " + ip.to_string() + " ") != std::string::npos) ++n;
    return n;
}

}  // namespace

TEST(PeerRelays, EachTurnServerGivesARelayedCandidateAndALostOneIsMadeAgainAtTheRestart) {
    auto now = base::Instant{} + base::seconds(1);
    PeerConfig cfg;
    cfg.turn_servers = {TurnServer{kTurn, "u", "p", ice::RelayProtocol::Udp, "turn:203.0.113.6", "203.0.113.6"},
                        TurnServer{kTurn2, "u", "p", ice::RelayProtocol::Udp, "turn:203.0.113.7", "203.0.113.7"}};
    auto created = Peer::create(cfg, now);
    ASSERT_TRUE(created.ok());
    auto& p = **created;
    p.add_host(kHost, now);
    p.hosts_complete(now);
    ChannelOptions o;
    o.label = "x";
    ASSERT_TRUE(p.create_channel(o, now).ok());
    MiniTurn one{kTurn}, two{kTurn2};
    offer(p, now);
    auto first = serve(p, now, base::seconds(1), {&one, &two});
    // Several servers at once: a relayed candidate from each.
    EXPECT_EQ(relay_candidates(first, kTurn.ip), 1);
    EXPECT_EQ(relay_candidates(first, kTurn2.ip), 1);
    EXPECT_TRUE(first.errors.empty());

    // The first server loses the allocation (437 to the Refresh at 540 s).
    one.refresh_code = 437;
    auto lost = serve(p, now, base::seconds(600), {&one, &two});
    ASSERT_EQ(lost.errors.size(), 1u);
    EXPECT_EQ(lost.errors[0].code, 437);
    EXPECT_EQ(lost.errors[0].url, "turn:203.0.113.6");

    // An ICE restart allocates there again; the other relay stays as it is.
    one.refresh_code = 0;
    const int allocates_before = one.allocates, others_before = two.allocates;
    p.restart_ice();
    offer(p, now);
    auto again = serve(p, now, base::seconds(1), {&one, &two});
    EXPECT_GT(one.allocates, allocates_before);
    EXPECT_EQ(two.allocates, others_before);
    EXPECT_EQ(relay_candidates(again, kTurn.ip), 1);   // the new allocation's only: the lost one is not signalled
    EXPECT_EQ(relay_candidates(again, kTurn2.ip), 1);  // signalled again in the new generation
}
