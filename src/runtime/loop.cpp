#include "runtime/loop.hpp"

#include "base/log.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace duplex::runtime {

namespace {
// The eventfd is registered with this marker instead of a handler.
struct WakeMarker final : Loop::IoHandler {
    void on_io(std::uint32_t) override {}
} g_wake_marker;
}  // namespace

Loop::Loop(std::size_t read_buffer_size) : owner_(std::this_thread::get_id()), now_(base::Clock::now()) {
    read_buf_.resize(read_buffer_size);
    spare_queues_.reserve(kSpareQueues);  // taking one back never allocates
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd_ < 0 || wakefd_ < 0) {
        // Out of descriptors at construction: nothing sensible can go on.
        DUPLEX_LOG(Error, "cannot create the event loop: " << std::strerror(errno));
        std::abort();
    }
    add_fd(wakefd_, EPOLLIN, &g_wake_marker);
    mailbox_ = std::make_shared<Mailbox>();
    mailbox_->loop_ = this;
}

bool Loop::Mailbox::deliver(std::function<void()>& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (loop_ == nullptr) return false;
    loop_->post(std::move(fn));
    return true;
}

Loop::~Loop() {
    // First: work finishing on other threads no longer reaches us.
    {
        std::lock_guard<std::mutex> lock(mailbox_->mu_);
        mailbox_->loop_ = nullptr;
    }
    // Objects still open on this loop end now, while the loop can still
    // unregister their descriptors.
    while (closers_ != nullptr) {
        Closer& c = *closers_;
        remove_closer(c);  // first: telling it may remove others, or destroy it
        c.on_loop_closing();
        run_deferred();
    }
    ::close(wakefd_);
    ::close(epfd_);
}

void Loop::add_fd(int fd, std::uint32_t events, IoHandler* handler) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

void Loop::modify_fd(int fd, std::uint32_t events, IoHandler* handler) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = handler;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void Loop::remove_fd(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void Loop::post(std::function<void()> fn) {
    bool wake;
    {
        std::lock_guard<std::mutex> lock(posted_mu_);
        wake = posted_.empty();
        posted_.push_back(std::move(fn));
    }
    if (wake) {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof(one));
    }
}

void Loop::defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

void Loop::add_closer(Closer& c) noexcept {
    if (c.prev_ != nullptr || closers_ == &c) return;  // linked already
    c.next_ = closers_;
    if (closers_ != nullptr) closers_->prev_ = &c;
    closers_ = &c;
}

void Loop::remove_closer(Closer& c) noexcept {
    if (c.prev_ != nullptr) c.prev_->next_ = c.next_;
    else if (closers_ == &c) closers_ = c.next_;
    else return;  // not linked
    if (c.next_ != nullptr) c.next_->prev_ = c.prev_;
    c.prev_ = c.next_ = nullptr;
}

void Loop::take_back_queue(base::ByteQueue& q) noexcept {
    if (!q.empty() || q.capacity() == 0) return;
    if (spare_queues_.size() < kSpareQueues && q.capacity() <= kSpareQueueCapacity) spare_queues_.push_back(std::move(q));
    else q.trim(0);
}

void Loop::stop() {
    stop_.store(true);
    post([] {});
}

Loop::TimerId Loop::add_timer(base::Instant when, std::function<void()> fn) {
    const TimerId id = next_timer_++;
    timers_.emplace(id, std::move(fn));
    timer_heap_.push_back({when, id});
    std::push_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
    return id;
}

void Loop::cancel_timer(TimerId id) {
    if (timers_.erase(id) == 0) return;
    // Amortised O(1): a compaction follows at least 3n cancellations of n entries.
    if (timer_heap_.size() > 64 && timer_heap_.size() > 4 * timers_.size()) compact_timers();
}

void Loop::pop_timer_entry() {
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
    timer_heap_.pop_back();
}

void Loop::compact_timers() {
    std::erase_if(timer_heap_, [this](const TimerEntry& e) { return !timers_.contains(e.id); });
    std::make_heap(timer_heap_.begin(), timer_heap_.end(), std::greater<>());
    if (timer_heap_.capacity() > 2 * timer_heap_.size() + 64) timer_heap_.shrink_to_fit();
    timers_.rehash(0);  // the buckets a storm grew
}

int Loop::timeout_ms(int requested) const {
    if (!deferred_.empty() || !next_.empty()) return 0;
    int t = requested;
    // Skip cancelled entries lazily: a stale top only makes us wake early.
    if (!timer_heap_.empty()) {
        const auto until = timer_heap_.front().when - base::Clock::now();
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(until).count();
        if (ms < 0) ms = 0;
        if (t < 0 || ms < t) t = static_cast<int>(std::min<long long>(ms, 1 << 30));
    }
    return t;
}

thread_local const Loop* Loop::current_ = nullptr;

void Loop::run_once(int requested_timeout_ms) {
    owner_.store(std::this_thread::get_id());
    // Restored on the way out, also when a callback throws (a loop may run
    // inside another's callback: tests embed one that way).
    struct Current {
        const Loop* outer = current_;
        explicit Current(const Loop* l) { current_ = l; }
        ~Current() { current_ = outer; }
    } current(this);
    constexpr int kMaxEvents = 256;
    epoll_event events[kMaxEvents];
    const int n = epoll_wait(epfd_, events, kMaxEvents, timeout_ms(requested_timeout_ms));
    now_ = base::Clock::now();
    ++iteration_;
    auto carried = std::move(next_);
    next_.clear();
    for (int i = 0; i < n; ++i) {
        auto* handler = static_cast<IoHandler*>(events[i].data.ptr);
        if (handler == &g_wake_marker) {
            std::uint64_t v;
            [[maybe_unused]] auto r = ::read(wakefd_, &v, sizeof(v));
            continue;
        }
        handler->on_io(events[i].events);
    }
    for (auto& fn : carried) fn();
    run_deferred();
    drain_posted();
    run_deferred();
    run_timers();
    run_deferred();
}

void Loop::run() {
    stop_.store(false);
    while (!stop_.load()) run_once(-1);
    // Work posted before stop() still runs.
    drain_posted();
    run_deferred();
}

void Loop::drain_posted() {
    {
        std::lock_guard<std::mutex> lock(posted_mu_);
        running_.swap(posted_);
    }
    for (auto& fn : running_) fn();
    running_.clear();
}

void Loop::run_deferred() {
    while (!deferred_.empty()) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        for (auto& fn : batch) fn();
    }
}

void Loop::run_timers() {
    now_ = base::Clock::now();
    while (!timer_heap_.empty() && timer_heap_.front().when <= now_) {
        const TimerId id = timer_heap_.front().id;
        pop_timer_entry();
        auto it = timers_.find(id);
        if (it == timers_.end()) continue;  // cancelled
        auto fn = std::move(it->second);
        timers_.erase(it);
        fn();
    }
    // Drop cancelled entries at the top so they do not shorten the next wait.
    while (!timer_heap_.empty() && !timers_.contains(timer_heap_.front().id)) pop_timer_entry();
}

}  // namespace duplex::runtime
