// Signaling rooms across nodes through a real redis-server: peers joined
// through different nodes see each other, exchange offers, hit the room
// size together, keep unique ids, and hear of a node that dies.
#include <duplex/signaling.hpp>
#include <duplex/websocket_server.hpp>

#include "support/redis_server.hpp"
#include "support/server_fixture.hpp"
#include "support/signal_peer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct SignalNode {
    explicit SignalNode(const std::string& redis, SignalingOptions so = {}) {
        t.call([&] {
            ServerOptions o;
            o.port = 0;
            o.redis = redis;
            server = std::make_unique<WebSocketServer>(t.loop, o);
            signaling = std::make_unique<SignalingServer>(*server, "/signal", so);
            EXPECT_TRUE(server->listen().ok());
            return 0;
        });
        port = server->port();
        EXPECT_TRUE(eventually([&] { return server->redis_status() == "up"; })) << server->redis_status();
    }
    ~SignalNode() { stop(); }
    void stop() {
        if (!server) return;
        t.call([&] {
            signaling.reset();
            server.reset();
            return 0;
        });
    }
    LoopThread t;
    std::unique_ptr<WebSocketServer> server;
    std::unique_ptr<SignalingServer> signaling;
    std::uint16_t port = 0;
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json join(Peer& p, const std::string& room, const std::string& id = {}) {
    json j{{"type", "join"}, {"room", room}};
    if (!id.empty()) j["id"] = id;
    p.send(j);
    return p.next();
}

TEST(SharedRooms, PeersOnTwoNodesMeetAndRelay) {
    RedisServer redis;
    SignalNode a(redis.url()), b(redis.url());
    Peer alice(a.port), bob(b.port);
    auto ja = join(alice, "r", "alice");
    ASSERT_EQ(ja["type"], "joined") << ja;
    EXPECT_EQ(ja["peers"], json::array());
    auto jb = join(bob, "r", "bob");
    ASSERT_EQ(jb["type"], "joined") << jb;
    EXPECT_EQ(jb["peers"], json::array({"alice"}));  // alice is on the other node
    EXPECT_EQ(alice.next(), (json{{"type", "peer-joined"}, {"id", "bob"}}));
    // Offers and candidates are routed to the node that holds the target.
    bob.send({{"type", "offer"}, {"to", "alice"}, {"sdp", "v=0 from bob"}});
    EXPECT_EQ(alice.next(), (json{{"type", "offer"}, {"from", "bob"}, {"sdp", "v=0 from bob"}}));
    alice.send({{"type", "answer"}, {"to", "bob"}, {"sdp", "v=0 from alice"}});
    EXPECT_EQ(bob.next(), (json{{"type", "answer"}, {"from", "alice"}, {"sdp", "v=0 from alice"}}));
    alice.send({{"type", "candidate"}, {"to", "bob"}, {"candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, {"sdpMid", "0"}});
    EXPECT_EQ(bob.next()["candidate"], "candidate:1 1 udp 1 127.0.0.1 9 typ host");
    // An id in use on another node is taken here too.
    Peer eve(a.port);
    EXPECT_EQ(join(eve, "r", "bob")["code"], "id-taken");
    // Leaving is heard on the other node.
    bob.send({{"type", "leave"}});
    EXPECT_EQ(alice.next(), (json{{"type", "peer-left"}, {"id", "bob"}}));
    EXPECT_EQ(redis.cli("HLEN duplex:room:r:members"), "1");
}

TEST(SharedRooms, TheRoomSizeHoldsAcrossNodes) {
    RedisServer redis;
    SignalingOptions so;
    so.max_room_size = 2;
    SignalNode a(redis.url(), so), b(redis.url(), so);
    Peer p1(a.port), p2(b.port), p3(a.port), p4(b.port);
    EXPECT_EQ(join(p1, "small")["type"], "joined");
    EXPECT_EQ(join(p2, "small")["type"], "joined");
    EXPECT_EQ(join(p3, "small")["code"], "room-full");
    EXPECT_EQ(join(p4, "small")["code"], "room-full");
}

TEST(SharedRooms, ServerAssignedIdsAreUniqueAcrossNodes) {
    RedisServer redis;
    SignalNode a(redis.url()), b(redis.url());
    std::vector<std::unique_ptr<Peer>> peers;
    std::set<std::string> ids;
    for (int i = 0; i < 8; ++i) {
        peers.push_back(std::make_unique<Peer>(i % 2 ? a.port : b.port));
        auto j = join(*peers.back(), "many");
        ASSERT_EQ(j["type"], "joined") << j;
        EXPECT_EQ(j["peers"].size(), static_cast<std::size_t>(i));  // everyone before, on both nodes
        ids.insert(j["id"].get<std::string>());
    }
    EXPECT_EQ(ids.size(), 8u);
}

TEST(SharedRooms, MembersOfANodeWhoseAliveKeyIsGoneAreAnnouncedAsLeft) {
    RedisServer redis;
    SignalNode b(redis.url());
    Peer bob(b.port);
    ASSERT_EQ(join(bob, "r", "bob")["type"], "joined");
    // Two members on two other nodes, as those nodes would register them;
    // one node renews its alive key, the other is dead (killed: no key).
    redis.cli("SET duplex:alive:00000000000000aa 1 EX 60");
    for (const auto& [id, node] : {std::pair{"live", "00000000000000aa"}, std::pair{"ghost", "00000000000000bb"}}) {
        redis.cli(std::string("HSET duplex:room:r:members ") + id + " " + node);
        redis.cli(std::string("PUBLISH duplex:room:r \"join ") + node + " " + id + "\"");
        EXPECT_EQ(bob.next(), (json{{"type", "peer-joined"}, {"id", id}}));
    }
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(bob.next(15000ms), (json{{"type", "peer-left"}, {"id", "ghost"}}));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
    // The same round found the live one alive: it stays.
    EXPECT_EQ(redis.cli("HEXISTS duplex:room:r:members live"), "1");
    EXPECT_EQ(redis.cli("HEXISTS duplex:room:r:members ghost"), "0");
}

TEST(SharedRooms, WhatRedisForgotIsRegisteredAgain) {
    RedisServer redis;
    SignalNode a(redis.url()), b(redis.url());
    Peer alice(a.port), bob(b.port);
    ASSERT_EQ(join(alice, "r", "alice")["type"], "joined");
    ASSERT_EQ(join(bob, "r", "bob")["type"], "joined");
    EXPECT_EQ(alice.next()["type"], "peer-joined");
    // Redis restarts empty: both nodes put their members back by themselves.
    redis.stop();
    redis.start();
    EXPECT_TRUE(eventually([&] { return redis.cli("HLEN duplex:room:r:members") == "2"; }, 15000ms))
        << redis.cli("HLEN duplex:room:r:members");
    // And the room works across nodes again.
    EXPECT_TRUE(eventually([&] { return a.server->redis_status() == "up" && b.server->redis_status() == "up"; }));
    EXPECT_TRUE(eventually([&] { return redis.subscribers_of("duplex:room:r") == 2; })) << redis.subscribers_of("duplex:room:r");
    bob.send({{"type", "offer"}, {"to", "alice"}, {"sdp", "again"}});
    EXPECT_EQ(alice.next()["sdp"], "again");
}

}  // namespace

namespace {

TEST(SharedRooms, WithRedisAwayLocalRoomsKeepWorkingAndAreSharedOnceItIsBack) {
    RedisServer redis;
    SignalNode a(redis.url()), b(redis.url());
    redis.stop();
    ASSERT_TRUE(eventually([&] { return a.server->redis_status().starts_with("down"); }));
    // Two peers on node A: the room works, with this node's members.
    Peer p1(a.port), p2(a.port);
    EXPECT_EQ(join(p1, "local", "one")["type"], "joined");
    auto j2 = join(p2, "local", "two");
    EXPECT_EQ(j2["peers"], json::array({"one"}));
    EXPECT_EQ(p1.next()["type"], "peer-joined");
    p2.send({{"type", "offer"}, {"to", "one"}, {"sdp", "while Redis is away"}});
    EXPECT_EQ(p1.next()["sdp"], "while Redis is away");
    // Redis back: A registers its members; a peer joining through B (once B
    // is back on Redis too: before, it would join B's members only) sees them.
    redis.start();
    ASSERT_TRUE(eventually([&] { return redis.cli("HLEN duplex:room:local:members") == "2"; }, 15000ms));
    ASSERT_TRUE(eventually([&] { return b.server->redis_status() == "up"; }, 15000ms));
    Peer p3(b.port);
    auto j3 = join(p3, "local", "three");
    EXPECT_EQ(j3["peers"].size(), 2u) << j3;
}

TEST(SharedRooms, JoinTokensHoldOnEveryNode) {
    RedisServer redis;
    SignalingOptions so;
    so.secret = "shared-secret";
    SignalNode a(redis.url(), so), b(redis.url(), so);
    const auto token = make_signaling_token("shared-secret", "vip", unix_now() + 60);
    Peer good(b.port), bad(a.port);
    json j{{"type", "join"}, {"room", "vip"}, {"token", token}};
    good.send(j);
    EXPECT_EQ(good.next()["type"], "joined");
    j["token"] = make_signaling_token("another-secret", "vip", unix_now() + 60);
    bad.send(j);
    EXPECT_EQ(bad.next()["code"], "unauthorized");
}

}  // namespace
