// api/server_core.cpp: one loop's share of a WebSocketServer: its listener,
// its connections, its topic subscriptions and its heartbeat sweep.
#include "api/server_core.hpp"

#include "api/redis_bus.hpp"

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
    if (s->has_topics()) {
        for (const auto& topic : s->topics()) {
            auto t = topics_.find(topic);
            if (t == topics_.end()) continue;
            auto& v = t->second;
            v.erase(std::remove(v.begin(), v.end(), s), v.end());
            if (v.empty()) {
                topics_.erase(t);
                topic_removed(topic);
            }
        }
        s->topics().clear();
    }
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

bool ServerCore::subscribe(Session* s, const std::string& topic) {
    auto& topics = s->topics();
    if (std::find(topics.begin(), topics.end(), topic) != topics.end()) return false;
    topics.push_back(topic);
    auto& v = topics_[topic];
    if (v.empty()) topic_added(topic);
    v.push_back(s);
    return true;
}

bool ServerCore::unsubscribe(Session* s, const std::string& topic) {
    if (!s->has_topics()) return false;
    auto& topics = s->topics();
    auto it = std::find(topics.begin(), topics.end(), topic);
    if (it == topics.end()) return false;
    topics.erase(it);
    auto t = topics_.find(topic);
    if (t != topics_.end()) {
        auto& v = t->second;
        v.erase(std::remove(v.begin(), v.end(), s), v.end());
        if (v.empty()) {
            topics_.erase(t);
            topic_removed(topic);
        }
    }
    return true;
}

void ServerCore::topic_added(const std::string& topic) {
    if (shared_->bus) shared_->bus->topic_added(topic);
}

void ServerCore::topic_removed(const std::string& topic) {
    if (shared_->bus) shared_->bus->topic_removed(topic);
}

namespace {
std::shared_ptr<Published> encode(std::string_view topic, std::string_view data, bool binary, const Session* exclude) {
    auto msg = std::make_shared<Published>();
    msg->topic.assign(topic);
    msg->payload.assign(data);
    msg->binary = binary;
    msg->exclude = exclude;
    // The frame is written once per publish, whatever the number of subscribers.
    msg->frame.resize(proto::ws::kMaxHeaderLen + data.size());
    auto* out = reinterpret_cast<std::byte*>(msg->frame.data());
    const auto hlen = proto::ws::write_frame_header(out, true, binary ? proto::ws::Opcode::Binary : proto::ws::Opcode::Text,
                                                    data.size(), nullptr);
    if (!data.empty()) std::memcpy(out + hlen, data.data(), data.size());
    msg->frame.resize(hlen + data.size());
    return msg;
}
}  // namespace

namespace {
void to_every_core(ServerShared& shared, const std::shared_ptr<Published>& msg) {
    for (auto& weak : shared.cores) {
        auto core = weak.lock();
        if (!core) continue;
        if (core->loop_.in_loop_thread()) core->deliver(*msg);
        else core->loop_.post([core, msg] { core->deliver(*msg); });
    }
}
}  // namespace

void publish_everywhere(ServerShared& shared, std::string_view topic, std::string_view data, bool binary,
                        const Session* exclude) {
    ServerMetrics::add(shared.metrics->published);
    to_every_core(shared, encode(topic, data, binary, exclude));
    if (shared.bus) shared.bus->publish(topic, data, binary);
}

void deliver_everywhere(ServerShared& shared, std::string_view topic, std::string_view data, bool binary) {
    to_every_core(shared, encode(topic, data, binary, nullptr));
}

void ServerCore::publish_from(Session* s, std::string_view topic, std::string_view data, bool binary) {
    publish_everywhere(*shared_, topic, data, binary, s);
}

void ServerCore::deliver(const Published& msg) {
    auto it = topics_.find(msg.topic);
    if (it == topics_.end()) return;
    // Sends run no user code and never unsubscribe synchronously (a closed
    // session leaves its topics when it is done, after this dispatch), so the
    // list is stable while we walk it.
    const auto& subscribers = it->second;
    const auto& cfg = options_.per_message_deflate;
    bool compressed_ready = false;
    bool compressed_ok = false;
    // Every delivery is queued, not written: a subscriber that gets several
    // messages in this iteration (a busy publisher's read holds many) has
    // them all written in one call by end_batch(), after the events.
    auto queue = [this](Session* s, base::Bytes data, bool binary, bool encoded) {
        bool joined = false;
        (void)s->send_batched(data, binary, encoded, joined);
        if (joined) batch_.emplace_back(s);
    };
    for (Session* s : subscribers) {
        if (s == msg.exclude) continue;
        if (!s->uses_deflate() || msg.payload.size() < cfg.threshold) {
            queue(s, base::as_bytes(msg.frame), msg.binary, true);
        } else if (s->accepts_shared_compression()) {
            // Compressed once per loop for every subscriber that resets its
            // context per message: the same bytes are valid for all of them.
            if (!compressed_ready) {
                compressed_ready = true;
                std::vector<std::byte> z;
                compressed_ok = shared_deflater()->compress(base::as_bytes(msg.payload), true, z);
                if (compressed_ok) {
                    compressed_.resize(proto::ws::kMaxHeaderLen + z.size());
                    const auto hlen = proto::ws::write_frame_header(
                        compressed_.data(), true, msg.binary ? proto::ws::Opcode::Binary : proto::ws::Opcode::Text,
                        z.size(), nullptr, 0x4);
                    std::memcpy(compressed_.data() + hlen, z.data(), z.size());
                    compressed_.resize(hlen + z.size());
                }
            }
            if (compressed_ok) queue(s, compressed_, msg.binary, true);
            else queue(s, base::as_bytes(msg.frame), msg.binary, true);
        } else {
            // Context takeover: only this connection's own compressor will do.
            queue(s, base::as_bytes(msg.payload), msg.binary, false);
        }
    }
    if (!batch_.empty() && !batch_armed_) {
        batch_armed_ = true;
        loop_.runtime().defer([self = shared_from_this()] { self->end_batch(); });
    }
}

void ServerCore::end_batch() {
    batch_armed_ = false;
    // end_batch() runs no user code (errors are reported from a later safe
    // point), so nothing joins the batch while it is written.
    for (auto& s : batch_) s->end_batch();
    batch_.clear();
}

std::size_t ServerCore::subscribers(const std::string& topic) const {
    auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.size();
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
