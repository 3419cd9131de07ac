// tests/unit/ice/agent_test.cpp: two ICE agents on a simulated network on
// virtual time (sim_network.hpp): connection in both roles, trickle,
// peer-reflexive learning behind a NAT, role conflicts, loss, consent
// freshness, failure, authentication of checks, ICE restart and Ta pacing.
#include "proto/ice/agent.hpp"
#include "sim_network.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace duplex::proto::ice {
namespace {

using namespace std::chrono_literals;
using sim::SimConfig;
using sim::SimNetwork;

base::Endpoint ep(const char* s) { return *base::Endpoint::parse(s); }

const Credentials kCredsA{"ufragA", "passwordA-0123456789abcd"};
const Credentials kCredsB{"ufragB", "passwordB-0123456789abcd"};

AgentConfig config(bool controlling, std::uint64_t tie_breaker, Credentials creds) {
    AgentConfig c;
    c.controlling = controlling;
    c.tie_breaker = tie_breaker;
    c.local = std::move(creds);
    return c;
}

bool connected(const Agent& a) {
    return a.state() == IceState::Connected || a.state() == IceState::Completed;
}

bool saw_state(const std::vector<Event>& events, IceState s) {
    for (const auto& e : events) {
        if (auto* sc = std::get_if<event::StateChange>(&e); sc && sc->state == s) return true;
    }
    return false;
}

/// Two agents, A controlling at 10.0.0.1:5000, B controlled at 10.0.0.2:6000,
/// credentials exchanged, candidates signalled by the network.
struct Pair {
    explicit Pair(SimConfig cfg = {}, bool a_controlling = true, bool b_controlling = false,
                  std::vector<base::Endpoint> a_socks = {ep("10.0.0.1:5000")},
                  std::vector<base::Endpoint> b_socks = {ep("10.0.0.2:6000")}, bool exchange = true)
        : net(cfg),
          a(config(a_controlling, 0xA000'0000'0000'0001ull, kCredsA), net.now()),
          b(config(b_controlling, 0x0B00'0000'0000'0002ull, kCredsB), net.now()) {
        if (exchange) {
            a.set_remote_credentials(kCredsB);
            b.set_remote_credentials(kCredsA);
        }
        ia = net.add_agent(a, std::move(a_socks));
        ib = net.add_agent(b, std::move(b_socks));
        net.link(ia, ib);
    }
    /// Connected with a pair selected on both sides (connected alone comes
    /// earlier: on the first valid pair).
    bool both_connected(base::Duration limit = 10s) {
        return net.run_until(
            [&] { return connected(a) && connected(b) && a.selected_pair() && b.selected_pair(); }, limit);
    }
    void expect_agreement() {
        ASSERT_TRUE(a.selected_pair());
        ASSERT_TRUE(b.selected_pair());
        // Without NAT the two selected pairs mirror each other.
        EXPECT_EQ(a.selected_pair()->first, b.selected_pair()->second);
        EXPECT_EQ(a.selected_pair()->second, b.selected_pair()->first);
    }
    SimNetwork net;
    Agent a;
    Agent b;
    int ia = 0;
    int ib = 0;
};

/// A Binding request as a peer agent would send it to `a` (whose password is kCredsA).
std::vector<std::byte> check_request(const std::string& pwd, const std::string& username, std::uint64_t tb,
                                     bool controlling, stun::TransactionId id = {std::byte(7)}) {
    stun::MessageWriter w(stun::Class::Request, stun::Method::Binding, id);
    w.add_username(username);
    w.add_u32(stun::AttributeType::Priority, 1845501695);
    w.add_u64(controlling ? stun::AttributeType::IceControlling : stun::AttributeType::IceControlled, tb);
    w.add_message_integrity(base::as_bytes(pwd));
    w.add_fingerprint();
    return std::move(w).take();
}

/// The responses sent to `to` with transaction `id`.
std::vector<stun::Message> responses(const SimNetwork& net, const base::Endpoint& to, const stun::TransactionId& id) {
    std::vector<stun::Message> out;
    for (const auto& s : net.log) {
        if (s.to != to) continue;
        auto m = stun::Message::parse(s.data);
        if (m && m->cls() != stun::Class::Request && m->transaction_id() == id) out.push_back(*m);
    }
    return out;
}

TEST(IceAgent, BothRolesConnectAndAgreeOnThePair) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    p.expect_agreement();
    EXPECT_EQ(p.a.selected_pair()->first, ep("10.0.0.1:5000"));
    EXPECT_TRUE(p.a.controlling());
    EXPECT_FALSE(p.b.controlling());
    EXPECT_TRUE(saw_state(p.net.node(p.ia).events, IceState::Checking));
    EXPECT_TRUE(saw_state(p.net.node(p.ib).events, IceState::Checking));
    // The controlling side completes: nominated, end-of-candidates, no checks left.
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Completed; }, 5s));
    // Both reported the pair as an event.
    for (int n : {p.ia, p.ib}) {
        int selected = 0;
        for (const auto& e : p.net.node(n).events) selected += std::holds_alternative<event::SelectedPair>(e);
        EXPECT_GE(selected, 1);
    }
    // And it stays up for a while: consent checks are answered.
    p.net.run_for(60s);
    EXPECT_TRUE(connected(p.a));
    EXPECT_TRUE(connected(p.b));
}

TEST(IceAgent, HostCandidatesAreSignalledAndGatheringCompletes) {
    Pair p;
    p.net.run_for(100ms);
    const auto& ev = p.net.node(p.ia).events;
    ASSERT_FALSE(ev.empty());
    auto* lc = std::get_if<event::LocalCandidate>(&ev.front());
    ASSERT_TRUE(lc);
    EXPECT_EQ(lc->candidate.address, ep("10.0.0.1:5000"));
    EXPECT_EQ(lc->candidate.type, CandidateType::Host);
    EXPECT_EQ(lc->candidate.priority, candidate_priority(CandidateType::Host, 65535));
    EXPECT_TRUE(std::any_of(ev.begin(), ev.end(),
                            [](const Event& e) { return std::holds_alternative<event::GatheringComplete>(e); }));
}

TEST(IceAgent, SeveralCandidatesEachSideAgreeOnTheSamePair) {
    Pair p({}, true, false, {ep("10.0.0.1:5000"), ep("10.0.1.1:5001"), ep("[fd00::1]:5002")},
           {ep("10.0.0.2:6000"), ep("[fd00::2]:6001")});
    ASSERT_TRUE(p.both_connected());
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Completed; }, 5s));
    p.expect_agreement();
    // Pairs are formed within one IP family only: 2×1 IPv4 + 1×1 IPv6.
    EXPECT_LE(p.a.checklist().pairs().size(), 3u);
    for (const auto& pr : p.a.checklist().pairs()) EXPECT_EQ(pr.local.ip.is_v6(), pr.remote.ip.is_v6());
}

TEST(IceAgent, TrickledCandidatesArrivingLateStillConnect) {
    Pair p;
    p.net.auto_signal = false;
    p.net.run_for(3s);
    EXPECT_EQ(p.a.state(), IceState::New);  // no remote candidate yet
    EXPECT_FALSE(p.a.selected_pair());
    // B's candidate reaches A first; A's checks teach B a peer-reflexive candidate.
    Candidate cb;
    cb.foundation = "1";
    cb.priority = candidate_priority(CandidateType::Host, 65535);
    cb.address = ep("10.0.0.2:6000");
    p.a.add_remote_candidate(cb, p.net.now());
    ASSERT_TRUE(p.both_connected(5s));
    p.expect_agreement();
    // A's candidate arrives even later: it replaces the peer-reflexive one at B.
    Candidate ca = cb;
    ca.address = ep("10.0.0.1:5000");
    p.b.add_remote_candidate(ca, p.net.now());
    p.a.end_of_remote_candidates();
    p.b.end_of_remote_candidates();
    p.net.run_for(10s);
    EXPECT_TRUE(connected(p.a));
    EXPECT_TRUE(connected(p.b));
    p.expect_agreement();
}

TEST(IceAgent, PeerReflexiveLearnedBehindNat) {
    // B sits behind a NAT: its host address is unreachable for A, and its
    // packets appear from the NAT's public address, which nobody signals.
    Pair p({}, true, false, {ep("10.0.0.1:5000")}, {ep("192.168.1.2:7000")});
    p.net.add_nat(ep("192.168.1.2:7000"), ep("203.0.113.9:40000"));
    ASSERT_TRUE(p.both_connected());
    ASSERT_TRUE(p.a.selected_pair());
    EXPECT_EQ(p.a.selected_pair()->second, ep("203.0.113.9:40000"));
    EXPECT_EQ(p.b.selected_pair()->first, ep("192.168.1.2:7000"));
    EXPECT_EQ(p.b.selected_pair()->second, ep("10.0.0.1:5000"));
    // A learned a peer-reflexive remote candidate (§7.3.1.3)…
    const auto* pr = p.a.checklist().find(ep("10.0.0.1:5000"), ep("203.0.113.9:40000"));
    ASSERT_TRUE(pr);
    EXPECT_TRUE(pr->valid);
    // …and B a peer-reflexive local one from XOR-MAPPED-ADDRESS (§7.2.5.3.1).
    const auto& locals = p.b.local_candidates();
    EXPECT_TRUE(std::any_of(locals.begin(), locals.end(), [](const Candidate& c) {
        return c.type == CandidateType::PeerReflexive && c.address == ep("203.0.113.9:40000") &&
               c.related == ep("192.168.1.2:7000");
    }));
}

TEST(IceAgent, MdnsCandidatesAreIgnoredAndPeerReflexiveStillConnects) {
    Pair p;
    // B hides its address behind an mDNS name, as browsers do.
    p.net.signal_filter = [&](int from, const Candidate& c) -> std::optional<Candidate> {
        if (from != p.ib) return c;
        Candidate hidden = c;
        hidden.hostname = "3b1ae4b2-6f4e-4c1f-9d2a-0b7e5c3aabcd.local";
        hidden.address.ip = {};
        return hidden;
    };
    ASSERT_TRUE(p.both_connected());
    p.expect_agreement();
    // A got the end-of-candidates and no usable candidate, and did not fail.
    EXPECT_FALSE(saw_state(p.net.node(p.ia).events, IceState::Failed));
}

class RoleConflict : public ::testing::TestWithParam<bool> {};

TEST_P(RoleConflict, ResolvedByTieBreaker) {
    const bool both_controlling = GetParam();
    Pair p({}, both_controlling, both_controlling);
    ASSERT_TRUE(p.both_connected());
    p.expect_agreement();
    // §7.3.1.1: the larger tie-breaker (A's) ends up controlling.
    EXPECT_TRUE(p.a.controlling());
    EXPECT_FALSE(p.b.controlling());
    // A 487 was sent by one of them.
    bool saw_487 = false;
    for (const auto& s : p.net.log) {
        auto m = stun::Message::parse(s.data);
        if (m && m->cls() == stun::Class::ErrorResponse && m->error_code() && m->error_code()->code == 487) {
            saw_487 = true;
        }
    }
    EXPECT_TRUE(saw_487);
}

INSTANTIATE_TEST_SUITE_P(BothControllingOrBothControlled, RoleConflict, ::testing::Bool());

TEST(IceAgent, ConnectsWithTwentyPercentLossAndReordering) {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        SimConfig cfg;
        cfg.loss = 0.2;
        cfg.delay = 30ms;
        cfg.jitter = 40ms;
        cfg.seed = seed;
        Pair p(cfg, true, false, {ep("10.0.0.1:5000"), ep("10.0.1.1:5001")}, {ep("10.0.0.2:6000")});
        ASSERT_TRUE(p.both_connected(30s)) << "seed " << seed;
        // The controlled side may still be told of a better nomination; give
        // the exchange a moment, then both must agree.
        p.net.run_for(3s);
        p.expect_agreement();
    }
}

TEST(IceAgent, ConsentLostGoesDisconnectedThenFailedAfterThirtySeconds) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    p.net.run_for(2s);
    const auto cut_at = p.net.now();
    p.net.cut = true;
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Disconnected; }, 15s));
    const auto disconnected_after = p.net.now() - cut_at;
    EXPECT_GE(disconnected_after, 4s);
    EXPECT_LE(disconnected_after, 12s);
    EXPECT_TRUE(p.a.selected_pair());  // still the path to use while it may come back
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Failed; }, 40s));
    const auto failed_after = p.net.now() - cut_at;
    // RFC 7675: 30 s after the last response (which came shortly before the cut).
    EXPECT_GE(failed_after, 24s);
    EXPECT_LE(failed_after, 31s);
    EXPECT_FALSE(p.a.selected_pair());
    ASSERT_TRUE(p.net.run_until([&] { return p.b.state() == IceState::Failed; }, 10s));
    // Failed is terminal: nothing more is scheduled or sent.
    const auto sent = p.net.log.size();
    p.net.run_for(30s);
    EXPECT_EQ(p.net.log.size(), sent);
}

TEST(IceAgent, ConsentRestoredBeforeThirtySecondsReconnects) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    p.net.cut = true;
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Disconnected; }, 15s));
    ASSERT_TRUE(p.net.run_until([&] { return p.b.state() == IceState::Disconnected; }, 15s));
    p.net.run_for(5s);
    p.net.cut = false;
    ASSERT_TRUE(p.net.run_until([&] { return connected(p.a) && connected(p.b); }, 10s));
    p.net.run_for(60s);
    EXPECT_TRUE(connected(p.a));
    EXPECT_TRUE(connected(p.b));
    EXPECT_FALSE(saw_state(p.net.node(p.ia).events, IceState::Failed));
    p.expect_agreement();
}

TEST(IceAgent, NoRemoteCandidatesAndEndOfCandidatesFailsAtTheTimeout) {
    // With no pair at all the peer may still reach us (its checks teach us a
    // peer-reflexive candidate), so the agent waits for failed_timeout, as
    // browsers do, instead of failing at once.
    Pair p;
    p.net.auto_signal = false;
    p.a.end_of_remote_candidates();
    const auto t0 = p.net.now();
    EXPECT_FALSE(p.net.run_until([&] { return p.a.state() == IceState::Failed; }, 1s));
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Failed; }, 40s));
    EXPECT_GE(p.net.now() - t0, 29s);
    EXPECT_FALSE(p.a.selected_pair());
}

TEST(IceAgent, WithoutEndOfCandidatesFailsAfterTheTimeout) {
    Pair p;
    p.net.auto_signal = false;
    Candidate nowhere;
    nowhere.foundation = "9";
    nowhere.priority = 1000;
    nowhere.address = ep("10.9.9.9:9");  // nobody there
    p.a.add_remote_candidate(nowhere, p.net.now());
    const auto t0 = p.net.now();
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Failed; }, 40s));
    EXPECT_GE(p.net.now() - t0, 19s);  // the pair's check timed out, or failed_timeout
    EXPECT_LE(p.net.now() - t0, 31s);
}

TEST(IceAgent, BadIntegrityAndBadFingerprintGetNoSuccessAndChangeNothing) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    const auto state = p.a.state();
    const auto pairs = p.a.checklist().pairs().size();
    const auto stranger = ep("10.0.0.66:4444");
    const std::string username = kCredsA.ufrag + ":" + kCredsB.ufrag;

    // Wrong password → 401, no success.
    stun::TransactionId id1{std::byte(1), std::byte(2)};
    p.net.inject(p.ia, ep("10.0.0.1:5000"), stranger, check_request("wrong-password", username, 1, false, id1));
    auto r1 = responses(p.net, stranger, id1);
    ASSERT_EQ(r1.size(), 1u);
    EXPECT_EQ(r1[0].cls(), stun::Class::ErrorResponse);
    EXPECT_EQ(r1[0].error_code()->code, 401);

    // Wrong ufrag → 401.
    stun::TransactionId id2{std::byte(3)};
    p.net.inject(p.ia, ep("10.0.0.1:5000"), stranger, check_request(kCredsA.pwd, "nobody:" + kCredsB.ufrag, 1, false, id2));
    auto r2 = responses(p.net, stranger, id2);
    ASSERT_EQ(r2.size(), 1u);
    EXPECT_EQ(r2[0].error_code()->code, 401);

    // Right password, broken FINGERPRINT → silently dropped.
    stun::TransactionId id3{std::byte(4)};
    auto bad_fp = check_request(kCredsA.pwd, username, 1, false, id3);
    bad_fp.back() ^= std::byte(1);
    p.net.inject(p.ia, ep("10.0.0.1:5000"), stranger, bad_fp);
    EXPECT_TRUE(responses(p.net, stranger, id3).empty());

    // No MESSAGE-INTEGRITY → 400.
    stun::TransactionId id4{std::byte(5)};
    stun::MessageWriter w(stun::Class::Request, stun::Method::Binding, id4);
    w.add_username(username);
    w.add_fingerprint();
    p.net.inject(p.ia, ep("10.0.0.1:5000"), stranger, std::move(w).take());
    auto r4 = responses(p.net, stranger, id4);
    ASSERT_EQ(r4.size(), 1u);
    EXPECT_EQ(r4[0].error_code()->code, 400);

    EXPECT_EQ(p.a.state(), state);
    EXPECT_EQ(p.a.checklist().pairs().size(), pairs);
    EXPECT_FALSE(p.a.checklist().find(ep("10.0.0.1:5000"), stranger));

    // The control case: a correct request gets a success that reflects the source.
    stun::TransactionId id5{std::byte(6)};
    p.net.inject(p.ia, ep("10.0.0.1:5000"), stranger, check_request(kCredsA.pwd, username, 1, false, id5));
    auto r5 = responses(p.net, stranger, id5);
    ASSERT_EQ(r5.size(), 1u);
    EXPECT_EQ(r5[0].cls(), stun::Class::SuccessResponse);
    EXPECT_EQ(r5[0].xor_mapped_address(), stranger);

    p.net.run_for(20s);
    EXPECT_TRUE(connected(p.a));
    EXPECT_TRUE(connected(p.b));
}

TEST(IceAgent, GarbageDatagramsAreDropped) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    std::mt19937 rng(3);
    for (int i = 0; i < 500; ++i) {
        std::vector<std::byte> junk(static_cast<std::size_t>(rng() % 120));
        for (auto& b : junk) b = std::byte(static_cast<std::uint8_t>(rng()));
        if (junk.size() >= 8 && i % 2 == 0) {  // make half of it look like STUN
            junk[0] = std::byte(0);
            junk[4] = std::byte(0x21);
            junk[5] = std::byte(0x12);
            junk[6] = std::byte(0xA4);
            junk[7] = std::byte(0x42);
        }
        p.net.inject(p.ia, ep("10.0.0.1:5000"), ep("10.0.0.2:6000"), junk);
    }
    p.net.run_for(20s);
    EXPECT_TRUE(connected(p.a));
    p.expect_agreement();
}

TEST(IceAgent, RestartReconnectsWithNewCredentials) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Completed; }, 5s));
    const auto before = p.a.selected_pair();
    const Credentials a2{"ufragA2", "passwordA2-0123456789abc"};
    const Credentials b2{"ufragB2", "passwordB2-0123456789abc"};
    // Offer/answer with new credentials: A (offerer) restarts; B takes the
    // offer's credentials, then restarts for its answer; A takes the answer's.
    // Candidates are re-signalled with the new ufrags.
    p.a.restart(a2, p.net.now());
    p.b.set_remote_credentials(a2);
    p.b.restart(b2, p.net.now());
    p.a.set_remote_credentials(b2);
    EXPECT_EQ(p.a.local_credentials(), a2);
    EXPECT_EQ(p.b.local_credentials(), b2);
    const auto restart_at = p.net.log.size();
    // The old pair stays usable throughout.
    bool kept = true;
    ASSERT_TRUE(p.net.run_until(
        [&] {
            kept = kept && p.a.selected_pair().has_value() && p.b.selected_pair().has_value();
            return p.a.state() == IceState::Completed;
        },
        10s));
    EXPECT_TRUE(kept);
    EXPECT_EQ(p.a.selected_pair(), before);
    p.expect_agreement();
    // New checks use the new credentials (USERNAME "remote:local").
    bool new_username = false;
    for (std::size_t i = restart_at; i < p.net.log.size(); ++i) {
        auto m = stun::Message::parse(p.net.log[i].data);
        if (m && m->cls() == stun::Class::Request && m->username() == "ufragB2:ufragA2") new_username = true;
    }
    EXPECT_TRUE(new_username);
    p.net.run_for(40s);
    EXPECT_TRUE(connected(p.a));
    EXPECT_TRUE(connected(p.b));
}

TEST(IceAgent, RestartAfterFailureConnectsAgain) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    p.net.cut = true;
    ASSERT_TRUE(p.net.run_until([&] { return p.a.state() == IceState::Failed && p.b.state() == IceState::Failed; },
                                40s));
    p.net.cut = false;
    const Credentials a2{"ufragA3", "passwordA3-0123456789abc"};
    const Credentials b2{"ufragB3", "passwordB3-0123456789abc"};
    p.a.restart(a2, p.net.now());
    p.b.restart(b2, p.net.now());
    EXPECT_EQ(p.a.state(), IceState::New);
    p.a.set_remote_credentials(b2);
    p.b.set_remote_credentials(a2);
    ASSERT_TRUE(p.both_connected());
    p.expect_agreement();
}

TEST(IceAgent, DataMayFlowOnAValidPairBeforeTheNominationTick) {
    // RFC 8445 §12.1: data may use any valid pair before a pair is selected.
    // On a 1 ms link both sides have a valid pair after one round trip, well
    // before the controlling agent's next Ta slot (50 ms) carries USE-CANDIDATE.
    SimConfig cfg;
    cfg.delay = 1ms;
    Pair p(cfg);
    const auto t0 = p.net.now();
    ASSERT_TRUE(p.net.run_until([&] { return p.a.data_pair() && p.b.data_pair(); }, 1s));
    EXPECT_LT(p.net.now() - t0, 10ms);
    EXPECT_FALSE(p.a.selected_pair());
    EXPECT_FALSE(p.b.selected_pair());
    // W3C iceConnectionState: "connected" once a usable connection is found.
    EXPECT_EQ(p.a.state(), IceState::Connected);
    EXPECT_EQ(p.b.state(), IceState::Connected);
    EXPECT_EQ(p.a.data_pair()->second, ep("10.0.0.2:6000"));
    EXPECT_EQ(p.b.data_pair()->second, ep("10.0.0.1:5000"));
    // Data is accepted over the proven path only.
    EXPECT_TRUE(p.a.accepts_data(ep("10.0.0.1:5000"), ep("10.0.0.2:6000")));
    EXPECT_FALSE(p.a.accepts_data(ep("10.0.0.1:5000"), ep("10.0.0.9:6000")));
    EXPECT_FALSE(p.a.accepts_data(ep("10.0.0.1:5001"), ep("10.0.0.2:6000")));
    for (int n : {p.ia, p.ib}) {
        int changes = 0;
        for (const auto& e : p.net.node(n).events) changes += std::holds_alternative<event::DataPairChange>(e);
        EXPECT_EQ(changes, 1) << "node " << n;
    }
    // The nomination follows on the next Ta slot; the data pair stays.
    const auto before_a = p.a.data_pair(), before_b = p.b.data_pair();
    ASSERT_TRUE(p.both_connected(1s));
    EXPECT_GE(p.net.now() - t0, 50ms);
    p.expect_agreement();
    EXPECT_EQ(p.a.selected_pair(), before_a);
    EXPECT_EQ(p.b.selected_pair(), before_b);
    for (int n : {p.ia, p.ib}) {
        int changes = 0;
        for (const auto& e : p.net.node(n).events) changes += std::holds_alternative<event::DataPairChange>(e);
        EXPECT_EQ(changes, 1) << "node " << n;
    }
}

TEST(IceAgent, ACheckFromThePeerMakesItsPathAcceptableForData) {
    // §12.2: the peer may send data on a pair it found valid before our own
    // check on it succeeded; an unauthenticated check proves nothing.
    SimNetwork net({});
    Agent a(config(false, 5, kCredsA), net.now());
    a.set_remote_credentials(kCredsB);
    const int ia = net.add_agent(a, {ep("10.0.0.1:5000")});
    (void)ia;
    const auto local = ep("10.0.0.1:5000"), peer = ep("10.0.0.2:6000");
    EXPECT_FALSE(a.accepts_data(local, peer));
    a.handle_stun(local, peer, check_request("wrong-password", "ufragA:ufragB", 9, true), net.now());
    EXPECT_FALSE(a.accepts_data(local, peer));
    a.handle_stun(local, peer, check_request(kCredsA.pwd, "ufragA:ufragB", 9, true), net.now());
    EXPECT_TRUE(a.accepts_data(local, peer));
    EXPECT_FALSE(a.data_pair());  // we have not proven the way back yet
}

TEST(IceAgent, NewTransactionsArePacedByTa) {
    Pair p({}, true, false, {ep("10.0.0.1:5000"), ep("10.0.1.1:5001"), ep("10.0.2.1:5002")},
           {ep("10.0.0.2:6000"), ep("10.0.1.2:6001"), ep("10.0.2.2:6002")});
    p.net.add_stun_server(ep("198.51.100.1:3478"));
    p.a.add_stun_server(ep("198.51.100.1:3478"));
    ASSERT_TRUE(p.both_connected());
    p.net.run_for(30s);
    // For each agent: the first send of each request transaction.
    for (int node : {p.ia, p.ib}) {
        std::set<stun::TransactionId> seen;
        std::vector<base::Instant> starts;
        for (const auto& s : p.net.log) {
            if (s.node != node) continue;
            auto m = stun::Message::parse(s.data);
            if (!m || m->cls() != stun::Class::Request) continue;
            if (seen.insert(m->transaction_id()).second) starts.push_back(s.at);
        }
        ASSERT_GE(starts.size(), 9u);
        for (std::size_t i = 1; i < starts.size(); ++i) {
            EXPECT_GE(starts[i] - starts[i - 1], 50ms) << "node " << node << " transaction " << i;
        }
    }
}

TEST(IceAgent, GathersServerReflexiveBehindNat) {
    SimNetwork net({});
    Agent a(config(true, 5, kCredsA), net.now());
    a.add_stun_server(ep("198.51.100.1:3478"));
    net.add_stun_server(ep("198.51.100.1:3478"));
    net.add_nat(ep("192.168.1.2:7000"), ep("203.0.113.9:40000"));
    const int ia = net.add_agent(a, {ep("192.168.1.2:7000")});
    ASSERT_TRUE(net.run_until(
        [&] {
            const auto& ev = net.node(ia).events;
            return std::any_of(ev.begin(), ev.end(),
                               [](const Event& e) { return std::holds_alternative<event::GatheringComplete>(e); });
        },
        10s));
    std::optional<Candidate> srflx;
    for (const auto& e : net.node(ia).events) {
        if (auto* lc = std::get_if<event::LocalCandidate>(&e); lc && lc->candidate.type == CandidateType::ServerReflexive) {
            srflx = lc->candidate;
        }
    }
    ASSERT_TRUE(srflx);
    EXPECT_EQ(srflx->address, ep("203.0.113.9:40000"));
    EXPECT_EQ(srflx->related, ep("192.168.1.2:7000"));
    EXPECT_EQ(srflx->priority, candidate_priority(CandidateType::ServerReflexive, 65535));
    // It reaches SDP and back.
    EXPECT_TRUE(Candidate::parse(srflx->to_sdp_attribute()));
}

TEST(IceAgent, SilentStunServerStillCompletesGathering) {
    SimNetwork net({});
    Agent a(config(true, 5, kCredsA), net.now());
    a.add_stun_server(ep("198.51.100.1:3478"));  // nobody answers there
    const int ia = net.add_agent(a, {ep("10.0.0.1:5000")});
    const auto t0 = net.now();
    ASSERT_TRUE(net.run_until(
        [&] {
            const auto& ev = net.node(ia).events;
            return std::any_of(ev.begin(), ev.end(),
                               [](const Event& e) { return std::holds_alternative<event::GatheringComplete>(e); });
        },
        10s));
    EXPECT_GE(net.now() - t0, 5s);
}

TEST(IceAgent, RemoteCandidatesAndPairsAreBounded) {
    Pair p;
    p.net.auto_signal = false;
    for (std::uint16_t i = 1; i <= 300; ++i) {
        Candidate c;
        c.foundation = std::to_string(i);
        c.priority = 1000u + i;
        c.address = base::Endpoint{*base::IpAddress::parse("10.7.0.1"), i};
        p.a.add_remote_candidate(c, p.net.now());
    }
    // TCP candidates are ignored and break nothing.
    auto tcp = Candidate::parse("candidate:1 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active");
    ASSERT_TRUE(tcp);
    p.a.add_remote_candidate(*tcp, p.net.now());
    EXPECT_LE(p.a.checklist().pairs().size(), 100u);
    p.net.run_for(2s);
    EXPECT_LE(p.a.checklist().pairs().size(), 100u);
    EXPECT_EQ(p.a.state(), IceState::Checking);
}

TEST(IceAgent, CloseStopsEverything) {
    Pair p;
    ASSERT_TRUE(p.both_connected());
    p.a.close();
    EXPECT_EQ(p.a.state(), IceState::Closed);
    EXPECT_FALSE(p.a.selected_pair());
    EXPECT_FALSE(p.a.poll_timeout());
    p.net.drain();
    EXPECT_TRUE(saw_state(p.net.node(p.ia).events, IceState::Closed));
    // The peer loses consent and fails on its own.
    ASSERT_TRUE(p.net.run_until([&] { return p.b.state() == IceState::Failed; }, 40s));
}

}  // namespace
}  // namespace duplex::proto::ice

namespace duplex::proto::ice {
namespace {

// Relayed candidates (RFC 8445 §5.1.1.2 with RFC 8656): the agent sees a
// TURN allocation's relayed address as one more socket; the transport does
// the wrapping. Here the relayed addresses are sockets of the simulated
// network, so checks between them work as through a relay.

AgentConfig relay_config(bool controlling, std::uint64_t tb, Credentials creds) {
    auto c = config(controlling, tb, std::move(creds));
    c.relay_only = true;
    return c;
}

std::vector<Candidate> signalled(const std::vector<Event>& events) {
    std::vector<Candidate> out;
    for (const auto& e : events)
        if (auto* lc = std::get_if<event::LocalCandidate>(&e)) out.push_back(lc->candidate);
    return out;
}

TEST(IceAgentRelay, RelayPolicySignalsOnlyRelayedCandidatesAndConnectsThroughThem) {
    SimNetwork net({});
    Agent a(relay_config(true, 1, kCredsA), net.now());
    Agent b(relay_config(false, 2, kCredsB), net.now());
    a.set_remote_credentials(kCredsB);
    b.set_remote_credentials(kCredsA);
    const int ia = net.add_agent(a, {ep("10.0.0.1:5000")});
    const int ib = net.add_agent(b, {ep("10.0.0.2:6000")});
    net.link(ia, ib);
    // The allocations: relayed addresses on the "server".
    net.node(ia).sockets.push_back(ep("203.0.113.5:40000"));
    net.node(ib).sockets.push_back(ep("203.0.113.5:40002"));
    const auto server = *base::IpAddress::parse("203.0.113.5");
    a.add_relay(ep("203.0.113.5:40000"), ep("10.0.0.1:5000"), server, RelayProtocol::Udp);
    b.add_relay(ep("203.0.113.5:40002"), ep("10.0.0.2:6000"), server, RelayProtocol::Udp);
    ASSERT_TRUE(net.run_until([&] { return a.selected_pair() && b.selected_pair(); }, 10s));
    EXPECT_EQ(a.selected_pair()->first, ep("203.0.113.5:40000"));
    EXPECT_EQ(a.selected_pair()->second, ep("203.0.113.5:40002"));
    for (int n : {ia, ib}) {
        const auto cands = signalled(net.node(n).events);
        ASSERT_EQ(cands.size(), 1u);  // no host candidate: the policy hides local addresses
        EXPECT_EQ(cands[0].type, CandidateType::Relayed);
        ASSERT_TRUE(cands[0].related);
        EXPECT_TRUE(cands[0].related->ip.is_unspecified());  // raddr 0.0.0.0: nothing revealed
        EXPECT_EQ(cands[0].priority >> 24, 0u);  // type preference 0 (§5.1.2.2)
    }
    const auto [ours, theirs] = a.pair_types(a.selected_pair()->first, a.selected_pair()->second);
    EXPECT_EQ(ours, CandidateType::Relayed);
    EXPECT_EQ(theirs, CandidateType::Relayed);
    // Nothing went to or from a host socket directly but through the relay:
    // no packet on the wire names a host address as its destination.
    for (const auto& s : net.log) {
        EXPECT_NE(s.to, ep("10.0.0.1:5000"));
        EXPECT_NE(s.to, ep("10.0.0.2:6000"));
    }
}

TEST(IceAgentRelay, ARequestToAHostSocketIsIgnoredUnderTheRelayPolicy) {
    SimNetwork net({});
    Agent a(relay_config(false, 1, kCredsA), net.now());
    a.set_remote_credentials(kCredsB);
    const int ia = net.add_agent(a, {ep("10.0.0.1:5000")});
    net.inject(ia, ep("10.0.0.1:5000"), ep("10.0.0.9:7000"),
               check_request(kCredsA.pwd, "ufragA:ufragB", 5, true));
    net.drain();
    EXPECT_TRUE(responses(net, ep("10.0.0.9:7000"), {std::byte(7)}).empty());
}

TEST(IceAgentRelay, RelayPolicyWithoutARelayFailsAtOnceNotAfterTheTimeout) {
    SimNetwork net({});
    Agent a(relay_config(true, 1, kCredsA), net.now());
    net.add_agent(a, {ep("10.0.0.1:5000")});
    a.set_remote_credentials(kCredsB);
    a.add_remote_candidate(*Candidate::parse("candidate:1 1 udp 2122260223 10.0.0.2 6000 typ host"), net.now());
    ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::Failed; }, 1s));
}

// The relayed pair is valid first (the relay lets everything through), the
// direct one only after its first check was lost (a NAT that opens when our
// own packet has gone out): the controlling agent waits and nominates the
// direct pair, not the relay that answered first.
TEST(IceAgentRelay, ADirectPairThatSucceedsLateIsNominatedOverAnEarlyRelay) {
    SimNetwork net({});
    Agent a(config(true, 1, kCredsA), net.now());
    Agent b(config(false, 2, kCredsB), net.now());
    a.set_remote_credentials(kCredsB);
    b.set_remote_credentials(kCredsA);
    const int ia = net.add_agent(a, {ep("10.0.0.1:5000")});
    const int ib = net.add_agent(b, {ep("10.0.0.2:6000")});
    net.link(ia, ib);
    net.node(ia).sockets.push_back(ep("203.0.113.5:40000"));
    a.add_relay(ep("203.0.113.5:40000"), ep("10.0.0.1:5000"), *base::IpAddress::parse("203.0.113.5"), RelayProtocol::Udp);
    const auto t0 = net.now();
    net.drop_if = [&](const base::Endpoint& from, const base::Endpoint& to, base::Instant at) {
        const bool direct = (from == ep("10.0.0.1:5000") && to == ep("10.0.0.2:6000")) ||
                            (from == ep("10.0.0.2:6000") && to == ep("10.0.0.1:5000"));
        return direct && at < t0 + 700ms;
    };
    ASSERT_TRUE(net.run_until([&] { return a.selected_pair() && b.selected_pair(); }, 10s));
    EXPECT_EQ(a.selected_pair()->first, ep("10.0.0.1:5000"));
    EXPECT_EQ(a.selected_pair()->second, ep("10.0.0.2:6000"));
    EXPECT_EQ(b.selected_pair()->second, ep("10.0.0.1:5000"));
}

TEST(IceAgentRelay, RelaysOverUdpArePreferredToTcpAndTls) {
    SimNetwork net({});
    Agent a(config(true, 1, kCredsA), net.now());
    const int ia = net.add_agent(a, {ep("10.0.0.1:5000")});
    const auto server = *base::IpAddress::parse("203.0.113.5");
    a.add_relay(ep("203.0.113.5:40010"), ep("10.0.0.1:5000"), server, RelayProtocol::Tls);
    a.add_relay(ep("203.0.113.5:40011"), ep("10.0.0.1:5000"), server, RelayProtocol::Udp);
    a.add_relay(ep("203.0.113.5:40012"), ep("10.0.0.1:5000"), server, RelayProtocol::Tcp);
    net.drain();
    std::map<std::uint16_t, std::uint32_t> priority;
    for (const auto& c : signalled(net.node(ia).events))
        if (c.type == CandidateType::Relayed) priority[c.address.port] = c.priority;
    ASSERT_EQ(priority.size(), 3u);
    EXPECT_GT(priority[40011], priority[40012]);  // UDP > TCP
    EXPECT_GT(priority[40012], priority[40010]);  // TCP > TLS
    // and every relayed one below the host candidate
    EXPECT_LT(priority[40011], candidate_priority(CandidateType::Host, 0));
    EXPECT_EQ(a.local_type(ep("203.0.113.5:40011")), CandidateType::Relayed);
    EXPECT_EQ(a.local_type(ep("10.0.0.1:5000")), CandidateType::Host);
}

}  // namespace
}  // namespace duplex::proto::ice
