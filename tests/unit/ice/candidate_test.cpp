// tests/unit/ice/candidate_test.cpp: the SDP candidate attribute (RFC 8839
// §5.1) as real browsers write it, priorities (RFC 8445 §5.1.2.1),
// foundations (§5.1.1.3) and pair priorities (§6.1.2.3).
#include "proto/ice/candidate.hpp"
#include "proto/ice/checklist.hpp"
#include "proto/ice/pair.hpp"

#include <gtest/gtest.h>

namespace duplex::proto::ice {
namespace {

base::Endpoint ep(const char* s) { return *base::Endpoint::parse(s); }

TEST(Candidate, ParsesChromiumHostCandidate) {
    auto c = Candidate::parse(
        "candidate:249299196 1 udp 2122260223 127.0.0.1 40325 typ host generation 0 network-id 1 network-cost 50");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->foundation, "249299196");
    EXPECT_EQ(c->component, 1);
    EXPECT_EQ(c->transport, Transport::Udp);
    EXPECT_EQ(c->priority, 2122260223u);
    EXPECT_EQ(c->address, ep("127.0.0.1:40325"));
    EXPECT_TRUE(c->hostname.empty());
    EXPECT_EQ(c->type, CandidateType::Host);
    EXPECT_FALSE(c->related);
    EXPECT_TRUE(c->tcptype.empty());
}

TEST(Candidate, AcceptsPrefixesAndLineEnding) {
    const char* bare = "249299196 1 UDP 2122260223 127.0.0.1 40325 typ host";
    auto a = Candidate::parse(std::string("a=candidate:") + bare + "\r\n");
    auto b = Candidate::parse(std::string("candidate:") + bare);
    auto c = Candidate::parse(bare);
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(*b, *c);
    EXPECT_EQ(a->transport, Transport::Udp);  // "UDP" is case-insensitive
}

TEST(Candidate, ParsesServerReflexiveAndRelayWithRelatedAddress) {
    auto s = Candidate::parse("candidate:842163049 1 udp 1677729535 1.2.3.4 5000 typ srflx raddr 10.0.0.1 rport 6000 "
                              "generation 0 ufrag abcd network-cost 999");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->type, CandidateType::ServerReflexive);
    ASSERT_TRUE(s->related);
    EXPECT_EQ(*s->related, ep("10.0.0.1:6000"));
    EXPECT_EQ(s->ufrag, "abcd");

    auto r = Candidate::parse("candidate:3 1 udp 41885439 198.51.100.7 61000 typ relay raddr 203.0.113.1 rport 50000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->type, CandidateType::Relayed);
    EXPECT_EQ(*r->related, ep("203.0.113.1:50000"));
    auto p = Candidate::parse("candidate:4 1 udp 1845501695 198.51.100.8 1 typ prflx raddr 0.0.0.0 rport 0");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->type, CandidateType::PeerReflexive);
}

TEST(Candidate, ParsesTcpActive) {
    auto c = Candidate::parse("candidate:1191533018 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0 "
                              "network-id 1 network-cost 50");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->transport, Transport::Tcp);
    EXPECT_EQ(c->tcptype, "active");
    EXPECT_EQ(c->address.port, 9);
}

TEST(Candidate, ParsesMdnsHostname) {
    auto c = Candidate::parse(
        "candidate:1 1 udp 2113937151 3b1ae4b2-6f4e-4c1f-9d2a-0b7e5c3aabcd.local 54321 typ host generation 0");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->is_mdns());
    EXPECT_EQ(c->hostname, "3b1ae4b2-6f4e-4c1f-9d2a-0b7e5c3aabcd.local");
    EXPECT_TRUE(c->address.ip.is_unspecified());
    EXPECT_EQ(c->address.port, 54321);
    // A hidden related address (mDNS) is legal and just gives none.
    auto s = Candidate::parse("candidate:2 1 udp 1677729535 1.2.3.4 5000 typ srflx raddr abc-1.local rport 0");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->related);
}

TEST(Candidate, ParsesIpv6) {
    auto c = Candidate::parse("candidate:5 1 udp 2122197247 2001:db8::1 50000 typ host");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->address.ip.is_v6());
    EXPECT_EQ(c->address, ep("[2001:db8::1]:50000"));
    EXPECT_EQ(c->to_sdp_attribute(), "candidate:5 1 udp 2122197247 2001:db8::1 50000 typ host");
}

TEST(Candidate, RejectsMalformed) {
    const char* bad[] = {
        "",
        "candidate:",
        "candidate:1 1 udp 2122260223 127.0.0.1 40325 typ",             // no type
        "candidate:1 1 udp 2122260223 127.0.0.1 40325 type host",       // not "typ"
        "candidate:1 1 udp 2122260223 127.0.0.1 40325 typ bogus",
        "candidate:1 0 udp 2122260223 127.0.0.1 40325 typ host",        // component 0
        "candidate:1 257 udp 2122260223 127.0.0.1 40325 typ host",      // component > 256
        "candidate:1 1 sctp 2122260223 127.0.0.1 40325 typ host",       // unknown transport
        "candidate:1 1 udp 99999999999 127.0.0.1 40325 typ host",       // priority > 32 bits
        "candidate:1 1 udp -5 127.0.0.1 40325 typ host",
        "candidate:1 1 udp 2122260223 127.0.0.1 65536 typ host",        // port too big
        "candidate:1 1 udp 2122260223 127.0.0.1 x typ host",
        "candidate:1 1 udp 2122260223 1.2.3 40325 typ host",            // not an address
        "candidate:1 1 udp 2122260223 example.com 40325 typ host",      // a name that is not mDNS
        "candidate:1 1 udp 2122260223 127.0.0.1 40325 typ host generation",  // name without value
        "candidate:1 1 udp 2122260223 127.0.0.1 40325 typ srflx raddr nonsense rport 1",
        "candidate:1 1 udp 2122260223 127.0.0.1 40325 typ srflx raddr 1.2.3.4 rport 70000",
        "candidate:1 1 tcp 2122260223 127.0.0.1 9 typ host tcptype sideways",
        "candidate:f@o 1 udp 2122260223 127.0.0.1 40325 typ host",      // not an ice-char
        "candidate:123456789012345678901234567890123 1 udp 1 127.0.0.1 1 typ host",  // foundation > 32
    };
    for (const char* s : bad) EXPECT_FALSE(Candidate::parse(s)) << s;
}

TEST(Candidate, WritesTheSdpAttributeAndRoundTrips) {
    Candidate c;
    c.foundation = "842163049";
    c.priority = 1677729535;
    c.address = ep("1.2.3.4:5000");
    c.type = CandidateType::ServerReflexive;
    c.related = ep("0.0.0.0:0");
    EXPECT_EQ(c.to_sdp_attribute(), "candidate:842163049 1 udp 1677729535 1.2.3.4 5000 typ srflx raddr 0.0.0.0 rport 0");
    auto back = Candidate::parse(c.to_sdp_attribute());
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, c);

    Candidate t;
    t.foundation = "7";
    t.transport = Transport::Tcp;
    t.priority = 1;
    t.address = ep("127.0.0.1:9");
    t.tcptype = "passive";
    t.ufrag = "uf+/";
    auto tb = Candidate::parse(t.to_sdp_attribute());
    ASSERT_TRUE(tb);
    EXPECT_EQ(*tb, t);
}

TEST(Candidate, PriorityFormula) {
    // (2^24)*type preference + (2^8)*local preference + (256 - component)
    EXPECT_EQ(candidate_priority(CandidateType::Host, 65535, 1), (126u << 24) + (65535u << 8) + 255u);
    EXPECT_EQ(candidate_priority(CandidateType::ServerReflexive, 65535, 1), 1694498815u);
    EXPECT_EQ(candidate_priority(CandidateType::PeerReflexive, 0, 2), (110u << 24) + 254u);
    EXPECT_EQ(candidate_priority(CandidateType::Relayed, 1, 1), 256u + 255u);
    // Chromium's own host candidate priority decodes with the same formula.
    EXPECT_EQ(2122260223u >> 24, type_preference(CandidateType::Host));
    EXPECT_GT(candidate_priority(CandidateType::Host, 0), candidate_priority(CandidateType::PeerReflexive, 65535));
    EXPECT_GT(candidate_priority(CandidateType::PeerReflexive, 0),
              candidate_priority(CandidateType::ServerReflexive, 65535));
}

TEST(Candidate, FoundationSameForSameTypeBaseServerTransport) {
    const auto ip1 = *base::IpAddress::parse("10.0.0.1");
    const auto ip2 = *base::IpAddress::parse("10.0.0.2");
    const auto srv = *base::IpAddress::parse("198.51.100.1");
    const auto a = candidate_foundation(CandidateType::Host, ip1, std::nullopt, Transport::Udp);
    EXPECT_EQ(a, candidate_foundation(CandidateType::Host, ip1, std::nullopt, Transport::Udp));
    EXPECT_NE(a, candidate_foundation(CandidateType::Host, ip2, std::nullopt, Transport::Udp));
    EXPECT_NE(a, candidate_foundation(CandidateType::Host, ip1, std::nullopt, Transport::Tcp));
    EXPECT_NE(a, candidate_foundation(CandidateType::ServerReflexive, ip1, srv, Transport::Udp));
    // A foundation is usable in SDP: 1..32 ice-chars.
    Candidate c;
    c.foundation = a;
    c.address = ep("10.0.0.1:1");
    EXPECT_TRUE(Candidate::parse(c.to_sdp_attribute()));
}

TEST(Pair, PriorityFormulaIsSymmetricBetweenAgents) {
    // §6.1.2.3: both agents compute the same number for the same pair.
    const std::uint32_t g = 2130706431, d = 1694498815;
    EXPECT_EQ(pair_priority(g, d), (std::uint64_t{d} << 32) + 2ull * g + 1);
    EXPECT_EQ(pair_priority(d, g), (std::uint64_t{d} << 32) + 2ull * g);
    CandidatePair mine;
    mine.local_priority = g;
    mine.remote_priority = d;
    mine.set_priority(true);
    CandidatePair theirs;
    theirs.local_priority = d;
    theirs.remote_priority = g;
    theirs.set_priority(false);
    EXPECT_EQ(mine.priority, theirs.priority);
}

TEST(CheckList, FreezesSameFoundationAndUnfreezesOnSuccess) {
    CheckList cl;
    auto mk = [](const char* l, const char* r, std::uint32_t rp, const char* f) {
        CandidatePair p;
        p.local = ep(l);
        p.remote = ep(r);
        p.local_priority = 100;
        p.remote_priority = rp;
        p.foundation = f;
        return p;
    };
    ASSERT_TRUE(cl.add(mk("10.0.0.1:1", "10.0.0.2:1", 50, "a"), true));
    ASSERT_TRUE(cl.add(mk("10.0.0.1:1", "10.0.0.2:2", 40, "a"), true));
    ASSERT_TRUE(cl.add(mk("10.0.0.1:1", "10.0.0.2:3", 30, "b"), true));
    EXPECT_EQ(cl.find(ep("10.0.0.1:1"), ep("10.0.0.2:1"))->state, PairState::Waiting);
    EXPECT_EQ(cl.find(ep("10.0.0.1:1"), ep("10.0.0.2:2"))->state, PairState::Frozen);
    EXPECT_EQ(cl.find(ep("10.0.0.1:1"), ep("10.0.0.2:3"))->state, PairState::Waiting);
    // Highest priority Waiting first.
    auto* p = cl.next_ordinary();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->remote, ep("10.0.0.2:1"));
    p->state = PairState::Succeeded;
    cl.unfreeze("a");
    EXPECT_EQ(cl.find(ep("10.0.0.1:1"), ep("10.0.0.2:2"))->state, PairState::Waiting);
    // A duplicate is not added twice.
    cl.add(mk("10.0.0.1:1", "10.0.0.2:3", 30, "b"), true);
    EXPECT_EQ(cl.pairs().size(), 3u);
}

TEST(CheckList, BoundedPairsKeepTheBest) {
    CheckList cl(4, 2);
    for (std::uint16_t i = 1; i <= 10; ++i) {
        CandidatePair p;
        p.local = ep("10.0.0.1:1");
        p.remote = base::Endpoint{*base::IpAddress::parse("10.0.0.2"), i};
        p.local_priority = 100;
        p.remote_priority = i;
        p.foundation = std::to_string(i);
        cl.add(p, true);
        cl.enqueue_triggered(p.local, p.remote);
    }
    ASSERT_EQ(cl.pairs().size(), 4u);
    for (const auto& p : cl.pairs()) EXPECT_GE(p.remote_priority, 7u);
    int popped = 0;
    while (cl.pop_triggered()) ++popped;
    EXPECT_LE(popped, 2);
}

}  // namespace
}  // namespace duplex::proto::ice
