// Bad input over real sockets: each gets the protocol's own error, the
// offending connection is closed, and a healthy client on the same server
// keeps working throughout.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

std::string masked_frame(std::uint8_t b0, const std::string& payload) {
    std::string f;
    f += static_cast<char>(b0);
    if (payload.size() < 126) {
        f += static_cast<char>(0x80 | payload.size());
    } else {
        f += static_cast<char>(0x80 | 126);
        f += static_cast<char>(payload.size() >> 8);
        f += static_cast<char>(payload.size() & 0xff);
    }
    const char key[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(key, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ key[i % 4]);
    return f;
}

/// The close code in the first Close frame after the 101 head, or -1.
int close_code_after_head(const std::string& bytes) {
    auto pos = bytes.find("\r\n\r\n");
    if (pos == std::string::npos) return -1;
    pos += 4;
    while (pos + 2 <= bytes.size()) {
        const auto b0 = static_cast<unsigned char>(bytes[pos]);
        const auto len = static_cast<unsigned char>(bytes[pos + 1]) & 0x7f;
        if ((b0 & 0x0f) == 0x8 && len >= 2 && pos + 4 <= bytes.size())
            return (static_cast<unsigned char>(bytes[pos + 2]) << 8) | static_cast<unsigned char>(bytes[pos + 3]);
        pos += 2 + len;
    }
    return -1;
}

class BadInput : public ::testing::Test {
protected:
    void SetUp() override {
        server_ = t_.call([&] {
            ServerOptions o;
            o.host = "127.0.0.1";
            o.port = 0;
            o.max_message_size = 1024;
            o.max_frame_size = 1024;
            o.max_header_bytes = 4096;
            o.handshake_timeout = 300ms;
            auto s = std::make_unique<WebSocketServer>(t_.loop, o);
            s->on_connection([](WebSocket& ws, const HttpRequest&) {
                ws.on_message([ws](std::string_view d, bool b) mutable { (void)ws.send(d, b); });
            });
            EXPECT_TRUE(s->listen().ok());
            return s;
        });
        port_ = t_.call([&] { return server_->port(); });
        healthy_ = std::make_unique<RawClient>(port_);
        healthy_->send(upgrade_request("/"));
        ASSERT_EQ(healthy_->read_head().rfind("HTTP/1.1 101 ", 0), 0u);
    }
    void TearDown() override {
        // The healthy connection still echoes after whatever the test did.
        healthy_->buffer().clear();
        ASSERT_TRUE(healthy_->send(masked_frame(0x81, "still alive")));
        auto got = healthy_->read_until([](const std::string& b) { return b.find("still alive") != std::string::npos; });
        EXPECT_NE(got.find("still alive"), std::string::npos);
        t_.call([&] { server_.reset(); return 0; });
    }
    std::unique_ptr<RawClient> open_ws() {
        auto c = std::make_unique<RawClient>(port_);
        c->send(upgrade_request("/"));
        EXPECT_EQ(c->read_head().rfind("HTTP/1.1 101 ", 0), 0u);
        return c;
    }

    LoopThread t_;
    std::unique_ptr<WebSocketServer> server_;
    std::uint16_t port_ = 0;
    std::unique_ptr<RawClient> healthy_;
};

TEST_F(BadInput, UnmaskedClientFrameGets1002AndClose) {
    auto c = open_ws();
    c->send(std::string("\x81\x04Spam", 6));
    EXPECT_TRUE(c->wait_eof());
    EXPECT_EQ(close_code_after_head(c->buffer()), 1002);
}

TEST_F(BadInput, InvalidUtf8Gets1007) {
    auto c = open_ws();
    c->send(masked_frame(0x81, "\xce\xba\xe1\xbd\xb9\xed\xa0\x80"));
    EXPECT_TRUE(c->wait_eof());
    EXPECT_EQ(close_code_after_head(c->buffer()), 1007);
}

TEST_F(BadInput, OverTheSizeLimitGets1009) {
    auto c = open_ws();
    c->send(masked_frame(0x82, std::string(2000, 'x')));
    EXPECT_TRUE(c->wait_eof());
    EXPECT_EQ(close_code_after_head(c->buffer()), 1009);
}

TEST_F(BadInput, GarbageGets400AndClose) {
    RawClient c(port_);
    c.send("\x16\x03\x01 hello there\r\n\r\n");
    EXPECT_TRUE(c.wait_eof());
    EXPECT_EQ(c.buffer().rfind("HTTP/1.1 400 ", 0), 0u) << c.buffer();
}

TEST_F(BadInput, OversizedHeadGets431AndClose) {
    RawClient c(port_);
    c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
    EXPECT_TRUE(c.wait_eof());
    EXPECT_EQ(c.buffer().rfind("HTTP/1.1 431 ", 0), 0u) << c.buffer().substr(0, 40);
}

TEST_F(BadInput, StalledHalfHeaderIsClosedAfterTheHandshakeTimeout) {
    RawClient c(port_);
    const auto start = std::chrono::steady_clock::now();
    c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgr");
    EXPECT_TRUE(c.wait_eof(10000ms));
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 250ms);  // not before the 300 ms handshake timeout
    EXPECT_EQ(c.buffer().rfind("HTTP/1.1 408 ", 0), 0u);
}

TEST_F(BadInput, WrongVersionGets426WithVersion13) {
    RawClient c(port_);
    std::string req = upgrade_request("/");
    req.replace(req.find("Version: 13"), 11, "Version: 8");
    c.send(req);
    const auto head = c.read_head();
    EXPECT_EQ(head.rfind("HTTP/1.1 426 ", 0), 0u);
    EXPECT_NE(head.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
}

TEST_F(BadInput, FramesPipelinedWithTheUpgradeAreNotLost) {
    RawClient c(port_);
    c.send(upgrade_request("/") + masked_frame(0x81, "early bird"));
    auto got = c.read_until([](const std::string& b) { return b.find("early bird") != std::string::npos; });
    EXPECT_NE(got.find("\x81\x0a" "early bird"), std::string::npos);
}

TEST_F(BadInput, PipelinedResponseBeforeAnUpgradeIsNotLost) {
    // A plain request and an upgrade in one write: the 404 must leave, whole,
    // before the 101 (found by the interop suite's probing).
    RawClient c(port_);
    c.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request("/") + masked_frame(0x81, "after"));
    auto got = c.read_until([](const std::string& b) { return b.find("after") != std::string::npos; });
    EXPECT_EQ(got.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << got.substr(0, 60);
    const auto switching = got.find("HTTP/1.1 101 ");
    ASSERT_NE(switching, std::string::npos);
    EXPECT_NE(got.find("not found\n"), std::string::npos);
    EXPECT_LT(got.find("not found\n"), switching);
}

TEST_F(BadInput, AbsoluteFormTargetsAreAccepted) {
    RawClient c(port_);
    c.send(upgrade_request("http://127.0.0.1/"));
    EXPECT_EQ(c.read_head().rfind("HTTP/1.1 101 ", 0), 0u);
}

TEST_F(BadInput, RequestBodiesAreRefused) {
    RawClient c(port_);
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_TRUE(c.wait_eof());
    EXPECT_EQ(c.buffer().rfind("HTTP/1.1 413 ", 0), 0u);
}

}  // namespace
