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
