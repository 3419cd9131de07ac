// api/redis_connection.hpp: one connection to a Redis server on our loop
// (TCP, TLS or a Unix socket), speaking RESP2 (proto/redis/resp.hpp). It
// authenticates and selects the database when it connects, pipelines
// commands, and comes back by itself with exponential backoff when the
// server goes away. Nothing here ever blocks the loop.
//
// Queue policy (docs/scaling.md): commands wait whole, in order, until they
// are written: while the connection is down, or while the kernel does not
// take them. When it breaks, those not wholly written (Redis discards a
// command cut short) go out again, whole, on the next connection; those
// written but not answered get an error reply ("connection lost": they may
// or may not have run). What is held — waiting, and written but not yet
// answered — is bounded by `max_queue`: a command that would pass it is
// refused at once (command() returns false) and counted, unless nothing is
// held at all (one command larger than the bound still goes).
//
// A server that stops answering (a dead host, a connection dropped by a
// middlebox: no error ever comes) is found by PING: every `ping_every` while
// up; two unanswered in a row and the connection is given up.
//
// A subscriber connection (Options::subscriber) hands every reply after the
// handshake to `push`: in RESP2 a subscribed connection answers SUBSCRIBE
// and UNSUBSCRIBE and delivers messages as arrays, not one reply per command.
#pragma once

#include "proto/redis/resp.hpp"
#include "proto/redis/url.hpp"
#include "runtime/address.hpp"
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
        std::chrono::milliseconds backoff_max{2000};  // back within ~2.4 s of Redis returning
        std::chrono::milliseconds connect_timeout{3000};
        std::chrono::milliseconds ping_every{5000};
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
    /// Bytes held for the server: waiting to be written, and written but not answered.
    std::size_t queued_bytes() const noexcept { return pending_.size() + in_flight_bytes_; }
    std::uint64_t reconnects() const noexcept { return reconnects_; }
    std::uint64_t refused() const noexcept { return refused_; }
    const std::string& last_error() const noexcept { return last_error_; }

private:
    enum class State { Idle, Connecting, Handshake, Up, Waiting };

    void connect();
    void connect_to(std::vector<runtime::Address> addresses, std::size_t next);
    void lost(const std::string& why);
    void handshake();
    bool enqueue(const std::vector<std::string_view>& args, Reply reply, bool bounded);
    void flush();
    void on_reply(Value v);
    void ping();

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
    // Commands not yet wholly written: their bytes, whole (the first may be
    // partly written: front_written_), and per command its size and reply.
    // The handshake, when one is under way, is the first unit (no reply).
    struct Unit {
        std::size_t size;
        Reply reply;
        bool handshake = false;
    };
    std::string pending_;
    std::deque<Unit> units_;
    std::size_t front_written_ = 0;
    struct InFlight {
        std::size_t size;
        Reply reply;
    };
    std::deque<InFlight> in_flight_;  // written, not answered, in order (not for a subscriber)
    std::size_t in_flight_bytes_ = 0;
    std::size_t handshake_replies_ = 0;
    int unanswered_pings_ = 0;
    runtime::Loop::TimerId ping_timer_ = 0;
    std::chrono::milliseconds backoff_{0};
    runtime::Loop::TimerId timer_ = 0;
    std::vector<runtime::Address> addresses_;  // what the name gave, tried in order
    std::size_t next_address_ = 0;
    std::uint64_t attempt_ = 0;      // a lookup's answer for an attempt given up is ignored
    std::uint64_t reconnects_ = 0;
    std::uint64_t refused_ = 0;
    bool first_failure_ = true;      // the next failure is the first since start or since up
    std::string last_error_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for deferred work and lookups
};

}  // namespace duplex::detail
