// duplex/event_loop.hpp: the event loop that every server, client and (later)
// peer connection lives on.
//
// One loop per thread: a loop is run by exactly one thread at a time, and all
// callbacks of the objects on it run there. Create as many loops as you want
// threads, or use EventLoop::default_loop(). To embed duplex in another
// program's loop, watch native_handle() (an epoll descriptor) for readability
// and call run_once(0) when it is readable, and at least as often as the
// timers you set need.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace duplex {

namespace runtime {
class Loop;
}

/// An epoll event loop.
/// @par Thread safety
/// post(), stop() and in_loop_thread() may be called from any thread; every
/// other member only on the thread that runs the loop.
class EventLoop {
public:
    using TimerId = std::uint64_t;

    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    /// A process-wide loop, created on first use. You still run it yourself.
    static EventLoop& default_loop();

    /// Runs until stop() is called. Binds the loop to the calling thread.
    void run();
    /// Waits up to `timeout_ms` (-1: until something happens), dispatches what
    /// is ready, and returns. For embedding in another event loop.
    void run_once(int timeout_ms = 0);
    /// Makes run() return. Thread-safe.
    void stop();
    /// Runs `fn` on the loop thread. Thread-safe; the one way in from other threads.
    void post(std::function<void()> fn);
    /// True when called on the thread that runs (or last ran) the loop.
    bool in_loop_thread() const noexcept;

    /// Calls `fn` once after `delay`, on the loop thread.
    TimerId set_timeout(std::chrono::milliseconds delay, std::function<void()> fn);
    /// Cancels a timer that has not fired yet (no effect otherwise).
    void clear_timeout(TimerId id);

    /// The epoll descriptor, readable when the loop has work (for embedding).
    int native_handle() const noexcept;

    /// The runtime loop underneath (for duplex's own classes).
    runtime::Loop& runtime() noexcept { return *impl_; }

private:
    std::unique_ptr<runtime::Loop> impl_;
};

}  // namespace duplex
