// runtime::Resolver: names looked up off the loop thread, answered on it,
// and a lookup that outlives its loop touches nothing of it (issue 14: the
// WebSocket client's lookup thread posted to a loop that could be gone;
// run under ASan, a use after free here fails the test).
#include "runtime/loop.hpp"
#include "runtime/resolver.hpp"

#include <gtest/gtest.h>

#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

using namespace duplex::runtime;
using namespace std::chrono_literals;

namespace {

/// A latch the test opens, and a flag that says an object was destroyed.
struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false, entered = false;
    void wait_open() {
        std::unique_lock l(mu);
        entered = true;
        cv.notify_all();
        cv.wait(l, [&] { return open; });
    }
    void wait_entered() {
        std::unique_lock l(mu);
        ASSERT_TRUE(cv.wait_for(l, 5s, [&] { return entered; }));
    }
    void release() {
        std::lock_guard l(mu);
        open = true;
        cv.notify_all();
    }
};

struct DestroyedFlag {
    std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
    struct Mark {
        std::shared_ptr<std::atomic<bool>> flag;
        ~Mark() {
            if (flag) *flag = true;
        }
    };
};

bool run_until(Loop& loop, const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        loop.run_once(5);
    }
    return true;
}

TEST(Resolver, AnswersOnTheLoopThread) {
    Loop loop;
    bool called = false, on_loop = false;
    std::vector<Address> got;
    Resolver::resolve(loop, "localhost", 80, SOCK_STREAM, [&](std::vector<Address> a, std::error_code ec) {
        called = true;
        on_loop = loop.in_loop_thread();
        EXPECT_FALSE(ec) << ec.message();
        got = std::move(a);
    });
    ASSERT_TRUE(run_until(loop, [&] { return called; }));
    EXPECT_TRUE(on_loop);
    ASSERT_FALSE(got.empty());
    for (const auto& a : got) EXPECT_TRUE(a.ip() == "127.0.0.1" || a.ip() == "::1") << a.to_string();
    EXPECT_EQ(got.front().port(), 80);
}

TEST(Resolver, ANumericHostNeedsNoThreadAndAFailureSaysSo) {
    Loop loop;
    std::vector<Address> got;
    bool called = false;
    Resolver::resolve(loop, "::1", 9, SOCK_DGRAM, [&](std::vector<Address> a, std::error_code) {
        called = true;
        got = std::move(a);
    });
    ASSERT_TRUE(run_until(loop, [&] { return called; }));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].to_string(), "[::1]:9");
    std::error_code error;
    called = false;
    Resolver::resolve(
        loop, "nowhere.invalid", 9, SOCK_STREAM,
        [&](std::vector<Address> a, std::error_code ec) {
            called = true;
            error = ec;
            EXPECT_TRUE(a.empty());
        },
        [](const std::string&, std::uint16_t, std::error_code& ec) {
            ec = std::error_code(EAI_NONAME, resolve_category());
            return std::vector<Address>{};
        });
    ASSERT_TRUE(run_until(loop, [&] { return called; }));
    EXPECT_EQ(error, std::error_code(EAI_NONAME, resolve_category()));
    EXPECT_FALSE(error.message().empty());
}

TEST(Resolver, ALookupThatOutlivesItsLoopTouchesNothingOfIt) {
    auto gate = std::make_shared<Gate>();
    DestroyedFlag gone;
    std::atomic<bool> called{false};
    {
        auto loop = std::make_unique<Loop>();
        Resolver::resolve(
            *loop, "slow.example", 443, SOCK_STREAM,
            [&called, mark = std::make_shared<DestroyedFlag::Mark>(DestroyedFlag::Mark{gone.flag})](
                std::vector<Address>, std::error_code) { called = true; },
            [gate](const std::string&, std::uint16_t port, std::error_code&) {
                gate->wait_open();
                return std::vector<Address>{*Address::parse("127.0.0.1", port)};
            });
        gate->wait_entered();  // the lookup is under way
    }                          // and its loop is destroyed
    gate->release();
    // The answer finds the mailbox closed: the callback, never called, is
    // destroyed on the lookup's thread.
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!*gone.flag && std::chrono::steady_clock::now() < end) std::this_thread::yield();
    EXPECT_TRUE(*gone.flag);
    EXPECT_FALSE(called);
}

}  // namespace
