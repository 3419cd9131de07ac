// runtime/tcp.hpp: non-blocking TCP on a Loop: a listener that accepts, and a
// stream socket (accepted or connecting) that reads into the loop's shared
// buffer and writes straight to the kernel. Queuing what the kernel did not
// take is the owner's business (it owns the protocol machine's tx queue).
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "runtime/address.hpp"
#include "runtime/block_pool.hpp"
#include "runtime/loop.hpp"
#include "runtime/stream.hpp"

#include <functional>
#include <memory>
#include <system_error>

namespace duplex::runtime {

/// Accepts connections; hands each new descriptor (non-blocking, TCP_NODELAY
/// set) to a callback. Thread safety: loop thread only.
class TcpListener final : Loop::IoHandler {
public:
    using AcceptFn = std::function<void(int fd, const Address& peer)>;

    struct Options {
        int backlog = 1024;
        bool reuse_port = false;   // SO_REUSEPORT, for one listener per loop
        bool ipv6_only = false;
    };

    /// Binds and listens. Errors are system error codes (EADDRINUSE, ...).
    static base::Result<std::unique_ptr<TcpListener>> listen(Loop& loop, const Address& addr, Options opts,
                                                             AcceptFn on_accept);
    ~TcpListener();
    const Address& local_address() const noexcept { return local_; }
    void close();

private:
    TcpListener(Loop& loop, int fd, AcceptFn fn) : loop_(loop), fd_(fd), on_accept_(std::move(fn)) {}
    void on_io(std::uint32_t events) override;

    Loop& loop_;
    int fd_;
    AcceptFn on_accept_;
    Address local_;
};

/// Binds (without listening, without SO_REUSEPORT) and lets go: tells whether
/// someone else holds the address. Empty error code when it is free.
std::error_code probe_bind(const Address& addr);

/// A connected (or connecting) TCP stream. Thread safety: loop thread only.
class TcpSocket final : public Stream {
public:
    using Handler = Stream::Handler;

    /// Wraps an accepted descriptor.
    TcpSocket(Loop& loop, int fd, Handler* handler);
    /// Starts a non-blocking connect; the result comes to on_connected().
    /// `from` binds the local address first (load generators use several
    /// 127.x sources to get past one address's ephemeral ports).
    static base::Result<std::unique_ptr<TcpSocket>> connect(Loop& loop, const Address& to, Handler* handler,
                                                            const Address* from = nullptr);
    ~TcpSocket() override;
    TcpSocket(const TcpSocket&) = delete;
    TcpSocket& operator=(const TcpSocket&) = delete;
    // A socket lives as long as its connection: from the block pool, beside
    // the other sockets, not between a handshake's temporaries (decision 0011).
    static void* operator new(std::size_t n) { return allocate_block(n); }
    static void operator delete(void* p, std::size_t n) noexcept { deallocate_block(p, n); }

    /// Writes what the kernel takes now; returns the number of bytes written
    /// (0 when it would block) or a system error (EPIPE, ECONNRESET, ...).
    base::Result<std::size_t> write(base::Bytes data) override;
    base::Result<std::size_t> writev(base::Bytes a, base::Bytes b) override;
    /// Asks for on_writable() when the kernel has room again (EPOLLOUT).
    void want_write(bool on) override;
    /// Stops reading (backpressure / lingering close) or resumes.
    void pause_reading(bool paused) override;
    /// Sends FIN after what was written (half-close); reading goes on.
    void shutdown_write() override;
    /// Closes the descriptor now; no more callbacks.
    void close() override;
    bool is_open() const noexcept override { return fd_ >= 0; }
    void set_handler(Handler* h) noexcept override { handler_ = h; }
    Address peer_address() const override;
    Loop& loop() noexcept { return loop_; }
    Address local_address() const;

private:
    void on_io(std::uint32_t events) override;
    void update_events();

    Loop& loop_;
    Handler* handler_;
    // The descriptor and the flags share one word (memory per connection).
    int fd_;
    bool connecting_ = false;
    bool want_write_ = false;
    bool paused_ = false;
};

static_assert(sizeof(TcpSocket) <= BlockPool::kMaxBlock && alignof(TcpSocket) <= BlockPool::kAlign,
              "TcpSocket must fit a pool block");

}  // namespace duplex::runtime
