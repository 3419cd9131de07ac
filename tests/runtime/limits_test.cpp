// Limits against hostile peers (issue 14, docs/limits.md): every buffer a
// peer can grow stops at its limit, over real sockets. Each test here failed
// before its fix.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

std::size_t count_of(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
    return n;
}

// Pipelined requests from a client that never reads its responses: the
// server stops handling them once max_backpressure bytes of responses wait
// (it held 800 MB in 10 s before), and handles the rest once the client reads.
TEST(Limits, PipelinedRequestsStopBeingHandledWhileTheirResponsesAreNotRead) {
    LoopThread t;
    std::atomic<int> handled{0};
    constexpr int kRequests = 2000;
    const std::string body(16u << 10, 'b');
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.max_backpressure = 256u << 10;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_http([&](const HttpRequest&, HttpResponse& res) {
            ++handled;
            res.body = body;
            return true;
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    RawClient c(t.call([&] { return server->port(); }), 16 * 1024);
    std::string all;
    for (int i = 0; i < kRequests; ++i) all += "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_TRUE(c.send_for(all, 2000ms));
    // The server has read them all (84 KB), and handles what its budget allows:
    // the budget, the kernel's buffers (a few MiB at most) and one more response.
    // Reading stops (counted): from then on no request is handled.
    ASSERT_TRUE(eventually([&] {
        return server->metrics_text().find("duplex_backpressure_read_pauses_total 1") != std::string::npos;
    }));
    EXPECT_LT(handled.load(), 600) << "responses to a client that does not read are still being made";
    // The client reads now: every response comes.
    std::size_t seen = 0, scanned = 0;
    c.read_until(
        [&](const std::string& b) {
            for (auto p = b.find("HTTP/1.1 200", scanned); p != std::string::npos; p = b.find("HTTP/1.1 200", p + 1)) {
                ++seen;
                scanned = p + 1;
            }
            return seen == kRequests;
        },
        20000ms);
    EXPECT_EQ(count_of(c.buffer(), "HTTP/1.1 200"), static_cast<std::size_t>(kRequests));
    EXPECT_EQ(handled.load(), kRequests);
    t.call([&] { server.reset(); return 0; });
}

std::string status_line(std::uint16_t port, const std::string& request) {
    RawClient c(port);
    c.send(request);
    const auto head = c.read_head();
    return head.substr(0, head.find("\r\n"));
}

// The same client, but each request in a read of its own: nothing is left
// over after a request to hold, and the budget must stop it all the same
// (a review found it did not).
TEST(Limits, OneRequestPerReadIsStoppedByTheBudgetToo) {
    LoopThread t;
    std::atomic<int> handled{0};
    const std::string body(16u << 10, 'b');
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.max_backpressure = 256u << 10;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        s->on_http([&](const HttpRequest&, HttpResponse& res) {
            ++handled;
            res.body = body;
            return true;
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    RawClient c(t.call([&] { return server->port(); }), 16 * 1024);
    const std::string request = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    const auto paused = [&] {
        return server->metrics_text().find("duplex_backpressure_read_pauses_total 1") != std::string::npos;
    };
    int sent = 0;
    // One request, then wait until it was handled: each arrives in a read of its own.
    while (sent < 2000 && !paused()) {
        ASSERT_TRUE(c.send_for(request, 2000ms));
        ++sent;
        if (!eventually([&] { return handled.load() == sent || paused(); }, 2000ms)) break;
    }
    ASSERT_TRUE(paused()) << sent << " requests sent, " << handled.load() << " handled, never paused";
    EXPECT_LT(sent, 600);
    // No request after the pause is handled until the client reads.
    ASSERT_TRUE(c.send_for(request, 2000ms));
    ++sent;
    EXPECT_FALSE(eventually([&] { return handled.load() == sent; }, 300ms));
    std::size_t seen = 0, scanned = 0;
    c.read_until(
        [&](const std::string& b) {
            for (auto p = b.find("HTTP/1.1 200", scanned); p != std::string::npos; p = b.find("HTTP/1.1 200", p + 1)) {
                ++seen;
                scanned = p + 1;
            }
            return seen == static_cast<std::size_t>(sent);
        },
        20000ms);
    EXPECT_EQ(seen, static_cast<std::size_t>(sent));
    t.call([&] { server.reset(); return 0; });
}

// Hidden files (.env, .git) are not served from the web directory, not even
// through a symlink; methods are case-sensitive (RFC 9110 §9.1): "get" is
// unknown (501), POST is known but not served (405); a request whose lines
// end in a bare LF is refused (400: RFC 9112 §2.2 permits, we decline).
TEST(Limits, HiddenFilesMethodsAndLineEndingsAreRefused) {
    namespace fs = std::filesystem;
    const fs::path root = fs::temp_directory_path() / ("duplex-web-" + std::to_string(::getpid()));
    fs::create_directories(root / ".git");
    std::ofstream(root / "index.html") << "<p>hi</p>";
    std::ofstream(root / ".env") << "SECRET=1";
    std::ofstream(root / ".git" / "config") << "[core]";
    fs::create_symlink(root / ".env", root / "alias");
    LoopThread t;
    auto server = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.static_dir = root.string();
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    const auto get = [&](const std::string& path) {
        return status_line(port, "GET " + path + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    };
    EXPECT_EQ(get("/"), "HTTP/1.1 200 OK");
    EXPECT_EQ(get("/index.html"), "HTTP/1.1 200 OK");
    for (const char* hidden : {"/.env", "/.git/config", "/%2eenv", "/alias", "/.git/"})
        EXPECT_EQ(get(hidden), "HTTP/1.1 404 Not Found") << hidden;
    EXPECT_EQ(status_line(port, "get / HTTP/1.1\r\nHost: a\r\n\r\n"), "HTTP/1.1 501 Not Implemented");
    EXPECT_EQ(status_line(port, "POST / HTTP/1.1\r\nHost: a\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
    EXPECT_EQ(status_line(port, "GET / HTTP/1.1\nHost: a\n\n"), "HTTP/1.1 400 Bad Request");
    // Asked for, hidden files are served.
    auto open = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.static_dir = root.string();
        o.serve_hidden_files = true;
        auto s = std::make_unique<WebSocketServer>(t.loop, o);
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    EXPECT_EQ(status_line(t.call([&] { return open->port(); }), "GET /.env HTTP/1.1\r\nHost: a\r\n\r\n"),
              "HTTP/1.1 200 OK");
    t.call([&] { server.reset(); open.reset(); return 0; });
    fs::remove_all(root);
}

}  // namespace
