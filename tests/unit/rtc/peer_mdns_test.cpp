// rtc::Peer and mDNS candidates (draft-ietf-mmusic-mdns-ice-candidates):
// a remote UDP candidate named by a ".local" hostname, in the remote SDP or
// trickled, is reported as event::ResolveHostname (the runtime resolves it)
// and is not fatal to ICE; the same candidate with an address is accepted.
#include "proto/rtc/peer.hpp"

#include "unit/sdp/fixtures.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::proto::rtc;

namespace {

const std::string kName = "0b6f3c1e-2a3d-4f5e-8a9b-1c2d3e4f5a6b.local";

std::vector<std::string> hostnames_to_resolve(Peer& p) {
    std::vector<std::string> out;
    while (auto ev = p.poll_event())
        if (auto* r = std::get_if<event::ResolveHostname>(&*ev)) out.push_back(r->candidate);
    return out;
}

/// Chromium's offer with its candidates' address replaced by kName, as a
/// browser that hides its addresses sends it (the TCP one too).
std::string hidden_offer() {
    const std::string sdp = test::sdp_fixtures::read("chromium_dc_offer.sdp");
    std::string out;
    for (std::size_t pos = 0; pos < sdp.size();) {
        auto eol = sdp.find('\n', pos);
        eol = eol == std::string::npos ? sdp.size() : eol + 1;
        std::string line = sdp.substr(pos, eol - pos);
        pos = eol;
        if (auto at = line.find(" 127.0.0.1 "); line.rfind("a=candidate:", 0) == 0 && at != std::string::npos)
            line.replace(at + 1, 9, kName);
        out += line;
    }
    return out;
}

/// A peer on 127.0.0.1:40000 that has answered `offer` (events not polled yet).
std::unique_ptr<Peer> answered(const std::string& offer, base::Instant t0) {
    auto peer = Peer::create({}, t0);
    if (!peer.ok()) return nullptr;
    auto& p = **peer;
    p.add_host(base::Endpoint{*base::IpAddress::parse("127.0.0.1"), 40000}, t0);
    p.hosts_complete(t0);
    if (!p.set_remote_description(SdpKind::Offer, offer, t0).ok()) return nullptr;
    auto answer = p.create_answer();
    if (!answer.ok() || !p.set_local_description(SdpKind::Answer, *answer, t0).ok()) return nullptr;
    return std::move(*peer);
}

}  // namespace

TEST(PeerMdns, CandidatesInTheRemoteDescriptionAreReportedForResolution) {
    const auto t0 = base::Instant{} + base::seconds(1);
    auto peer = Peer::create({}, t0);
    ASSERT_TRUE(peer.ok());
    auto& p = **peer;
    const auto offer = hidden_offer();
    ASSERT_NE(offer.find(kName + " 59890 typ host"), std::string::npos);
    ASSERT_TRUE(p.set_remote_description(SdpKind::Offer, offer, t0).ok());
    // Only the UDP candidate: ICE here uses no TCP candidates, named or not.
    auto names = hostnames_to_resolve(p);
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0].rfind("candidate:2386929663 1 udp 2122260223 " + kName + " 59890 typ host", 0), 0u)
        << names[0];
}

TEST(PeerMdns, TrickledCandidatesAreReportedAndNeverFatal) {
    const auto t0 = base::Instant{} + base::seconds(1);
    auto peer = answered(test::sdp_fixtures::read("chromium_dc_offer.sdp"), t0);
    ASSERT_TRUE(peer);
    auto& p = *peer;
    (void)hostnames_to_resolve(p);

    const std::string hidden = "candidate:1 1 udp 2122260223 " + kName + " 50000 typ host";
    ASSERT_TRUE(p.add_remote_candidate(hidden, t0).ok());
    EXPECT_EQ(hostnames_to_resolve(p), std::vector<std::string>{hidden});
    // The resolved form is an ordinary candidate: nothing to resolve.
    ASSERT_TRUE(p.add_remote_candidate("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", t0).ok());
    EXPECT_TRUE(hostnames_to_resolve(p).empty());
}

TEST(PeerMdns, AnUnresolvedNameAloneDoesNotFailIce) {
    const auto t0 = base::Instant{} + base::seconds(1);
    auto peer = answered(hidden_offer(), t0);
    ASSERT_TRUE(peer);
    auto& p = *peer;
    ASSERT_TRUE(p.add_remote_candidate("", t0).ok());  // end of candidates: only the hidden one came
    auto t = t0;
    for (int i = 0; i < 100; ++i) {
        t += base::milliseconds(50);
        p.handle_timeout(t);
        while (p.poll_transmit()) {
        }
    }
    // The peer's checks may still teach us its address (RFC 8445 §7.3.1.3).
    EXPECT_NE(p.ice_state(), IceState::Failed);
    EXPECT_NE(p.connection_state(), ConnectionState::Failed);
}
