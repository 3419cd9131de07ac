// Two PeerConnections in one process, on one loop, over real UDP on
// loopback: ICE, DTLS, SCTP and DCEP all run for real. Channels of every
// reliability type, a 10 MiB byte-exact transfer, closing one channel while
// the others go on, negotiated channels, and the signaling-state errors.
#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include "proto/stun/message.hpp"
#include "runtime/peer_pair.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace duplex;
using namespace std::chrono_literals;

namespace {

using duplex::test::loopback;
using duplex::test::run_until;

/// Two peers wired to each other (peer_pair.hpp), with the channels b was offered.
struct Pair : duplex::test::PeerPair {
    std::vector<DataChannel> b_channels;

    Pair() { b.on_data_channel([this](DataChannel dc) { b_channels.push_back(dc); }); }

    DataChannel* remote(const std::string& label) {
        for (auto& c : b_channels)
            if (c.label() == label) return &c;
        return nullptr;
    }
};

std::string text_of(std::string_view s) { return std::string(s); }

}  // namespace

TEST(PeerConnection, ConnectsAndExchangesTextAndBinaryBothWays) {
    Pair p;
    auto dc = p.a.create_data_channel("chat");
    ASSERT_TRUE(dc.ok());
    std::vector<std::pair<std::string, bool>> at_a, at_b;
    bool a_open = false;
    dc->on_open([&] { a_open = true; });
    dc->on_message([&](std::string_view d, bool bin) { at_a.emplace_back(text_of(d), bin); });
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return a_open && p.remote("chat") && p.remote("chat")->ready_state() == DataChannelState::Open; }));
    auto* rb = p.remote("chat");
    rb->on_message([&](std::string_view d, bool bin) { at_b.emplace_back(text_of(d), bin); });
    EXPECT_TRUE(dc->send("hello from a").ok());
    EXPECT_TRUE(dc->send_binary(std::string_view("\x00\x01\x02", 3)).ok());
    EXPECT_TRUE(dc->send("").ok());  // an empty message travels with PPID 56
    EXPECT_TRUE(rb->send("hello from b").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return at_b.size() == 3 && at_a.size() == 1; }));
    EXPECT_EQ(at_b[0], std::make_pair(std::string("hello from a"), false));
    EXPECT_EQ(at_b[1], std::make_pair(std::string("\x00\x01\x02", 3), true));
    EXPECT_EQ(at_b[2], std::make_pair(std::string(), false));
    EXPECT_EQ(at_a[0], std::make_pair(std::string("hello from b"), false));
    EXPECT_EQ(rb->label(), "chat");
    // The answerer said a=setup:active, so it is the DTLS client and the
    // offerer the server: the offerer's channel has an odd stream id (RFC 8832 §6).
    ASSERT_TRUE(dc->id().has_value());
    EXPECT_EQ(*dc->id() % 2, 1);
    EXPECT_EQ(rb->id(), dc->id());
    auto st = p.a.get_stats();
    EXPECT_EQ(st.messages_sent, 3u);
    EXPECT_EQ(st.messages_received, 1u);
    EXPECT_FALSE(st.dtls_cipher.empty());
    EXPECT_NE(st.local_candidate.find("127.0.0.1"), std::string::npos);
}

TEST(PeerConnection, EveryReliabilityTypeAndProtocolArrive) {
    Pair p;
    struct Spec { std::string label; DataChannelInit init; };
    std::vector<Spec> specs(5);
    specs[0].label = "reliable";
    specs[1].label = "unordered";
    specs[1].init.ordered = false;
    specs[2].label = "rexmit";
    specs[2].init.ordered = false;
    specs[2].init.max_retransmits = 0;
    specs[3].label = "timed";
    specs[3].init.max_packet_life_time = 500;
    specs[4].label = "proto";
    specs[4].init.protocol = "x-test";
    std::vector<DataChannel> mine;
    for (auto& s : specs) {
        auto dc = p.a.create_data_channel(s.label, s.init);
        ASSERT_TRUE(dc.ok());
        mine.push_back(*dc);
    }
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.b_channels.size() == specs.size(); }));
    std::map<std::string, std::vector<std::string>> got;
    for (auto& c : p.b_channels) c.on_message([&, l = c.label()](std::string_view d, bool) { got[l].emplace_back(d); });
    ASSERT_TRUE(run_until(p.loop, [&] {
        for (auto& c : mine) if (c.ready_state() != DataChannelState::Open) return false;
        return true;
    }));
    for (auto& c : mine)
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.send(c.label() + std::to_string(i)).ok());
    // On a lossless loopback even the unreliable kinds deliver everything.
    ASSERT_TRUE(run_until(p.loop, [&] {
        for (auto& s : specs) if (got[s.label].size() != 20) return false;
        return true;
    }));
    for (auto& s : specs) {
        auto* r = p.remote(s.label);
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->ordered(), s.init.ordered) << s.label;
        EXPECT_EQ(r->max_retransmits(), s.init.max_retransmits) << s.label;
        EXPECT_EQ(r->max_packet_life_time(), s.init.max_packet_life_time) << s.label;
        EXPECT_EQ(r->protocol(), s.init.protocol) << s.label;
    }
    // Ordered channels keep order.
    for (int i = 0; i < 20; ++i) EXPECT_EQ(got["reliable"][static_cast<std::size_t>(i)], "reliable" + std::to_string(i));
}

TEST(PeerConnection, TenMebibytesArriveByteExactWithBackpressure) {
    Pair p;
    auto dc = p.a.create_data_channel("bulk");
    ASSERT_TRUE(dc.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return dc->ready_state() == DataChannelState::Open && p.remote("bulk"); }));
    std::string received;
    p.remote("bulk")->on_message([&](std::string_view d, bool bin) {
        EXPECT_TRUE(bin);
        received.append(d);
    });
    constexpr std::size_t kTotal = 10u << 20, kChunk = 64 * 1024;
    std::string payload(kTotal, '\0');
    std::mt19937 rng(7);
    for (auto& ch : payload) ch = static_cast<char>(rng());
    std::size_t sent = 0;
    auto pump = [&] {
        while (sent < kTotal && dc->buffered_amount() < 1024 * 1024) {
            ASSERT_TRUE(dc->send_binary(std::string_view(payload).substr(sent, kChunk)).ok());
            sent += kChunk;
        }
    };
    dc->set_buffered_amount_low_threshold(256 * 1024);
    dc->on_buffered_amount_low(pump);
    pump();
    ASSERT_TRUE(run_until(p.loop, [&] { pump(); return received.size() >= kTotal; }, 60s)) << received.size();
    EXPECT_EQ(received.size(), kTotal);
    EXPECT_TRUE(received == payload);
}

TEST(PeerConnection, ClosingOneChannelLeavesTheOthersOpen) {
    Pair p;
    auto one = p.a.create_data_channel("one");
    auto two = p.a.create_data_channel("two");
    ASSERT_TRUE(one.ok() && two.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("one") && p.remote("two") && one->ready_state() == DataChannelState::Open && two->ready_state() == DataChannelState::Open; }));
    bool remote_closed = false, local_closed = false;
    p.remote("one")->on_close([&] { remote_closed = true; });
    one->on_close([&] { local_closed = true; });
    std::vector<std::string> got;
    p.remote("two")->on_message([&](std::string_view d, bool) { got.emplace_back(d); });
    one->close();
    ASSERT_TRUE(run_until(p.loop, [&] { return remote_closed && local_closed; }));
    EXPECT_EQ(p.remote("one")->ready_state(), DataChannelState::Closed);
    EXPECT_FALSE(one->send("late").ok());
    ASSERT_TRUE(two->send("still here").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got.size() == 1; }));
    EXPECT_EQ(got[0], "still here");
    // A channel opened after the close reuses nothing it should not.
    auto three = p.a.create_data_channel("three");
    ASSERT_TRUE(three.ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("three") && three->ready_state() == DataChannelState::Open; }));
}

TEST(PeerConnection, NegotiatedChannelsNeedNoDcep) {
    Pair p;
    DataChannelInit init;
    init.negotiated = true;
    init.id = 7;
    auto a = p.a.create_data_channel("pre", init);
    auto b = p.b.create_data_channel("pre", init);
    ASSERT_TRUE(a.ok() && b.ok());
    std::string got;
    b->on_message([&](std::string_view d, bool) { got = d; });
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return a->ready_state() == DataChannelState::Open && b->ready_state() == DataChannelState::Open; }));
    ASSERT_TRUE(a->send("negotiated").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got == "negotiated"; }));
    EXPECT_TRUE(p.b_channels.empty());  // no on_data_channel for a negotiated channel
    EXPECT_EQ(a->id(), std::optional<std::uint16_t>(7));
    // The id is taken now.
    EXPECT_FALSE(p.a.create_data_channel("dup", init).ok());
}

TEST(PeerConnection, SignalingStateErrorsAreClear) {
    EventLoop loop;
    PeerConnection pc(loop, loopback());
    auto st = pc.set_remote_description({SdpType::Answer, "v=0\r\n"});
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(pc.signaling_state(), SignalingState::Stable);
    EXPECT_FALSE(pc.create_answer().ok());
    auto bad = pc.set_remote_description({SdpType::Offer, "not sdp"});
    EXPECT_FALSE(bad.ok());
    EXPECT_NE(bad.message().find("SDP"), std::string::npos) << bad.message();
    DataChannelInit both;
    both.max_retransmits = 1;
    both.max_packet_life_time = 1;
    EXPECT_FALSE(pc.create_data_channel("x", both).ok());
    pc.close();
    EXPECT_EQ(pc.signaling_state(), SignalingState::Closed);
    EXPECT_FALSE(pc.create_offer().ok());
}

TEST(PeerConnection, ClosingThePeerClosesChannelsOnBothSides) {
    Pair p;
    auto dc = p.a.create_data_channel("c");
    ASSERT_TRUE(dc.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("c") && dc->ready_state() == DataChannelState::Open; }));
    bool b_closed = false;
    p.remote("c")->on_close([&] { b_closed = true; });
    p.a.close();
    EXPECT_EQ(p.a.connection_state(), PeerConnectionState::Closed);
    EXPECT_EQ(dc->ready_state(), DataChannelState::Closed);
    // The DTLS close_notify (or SCTP abort) reaches b.
    ASSERT_TRUE(run_until(p.loop, [&] { return b_closed; }));
}

TEST(PeerConnection, IceRestartKeepsTheChannelsOpen) {
    Pair p;
    auto dc = p.a.create_data_channel("keep");
    ASSERT_TRUE(dc.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("keep") && dc->ready_state() == DataChannelState::Open; }));
    std::vector<std::string> got;
    p.remote("keep")->on_message([&](std::string_view d, bool) { got.emplace_back(d); });
    const std::string old_offer = p.a.local_description()->sdp;
    const std::string old_answer = p.b.local_description()->sdp;
    bool needed = false;
    p.a.on_negotiation_needed([&] { needed = true; });
    p.a.restart_ice();
    ASSERT_TRUE(run_until(p.loop, [&] { return needed; }));
    p.negotiate();
    auto ufrag = [](const std::string& sdp) {
        auto at = sdp.find("a=ice-ufrag:");
        return sdp.substr(at, sdp.find('\r', at) - at);
    };
    // Both sides have new credentials (RFC 8445 §9).
    EXPECT_NE(ufrag(p.a.local_description()->sdp), ufrag(old_offer));
    EXPECT_NE(ufrag(p.b.local_description()->sdp), ufrag(old_answer));
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(dc->send("after restart").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got.size() == 1; }));
    EXPECT_EQ(got[0], "after restart");
    EXPECT_EQ(dc->ready_state(), DataChannelState::Open);
}

TEST(PeerConnection, GarbageDatagramsOnTheIcePortChangeNothing) {
    Pair p;
    auto dc = p.a.create_data_channel("g");
    ASSERT_TRUE(dc.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("g") && dc->ready_state() == DataChannelState::Open; }));
    // a's socket, from its selected candidate pair.
    const std::string local = p.a.get_stats().local_candidate;
    const auto colon = local.rfind(':');
    ASSERT_NE(colon, std::string::npos) << local;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(std::stoi(local.substr(colon + 1))));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    std::mt19937 rng(3);
    // Every first-byte range of RFC 7983: STUN-, DTLS-, TURN-, RTP-looking and other.
    for (int i = 0; i < 2000; ++i) {
        std::vector<unsigned char> d(1 + rng() % 1400);
        for (auto& b : d) b = static_cast<unsigned char>(rng());
        const unsigned char firsts[] = {0, 1, 3, 20, 22, 23, 63, 64, 79, 128, 191, 255};
        d[0] = firsts[static_cast<std::size_t>(i) % sizeof firsts];
        if (d.size() >= 8 && d[0] <= 3) {  // some with the STUN magic cookie, to reach the parser
            d[4] = 0x21; d[5] = 0x12; d[6] = 0xA4; d[7] = 0x42;
        }
        (void)::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        if (i % 100 == 0) p.loop.run_once(0);
    }
    ::close(fd);
    std::string got;
    p.remote("g")->on_message([&](std::string_view d, bool) { got = d; });
    ASSERT_TRUE(dc->send("still fine").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got == "still fine"; }));
    EXPECT_EQ(p.a.connection_state(), PeerConnectionState::Connected);
    EXPECT_EQ(p.b.connection_state(), PeerConnectionState::Connected);
}

TEST(PeerConnection, StatsHaveTheRoundTripAndCallsFromOtherThreadsArePosted) {
    Pair p;
    auto dc = p.a.create_data_channel("t");
    ASSERT_TRUE(dc.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("t") && dc->ready_state() == DataChannelState::Open; }));
    auto rtt = p.a.get_stats().round_trip_time;
    ASSERT_TRUE(rtt.has_value());
    EXPECT_LT(*rtt, std::chrono::milliseconds(500));
    std::vector<std::string> got;
    p.remote("t")->on_message([&](std::string_view d, bool) { got.emplace_back(d); });
    DataChannel copy = *dc;
    std::thread other([copy]() mutable {
        for (int i = 0; i < 10; ++i) (void)copy.send("from thread " + std::to_string(i));
    });
    other.join();
    ASSERT_TRUE(run_until(p.loop, [&] { return got.size() == 10; }));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "from thread " + std::to_string(i));
}

TEST(PeerConnection, MessagesBeforeTheHandlerIsSetAreNotLost) {
    Pair p;
    auto dc = p.a.create_data_channel("early");
    ASSERT_TRUE(dc.ok());
    bool sent = false;
    dc->on_open([&] {
        // Sent at once: they reach b before its application sets on_message.
        for (int i = 0; i < 5; ++i) (void)dc->send("early " + std::to_string(i));
        sent = true;
    });
    p.negotiate();
    ASSERT_TRUE(run_until(p.loop, [&] { return sent && p.remote("early"); }));
    // Let the messages arrive with nobody listening.
    const auto until = std::chrono::steady_clock::now() + 200ms;
    while (std::chrono::steady_clock::now() < until) p.loop.run_once(5);
    std::vector<std::string> got;
    p.remote("early")->on_message([&](std::string_view d, bool) { got.emplace_back(d); });
    ASSERT_TRUE(run_until(p.loop, [&] { return got.size() == 5; }));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], "early " + std::to_string(i));
}

TEST(PeerConnection, ClosingFromInsideACallbackIsSafe) {
    Pair p;
    auto dc = p.a.create_data_channel("c");
    ASSERT_TRUE(dc.ok());
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return p.remote("c") && dc->ready_state() == DataChannelState::Open; }));
    bool closed_inside = false;
    p.remote("c")->on_message([&](std::string_view, bool) {
        p.remote("c")->close();  // the channel, then the whole peer, from its own callback
        p.b.close();
        closed_inside = true;
    });
    ASSERT_TRUE(dc->send("close now").ok());
    (void)dc->send("and this one arrives nowhere");
    ASSERT_TRUE(run_until(p.loop, [&] { return closed_inside; }));
    EXPECT_EQ(p.b.connection_state(), PeerConnectionState::Closed);
    // a hears of it (the DTLS close_notify) and its channel closes.
    ASSERT_TRUE(run_until(p.loop, [&] { return dc->ready_state() == DataChannelState::Closed; }));
}

TEST(PeerConnection, GlareIsResolvedByThePoliteSideRollingBack) {
    // Both sides offer at once (perfect negotiation, W3C webrtc-pc §10.7
    // example): b is polite: it rolls back and answers a's offer; a, the
    // impolite side, ignores b's offer. Channels made by both sides open.
    Pair p;
    auto from_a = p.a.create_data_channel("from-a");
    auto from_b = p.b.create_data_channel("from-b");
    ASSERT_TRUE(from_a.ok() && from_b.ok());
    std::vector<DataChannel> a_channels;
    p.a.on_data_channel([&](DataChannel dc) { a_channels.push_back(dc); });
    ASSERT_TRUE(p.a.set_local_description().ok());
    ASSERT_TRUE(p.b.set_local_description().ok());  // glare: both in have-local-offer
    EXPECT_EQ(p.b.signaling_state(), SignalingState::HaveLocalOffer);
    // b (polite) gets a's offer: explicit rollback, then the offer.
    ASSERT_TRUE(p.b.set_local_description({SdpType::Rollback, ""}).ok());
    EXPECT_EQ(p.b.signaling_state(), SignalingState::Stable);
    ASSERT_TRUE(p.b.set_remote_description(*p.a.local_description()).ok());
    Pair::deliver(p.b, p.to_b);
    ASSERT_TRUE(p.b.set_local_description().ok());  // the answer
    EXPECT_EQ(p.b.local_description()->type, SdpType::Answer);
    ASSERT_TRUE(p.a.set_remote_description(*p.b.local_description()).ok());
    Pair::deliver(p.a, p.to_a);
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] {
        return from_a->ready_state() == DataChannelState::Open && from_b->ready_state() == DataChannelState::Open &&
               p.remote("from-a") && a_channels.size() == 1;
    }));
    EXPECT_EQ(a_channels[0].label(), "from-b");
    std::string got;
    a_channels[0].on_message([&](std::string_view d, bool) { got = d; });
    ASSERT_TRUE(from_b->send("from the polite side").ok());
    ASSERT_TRUE(run_until(p.loop, [&] { return got == "from the polite side"; }));
}

TEST(PeerConnection, ARemoteOfferDuringOurOfferIsAnImplicitRollback) {
    Pair p;
    auto dc = p.a.create_data_channel("x");
    ASSERT_TRUE(dc.ok());
    (void)p.b.create_data_channel("y");
    ASSERT_TRUE(p.a.set_local_description().ok());
    ASSERT_TRUE(p.b.set_local_description().ok());
    // No explicit rollback: set_remote_description(offer) does it.
    ASSERT_TRUE(p.b.set_remote_description(*p.a.local_description()).ok());
    EXPECT_EQ(p.b.signaling_state(), SignalingState::HaveRemoteOffer);
    Pair::deliver(p.b, p.to_b);
    ASSERT_TRUE(p.b.set_local_description().ok());
    ASSERT_TRUE(p.a.set_remote_description(*p.b.local_description()).ok());
    Pair::deliver(p.a, p.to_a);
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return dc->ready_state() == DataChannelState::Open; }));
}

TEST(PeerConnection, DroppingTheLastHandleInsideACallbackIsSafe) {
    EventLoop loop;
    auto a = std::make_unique<PeerConnection>(loop, loopback());
    auto b = std::make_unique<PeerConnection>(loop, loopback());
    std::vector<IceCandidate> to_a, to_b;
    auto deliver = [](PeerConnection& pc, std::vector<IceCandidate>& q) {
        if (!pc.remote_description()) return;
        for (auto& c : q) (void)pc.add_ice_candidate(c);
        q.clear();
    };
    a->on_ice_candidate([&](const IceCandidate& c) { to_b.push_back(c); if (b) deliver(*b, to_b); });
    b->on_ice_candidate([&](const IceCandidate& c) { to_a.push_back(c); if (a) deliver(*a, to_a); });
    bool dropped = false;
    b->on_data_channel([&](DataChannel dc) {
        dc.on_message([&](std::string_view, bool) {
            b.reset();  // the last PeerConnection handle of b, from inside b's own callback
            dropped = true;
        });
    });
    auto dc = a->create_data_channel("drop");
    ASSERT_TRUE(dc.ok());
    dc->on_open([&] { (void)dc->send("drop me"); });
    ASSERT_TRUE(a->set_local_description().ok());
    ASSERT_TRUE(b->set_remote_description(*a->local_description()).ok());
    deliver(*b, to_b);
    ASSERT_TRUE(b->set_local_description().ok());
    ASSERT_TRUE(a->set_remote_description(*b->local_description()).ok());
    deliver(*a, to_a);
    ASSERT_TRUE(run_until(loop, [&] { return dropped; }));
    // The loop goes on: a finds out in time (consent or DTLS), nothing crashes.
    for (int i = 0; i < 20; ++i) loop.run_once(5);
    EXPECT_EQ(b, nullptr);
}

TEST(PeerConnection, HandlersAreDroppedAfterCloseSoCyclesDoNotLeak) {
    // Node-style code captures the handles in their own handlers (a cycle
    // through the library's state); after close nothing may keep them alive.
    Pair p;
    auto sentinel = std::make_shared<int>(0);
    auto dc = p.a.create_data_channel("cycle");
    ASSERT_TRUE(dc.ok());
    DataChannel ch = *dc;
    PeerConnection pc = p.a;
    ch.on_message([ch, sentinel](std::string_view, bool) mutable { (void)ch.send("x"); });
    ch.on_open([ch, sentinel]() mutable { (void)ch.label(); });
    pc.on_connection_state_change([pc, sentinel](PeerConnectionState) mutable { (void)pc.signaling_state(); });
    p.negotiate();
    ASSERT_TRUE(p.connected());
    ASSERT_TRUE(run_until(p.loop, [&] { return ch.ready_state() == DataChannelState::Open; }));
    EXPECT_GT(sentinel.use_count(), 1);
    p.a.close();
    for (int i = 0; i < 5; ++i) p.loop.run_once(1);
    EXPECT_EQ(sentinel.use_count(), 1) << "handlers still hold their captures after close";
}

// A connection that fails says why, naming the layer (duplex-peer names a
// DTLS fingerprint failure as such, issue 14): the answer's fingerprint is
// altered, so the offerer's DTLS check of the certificate fails.
TEST(PeerConnection, AFingerprintMismatchFailsAndSaysSo) {
    Pair p;
    ASSERT_TRUE(p.a.create_data_channel("chat").ok());
    auto offer = p.a.create_offer();
    ASSERT_TRUE(offer.ok());
    ASSERT_TRUE(p.a.set_local_description(*offer).ok());
    ASSERT_TRUE(p.b.set_remote_description(*offer).ok());
    Pair::deliver(p.b, p.to_b);
    auto answer = p.b.create_answer();
    ASSERT_TRUE(answer.ok());
    ASSERT_TRUE(p.b.set_local_description(*answer).ok());
    auto forged = *answer;
    const auto at = forged.sdp.find("a=fingerprint:sha-256 ");
    ASSERT_NE(at, std::string::npos);
    char& first = forged.sdp[at + 22];
    first = first == 'A' ? 'B' : 'A';
    ASSERT_TRUE(p.a.set_remote_description(forged).ok());
    Pair::deliver(p.a, p.to_a);
    EXPECT_EQ(p.a.get_stats().failure_reason, "");
    ASSERT_TRUE(run_until(p.loop, [&] { return p.a.connection_state() == PeerConnectionState::Failed; }));
    const auto why = p.a.get_stats().failure_reason;
    EXPECT_EQ(why.rfind("DTLS: ", 0), 0u) << why;
    EXPECT_NE(why.find("fingerprint"), std::string::npos) << why;
}

// ---- ICE server URLs (RFC 7064/7065) ----

TEST(IceServers, AUrlThatIsNotOneIsTheError) {
    EventLoop loop;
    for (const char* bad : {"stun:stun example org", "http://stun.example.org", "stun:[::1", "turn:host?transport=sctp"}) {
        Configuration c = loopback();
        c.ice_servers = {{{"stun:127.0.0.1:3478", bad}, "", ""}};
        auto pc = PeerConnection::create(loop, c);
        ASSERT_FALSE(pc.ok()) << bad;
        EXPECT_EQ(pc.status().code(), Errc::invalid_argument) << bad;
        EXPECT_NE(pc.status().message().find(bad), std::string::npos) << pc.status().message();
    }
    Configuration good = loopback();
    good.ice_servers = {{{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=tcp", "turns:127.0.0.1"}, "u", "p"}};
    EXPECT_TRUE(PeerConnection::create(loop, good).ok());
    // W3C: a TURN URL without a username or credential is refused.
    Configuration anonymous = loopback();
    anonymous.ice_servers = {{{"turn:127.0.0.1:3478"}, "", ""}};
    auto pc = PeerConnection::create(loop, anonymous);
    ASSERT_FALSE(pc.ok());
    EXPECT_EQ(pc.status().code(), Errc::invalid_argument);
    EXPECT_NE(pc.status().message().find("username and a credential"), std::string::npos) << pc.status().message();
}

TEST(IceServers, SetConfigurationTakesServersAndRefusesWhatCannotChange) {
    EventLoop loop;  // called from this thread, the loop's (calls from others are posted and return ok)
    auto pc = PeerConnection::create(loop, loopback());
    ASSERT_TRUE(pc.ok());
    Configuration next = loopback();
    next.ice_servers = {{{"stun:127.0.0.1:3478", "turn:127.0.0.1:3478"}, "u", "p"}};
    next.ice_transport_policy = IceTransportPolicy::Relay;
    EXPECT_TRUE(pc->set_configuration(next).ok());
    Configuration bad_url = next;
    bad_url.ice_servers = {{{"stun:no such host"}, "", ""}};
    EXPECT_EQ(pc->set_configuration(bad_url).code(), Errc::invalid_argument);
    Configuration other_ports = next;
    other_ports.port_min = 50000;
    other_ports.port_max = 50100;
    const auto st = pc->set_configuration(other_ports);
    EXPECT_EQ(st.code(), Errc::invalid_state);
    EXPECT_NE(st.message().find("local addresses and ports"), std::string::npos) << st.message();
    Configuration other_cert = next;
    other_cert.certificate_pem = "-----BEGIN CERTIFICATE-----";
    EXPECT_EQ(pc->set_configuration(other_cert).code(), Errc::invalid_state);
    pc->close();
    EXPECT_EQ(pc->set_configuration(next).code(), Errc::invalid_state);  // closed
}

namespace {

// A STUN server on 127.0.0.1 that answers each Binding request with a
// mapped address of its choosing (RFC 8489 §6.3.3).
struct StunResponder {
    int fd = -1;
    std::uint16_t port = 0;
    std::atomic<int> requests{0};
    std::atomic<bool> stop{false};
    std::thread thread;

    explicit StunResponder(const duplex::base::Endpoint& mapped) {
        fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        timeval tv{0, 50000};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        thread = std::thread([this, mapped] {
            std::byte buf[1500];
            while (!stop) {
                sockaddr_in from{};
                socklen_t flen = sizeof from;
                const auto n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
                if (n <= 0) continue;
                auto m = duplex::proto::stun::Message::parse(duplex::base::Bytes(buf, static_cast<std::size_t>(n)));
                if (!m || !m->is(duplex::proto::stun::Class::Request, duplex::proto::stun::Method::Binding)) continue;
                ++requests;
                duplex::proto::stun::MessageWriter w(duplex::proto::stun::Class::SuccessResponse,
                                                     duplex::proto::stun::Method::Binding, m->transaction_id());
                w.add_xor_mapped_address(mapped).add_fingerprint();
                ::sendto(fd, w.bytes().data(), w.bytes().size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
            }
        });
    }
    ~StunResponder() {
        stop = true;
        thread.join();
        ::close(fd);
    }
};

}  // namespace

TEST(IceServers, AStunServerByNameIsLookedUpAndGatheringWaitsForIt) {
    // "stun:localhost:PORT": the name is looked up off the loop; the server
    // gives a mapped address (192.0.2.9:40000, as a NAT would), which comes
    // out as a server-reflexive candidate, before the end of candidates.
    StunResponder stun(*duplex::base::Endpoint::parse("192.0.2.9:40000"));
    EventLoop loop;
    Configuration c = loopback();
    c.ice_servers = {{{"stun:localhost:" + std::to_string(stun.port)}, "", ""}};
    auto pc = PeerConnection::create(loop, c);
    ASSERT_TRUE(pc.ok()) << pc.status().message();
    std::vector<std::string> candidates;
    bool ended = false, srflx_before_end = false;
    pc->on_ice_candidate([&](const IceCandidate& ic) {
        if (ic.candidate.empty()) {
            ended = true;
            return;
        }
        candidates.push_back(ic.candidate);
        if (ic.candidate.find("typ srflx") != std::string::npos && !ended) srflx_before_end = true;
    });
    ASSERT_TRUE(pc->create_data_channel("data").ok());
    ASSERT_TRUE(pc->set_local_description().ok());
    ASSERT_TRUE(run_until(loop, [&] { return ended; }, 10s));
    EXPECT_GE(stun.requests.load(), 1);
    EXPECT_TRUE(srflx_before_end);
    bool found = false;
    for (const auto& cand : candidates) found = found || cand.find("192.0.2.9 40000 typ srflx") != std::string::npos;
    EXPECT_TRUE(found) << "no srflx candidate 192.0.2.9:40000 among " << candidates.size();
}
