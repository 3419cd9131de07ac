// tests/support/server_fixture.hpp: a WebSocketServer on its own loop thread,
// with helpers to run code on that thread and wait for conditions.
#pragma once

#include <duplex/event_loop.hpp>
#include <duplex/websocket_server.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

namespace duplex::test {

class LoopThread {
public:
    LoopThread() : thread_([this] { loop.run(); }) {}
    ~LoopThread() {
        loop.stop();
        thread_.join();
    }
    /// Runs fn on the loop thread and waits for it.
    template <class Fn>
    auto call(Fn fn) -> decltype(fn()) {
        std::packaged_task<decltype(fn())()> task(std::move(fn));
        auto fut = task.get_future();
        loop.post([&task] { task(); });
        return fut.get();
    }
    EventLoop loop;

private:
    std::thread thread_;
};

/// Polls `cond` until true or the timeout; true when it became true.
inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
}

}  // namespace duplex::test
