#include "proto/http/head_parser.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>

using namespace duplex::proto::http;
using duplex::base::as_bytes;

namespace {
const std::string kUpgrade =
    "GET /chat?x=1 HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

HeadParser parse_all(const std::string& s, HeadLimits limits = {}) {
    HeadParser p(HeadKind::Request, limits);
    p.feed(as_bytes(s));
    return p;
}
}  // namespace

TEST(HeadParser, ParsesUpgradeRequestWhole) {
    auto p = parse_all(kUpgrade);
    ASSERT_EQ(p.state(), HeadState::Complete);
    const auto& r = p.request();
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/chat?x=1");
    EXPECT_EQ(r.path(), "/chat");
    EXPECT_EQ(r.query(), "x=1");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_EQ(r.headers.get("host"), "server.example.com");  // case-insensitive
    EXPECT_TRUE(r.headers.has_token("connection", "UPGRADE"));
    EXPECT_TRUE(r.headers.has_token("Connection", "keep-alive"));
    EXPECT_FALSE(r.headers.has_token("Connection", "close"));
}

TEST(HeadParser, EverySplitPointGivesTheSameResult) {
    for (std::size_t cut = 1; cut < kUpgrade.size(); ++cut) {
        HeadParser p(HeadKind::Request);
        const auto a = kUpgrade.substr(0, cut), b = kUpgrade.substr(cut);
        EXPECT_EQ(p.feed(as_bytes(a)), a.size());
        EXPECT_EQ(p.feed(as_bytes(b)), b.size());
        ASSERT_EQ(p.state(), HeadState::Complete) << cut;
        EXPECT_EQ(p.request().headers.size(), 7u);
    }
}

TEST(HeadParser, ByteAtATime) {
    HeadParser p(HeadKind::Request);
    for (char c : kUpgrade) {
        ASSERT_NE(p.state(), HeadState::Error);
        p.feed(as_bytes(std::string_view(&c, 1)));
    }
    EXPECT_EQ(p.state(), HeadState::Complete);
}

TEST(HeadParser, StopsAtTheEndOfTheHead) {
    HeadParser p(HeadKind::Request);
    const std::string in = kUpgrade + "\x81\x85rest";
    EXPECT_EQ(p.feed(as_bytes(in)), kUpgrade.size());
    EXPECT_EQ(p.state(), HeadState::Complete);
}

TEST(HeadParser, AcceptsLeadingEmptyLines) {
    auto p = parse_all("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_EQ(p.state(), HeadState::Complete);
    EXPECT_EQ(p.request().headers.get("Host"), "a");
}

// RFC 9112 §2.2 allows a bare LF; a server refuses it (a proxy in front may
// split the head differently: request smuggling). A response may use it.
TEST(HeadParser, ARequestWithABareLfIsRefusedAResponseIsRead) {
    for (const char* bad : {"GET / HTTP/1.1\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\n\r\n",
                            "GET / HTTP/1.1\r\nHost: a\r\n\n", "\nGET / HTTP/1.1\r\n\r\n"}) {
        auto p = parse_all(bad);
        EXPECT_EQ(p.state(), HeadState::Error) << bad;
        EXPECT_EQ(status_for(p.error()), 400) << bad;
    }
    HeadParser r(HeadKind::Response);
    r.feed(as_bytes("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n"));
    ASSERT_EQ(r.state(), HeadState::Complete);
    EXPECT_EQ(r.response().status, 101);
}

TEST(HeadParser, RejectsMalformedWith400) {
    for (const char* bad : {"GET / HTTP/1.1\r\nHost : a\r\n\r\n",        // space before colon
                            "GET / HTTP/1.1\r\n folded: x\r\n\r\n",      // obs-fold
                            "GET  / HTTP/1.1\r\n\r\n",                   // two spaces
                            "GET / HTTP/1.1 extra\r\n\r\n",
                            "GET / HTTX/1.1\r\n\r\n",
                            "G(T / HTTP/1.1\r\n\r\n",                    // method not a token
                            "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                            "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",         // control char in value
                            "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",          // bare CR
                            "\x16\x03\x01\x02\x01\x01\x01\x01\xfc\x03\x03\r\n\r\n"}) {  // TLS on a plain port
        auto p = parse_all(bad);
        EXPECT_EQ(p.state(), HeadState::Error) << bad;
        EXPECT_EQ(status_for(p.error()), 400) << bad;
    }
}

TEST(HeadParser, OtherMajorVersionIs505) {
    auto p = parse_all("GET / HTTP/2.0\r\n\r\n");
    EXPECT_EQ(p.state(), HeadState::Error);
    EXPECT_EQ(status_for(p.error()), 505);
}

TEST(HeadParser, LimitsGive414And431BeforeTheHeadEnds) {
    HeadLimits limits{64, 256, 4};
    {
        HeadParser p(HeadKind::Request, limits);
        p.feed(as_bytes("GET /" + std::string(100, 'a')));  // no newline yet
        EXPECT_EQ(p.state(), HeadState::Error);
        EXPECT_EQ(status_for(p.error()), 414);
    }
    {
        HeadParser p(HeadKind::Request, limits);
        p.feed(as_bytes("GET / HTTP/1.1\r\nX: " + std::string(100, 'a')));
        EXPECT_EQ(p.state(), HeadState::Error);
        EXPECT_EQ(status_for(p.error()), 431);
    }
    {
        std::string many = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < 6; ++i) many += "X" + std::to_string(i) + ": y\r\n";
        auto p = parse_all(many + "\r\n", limits);
        EXPECT_EQ(p.state(), HeadState::Error);
        EXPECT_EQ(status_for(p.error()), 431);
    }
    {
        std::string big = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < 4; ++i) big += "X: " + std::string(60, 'b') + "\r\n";
        auto p = parse_all(big, limits);  // total over 256 bytes
        EXPECT_EQ(p.state(), HeadState::Error);
        EXPECT_EQ(status_for(p.error()), 431);
    }
}

TEST(HeadParser, ParsesResponses) {
    HeadParser p(HeadKind::Response);
    p.feed(as_bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"));
    ASSERT_EQ(p.state(), HeadState::Complete);
    EXPECT_EQ(p.response().status, 101);
    EXPECT_EQ(p.response().reason, "Switching Protocols");
    HeadParser q(HeadKind::Response);
    q.feed(as_bytes("HTTP/1.1 20x OK\r\n\r\n"));
    EXPECT_EQ(q.state(), HeadState::Error);
}

TEST(HeadParser, ResetAllowsTheNextRequest) {
    HeadParser p(HeadKind::Request);
    const std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    auto used = p.feed(as_bytes(two));
    ASSERT_EQ(p.state(), HeadState::Complete);
    EXPECT_EQ(p.request().target, "/a");
    p.reset();
    p.feed(as_bytes(std::string_view(two).substr(used)));
    ASSERT_EQ(p.state(), HeadState::Complete);
    EXPECT_EQ(p.request().target, "/b");
}

TEST(HttpLists, SplitsAndTrims) {
    auto items = split_list(" a ,b,, c\t");
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0], "a");
    EXPECT_EQ(items[2], "c");
}
