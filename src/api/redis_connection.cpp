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
                                   connect_to(a.front());
                               });
}

void RedisConnection::connect_to(const runtime::Address& a) {
    auto s = runtime::TcpSocket::connect(loop_, a, this);
    if (!s) return lost("cannot connect: " + s.error().message());
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
    write(out);
}

bool RedisConnection::command(std::initializer_list<std::string_view> args, Reply reply) {
    return command(std::vector<std::string_view>(args), std::move(reply));
}

bool RedisConnection::command(const std::vector<std::string_view>& args, Reply reply) {
    std::string cmd;
    proto::redis::append_command(cmd, args);
    if (queued_bytes() + cmd.size() > o_.max_queue) {
        ++refused_;
        return false;
    }
    if (state_ == State::Up) {
        if (!o_.subscriber) in_flight_.push_back(std::move(reply));
        write(cmd);
    } else {
        waiting_ += cmd;
        if (!o_.subscriber) waiting_replies_.push_back(std::move(reply));
    }
    return true;
}

void RedisConnection::write(std::string_view bytes) {
    if (!stream_) return;
    if (!unwritten_.empty()) {
        unwritten_.append(bytes);
        return;
    }
    auto n = stream_->write(base::as_bytes(bytes));
    if (!n) {
        const auto why = "writing: " + n.error().message();
        // Reported from a safe point: we may be inside a caller's command().
        return loop_.defer([alive = std::weak_ptr<bool>(alive_), this, why] {
            if (alive.lock()) lost(why);
        });
    }
    if (*n < bytes.size()) {
        unwritten_.assign(bytes.substr(*n));
        stream_->want_write(true);
    }
}

void RedisConnection::flush() {
    if (!stream_ || unwritten_.empty()) return;
    auto n = stream_->write(base::as_bytes(unwritten_));
    if (!n) return lost("writing: " + n.error().message());
    unwritten_.erase(0, *n);
    stream_->want_write(!unwritten_.empty());
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
        if (v.is_error()) return lost("the server refused us: " + v.text);
        if (--handshake_replies_ > 0) return;
        state_ = State::Up;
        if (timer_) loop_.cancel_timer(timer_), timer_ = 0;
        backoff_ = std::chrono::milliseconds(0);
        last_error_.clear();
        first_failure_ = true;
        // What waited goes first, in the order it was given.
        std::string w = std::move(waiting_);
        waiting_.clear();
        for (auto& r : waiting_replies_) in_flight_.push_back(std::move(r));
        waiting_replies_.clear();
        if (!w.empty()) write(w);
        if (ev_.up) ev_.up();
        return;
    }
    if (o_.subscriber) {
        if (ev_.push) ev_.push(v);
        return;
    }
    if (in_flight_.empty()) return lost("a reply to no command");
    Reply r = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (r) r(v);
}

void RedisConnection::on_eof() { lost("the server closed the connection"); }

void RedisConnection::on_error(std::error_code ec) { lost(ec.message()); }

void RedisConnection::lost(const std::string& why) {
    if (state_ == State::Idle || state_ == State::Waiting) return;
    state_ = State::Waiting;
    last_error_ = why;
    if (timer_) loop_.cancel_timer(timer_), timer_ = 0;
    if (stream_) {
        stream_->close();
        // Destroyed from a safe point: we may be inside one of its callbacks.
        loop_.defer([s = std::shared_ptr<runtime::Stream>(std::move(stream_))] {});
    }
    unwritten_.clear();
    // Written and not answered: they may or may not have run. Each caller hears of it.
    auto failed = std::move(in_flight_);
    in_flight_.clear();
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
    for (auto& r : failed) {
        if (r) r(err);
        if (!alive.lock()) return;
    }
    const bool first = first_failure_;
    first_failure_ = false;
    if (ev_.down) ev_.down(why, first);
}

}  // namespace duplex::detail
