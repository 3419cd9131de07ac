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
#include <utility>

namespace duplex::runtime {

/// Accepts connections; hands each new descriptor (non-blocking, TCP_NODELAY
/// set) to a callback. Thread safety: loop thread only.
class TcpListener final : Loop::IoHandler {
public:
    using AcceptFn = std::function<void(int fd, const Address& peer)>;
    /// A connection taken in while the process had no descriptor to spare
    /// (EMFILE/ENFILE): its owner answers it at once (a 503) and closes it.
    using RefuseFn = std::function<void(int fd, const Address& peer)>;

    struct Options {
        int backlog = 1024;
        bool reuse_port = false;   // SO_REUSEPORT, for one listener per loop
        bool ipv6_only = false;
    };

    /// Binds and listens. Errors are system error codes (EADDRINUSE, ...).
    static base::Result<std::unique_ptr<TcpListener>> listen(Loop& loop, const Address& addr, Options opts,
                                                             AcceptFn on_accept, RefuseFn on_refuse = nullptr);
    ~TcpListener();
    const Address& local_address() const noexcept { return local_; }
    void close();
    /// Times accept() found no descriptor to spare (tests, metrics).
    std::uint64_t descriptor_exhaustions() const noexcept { return exhaustions_; }

private:
    TcpListener(Loop& loop, int fd, AcceptFn fn, RefuseFn refuse)
        : loop_(loop), fd_(fd), on_accept_(std::move(fn)), on_refuse_(std::move(refuse)) {}
    void on_io(std::uint32_t events) override;
    // Out of descriptors: with the listener level-triggered, a connection
    // left in the queue would wake the loop again at once, for ever (a busy
    // loop). The reserve descriptor is let go to take one connection in and
    // refuse it; failing that, the listener rests a moment.
    void out_of_descriptors();
    void rest();

    Loop& loop_;
    int fd_;
    int reserve_ = -1;  // a descriptor kept for out_of_descriptors()
    AcceptFn on_accept_;
    RefuseFn on_refuse_;
    Address local_;
    Loop::TimerId rest_timer_ = 0;
    std::uint64_t exhaustions_ = 0;
};

/// Ends a connection just accepted: writes `farewell` if the kernel takes it
/// at once (a short refusal, e.g. an HTTP 503) and closes the descriptor.
void refuse_connection(int fd, base::Bytes farewell) noexcept;

/// Binds (without listening, without SO_REUSEPORT) and lets go: tells whether
/// someone else holds the address. Empty error code when it is free.
std::error_code probe_bind(const Address& addr);

/// A TCP descriptor and its registration state, without a handler of its
/// own: the part of a socket that a connection object can embed to be its
/// own socket (a server WebSocket session on plain TCP, decision 0014).
/// TcpSocket is this plus the loop and the handler to call. Whoever embeds
/// it passes the loop and the IoHandler registered for the descriptor.
/// Four bytes. Thread safety: loop thread only.
class TcpDescriptor {
public:
    /// Descriptors up to this fit (Linux hands out the lowest free number;
    /// reaching it would take 268 million open files).
    static constexpr int kMaxFd = (1 << 28) - 1;

    TcpDescriptor() = default;
    /// A connected descriptor, not registered yet (see register_with()). One
    /// above kMaxFd is closed: the object is then not open.
    explicit TcpDescriptor(int fd) noexcept;
    TcpDescriptor(TcpDescriptor&& o) noexcept { take(o); }
    TcpDescriptor& operator=(TcpDescriptor&& o) noexcept {
        if (this != &o) {
            close_unregistered();
            take(o);
        }
        return *this;
    }
    /// The owner calls close() first (it unregisters from the loop); a
    /// descriptor still held here (an upgrade that threw halfway) is closed,
    /// which takes it out of epoll too.
    ~TcpDescriptor() { close_unregistered(); }

    bool is_open() const noexcept { return fd_ >= 0; }
    int fd() const noexcept { return fd_; }

    /// Adds the descriptor to the loop, `h` told of its events.
    void register_with(Loop& loop, Loop::IoHandler* h);
    /// The descriptor is registered already (by another object): its events go to `h` from now on.
    void redirect_to(Loop& loop, Loop::IoHandler* h) { update_events(loop, h); }
    /// A non-blocking connect was started: the result comes as writability.
    void start_connecting(Loop& loop, Loop::IoHandler* h);

    base::Result<std::size_t> write(base::Bytes data) const;
    base::Result<std::size_t> writev(base::Bytes a, base::Bytes b) const;
    void want_write(Loop& loop, Loop::IoHandler* h, bool on);
    void pause_reading(Loop& loop, Loop::IoHandler* h, bool paused);
    void shutdown_write() const;
    void close(Loop& loop);
    Address peer_address() const;
    Address local_address() const;

    /// What the loop reported for the descriptor, turned into `handler`'s
    /// calls: on_connected once a connect finished, else one read into the
    /// loop's buffer (on_read, on_eof or on_error), then on_writable. The
    /// handler must outlive the call (it may close the descriptor).
    void on_io(Loop& loop, Loop::IoHandler* h, std::uint32_t events, Stream::Handler& handler);

private:
    void update_events(Loop& loop, Loop::IoHandler* h);
    void take(TcpDescriptor& o) noexcept {
        fd_ = o.fd_;
        connecting_ = o.connecting_;
        want_write_ = o.want_write_;
        paused_ = o.paused_;
        o.fd_ = -1;
        o.connecting_ = o.want_write_ = o.paused_ = false;
    }
    void close_unregistered() noexcept;

    // The descriptor and the flags in 32 bits (memory per connection).
    int fd_ : 29 = -1;
    bool connecting_ : 1 = false;
    bool want_write_ : 1 = false;
    bool paused_ : 1 = false;
};
static_assert(sizeof(TcpDescriptor) == 4);

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
    /// The same to a Unix-domain stream socket at `path` (a local service
    /// such as Redis); the stream is the same afterwards.
    static base::Result<std::unique_ptr<TcpSocket>> connect_unix(Loop& loop, const std::string& path, Handler* handler);
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
    void want_write(bool on) override { d_.want_write(loop_, this, on); }
    /// Stops reading (backpressure / lingering close) or resumes.
    void pause_reading(bool paused) override { d_.pause_reading(loop_, this, paused); }
    /// Sends FIN after what was written (half-close); reading goes on.
    void shutdown_write() override { d_.shutdown_write(); }
    /// Closes the descriptor now; no more callbacks.
    void close() override { d_.close(loop_); }
    bool is_open() const noexcept override { return d_.is_open(); }
    void set_handler(Handler* h) noexcept override { handler_ = h; }
    Address peer_address() const override { return d_.peer_address(); }
    Loop& loop() noexcept { return loop_; }
    Address local_address() const { return d_.local_address(); }
    /// Hands the descriptor, still registered with the loop and with its
    /// state, to an object that is its own socket; this one is closed after
    /// (and reports nothing more). The new owner calls redirect_to().
    TcpDescriptor release_descriptor() noexcept { return std::move(d_); }

private:
    void on_io(std::uint32_t events) override;

    Loop& loop_;
    Handler* handler_;
    TcpDescriptor d_;
};

static_assert(sizeof(TcpSocket) <= BlockPool::kMaxBlock && alignof(TcpSocket) <= BlockPool::kAlign,
              "TcpSocket must fit a pool block");

}  // namespace duplex::runtime
