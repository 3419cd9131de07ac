// History and recovery over real connections (docs/scaling.md): offsets on
// every message, a client that reconnects with since= gets exactly what it
// missed while publishing goes on — in one process over two loops, and
// across two nodes through a real redis-server; gaps and resets said.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/redis_server.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

// A node whose /t/<topic>?since=N&offsets=1 connections subscribe so.
struct HistoryNode {
    HistoryNode(std::size_t history, const std::string& redis = {}, bool two_loops = false) {
        t.call([&] {
            ServerOptions o;
            o.port = 0;
            o.redis = redis;
            o.history_size = history;
            server = std::make_unique<WebSocketServer>(t.loop, o);
            if (two_loops) server->add_loop(second.loop);
            server->route("/t/*", {nullptr, [this](WebSocket& ws, const HttpRequest& req) {
                                       SubscribeOptions so;
                                       so.offsets = req.query.find("offsets=1") != std::string::npos;
                                       if (const auto at = req.query.find("since="); at != std::string::npos)
                                           so.since = std::stoull(req.query.substr(at + 6));
                                       accepted += ws.subscribe(req.path.substr(3), so) ? 1 : 0;
                                       ++connected;
                                   }});
            EXPECT_TRUE(server->listen().ok());
            return 0;
        });
        if (!redis.empty()) {
            EXPECT_TRUE(eventually([&] { return server->redis_status() == "up"; }));
        }
    }
    ~HistoryNode() {
        t.call([&] {
            server.reset();
            return 0;
        });
    }
    std::unique_ptr<RawClient> client(const std::string& path_and_query) {
        const int before = connected.load();
        auto c = std::make_unique<RawClient>(server->port());
        c->send(upgrade_request(path_and_query));
        c->read_head();
        // The 101 and whatever was replayed arrive together: keep what followed the head.
        const auto end = c->buffer().find("\r\n\r\n");
        c->buffer().erase(0, end + 4);
        EXPECT_TRUE(eventually([&] { return connected.load() > before; }));
        return c;
    }
    LoopThread t, second;
    std::unique_ptr<WebSocketServer> server;
    std::atomic<int> accepted{0}, connected{0};
};

// "N payload" messages read from `c` until one has offset `last` (or the timeout); their offsets.
std::vector<std::uint64_t> offsets_until(RawClient& c, std::uint64_t last, std::vector<std::string>* other = nullptr,
                                         std::chrono::milliseconds timeout = 10000ms) {
    std::vector<std::uint64_t> got;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        c.read_until([](const std::string& b) { return !server_frames(b).empty(); }, 200ms);
        std::size_t used = 0;
        for (const auto& f : server_frames(c.buffer(), &used)) {
            const auto sp = f.find(' ');
            if (!f.empty() && f[0] >= '0' && f[0] <= '9' && sp != std::string::npos) got.push_back(std::stoull(f.substr(0, sp)));
            else if (other) other->push_back(f);
        }
        c.buffer().erase(0, used);
        if (!got.empty() && got.back() >= last) break;
    }
    return got;
}

bool contiguous(const std::vector<std::uint64_t>& v, std::uint64_t from, std::uint64_t to) {
    if (v.size() != to - from + 1) return false;
    for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i] != from + i) return false;
    return true;
}

TEST(History, OffsetsNeedTheHistory) {
    HistoryNode node(0);
    auto c = node.client("/t/x?offsets=1");
    EXPECT_EQ(node.accepted.load(), 0);
}

TEST(History, InOneProcessAReconnectingClientGetsExactlyWhatItMissed) {
    HistoryNode node(20000, {}, true);  // two loops: deliveries from both threads
    auto first = node.client("/t/news?offsets=1");
    // Published from another thread: the first 1000, then (once the client
    // has gone and is coming back) the rest, while it subscribes again.
    const std::uint64_t total = 20000;
    std::promise<void> coming_back;
    std::thread publisher([&, said = coming_back.get_future()] {
        for (std::uint64_t i = 1; i <= total; ++i) {
            if (i == 1001) said.wait();
            node.server->publish("news", "m" + std::to_string(i));
        }
    });
    auto got = offsets_until(*first, 500);
    ASSERT_GE(got.size(), 500u);
    const std::uint64_t had = got[499];
    EXPECT_TRUE(contiguous(std::vector<std::uint64_t>(got.begin(), got.begin() + 500), 1, 500));
    first.reset();  // gone after 500
    coming_back.set_value();
    auto again = node.client("/t/news?since=" + std::to_string(had));
    auto rest = offsets_until(*again, total);
    publisher.join();
    EXPECT_TRUE(contiguous(rest, had + 1, total)) << rest.size() << " messages, first " << (rest.empty() ? 0 : rest.front())
                                                  << " last " << (rest.empty() ? 0 : rest.back());
    EXPECT_NE(node.server->metrics_text().find("duplex_history_recoveries_total 1"), std::string::npos);
}

TEST(History, AGapAndAResetAreSaid) {
    HistoryNode node(3);
    for (int i = 1; i <= 6; ++i) node.server->publish("t", "m");
    std::vector<std::string> said;
    auto c = node.client("/t/t?since=1");
    EXPECT_EQ(offsets_until(*c, 6, &said), (std::vector<std::uint64_t>{4, 5, 6}));
    EXPECT_EQ(said, std::vector<std::string>{"gap 2 4"});
    said.clear();
    auto d = node.client("/t/t?since=40");
    EXPECT_EQ(offsets_until(*d, 6, &said), (std::vector<std::uint64_t>{4, 5, 6}));
    EXPECT_EQ(said, std::vector<std::string>{"reset"});
    EXPECT_NE(node.server->metrics_text().find("duplex_history_gaps_total 2"), std::string::npos);
}

TEST(History, AcrossNodesThroughRedisAReconnectingClientGetsExactlyWhatItMissed) {
    RedisServer redis;
    HistoryNode a(5000, redis.url()), b(5000, redis.url());
    // A subscriber with offsets on B; messages published on A.
    auto first = b.client("/t/news?offsets=1");
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 1; }));
    const std::uint64_t total = 5000;
    std::promise<void> coming_back;
    std::thread publisher([&, said = coming_back.get_future()] {
        for (std::uint64_t i = 1; i <= total; ++i) {
            if (i == 1001) said.wait();
            a.server->publish("news", "m" + std::to_string(i));
        }
    });
    auto got = offsets_until(*first, 300);
    ASSERT_GE(got.size(), 300u);
    const std::uint64_t had = got[299];
    EXPECT_TRUE(contiguous(std::vector<std::uint64_t>(got.begin(), got.begin() + 300), 1, 300));
    first.reset();
    coming_back.set_value();
    // Back on the other node, while A still publishes.
    auto again = a.client("/t/news?since=" + std::to_string(had));
    auto rest = offsets_until(*again, total);
    publisher.join();
    EXPECT_TRUE(contiguous(rest, had + 1, total)) << rest.size() << " messages, first " << (rest.empty() ? 0 : rest.front())
                                                  << " last " << (rest.empty() ? 0 : rest.back());
    EXPECT_EQ(redis.cli("HGET duplex:offset:news n"), std::to_string(total));
    EXPECT_EQ(redis.cli("LLEN duplex:history:news"), "5000");
}

}  // namespace

namespace {

TEST(History, ANodeWhoseSubscriptionDroppedFillsTheHoleFromTheHistory) {
    RedisServer redis;
    HistoryNode a(5000, redis.url()), b(5000, redis.url());
    auto sub = b.client("/t/news?offsets=1");
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 1; }));
    for (int i = 1; i <= 500; ++i) a.server->publish("news", "m");
    EXPECT_TRUE(contiguous(offsets_until(*sub, 500), 1, 500));
    // Every subscribed connection is cut: B hears nothing until it is back,
    // and A publishes on meanwhile (its publishing connection is not cut).
    EXPECT_EQ(redis.cli("CLIENT KILL TYPE pubsub"), "1");  // B's: A subscribes to nothing
    for (int i = 501; i <= 1000; ++i) a.server->publish("news", "m");
    ASSERT_TRUE(eventually([&] { return redis.cli("HGET duplex:offset:news n") == "1000"; }));
    // Once B is back, the next message shows the hole; B reads it from the history.
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 1; }, 10000ms));
    a.server->publish("news", "m");
    EXPECT_TRUE(contiguous(offsets_until(*sub, 1001), 501, 1001));
}

}  // namespace

namespace {

TEST(History, ARedisThatLostTheNumberingShowsAsAReset) {
    RedisServer redis;
    HistoryNode a(100, redis.url()), b(100, redis.url());
    auto sub = b.client("/t/news?offsets=1");
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 1; }));
    for (int i = 1; i <= 10; ++i) a.server->publish("news", "m");
    EXPECT_TRUE(contiguous(offsets_until(*sub, 10), 1, 10));
    redis.stop();
    redis.start();  // empty: the topic's offsets start again at 1
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 1 && a.server->redis_status() == "up"; }, 15000ms));
    a.server->publish("news", "again");
    std::vector<std::string> said;
    EXPECT_EQ(offsets_until(*sub, 1, &said), std::vector<std::uint64_t>{1});
    EXPECT_EQ(said, std::vector<std::string>{"reset"});
}

}  // namespace

namespace {

TEST(History, TheEpochIsKeptWithTheCounterAndNamesOneNumbering) {
    // The numbering and its epoch are one key: lost together, or not at all.
    // A numbering that goes on keeps its epoch; nothing is a reset.
    RedisServer redis;
    HistoryNode a(100, redis.url()), b(100, redis.url());
    auto sub = b.client("/t/news?offsets=1");
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 1; }));
    for (int i = 1; i <= 3; ++i) a.server->publish("news", "m");
    EXPECT_TRUE(contiguous(offsets_until(*sub, 3), 1, 3));
    const std::string epoch = redis.cli("HGET duplex:offset:news epoch");
    EXPECT_FALSE(epoch.empty());
    for (int i = 4; i <= 10; ++i) a.server->publish("news", "m");
    std::vector<std::string> said;
    EXPECT_TRUE(contiguous(offsets_until(*sub, 10, &said), 4, 10));
    EXPECT_TRUE(said.empty()) << said.size() << " other frames, the first: " << (said.empty() ? "" : said[0]);
    EXPECT_EQ(redis.cli("HGET duplex:offset:news epoch"), epoch);
    EXPECT_EQ(redis.cli("TTL duplex:offset:news"), redis.cli("TTL duplex:history:news"));
    // Forgotten (as at the end of its TTL): the next message starts a new
    // numbering, with a new epoch, and the subscriber is told.
    EXPECT_EQ(redis.cli("DEL duplex:offset:news duplex:history:news"), "2");
    a.server->publish("news", "again");
    said.clear();
    EXPECT_EQ(offsets_until(*sub, 1, &said), std::vector<std::uint64_t>{1});
    EXPECT_EQ(said, std::vector<std::string>{"reset"});
    EXPECT_NE(redis.cli("HGET duplex:offset:news epoch"), epoch);
}

}  // namespace
