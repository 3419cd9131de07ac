// rtc::Peer and ICE-TCP (RFC 6544): a passive TCP host candidate is offered
// (tcptype passive, below UDP in priority), a connection the peer made to it
// carries checks framed by a 2-byte length (RFC 4571), however the stream
// cuts them, and our answers go back on that connection, framed.
#include "proto/rtc/peer.hpp"
#include "proto/stun/message.hpp"

#include "unit/sdp/fixtures.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::proto;
using namespace duplex::proto::rtc;

namespace {

const base::Endpoint kUdp{*base::IpAddress::parse("127.0.0.1"), 40000};
const base::Endpoint kTcp{*base::IpAddress::parse("127.0.0.1"), 40001};
const base::Endpoint kRemote{*base::IpAddress::parse("127.0.0.1"), 55555};
constexpr std::uint32_t kStream = 0x8000'0001u;

std::string attribute(const std::string& sdp, const std::string& name) {
    const auto at = sdp.find("a=" + name + ":");
    if (at == std::string::npos) return {};
    const auto start = at + name.size() + 3;
    return sdp.substr(start, sdp.find_first_of("\r\n", start) - start);
}

/// A check from Chromium (the offerer: controlling) to our TCP candidate.
std::vector<std::byte> framed_check(const std::string& our_ufrag, const std::string& our_pwd, std::uint8_t n) {
    stun::TransactionId id{};
    id[0] = std::byte{n};
    stun::MessageWriter w(stun::Class::Request, stun::Method::Binding, id);
    w.add_username(our_ufrag + ":OUZV");
    w.add_u32(stun::AttributeType::Priority, 1518280447);
    w.add_u64(stun::AttributeType::IceControlling, 42);
    w.add_message_integrity(base::as_bytes(our_pwd));
    w.add_fingerprint();
    const auto m = std::move(w).take();
    std::vector<std::byte> out(2);
    base::store_be16(out.data(), static_cast<std::uint16_t>(m.size()));
    out.insert(out.end(), m.begin(), m.end());
    return out;
}

struct Answered {
    std::unique_ptr<Peer> peer;
    std::string ufrag, pwd, answer;
};

Answered answer_chromium(base::Instant t0) {
    Answered a;
    auto peer = Peer::create({}, t0);
    if (!peer.ok()) return a;
    a.peer = std::move(*peer);
    a.peer->add_host(kUdp, t0);
    a.peer->add_tcp_host(kTcp, t0);
    a.peer->hosts_complete(t0);
    if (!a.peer->set_remote_description(SdpKind::Offer, test::sdp_fixtures::read("chromium_dc_offer.sdp"), t0).ok())
        return a;
    auto answer = a.peer->create_answer();
    if (!answer.ok() || !a.peer->set_local_description(SdpKind::Answer, *answer, t0).ok()) return a;
    a.answer = *answer;
    a.ufrag = attribute(*answer, "ice-ufrag");
    a.pwd = attribute(*answer, "ice-pwd");
    return a;
}

/// Success responses that left on the stream, unframed.
std::vector<stun::Message> responses_on_stream(Peer& p) {
    std::vector<stun::Message> out;
    while (auto t = p.poll_transmit()) {
        if (t->stream != kStream) continue;
        EXPECT_GE(t->data.size(), 2u);
        const std::size_t len = base::load_be16(t->data.data());
        EXPECT_EQ(len + 2, t->data.size());  // one RFC 4571 frame per transmit
        auto m = stun::Message::parse(base::Bytes(t->data).subspan(2));
        if (m && m->cls() == stun::Class::SuccessResponse) out.push_back(*m);
    }
    return out;
}

}  // namespace

TEST(PeerIceTcp, OffersAPassiveTcpCandidateBelowUdp) {
    const auto t0 = base::Instant{} + base::seconds(1);
    auto a = answer_chromium(t0);
    ASSERT_TRUE(a.peer);
    std::vector<std::string> candidates;
    while (auto ev = a.peer->poll_event())
        if (auto* c = std::get_if<event::LocalCandidate>(&*ev); c && !c->candidate.empty()) candidates.push_back(c->candidate);
    a.peer->handle_timeout(t0);
    while (auto ev = a.peer->poll_event())
        if (auto* c = std::get_if<event::LocalCandidate>(&*ev); c && !c->candidate.empty()) candidates.push_back(c->candidate);
    std::optional<ice::Candidate> udp, tcp;
    for (const auto& text : candidates) {
        auto c = ice::Candidate::parse(text);
        ASSERT_TRUE(c) << text;
        (c->transport == ice::Transport::Tcp ? tcp : udp) = c;
    }
    ASSERT_TRUE(udp && tcp);
    EXPECT_EQ(tcp->address, kTcp);
    EXPECT_EQ(tcp->tcptype, "passive");
    EXPECT_LT(tcp->priority, udp->priority);
}

TEST(PeerIceTcp, ChecksOnAConnectionAreAnsweredOnItWhateverTheCuts) {
    const auto t0 = base::Instant{} + base::seconds(1);
    auto a = answer_chromium(t0);
    ASSERT_TRUE(a.peer);
    ASSERT_FALSE(a.ufrag.empty());
    auto& p = *a.peer;
    while (p.poll_transmit()) {
    }
    ASSERT_TRUE(p.tcp_accepted(kStream, kTcp, kRemote, t0));
    // Two checks, fed one byte at a time: nothing is answered before a frame
    // is whole, and each whole frame is answered once.
    auto bytes = framed_check(a.ufrag, a.pwd, 1);
    const auto second = framed_check(a.ufrag, a.pwd, 2);
    bytes.insert(bytes.end(), second.begin(), second.end());
    std::size_t answered = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        p.stream_data(kStream, base::Bytes(&bytes[i], 1), t0);
        answered += responses_on_stream(p).size();
        if (i + 1 < bytes.size() / 2) {
            EXPECT_EQ(answered, 0u) << "answered before the first frame was whole, at " << i;
        }
    }
    EXPECT_EQ(answered, 2u);
    // Then both in one read, with a third cut in half.
    auto three = framed_check(a.ufrag, a.pwd, 3);
    auto chunk = framed_check(a.ufrag, a.pwd, 4);
    chunk.insert(chunk.end(), three.begin(), three.end());
    const auto five = framed_check(a.ufrag, a.pwd, 5);
    chunk.insert(chunk.end(), five.begin(), five.begin() + 10);
    p.stream_data(kStream, chunk, t0);
    auto r = responses_on_stream(p);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].xor_mapped_address(), kRemote);  // the connection's far end
    p.stream_data(kStream, base::Bytes(five).subspan(10), t0);
    EXPECT_EQ(responses_on_stream(p).size(), 1u);
    // The path is ICE's now: its own checks to the peer go on the connection.
    p.handle_timeout(t0 + base::milliseconds(100));
    bool checked_back = false;
    while (auto t = p.poll_transmit()) {
        if (t->stream != kStream) continue;
        auto m = stun::Message::parse(base::Bytes(t->data).subspan(2));
        checked_back = checked_back || (m && m->cls() == stun::Class::Request);
    }
    EXPECT_TRUE(checked_back);
}

TEST(PeerIceTcp, AClosedConnectionTakesNoMoreAndAnUncheckedOneMakesRoom) {
    const auto t0 = base::Instant{} + base::seconds(1);
    auto a = answer_chromium(t0);
    ASSERT_TRUE(a.peer);
    auto& p = *a.peer;
    while (p.poll_event()) {
    }
    // The first connection carries a check (ICE accepts its path); 15 more
    // carry nothing, as anyone's could.
    ASSERT_TRUE(p.tcp_accepted(kStream, kTcp, kRemote, t0));
    p.stream_data(kStream, framed_check(a.ufrag, a.pwd, 1), t0);
    EXPECT_EQ(responses_on_stream(p).size(), 1u);
    for (std::uint32_t i = 1; i < 16; ++i)
        ASSERT_TRUE(p.tcp_accepted(kStream + i, kTcp, base::Endpoint{kRemote.ip, static_cast<std::uint16_t>(50000 + i)}, t0));
    while (p.poll_event()) {
    }
    // Full: a 17th takes the place of an unchecked one, never the checked one.
    ASSERT_TRUE(p.tcp_accepted(kStream + 16, kTcp, base::Endpoint{kRemote.ip, 50100}, t0));
    std::vector<std::uint32_t> closed;
    while (auto ev = p.poll_event())
        if (auto* c = std::get_if<event::CloseStream>(&*ev)) closed.push_back(c->id);
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_NE(closed[0], kStream);
    // A closed connection's bytes are nobody's.
    p.stream_closed(kStream, "reset", t0);
    while (p.poll_transmit()) {
    }
    p.stream_data(kStream, framed_check(a.ufrag, a.pwd, 2), t0);
    EXPECT_TRUE(responses_on_stream(p).empty());
}
