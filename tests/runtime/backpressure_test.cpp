// Backpressure: a peer that does not read. send() reports Backpressure and
// then drops (or closes with 1008), memory stays bounded, and on_drain fires
// once the peer reads again.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

struct Outcomes {
    int success = 0, backpressure = 0, dropped = 0;
    std::size_t max_buffered = 0;
    bool drained = false;
    std::error_code drop_reason;
};

// A client that asks for a tiny receive buffer and does not read.
std::unique_ptr<RawClient> stalled_client(std::uint16_t port) {
    auto c = std::make_unique<RawClient>(port);
    c->send(upgrade_request("/"));
    c->read_head();
    return c;
}

TEST(Backpressure, DropPolicyBoundsTheBufferAndDrainFires) {
    LoopThread t;
    Outcomes out;
    std::atomic<bool> done{false};
    WebSocket conn;
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.max_backpressure = 256u << 10;
        o.backpressure_policy = BackpressurePolicy::Drop;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_connection([&](WebSocket& ws, const HttpRequest&) {
            conn = ws;
            ws.on_drain([&] { out.drained = true; });
            // Flood 200 x 64 KiB (12.5 MiB) at a client that does not read,
            // from a timer (not corked behind the handshake).
            t.loop.set_timeout(1ms, [&] {
            const std::string chunk(64u << 10, 'x');
            for (int i = 0; i < 200; ++i) {
                auto r = conn.send_binary(chunk);
                if (r == SendStatus::Success) ++out.success;
                else if (r == SendStatus::Backpressure) ++out.backpressure;
                else {
                    ++out.dropped;
                    out.drop_reason = r.code();
                }
                out.max_buffered = std::max(out.max_buffered, conn.buffered_amount());
            }
            done = true;
            });
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    auto client = stalled_client(t.call([&] { return server->port(); }));
    ASSERT_TRUE(eventually([&] { return done.load(); }));
    t.call([&] { return 0; });
    EXPECT_GT(out.backpressure, 0);
    EXPECT_GT(out.dropped, 0);
    EXPECT_EQ(out.drop_reason, make_error_code(Errc::backpressure_limit));
    EXPECT_LT(out.max_buffered, (256u << 10) + (64u << 10) + 64);  // the limit plus one message
    EXPECT_FALSE(t.call([&] { return out.drained; }));
    // The client reads everything now: the buffer empties and on_drain fires.
    const std::size_t head = client->buffer().size();
    const std::size_t expected = head + static_cast<std::size_t>(out.success + out.backpressure) * ((64u << 10) + 4);
    client->read_until([&](const std::string& b) { return b.size() >= expected; }, 5000ms);
    EXPECT_TRUE(eventually([&] { return t.call([&] { return out.drained; }); }))
        << "buffered " << t.call([&] { return conn.buffered_amount(); }) << " read " << client->buffer().size()
        << " expected " << expected << " ok " << out.success << " bp " << out.backpressure << " dropped " << out.dropped;
    EXPECT_EQ(t.call([&] { return conn.buffered_amount(); }), 0u);
    EXPECT_EQ(t.call([&] { return conn.ready_state(); }), ReadyState::Open);
    t.call([&] { conn = {}; server.reset(); return 0; });
}

TEST(Backpressure, ClosePolicyEndsASlowConsumerWith1008) {
    LoopThread t;
    std::atomic<int> closed_code{-1};
    std::atomic<bool> flooded{false};
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.max_backpressure = 128u << 10;
        o.close_timeout = 300ms;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_connection([&](WebSocket& ws, const HttpRequest&) {
            ws.on_close([&](std::uint16_t code, std::string_view) { closed_code = code; });
            const std::string chunk(64u << 10, 'y');
            for (int i = 0; i < 200 && ws.ready_state() == ReadyState::Open; ++i) (void)ws.send_binary(chunk);
            EXPECT_EQ(ws.ready_state(), ReadyState::Closing);
            flooded = true;
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    auto client = stalled_client(t.call([&] { return server->port(); }));
    ASSERT_TRUE(eventually([&] { return flooded.load(); }));
    // The client never answers: the close handshake times out and the server
    // lets go of the connection and its buffer (reported as 1006).
    EXPECT_TRUE(eventually([&] { return closed_code.load() != -1; }, 3000ms));
    EXPECT_EQ(closed_code.load(), 1006);
    EXPECT_TRUE(eventually([&] { return t.call([&] { return server->connection_count(); }) == 0u; }));
    // What it had queued ends with the Close frame, code 1008.
    client->wait_eof(3000ms);
    const auto& b = client->buffer();
    const auto close_at = b.rfind(std::string("\x88", 1));
    ASSERT_NE(close_at, std::string::npos);
    ASSERT_GE(b.size(), close_at + 4);
    EXPECT_EQ((static_cast<unsigned char>(b[close_at + 2]) << 8) | static_cast<unsigned char>(b[close_at + 3]), 1008);
    t.call([&] { server.reset(); return 0; });
}

}  // namespace
