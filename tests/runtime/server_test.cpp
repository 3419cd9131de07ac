// WebSocketServer and the WebSocket client together over loopback: routes,
// upgrade decisions (now, later, from another thread), subprotocols, origin
// checks, plain HTTP, closing from either side, and calls from other threads.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "api/session.hpp"
#include "runtime/block_pool.hpp"
#include "runtime/heap_trim.hpp"
#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

ServerOptions local(ServerOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
}

/// Runs a client on the same loop until it closes; returns what it saw.
struct ClientRun {
    bool opened = false;
    std::vector<std::pair<std::string, bool>> messages;
    int close_code = -1;
    std::string close_reason;
    std::error_code error;
    std::string error_message;
    std::string protocol;
};

void echo_route(WebSocket& ws, const HttpRequest&) {
    ws.on_message([ws](std::string_view data, bool binary) mutable { (void)ws.send(data, binary); });
}

TEST(Server, LargeMessagesSentInsideAReadKeepTheirOrderWithCorkedFrames) {
    // Inside on_message, frames are corked; a large message goes out with
    // one writev of (corked frames + its header, its payload), not copied.
    // Small, large, small, three times over: order and bytes must hold,
    // including when the kernel takes only part of the 4 MiB (three of them, 12 MiB, stay under the 16 MiB backpressure limit).
    EventLoop loop;
    WebSocketServer server(loop, local());
    std::string big(4 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 3);
    server.on_connection([&big](WebSocket& ws, const HttpRequest&) {
        ws.on_message([ws, &big](std::string_view data, bool) mutable {
            const std::string n(data.substr(2));
            (void)ws.send("s" + n);
            (void)ws.send_binary(big);
            (void)ws.send("e" + n);
        });
    });
    ASSERT_TRUE(server.listen().ok());
    std::vector<std::pair<std::string, bool>> got;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
    ws.on_open([&] {
        for (int i = 0; i < 3; ++i) (void)ws.send("go" + std::to_string(i));
    });
    ws.on_message([&](std::string_view d, bool b) {
        got.emplace_back(std::string(d), b);
        if (got.size() == 9) loop.stop();
    });
    loop.set_timeout(10s, [&] { loop.stop(); });
    loop.run();
    ASSERT_EQ(got.size(), 9u);
    for (int i = 0; i < 3; ++i) {
        const auto k = static_cast<std::size_t>(i) * 3;
        EXPECT_EQ(got[k], std::make_pair("s" + std::to_string(i), false));
        EXPECT_TRUE(got[k + 1].second);
        EXPECT_TRUE(got[k + 1].first == big) << "message " << k + 1 << " differs";
        EXPECT_EQ(got[k + 2], std::make_pair("e" + std::to_string(i), false));
    }
}

TEST(Server, RouteWideHandlersServeConnectionsWithoutTheirOwn) {
    // WebSocketRoute::on_message/on_close: one handler for all connections of
    // the route, given the connection; a connection's own ws.on_message()
    // takes precedence; a handle kept from the route handler stays usable.
    EventLoop loop;
    WebSocketServer server(loop, local());
    std::vector<std::pair<std::uint16_t, std::string>> closes;
    WebSocket kept;
    WebSocketRoute r;
    r.on_connection = [](WebSocket& ws, const HttpRequest& req) {
        if (req.path == "/own") ws.on_message([ws](std::string_view d, bool) mutable { (void)ws.send("own:" + std::string(d)); });
    };
    r.on_message = [&kept](WebSocket& ws, std::string_view d, bool binary) {
        if (d == "keep") kept = ws;  // a copy outlives the call
        (void)ws.send("route:" + std::string(d), binary);
        if (d == "drop") ws = WebSocket();  // the handle given may even be emptied: the next call gets it back
    };
    r.on_close = [&closes](WebSocket& ws, std::uint16_t code, std::string_view reason) {
        closes.emplace_back(code, std::string(reason));
        EXPECT_EQ(ws.ready_state(), ReadyState::Closed);
    };
    server.route("/*", r);
    ASSERT_TRUE(server.listen().ok());
    const std::string base = "ws://127.0.0.1:" + std::to_string(server.port());

    std::vector<std::string> got_route, got_own;
    auto a = WebSocket::connect(loop, base + "/shared");
    auto b = WebSocket::connect(loop, base + "/own");
    a.on_open([&] {
        (void)a.send("hello");
        (void)a.send("keep");
    });
    b.on_open([&] { (void)b.send("hi"); });
    a.on_message([&](std::string_view d, bool) {
        got_route.emplace_back(d);
        if (got_route.size() == 2) {
            // The kept handle sends on its own, outside any handler.
            ASSERT_TRUE(kept);
            EXPECT_TRUE(kept.send("from kept").ok());
        }
        if (got_route.size() == 3) {
            (void)a.send("drop");
            (void)a.send("after");
        }
        if (got_route.size() == 5) (void)a.close(4001, "bye");
    });
    b.on_message([&](std::string_view d, bool) {
        got_own.emplace_back(d);
        (void)b.close(4002, "done");
    });
    int clients_closed = 0;
    a.on_close([&](std::uint16_t, std::string_view) { ++clients_closed; });
    b.on_close([&](std::uint16_t, std::string_view) { ++clients_closed; });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!(clients_closed == 2 && closes.size() == 2) && std::chrono::steady_clock::now() < deadline)
        loop.run_once(5);
    ASSERT_EQ(clients_closed, 2);
    ASSERT_EQ(closes.size(), 2u);
    EXPECT_EQ(got_route,
              (std::vector<std::string>{"route:hello", "route:keep", "from kept", "route:drop", "route:after"}));
    EXPECT_EQ(got_own, (std::vector<std::string>{"own:hi"}));
    // Neither connection set a close handler of its own: the route's served
    // both (the one with its own message handler too).
    std::sort(closes.begin(), closes.end());
    EXPECT_EQ(closes[0], std::make_pair(std::uint16_t{4001}, std::string("bye")));
    EXPECT_EQ(closes[1], std::make_pair(std::uint16_t{4002}, std::string("done")));
    kept = WebSocket();
}

TEST(Server, DestroyingTheLoopEndsItsOpenConnections) {
    // A loop destroyed with connections still open ends them (its closers):
    // the handles that outlive it read Closed, and nothing touches the loop
    // afterwards (ASan checks that in the sanitizer stage).
    EventLoop server_loop;
    WebSocketServer server(server_loop, local());
    server.on_connection(echo_route);
    ASSERT_TRUE(server.listen().ok());
    std::thread server_thread([&] { server_loop.run(); });
    const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";

    std::vector<WebSocket> survivors;
    {
        EventLoop loop;
        int open = 0;
        for (int i = 0; i < 3; ++i) {
            auto ws = WebSocket::connect(loop, url);
            ws.on_open([&] { ++open; });
            ws.on_close([](std::uint16_t, std::string_view) { ADD_FAILURE() << "no callbacks while the loop dies"; });
            survivors.push_back(ws);
        }
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (open < 3 && std::chrono::steady_clock::now() < deadline) loop.run_once(5);
        ASSERT_EQ(open, 3);
    }  // the loop goes with three connections open
    for (auto& ws : survivors) {
        EXPECT_EQ(ws.ready_state(), ReadyState::Closed);
        EXPECT_EQ(ws.send("late"), Errc::invalid_state);
    }
    survivors.clear();
    server_loop.post([&] { server.close(); server_loop.stop(); });
    server_thread.join();
}

TEST(Server, EchoesTextAndBinaryToTheDuplexClient) {
    EventLoop loop;
    WebSocketServer server(loop, local());
    server.on_connection(echo_route);
    ASSERT_TRUE(server.listen().ok());
    ASSERT_NE(server.port(), 0);

    ClientRun run;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/any?x=1");
    ws.on_open([&] {
        run.opened = true;
        EXPECT_EQ(ws.ready_state(), ReadyState::Open);
        EXPECT_TRUE(ws.send("text \xe2\x9c\x93").ok());
        EXPECT_TRUE(ws.send_binary(std::string("\x00\x01\xff", 3)).ok());
    });
    ws.on_message([&](std::string_view d, bool b) {
        run.messages.emplace_back(std::string(d), b);
        if (run.messages.size() == 2) {
            EXPECT_TRUE(ws.close(1000, "bye").ok());
        }
    });
    ws.on_close([&](std::uint16_t code, std::string_view reason) {
        run.close_code = code;
        run.close_reason = reason;
        loop.stop();
    });
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_TRUE(run.opened);
    ASSERT_EQ(run.messages.size(), 2u);
    EXPECT_EQ(run.messages[0], std::make_pair(std::string("text \xe2\x9c\x93"), false));
    EXPECT_EQ(run.messages[1], std::make_pair(std::string("\x00\x01\xff", 3), true));
    EXPECT_EQ(run.close_code, 1000);  // the server echoed our code
    EXPECT_EQ(ws.ready_state(), ReadyState::Closed);
    EXPECT_EQ(ws.send("late"), Errc::invalid_state);
}

TEST(Server, ServerInitiatedCloseReachesBothSides) {
    EventLoop loop;
    WebSocketServer server(loop, local());
    int server_saw = -1;
    server.on_connection([&](WebSocket& ws, const HttpRequest& req) {
        EXPECT_EQ(req.path, "/p");
        EXPECT_EQ(req.query, "a=b");
        EXPECT_TRUE(req.header("sec-websocket-key").has_value());
        ws.on_close([&](std::uint16_t code, std::string_view) { server_saw = code; });
        EXPECT_TRUE(ws.close(4000, "policy says bye").ok());
        EXPECT_EQ(ws.ready_state(), ReadyState::Closing);
    });
    ASSERT_TRUE(server.listen().ok());
    int client_code = -1;
    std::string client_reason;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/p?a=b");
    ws.on_close([&](std::uint16_t code, std::string_view reason) {
        client_code = code;
        client_reason = reason;
    });
    loop.set_timeout(500ms, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(client_code, 4000);
    EXPECT_EQ(client_reason, "policy says bye");
    EXPECT_EQ(server_saw, 4000);
    EXPECT_EQ(server.connection_count(), 0u);
}

TEST(Server, RoutesByPathAndRefusesUnknownPaths) {
    EventLoop loop;
    WebSocketServer server(loop, local());
    std::vector<std::string> hits;
    server.route("/a", {nullptr, [&](WebSocket& ws, const HttpRequest&) { hits.push_back("a"); (void)ws.close(); }});
    server.route("/pubsub/*", {nullptr, [&](WebSocket& ws, const HttpRequest& r) { hits.push_back(r.path); (void)ws.close(); }});
    ASSERT_TRUE(server.listen().ok());
    const std::string base = "ws://127.0.0.1:" + std::to_string(server.port());
    int closes = 0;
    std::string refused;
    for (const char* path : {"/a", "/pubsub/news", "/nowhere"}) {
        auto ws = WebSocket::connect(loop, base + path);
        ws.on_error([&, p = std::string(path)](std::error_code ec, std::string_view msg) {
            EXPECT_EQ(ec, make_error_code(Errc::handshake_failed));
            refused = p + ": " + std::string(msg);
        });
        ws.on_close([&](std::uint16_t, std::string_view) {
            if (++closes == 3) loop.stop();
        });
    }
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(closes, 3);
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_NE(std::find(hits.begin(), hits.end(), "/pubsub/news"), hits.end());
    EXPECT_NE(refused.find("/nowhere"), std::string::npos);
    EXPECT_NE(refused.find("404"), std::string::npos);
}

TEST(Server, PicksTheServersPreferredSubprotocol) {
    EventLoop loop;
    ServerOptions o = local();
    o.protocols = {"v2.duplex", "v1.duplex"};
    WebSocketServer server(loop, o);
    std::string server_side;
    server.on_connection([&](WebSocket& ws, const HttpRequest&) {
        server_side = ws.protocol();
        (void)ws.close();
    });
    ASSERT_TRUE(server.listen().ok());
    ClientOptions co;
    co.protocols = {"v1.duplex", "v2.duplex"};
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/", co);
    std::string client_side;
    ws.on_open([&] { client_side = ws.protocol(); });
    ws.on_close([&](std::uint16_t, std::string_view) { loop.stop(); });
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(server_side, "v2.duplex");
    EXPECT_EQ(client_side, "v2.duplex");
}

TEST(Server, AsyncUpgradeDecidedOnAnotherThread) {
    LoopThread t;
    auto server = t.call([&] {
        auto s = std::make_unique<WebSocketServer>(t.loop, local());
        s->on_upgrade([](const HttpRequest& req, UpgradeResponder responder) {
            // Decide later, elsewhere: as an auth service round trip would.
            std::thread([req, responder]() mutable {
                std::this_thread::sleep_for(30ms);
                if (req.query == "token=good") responder.accept({}, std::string("user-42"));
                else responder.reject(401, "bad token\n", {{"WWW-Authenticate", "Bearer"}});
            }).detach();
        });
        s->on_connection([](WebSocket& ws, const HttpRequest&) {
            auto* user = ws.data<std::string>();
            (void)ws.send(user ? *user : std::string("no user data"));
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });

    RawClient bad(port);
    ASSERT_TRUE(bad.send(upgrade_request("/?token=bad")));
    const auto refused = bad.read_head();
    EXPECT_EQ(refused.rfind("HTTP/1.1 401 ", 0), 0u) << refused;
    EXPECT_NE(refused.find("WWW-Authenticate: Bearer"), std::string::npos);
    EXPECT_TRUE(bad.wait_eof());

    RawClient good(port);
    ASSERT_TRUE(good.send(upgrade_request("/?token=good")));
    const auto accepted = good.read_until([](const std::string& b) { return b.find("user-42") != std::string::npos; });
    EXPECT_EQ(accepted.rfind("HTTP/1.1 101 ", 0), 0u) << accepted;
    EXPECT_NE(accepted.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
    EXPECT_NE(accepted.find("\x81\x07user-42"), std::string::npos);
    t.call([&] { server.reset(); return 0; });
}

TEST(Server, OriginCheckRefusesWith403) {
    LoopThread t;
    auto server = t.call([&] {
        ServerOptions o = local();
        o.origin_check = [](std::string_view origin) { return origin == "https://good.example"; };
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_connection([](WebSocket& ws, const HttpRequest&) { (void)ws.send("hi"); });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    RawClient evil(port);
    evil.send(upgrade_request("/", "Origin: https://evil.example\r\n"));
    EXPECT_EQ(evil.read_head().rfind("HTTP/1.1 403 ", 0), 0u);
    RawClient good(port);
    good.send(upgrade_request("/", "Origin: https://good.example\r\n"));
    EXPECT_EQ(good.read_head().rfind("HTTP/1.1 101 ", 0), 0u);
    t.call([&] { server.reset(); return 0; });
}

TEST(Server, ServesPlainHttpWithKeepAliveHeadAnd404) {
    LoopThread t;
    const std::string dir = ::testing::TempDir() + "duplex_static_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir + "/sub");
    { std::ofstream(dir + "/index.html") << "<h1>hello</h1>"; }
    { std::ofstream(dir + "/sub/app.js") << "console.log(1)"; }
    auto server = t.call([&] {
        ServerOptions o = local();
        o.static_dir = dir;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->route("/ws", {nullptr, echo_route});
        s->on_http([](const HttpRequest& req, HttpResponse& res) {
            if (req.path != "/api") return false;
            res.set_header("Content-Type", "application/json");
            res.body = R"({"ok":true})";
            return true;
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    RawClient c(port);
    // Two requests on one connection (keep-alive), the second pipelined.
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sub/app.js HTTP/1.1\r\nHost: x\r\n\r\n");
    auto both = c.read_until([](const std::string& b) {
        return b.find("<h1>hello</h1>") != std::string::npos && b.find("text/javascript") != std::string::npos &&
               b.rfind("\r\n\r\n") > b.find("text/javascript");
    });
    EXPECT_EQ(both.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << both;
    EXPECT_NE(both.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
    EXPECT_NE(both.find("Content-Length: 14\r\n"), std::string::npos);  // HEAD: length of the body not sent
    EXPECT_EQ(both.find("console.log"), std::string::npos);
    c.send("GET /api HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(c.read_until([](const std::string& b) { return b.find(R"({"ok":true})") != std::string::npos; })
                  .find(R"({"ok":true})"),
              std::string::npos);
    c.send("GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(c.wait_eof());
    EXPECT_NE(c.buffer().find("HTTP/1.1 404 Not Found"), std::string::npos);

    RawClient ws_path(port);
    ws_path.send("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(ws_path.read_head().rfind("HTTP/1.1 426 ", 0), 0u);
    RawClient post(port);
    post.send("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(post.read_head().rfind("HTTP/1.1 405 ", 0), 0u);
    for (const char* escape : {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/sub/../../etc/passwd"}) {
        RawClient e(port);
        e.send(std::string("GET ") + escape + " HTTP/1.1\r\nHost: x\r\n\r\n");
        EXPECT_EQ(e.read_head().rfind("HTTP/1.1 404 ", 0), 0u) << escape;
    }
    t.call([&] { server.reset(); return 0; });
    std::filesystem::remove_all(dir);
}

TEST(Server, SendFromAnotherThreadIsPostedToTheLoop) {
    LoopThread t;
    std::mutex mu;
    std::vector<WebSocket> conns;
    auto server = t.call([&] {
        auto s = std::make_unique<WebSocketServer>(t.loop, local());
        s->on_connection([&](WebSocket& ws, const HttpRequest&) {
            std::lock_guard<std::mutex> lock(mu);
            conns.push_back(ws);
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    RawClient c(port);
    c.send(upgrade_request("/"));
    c.read_head();
    ASSERT_TRUE(eventually([&] { std::lock_guard<std::mutex> l(mu); return conns.size() == 1; }));
    WebSocket ws;
    {
        std::lock_guard<std::mutex> l(mu);
        ws = conns[0];
    }
    EXPECT_NE(&ws.loop()->runtime(), nullptr);
    EXPECT_FALSE(ws.loop()->in_loop_thread());
    std::vector<std::thread> senders;
    for (int i = 0; i < 4; ++i)
        senders.emplace_back([ws, i]() mutable {
            for (int k = 0; k < 25; ++k) EXPECT_TRUE(ws.send("m" + std::to_string(i)).ok());
        });
    for (auto& s : senders) s.join();
    // 100 frames of "\x81\x02mN" after the 101 head.
    auto got = c.read_until([](const std::string& b) {
        const auto body = b.find("\r\n\r\n");
        return body != std::string::npos && b.size() - body - 4 >= 400;
    });
    EXPECT_EQ(got.size() - got.find("\r\n\r\n") - 4, 400u);
    t.call([&] { conns.clear(); server.reset(); return 0; });
}

TEST(Server, CloseFromInsideOnMessageIsSafe) {
    EventLoop loop;
    WebSocketServer server(loop, local());
    server.on_connection([](WebSocket& ws, const HttpRequest&) {
        ws.on_message([ws, n = 0](std::string_view, bool) mutable {
            // Messages that arrive after our Close are still delivered (§7.1.2),
            // but nothing more can be sent and a second close is refused.
            if (++n == 1) {
                EXPECT_TRUE(ws.close(3001, "enough").ok());
            } else {
                EXPECT_EQ(ws.close(3001, "again"), Errc::invalid_state);
            }
            EXPECT_EQ(ws.send("after close"), Errc::invalid_state);
        });
    });
    ASSERT_TRUE(server.listen().ok());
    int code = -1;
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
    ws.on_open([&] { (void)ws.send("one"); (void)ws.send("two"); });
    ws.on_close([&](std::uint16_t c, std::string_view) { code = c; loop.stop(); });
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(code, 3001);
}

TEST(Server, ALoopDestroyedAfterItsServerEndsTheConnectionsLeft) {
    // The server goes first, its loop after, with connections still open:
    // the loop ends them, and every client hears it. The clients' handles
    // then outlive their own loop too, after their connections closed: the
    // sessions must not touch that loop as they go (ASan/UBSan watch).
    std::vector<WebSocket> clients;
    EventLoop client_loop;
    {
        EventLoop loop;
        {
            WebSocketServer server(loop, local());
            server.on_connection(echo_route);
            ASSERT_TRUE(server.listen().ok());
            std::thread t([&] { loop.run(); });
            int open = 0;
            for (int i = 0; i < 3; ++i) {
                auto ws = WebSocket::connect(client_loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
                ws.on_open([&] { ++open; });
                clients.push_back(ws);
            }
            const auto deadline = std::chrono::steady_clock::now() + 5s;
            while (open < 3 && std::chrono::steady_clock::now() < deadline) client_loop.run_once(5);
            ASSERT_EQ(open, 3);
            loop.post([&] { loop.stop(); });
            t.join();
        }  // the server, with three sessions open
    }  // their loop
    // The sockets closed with the loop: every client hears it.
    int closed = 0;
    for (auto& ws : clients) ws.on_close([&](std::uint16_t, std::string_view) { ++closed; });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (closed < 3 && std::chrono::steady_clock::now() < deadline) client_loop.run_once(5);
    EXPECT_EQ(closed, 3);
}

TEST(Server, ABurstOfConnectionsIsFollowedByOneHeapTrimOnceQuiet) {
    // Decision 0011: after a burst (256 connections begun or ended) the heap's
    // free pages go back to the kernel, once 200 ms pass without more; a few
    // connections never cause a trim.
    EventLoop loop;
    WebSocketServer server(loop, local());
    server.on_connection(echo_route);
    ASSERT_TRUE(server.listen().ok());
    const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/";
    std::vector<WebSocket> clients;
    int open = 0;
    auto open_more = [&](int n) {
        for (int i = 0; i < n; ++i) {
            auto ws = WebSocket::connect(loop, url);
            ws.on_open([&] { ++open; });
            clients.push_back(ws);
        }
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (open < static_cast<int>(clients.size()) && std::chrono::steady_clock::now() < deadline) loop.run_once(5);
    };
    auto run_for = [&](std::chrono::milliseconds d) {
        const auto until = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < until) loop.run_once(5);
    };
    const auto before = runtime::heap_trims();
    open_more(100);
    ASSERT_EQ(open, 100);
    run_for(400ms);
    EXPECT_EQ(runtime::heap_trims(), before) << "100 connections are no burst";
    open_more(200);
    ASSERT_EQ(open, 300);
    run_for(50ms);
    EXPECT_EQ(runtime::heap_trims(), before) << "not before 200 ms of quiet";
    run_for(400ms);
    EXPECT_EQ(runtime::heap_trims(), before + 1);
    for (auto& ws : clients) (void)ws.close();
    run_for(300ms);
}

TEST(Server, ASessionOutlivesItsConnectionWhileAHandleDoesAndGoesWithTheLastOne) {
    // Decision 0013: a session counts its handles itself. One kept by the
    // application keeps the session (not the connection) alive; the last
    // one, released on another thread, frees it. Under ASan the pool is
    // bypassed and LeakSanitizer checks the same at exit.
    auto& pool = runtime::BlockPool::for_size(sizeof(detail::Session));
    const auto before = pool.live_blocks();
    const auto sessions = [&](std::size_t n) { return runtime::kPoolBypassed ? 0 : n; };
    WebSocket kept;
    {
        EventLoop loop;
        WebSocketServer server(loop, local());
        server.on_connection([&](WebSocket& ws, const HttpRequest&) { kept = ws; });
        ASSERT_TRUE(server.listen().ok());
        auto client = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        client.on_open([&] { (void)client.close(1000, "bye"); });
        bool closed = false;
        client.on_close([&](std::uint16_t, std::string_view) { closed = true; });
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while ((!closed || !kept || kept.ready_state() != ReadyState::Closed) &&
               std::chrono::steady_clock::now() < deadline)
            loop.run_once(5);
        ASSERT_TRUE(closed);
        for (int i = 0; i < 20; ++i) loop.run_once(5);  // the deferred ends run
        EXPECT_EQ(pool.live_blocks(), before + sessions(2)) << "the client's and the kept server session";
        client = WebSocket();
        EXPECT_EQ(pool.live_blocks(), before + sessions(1));
        EXPECT_EQ(kept.ready_state(), ReadyState::Closed);
        EXPECT_EQ(kept.send("late"), Errc::invalid_state);
    }
    // The loop is gone; the handle still answers, without touching it.
    EXPECT_EQ(kept.loop(), nullptr);
    EXPECT_EQ(kept.send("after"), Errc::invalid_state);
    EXPECT_EQ(kept.close(), Errc::invalid_state);
    std::thread([k = std::move(kept)]() mutable {
        WebSocket copy = k;
        k = WebSocket();
        EXPECT_EQ(copy.ready_state(), ReadyState::Closed);
    }).join();
    EXPECT_FALSE(kept);
    EXPECT_EQ(pool.live_blocks(), before);
}

TEST(Server, AHandleReleasedLastOnAnotherThreadFreesTheSessionOnItsLoop) {
    auto& pool = runtime::BlockPool::for_size(sizeof(detail::Session));
    const auto before = pool.live_blocks();
    const auto sessions = [&](std::size_t n) { return runtime::kPoolBypassed ? 0 : n; };
    EventLoop loop;
    WebSocketServer server(loop, local());
    WebSocket kept;
    server.on_connection([&](WebSocket& ws, const HttpRequest&) { kept = ws; });
    ASSERT_TRUE(server.listen().ok());
    {
        auto client = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        client.on_open([&] { (void)client.close(1000, "bye"); });
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while ((!kept || kept.ready_state() != ReadyState::Closed || client.ready_state() != ReadyState::Closed) &&
               std::chrono::steady_clock::now() < deadline)
            loop.run_once(5);
        ASSERT_EQ(kept.ready_state(), ReadyState::Closed);
        for (int i = 0; i < 20; ++i) loop.run_once(5);
    }
    for (int i = 0; i < 20; ++i) loop.run_once(5);
    EXPECT_EQ(pool.live_blocks(), before + sessions(1)) << "the kept server session";
    std::thread([k = std::move(kept)]() mutable { k = WebSocket(); }).join();
    EXPECT_EQ(pool.live_blocks(), before + sessions(1)) << "freed off its loop's thread";
    // Freed by a task posted to the loop, which unlinks it there.
    loop.run_once(50);
    EXPECT_EQ(pool.live_blocks(), before);
}

TEST(Server, EachConnectionKnowsItsOwnUrlWhetherOrNotItIsTheRoutesFirst) {
    // Decision 0013: a session stores its request target only when it is
    // not the one its route's context was made with.
    EventLoop loop;
    WebSocketServer server(loop, local());
    std::vector<WebSocket> accepted;
    server.on_connection([&](WebSocket& ws, const HttpRequest&) { accepted.push_back(ws); });
    WebSocketRoute rooms;
    rooms.on_connection = [&](WebSocket& ws, const HttpRequest&) { accepted.push_back(ws); };
    server.route("/room/*", rooms);
    ASSERT_TRUE(server.listen().ok());
    const std::string base = "ws://127.0.0.1:" + std::to_string(server.port());
    const std::vector<std::string> paths = {"/a", "/a?x=1", "/room/1", "/a", "/room/2?k=v", "/room/1", "/"};
    std::vector<WebSocket> clients;
    for (const auto& p : paths) {
        clients.push_back(WebSocket::connect(loop, base + p));
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (accepted.size() < clients.size() && std::chrono::steady_clock::now() < deadline) loop.run_once(5);
        ASSERT_EQ(accepted.size(), clients.size()) << p;
    }
    for (std::size_t i = 0; i < paths.size(); ++i) {
        EXPECT_EQ(accepted[i].url(), paths[i]);
        EXPECT_EQ(clients[i].url(), base + paths[i]);
    }
    for (auto& c : clients) (void)c.close();
    for (int i = 0; i < 20; ++i) loop.run_once(5);
}

TEST(Server, AssigningAHandleFromWhatItsOldSessionOwnsIsSafe) {
    // The old session's last release may destroy the handle being assigned
    // from (its user_data owns it): the new one is taken first.
    for (bool move : {false, true}) {
        EventLoop loop;
        auto a = WebSocket::connect(loop, "ws://127.0.0.1:1/a");  // refused: ends at once
        a.user_data() = WebSocket::connect(loop, "ws://127.0.0.1:1/b");
        int closed = 0;
        a.on_close([&](std::uint16_t, std::string_view) { ++closed; });
        a.data<WebSocket>()->on_close([&](std::uint16_t, std::string_view) { ++closed; });
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (closed < 2 && std::chrono::steady_clock::now() < deadline) loop.run_once(5);
        for (int i = 0; i < 5; ++i) loop.run_once(1);
        ASSERT_EQ(closed, 2);
        // `a` is now the only reference to its session.
        if (move) a = std::move(*a.data<WebSocket>());
        else a = *a.data<WebSocket>();
        ASSERT_TRUE(a);
        EXPECT_EQ(a.url(), "ws://127.0.0.1:1/b");
    }
}

TEST(Server, AFailedSendGivesTheLentQueueBack) {
    EventLoop loop;
    WebSocketServer server(loop, local());
    server.on_connection(echo_route);
    ASSERT_TRUE(server.listen().ok());
    auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
    bool open = false;
    ws.on_open([&] { open = true; });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!open && std::chrono::steady_clock::now() < deadline) loop.run_once(5);
    ASSERT_TRUE(open);
    for (int i = 0; i < 5; ++i) loop.run_once(1);
    const auto spare = loop.runtime().spare_queues();
    ASSERT_GT(spare, 0u) << "the handshakes' queues came back";
    EXPECT_EQ(ws.send(std::string_view("\xff\xfe", 2)), Errc::invalid_argument);  // not UTF-8
    EXPECT_EQ(ws.ping(std::string(126, 'p')), Errc::invalid_argument);            // over 125 bytes
    EXPECT_EQ(loop.runtime().spare_queues(), spare) << "a failed command kept a lent queue";
    (void)ws.close();
    for (int i = 0; i < 10; ++i) loop.run_once(5);
}

TEST(Server, AClientStartedFromAnotherThreadOnALoopThatNeverRanLearnsItIsGone) {
    WebSocket ws;
    {
        EventLoop loop;
        std::thread([&] { ws = WebSocket::connect(loop, "ws://127.0.0.1:1/"); }).join();
    }  // destroyed before it ran the connect it was given
    ASSERT_TRUE(ws);
    EXPECT_EQ(ws.loop(), nullptr);
    EXPECT_EQ(ws.send("x"), Errc::invalid_state);
    EXPECT_EQ(ws.close(), Errc::invalid_state);
}

TEST(Server, ServerCloseSends1001ToEveryClient) {
    EventLoop loop;
    WebSocketServer server(loop, local());
    server.on_connection(echo_route);
    ASSERT_TRUE(server.listen().ok());
    std::vector<int> codes;
    std::vector<WebSocket> clients;
    int opened = 0;
    for (int i = 0; i < 3; ++i) {
        auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        ws.on_open([&] {
            if (++opened == 3) server.close();
        });
        ws.on_close([&](std::uint16_t c, std::string_view) {
            codes.push_back(c);
            if (codes.size() == 3) loop.stop();
        });
        clients.push_back(ws);
    }
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(codes, (std::vector<int>{1001, 1001, 1001}));
}

// A server finds its connections in the loop's list of closers, which holds
// every connection of the loop (decision 0014): two servers and a client of
// a third party on one loop. Closing one server closes its connections only,
// and the heartbeat of the other pings its own (the client's pongs count).
TEST(Server, TwoServersOnOneLoopEachCloseAndPingOnlyTheirOwn) {
    EventLoop loop;
    WebSocketServer a(loop, local());
    std::vector<std::pair<std::string, std::string>> peers;  // the handle's, the request's
    a.on_connection([&](WebSocket& ws, const HttpRequest& req) { peers.emplace_back(ws.remote_address(), req.remote_address); });
    ASSERT_TRUE(a.listen().ok());
    ServerOptions ob = local();
    ob.ping_interval = 100ms;
    WebSocketServer b(loop, ob);
    b.on_connection(echo_route);
    ASSERT_TRUE(b.listen().ok());
    std::map<std::string, std::vector<int>> codes;
    std::map<std::string, int> pings;
    std::vector<WebSocket> clients;
    int opened = 0;
    auto connect = [&](WebSocketServer& s, const std::string& name) {
        auto ws = WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(s.port()) + "/");
        ws.on_open([&] {
            if (++opened == 4) a.close();
        });
        ws.on_ping([&, name](std::string_view) {
            // Done once each of b's clients was pinged twice and a's are closed.
            if (++pings[name] >= 4 && name == "b" && codes["a"].size() == 2) loop.stop();
        });
        ws.on_close([&codes, name](std::uint16_t c, std::string_view) { codes[name].push_back(c); });
        clients.push_back(ws);
    };
    connect(a, "a");
    connect(a, "a");
    connect(b, "b");
    connect(b, "b");
    loop.set_timeout(10s, [&] { loop.stop(); });  // a watchdog: the pings stop the loop
    loop.run();
    EXPECT_EQ(codes["a"], (std::vector<int>{1001, 1001}));
    EXPECT_TRUE(codes["b"].empty());
    EXPECT_EQ(a.connection_count(), 0u);
    EXPECT_EQ(b.connection_count(), 2u);
    EXPECT_GE(pings["b"], 4);
    EXPECT_EQ(pings["a"], 0);
    ASSERT_EQ(peers.size(), 2u);
    for (auto& [kept, asked] : peers) {
        EXPECT_EQ(kept.rfind("127.0.0.1:", 0), 0u) << kept;
        EXPECT_EQ(kept, asked);
    }
    for (auto& ws : clients) {
        const bool of_b = ws.url().find(":" + std::to_string(b.port()) + "/") != std::string::npos;
        EXPECT_EQ(ws.ready_state() == ReadyState::Open, of_b) << ws.url();
    }
}

TEST(Server, PortInUseIsAClearError) {
    EventLoop loop;
    WebSocketServer a(loop, local());
    ASSERT_TRUE(a.listen().ok());
    ServerOptions o = local();
    o.port = a.port();
    WebSocketServer b(loop, o);
    EXPECT_EQ(b.listen(), Errc::address_in_use);
    ServerOptions bad = local();
    bad.host = "not-an-address";
    WebSocketServer c(loop, bad);
    EXPECT_EQ(c.listen(), Errc::invalid_argument);
}

TEST(Client, ReportsBadUrlsRefusalsAndTimeouts) {
    EventLoop loop;
    struct Seen {
        std::error_code ec;
        int code = -1;
    };
    std::map<std::string, Seen> seen;
    // A listener that never answers the handshake (the kernel accepts for it).
    const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(silent, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len);
    const std::string silent_url = "ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";

    ClientOptions quick;
    quick.handshake_timeout = 200ms;
    for (const std::string& url : {std::string("http://127.0.0.1/"), std::string("wss://127.0.0.1/"),
                                  std::string("ws://127.0.0.1:1/"), silent_url}) {
        auto ws = WebSocket::connect(loop, url, quick);
        ws.on_error([&, url](std::error_code ec, std::string_view) { seen[url].ec = ec; });
        ws.on_close([&, url](std::uint16_t c, std::string_view) {
            seen[url].code = c;
            if (seen.size() == 4) loop.stop();
        });
    }
    loop.set_timeout(5s, [&] { loop.stop(); });
    loop.run();
    ::close(silent);
    EXPECT_EQ(seen["http://127.0.0.1/"].ec, make_error_code(Errc::invalid_argument));
    EXPECT_EQ(seen["wss://127.0.0.1/"].ec, make_error_code(Errc::connection_refused));  // nobody on 443
    EXPECT_EQ(seen["ws://127.0.0.1:1/"].ec, make_error_code(Errc::connection_refused));
    EXPECT_EQ(seen[silent_url].ec, make_error_code(Errc::timed_out));
    for (auto& [url, s] : seen) EXPECT_EQ(s.code, 1006) << url;
}

}  // namespace
