#include "runtime/loop.hpp"
#include "runtime/tcp.hpp"

#include <duplex/event_loop.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <vector>
#include <thread>

using namespace duplex;

TEST(Loop, TimersFireInDeadlineOrder) {
    runtime::Loop loop;
    std::vector<int> order;
    const auto t0 = base::Clock::now();
    loop.add_timer(t0 + std::chrono::milliseconds(30), [&] { order.push_back(3); loop.stop(); });
    loop.add_timer(t0 + std::chrono::milliseconds(10), [&] { order.push_back(1); });
    const auto cancelled = loop.add_timer(t0 + std::chrono::milliseconds(15), [&] { order.push_back(99); });
    loop.add_timer(t0 + std::chrono::milliseconds(20), [&] { order.push_back(2); });
    loop.cancel_timer(cancelled);
    loop.run();
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
    EXPECT_GE(base::Clock::now() - t0, std::chrono::milliseconds(30));
}

TEST(Loop, SendQueuesAreLentAndTakenBackInBoundedNumberAndSize) {
    runtime::Loop loop;
    base::ByteQueue a, b;
    loop.lend_queue(a);  // none to lend yet: it grows its own
    a.append(std::string_view("hello"));
    ASSERT_GT(a.capacity(), 0u);
    loop.take_back_queue(a);  // not written yet: kept
    EXPECT_EQ(a.size(), 5u);
    a.consume(5);
    loop.take_back_queue(a);
    EXPECT_EQ(a.capacity(), 0u) << "an empty queue holds no buffer once given back";
    EXPECT_EQ(loop.spare_queues(), 1u);
    loop.lend_queue(b);
    EXPECT_GT(b.capacity(), 0u) << "the next writer gets it";
    EXPECT_EQ(loop.spare_queues(), 0u);
    loop.lend_queue(b);  // has one already: nothing taken
    // A queue grown past 64 KiB (a slow reader) is freed, not kept.
    b.append(std::string(100 * 1024, 'x'));
    b.consume(b.size());
    loop.take_back_queue(b);
    EXPECT_EQ(b.capacity(), 0u);
    EXPECT_EQ(loop.spare_queues(), 0u);
    // At most eight are kept; the rest are freed.
    std::vector<base::ByteQueue> many(20);
    for (auto& q : many) {
        q.append(std::string_view("x"));
        q.consume(1);
        loop.take_back_queue(q);
        EXPECT_EQ(q.capacity(), 0u);
    }
    EXPECT_EQ(loop.spare_queues(), 8u);
}

TEST(Loop, CancelledTimersDoNotPileUp) {
    // A storm of handshakes cancels as many timeouts as it starts: what is
    // left behind is dropped once it outnumbers the live timers.
    runtime::Loop loop;
    const auto t0 = base::Clock::now();
    std::vector<runtime::Loop::TimerId> ids;
    std::vector<int> fired;
    for (int i = 0; i < 10000; ++i)
        ids.push_back(loop.add_timer(t0 + std::chrono::hours(1) + std::chrono::milliseconds(i), [] { ADD_FAILURE(); }));
    EXPECT_EQ(loop.timer_entries(), 10000u);
    for (int i = 0; i < 5; ++i)
        loop.add_timer(t0 + std::chrono::milliseconds(10 - i), [&fired, i] { fired.push_back(i); });
    for (auto id : ids) loop.cancel_timer(id);
    EXPECT_LE(loop.timer_entries(), 64u);
    loop.add_timer(t0 + std::chrono::milliseconds(20), [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(fired, (std::vector<int>{4, 3, 2, 1, 0}));  // the survivors, in deadline order
}

TEST(Loop, PostFromOtherThreadsRunsOnTheLoopThreadInOrder) {
    runtime::Loop loop;
    std::vector<int> seen;
    std::thread::id loop_thread;
    std::atomic<bool> wrong_thread{false};
    std::thread runner([&] {
        loop_thread = std::this_thread::get_id();
        loop.run();
    });
    std::thread poster([&] {
        for (int i = 0; i < 1000; ++i)
            loop.post([&, i] {
                if (!loop.in_loop_thread()) wrong_thread = true;
                seen.push_back(i);
            });
        loop.post([&] { loop.stop(); });
    });
    poster.join();
    runner.join();
    ASSERT_EQ(seen.size(), 1000u);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
    EXPECT_FALSE(wrong_thread);
}

TEST(EventLoop, SetAndClearTimeout) {
    EventLoop loop;
    int fired = 0;
    auto id = loop.set_timeout(std::chrono::milliseconds(5), [&] { fired += 10; });
    loop.clear_timeout(id);
    loop.set_timeout(std::chrono::milliseconds(10), [&] { ++fired; loop.stop(); });
    loop.run();
    EXPECT_EQ(fired, 1);
}

TEST(EventLoop, RunOnceForEmbedding) {
    EventLoop loop;
    bool ran = false;
    loop.post([&] { ran = true; });
    EXPECT_GE(loop.native_handle(), 0);
    loop.run_once(100);
    EXPECT_TRUE(ran);
}

namespace {
// An object that is its own socket, as a server WebSocket session is
// (decision 0014): it embeds the descriptor and is told of its events.
struct OwnSocket final : runtime::Stream::Handler {
    runtime::Loop& loop;
    runtime::TcpDescriptor d;
    std::string got;
    bool eof = false;
    OwnSocket(runtime::Loop& l, int fd) : loop(l), d(fd) { d.register_with(loop, this); }
    ~OwnSocket() override { d.close(loop); }
    void on_io(std::uint32_t events) override { d.on_io(loop, this, events, *this); }
    void on_read(base::MutableBytes data) override { got += base::as_string_view(data); }
    void on_writable() override {}
    void on_eof() override { eof = true; }
    void on_error(std::error_code) override {}
};
}  // namespace

TEST(TcpDescriptor, AnObjectThatEmbedsItReadsWritesAndClosesInFourBytes) {
    static_assert(sizeof(runtime::TcpDescriptor) == 4);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    runtime::Loop loop;
    OwnSocket own(loop, fds[0]);
    ASSERT_TRUE(own.d.is_open());
    ASSERT_EQ(::write(fds[1], "ping", 4), 4);
    loop.run_once(1000);
    EXPECT_EQ(own.got, "ping");
    auto r = own.d.write(base::as_bytes(std::string_view("pong")));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 4u);
    char buf[8] = {};
    EXPECT_EQ(::read(fds[1], buf, sizeof buf), 4);
    EXPECT_EQ(std::string(buf, 4), "pong");
    // Paused, it reads nothing; resumed, it does; the peer's close is an EOF.
    own.d.pause_reading(loop, &own, true);
    ASSERT_EQ(::write(fds[1], "x", 1), 1);
    loop.run_once(50);
    EXPECT_EQ(own.got, "ping");
    own.d.pause_reading(loop, &own, false);
    loop.run_once(1000);
    EXPECT_EQ(own.got, "pingx");
    ::close(fds[1]);
    loop.run_once(1000);
    EXPECT_TRUE(own.eof);
    // Moved, the descriptor is the new holder's alone.
    runtime::TcpDescriptor moved(std::move(own.d));
    EXPECT_FALSE(own.d.is_open());
    EXPECT_TRUE(moved.is_open());
    moved.close(loop);
    EXPECT_FALSE(moved.is_open());
}

// An upgrade that throws after the descriptor left its socket must not leak
// it (nor leave it in epoll, which closing does).
TEST(TcpDescriptor, OneDestroyedStillHoldingItsDescriptorClosesIt) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    { runtime::TcpDescriptor d(fds[0]); }
    errno = 0;
    EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
    runtime::TcpDescriptor held(fds[1]);
    runtime::TcpDescriptor none;
    held = std::move(none);  // what it held is closed, not dropped
    errno = 0;
    EXPECT_EQ(::fcntl(fds[1], F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
    EXPECT_FALSE(held.is_open());
    EXPECT_FALSE(runtime::TcpDescriptor(-1).is_open());
}

TEST(TcpDescriptor, ADescriptorAboveWhatItHoldsIsRefused) {
    runtime::TcpDescriptor d(runtime::TcpDescriptor::kMaxFd + 1);
    EXPECT_FALSE(d.is_open());
    EXPECT_EQ(d.fd(), -1);
}
