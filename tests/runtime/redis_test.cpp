// Topics across nodes through a real redis-server (tests/support/redis_server.hpp):
// two servers ("nodes") on their own loops share topics; what happens when
// Redis goes away, comes back, stops reading, or is not Redis at all.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/fake_redis.hpp"
#include "support/raw_client.hpp"
#include "support/redis_server.hpp"
#include "support/server_fixture.hpp"
#include "support/test_cert.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

// A node: a server on its own loop whose /t/<topic> connections subscribe to
// <topic> and publish what they send to it.
struct Node {
    explicit Node(const std::string& redis, std::size_t max_queue = 8u << 20, const std::string& redis_ca = {}) {
        server = t.call([&] {
            ServerOptions o;
            o.port = 0;
            o.redis = redis;
            o.redis_max_queue = max_queue;
            o.redis_tls_ca_file = redis_ca;
            auto s = std::make_unique<WebSocketServer>(t.loop, o);
            s->route("/t/*", {nullptr, [](WebSocket& ws, const HttpRequest& req) {
                                  const std::string topic = req.path.substr(3);
                                  ws.subscribe(topic);
                                  ws.on_message([ws, topic](std::string_view m, bool bin) mutable { ws.publish(topic, m, bin); });
                              }});
            EXPECT_TRUE(s->listen().ok());
            return s;
        });
    }
    ~Node() {
        t.call([&] {
            server.reset();
            return 0;
        });
    }
    std::unique_ptr<RawClient> subscriber(const std::string& topic) {
        auto c = std::make_unique<RawClient>(server->port());
        c->send(upgrade_request("/t/" + topic));
        c->read_head();
        c->buffer().clear();
        return c;
    }
    long long metric(const std::string& name) {
        const auto text = server->metrics_text();
        const auto at = text.find("\n" + name + " ");
        return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 2));
    }
    LoopThread t;
    std::unique_ptr<WebSocketServer> server;
};

std::vector<std::string> frames(const std::string& b) { return server_frames(b); }

std::vector<std::string> read_frames(RawClient& c, std::size_t n, std::chrono::milliseconds timeout = 5000ms) {
    c.read_until([&](const std::string& b) { return frames(b).size() >= n; }, timeout);
    auto f = frames(c.buffer());
    return f;
}

TEST(Redis, TwoNodesShareATopicEachMessageOnceAndInOrder) {
    RedisServer redis;
    Node a(redis.url()), b(redis.url());
    ASSERT_TRUE(eventually([&] { return a.server->redis_status() == "up" && b.server->redis_status() == "up"; }))
        << a.server->redis_status() << " / " << b.server->redis_status();
    auto on_a = a.subscriber("news");
    auto on_b1 = b.subscriber("news");
    auto on_b2 = b.subscriber("news");
    auto other_b = b.subscriber("sport");
    // One Redis subscription per node and topic, not per connection.
    ASSERT_TRUE(eventually([&] { return redis.subscribers("news") == 2 && redis.subscribers("sport") == 1; }))
        << redis.subscribers("news") << " " << redis.subscribers("sport");
    std::vector<std::string> sent;
    for (int i = 0; i < 500; ++i) {
        sent.push_back("m" + std::to_string(i));
        a.server->publish("news", sent.back());
    }
    EXPECT_EQ(read_frames(*on_b1, 500), sent);
    EXPECT_EQ(read_frames(*on_b2, 500), sent);
    // Node A's own subscriber: at once, locally, and once: Redis' echo of A's
    // own messages is ignored. A message from B published after them comes
    // to A through the same Redis channel, after any such echo: when it is
    // there, nothing came twice.
    EXPECT_EQ(read_frames(*on_a, 500), sent);
    EXPECT_EQ(other_b->read_until([](const std::string& s) { return !s.empty(); }, 100ms), "");
    EXPECT_EQ(a.metric("duplex_redis_published_total"), 500);
    EXPECT_EQ(b.metric("duplex_redis_received_total"), 500);
    // From a connection on B.
    const char key[4] = {9, 8, 7, 6};
    std::string f = "\x81\x83";
    f.append(key, 4);
    for (int i = 0; i < 3; ++i) f += static_cast<char>("hey"[i] ^ key[i]);
    on_b1->send(f);
    auto got = read_frames(*on_a, 501);
    ASSERT_EQ(got.size(), 501u);
    EXPECT_EQ(got.back(), "hey");
    // The last local subscriber of a topic gone: the node unsubscribes.
    other_b.reset();
    EXPECT_TRUE(eventually([&] { return redis.subscribers("sport") == 0; }));
}

TEST(Redis, WhenRedisGoesAwayLocalDeliveryGoesOnAndTheNodeComesBackByItself) {
    RedisServer redis;
    Node a(redis.url()), b(redis.url());
    auto on_a = a.subscriber("t");
    auto on_b = b.subscriber("t");
    ASSERT_TRUE(eventually([&] { return redis.subscribers("t") == 2; }));
    redis.stop();
    ASSERT_TRUE(eventually([&] { return a.server->redis_status().starts_with("down"); }));
    EXPECT_EQ(a.metric("duplex_redis_up"), 0);
    a.server->publish("t", "local");
    EXPECT_EQ(read_frames(*on_a, 1), std::vector<std::string>{"local"});
    on_a->buffer().clear();
    redis.start();  // the same port, empty: no subscriptions until the nodes make them again
    ASSERT_TRUE(eventually([&] { return redis.subscribers("t") == 2; }, 15000ms)) << redis.subscribers("t");
    ASSERT_TRUE(eventually([&] { return a.server->redis_status() == "up"; }));
    a.server->publish("t", "again");
    // What A published while Redis was away waited in A's queue and went
    // out when A was back: B has it if B was subscribed again by then
    // (docs/scaling.md). Either way, in order and once.
    on_b->read_until([](const std::string& s) { return s.find("again") != std::string::npos; });
    const auto got = frames(on_b->buffer());
    EXPECT_TRUE(got == std::vector<std::string>{"again"} || got == (std::vector<std::string>{"local", "again"}))
        << ::testing::PrintToString(got);
    EXPECT_GE(a.metric("duplex_redis_reconnects_total"), 2);
}

TEST(Redis, ARedisThatStopsReadingBoundsWhatIsHeldForIt) {
    RedisServer redis;
    const std::size_t max_queue = 256 * 1024;
    Node a(redis.url(), max_queue), b(redis.url());
    auto on_a = a.subscriber("t");
    auto on_b = b.subscriber("t");
    ASSERT_TRUE(eventually([&] { return redis.subscribers("t") == 2 && a.server->redis_status() == "up"; }));
    redis.pause();  // alive, connected, reading nothing
    const std::string big(60 * 1024, 'x');
    // Until the kernel's buffers and then our queue are full: bounded by a count.
    for (int i = 0; i < 2000 && a.metric("duplex_redis_dropped_total") <= 0; ++i) {
        a.t.call([&] {
            a.server->publish("t", big);
            return 0;
        });
    }
    EXPECT_GT(a.metric("duplex_redis_dropped_total"), 0);
    EXPECT_LE(a.metric("duplex_redis_queue_bytes"), static_cast<long long>(max_queue));
    redis.resume();
    on_b->buffer().clear();
    ASSERT_TRUE(eventually([&] {
        a.server->publish("t", "after");
        return on_b->read_until([](const std::string& s) { return s.find("after") != std::string::npos; }, 200ms)
                   .find("after") != std::string::npos;
    }, 10000ms));
}

TEST(Redis, NotRedisAtAllIsReportedAndLocalServiceGoesOn) {
    auto http = FakeRedis::replying("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", true);
    Node a(http.url());
    ASSERT_TRUE(eventually([&] { return a.server->redis_status().find("unknown reply type byte 0x48") != std::string::npos; }))
        << a.server->redis_status();
    auto c = a.subscriber("t");
    a.server->publish("t", "still here");
    EXPECT_EQ(read_frames(*c, 1), std::vector<std::string>{"still here"});
    // It tries again, with backoff: more than once, far fewer than a busy loop would.
    EXPECT_TRUE(eventually([&] { return http.accepted.load() >= 4; }));
    EXPECT_LT(http.accepted.load(), 40);
}

TEST(Redis, AServerThatClosesMidReplyIsReported) {
    auto cut = FakeRedis::replying("$100\r\nonly a part", false);
    Node a(cut.url());
    ASSERT_TRUE(eventually([&] { return a.server->redis_status().find("closed the connection") != std::string::npos; }))
        << a.server->redis_status();
}

TEST(Redis, PasswordsUnixSocketsAndAWrongPassword) {
    RedisServer redis("s3cret");
    Node good("unix://" + redis.socket_path() + "?password=s3cret");
    Node bad("redis://:wrong@127.0.0.1:" + std::to_string(redis.port()));
    EXPECT_TRUE(eventually([&] { return good.server->redis_status() == "up"; })) << good.server->redis_status();
    EXPECT_TRUE(eventually([&] { return bad.server->redis_status().find("refused us") != std::string::npos; }))
        << bad.server->redis_status();
}

TEST(Redis, RedissChecksTheServersCertificate) {
    char tmpl[] = "/tmp/duplex-redis-cert.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const auto cert = make_test_cert(tmpl);
    RedisServer redis({}, cert.cert_file, cert.key_file);
    const std::string url = "rediss://127.0.0.1:" + std::to_string(redis.port());
    // Trusted through redis_tls_ca_file: up.
    {
        Node trusted(url, 8u << 20, cert.cert_file);
        EXPECT_TRUE(eventually([&] { return trusted.server->redis_status() == "up"; })) << trusted.server->redis_status();
    }
    // Not trusted (the system store knows no such CA): down, saying why.
    Node untrusted(url);
    EXPECT_TRUE(eventually([&] { return untrusted.server->redis_status().find("certificate verification failed") != std::string::npos; }))
        << untrusted.server->redis_status();
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
}

TEST(Redis, ABadUrlIsRefusedAtListen) {
    LoopThread t;
    auto st = t.call([&] {
        ServerOptions o;
        o.port = 0;
        o.redis = "redis://host:99999";
        WebSocketServer s(t.loop, o);
        return s.listen();
    });
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("redis: a bad port"), std::string::npos) << st.message();
}

}  // namespace
