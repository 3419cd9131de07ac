#include "runtime/tcp.hpp"

#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace duplex::runtime {

namespace {
std::error_code last_error() { return {errno, std::system_category()}; }

void set_nodelay(int fd) {
    // TCP_NODELAY by default: a WebSocket reply must not wait for a delayed ACK.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
}  // namespace

// ----------------------------------------------------------- TcpListener --

base::Result<std::unique_ptr<TcpListener>> TcpListener::listen(Loop& loop, const Address& addr, Options opts,
                                                               AcceptFn on_accept, RefuseFn on_refuse) {
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_error();
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (opts.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (addr.family() == AF_INET6) {
        int v6only = opts.ipv6_only ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (::bind(fd, addr.sockaddr_ptr(), addr.length()) < 0 || ::listen(fd, opts.backlog) < 0) {
        auto ec = last_error();
        ::close(fd);
        return ec;
    }
    std::unique_ptr<TcpListener> l(new TcpListener(loop, fd, std::move(on_accept), std::move(on_refuse)));
    l->reserve_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    l->local_ = Address(reinterpret_cast<sockaddr*>(&ss), len);
    loop.add_fd(fd, EPOLLIN, l.get());
    return l;
}

TcpListener::~TcpListener() { close(); }

void refuse_connection(int fd, base::Bytes farewell) noexcept {
    if (!farewell.empty()) (void)::send(fd, farewell.data(), farewell.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
}

std::error_code probe_bind(const Address& addr) {
    const int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_error();
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));  // TIME_WAIT is not "taken"
    std::error_code ec;
    if (::bind(fd, addr.sockaddr_ptr(), addr.length()) < 0) ec = last_error();
    ::close(fd);
    return ec;
}

void TcpListener::close() {
    if (rest_timer_) loop_.cancel_timer(rest_timer_);
    rest_timer_ = 0;
    if (reserve_ >= 0) ::close(reserve_);
    reserve_ = -1;
    if (fd_ < 0) return;
    loop_.remove_fd(fd_);
    ::close(fd_);
    fd_ = -1;
}

void TcpListener::on_io(std::uint32_t) {
    // Accept a bounded batch per wake-up, so a connection storm cannot starve
    // the connections already open on this loop.
    for (int i = 0; i < 64 && fd_ >= 0; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        const int cfd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) out_of_descriptors();
            return;  // EAGAIN; ECONNABORTED and the like: the next wake-up
        }
        set_nodelay(cfd);
        on_accept_(cfd, Address(reinterpret_cast<sockaddr*>(&ss), len));
    }
}

void TcpListener::out_of_descriptors() {
    ++exhaustions_;
    if (reserve_ >= 0) {
        ::close(reserve_);
        reserve_ = -1;
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        const int cfd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            if (on_refuse_) on_refuse_(cfd, Address(reinterpret_cast<sockaddr*>(&ss), len));
            else ::close(cfd);
        }
        reserve_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // One connection refused per wake-up: the queue drains at the pace
        // of the loop, with the other connections served in between.
        if (cfd >= 0 && reserve_ >= 0) return;
    }
    rest();
}

void TcpListener::rest() {
    // No reserve either (the whole system is out): stop listening for a
    // moment rather than spin; connections wait in the kernel's queue.
    if (rest_timer_ || fd_ < 0) return;
    loop_.modify_fd(fd_, 0, this);
    rest_timer_ = loop_.add_timer(loop_.now() + std::chrono::milliseconds(100), [this] {
        rest_timer_ = 0;
        if (fd_ < 0) return;
        if (reserve_ < 0) reserve_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        loop_.modify_fd(fd_, EPOLLIN, this);
    });
}

// ------------------------------------------------------------- TcpSocket --

TcpSocket::TcpSocket(Loop& loop, int fd, Handler* handler) : loop_(loop), handler_(handler), d_(fd) {
    d_.register_with(loop_, this);
}

base::Result<std::unique_ptr<TcpSocket>> TcpSocket::connect(Loop& loop, const Address& to, Handler* handler,
                                                             const Address* from) {
    const int fd = ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_error();
    set_nodelay(fd);
    if (from) {
        int one = 1;
        setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));  // the port comes at connect()
        if (::bind(fd, from->sockaddr_ptr(), from->length()) < 0) {
            auto ec = last_error();
            ::close(fd);
            return ec;
        }
    }
    const int r = ::connect(fd, to.sockaddr_ptr(), to.length());
    if (r < 0 && errno != EINPROGRESS) {
        auto ec = last_error();
        ::close(fd);
        return ec;
    }
    auto s = std::make_unique<TcpSocket>(loop, fd, handler);
    if (!s->is_open()) return std::error_code(EMFILE, std::system_category());  // a descriptor too large to hold
    s->d_.start_connecting(loop, s.get());
    return s;
}

base::Result<std::unique_ptr<TcpSocket>> TcpSocket::connect_unix(Loop& loop, const std::string& path, Handler* handler) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path)) return std::error_code(ENAMETOOLONG, std::system_category());
    std::memcpy(sa.sun_path, path.data(), path.size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_error();
    // A full listen backlog answers EAGAIN here, not EINPROGRESS: an error
    // like any other (the caller tries again later).
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) < 0 && errno != EINPROGRESS) {
        auto ec = last_error();
        ::close(fd);
        return ec;
    }
    auto s = std::make_unique<TcpSocket>(loop, fd, handler);
    if (!s->is_open()) return std::error_code(EMFILE, std::system_category());
    s->d_.start_connecting(loop, s.get());
    return s;
}

TcpSocket::~TcpSocket() { close(); }

base::Result<std::size_t> TcpSocket::write(base::Bytes data) { return d_.write(data); }

base::Result<std::size_t> TcpSocket::writev(base::Bytes a, base::Bytes b) { return d_.writev(a, b); }

void TcpSocket::on_io(std::uint32_t events) { d_.on_io(loop_, this, events, *handler_); }

// --------------------------------------------------------- TcpDescriptor --

TcpDescriptor::TcpDescriptor(int fd) noexcept {
    if (fd < 0) return;
    if (fd > kMaxFd) {
        ::close(fd);  // cannot be held: refused, as when out of descriptors
        return;
    }
    fd_ = fd & kMaxFd;  // all of fd: it is at most kMaxFd
}

void TcpDescriptor::close_unregistered() noexcept {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
}

void TcpDescriptor::register_with(Loop& loop, Loop::IoHandler* h) {
    if (fd_ >= 0) loop.add_fd(fd_, EPOLLIN | EPOLLRDHUP, h);
}

void TcpDescriptor::start_connecting(Loop& loop, Loop::IoHandler* h) {
    connecting_ = true;
    update_events(loop, h);
}

void TcpDescriptor::close(Loop& loop) {
    if (fd_ >= 0) loop.remove_fd(fd_);
    close_unregistered();
}

void TcpDescriptor::shutdown_write() const {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void TcpDescriptor::update_events(Loop& loop, Loop::IoHandler* h) {
    if (fd_ < 0) return;
    // While paused, neither EPOLLIN nor EPOLLRDHUP: level-triggered, they would
    // wake the loop again and again.
    std::uint32_t ev = 0;
    if (!paused_ && !connecting_) ev |= EPOLLIN | EPOLLRDHUP;
    if (want_write_ || connecting_) ev |= EPOLLOUT;
    loop.modify_fd(fd_, ev, h);
}

void TcpDescriptor::want_write(Loop& loop, Loop::IoHandler* h, bool on) {
    if (want_write_ == on) return;
    want_write_ = on;
    update_events(loop, h);
}

void TcpDescriptor::pause_reading(Loop& loop, Loop::IoHandler* h, bool paused) {
    if (paused_ == paused) return;
    paused_ = paused;
    update_events(loop, h);
}

base::Result<std::size_t> TcpDescriptor::write(base::Bytes data) const {
    if (fd_ < 0) return std::error_code(EBADF, std::system_category());
    if (data.empty()) return std::size_t{0};
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::size_t{0};
    return last_error();
}

base::Result<std::size_t> TcpDescriptor::writev(base::Bytes a, base::Bytes b) const {
    if (fd_ < 0) return std::error_code(EBADF, std::system_category());
    iovec iov[2] = {{const_cast<std::byte*>(a.data()), a.size()}, {const_cast<std::byte*>(b.data()), b.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::size_t{0};
    return last_error();
}

Address TcpDescriptor::peer_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (fd_ < 0 || getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return {};
    return Address(reinterpret_cast<sockaddr*>(&ss), len);
}

Address TcpDescriptor::local_address() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return {};
    return Address(reinterpret_cast<sockaddr*>(&ss), len);
}

void TcpDescriptor::on_io(Loop& loop, Loop::IoHandler* h, std::uint32_t events, Stream::Handler& handler) {
    if (connecting_) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        connecting_ = false;
        update_events(loop, h);
        handler.on_connected(err ? std::error_code(err, std::system_category()) : std::error_code{});
        return;
    }
    if (fd_ >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !paused_) {
        auto buf = loop.read_buffer();
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n > 0) {
            handler.on_read(buf.first(static_cast<std::size_t>(n)));
        } else if (n == 0) {
            handler.on_eof();
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            handler.on_error(last_error());
        }
    } else if (fd_ >= 0 && paused_ && (events & (EPOLLHUP | EPOLLERR))) {
        handler.on_error(std::error_code(ECONNRESET, std::system_category()));
    }
    if (fd_ >= 0 && (events & EPOLLOUT) && want_write_) handler.on_writable();
}

}  // namespace duplex::runtime
