// tests/support/fake_redis.hpp: a listener on a free loopback port that plays
// a Redis server badly, as a test scripts it: each accepted connection is
// handed to `serve(fd, index)` on the listener's thread. Helpers read a
// client's handshake (it ends with PING) and count commands.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace duplex::test {

class FakeRedis {
public:
    using Serve = std::function<void(int fd, int index)>;
    explicit FakeRedis(Serve serve) : serve_(std::move(serve)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        ::listen(fd_, 16);
        socklen_t len = sizeof(a);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] {
            for (int i = 0;; ++i) {
                const int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0) return;
                ++accepted;
                held_.push_back(c);
                serve_(c, i);
            }
        });
    }
    /// Answers every connection's handshake with `reply`, then closes it (or, with keep, holds it).
    static FakeRedis replying(std::string reply, bool keep) {
        return FakeRedis([reply, keep](int fd, int) {
            read_handshake(fd);
            (void)::write(fd, reply.data(), reply.size());
            if (!keep) ::shutdown(fd, SHUT_RDWR);
        });
    }
    ~FakeRedis() {
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
        for (int c : held_) ::close(c);
    }
    FakeRedis(FakeRedis&&) = delete;
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    std::uint16_t port() const { return port_; }
    std::atomic<int> accepted{0};

    /// Reads until `needle` has arrived (or the peer closed); what was read.
    static std::string read_until(int fd, const std::string& needle, std::string got = {}) {
        char buf[4096];
        while (got.find(needle) == std::string::npos) {
            const auto n = ::read(fd, buf, sizeof(buf));
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }
    /// A client's handshake, whole: it ends with PING.
    static std::string read_handshake(int fd) { return read_until(fd, "$4\r\nPING\r\n"); }

private:
    Serve serve_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::vector<int> held_;
    std::thread thread_;
};

}  // namespace duplex::test
