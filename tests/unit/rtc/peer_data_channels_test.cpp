// rtc::Peer's data channels, two peers in memory: a channel that closes is
// forgotten on both sides, so a peer that opens and closes channels for
// hours holds only those still open.
#include "proto/rtc/peer.hpp"

#include "unit/rtc/peer_pair_in_memory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::proto::rtc;
using namespace std::chrono_literals;

namespace {

using duplex::test::now;
using duplex::test::Pair;
using duplex::test::Side;

template <class E>
std::vector<ChannelKey> keys_of(const Side& s) {
    std::vector<ChannelKey> out;
    for (const auto& ev : s.events)
        if (auto* e = std::get_if<E>(&ev)) out.push_back(e->key);
    return out;
}

bool has(const std::vector<ChannelKey>& v, ChannelKey k) { return std::find(v.begin(), v.end(), k) != v.end(); }

TEST(PeerDataChannels, AClosedChannelIsForgottenOnBothSides) {
    Pair p;
    ChannelOptions keep;
    keep.label = "keep";
    const ChannelKey kept = p.a.peer->create_channel(keep, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && p.b.connected && has(keys_of<event::ChannelOpen>(p.a), kept); }, 10s));

    // Channels opened and closed one after another, closed by either side.
    const int rounds = 40;
    for (int i = 0; i < rounds; ++i) {
        ChannelOptions o;
        o.label = "round " + std::to_string(i);
        const ChannelKey mine = p.a.peer->create_channel(o, now()).value();
        const std::size_t remote_before = keys_of<event::RemoteChannel>(p.b).size();
        ASSERT_TRUE(p.run_until([&] {
            return has(keys_of<event::ChannelOpen>(p.a), mine) && keys_of<event::RemoteChannel>(p.b).size() > remote_before;
        }, 5s)) << i;
        const ChannelKey theirs = keys_of<event::RemoteChannel>(p.b).back();
        ASSERT_NE(p.b.peer->channel(theirs), nullptr);
        EXPECT_EQ(p.b.peer->channel(theirs)->options.label, o.label);
        // The events carry what the API needs, should the channel be gone
        // (closed and forgotten) by the time they are read.
        for (const auto& ev : p.b.events)
            if (auto* r = std::get_if<event::RemoteChannel>(&ev); r && r->key == theirs) {
                EXPECT_EQ(r->options.label, o.label);
            }
        for (const auto& ev : p.b.events)
            if (auto* op = std::get_if<event::ChannelOpen>(&ev); op && op->key == theirs) {
                ASSERT_TRUE(op->stream);
                EXPECT_EQ(op->stream, p.b.peer->channel(theirs)->stream);
            }
        if (i % 2 == 0) p.a.peer->close_channel(mine, now());
        else p.b.peer->close_channel(theirs, now());
        ASSERT_TRUE(p.run_until([&] {
            return has(keys_of<event::ChannelClosed>(p.a), mine) && has(keys_of<event::ChannelClosed>(p.b), theirs);
        }, 5s)) << i;
        // Gone: nothing of it is held, and the handle answers as unknown.
        EXPECT_EQ(p.a.peer->channel(mine), nullptr) << i;
        EXPECT_EQ(p.b.peer->channel(theirs), nullptr) << i;
        EXPECT_FALSE(p.a.peer->send(mine, false, base::as_bytes(std::string_view("late")), now()).ok());
        p.a.peer->close_channel(mine, now());  // twice: nothing happens
    }
    EXPECT_EQ(p.a.peer->stats().channels_closed, static_cast<std::uint32_t>(rounds));
    EXPECT_EQ(p.b.peer->stats().channels_closed, static_cast<std::uint32_t>(rounds));
    // The one left open is still there, and still carries messages.
    ASSERT_NE(p.a.peer->channel(kept), nullptr);
    EXPECT_EQ(p.a.peer->channel(kept)->state, ChannelState::Open);
    ASSERT_TRUE(p.a.peer->send(kept, false, base::as_bytes(std::string_view("still here")), now()).ok());
    ASSERT_TRUE(p.run_until([&] {
        for (const auto& ev : p.b.events)
            if (auto* m = std::get_if<event::ChannelMessage>(&ev);
                m && std::string_view(reinterpret_cast<const char*>(m->data.data()), m->data.size()) == "still here")
                return true;
        return false;
    }, 5s));
}

TEST(PeerDataChannels, AChannelClosedBeforeTheFirstOfferStillGivesTheOfferItsDataSection) {
    Pair p;
    ChannelOptions o;
    o.label = "gone";
    const ChannelKey k = p.a.peer->create_channel(o, now()).value();
    p.a.peer->close_channel(k, now());
    EXPECT_EQ(p.a.peer->channel(k), nullptr);
    const auto offer = p.a.peer->create_offer().value();
    EXPECT_NE(offer.find("m=application"), std::string::npos) << offer;
}

TEST(PeerDataChannels, AChannelWithNoStreamIdLeftFailsAndIsForgotten) {
    // 1024 streams: 512 of our parity. The 513th channel made while the
    // association is up has no id: it fails at once, saying so.
    Pair p;
    ChannelOptions first;
    first.label = "0";
    (void)p.a.peer->create_channel(first, now()).value();
    p.negotiate();
    ASSERT_TRUE(p.run_until([&] { return p.a.connected && !keys_of<event::ChannelOpen>(p.a).empty(); }, 10s));
    ChannelKey last = 0;
    for (int i = 1; i <= 512; ++i) {
        ChannelOptions o;
        o.label = std::to_string(i);
        last = p.a.peer->create_channel(o, now()).value();
    }
    EXPECT_EQ(p.a.peer->channel(last), nullptr);
    bool said = false;
    while (auto ev = p.a.peer->poll_event())
        if (auto* e = std::get_if<event::ChannelError>(&*ev); e && e->key == last)
            said = e->message.find("no free SCTP stream id") != std::string::npos;
    EXPECT_TRUE(said);
    EXPECT_EQ(p.a.peer->channel(last - 1)->options.label, "511");
}

}  // namespace
