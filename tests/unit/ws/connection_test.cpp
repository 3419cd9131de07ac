// The framing and closing rules of RFC 6455, each checked in both roles
// (mirrored, as Python websockets does): the server receives masked frames,
// the client unmasked ones. Every byte stream is also fed at every split point.
#include "proto/ws/connection.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::test;
using proto::ws::State;

namespace {

class WsRole : public ::testing::TestWithParam<Role> {
protected:
    Role role() const { return GetParam(); }
    bool peer_masks() const { return role() == Role::Server; }
    std::vector<std::byte> peer(std::uint8_t b0, std::string_view payload) { return frame(b0, payload, peer_masks()); }
    /// The same frame with the wrong masking for this role.
    std::vector<std::byte> wrong_mask(std::uint8_t b0, std::string_view payload) {
        return frame(b0, payload, !peer_masks());
    }
    void expect_failed(Harness& h, std::uint16_t code) {
        const auto* c = h.closed();
        ASSERT_TRUE(c) << "no Closed event";
        EXPECT_EQ(c->code, code);
        EXPECT_FALSE(c->clean);
        EXPECT_TRUE(c->error);
        auto frames = h.take_frames();
        ASSERT_FALSE(frames.empty()) << "no Close frame sent";
        EXPECT_EQ(frames.back().opcode, 0x8);
        EXPECT_EQ(frames.back().close_code(), code);
        EXPECT_EQ(frames.back().masked, role() == Role::Client);
        EXPECT_TRUE(h.conn.should_close_transport());
        EXPECT_EQ(h.conn.state(), State::Closed);
    }
};

INSTANTIATE_TEST_SUITE_P(BothRoles, WsRole, ::testing::Values(Role::Server, Role::Client),
                         [](const ::testing::TestParamInfo<Role>& p) { return p.param == Role::Server ? "Server" : "Client"; });

TEST_P(WsRole, TextMessageAtEverySplit) {
    const auto input = concat({peer(0x81, "Hello"), peer(0x82, std::string(300, 'x')), peer(0x81, "")});
    for_each_split(input, [&](std::vector<std::size_t> cuts) {
        Harness h(role());
        h.feed(input, cuts);
        auto msgs = h.messages();
        ASSERT_EQ(msgs.size(), 3u);
        EXPECT_EQ(msgs[0].data, "Hello");
        EXPECT_FALSE(msgs[0].binary);
        EXPECT_EQ(msgs[1].data, std::string(300, 'x'));
        EXPECT_TRUE(msgs[1].binary);
        EXPECT_EQ(msgs[2].data, "");
        EXPECT_FALSE(h.stalled);
    });
}

TEST_P(WsRole, FragmentedMessageWithInterleavedPing) {
    // §5.4: control frames may be injected in the middle of a fragmented message.
    const auto input = concat({peer(0x01, "Hel"), peer(0x89, "ping!"), peer(0x00, "lo, "), peer(0x80, "world")});
    for_each_split(input, [&](std::vector<std::size_t> cuts) {
        Harness h(role());
        h.feed(input, cuts);
        ASSERT_EQ(h.events.size(), 2u);
        EXPECT_EQ(h.events[0].kind, Recorded::Ping);
        EXPECT_EQ(h.events[0].data, "ping!");
        EXPECT_EQ(h.events[1].kind, Recorded::Message);
        EXPECT_EQ(h.events[1].data, "Hello, world");
        auto frames = h.take_frames();
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_EQ(frames[0].opcode, 0xA);  // §5.5.2: pong with the same payload
        EXPECT_EQ(frames[0].payload, "ping!");
    });
}

TEST_P(WsRole, ALargeMessagesBufferIsNotKeptForTheNextMessage) {
    // Memory per connection: the reassembly buffer a 200 KiB fragmented
    // message grew is released when the next message begins; a small one is
    // reused.
    Harness h(role());
    const std::string big(200 * 1024, 'b');
    h.feed(concat({peer(0x02, big.substr(0, 1000)), peer(0x80, big.substr(1000))}));
    ASSERT_EQ(h.messages().size(), 1u);
    EXPECT_EQ(h.messages()[0].data, big);
    EXPECT_GE(h.conn.reassembly_capacity(), big.size());
    h.feed(concat({peer(0x01, "sm"), peer(0x80, "all")}));
    ASSERT_EQ(h.messages().size(), 2u);
    EXPECT_EQ(h.messages()[1].data, "small");
    const auto kept = h.conn.reassembly_capacity();
    EXPECT_LE(kept, 64u * 1024);
    EXPECT_GT(kept, 0u);
    h.feed(concat({peer(0x01, "ag"), peer(0x80, "ain")}));
    EXPECT_EQ(h.conn.reassembly_capacity(), kept);  // reused, not made again
    // After another large one, whole messages alone (the fast path) let it go too.
    h.feed(concat({peer(0x02, big.substr(0, 1000)), peer(0x80, big.substr(1000))}));
    EXPECT_GE(h.conn.reassembly_capacity(), big.size());
    h.feed(peer(0x81, "whole"));
    h.feed(peer(0x81, "again"));
    EXPECT_LE(h.conn.reassembly_capacity(), 64u * 1024);
}

TEST(WsConnection, AnEchoIsValidatedAgainOnceTheInputBufferMayHaveBeenReused) {
    // §8.1: a server skips validating a text it sends back exactly as it
    // received it, but only while the bytes are still those: once the
    // runtime says the input buffer may be reused (by another connection),
    // the same span is checked again.
    Connection conn(Role::Server);
    auto wire = frame(0x81, "hello", true);
    const auto now = base::Clock::now();
    ASSERT_EQ(conn.handle_bytes(wire, now), wire.size());
    auto ev = conn.poll_event();
    ASSERT_TRUE(ev);
    auto* m = std::get_if<proto::ws::MessageEvent>(&*ev);
    ASSERT_TRUE(m);
    const base::Bytes echoed = m->data;
    EXPECT_TRUE(conn.send(echoed, false).ok());  // trusted: just validated
    conn.input_done();
    // The buffer now holds someone else's bytes: not UTF-8.
    auto* p = const_cast<std::byte*>(echoed.data());
    for (std::size_t i = 0; i < echoed.size(); ++i) p[i] = std::byte{0xff};
    EXPECT_EQ(conn.send(echoed, false).code(), make_error_code(Errc::invalid_argument));
}

// The fast paths (the runtime's, connection.hpp's drive loop), directly:
// take_message hands over exactly the message poll_event would have, and
// leaves other events to it; try_send_short writes the frame send() would,
// or declines and does nothing. (ws_frame_fuzz drives both ways side by
// side and compares.)
TEST(WsConnection, TakeMessageIsWhatPollEventWouldGiveAndLeavesTheRest) {
    Connection conn(Role::Server);
    auto wire = concat({frame(0x81, "one", true), frame(0x89, "ping?", true), frame(0x82, "two", true)});
    const auto now = base::Clock::now();
    std::span<std::byte> in(wire);
    base::Bytes data;
    bool binary = true;
    EXPECT_FALSE(conn.take_message(data, binary));  // nothing yet
    in = in.subspan(conn.handle_bytes(in, now));
    ASSERT_TRUE(conn.take_message(data, binary));
    EXPECT_EQ(base::as_string_view(data), "one");
    EXPECT_FALSE(binary);
    EXPECT_FALSE(conn.take_message(data, binary));  // taken once
    EXPECT_FALSE(conn.poll_event());                // and not again by poll_event
    in = in.subspan(conn.handle_bytes(in, now));
    EXPECT_FALSE(conn.take_message(data, binary));  // a Ping is poll_event's
    auto ping = conn.poll_event();
    ASSERT_TRUE(ping && std::holds_alternative<proto::ws::PingEvent>(*ping));
    in = in.subspan(conn.handle_bytes(in, now));
    ASSERT_TRUE(conn.take_message(data, binary));
    EXPECT_EQ(base::as_string_view(data), "two");
    EXPECT_TRUE(binary);
    EXPECT_TRUE(in.empty());
}

TEST(WsConnection, TrySendShortWritesWhatSendWouldOrDeclinesAndDoesNothing) {
    const auto now = base::Clock::now();
    Connection fast(Role::Server), general(Role::Server);
    // Binary under 126 bytes: the same two-byte header and payload.
    const std::string payload(125, 'b');
    ASSERT_TRUE(fast.try_send_short(base::as_bytes(payload), true));
    ASSERT_TRUE(general.send(base::as_bytes(payload), true).ok());
    EXPECT_EQ(base::as_string_view(fast.tx().data()), base::as_string_view(general.tx().data()));
    const auto before = fast.tx().size();
    // Declined, nothing written: 126 bytes (a 16-bit length), a text not known
    // to be valid, a client (it masks), a closed connection.
    EXPECT_FALSE(fast.try_send_short(base::as_bytes(std::string(126, 'b')), true));
    EXPECT_FALSE(fast.try_send_short(base::as_bytes(std::string_view("text")), false));
    EXPECT_EQ(fast.tx().size(), before);
    Connection client(Role::Client);
    EXPECT_FALSE(client.try_send_short(base::as_bytes(std::string_view("x")), true));
    EXPECT_TRUE(client.tx().empty());
    ASSERT_TRUE(fast.close(1000, "", now).ok());
    const auto closing = fast.tx().size();
    EXPECT_FALSE(fast.try_send_short(base::as_bytes(std::string_view("x")), true));
    EXPECT_EQ(fast.tx().size(), closing);
    // The echo of a text just received and validated goes the short way.
    Connection echo(Role::Server);
    auto wire = frame(0x81, "caf\xc3\xa9", true);
    ASSERT_EQ(echo.handle_bytes(wire, now), wire.size());
    base::Bytes data;
    bool binary = true;
    ASSERT_TRUE(echo.take_message(data, binary));
    EXPECT_TRUE(echo.try_send_short(data, false));
    EXPECT_EQ(base::as_string_view(echo.tx().data()), std::string("\x81\x05" "caf\xc3\xa9", 7));
    echo.input_done();  // the buffer may be reused now: no longer trusted
    echo.tx().clear();
    EXPECT_FALSE(echo.try_send_short(data, false));
}

TEST_P(WsRole, APingAndTheEofBehindItAreBothReportedInOrder) {
    // Ping, Pong and Closed wait in a two-place queue: a Ping not yet polled
    // when the transport ends comes out first, with its data, then Closed.
    Connection conn(role());
    auto ping = peer(0x89, "still there?");
    const auto now = base::Clock::now();
    EXPECT_EQ(conn.handle_bytes(ping, now), ping.size());
    conn.handle_eof(now);
    auto first = conn.poll_event();
    ASSERT_TRUE(first);
    auto* p = std::get_if<proto::ws::PingEvent>(&*first);
    ASSERT_TRUE(p);
    EXPECT_EQ(base::as_string_view(p->data), "still there?");
    auto second = conn.poll_event();
    ASSERT_TRUE(second);
    auto* c = std::get_if<proto::ws::ClosedEvent>(&*second);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->code, 1006);
    EXPECT_FALSE(c->clean);
    EXPECT_FALSE(conn.poll_event());
}

TEST_P(WsRole, UnsolicitedPongIsAccepted) {
    Harness h(role());
    h.feed(peer(0x8A, "hb"));
    ASSERT_EQ(h.events.size(), 1u);
    EXPECT_EQ(h.events[0].kind, Recorded::Pong);
    EXPECT_TRUE(h.take_frames().empty());
    EXPECT_EQ(h.conn.state(), State::Open);
}

TEST_P(WsRole, WrongMaskingFailsWith1002) {
    const auto input = wrong_mask(0x81, "Spam");
    for_each_split(input, [&](std::vector<std::size_t> cuts) {
        Harness h(role());
        h.feed(input, cuts);
        expect_failed(h, 1002);
    });
}

TEST_P(WsRole, ReservedBitsFailWith1002) {
    for (std::uint8_t rsv : {std::uint8_t{0x40}, std::uint8_t{0x20}, std::uint8_t{0x10}}) {
        Harness h(role());
        h.feed(peer(static_cast<std::uint8_t>(0x81 | rsv), "x"));
        expect_failed(h, 1002);
        EXPECT_TRUE(h.messages().empty());
    }
}

TEST_P(WsRole, ReservedOpcodesFailWith1002) {
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        Harness h(role());
        h.feed(peer(static_cast<std::uint8_t>(0x80 | op), ""));
        expect_failed(h, 1002);
    }
}

TEST_P(WsRole, ControlFrameRules) {
    {
        Harness h(role());
        h.feed(peer(0x89, std::string(126, 'p')));  // §5.5: ≤ 125
        expect_failed(h, 1002);
    }
    {
        Harness h(role());
        h.feed(peer(0x09, "frag"));  // §5.5: not fragmented
        expect_failed(h, 1002);
    }
    {
        Harness h(role());
        h.feed(peer(0x89, std::string(125, 'p')));
        EXPECT_EQ(h.events.size(), 1u);
        EXPECT_EQ(h.conn.state(), State::Open);
    }
}

TEST_P(WsRole, ContinuationRules) {
    {
        Harness h(role());
        h.feed(peer(0x80, "orphan"));  // continuation without a start
        expect_failed(h, 1002);
    }
    {
        Harness h(role());
        h.feed(concat({peer(0x01, "a"), peer(0x81, "b")}));  // new message inside one
        expect_failed(h, 1002);
    }
}

TEST_P(WsRole, InvalidUtf8FailsWith1007AtEverySplit) {
    const auto input = peer(0x81, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited");
    for_each_split(input, [&](std::vector<std::size_t> cuts) {
        Harness h(role());
        h.feed(input, cuts);
        expect_failed(h, 1007);
        EXPECT_TRUE(h.messages().empty());
    });
}

TEST_P(WsRole, Utf8SplitAcrossFragmentsIsFine) {
    const auto input = concat({peer(0x01, "\xce"), peer(0x00, "\xba\xe1"), peer(0x80, "\xbd\xb9")});
    Harness h(role());
    h.feed(input);
    ASSERT_EQ(h.messages().size(), 1u);
    EXPECT_EQ(h.messages()[0].data, "\xce\xba\xe1\xbd\xb9");
}

TEST_P(WsRole, TextEndingMidCharacterFailsWith1007) {
    Harness h(role());
    h.feed(concat({peer(0x01, "ok"), peer(0x80, "\xe1\xbd")}));
    expect_failed(h, 1007);
}

TEST_P(WsRole, OverTheMessageLimitFailsWith1009) {
    proto::ws::Options o;
    o.max_message_size = 100;
    {
        Harness h(role(), o);
        h.feed(peer(0x82, std::string(101, 'b')));
        expect_failed(h, 1009);
    }
    {
        Harness h(role(), o);  // over the limit only once reassembled
        h.feed(concat({peer(0x02, std::string(60, 'b')), peer(0x80, std::string(60, 'b'))}));
        expect_failed(h, 1009);
    }
    {
        Harness h(role(), o);
        h.feed(peer(0x82, std::string(100, 'b')));
        EXPECT_EQ(h.messages().size(), 1u);
    }
}

TEST_P(WsRole, LimitsOver32BitsAreHeldAt4GiBAndALongerFrameIsRefused) {
    // The limits are kept in 32 bits (memory per connection): a limit set
    // higher means 4 GiB - 1, so a frame that declares 5 GiB fails with 1009
    // at its header rather than being counted in a wrapped length.
    proto::ws::Options o;
    o.max_message_size = std::uint64_t{1} << 40;
    o.max_frame_size = std::uint64_t{1} << 40;
    {
        Harness h(role(), o);
        h.feed(frame(0x82, "", peer_masks(), std::uint64_t{5} << 30));
        expect_failed(h, 1009);
    }
    {
        Harness h(role(), o);  // just under: accepted, waits for the payload
        h.feed(frame(0x82, "", peer_masks(), UINT32_MAX));
        EXPECT_EQ(h.closed(), nullptr);
        EXPECT_EQ(h.conn.state(), State::Open);
    }
    {
        Harness h(role(), o);  // fragments of a message over 4 GiB - 1 in all
        h.feed(concat({peer(0x02, "abcdefghijk"), frame(0x80, "", peer_masks(), UINT32_MAX - 5)}));
        expect_failed(h, 1009);
    }
}

TEST(WsConnection, TheCloseTimeoutIsKeptInWholeMillisecondsRoundedUp) {
    proto::ws::Options o;
    o.close_timeout = std::chrono::microseconds(1500);
    proto::ws::Connection c(Role::Server, o);
    EXPECT_EQ(c.close_timeout(), std::chrono::milliseconds(2));
    o.close_timeout = std::chrono::hours(24 * 60);  // past 32 bits of milliseconds
    proto::ws::Connection d(Role::Server, o);
    EXPECT_EQ(d.close_timeout(), std::chrono::milliseconds(UINT32_MAX));
}

TEST_P(WsRole, LengthWithMsbSetFailsWith1002) {
    auto f = hex(peer_masks() ? "82 FF 80 00 00 00 00 00 00 01 00 00 00 00" : "82 7F 80 00 00 00 00 00 00 01");
    Harness h(role());
    h.feed(f);
    expect_failed(h, 1002);
}

TEST_P(WsRole, InputAfterFailureIsDiscarded) {
    Harness h(role());
    h.feed(concat({wrong_mask(0x81, "bad"), peer(0x81, "after")}));
    EXPECT_TRUE(h.messages().empty());
    EXPECT_EQ(h.conn.handle_bytes({}, h.now), 0u);
    auto more = peer(0x81, "more");
    EXPECT_EQ(h.conn.handle_bytes(more, h.now), more.size());
    EXPECT_FALSE(h.conn.poll_event());
}

TEST_P(WsRole, PeerCloseIsEchoedAndReported) {
    const auto input = peer(0x88, close_payload(1000, "bye"));
    for_each_split(input, [&](std::vector<std::size_t> cuts) {
        Harness h(role());
        h.feed(input, cuts);
        const auto* c = h.closed();
        ASSERT_TRUE(c);
        EXPECT_EQ(c->code, 1000);
        EXPECT_EQ(c->data, "bye");
        EXPECT_TRUE(c->clean);
        auto frames = h.take_frames();
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_EQ(frames[0].opcode, 0x8);
        EXPECT_EQ(frames[0].close_code(), 1000);
        // §7.1.1: the server closes TCP first; the client waits for it.
        EXPECT_EQ(h.conn.should_close_transport(), role() == Role::Server);
        EXPECT_EQ(h.conn.send_text("late").code(), make_error_code(Errc::invalid_state));
    });
}

TEST_P(WsRole, CloseWithoutStatusIsReportedAs1005) {
    Harness h(role());
    h.feed(peer(0x88, ""));
    ASSERT_TRUE(h.closed());
    EXPECT_EQ(h.closed()->code, 1005);
    auto frames = h.take_frames();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_TRUE(frames[0].payload.empty());  // no code to echo
}

TEST_P(WsRole, BadClosePayloads) {
    for (auto [payload, code] : std::vector<std::pair<std::string, std::uint16_t>>{
             {"\x03", 1002},                                 // one byte
             {close_payload(999), 1002},  {close_payload(1004), 1002}, {close_payload(1005), 1002},
             {close_payload(1006), 1002}, {close_payload(1015), 1002}, {close_payload(2000), 1002},
             {close_payload(5000), 1002}, {close_payload(1000, "\xce\xba\xe1\xbd\xb9\xed\xa0\x80"), 1007}}) {
        Harness h(role());
        h.feed(peer(0x88, payload));
        expect_failed(h, code);
    }
    for (int ok : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
        Harness h(role());
        h.feed(peer(0x88, close_payload(static_cast<std::uint16_t>(ok))));
        ASSERT_TRUE(h.closed());
        EXPECT_TRUE(h.closed()->clean) << ok;
        EXPECT_EQ(h.take_frames().at(0).close_code(), ok);
    }
}

TEST_P(WsRole, LocalCloseWaitsForThePeersClose) {
    Harness h(role());
    ASSERT_TRUE(h.conn.close(1000, "done", h.now).ok());
    EXPECT_EQ(h.conn.state(), State::Closing);
    auto frames = h.take_frames();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].close_code(), 1000);
    EXPECT_EQ(frames[0].payload.substr(2), "done");
    // Messages still arrive while closing; a ping gets no pong after our Close.
    h.feed(concat({peer(0x81, "late"), peer(0x89, "p")}));
    EXPECT_EQ(h.messages().size(), 1u);
    EXPECT_TRUE(h.take_frames().empty());
    h.feed(peer(0x88, close_payload(1000)));
    ASSERT_TRUE(h.closed());
    EXPECT_TRUE(h.closed()->clean);
    EXPECT_TRUE(h.take_frames().empty());  // no second Close
}

TEST_P(WsRole, CloseTimeoutReports1006) {
    proto::ws::Options o;
    o.close_timeout = std::chrono::seconds(5);
    Harness h(role(), o);
    ASSERT_TRUE(h.conn.close(1001, "", h.now).ok());
    ASSERT_TRUE(h.conn.poll_timeout());
    EXPECT_EQ(*h.conn.poll_timeout(), h.now + std::chrono::seconds(5));
    h.conn.handle_timeout(h.now + std::chrono::seconds(4));
    h.drain();
    EXPECT_FALSE(h.closed());
    h.conn.handle_timeout(h.now + std::chrono::seconds(5));
    h.drain();
    ASSERT_TRUE(h.closed());
    EXPECT_EQ(h.closed()->code, 1006);
    EXPECT_FALSE(h.closed()->clean);
    EXPECT_TRUE(h.conn.should_close_transport());
}

TEST_P(WsRole, EofWithoutCloseReports1006) {
    Harness h(role());
    h.conn.handle_eof(h.now);
    h.drain();
    ASSERT_TRUE(h.closed());
    EXPECT_EQ(h.closed()->code, 1006);
    EXPECT_FALSE(h.closed()->clean);
}

TEST_P(WsRole, LocalMisuseIsAStatusNotAFailure) {
    Harness h(role());
    EXPECT_EQ(h.conn.send_text("\xff").code(), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(h.conn.ping(base::as_bytes(std::string(126, 'x'))).code(), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(h.conn.close(1005, "", h.now).code(), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(h.conn.close(1000, std::string(124, 'r'), h.now).code(), make_error_code(Errc::invalid_argument));
    EXPECT_EQ(h.conn.state(), State::Open);
    EXPECT_TRUE(h.take_frames().empty());
}

TEST_P(WsRole, SentFramesAreMaskedOnlyByClients) {
    Harness h(role());
    ASSERT_TRUE(h.conn.send_text("hi").ok());
    ASSERT_TRUE(h.conn.send_binary(base::as_bytes(std::string(70000, 'z'))).ok());
    auto frames = h.take_frames();
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].masked, role() == Role::Client);
    EXPECT_EQ(frames[0].payload, "hi");
    EXPECT_EQ(frames[1].opcode, 0x2);
    EXPECT_EQ(frames[1].payload.size(), 70000u);
    EXPECT_EQ(frames[1].payload, std::string(70000, 'z'));
}

TEST(WsClient, WaitsForTheServersFinThenGivesUp) {
    proto::ws::Options o;
    o.close_timeout = std::chrono::seconds(2);
    Harness h(Role::Client, o);
    h.feed(frame(0x88, close_payload(1000), false));
    EXPECT_FALSE(h.conn.should_close_transport());
    ASSERT_TRUE(h.conn.poll_timeout());
    h.conn.handle_timeout(*h.conn.poll_timeout());
    EXPECT_TRUE(h.conn.should_close_transport());
}

TEST(WsServer, Rfc6455Section57MaskedHelloIsDelivered) {
    Harness h(Role::Server);
    h.feed(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
    ASSERT_EQ(h.messages().size(), 1u);
    EXPECT_EQ(h.messages()[0].data, "Hello");
}

TEST(WsServer, Rfc6455Section57FragmentedHello) {
    // "Hel" then "lo", unmasked in the RFC; masked here as a client must send them.
    Harness h(Role::Server);
    h.feed(concat({frame(0x01, "Hel", true), frame(0x80, "lo", true)}));
    ASSERT_EQ(h.messages().size(), 1u);
    EXPECT_EQ(h.messages()[0].data, "Hello");
}

}  // namespace

namespace {
TEST(WsEncodeHeader, OnlyWhereTheCallerCanWriteThePayloadItself) {
    std::byte header[duplex::proto::ws::kMaxHeaderLen];
    std::size_t len = 0;
    Harness server(Role::Server);
    const std::string big(70000, 'x');
    ASSERT_TRUE(server.conn.encode_header(base::as_bytes(big), false, header, len).ok());
    EXPECT_EQ(len, 10u);  // 64-bit length, unmasked
    EXPECT_EQ(std::to_integer<int>(header[0]), 0x81);
    EXPECT_TRUE(server.conn.tx().empty());  // the caller writes; nothing queued here
    EXPECT_EQ(server.conn.encode_header(base::as_bytes(std::string("\xff")), false, header, len).code(),
              make_error_code(Errc::invalid_argument));
    Harness client(Role::Client);  // clients must mask: a copy anyway
    EXPECT_EQ(client.conn.encode_header(base::as_bytes(big), true, header, len).code(),
              make_error_code(Errc::not_supported));
    proto::ws::Options o;
    o.deflate = proto::ws::Options::Deflate{};
    Harness deflating(Role::Server, o);
    EXPECT_EQ(deflating.conn.encode_header(base::as_bytes(big), true, header, len).code(),
              make_error_code(Errc::not_supported));
    ASSERT_TRUE(server.conn.close(1000, "", server.now).ok());
    EXPECT_EQ(server.conn.encode_header(base::as_bytes(big), true, header, len).code(),
              make_error_code(Errc::invalid_state));
}
}  // namespace

namespace {
TEST(WsEchoValidation, EchoOfTheDeliveredTextSkipsOnlyWhileItIsValid) {
    Harness h(Role::Server);
    auto in = frame(0x81, "hello", true);
    std::size_t n = h.conn.handle_bytes(in, h.now);
    auto ev = h.conn.poll_event();
    ASSERT_TRUE(ev);
    auto msg = std::get<proto::ws::MessageEvent>(*ev);
    EXPECT_EQ(n, in.size());
    EXPECT_TRUE(h.conn.send(msg.data, false).ok());  // the echo: already validated
    // The span is only valid until the next call: after it, the same bytes
    // (now overwritten with invalid UTF-8) are checked again.
    (void)h.conn.poll_event();
    std::vector<std::byte> more = frame(0x8A, "", true);
    h.conn.handle_bytes(more, h.now);
    while (h.conn.poll_event()) {
    }
    auto* p = const_cast<std::byte*>(msg.data.data());
    p[0] = std::byte{0xff};
    EXPECT_EQ(h.conn.send(msg.data, false).code(), make_error_code(Errc::invalid_argument));
}
}  // namespace
