// tests/support/raw_client.hpp: a blocking TCP client with timeouts, for tests
// that speak raw bytes to a server running on a loop in another thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace duplex::test {

class RawClient {
public:
    /// `receive_buffer` > 0 fixes the socket's receive buffer (before the
    /// connect, so the window is small from the start and the kernel does not
    /// grow it): a client that does not read then holds that much, whatever
    /// the machine's tcp_rmem, and the server's own queue fills soon.
    explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (receive_buffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    ~RawClient() { if (fd_ >= 0) ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return connected_; }
    bool send(const std::string& bytes) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    /// Sends all of `bytes` unless the peer stops taking them for `timeout`
    /// (a server that stopped reading): false then, or on an error.
    bool send_for(const std::string& bytes, std::chrono::milliseconds timeout) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
            const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        return true;
    }
    /// Reads until `done(buffer)` is true, EOF, or the timeout. Returns what was read.
    template <class Pred>
    std::string read_until(Pred done, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (!done(buf_) && !eof_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char tmp[65536];
            const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
            if (n <= 0) { eof_ = true; break; }
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
        return buf_;
    }
    std::string read_head() {
        return read_until([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    }
    /// Reads until the peer closes (or the timeout); true when EOF was seen.
    bool wait_eof(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
        read_until([](const std::string&) { return false; }, timeout);
        return eof_;
    }
    std::string& buffer() { return buf_; }
    bool eof() const { return eof_; }

private:
    int fd_ = -1;
    bool connected_ = false;
    bool eof_ = false;
    std::string buf_;
};

/// The payloads of the whole unmasked frames at the start of `b` (a
/// server's; payloads under 64 KiB), and how many bytes they took.
inline std::vector<std::string> server_frames(const std::string& b, std::size_t* used = nullptr) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at + 2 <= b.size()) {
        std::size_t len = static_cast<unsigned char>(b[at + 1]) & 0x7f, head = 2;
        if (len == 126) {
            if (at + 4 > b.size()) break;
            len = (static_cast<std::size_t>(static_cast<unsigned char>(b[at + 2])) << 8) | static_cast<unsigned char>(b[at + 3]);
            head = 4;
        } else if (len == 127) {
            break;
        }
        if (at + head + len > b.size()) break;
        out.push_back(b.substr(at + head, len));
        at += head + len;
    }
    if (used) *used = at;
    return out;
}

inline std::string upgrade_request(const std::string& path = "/", const std::string& extra = "") {
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n";
}

}  // namespace duplex::test
