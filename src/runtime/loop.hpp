// runtime/loop.hpp: one epoll event loop per thread (DESIGN.md; decision 0003).
//
// Everything registered with a Loop runs on the loop's thread. The only
// thread-safe calls are post() and stop(): they queue work and wake the loop
// through an eventfd. Timers live in a heap inside the loop; epoll_wait's
// timeout is the earliest deadline. One receive buffer per loop is shared by
// every connection on it (no allocation per read).
#pragma once

#include "base/bytes.hpp"
#include "base/time.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace duplex::runtime {

class Loop {
public:
    /// Receives the epoll events of a registered file descriptor.
    class IoHandler {
    public:
        virtual void on_io(std::uint32_t events) = 0;

    protected:
        ~IoHandler() = default;
    };
    using TimerId = std::uint64_t;

    /// Something that must end if the loop is destroyed while it is still
    /// open (a connection). Intrusive: registering allocates nothing, which
    /// matters with one per connection (decision 0011). A Closer is an
    /// IoHandler too, so that a connection that is its own socket carries one
    /// vtable pointer, not two (decision 0014); one that registers no
    /// descriptor keeps the no-op.
    class Closer : public IoHandler {
    public:
        /// The loop is going away: end now, without callbacks.
        virtual void on_loop_closing() = 0;
        void on_io(std::uint32_t events) override { (void)events; }
        /// Whom the closer belongs to, for for_each_closer()'s callers to
        /// pick out theirs (a server picks its connections: one list per
        /// connection, not two, decision 0014). Null: nobody's.
        virtual const void* closer_key() const noexcept { return nullptr; }

    protected:
        virtual ~Closer() = default;

    private:
        friend class Loop;
        Closer* prev_ = nullptr;  // linked: prev_ set, or the list's head
        Closer* next_ = nullptr;
    };

    explicit Loop(std::size_t read_buffer_size = 512 * 1024);
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    /// Runs until stop(). Binds the loop to the calling thread.
    void run();
    /// Waits up to timeout_ms (-1: until something happens) and dispatches
    /// what is ready, once. For embedding in another program's loop.
    void run_once(int timeout_ms);
    /// Thread-safe: makes run() return after the current iteration.
    void stop();
    /// Thread-safe: runs fn on the loop thread, in posting order.
    void post(std::function<void()> fn);
    /// Where work finished on other threads is handed back to the loop, for
    /// as long as the loop lives: deliver() posts to it, or (once the loop is
    /// destroyed) does nothing and says so. Holders keep the mailbox, never
    /// the loop (runtime/resolver.hpp).
    class Mailbox {
    public:
        /// Posts fn to the loop; false (fn not taken) when the loop is gone.
        bool deliver(std::function<void()>& fn);

    private:
        friend class Loop;
        std::mutex mu_;
        Loop* loop_ = nullptr;
    };
    std::shared_ptr<Mailbox> mailbox() const noexcept { return mailbox_; }
    /// Runs fn on the loop thread after the events of this iteration have
    /// been dispatched (safe point to destroy objects that are in a callback).
    void defer(std::function<void()> fn);
    /// Registers c to be told if the loop is destroyed while c is still
    /// alive (an open connection ends itself there). Loop thread only; c must
    /// be removed (or told) before it is destroyed. Adding twice is harmless.
    void add_closer(Closer& c) noexcept;
    void remove_closer(Closer& c) noexcept;
    /// Calls f(Closer&) for every registered closer, the newest first. Loop
    /// thread only; f must not add or remove closers.
    template <class F>
    void for_each_closer(F&& f) {
        for (Closer* c = closers_; c != nullptr; c = c->next_) f(*c);
    }
    bool in_loop_thread() const noexcept {
        // Inside our own run_once() (every callback, so every send from a
        // handler) one thread-local compare answers; else the thread ids.
        return current_ == this || std::this_thread::get_id() == owner_.load();
    }
    bool stopping() const noexcept { return stop_.load(); }

    void add_fd(int fd, std::uint32_t events, IoHandler* handler);
    void modify_fd(int fd, std::uint32_t events, IoHandler* handler);
    void remove_fd(int fd);

    TimerId add_timer(base::Instant when, std::function<void()> fn);
    void cancel_timer(TimerId id);
    /// Entries in the timer heap, cancelled ones not yet dropped included (tests).
    std::size_t timer_entries() const noexcept { return timer_heap_.size(); }

    /// The time at the start of this iteration (the runtime reads the clock
    /// once per wake-up and hands it to every machine).
    base::Instant now() const noexcept { return now_; }
    base::MutableBytes read_buffer() noexcept { return {read_buf_.data(), read_buf_.size()}; }
    /// A second shared buffer, for plaintext decrypted from read_buffer() (TLS).
    base::MutableBytes plain_buffer() noexcept {
        if (plain_buf_.empty()) plain_buf_.resize(read_buf_.size());
        return {plain_buf_.data(), plain_buf_.size()};
    }
    /// Send queues lent to connections while they write (decision 0013): a
    /// connection whose queue is empty holds no buffer of its own; it takes
    /// one of these before it writes and gives it back once the kernel took
    /// everything. Only a connection the kernel has not caught up with keeps
    /// one. Loop thread only.
    void lend_queue(base::ByteQueue& q) noexcept {
        if (q.capacity() != 0 || spare_queues_.empty()) return;  // it has one (or will grow its own)
        q = std::move(spare_queues_.back());
        spare_queues_.pop_back();
    }
    void take_back_queue(base::ByteQueue& q) noexcept;
    /// Queues waiting to be lent (tests).
    std::size_t spare_queues() const noexcept { return spare_queues_.size(); }
    /// Counts wake-ups; work budgets per iteration key on it.
    std::uint64_t iteration() const noexcept { return iteration_; }
    /// Runs fn on the next iteration, after that iteration's I/O (so that
    /// work spread over iterations lets other connections in between).
    void next_iteration(std::function<void()> fn) { next_.push_back(std::move(fn)); }
    /// The epoll descriptor: readable when the loop has work (for embedding).
    int epoll_fd() const noexcept { return epfd_; }

private:
    void drain_posted();
    void run_timers();
    void run_deferred();
    int timeout_ms(int requested) const;

    // The loop whose run_once() is running on this thread (innermost).
    static thread_local const Loop* current_;
    int epfd_ = -1;
    int wakefd_ = -1;
    std::atomic<std::thread::id> owner_;
    std::atomic<bool> stop_{false};
    base::Instant now_;
    std::vector<std::byte> read_buf_;
    std::vector<std::byte> plain_buf_;
    std::uint64_t iteration_ = 0;
    std::vector<std::function<void()>> next_;
    // At most kSpareQueues, each at most kSpareQueueCapacity (a queue that
    // grew past it under backpressure is freed instead): the loop holds a
    // bounded few, not one per connection.
    static constexpr std::size_t kSpareQueues = 8;
    static constexpr std::size_t kSpareQueueCapacity = 64 * 1024;
    std::vector<base::ByteQueue> spare_queues_;

    std::mutex posted_mu_;
    std::vector<std::function<void()>> posted_;
    std::vector<std::function<void()>> running_;
    std::vector<std::function<void()>> deferred_;

    struct TimerEntry {
        base::Instant when;
        TimerId id;
        bool operator>(const TimerEntry& o) const { return when != o.when ? when > o.when : id > o.id; }
    };
    // A min-heap (std::push_heap with greater<>). Cancelling leaves the entry
    // behind (skipped when it comes up); compact_timers() drops them once they
    // outnumber the live timers, or a storm of cancelled handshake timeouts
    // would hold memory per connection for as long as the timeout.
    std::vector<TimerEntry> timer_heap_;
    void compact_timers();
    void pop_timer_entry();  // the earliest
    std::unordered_map<TimerId, std::function<void()>> timers_;
    TimerId next_timer_ = 1;
    Closer* closers_ = nullptr;  // an intrusive list
    std::shared_ptr<Mailbox> mailbox_;
};

}  // namespace duplex::runtime
