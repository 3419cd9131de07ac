// duplex/websocket_server.hpp: a WebSocket server with per-path routes, an
// upgrade hook, and a plain HTTP handler (static files) on the same port.
//
//   duplex::EventLoop loop;
//   duplex::WebSocketServer server(loop, {.port = 8080});
//   server.on_connection([](duplex::WebSocket& ws, const duplex::HttpRequest&) {
//       ws.on_message([ws](std::string_view msg, bool) mutable { (void)ws.send(msg); });
//       (void)ws.send("Hello, client!");
//   });
//   if (auto st = server.listen(); !st) { /* st.message() */ }
//   loop.run();
#pragma once

#include <duplex/event_loop.hpp>
#include <duplex/http.hpp>
#include <duplex/status.hpp>
#include <duplex/websocket.hpp>

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace duplex {

namespace detail {
class ServerCore;
class HttpConnection;
struct ServerShared;
}

/// TLS for a server (wss://): PEM files; the certificate file may hold the
/// chain. TLS 1.2 and 1.3 only, ALPN http/1.1.
struct ServerTlsOptions {
    std::string cert_file;
    std::string key_file;
    bool enabled() const noexcept { return !cert_file.empty(); }
};

struct ServerOptions {
    std::string host = "127.0.0.1";                  ///< numeric IPv4/IPv6 address to bind
    std::uint16_t port = 8080;                       ///< 0: pick a free port (see port())
    std::size_t max_message_size = 16u << 20;        ///< larger messages close with 1009 (at most 4 GiB - 1)
    std::size_t max_frame_size = 16u << 20;          ///< larger frames close with 1009 (at most 4 GiB - 1)
    std::size_t max_header_bytes = 16u << 10;        ///< larger request heads get 431
    std::size_t max_headers = 100;                   ///< more header fields get 431
    PerMessageDeflate per_message_deflate;           ///< accepted from clients that offer it, when enabled
    /// A connection with more than this queued (a client that does not read)
    /// gets the backpressure policy on its next send: closed with 1008, or
    /// the message dropped. Memory per connection stays bounded either way.
    /// At most 4 GiB - 1 (larger values mean that).
    std::size_t max_backpressure = 16u << 20;
    BackpressurePolicy backpressure_policy = BackpressurePolicy::Close;
    std::chrono::milliseconds handshake_timeout{10000};  ///< a request head must arrive by then
    std::chrono::milliseconds close_timeout{5000};   ///< wait for the peer's Close this long
    std::chrono::milliseconds keep_alive_timeout{30000};  ///< idle plain-HTTP connections
    /// Heartbeat: a connection quiet this long gets a ping (0: never; at
    /// most 49 days, longer means that).
    std::chrono::milliseconds ping_interval{30000};
    /// A connection that sent nothing (not even a pong) this long is closed
    /// with 1001 "idle timeout" (0: never; at most 49 days, as above).
    std::chrono::milliseconds idle_timeout{120000};
    /// Connections at once, plain HTTP and WebSocket alike; more get 503 and
    /// are closed as they are accepted (0: no limit).
    std::size_t max_connections = 0;
    /// Connections at once from one IP address, HTTP and WebSocket; more get
    /// 429 (0: no limit; duplex-server sets 256).
    std::size_t max_connections_per_ip = 0;
    /// Subprotocols this server speaks, in its order of preference; the first
    /// one the client also offers is chosen (unless on_upgrade decides).
    std::vector<std::string> protocols;
    /// Return false to refuse the handshake with 403 (RFC 6455 §10.2). The
    /// argument is the Origin header, "" when absent.
    std::function<bool(std::string_view origin)> origin_check;
    /// Serve files from this directory for plain GET/HEAD requests ("": none).
    std::string static_dir;
    /// Serve hidden files too (a path segment starting with '.': .git, .env).
    /// Off: they are 404, like files that do not exist.
    bool serve_hidden_files = false;
    /// Serve wss:// (and https://) instead of ws://.
    ServerTlsOptions tls;
    /// Share topics with every server that names the same Redis
    /// (docs/scaling.md): redis://[[user]:password@]host[:port][/db],
    /// rediss://... (TLS), or unix:///path[?db=N]. "" (the default): this
    /// process only. Local subscribers get a message at once; the other
    /// nodes through Redis. Redis down: local delivery goes on.
    std::string redis;
    std::string redis_tls_ca_file;            ///< rediss://: trust these CAs instead of the system store
    /// History (docs/scaling.md): each topic keeps its last `history_size`
    /// messages with increasing offsets (0: none), so that a connection that
    /// subscribes with SubscribeOptions::since gets what it missed. With
    /// `redis`, the history is in Redis and shared by every node. A topic
    /// idle for `history_ttl` is forgotten; in one process, all topics
    /// together keep at most `history_max_bytes`.
    std::size_t history_size = 0;
    std::chrono::seconds history_ttl{300};
    std::size_t history_max_bytes = 64u << 20;
    /// Bytes of messages held for Redis while it is slow or down; beyond,
    /// messages are not sent to the other nodes (counted in duplex_redis_dropped_total).
    std::size_t redis_max_queue = 8u << 20;
};

/// Decides an upgrade request, now or later. Copyable; the first accept() or
/// reject() wins, later calls do nothing. May be called from any thread.
class UpgradeResponder {
public:
    /// Completes the handshake; `protocol` must be one the client offered ("": none).
    void accept(std::string protocol = {}, std::any user_data = {}, std::vector<HttpHeader> headers = {});
    /// Refuses with any status (e.g. 401, 403) and optional headers and body.
    void reject(int status, std::string body = {}, std::vector<HttpHeader> headers = {});
    /// The subprotocols the client offered, in its order.
    const std::vector<std::string>& offered_protocols() const;

    explicit UpgradeResponder(std::shared_ptr<detail::HttpConnection> conn, std::vector<std::string> offered)
        : conn_(std::move(conn)), offered_(std::move(offered)) {}

private:
    std::weak_ptr<detail::HttpConnection> conn_;
    std::vector<std::string> offered_;
};

/// What happens on one path. Unset handlers fall back to the server's.
struct WebSocketRoute {
    /// Sees the whole request; must call accept() or reject() on the responder,
    /// now or later. Unset: accept (after the origin check and protocol choice).
    std::function<void(const HttpRequest&, UpgradeResponder)> on_upgrade;
    std::function<void(WebSocket&, const HttpRequest&)> on_connection;
    /// Route-wide handlers (uWebSockets' "behavior"): one function for every
    /// connection of the route, given the connection as its first argument,
    /// so a connection carries no handler of its own (memory per connection).
    /// A connection's own ws.on_message()/ws.on_close() takes precedence.
    /// The WebSocket& is the connection's handle for this call: copy it to
    /// keep the connection (as with any handle); reassigning it is harmless.
    std::function<void(WebSocket&, std::string_view data, bool is_binary)> on_message = nullptr;
    std::function<void(WebSocket&, std::uint16_t code, std::string_view reason)> on_close = nullptr;
    /// This route's limits, tighter (or looser) than the server's; 0: the
    /// server's. A message (or frame) over max_message_size is refused with
    /// 1009 at its frame header, before its payload is buffered;
    /// max_backpressure as in ServerOptions. A connection may change its own
    /// later (WebSocket::set_max_message_size, e.g. once it authenticated).
    std::size_t max_message_size = 0;
    std::size_t max_backpressure = 0;
};

/// @par Thread safety
/// Construct, configure (routes, add_loop) and listen() before the loops run
/// or on the first loop's thread. Callbacks run on the thread of the loop
/// that owns the connection: with several loops, handlers run concurrently
/// on several threads. publish(), close(), shutdown(), connection_count()
/// and metrics_text() may be called from any thread.
class WebSocketServer {
public:
    using ConnectionHandler = std::function<void(WebSocket&, const HttpRequest&)>;
    using UpgradeHandler = std::function<void(const HttpRequest&, UpgradeResponder)>;
    /// Return true when the request was answered; false falls through to the
    /// static files and then 404.
    using HttpHandler = std::function<bool(const HttpRequest&, HttpResponse&)>;

    explicit WebSocketServer(EventLoop& loop, ServerOptions options = {});
    ~WebSocketServer();
    WebSocketServer(const WebSocketServer&) = delete;
    WebSocketServer& operator=(const WebSocketServer&) = delete;

    /// Serves on one more loop (one per thread, for several cores): each loop
    /// gets its own SO_REUSEPORT listener and keeps its connections. Before listen().
    WebSocketServer& add_loop(EventLoop& loop);

    /// Binds and listens on every loop. Errc::tls_failed (with the reason in
    /// message()) for a certificate or key that cannot be used; Errc::address_in_use when the port
    /// is taken (also by another process that set SO_REUSEPORT: the port is
    /// checked before sharing it), Errc::invalid_argument for a host that is
    /// not a numeric address or a Redis URL that cannot be used (the reason in message()).
    Status listen();
    /// The bound port (the real one after listen() with port 0).
    std::uint16_t port() const noexcept;

    /// WebSocket handlers for a path: "/echo" (exact) or "/pubsub/*" (prefix).
    /// A plain GET on a WebSocket path gets 426 Upgrade Required.
    WebSocketServer& route(std::string path, WebSocketRoute route);
    /// Default handlers, for WebSocket requests on any path without a route.
    WebSocketServer& on_connection(ConnectionHandler fn);
    WebSocketServer& on_upgrade(UpgradeHandler fn);
    /// Plain (non-upgrade) requests, before the static files.
    WebSocketServer& on_http(HttpHandler fn);

    /// Sends a message to every connection subscribed to `topic`
    /// (WebSocket::subscribe), on every loop. The frame is encoded once, and
    /// compressed at most once per loop for subscribers that can share it.
    void publish(std::string_view topic, std::string_view data, bool is_binary = false);

    /// Stops listening and closes every connection with 1001 (going away).
    void close();
    /// Graceful stop: no more accepts, close 1001 to every client, queued
    /// messages drain; `done` runs (on the first loop's thread) once every
    /// connection has ended, or when `drain_timeout` has passed.
    void shutdown(std::chrono::milliseconds drain_timeout, std::function<void()> done);
    /// Open WebSocket connections, on all loops.
    std::size_t connection_count() const noexcept;
    /// Counters in the Prometheus text format (connections, messages and
    /// bytes in and out, failed handshakes, closes by code, backpressure drops).
    std::string metrics_text() const;
    /// With ServerOptions::redis: "up", or "down: <why>" (any thread); "" without.
    std::string redis_status() const;
    EventLoop& loop() noexcept;

private:
    friend class SignalingServer;  // rooms across nodes use the server's Redis (docs/scaling.md)
    void on_home(std::function<void()> fn);  // runs fn on the first loop's thread
    void stop_bus();
    std::shared_ptr<detail::ServerShared> shared_;
    std::vector<std::shared_ptr<detail::ServerCore>> cores_;
    std::uint16_t port_ = 0;
    bool bus_started_ = false;
};

}  // namespace duplex
