// Backpressure: a peer that does not read. send() reports Backpressure and
// then drops (or closes with 1008), memory stays bounded, and on_drain fires
// once the peer reads again.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <thread>
#include <utility>
#include <vector>

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
    auto c = std::make_unique<RawClient>(port, 16 * 1024);
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

// Frames from a server (unmasked), as the raw client received them: returns
// (opcode, payload) pairs from `b`, starting at `pos`, up to the last whole one.
std::vector<std::pair<int, std::string>> server_frames(const std::string& b, std::size_t pos) {
    std::vector<std::pair<int, std::string>> out;
    while (b.size() - pos >= 2) {
        const auto b0 = static_cast<unsigned char>(b[pos]), b1 = static_cast<unsigned char>(b[pos + 1]);
        std::size_t len = b1 & 0x7f, h = 2;
        if (len == 126) {
            if (b.size() - pos < 4) break;
            len = (static_cast<unsigned char>(b[pos + 2]) << 8) | static_cast<unsigned char>(b[pos + 3]);
            h = 4;
        } else if (len == 127) {
            if (b.size() - pos < 10) break;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(b[pos + 2 + i]);
            h = 10;
        }
        if (b.size() - pos < h + len) break;
        out.emplace_back(b0 & 0x0f, b.substr(pos + h, len));
        pos += h + len;
    }
    return out;
}

// What the server promises a peer that does not read, under the Close
// policy: the close is reported locally as 1008 at once (not 1006, whatever
// the kernel happened to take), the server stops reading it, and lets go of
// it (and its buffer) close_timeout later. Whether the queued Close frame ever
// reaches such a peer is not promised: it sits behind the data it never read.
TEST(Backpressure, ClosePolicyReports1008AndLetsGoOfAPeerThatNeverReads) {
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
            int sent = 0;
            for (int i = 0; i < 400 && ws.ready_state() == ReadyState::Open; ++i, ++sent) (void)ws.send_binary(chunk);
            EXPECT_LT(sent, 400);  // the policy applied: no longer open
            EXPECT_EQ(ws.ready_state(), ReadyState::Closing);
            flooded = true;
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    auto client = stalled_client(t.call([&] { return server->port(); }));
    ASSERT_TRUE(eventually([&] { return flooded.load(); }));
    EXPECT_TRUE(eventually([&] { return closed_code.load() != -1; }, 3000ms));
    EXPECT_EQ(closed_code.load(), 1008);
    // Let go of after close_timeout, though the peer still reads nothing.
    EXPECT_TRUE(eventually([&] { return t.call([&] { return server->connection_count(); }) == 0u; }, 3000ms));
    EXPECT_NE(server->metrics_text().find("duplex_slow_consumer_closes_total 1"), std::string::npos);
    t.call([&] { server.reset(); return 0; });
}

// A peer that reads after all (within close_timeout) gets everything that
// was queued, then the Close frame with 1008, then the end of the stream.
TEST(Backpressure, ClosePolicyCloseFrameFollowsTheQueuedDataForAPeerThatReadsLate) {
    LoopThread t;
    std::atomic<int> closed_code{-1};
    std::atomic<int> accepted{0};
    std::atomic<bool> flooded{false};
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.max_backpressure = 128u << 10;
        o.close_timeout = 10s;  // far longer than the client takes to read 
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_connection([&](WebSocket& ws, const HttpRequest&) {
            ws.on_close([&](std::uint16_t code, std::string_view) { closed_code = code; });
            const std::string chunk(64u << 10, 'y');
            for (int i = 0; i < 400 && ws.ready_state() == ReadyState::Open; ++i) {
                auto r = ws.send_binary(chunk);
                if (r.ok()) ++accepted;
            }
            flooded = true;
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    auto client = stalled_client(t.call([&] { return server->port(); }));
    ASSERT_TRUE(eventually([&] { return flooded.load(); }));
    ASSERT_TRUE(client->wait_eof(8000ms));
    const auto& b = client->buffer();
    const auto frames = server_frames(b, b.find("\r\n\r\n") + 4);
    ASSERT_FALSE(frames.empty());
    // Every message send() accepted, in order, then the Close (1008) last.
    ASSERT_EQ(frames.size(), static_cast<std::size_t>(accepted.load()) + 1);
    for (std::size_t i = 0; i + 1 < frames.size(); ++i) {
        ASSERT_EQ(frames[i].first, 0x2) << i;
        ASSERT_EQ(frames[i].second.size(), 64u << 10) << i;
    }
    ASSERT_EQ(frames.back().first, 0x8);
    ASSERT_GE(frames.back().second.size(), 2u);
    EXPECT_EQ((static_cast<unsigned char>(frames.back().second[0]) << 8) | static_cast<unsigned char>(frames.back().second[1]),
              1008);
    EXPECT_EQ(closed_code.load(), 1008);
    t.call([&] { server.reset(); return 0; });
}

// Pongs are replies the machine queues by itself: a client that floods pings
// and never reads spends the same budget as messages would. Close policy:
// closed with 1008; Drop policy: the server stops reading it (the pongs stop
// growing), and resumes once the client reads. Either way the queue stays
// within the budget plus about one read's worth of replies.
TEST(Backpressure, APingFloodFromAPeerThatDoesNotReadIsBoundedByTheBudget) {
    for (const auto policy : {BackpressurePolicy::Close, BackpressurePolicy::Drop}) {
        SCOPED_TRACE(policy == BackpressurePolicy::Close ? "close" : "drop");
        LoopThread t;
        std::atomic<int> closed_code{-1};
        WebSocket conn;
        constexpr std::size_t kBudget = 256u << 10;
        auto server = t.call([&] {
            ServerOptions o;
            o.port = 0;
            o.max_backpressure = kBudget;
            o.backpressure_policy = policy;
            o.close_timeout = 500ms;
            auto s = std::make_unique<WebSocketServer>(t.loop, o);
            s->on_connection([&](WebSocket& ws, const HttpRequest&) {
                conn = ws;
                ws.on_close([&](std::uint16_t code, std::string_view) { closed_code = code; });
            });
            EXPECT_TRUE(s->listen().ok());
            return s;
        });
        auto client = stalled_client(t.call([&] { return server->port(); }));
        ASSERT_TRUE(eventually([&] { return t.call([&] { return static_cast<bool>(conn); }); }));
        // 125-byte masked pings (131 bytes each), 40 MiB of them, sent
        // without reading; the socket's own buffers fill long before that,
        // and then send() would block: send in a thread, bounded by a poll.
        std::string ping;
        ping += '\x89';
        ping += static_cast<char>(0x80 | 125);
        ping += std::string(4, '\0');  // zero mask
        ping += std::string(125, 'p');
        std::string batch;
        for (int i = 0; i < 500; ++i) batch += ping;
        std::atomic<bool> stop{false};
        std::size_t max_queued = 0;
        std::atomic<int> batches{0};
        std::atomic<bool> flood_over{false};
        std::thread flood([&] {
            for (int i = 0; i < 640 && !stop; ++i, ++batches)
                if (!client->send_for(batch, 200ms)) break;
            flood_over = true;
        });
        // Watch the queue while the flood lasts (or the connection ends).
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < until && closed_code.load() == -1 && !flood_over) {
            max_queued = std::max(max_queued, t.call([&] { return conn.buffered_amount(); }));
            std::this_thread::sleep_for(5ms);  // samples a size over time: no event to wait for
        }
        stop = true;
        flood.join();
        // One read of the loop (512 KiB) yields at most about its own size in pongs.
        EXPECT_LE(max_queued, kBudget + (600u << 10)) << batches.load() << " batches sent";
        if (policy == BackpressurePolicy::Close) {
            EXPECT_EQ(closed_code.load(), 1008) << batches.load() << " batches sent, max queued " << max_queued;
        } else {
            EXPECT_EQ(closed_code.load(), -1);
            EXPECT_GE(max_queued, kBudget);  // the flood did reach the budget
            EXPECT_NE(server->metrics_text().find("duplex_backpressure_read_pauses_total 1"), std::string::npos)
                << server->metrics_text();
            // The client reads now: the pongs come, reading resumes, and the
            // connection answers a last ping.
            std::string last = ping;
            last[6] = 'Z';
            std::atomic<bool> got_last{false};
            std::thread reader([&] {
                client->read_until([](const std::string& b) { return b.find("Zpppp") != std::string::npos; }, 8000ms);
                got_last = true;
            });
            ASSERT_TRUE(client->send_for(last, 5000ms));
            reader.join();
            EXPECT_NE(client->buffer().find("Zpppp"), std::string::npos);
            EXPECT_EQ(t.call([&] { return conn.ready_state(); }), ReadyState::Open);
        }
        t.call([&] { conn = {}; server.reset(); return 0; });
    }
}

}  // namespace
