// api/redis_connection.cpp: one Redis connection on our loop. See the header.
#include "api/redis_connection.hpp"

#include "api/session.hpp"
#include "runtime/resolver.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

#include <sys/socket.h>

#include <random>

namespace duplex::detail {

RedisConnection::RedisConnection(runtime::Loop& loop, Options options, Events events)
    : loop_(loop), o_(std::move(options)), ev_(std::move(events)), reader_(o_.limits) {}

RedisConnection::~RedisConnection() {
    *alive_ = false;
    if (timer_) loop_.cancel_timer(timer_);
    if (ping_timer_) loop_.cancel_timer(ping_timer_);
    if (stream_) stream_->close();
}

void RedisConnection::start() {
    if (state_ == State::Idle) connect();
}

void RedisConnection::connect() {
    state_ = State::Connecting;
    const std::uint64_t attempt = ++attempt_;
    reader_ = proto::redis::Reader(o_.limits);
    timer_ = loop_.add_timer(base::Clock::now() + o_.connect_timeout, [this] {
        timer_ = 0;
        lost("no connection within " + std::to_string(o_.connect_timeout.count()) + " ms");
    });
    if (!o_.url.unix_path.empty()) {
        auto s = runtime::TcpSocket::connect_unix(loop_, o_.url.unix_path, this);
        if (!s) {
            const auto why = o_.url.unix_path + ": " + s.error().message();
            return loop_.defer([alive = std::weak_ptr<bool>(alive_), this, why] {
                if (alive.lock()) lost(why);
            });
        }
        stream_ = std::move(s.value());
        return;
    }
    runtime::Resolver::resolve(loop_, o_.url.host, o_.url.port, SOCK_STREAM,
                               [alive = std::weak_ptr<bool>(alive_), this, attempt](std::vector<runtime::Address> a,
                                                                                     std::error_code ec) {
                                   if (!alive.lock() || state_ != State::Connecting || attempt != attempt_) return;
                                   if (ec || a.empty())
                                       return lost("cannot resolve " + o_.url.host + ": " +
                                                   (ec ? ec.message() : std::string("no address")));
                                   connect_to(std::move(a), 0);
                               });
}

// Each address the name gave, in order, until one connects (localhost may
// be ::1 first while Redis listens on 127.0.0.1 only).
void RedisConnection::connect_to(std::vector<runtime::Address> addresses, std::size_t next) {
    addresses_ = std::move(addresses);
    next_address_ = next;
    auto s = runtime::TcpSocket::connect(loop_, addresses_[next], this);
    if (!s) {
        if (next + 1 < addresses_.size()) return connect_to(std::move(addresses_), next + 1);
        return lost("cannot connect: " + s.error().message());
    }
    if (!o_.url.tls) {
        stream_ = std::move(s.value());
        return;
    }
    ClientTlsOptions t;
    t.ca_file = o_.tls_ca_file;
    std::string why;
    auto ctx = client_tls_context(t, why);
    if (!ctx) {
        s.value()->close();
        return lost("TLS: " + why);
    }
    stream_ = std::make_unique<runtime::TlsStream>(std::move(s.value()), std::move(ctx), this, o_.url.host);
}

void RedisConnection::on_connected(std::error_code ec) {
    if (state_ != State::Connecting) return;
    if (ec) {
        const std::string detail = stream_ ? stream_->error_detail() : std::string();
        if (!o_.url.tls && detail.empty() && next_address_ + 1 < addresses_.size()) {
            stream_->close();
            loop_.defer([s = std::shared_ptr<runtime::Stream>(std::move(stream_))] {});
            return connect_to(std::move(addresses_), next_address_ + 1);
        }
        return lost("cannot connect: " + (detail.empty() ? ec.message() : detail));
    }
    handshake();
}

// AUTH and SELECT before anything else; their answers are ours, not a caller's.
void RedisConnection::handshake() {
    state_ = State::Handshake;
    std::string out;
    handshake_replies_ = 0;
    if (!o_.url.password.empty()) {
        if (o_.url.user.empty()) proto::redis::append_command(out, {"AUTH", o_.url.password});
        else proto::redis::append_command(out, {"AUTH", o_.url.user, o_.url.password});
        ++handshake_replies_;
    }
    if (o_.url.db != 0) {
        proto::redis::append_command(out, {"SELECT", std::to_string(o_.url.db)});
        ++handshake_replies_;
    }
    if (!o_.name.empty()) {
        proto::redis::append_command(out, {"CLIENT", "SETNAME", o_.name});
        ++handshake_replies_;
    }
    // PING: the handshake has at least one answer, so "up" always means the
    // server answered.
    proto::redis::append_command(out, {"PING"});
    ++handshake_replies_;
    // Before every command that waited: they go once it is answered.
    pending_.insert(0, out);
    units_.push_front({out.size(), {}, true});
    front_written_ = 0;
    flush();
}

bool RedisConnection::command(std::initializer_list<std::string_view> args, Reply reply) {
    return command(std::vector<std::string_view>(args), std::move(reply));
}

bool RedisConnection::command(const std::vector<std::string_view>& args, Reply reply) {
    return enqueue(args, std::move(reply), true);
}

bool RedisConnection::enqueue(const std::vector<std::string_view>& args, Reply reply, bool bounded) {
    const std::size_t before = pending_.size();
    proto::redis::append_command(pending_, args);
    const std::size_t size = pending_.size() - before;
    // The bound, unless nothing is held at all (one large command still goes).
    if (bounded && before + in_flight_bytes_ > 0 && before + in_flight_bytes_ + size > o_.max_queue) {
        pending_.resize(before);
        ++refused_;
        return false;
    }
    units_.push_back({size, o_.subscriber ? Reply{} : std::move(reply)});
    if (state_ == State::Up) flush();
    return true;
}

// Writes what may be written now: everything once up; only the handshake
// before. Commands wholly written move to in_flight_ (their replies come
// in that order).
void RedisConnection::flush() {
    if (!stream_ || units_.empty()) return;
    std::size_t allowed = pending_.size();
    if (state_ == State::Handshake) allowed = units_.front().handshake ? units_.front().size : 0;
    else if (state_ != State::Up) return;
    if (allowed <= front_written_) return;
    auto n = stream_->write(base::as_bytes(std::string_view(pending_).substr(front_written_, allowed - front_written_)));
    if (!n) {
        const auto why = "writing: " + n.error().message();
        // Reported from a safe point: we may be inside a caller's command().
        return loop_.defer([alive = std::weak_ptr<bool>(alive_), this, why] {
            if (alive.lock()) lost(why);
        });
    }
    std::size_t written = front_written_ + *n;
    std::size_t done = 0;
    while (!units_.empty() && units_.front().size <= written - done) {
        Unit& u = units_.front();
        done += u.size;
        if (!u.handshake && !o_.subscriber) {
            in_flight_bytes_ += u.size;
            in_flight_.push_back({u.size, std::move(u.reply)});
        }
        units_.pop_front();
    }
    pending_.erase(0, done);
    front_written_ = written - done;
    stream_->want_write(front_written_ < (state_ == State::Up ? pending_.size() : allowed - done));
}

void RedisConnection::on_writable() { flush(); }

void RedisConnection::on_read(base::MutableBytes data) {
    reader_.feed(data);
    while (state_ == State::Handshake || state_ == State::Up) {
        auto v = reader_.next();
        if (!v) break;
        on_reply(std::move(*v));
    }
    if (!reader_.error().empty() && (state_ == State::Handshake || state_ == State::Up))
        lost("a bad reply from the server: " + reader_.error());
}

void RedisConnection::on_reply(Value v) {
    if (state_ == State::Handshake) {
        // CLIENT SETNAME may be refused to a user the ACL limits: only a name.
        if (v.is_error() && !(v.text.starts_with("NOPERM") && handshake_replies_ == 2 && !o_.name.empty()))
            return lost("the server refused us: " + v.text);
        if (--handshake_replies_ > 0) return;
        state_ = State::Up;
        if (timer_) loop_.cancel_timer(timer_), timer_ = 0;
        backoff_ = std::chrono::milliseconds(0);
        last_error_.clear();
        first_failure_ = true;
        unanswered_pings_ = 0;
        ping_timer_ = loop_.add_timer(base::Clock::now() + o_.ping_every, [this] {
            ping_timer_ = 0;
            ping();
        });
        // What waited goes now, in the order it was given.
        flush();
        if (ev_.up) ev_.up();
        return;
    }
    if (o_.subscriber) {
        // PING in subscribed mode answers ["pong", ""]: ours, not the caller's.
        if (v.is_push("pong")) {
            unanswered_pings_ = 0;
            return;
        }
        if (ev_.push) ev_.push(v);
        return;
    }
    if (in_flight_.empty()) return lost("a reply to no command");
    InFlight f = std::move(in_flight_.front());
    in_flight_.pop_front();
    in_flight_bytes_ -= f.size;
    if (f.reply) f.reply(v);
}

// Every ping_every while up; the reply (after every earlier one: a busy
// but live server answers it too) clears the count.
void RedisConnection::ping() {
    if (state_ != State::Up) return;
    if (unanswered_pings_ >= 2)
        return lost("no answer to PING for " + std::to_string(2 * o_.ping_every.count()) + " ms");
    ++unanswered_pings_;
    std::weak_ptr<bool> alive = alive_;
    // Past the queue's bound if need be: a full queue is what it must tell apart (slow or dead).
    enqueue({"PING"}, [this, alive](const Value&) {
        if (alive.lock()) unanswered_pings_ = 0;
    }, false);
    ping_timer_ = loop_.add_timer(base::Clock::now() + o_.ping_every, [this] {
        ping_timer_ = 0;
        ping();
    });
}

void RedisConnection::on_eof() { lost("the server closed the connection"); }

void RedisConnection::on_error(std::error_code ec) { lost(ec.message()); }

void RedisConnection::lost(const std::string& why) {
    if (state_ == State::Idle || state_ == State::Waiting) return;
    state_ = State::Waiting;
    last_error_ = why;
    if (timer_) loop_.cancel_timer(timer_), timer_ = 0;
    if (ping_timer_) loop_.cancel_timer(ping_timer_), ping_timer_ = 0;
    if (stream_) {
        stream_->close();
        // Destroyed from a safe point: we may be inside one of its callbacks.
        loop_.defer([s = std::shared_ptr<runtime::Stream>(std::move(stream_))] {});
    }
    // Not wholly written: Redis discarded any part of them; they go again,
    // whole, on the next connection (the handshake is made anew there).
    front_written_ = 0;
    if (!units_.empty() && units_.front().handshake) {
        pending_.erase(0, units_.front().size);
        units_.pop_front();
    }
    // Written and not answered: they may or may not have run. Each caller hears of it.
    auto failed = std::move(in_flight_);
    in_flight_.clear();
    in_flight_bytes_ = 0;
    backoff_ = backoff_.count() == 0 ? o_.backoff_min : std::min(backoff_ * 2, o_.backoff_max);
    // ±20 % jitter: many nodes that lost one server do not all come back at once.
    static thread_local std::minstd_rand rng{std::random_device{}()};
    const auto jittered = std::chrono::milliseconds(
        static_cast<long long>(static_cast<double>(backoff_.count()) * (0.8 + 0.4 * static_cast<double>(rng() % 1000) / 1000.0)));
    timer_ = loop_.add_timer(base::Clock::now() + jittered, [this] {
        timer_ = 0;
        ++reconnects_;
        connect();
    });
    std::weak_ptr<bool> alive = alive_;
    Value err;
    err.kind = Value::Kind::Error;
    err.text = "connection lost: " + why;
    for (auto& f : failed) {
        if (f.reply) f.reply(err);
        if (!alive.lock()) return;
    }
    const bool first = first_failure_;
    first_failure_ = false;
    if (ev_.down) ev_.down(why, first);
}

}  // namespace duplex::detail
