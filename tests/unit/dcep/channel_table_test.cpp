// The data channel table: stream ids by DTLS role (RFC 8832 §6), the DCEP
// exchange, negotiated channels and the W3C reliability rules.
#include "proto/dcep/channel_table.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::proto::dcep;

namespace {

ChannelInit init(std::string label, Reliability r = {}) {
    ChannelInit i;
    i.label = std::move(label);
    i.reliability = r;
    return i;
}

// Reliability without designated initializers (g++ 12 warns on partial ones).
Reliability rel(bool ordered, std::optional<std::uint16_t> max_retransmits = std::nullopt,
                std::optional<std::uint32_t> max_packet_life_time = std::nullopt) {
    Reliability r;
    r.ordered = ordered;
    r.max_retransmits = max_retransmits;
    r.max_packet_life_time = max_packet_life_time;
    return r;
}

DataChannelOpen remote_open(std::string label, ChannelType type = ChannelType::Reliable, std::uint32_t param = 0) {
    return DataChannelOpen{type, kPriorityNormal, param, std::move(label), "proto"};
}

}  // namespace

TEST(DcepChannelTable, ParityByRole) {
    ChannelTable client, server;
    for (int expect : {0, 2, 4, 6}) {
        auto r = client.open(init("c"), /*dtls_is_client=*/true);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->stream_id, expect);
    }
    for (int expect : {1, 3, 5, 7}) {
        auto r = server.open(init("s"), /*dtls_is_client=*/false);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->stream_id, expect);
    }
    EXPECT_EQ(*client.allocate_stream_id(true), 8);
    EXPECT_EQ(*client.allocate_stream_id(false), 1);  // allocate only looks: the other parity is free here
    EXPECT_EQ(client.size(), 4u);
}

TEST(DcepChannelTable, LowestFreeIdIsReused) {
    ChannelTable t;
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(t.open(init("x"), true));  // 0 2 4 6
    ASSERT_TRUE(t.close(2).ok());
    EXPECT_EQ(*t.allocate_stream_id(true), 8);  // still closing: not free yet
    ASSERT_TRUE(t.release(2).ok());
    EXPECT_EQ(*t.allocate_stream_id(true), 2);
    EXPECT_FALSE(t.find(2));
}

TEST(DcepChannelTable, ExhaustionIsAnError) {
    ChannelTable t({.max_streams = 5});
    EXPECT_EQ(t.open(init("a"), true)->stream_id, 0);
    EXPECT_EQ(t.open(init("b"), true)->stream_id, 2);
    EXPECT_EQ(t.open(init("c"), true)->stream_id, 4);
    auto full = t.open(init("d"), true);
    EXPECT_EQ(full.error(), DcepError::streams_exhausted);
    EXPECT_EQ(t.allocate_stream_id(true).error(), DcepError::streams_exhausted);
    EXPECT_EQ(t.size(), 3u);
    // The server side of the same table still has 1 and 3.
    EXPECT_EQ(t.open(init("e"), false)->stream_id, 1);
    EXPECT_EQ(t.open(init("f"), false)->stream_id, 3);
    EXPECT_EQ(t.open(init("g"), false).error(), DcepError::streams_exhausted);

    ChannelTable one({.max_streams = 1});
    EXPECT_EQ(one.allocate_stream_id(false).error(), DcepError::streams_exhausted);
    EXPECT_EQ(*one.allocate_stream_id(true), 0);
}

TEST(DcepChannelTable, OpenSendsTheOpenMessageAndWaitsForTheAck) {
    ChannelTable t;
    ChannelInit i = init("chat", rel(false, 5));
    i.protocol = "json";
    i.priority = kPriorityHigh;
    auto r = t.open(i, true);
    ASSERT_TRUE(r);
    auto m = parse(r->message);
    ASSERT_TRUE(m);
    const auto& o = std::get<DataChannelOpen>(*m);
    EXPECT_EQ(o.channel_type, ChannelType::PartialReliableRexmitUnordered);
    EXPECT_EQ(o.reliability_parameter, 5u);
    EXPECT_EQ(o.priority, kPriorityHigh);
    EXPECT_EQ(o.label, "chat");
    EXPECT_EQ(o.protocol, "json");

    const Channel* c = t.find(r->stream_id);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, ChannelState::Connecting);
    EXPECT_TRUE(c->local);
    EXPECT_TRUE(c->open_sent);
    EXPECT_FALSE(c->negotiated);
    EXPECT_EQ(c->reliability, i.reliability);
    // §6: unordered, but ordered until the peer is heard from.
    EXPECT_TRUE(c->send_ordered());

    ASSERT_TRUE(t.on_ack_received(r->stream_id).ok());
    EXPECT_EQ(c->state, ChannelState::Open);
    EXPECT_FALSE(c->send_ordered());
    // A second ACK is unexpected.
    EXPECT_EQ(t.on_ack_received(r->stream_id).code(), DcepError::unexpected_ack);
    EXPECT_EQ(t.on_ack_received(100).code(), DcepError::unknown_stream);
}

TEST(DcepChannelTable, UserDataStandsForTheAck) {
    ChannelTable t;
    auto r = t.open(init("x", rel(false)), false);
    ASSERT_TRUE(r);
    const Channel* c = t.on_user_message(r->stream_id);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, ChannelState::Open);
    EXPECT_FALSE(c->send_ordered());
    // The real ACK arriving after that is no longer expected, and harmless.
    EXPECT_EQ(t.on_ack_received(r->stream_id).code(), DcepError::unexpected_ack);
    EXPECT_EQ(t.find(r->stream_id)->state, ChannelState::Open);
    EXPECT_FALSE(t.on_user_message(999));
}

// A channel made before the association is up: the id is taken at once, the
// OPEN goes later, and nothing from the peer counts as its answer before then.
TEST(DcepChannelTable, AddLocalTakesTheIdAndTheOpenGoesLater) {
    ChannelTable t;
    t.set_dtls_role(false);
    ASSERT_TRUE(t.add_local(1, init("early", rel(false, std::nullopt, 100))).ok());
    const Channel* c = t.find(1);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, ChannelState::Connecting);
    EXPECT_TRUE(c->local);
    EXPECT_FALSE(c->open_sent);
    EXPECT_TRUE(c->send_ordered());
    EXPECT_EQ(*t.allocate_stream_id(false), 3);  // taken, though nothing was sent
    EXPECT_EQ(t.on_open_received(1, remote_open("x")).error(), DcepError::stream_in_use);
    // Before the OPEN: no ACK is expected and no data belongs to it.
    EXPECT_EQ(t.on_ack_received(1).code(), DcepError::unexpected_ack);
    EXPECT_FALSE(t.on_user_message(1));
    EXPECT_EQ(c->state, ChannelState::Connecting);
    EXPECT_FALSE(c->heard_from_peer);

    auto open = t.take_open(1);
    ASSERT_TRUE(open);
    auto m = parse(*open);
    ASSERT_TRUE(m);
    const auto& o = std::get<DataChannelOpen>(*m);
    EXPECT_EQ(o.label, "early");
    EXPECT_EQ(o.channel_type, ChannelType::PartialReliableTimedUnordered);
    EXPECT_EQ(o.reliability_parameter, 100u);
    EXPECT_EQ(o.priority, kPriorityNormal);
    EXPECT_TRUE(c->open_sent);
    EXPECT_EQ(t.take_open(1).error(), DcepError::no_open_to_send);  // once
    EXPECT_EQ(t.take_open(9).error(), DcepError::unknown_stream);

    ASSERT_TRUE(t.on_ack_received(1).ok());
    EXPECT_EQ(c->state, ChannelState::Open);
    EXPECT_FALSE(c->send_ordered());
}

TEST(DcepChannelTable, AddLocalRefusesWhatNoOpenCanCarry) {
    ChannelTable t;
    EXPECT_EQ(t.add_local(0, init(std::string(kMaxLabelSize + 1, 'l'))).code(), Errc::invalid_argument);
    ChannelInit long_protocol = init("x");
    long_protocol.protocol.assign(kMaxProtocolSize + 1, 'p');
    EXPECT_EQ(t.add_local(0, long_protocol).code(), Errc::invalid_argument);
    EXPECT_EQ(t.open(long_protocol, true).error(), Errc::invalid_argument);
    EXPECT_EQ(t.add_local(1024, init("far")).code(), DcepError::stream_out_of_range);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_TRUE(t.add_local(0, init(std::string(kMaxLabelSize, 'l'))).ok());
    EXPECT_TRUE(t.take_open(0));
}

// A channel we close before the ACK stays closing when the ACK comes.
TEST(DcepChannelTable, AckWhileClosingDoesNotReopen) {
    ChannelTable t;
    auto r = t.open(init("x"), true);
    ASSERT_TRUE(r);
    ASSERT_TRUE(t.close(r->stream_id).ok());
    ASSERT_TRUE(t.on_ack_received(r->stream_id).ok());
    EXPECT_EQ(t.find(r->stream_id)->state, ChannelState::Closing);
    EXPECT_TRUE(t.find(r->stream_id)->heard_from_peer);
}

TEST(DcepChannelTable, OpenReceivedIsAckedAndRegistered) {
    ChannelTable t;
    t.set_dtls_role(/*dtls_is_client=*/false);  // we are the server: the peer opens even ids
    auto ack = t.on_open_received(4, remote_open("remote", ChannelType::PartialReliableTimed, 3000));
    ASSERT_TRUE(ack) << ack.status().message();
    EXPECT_EQ(*ack, encode_ack());
    const Channel* c = t.find(4);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, ChannelState::Open);
    EXPECT_FALSE(c->local);
    EXPECT_FALSE(c->negotiated);
    EXPECT_EQ(c->label, "remote");
    EXPECT_EQ(c->protocol, "proto");
    EXPECT_EQ(c->reliability, (rel(true, std::nullopt, 3000)));
    EXPECT_TRUE(c->send_ordered());
    // No ACK expected on a channel the peer opened.
    EXPECT_EQ(t.on_ack_received(4).code(), DcepError::unexpected_ack);
    // Our own allocation skips nothing of ours, and theirs is taken.
    EXPECT_EQ(*t.allocate_stream_id(false), 1);
}

TEST(DcepChannelTable, OpenReceivedOnOurParityIsRefused) {
    ChannelTable client;
    client.set_dtls_role(true);  // our ids are even: the peer must use odd ones
    EXPECT_EQ(client.on_open_received(2, remote_open("x")).error(), DcepError::wrong_parity);
    EXPECT_FALSE(client.find(2));
    EXPECT_TRUE(client.on_open_received(3, remote_open("x")));

    ChannelTable server;
    server.set_dtls_role(false);
    EXPECT_EQ(server.on_open_received(1, remote_open("x")).error(), DcepError::wrong_parity);
    EXPECT_TRUE(server.on_open_received(0, remote_open("x")));

    // Before the role is known, only collisions are refused.
    ChannelTable unknown;
    EXPECT_FALSE(unknown.dtls_role());
    EXPECT_TRUE(unknown.on_open_received(2, remote_open("a")));
    EXPECT_TRUE(unknown.on_open_received(3, remote_open("b")));
}

TEST(DcepChannelTable, OpenReceivedOnAStreamInUseChangesNothing) {
    ChannelTable t;
    t.set_dtls_role(true);
    auto mine = t.open(init("mine"), true);
    ASSERT_TRUE(mine);
    // A (misbehaving) peer opens on our stream: refused, ours untouched.
    EXPECT_EQ(t.on_open_received(mine->stream_id, remote_open("theirs")).error(), DcepError::stream_in_use);
    ASSERT_TRUE(t.on_open_received(1, remote_open("first")));
    EXPECT_EQ(t.on_open_received(1, remote_open("second")).error(), DcepError::stream_in_use);
    EXPECT_EQ(t.find(1)->label, "first");
    EXPECT_EQ(t.find(0)->label, "mine");
    EXPECT_EQ(t.on_open_received(1024, remote_open("far")).error(), DcepError::stream_out_of_range);
}

TEST(DcepChannelTable, NegotiatedChannels) {
    ChannelTable t;
    // Any parity, open at once, no DCEP.
    ASSERT_TRUE(t.reserve(0, init("n0")).ok());
    ASSERT_TRUE(t.reserve(7, init("n7", rel(false))).ok());
    const Channel* c = t.find(7);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->state, ChannelState::Open);
    EXPECT_TRUE(c->negotiated);
    EXPECT_FALSE(c->send_ordered());  // no ACK to wait for
    EXPECT_EQ(t.on_ack_received(7).code(), DcepError::unexpected_ack);
    // Collisions.
    EXPECT_EQ(t.reserve(7, init("again")).code(), DcepError::stream_in_use);
    EXPECT_EQ(t.find(7)->label, "n7");
    EXPECT_EQ(t.reserve(1024, init("far")).code(), DcepError::stream_out_of_range);
    // In-band allocation steps over negotiated ids.
    EXPECT_EQ(t.open(init("inband"), true)->stream_id, 2);
    EXPECT_EQ(t.open(init("inband"), false)->stream_id, 1);
    EXPECT_EQ(t.open(init("inband"), false)->stream_id, 3);
    // A remote OPEN on a negotiated id collides.
    EXPECT_EQ(t.on_open_received(0, remote_open("x")).error(), DcepError::stream_in_use);
    // And add_local on a taken id; a negotiated channel has no OPEN to send.
    EXPECT_EQ(t.add_local(0, init("x")).code(), DcepError::stream_in_use);
    EXPECT_EQ(t.take_open(0).error(), DcepError::no_open_to_send);
    EXPECT_EQ(t.stream_ids(), (std::vector<std::uint16_t>{0, 1, 2, 3, 7}));
}

TEST(DcepChannelTable, BothLimitsIsAnError) {
    ChannelTable t;
    const Reliability both{.ordered = true, .max_retransmits = 1, .max_packet_life_time = 100};
    EXPECT_EQ(to_wire(both).error(), Errc::invalid_argument);
    EXPECT_EQ(t.open(init("x", both), true).error(), Errc::invalid_argument);
    EXPECT_EQ(t.reserve(4, init("x", both)).code(), Errc::invalid_argument);
    EXPECT_EQ(t.size(), 0u);
}

TEST(DcepChannelTable, ReliabilityMapping) {
    struct Case { Reliability r; ChannelType type; std::uint32_t param; };
    const Case cases[] = {
        {rel(true), ChannelType::Reliable, 0},
        {rel(false), ChannelType::ReliableUnordered, 0},
        {rel(true, 0), ChannelType::PartialReliableRexmit, 0},
        {rel(false, 65535), ChannelType::PartialReliableRexmitUnordered, 65535},
        {rel(true, std::nullopt, 1500), ChannelType::PartialReliableTimed, 1500},
        {rel(false, std::nullopt, 0xffffffff), ChannelType::PartialReliableTimedUnordered, 0xffffffff},
    };
    for (const auto& c : cases) {
        auto w = to_wire(c.r);
        ASSERT_TRUE(w);
        EXPECT_EQ(w->channel_type, c.type);
        EXPECT_EQ(w->reliability_parameter, c.param);
        EXPECT_EQ(from_wire(c.type, c.param), c.r);
    }
    // A reliable type's parameter is ignored on receipt (§5.1).
    EXPECT_EQ(from_wire(ChannelType::Reliable, 42), (rel(true)));
    EXPECT_EQ(from_wire(ChannelType::ReliableUnordered, 42), (rel(false)));
    // More retransmissions than an unsigned short holds: clamped.
    EXPECT_EQ(from_wire(ChannelType::PartialReliableRexmit, 70000), (rel(true, 65535)));
}

TEST(DcepChannelTable, CloseAndRelease) {
    ChannelTable t;
    auto r = t.open(init("x"), true);
    ASSERT_TRUE(r);
    ASSERT_TRUE(t.close(r->stream_id).ok());
    EXPECT_EQ(t.find(r->stream_id)->state, ChannelState::Closing);
    ASSERT_TRUE(t.close(r->stream_id).ok());  // again: fine
    EXPECT_EQ(t.find(r->stream_id)->state, ChannelState::Closing);
    // Data still arriving while closing does not reopen it.
    ASSERT_TRUE(t.on_user_message(r->stream_id));
    EXPECT_EQ(t.find(r->stream_id)->state, ChannelState::Closing);
    ASSERT_TRUE(t.release(r->stream_id).ok());
    EXPECT_FALSE(t.find(r->stream_id));
    EXPECT_EQ(t.release(r->stream_id).code(), DcepError::unknown_stream);
    EXPECT_EQ(t.close(r->stream_id).code(), DcepError::unknown_stream);
    EXPECT_EQ(t.size(), 0u);
    EXPECT_STREQ(to_string(ChannelState::Closing), "closing");
}

TEST(DcepChannelTable, FullRangeOfStreamIds) {
    ChannelTable t({.max_streams = 65535});
    EXPECT_TRUE(t.reserve(65534, init("last")).ok());
    EXPECT_EQ(t.reserve(65535, init("reserved")).code(), DcepError::stream_out_of_range);
    EXPECT_EQ(*t.allocate_stream_id(false), 1);
    EXPECT_EQ(t.max_streams(), 65535);
}

// Two tables talking: the client opens, the server acks, both agree.
TEST(DcepChannelTable, TwoSidesAgree) {
    ChannelTable a, b;
    a.set_dtls_role(true);
    b.set_dtls_role(false);
    auto open = a.open(init("shared", rel(false, std::nullopt, 250)), true);
    ASSERT_TRUE(open);
    auto msg = parse(open->message);
    ASSERT_TRUE(msg);
    auto ack = b.on_open_received(open->stream_id, std::get<DataChannelOpen>(*msg));
    ASSERT_TRUE(ack);
    auto ack_msg = parse(*ack);
    ASSERT_TRUE(ack_msg && std::holds_alternative<DataChannelAck>(*ack_msg));
    ASSERT_TRUE(a.on_ack_received(open->stream_id).ok());
    const Channel* ca = a.find(open->stream_id);
    const Channel* cb = b.find(open->stream_id);
    ASSERT_TRUE(ca && cb);
    EXPECT_EQ(ca->state, ChannelState::Open);
    EXPECT_EQ(cb->state, ChannelState::Open);
    EXPECT_EQ(ca->label, cb->label);
    EXPECT_EQ(ca->reliability, cb->reliability);
    // Simultaneous opens do not collide: b opens on odd ids.
    auto from_b = b.open(init("back"), false);
    ASSERT_TRUE(from_b);
    EXPECT_EQ(from_b->stream_id % 2, 1);
    EXPECT_TRUE(a.on_open_received(from_b->stream_id, std::get<DataChannelOpen>(*parse(from_b->message))));
}
