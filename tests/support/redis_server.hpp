// tests/support/redis_server.hpp: a real redis-server (Debian's) for a test:
// its own directory and config, a free loopback port (and a Unix socket),
// no persistence; stopped by PID (its process group), paused and resumed with
// SIGSTOP/SIGCONT, restarted on the same port. Commands go through redis-cli.
#pragma once

#include "support/server_fixture.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace duplex::test {

class RedisServer {
public:
    /// `tls_cert`/`tls_key`: the port speaks TLS only (rediss://), with that certificate.
    explicit RedisServer(std::string password = {}, std::string tls_cert = {}, std::string tls_key = {})
        : password_(std::move(password)), tls_cert_(std::move(tls_cert)), tls_key_(std::move(tls_key)) {
        char tmpl[] = "/tmp/duplex-redis.XXXXXX";
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
        dir_ = tmpl;
        port_ = free_port();
        start();
    }
    const std::string& dir() const { return dir_; }
    ~RedisServer() {
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const { return port_; }
    std::string socket_path() const { return dir_ + "/redis.sock"; }
    std::string url() const { return "redis://" + (password_.empty() ? "" : ":" + password_ + "@") + "127.0.0.1:" + std::to_string(port_); }

    void start() {
        const std::string ports = tls_cert_.empty() ? "port " + std::to_string(port_)
                                                    : "port 0\ntls-port " + std::to_string(port_) + "\ntls-cert-file " +
                                                          tls_cert_ + "\ntls-key-file " + tls_key_ +
                                                          "\ntls-ca-cert-file " + tls_cert_ + "\ntls-auth-clients no";
        std::ofstream(dir_ + "/redis.conf") << ports << "\nbind 127.0.0.1\nunixsocket " << socket_path()
                                            << "\nunixsocketperm 700\nsave \"\"\nappendonly no\ndir " << dir_
                                            << "\nlogfile " << dir_ << "/redis.log\n"
                                            << (password_.empty() ? "" : "requirepass " + password_ + "\n");
        pid_ = fork();
        if (pid_ == 0) {
            setpgid(0, 0);
            execlp("redis-server", "redis-server", (dir_ + "/redis.conf").c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        setpgid(pid_, pid_);
        // Over the Unix socket (plain even when the port speaks TLS).
        if (!eventually([&] { return cli("PING") == "PONG"; }, std::chrono::milliseconds(10000)))
            throw std::runtime_error("redis-server did not start (is it installed? scripts/deps.sh installs it)");
    }
    void stop() {
        if (pid_ <= 0) return;
        kill(-pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    void pause() { kill(-pid_, SIGSTOP); }
    void resume() { kill(-pid_, SIGCONT); }

    /// redis-cli's answer (its first line, without the newline); "" if it failed.
    std::string cli(const std::string& args) const {
        const std::string cmd = "redis-cli -s " + socket_path() + (password_.empty() ? "" : " --no-auth-warning -a " + password_) +
                                " " + args + " 2>/dev/null";
        FILE* f = popen(cmd.c_str(), "r");
        if (!f) return {};
        std::array<char, 4096> buf{};
        std::string out;
        if (fgets(buf.data(), buf.size(), f)) out = buf.data();
        while (fgets(buf.data(), buf.size(), f)) {
        }
        pclose(f);
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        return out;
    }
    /// How many connections are subscribed to duplex's channel for `topic`.
    int subscribers(const std::string& topic) const { return subscribers_of("duplex:topic:" + topic); }
    /// How many connections are subscribed to `channel`.
    int subscribers_of(const std::string& channel) const {
        // PUBSUB NUMSUB prints the channel, then the count, one per line.
        const std::string cmd = "redis-cli -s " + socket_path() + (password_.empty() ? "" : " --no-auth-warning -a " + password_) +
                                " PUBSUB NUMSUB " + channel + " 2>/dev/null";
        FILE* f = popen(cmd.c_str(), "r");
        if (!f) return -1;
        std::array<char, 256> a{}, b{};
        int n = -1;
        if (fgets(a.data(), a.size(), f) && fgets(b.data(), b.size(), f)) n = std::atoi(b.data());
        pclose(f);
        return n;
    }

private:
    static std::uint16_t free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        socklen_t len = sizeof(a);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        ::close(fd);
        return ntohs(a.sin_port);
    }

    std::string password_;
    std::string tls_cert_, tls_key_;
    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace duplex::test
