// SignalingServer over real WebSockets: join, relay, peer-left, errors keep
// the connection, tokens, TURN credentials in joined, and rooms reached from
// a second loop.
#include <duplex/signaling.hpp>
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/server_fixture.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <mutex>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A signaling client on its own loop thread that records what it receives.
class Peer {
public:
    explicit Peer(std::uint16_t port) {
        t_.call([&] {
            ws_ = WebSocket::connect(t_.loop, "ws://127.0.0.1:" + std::to_string(port) + "/signal");
            ws_.on_message([this](std::string_view m, bool) {
                std::lock_guard<std::mutex> l(mu_);
                got_.push_back(json::parse(m));
            });
            ws_.on_close([this](std::uint16_t c, std::string_view) { closed_ = c; });
            return 0;
        });
        EXPECT_TRUE(eventually([&] { return ws_.ready_state() == ReadyState::Open; }));
    }
    ~Peer() {
        t_.call([&] { (void)ws_.close(); ws_ = {}; return 0; });
    }
    void send(const json& j) { (void)ws_.send(j.dump()); }  // posted from this thread
    json next(std::chrono::milliseconds within = 3000ms) {
        json out;
        eventually([&] {
            std::lock_guard<std::mutex> l(mu_);
            if (got_.empty()) return false;
            out = got_.front();
            got_.pop_front();
            return true;
        }, within);
        return out;
    }
    void close_now() { t_.call([&] { (void)ws_.close(); return 0; }); }
    int closed() const { return closed_; }

private:
    LoopThread t_;
    WebSocket ws_;
    std::mutex mu_;
    std::deque<json> got_;
    std::atomic<int> closed_{-1};
};

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

}  // namespace
