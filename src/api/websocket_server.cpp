// api/websocket_server.cpp: the public WebSocketServer and UpgradeResponder.
#include <duplex/websocket_server.hpp>

#include "api/http_connection.hpp"
#include "api/redis_bus.hpp"
#include "api/topic_history.hpp"
#include "api/server_core.hpp"
#include "api/server_metrics.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

#include <atomic>

namespace duplex {

// ------------------------------------------------------ UpgradeResponder --

void UpgradeResponder::accept(std::string protocol, std::any user_data, std::vector<HttpHeader> headers) {
    auto conn = conn_.lock();
    if (!conn) return;
    conn->on_loop([conn, p = std::move(protocol), d = std::move(user_data), h = std::move(headers)]() mutable {
        conn->accept_upgrade(std::move(p), std::move(d), std::move(h));
    });
}

void UpgradeResponder::reject(int status, std::string body, std::vector<HttpHeader> headers) {
    auto conn = conn_.lock();
    if (!conn) return;
    conn->on_loop([conn, status, b = std::move(body), h = std::move(headers)]() mutable {
        conn->reject_upgrade(status, std::move(b), std::move(h));
    });
}

const std::vector<std::string>& UpgradeResponder::offered_protocols() const { return offered_; }

// ------------------------------------------------------- WebSocketServer --

namespace {
/// Runs fn(core) on each core's loop: now for the calling thread's, posted for the others.
template <class Fn>
void on_each(const std::vector<std::shared_ptr<detail::ServerCore>>& cores, Fn fn) {
    for (const auto& core : cores) {
        if (core->loop_.in_loop_thread()) fn(core);
        else core->loop_.post([core, fn] { fn(core); });
    }
}
}  // namespace

WebSocketServer::WebSocketServer(EventLoop& loop, ServerOptions options)
    : shared_(std::make_shared<detail::ServerShared>()) {
    shared_->options = std::move(options);
    cores_.push_back(std::make_shared<detail::ServerCore>(loop, shared_));
}

WebSocketServer::~WebSocketServer() {
    stop_bus();
    // Connections may outlive the server object (the application holds
    // handles); they only keep a weak reference to their core.
    on_each(cores_, [](const std::shared_ptr<detail::ServerCore>& c) { c->close(); });
}

WebSocketServer& WebSocketServer::add_loop(EventLoop& loop) {
    cores_.push_back(std::make_shared<detail::ServerCore>(loop, shared_));
    return *this;
}

Status WebSocketServer::listen() {
    auto addr = runtime::Address::parse(shared_->options.host, shared_->options.port);
    if (!addr) return Errc::invalid_argument;
    proto::redis::ServerUrl url;
    if (std::string why; !shared_->options.redis.empty() && !proto::redis::parse_server_url(shared_->options.redis, url, why))
        return Status(make_error_code(Errc::invalid_argument), "redis: " + why);
    shared_->cores.assign(cores_.begin(), cores_.end());
    if (shared_->options.tls.enabled() && !shared_->tls) {
        std::string why;
        auto ctx = runtime::TlsContext::server(shared_->options.tls.cert_file, shared_->options.tls.key_file, why);
        if (!ctx) return Status(ctx.error(), why);
        shared_->tls = std::move(ctx.value());
    }
    const bool several = cores_.size() > 1;
    if (several && addr->port() != 0) {
        // SO_REUSEPORT would let us share a port with a stranger who set it
        // too: make sure nobody holds it first.
        if (auto ec = runtime::probe_bind(*addr)) {
            if (ec == std::errc::address_in_use) return Errc::address_in_use;
            return ec;
        }
    }
    // History in this process (without Redis; with it, Redis keeps it).
    if (shared_->options.history_size > 0) {
        shared_->metrics->history_configured.store(true);
        if (shared_->options.redis.empty() && !shared_->history)
            shared_->history = std::make_unique<detail::TopicHistory>(
                shared_->options.history_size, shared_->options.history_ttl, shared_->options.history_max_bytes);
    }
    // The bus exists before any connection does (cores read it when a topic
    // gets its first subscriber); it connects once listening.
    if (!shared_->options.redis.empty() && !shared_->bus)
        shared_->bus = std::make_shared<detail::RedisBus>(cores_[0]->loop_.runtime(), *shared_, url,
                                                          shared_->options.redis_tls_ca_file,
                                                          shared_->options.redis_max_queue);
    std::uint16_t bound = 0;
    if (Status st = cores_[0]->listen(*addr, several, bound); !st) return st;
    auto shared_addr = runtime::Address::parse(shared_->options.host, bound);
    for (std::size_t i = 1; i < cores_.size(); ++i) {
        std::uint16_t p = 0;
        if (Status st = cores_[i]->listen(*shared_addr, true, p); !st) {
            on_each(cores_, [](const std::shared_ptr<detail::ServerCore>& c) { c->close(); });
            return st;
        }
    }
    port_ = bound;
    if (auto bus = shared_->bus; bus && !bus_started_) {
        bus_started_ = true;
        on_home([bus, users = shared_->bus_users] {
            for (const auto& use : users) use(bus);
            bus->start();
        });
    }
    return {};
}

void WebSocketServer::on_home(std::function<void()> fn) {
    auto& home = cores_[0]->loop_;
    if (home.in_loop_thread()) fn();
    else home.post(std::move(fn));
}

void WebSocketServer::stop_bus() {
    if (auto bus = shared_->bus) on_home([bus] { bus->stop(); });
}

std::string WebSocketServer::redis_status() const {
    if (!shared_->metrics->redis_configured.load()) return {};
    std::lock_guard lock(shared_->metrics->redis_mu);
    return shared_->metrics->redis_status.empty() ? "down (connecting)" : shared_->metrics->redis_status;
}

std::uint16_t WebSocketServer::port() const noexcept { return port_; }

WebSocketServer& WebSocketServer::route(std::string path, WebSocketRoute route) {
    shared_->routes.emplace_back(std::move(path), std::move(route));
    return *this;
}

WebSocketServer& WebSocketServer::on_connection(ConnectionHandler fn) {
    shared_->default_route.on_connection = std::move(fn);
    return *this;
}

WebSocketServer& WebSocketServer::on_upgrade(UpgradeHandler fn) {
    shared_->default_route.on_upgrade = std::move(fn);
    return *this;
}

WebSocketServer& WebSocketServer::on_http(HttpHandler fn) {
    shared_->on_http = std::move(fn);
    return *this;
}

void WebSocketServer::publish(std::string_view topic, std::string_view data, bool is_binary) {
    detail::publish_everywhere(*shared_, topic, data, is_binary, nullptr);
}

void WebSocketServer::close() {
    stop_bus();
    on_each(cores_, [](const std::shared_ptr<detail::ServerCore>& c) { c->close(); });
}

void WebSocketServer::shutdown(std::chrono::milliseconds drain_timeout, std::function<void()> done) {
    const auto deadline = base::Clock::now() + drain_timeout;
    auto remaining = std::make_shared<std::atomic<std::size_t>>(cores_.size());
    auto first = cores_[0];
    auto finish = std::make_shared<std::function<void()>>(std::move(done));
    on_each(cores_, [deadline, remaining, first, finish](const std::shared_ptr<detail::ServerCore>& c) {
        c->shutdown(deadline, [remaining, first, finish] {
            if (remaining->fetch_sub(1) != 1 || !*finish) return;
            if (first->loop_.in_loop_thread()) (*finish)();
            else first->loop_.post([finish] { (*finish)(); });
        });
    });
}

std::size_t WebSocketServer::connection_count() const noexcept {
    return static_cast<std::size_t>(shared_->metrics->connections_open.load(std::memory_order_relaxed));
}

std::string WebSocketServer::metrics_text() const { return shared_->metrics->prometheus_text(); }

EventLoop& WebSocketServer::loop() noexcept { return cores_[0]->loop_; }

}  // namespace duplex
