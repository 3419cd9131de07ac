// SignalingServer over real WebSockets: join, relay, peer-left, errors keep
// the connection, tokens, TURN credentials in joined, and rooms reached from
// a second loop.
#include <duplex/signaling.hpp>
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"
#include "support/signal_peer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <mutex>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Service {
    explicit Service(SignalingOptions o = {}, bool two_loops = false) {
        t.call([&] {
            ServerOptions so;
            so.port = 0;
            server = std::make_unique<WebSocketServer>(t.loop, so);
            if (two_loops) server->add_loop(second.loop);
            signaling = std::make_unique<SignalingServer>(*server, "/signal", o);
            EXPECT_TRUE(server->listen().ok());
            return 0;
        });
        port = server->port();
    }
    ~Service() {
        t.call([&] { signaling.reset(); server.reset(); return 0; });
    }
    LoopThread t, second;
    std::unique_ptr<WebSocketServer> server;
    std::unique_ptr<SignalingServer> signaling;
    std::uint16_t port = 0;
};

TEST(Signaling, TwoPeersMeetAndRelay) {
    for (bool two_loops : {false, true}) {
        Service s({}, two_loops);
        Peer a(s.port), b(s.port);
        a.send({{"type", "join"}, {"room", "demo"}});
        auto ja = a.next();
        ASSERT_EQ(ja["type"], "joined") << ja;
        const std::string a_id = ja["id"];
        EXPECT_EQ(a_id.size(), 10u);
        EXPECT_EQ(ja["peers"], json::array());
        b.send({{"type", "join"}, {"room", "demo"}, {"id", "bob"}});
        auto jb = b.next();
        EXPECT_EQ(jb["peers"], json::array({a_id}));
        EXPECT_EQ(a.next(), (json{{"type", "peer-joined"}, {"id", "bob"}}));
        b.send({{"type", "offer"}, {"to", a_id}, {"sdp", "v=0 offer"}});
        EXPECT_EQ(a.next(), (json{{"type", "offer"}, {"from", "bob"}, {"sdp", "v=0 offer"}}));
        a.send({{"type", "answer"}, {"to", "bob"}, {"sdp", "v=0 answer"}});
        EXPECT_EQ(b.next()["sdp"], "v=0 answer");
        // An error keeps the connection.
        a.send({{"type", "offer"}, {"to", "nobody"}, {"sdp", "x"}});
        EXPECT_EQ(a.next()["code"], "unknown-peer");
        a.send({{"type", "candidate"}, {"to", "bob"}, {"candidate", ""}});
        EXPECT_EQ(b.next()["candidate"], "");
        b.close_now();
        EXPECT_EQ(a.next(), (json{{"type", "peer-left"}, {"id", "bob"}}));
        EXPECT_TRUE(eventually([&] { return s.signaling->peer_count() == 1; }));
    }
}

TEST(Signaling, TokensAndTurnCredentials) {
    SignalingOptions o;
    o.secret = "s3cret";
    o.stun_urls = {"stun:127.0.0.1:3478"};
    o.turn_urls = {"turn:127.0.0.1:3478?transport=udp"};
    o.turn_secret = "turnsecret";
    Service s(o);
    Peer p(s.port);
    p.send({{"type", "join"}, {"room", "r"}});
    EXPECT_EQ(p.next()["code"], "unauthorized");
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    p.send({{"type", "join"}, {"room", "r"}, {"token", make_signaling_token("s3cret", "r", now + 60)}});
    auto j = p.next();
    ASSERT_EQ(j["type"], "joined") << j;
    ASSERT_EQ(j["iceServers"].size(), 2u);
    EXPECT_EQ(j["iceServers"][0]["urls"], json::array({"stun:127.0.0.1:3478"}));
    const std::string user = j["iceServers"][1]["username"];
    EXPECT_EQ(user.substr(user.find(':') + 1), j["id"]);
    EXPECT_FALSE(j["iceServers"][1]["credential"].get<std::string>().empty());
}

TEST(Signaling, RepeatedAbuseIsClosedWith1008) {
    SignalingOptions o;
    o.max_errors = 3;
    Service s(o);
    Peer p(s.port);
    for (int i = 0; i < 3; ++i) p.send({{"type", "leave"}});
    for (int i = 0; i < 3; ++i) EXPECT_EQ(p.next()["code"], "not-joined");
    EXPECT_TRUE(eventually([&] { return p.closed() != -1; }));
    EXPECT_EQ(p.closed(), 1008);
}

/// A masked client frame with a 64-bit length field declaring `declared`
/// bytes, followed by `payload` (possibly fewer).
std::string frame_declaring(std::uint64_t declared, const std::string& payload, std::uint8_t opcode = 0x1) {
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    f += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((declared >> (8 * i)) & 0xff);
    f += std::string(4, '\0');  // zero mask: the payload as is
    f += payload;
    return f;
}

int first_close_code(const std::string& b) {
    const auto head = b.find("\r\n\r\n");
    if (head == std::string::npos) return -1;
    for (std::size_t pos = head + 4; pos + 2 <= b.size();) {
        const auto op = static_cast<unsigned char>(b[pos]) & 0x0f;
        std::size_t len = static_cast<unsigned char>(b[pos + 1]) & 0x7f, h = 2;
        if (len == 126) {
            if (pos + 4 > b.size()) return -1;
            len = (static_cast<unsigned char>(b[pos + 2]) << 8) | static_cast<unsigned char>(b[pos + 3]);
            h = 4;
        }
        if (op == 0x8 && len >= 2 && pos + h + 2 <= b.size())
            return (static_cast<unsigned char>(b[pos + h]) << 8) | static_cast<unsigned char>(b[pos + h + 1]);
        pos += h + len;
    }
    return -1;
}

// /signal's limits apply from the frame header on (issue 14: ten partly sent
// 14 MiB frames held 180 MB): before joining, a connection may send only a
// small message; a frame declaring more is refused with 1009 before its
// payload arrives. In a room, a peer may send a whole SDP (up to 64 KiB).
TEST(Signaling, MessageBudgetsApplyAtTheFrameHeaderAndGrowOnceJoined) {
    Service s;
    {
        RawClient c(s.port);
        ASSERT_TRUE(c.send(upgrade_request("/signal")));
        c.read_head();
        // 14 MiB declared, 1 KiB sent: the server does not wait for the rest.
        ASSERT_TRUE(c.send(frame_declaring(14u << 20, std::string(1024, 'x'))));
        c.read_until([](const std::string& b) { return first_close_code(b) != -1; });
        EXPECT_EQ(first_close_code(c.buffer()), 1009);
    }
    {
        RawClient c(s.port);
        ASSERT_TRUE(c.send(upgrade_request("/signal")));
        c.read_head();
        // 5 KiB of JSON before joining: over the unjoined budget (4 KiB).
        const std::string pad = R"({"type":"join","room":"r","pad":")" + std::string(5000, 'p') + "\"}";
        ASSERT_TRUE(c.send(frame_declaring(pad.size(), pad)));
        c.read_until([](const std::string& b) { return first_close_code(b) != -1; });
        EXPECT_EQ(first_close_code(c.buffer()), 1009);
    }
    // Joined: a 20 KiB offer goes through (relayed to the other peer).
    Peer a(s.port), b(s.port);
    a.send({{"type", "join"}, {"room", "r"}, {"id", "a"}});
    ASSERT_EQ(a.next()["type"], "joined");
    b.send({{"type", "join"}, {"room", "r"}, {"id", "b"}});
    ASSERT_EQ(b.next()["type"], "joined");
    const std::string sdp(20000, 's');
    b.send({{"type", "offer"}, {"to", "a"}, {"sdp", sdp}});
    EXPECT_EQ(a.next()["type"], "peer-joined");
    EXPECT_EQ(a.next()["sdp"], sdp);
    EXPECT_EQ(b.closed(), -1);
}

}  // namespace
