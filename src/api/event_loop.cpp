// api/event_loop.cpp: the public EventLoop over runtime::Loop.
#include <duplex/event_loop.hpp>

#include "runtime/loop.hpp"

namespace duplex {

EventLoop::EventLoop() : impl_(std::make_unique<runtime::Loop>()) {}
EventLoop::~EventLoop() = default;

EventLoop& EventLoop::default_loop() {
    static EventLoop loop;
    return loop;
}

void EventLoop::run() { impl_->run(); }
void EventLoop::run_once(int timeout_ms) { impl_->run_once(timeout_ms); }
void EventLoop::stop() { impl_->stop(); }
void EventLoop::post(std::function<void()> fn) { impl_->post(std::move(fn)); }
bool EventLoop::in_loop_thread() const noexcept { return impl_->in_loop_thread(); }
int EventLoop::native_handle() const noexcept { return impl_->epoll_fd(); }

EventLoop::TimerId EventLoop::set_timeout(std::chrono::milliseconds delay, std::function<void()> fn) {
    return impl_->add_timer(base::Clock::now() + delay, std::move(fn));
}

void EventLoop::clear_timeout(TimerId id) { impl_->cancel_timer(id); }

}  // namespace duplex
