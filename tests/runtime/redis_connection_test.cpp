// RedisConnection (api/redis_connection.hpp) against scripted fake servers
// (tests/support/fake_redis.hpp): a server that goes silent is found by
// PING; commands not wholly written when a connection breaks go again,
// whole; one command larger than the bound still goes when nothing else is
// held; a reply of too many values is refused.
#include "api/redis_connection.hpp"

#include "support/fake_redis.hpp"
#include "support/server_fixture.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <future>

using namespace duplex;
using namespace duplex::detail;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

// A connection on its own loop thread; its state read through call().
struct Client {
    Client(std::uint16_t port, std::chrono::milliseconds ping_every = 5000ms, std::size_t max_queue = 8u << 20) {
        t.call([&] {
            RedisConnection::Options o;
            std::string why;
            EXPECT_TRUE(proto::redis::parse_server_url("redis://127.0.0.1:" + std::to_string(port), o.url, why));
            o.ping_every = ping_every;
            o.max_queue = max_queue;
            o.backoff_min = 20ms;
            o.limits.max_values = 1000;
            c = std::make_unique<RedisConnection>(
                t.loop.runtime(), o,
                RedisConnection::Events{[this] { ++ups; },
                                        [this](const std::string& reason, bool) {
                                            std::lock_guard l(mu);
                                            downs.push_back(reason);
                                        },
                                        nullptr});
            c->start();
            return 0;
        });
    }
    ~Client() {
        t.call([&] {
            c.reset();
            return 0;
        });
    }
    std::string last_down() {
        std::lock_guard l(mu);
        return downs.empty() ? "" : downs.back();
    }
    LoopThread t;
    std::unique_ptr<RedisConnection> c;
    std::atomic<int> ups{0};
    std::mutex mu;
    std::vector<std::string> downs;
};

const std::string kHandshakeReply = "+PONG\r\n";

TEST(RedisConnection, AServerThatGoesSilentIsGivenUpByPing) {
    FakeRedis silent([](int fd, int) {
        FakeRedis::read_handshake(fd);
        (void)::write(fd, kHandshakeReply.data(), kHandshakeReply.size());
        // Then nothing, ever: no answer, no error (a dead host, a dropped NAT entry).
    });
    Client client(silent.port(), 100ms);
    ASSERT_TRUE(eventually([&] { return client.ups.load() == 1; }));
    EXPECT_TRUE(eventually([&] { return client.last_down().find("no answer to PING") != std::string::npos; }, 3000ms))
        << client.last_down();
}

TEST(RedisConnection, CommandsNotWhollyWrittenGoAgainWholeOnTheNextConnection) {
    // Connection 0 answers the handshake and then stops reading (its
    // receive buffer small), so most commands wait unwritten; then it is cut.
    // Connection 1 reads everything: every command must be there, whole, once.
    std::promise<void> cut;
    auto cut_said = cut.get_future().share();
    std::string second;
    std::atomic<bool> second_done{false};
    const int kCommands = 600;  // 9.6 MB: more than the kernel buffers of both ends hold
    const std::string payload(16 * 1024, 'x');
    FakeRedis server([&](int fd, int index) {
        if (index == 0) {
            int small = 4096;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
            FakeRedis::read_handshake(fd);
            (void)::write(fd, kHandshakeReply.data(), kHandshakeReply.size());
            cut_said.wait();
            ::shutdown(fd, SHUT_RDWR);
            return;
        }
        std::string got = FakeRedis::read_handshake(fd);
        (void)::write(fd, kHandshakeReply.data(), kHandshakeReply.size());
        got = FakeRedis::read_until(fd, "end-" + std::to_string(kCommands - 1) + "\r\n", got);
        second = got;
        second_done = true;
    });
    Client client(server.port(), 5000ms, 32u << 20);
    ASSERT_TRUE(eventually([&] { return client.ups.load() == 1; }));
    std::atomic<int> errors{0};
    client.t.call([&] {
        for (int i = 0; i < kCommands; ++i)
            EXPECT_TRUE(client.c->command({"PUBLISH", "ch", payload + "end-" + std::to_string(i)},
                                          [&](const RedisConnection::Value& v) { errors += v.is_error(); }));
        return 0;
    });
    ASSERT_TRUE(eventually([&] { return client.t.call([&] { return client.c->queued_bytes(); }) > 1000u * 1000u; }));
    cut.set_value();
    ASSERT_TRUE(eventually([&] { return second_done.load(); }, 10000ms));
    // Each command that had not reached connection 0 whole is on connection 1 whole, once, in order.
    int seen = 0, last = -1;
    bool ordered = true;
    for (std::size_t at = second.find("end-"); at != std::string::npos; at = second.find("end-", at + 4)) {
        const int n = std::stoi(second.substr(at + 4));
        ordered &= n > last;
        last = n;
        ++seen;
        EXPECT_EQ(second.compare(at - payload.size(), payload.size(), payload), 0) << "command " << n << " cut";
    }
    EXPECT_TRUE(ordered);
    EXPECT_EQ(last, kCommands - 1);
    // Those written whole to connection 0 and never answered were reported failed; the others went again.
    EXPECT_EQ(seen + errors.load(), kCommands) << seen << " resent, " << errors.load() << " failed";
    EXPECT_GT(seen, kCommands / 2);
}

TEST(RedisConnection, OneCommandLargerThanTheBoundGoesWhenNothingElseIsHeld) {
    std::atomic<std::size_t> received{0};
    FakeRedis server([&](int fd, int) {
        FakeRedis::read_handshake(fd);
        (void)::write(fd, kHandshakeReply.data(), kHandshakeReply.size());
        received = FakeRedis::read_until(fd, "tail\r\n").size();
    });
    Client client(server.port(), 5000ms, 64 * 1024);
    ASSERT_TRUE(eventually([&] { return client.ups.load() == 1; }));
    const std::string big(200 * 1024, 'b');
    EXPECT_TRUE(client.t.call([&] { return client.c->command({"PUBLISH", "ch", big + "tail"}); }));
    // While it is held (unanswered), a second is refused by the bound.
    EXPECT_FALSE(client.t.call([&] { return client.c->command({"PUBLISH", "ch", "small"}); }));
    EXPECT_EQ(client.t.call([&] { return client.c->refused(); }), 1u);
    EXPECT_TRUE(eventually([&] { return received.load() > big.size(); }));
}

TEST(RedisConnection, AReplyOfTooManyValuesIsRefused) {
    FakeRedis server([](int fd, int) {
        FakeRedis::read_handshake(fd);
        (void)::write(fd, kHandshakeReply.data(), kHandshakeReply.size());
        // 3001 values: arrays of 2 in an array of 1000, each under the element limit, the whole over the value limit.
        std::string r = "*1000\r\n";
        for (int i = 0; i < 1000; ++i) r += "*2\r\n:1\r\n:1\r\n";
        (void)::write(fd, r.data(), r.size());
    });
    Client client(server.port());
    EXPECT_TRUE(eventually([&] { return client.last_down().find("more than 1000 values") != std::string::npos; }))
        << client.last_down();
}

}  // namespace
