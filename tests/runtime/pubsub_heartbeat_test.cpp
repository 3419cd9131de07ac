// Pub/sub across loops, heartbeats and idle timeouts, connection limits, and
// the client's reconnection policy, over loopback.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "runtime/loop.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include "proto/ws/handshake.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

TEST(PubSub, PublishReachesSubscribersOnEveryLoopFromAnyThread) {
    LoopThread a, b;
    std::atomic<int> subscribed{0};
    std::unique_ptr<WebSocketServer> server;
    a.call([&] {
        ServerOptions o;
        o.port = 0;
        server = std::make_unique<WebSocketServer>(a.loop, o);
        server->add_loop(b.loop);
        server->route("/t/*", {nullptr, [&](WebSocket& ws, const HttpRequest& req) {
                                   const std::string topic = req.path.substr(3);
                                   EXPECT_TRUE(ws.subscribe(topic));
                                   EXPECT_FALSE(ws.subscribe(topic));  // once
                                   ws.on_message([ws, topic](std::string_view m, bool bin) mutable {
                                       ws.publish(topic, m, bin);  // to the others
                                   });
                                   ++subscribed;
                               }});
        EXPECT_TRUE(server->listen().ok());
        return 0;
    });
    const auto port = server->port();
    // Eight raw clients: the kernel spreads them over both loops.
    std::vector<std::unique_ptr<RawClient>> news, sport;
    for (int i = 0; i < 6; ++i) {
        news.push_back(std::make_unique<RawClient>(port));
        news.back()->send(upgrade_request("/t/news"));
    }
    for (int i = 0; i < 2; ++i) {
        sport.push_back(std::make_unique<RawClient>(port));
        sport.back()->send(upgrade_request("/t/sport"));
    }
    ASSERT_TRUE(eventually([&] { return subscribed.load() == 8; }));
    for (auto& c : news) c->read_head();
    for (auto& c : sport) c->read_head();
    for (auto& c : news) c->buffer().clear();
    for (auto& c : sport) c->buffer().clear();
    // From this (non-loop) thread.
    server->publish("news", "extra!");
    for (auto& c : news) {
        auto got = c->read_until([](const std::string& s) { return s.size() >= 8; });
        EXPECT_EQ(got, std::string("\x81\x06" "extra!", 8));
        c->buffer().clear();
    }
    // From a connection: everyone else on the topic gets it, the sender does not.
    const char key[4] = {1, 2, 3, 4};
    std::string f = "\x82\x83";
    f.append(key, 4);
    for (int i = 0; i < 3; ++i) f += static_cast<char>("xyz"[i] ^ key[i]);
    news[0]->send(f);
    for (std::size_t i = 1; i < news.size(); ++i)
        EXPECT_EQ(news[i]->read_until([](const std::string& s) { return s.size() >= 5; }), std::string("\x82\x03xyz", 5));
    EXPECT_EQ(news[0]->read_until([](const std::string& s) { return !s.empty(); }, 300ms), "");
    for (auto& c : sport) EXPECT_EQ(c->read_until([](const std::string& s) { return !s.empty(); }, 100ms), "");
    // Subscribers that went away are forgotten: publishing still works.
    news.resize(2);
    ASSERT_TRUE(eventually([&] { return server->connection_count() == 4; }));
    server->publish("news", "again");
    for (auto& c : news) {
        c->buffer().clear();
        EXPECT_EQ(c->read_until([](const std::string& s) { return s.size() >= 7; }), std::string("\x81\x05" "again", 7));
    }
    a.call([&] { server.reset(); return 0; });
}

// The value of one counter in a Prometheus text (-1: not there).
long long metric(const std::string& text, const std::string& name) {
    const auto at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stoll(text.substr(at + name.size() + 2));
}

TEST(PubSub, DeliveriesOfOneIterationLeaveInOneWritePerSubscriber) {
    LoopThread t;
    std::atomic<int> subscribed{0};
    std::unique_ptr<WebSocketServer> server;
    t.call([&] {
        ServerOptions o;
        o.port = 0;
        server = std::make_unique<WebSocketServer>(t.loop, o);
        server->route("/t", {nullptr, [&](WebSocket& ws, const HttpRequest&) {
                                 ws.subscribe("t");
                                 ++subscribed;
                             }});
        EXPECT_TRUE(server->listen().ok());
        return 0;
    });
    std::vector<std::unique_ptr<RawClient>> subs;
    for (int i = 0; i < 3; ++i) {
        subs.push_back(std::make_unique<RawClient>(server->port()));
        subs.back()->send(upgrade_request("/t"));
    }
    ASSERT_TRUE(eventually([&] { return subscribed.load() == 3; }));
    for (auto& c : subs) {
        c->read_head();
        c->buffer().clear();
    }
    // Counters read on the loop thread: after its writes, not racing them.
    auto writes_so_far = [&] { return t.call([&] { return metric(server->metrics_text(), "duplex_socket_writes_total"); }); };
    const long long before = writes_so_far();
    ASSERT_GE(before, 3);  // the three 101 responses at least
    // 100 messages published within one loop iteration (as from one read of
    // a busy publisher): each subscriber gets all of them, in order, in one write.
    std::string expected;
    t.call([&] {
        for (int i = 0; i < 100; ++i) {
            const std::string m = "m" + std::to_string(1000 + i);
            server->publish("t", m);
            expected += std::string("\x81\x05", 2) + m;
        }
        return 0;
    });
    for (auto& c : subs)
        EXPECT_EQ(c->read_until([&](const std::string& s) { return s.size() >= expected.size(); }), expected);
    const long long writes = writes_so_far() - before;
    EXPECT_EQ(writes, 3) << "one write per subscriber, not one per delivery";
    t.call([&] { server.reset(); return 0; });
}

TEST(Heartbeat, QuietClientsArePingedAndSilentOnesClosed) {
    LoopThread t;
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.ping_interval = 100ms;
        o.idle_timeout = 500ms;
        o.close_timeout = 200ms;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_connection([](WebSocket&, const HttpRequest&) {});
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    // A duplex client answers pings by itself and stays.
    EventLoop loop;
    int client_close = -1, pings = 0;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(port) + "/");
    // Pings are at least 100 ms apart (the rule, tested on virtual time in
    // KeepAlive.*), so the eighth comes 700 ms or more after the first:
    // past the 500 ms idle timeout, which the answering client survives. The
    // loop stops on the eighth; a watchdog bounds the wait.
    ws.on_ping([&](std::string_view) {
        if (++pings == 8) loop.stop();
    });
    ws.on_close([&](std::uint16_t c, std::string_view) { client_close = c; });
    // A raw client completes the handshake and then says nothing, ever.
    RawClient silent(port);
    silent.send(upgrade_request("/"));
    silent.read_head();
    loop.set_timeout(10s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(pings, 8);
    EXPECT_EQ(client_close, -1);
    EXPECT_EQ(ws.ready_state(), ReadyState::Open);
    EXPECT_TRUE(silent.wait_eof(10000ms));
    const auto& b = silent.buffer();
    EXPECT_NE(b.find(std::string("\x89\x00", 2)), std::string::npos);  // it was pinged
    EXPECT_NE(b.find(std::string("\x88\x0e\x03\xe9" "idle timeout", 16)), std::string::npos);  // then closed 1001
    (void)ws.close();
    loop.run_once(50);
    t.call([&] { server.reset(); return 0; });
}

TEST(Heartbeat, ClientPingsAQuietServerAndLeavesADeadOne) {
    // A "server" that completes the handshake by hand and then says nothing.
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(lfd, 4), 0);
    socklen_t len = sizeof(a);
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    std::atomic<int> pings_seen{0};
    std::thread mute([&] {
        const int c = ::accept(lfd, nullptr, nullptr);
        std::string got;
        char buf[4096];
        while (got.find("\r\n\r\n") == std::string::npos) {
            const auto n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) return;
            got.append(buf, static_cast<std::size_t>(n));
        }
        const auto key_at = got.find("Sec-WebSocket-Key: ") + 19;
        const std::string key = got.substr(key_at, got.find("\r\n", key_at) - key_at);
        const std::string accept = proto::ws::accept_key(key);
        const std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: " + accept + "\r\n\r\n";
        (void)::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        // Read (and count) the client's pings until it hangs up; never answer.
        for (;;) {
            const auto n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) break;
            for (ssize_t i = 0; i < n; ++i)
                if (static_cast<unsigned char>(buf[i]) == 0x89) ++pings_seen;
        }
        ::close(c);
    });
    EventLoop loop;
    ClientOptions o;
    o.ping_interval = 100ms;
    o.idle_timeout = 600ms;
    o.close_timeout = 200ms;
    int code = -1;
    const auto start = std::chrono::steady_clock::now();
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/", o);
    ws.on_close([&](std::uint16_t c, std::string_view) {
        code = c;
        loop.stop();
    });
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    const auto took = std::chrono::steady_clock::now() - start;
    const auto wakeups = loop.runtime().iteration();
    mute.join();
    ::close(lfd);
    // While its Close waits for the dead server, the client's heartbeat timer
    // stays quiet (it spun at 1 kHz through the close timeout once).
    EXPECT_LT(wakeups, 100u) << "the loop woke " << wakeups << " times";
    EXPECT_GE(pings_seen.load(), 2);
    EXPECT_EQ(code, 1006);  // our Close 1001 was never answered
    EXPECT_GE(took, 600ms);  // never before idle_timeout (the rule's own timing: KeepAlive.*)
}

TEST(Server, ListensAndConnectsOverIpv6) {
    EventLoop loop;
    ServerOptions so;
    so.host = "::1";
    so.port = 0;
    WebSocketServer server(loop, so);
    std::string peer, handle_peer;
    server.on_connection([&](WebSocket& ws, const HttpRequest& req) {
        peer = req.remote_address;
        handle_peer = ws.remote_address();  // what the session keeps of it (decision 0014)
        ws.on_message([ws](std::string_view m, bool b) mutable { (void)ws.send(m, b); });
    });
    if (auto st = server.listen(); !st) {
        // Only where the host has no IPv6 loopback at all.
        ASSERT_EQ(st.code(), std::errc::address_not_available) << st.message();
        return;
    }
    std::string echoed;
    auto ws = WebSocket::connect(loop, "ws://[::1]:" + std::to_string(server.port()) + "/six");
    ws.on_open([&] { (void)ws.send("over v6"); });
    ws.on_message([&](std::string_view m, bool) {
        echoed = m;
        (void)ws.close();
    });
    ws.on_close([&](std::uint16_t, std::string_view) { loop.stop(); });
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(echoed, "over v6");
    EXPECT_EQ(peer.rfind("[::1]:", 0), 0u) << peer;
    EXPECT_EQ(handle_peer, peer);
}

TEST(Limits, TooManyConnectionsGet503AndTooManyFromOneAddress429) {
    LoopThread t;
    auto make = [&](std::size_t total, std::size_t per_ip) {
        return t.call([&] {
            ServerOptions o;
            o.port = 0;
            o.max_connections = total;
            o.max_connections_per_ip = per_ip;
            auto s = std::make_unique<WebSocketServer>(t.loop, o);
            s->on_connection([](WebSocket&, const HttpRequest&) {});
            EXPECT_TRUE(s->listen().ok());
            return s;
        });
    };
    {
        auto server = make(2, 0);
        const auto port = t.call([&] { return server->port(); });
        std::vector<std::unique_ptr<RawClient>> in;
        for (int i = 0; i < 2; ++i) {
            in.push_back(std::make_unique<RawClient>(port));
            in.back()->send(upgrade_request("/"));
            EXPECT_EQ(in.back()->read_head().rfind("HTTP/1.1 101 ", 0), 0u);
        }
        RawClient third(port);
        third.send(upgrade_request("/"));
        EXPECT_EQ(third.read_head().rfind("HTTP/1.1 503 ", 0), 0u);
        in.pop_back();  // one leaves: room again
        ASSERT_TRUE(eventually([&] { return server->connection_count() == 1; }));
        RawClient again(port);
        again.send(upgrade_request("/"));
        EXPECT_EQ(again.read_head().rfind("HTTP/1.1 101 ", 0), 0u);
        t.call([&] { server.reset(); return 0; });
    }
    {
        auto server = make(0, 1);
        const auto port = t.call([&] { return server->port(); });
        auto first = std::make_unique<RawClient>(port);
        RawClient second(port);
        first->send(upgrade_request("/"));
        EXPECT_EQ(first->read_head().rfind("HTTP/1.1 101 ", 0), 0u);
        second.send(upgrade_request("/"));
        EXPECT_EQ(second.read_head().rfind("HTTP/1.1 429 ", 0), 0u);
        // The connection that leaves gives its address's slot back.
        first.reset();
        ASSERT_TRUE(eventually([&] { return server->connection_count() == 0; }));
        RawClient third(port);
        third.send(upgrade_request("/"));
        EXPECT_EQ(third.read_head().rfind("HTTP/1.1 101 ", 0), 0u);
        t.call([&] { server.reset(); return 0; });
    }
}

TEST(Reconnect, ComesBackAfterTheServerDropsItAndStopsOnClose) {
    LoopThread t;
    std::atomic<int> accepted{0};
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_connection([&](WebSocket& ws, const HttpRequest&) {
            // The first two connections are dropped by the server.
            if (++accepted <= 2) (void)ws.close(1011, "restarting");
            else ws.on_message([ws](std::string_view m, bool b) mutable { (void)ws.send(m, b); });
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    EventLoop loop;
    ClientOptions o;
    o.reconnect.enabled = true;
    o.reconnect.initial_delay = 20ms;
    int opens = 0;
    std::vector<int> closes;
    std::string echoed;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(port) + "/", o);
    ws.on_open([&] {
        ++opens;
        (void)ws.send("ping " + std::to_string(opens));
    });
    ws.on_message([&](std::string_view m, bool) {
        echoed = m;
        (void)ws.close(1000, "done");  // ours: no reconnection after this
    });
    ws.on_close([&](std::uint16_t c, std::string_view) {
        closes.push_back(c);
        if (c == 1000) loop.set_timeout(300ms, [&] { loop.stop(); });
    });
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(opens, 3);
    EXPECT_EQ(echoed, "ping 3");
    EXPECT_EQ(closes, (std::vector<int>{1011, 1011, 1000}));
    EXPECT_EQ(accepted.load(), 3);
    EXPECT_EQ(ws.ready_state(), ReadyState::Closed);
    t.call([&] { server.reset(); return 0; });
}

TEST(Reconnect, GivesUpAfterMaxAttempts) {
    EventLoop loop;
    ClientOptions o;
    o.reconnect.enabled = true;
    o.reconnect.initial_delay = 10ms;
    o.reconnect.max_attempts = 3;
    int closes = 0;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:1/", o);  // nobody listens
    ws.on_close([&](std::uint16_t c, std::string_view) {
        EXPECT_EQ(c, 1006);
        ++closes;
    });
    loop.set_timeout(2s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(closes, 4);  // the first try and three more
    EXPECT_EQ(ws.ready_state(), ReadyState::Closed);
}

}  // namespace
