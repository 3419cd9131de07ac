// api/server_core.cpp: one loop's share of a WebSocketServer: its listener,
// its connections and its heartbeat sweep (its topics: api/server_topics.cpp).
#include "api/server_core.hpp"


#include "api/http_connection.hpp"
#include "base/log.hpp"
#include "proto/http/response_writer.hpp"
#include "proto/ws/frame.hpp"
#include "runtime/heap_trim.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace duplex::detail {

// ----------------------------------------------------------- ServerShared --

namespace {
bool matches(const std::string& pattern, std::string_view path) {
    if (!pattern.empty() && pattern.back() == '*')
        return path.substr(0, pattern.size() - 1) == std::string_view(pattern).substr(0, pattern.size() - 1);
    return path == pattern;
}
}  // namespace

const WebSocketRoute* ServerShared::find_route(std::string_view path) const {
    for (const auto& [pattern, route] : routes)
        if (matches(pattern, path)) return &route;
    if (default_route.on_connection || default_route.on_upgrade) return &default_route;
    return nullptr;
}

bool ServerShared::has_route(std::string_view path) const {
    return std::any_of(routes.begin(), routes.end(), [&](const auto& r) { return matches(r.first, path); });
}

bool ServerShared::admit(const std::string& ip, int& status) {
    // Take a slot atomically (loops admit concurrently), then the per-IP one.
    std::size_t now = open.load();
    do {
        if (options.max_connections > 0 && now >= options.max_connections) {
            status = 503;
            return false;
        }
    } while (!open.compare_exchange_weak(now, now + 1));
    if (options.max_connections_per_ip > 0) {
        std::lock_guard<std::mutex> lock(ip_mu);
        auto& n = per_ip[ip];
        if (n >= options.max_connections_per_ip) {
            if (n == 0) per_ip.erase(ip);
            open.fetch_sub(1);
            status = 429;
            return false;
        }
        ++n;
    }
    return true;
}

void ServerShared::release(const std::string& ip) {
    open.fetch_sub(1);
    if (options.max_connections_per_ip > 0) {
        std::lock_guard<std::mutex> lock(ip_mu);
        auto it = per_ip.find(ip);
        if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
    }
}

// ------------------------------------------------------------- ServerCore --

ServerCore::~ServerCore() {
    if (sweep_timer_) loop_.runtime().cancel_timer(sweep_timer_);
    if (shutdown_timer_) loop_.runtime().cancel_timer(shutdown_timer_);
    if (trim_timer_) loop_.runtime().cancel_timer(trim_timer_);
}

namespace {
// A trim walks the heap (about a millisecond for a few MiB): not for a few
// connections, and not while a storm is still going on.
constexpr std::size_t kTrimAfter = 256;
constexpr auto kTrimQuiet = std::chrono::milliseconds(200);
}  // namespace

void ServerCore::note_churn() {
    last_churn_ = loop_.runtime().now();
    if (++churn_ < kTrimAfter || trim_timer_) return;
    arm_trim(last_churn_ + kTrimQuiet);
}

void ServerCore::arm_trim(base::Instant at) {
    // Weak, like the sweep's: the last reference to a core may be dropped on
    // another thread (publish_everywhere), racing with this timer.
    std::weak_ptr<ServerCore> weak = weak_from_this();
    trim_timer_ = loop_.runtime().add_timer(at, [weak] {
        auto self = weak.lock();
        if (!self) return;
        self->trim_timer_ = 0;
        const auto quiet_from = self->last_churn_ + kTrimQuiet;
        if (self->loop_.runtime().now() < quiet_from) return self->arm_trim(quiet_from);  // still busy: later
        self->churn_ = 0;
        // The handshakes' table keeps the buckets the storm grew (~10 B per
        // connection of it) unless asked to shrink.
        self->http_.rehash(0);
        runtime::trim_heap();
    });
}

Status ServerCore::listen(const runtime::Address& addr, bool reuse_port, std::uint16_t& bound_port) {
    if (listener_) return Errc::invalid_state;
    runtime::TcpListener::Options lo;
    lo.reuse_port = reuse_port;
    std::weak_ptr<ServerCore> weak = weak_from_this();
    auto refuse = [weak](int fd, const runtime::Address& peer) {
        auto self = weak.lock();
        if (!self) return ::close(fd), void();
        ServerMetrics::add(self->shared_->metrics->descriptor_exhaustions);
        DUPLEX_LOG(Warn, "out of file descriptors: refused a connection from " << runtime::to_endpoint(peer).to_string()
                                                                            << " (raise the open-files limit)");
        self->refuse(fd, 503);
    };
    auto l = runtime::TcpListener::listen(
        loop_.runtime(), addr, lo,
        [weak](int fd, const runtime::Address& peer) {
            auto self = weak.lock();
            if (!self || self->closed_) {
                ::close(fd);
                return;
            }
            // Every connection takes a slot, plain HTTP ones too: idle
            // keep-alive connections must not get past --max-connections.
            int status = 0;
            const auto ip = runtime::to_endpoint(peer).ip.to_string();
            if (!self->shared_->admit(ip, status)) return self->refuse(fd, status);
            auto conn = std::make_shared<HttpConnection>(*self, fd, peer);
            self->http_.emplace(conn.get(), conn);
            conn->start();
        },
        refuse);
    if (!l) {
        if (l.error() == std::errc::address_in_use) return Errc::address_in_use;
        return l.error();
    }
    listener_ = std::move(l.value());
    bound_port = listener_->local_address().port();
    closed_ = false;
    // Heartbeats: one sweep per loop, not a timer per connection.
    const auto every = std::min(options_.ping_interval.count() > 0 ? options_.ping_interval : std::chrono::milliseconds::max(),
                                options_.idle_timeout.count() > 0 ? options_.idle_timeout : std::chrono::milliseconds::max());
    if (every != std::chrono::milliseconds::max()) {
        loop_.post([weak] {
            if (auto s = weak.lock()) s->sweep();
        });
    }
    return {};
}

void ServerCore::refuse(int fd, int status) {
    ServerMetrics::add(shared_->metrics->connections_refused);
    // A plain refusal, written once if the kernel takes it (no TLS: a TLS
    // client gets the connection closed).
    std::string answer;
    if (!shared_->tls) {
        const char* body = status == 503 ? "server full\n" : "too many connections from your address\n";
        answer = proto::http::write_simple_response(status, {{"Retry-After", "5"}, {"Connection", "close"}}, body);
    }
    runtime::refuse_connection(fd, base::as_bytes(answer));
}

void ServerCore::sweep() {
    if (closed_) return;
    const auto now = loop_.runtime().now();
    // A heartbeat may end a session, but it leaves the list only later (deferred).
    const proto::ws::KeepAlivePolicy policy{options_.ping_interval, options_.idle_timeout};
    for_each_session([&](Session& s) { s.heartbeat(now, policy); });
    auto tick = std::min(options_.ping_interval.count() > 0 ? options_.ping_interval : std::chrono::milliseconds(1000),
                         options_.idle_timeout.count() > 0 ? options_.idle_timeout : std::chrono::milliseconds(1000));
    tick = std::clamp(tick / 4, std::chrono::milliseconds(20), std::chrono::milliseconds(1000));
    std::weak_ptr<ServerCore> weak = weak_from_this();
    sweep_timer_ = loop_.runtime().add_timer(base::Clock::now() + tick, [weak] {
        if (auto s = weak.lock()) {
            s->sweep_timer_ = 0;
            s->sweep();
        }
    });
}

void ServerCore::close() {
    closed_ = true;
    if (listener_) listener_->close();
    listener_.reset();
    if (sweep_timer_) loop_.runtime().cancel_timer(sweep_timer_);
    sweep_timer_ = 0;
    auto http = http_;
    for (auto& [p, c] : http) c->close_now();
    for (auto& s : all_sessions()) (void)s->close(1001, "server shutting down");
}

void ServerCore::shutdown(base::Instant deadline, std::function<void()> done) {
    close();
    if (session_count_ == 0) {
        if (done) done();
        return;
    }
    on_drained_ = std::move(done);
    std::weak_ptr<ServerCore> weak = weak_from_this();
    shutdown_timer_ = loop_.runtime().add_timer(deadline, [weak] {
        auto self = weak.lock();
        if (!self) return;
        self->shutdown_timer_ = 0;
        // The deadline passed: whatever has not finished its close ends now.
        for (auto& s : self->all_sessions()) s->abort();
    });
}

void ServerCore::link(Session* s) noexcept {
    s->in_core_ = true;
    s->holds_slot_ = true;
    ++session_count_;
}

bool ServerCore::unlink(Session* s) noexcept {
    if (!s->in_core_) return false;  // not ours, or already gone
    s->in_core_ = false;
    --session_count_;
    return true;
}

std::vector<SessionRef> ServerCore::all_sessions() {
    std::vector<SessionRef> v;
    v.reserve(session_count_);
    for_each_session([&](Session& s) { v.emplace_back(&s); });
    return v;
}

void ServerCore::session_gone(Session* s) { (void)forget(s); }

bool ServerCore::forget(Session* s) {
    if (!unlink(s)) return false;
    drop_subscriptions(s);
    session_closing(s);
    return true;
}

void ServerCore::session_closing(Session* s) {
    if (!s->holds_slot_) return;
    s->holds_slot_ = false;
    shared_->release(s->remote_ip());
    shared_->metrics->connections_open.fetch_sub(1, std::memory_order_relaxed);
}

void ServerCore::session_done(Session* s) {
    if (!forget(s)) return;
    note_churn();
    if (session_count_ == 0 && on_drained_) {
        if (shutdown_timer_) loop_.runtime().cancel_timer(shutdown_timer_);
        shutdown_timer_ = 0;
        auto done = std::move(on_drained_);
        on_drained_ = nullptr;
        done();
    }
}

void ServerCore::http_done(HttpConnection* c) {
    auto it = http_.find(c);
    if (it == http_.end()) return;
    note_churn();
    // Destroy after the current callback returns.
    auto keep = std::move(it->second);
    http_.erase(it);
    loop_.runtime().defer([keep] {});
}

void ServerCore::on_open(Session& s, const WebSocketRoute* route, const HttpRequest& req) {
    link(&s);
    ServerMetrics::add(shared_->metrics->connections_total);
    ServerMetrics::add(shared_->metrics->connections_open);
    auto fn = route && route->on_connection ? route->on_connection : shared_->default_route.on_connection;
    if (fn) {
        WebSocket ws(&s);
        fn(ws, req);
    }
}

SessionContextRef ServerCore::session_context(const WebSocketRoute* route, const std::string& url) {
    if (route == nullptr) route = &shared_->default_route;
    auto& slot = contexts_[route];
    if (!slot) {
        slot = SessionContextRef(new SessionContext(weak_from_this(), shared_, *route, counters_, url));
    }
    return slot;
}

std::shared_ptr<proto::ws::Deflater> ServerCore::shared_deflater() {
    if (!shared_deflater_) {
        const auto& cfg = options_.per_message_deflate;
        shared_deflater_ = std::make_shared<proto::ws::Deflater>(cfg.max_window_bits, cfg.mem_level, cfg.level);
    }
    return shared_deflater_;
}

}  // namespace duplex::detail
