// api/redis_connection.hpp: one connection to a Redis server on our loop
// (TCP, TLS or a Unix socket), speaking RESP2 (proto/redis/resp.hpp). It
// authenticates and selects the database when it connects, pipelines
// commands, and comes back by itself with exponential backoff when the
// server goes away. Nothing here ever blocks the loop.
//
// Queue policy (docs/scaling.md): commands given while the connection is down
// wait, in order, and go out once it is up again; commands written but not
// answered when it breaks are answered with an error ("connection lost":
// they may or may not have run). What waits — unsent and unwritten bytes
// together — is bounded by `max_queue`: a command that would pass it is
// refused at once (command() returns false) and counted; nothing is held
// without bound for a server that is slow or down.
//
// A subscriber connection (Options::subscriber) hands every reply after the
// handshake to `push`: in RESP2 a subscribed connection answers SUBSCRIBE
// and UNSUBSCRIBE and delivers messages as arrays, not one reply per command.
#pragma once

#include "proto/redis/resp.hpp"
#include "proto/redis/url.hpp"
#include "runtime/loop.hpp"
#include "runtime/stream.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace duplex::detail {

class RedisConnection final : public runtime::Stream::Handler {
public:
    using Value = proto::redis::Value;
    using Reply = std::function<void(const Value&)>;

    struct Options {
        proto::redis::ServerUrl url;
        std::string name;                    // CLIENT SETNAME, and in messages ("duplex-pub")
        std::string tls_ca_file;             // rediss://: trust these CAs (empty: the system store)
        bool subscriber = false;             // every reply after the handshake goes to `push`
        std::size_t max_queue = 8u << 20;    // bytes waiting (unsent + unwritten), see above
        std::chrono::milliseconds backoff_min{100};
        std::chrono::milliseconds backoff_max{5000};
        std::chrono::milliseconds connect_timeout{3000};
        proto::redis::ReaderLimits limits;
    };
    struct Events {
        std::function<void()> up;                       // connected, authenticated, ready
        /// A loss or a failed attempt, with why; `first`: the first since
        /// start or since it was last up (the others are retries failing).
        std::function<void(const std::string&, bool first)> down;
        std::function<void(const Value&)> push;         // subscriber: every reply
    };

    RedisConnection(runtime::Loop& loop, Options options, Events events);
    ~RedisConnection() override;
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Connects (and keeps reconnecting until destroyed).
    void start();
    /// Sends (or queues) a command; `reply` gets its answer, or an error
    /// reply if the connection was lost before it came. False: refused by
    /// the queue bound (nothing sent, `reply` never called).
    bool command(const std::vector<std::string_view>& args, Reply reply = {});
    bool command(std::initializer_list<std::string_view> args, Reply reply = {});

    bool up() const noexcept { return state_ == State::Up; }
    /// Bytes waiting to reach the server (queued while down, or not taken by the kernel).
    std::size_t queued_bytes() const noexcept { return waiting_.size() + unwritten_.size(); }
    std::uint64_t reconnects() const noexcept { return reconnects_; }
    std::uint64_t refused() const noexcept { return refused_; }
    const std::string& last_error() const noexcept { return last_error_; }

private:
    enum class State { Idle, Connecting, Handshake, Up, Waiting };

    void connect();
    void connect_to(const runtime::Address& a);
    void lost(const std::string& why);
    void handshake();
    void write(std::string_view bytes);
    void flush();
    void on_reply(Value v);

    void on_read(base::MutableBytes data) override;
    void on_writable() override;
    void on_eof() override;
    void on_error(std::error_code ec) override;
    void on_connected(std::error_code ec) override;

    runtime::Loop& loop_;
    Options o_;
    Events ev_;
    State state_ = State::Idle;
    std::unique_ptr<runtime::Stream> stream_;
    proto::redis::Reader reader_;
    std::string waiting_;            // commands given while not up, not yet written
    std::deque<Reply> waiting_replies_;
    std::string unwritten_;          // written to the stream but not taken by it yet
    std::deque<Reply> in_flight_;    // written, not answered, in order
    std::size_t handshake_replies_ = 0;
    std::chrono::milliseconds backoff_{0};
    runtime::Loop::TimerId timer_ = 0;
    std::uint64_t attempt_ = 0;      // a lookup's answer for an attempt given up is ignored
    std::uint64_t reconnects_ = 0;
    std::uint64_t refused_ = 0;
    bool first_failure_ = true;      // the next failure is the first since start or since up
    std::string last_error_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for deferred work and lookups
};

}  // namespace duplex::detail
