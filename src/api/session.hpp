// api/session.hpp: the body behind a duplex::WebSocket: one ws::Connection
// machine bound to one TCP socket on one loop. Server connections are handed
// an upgraded socket; client connections resolve, connect and do the opening
// handshake here first.
//
// Writes are corked while a read is being handled: every frame produced while
// handling one read (echoes, pongs, the close reply) leaves in one write.
#pragma once

#include <duplex/event_loop.hpp>
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/intrusive_ptr.hpp"
#include "proto/http/head_parser.hpp"
#include "proto/ws/connection.hpp"
#include "proto/ws/deflate.hpp"
#include "proto/ws/handshake.hpp"
#include "proto/ws/keepalive.hpp"
#include "runtime/address.hpp"
#include "runtime/loop.hpp"
#include "runtime/stream.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>

namespace duplex::detail {

proto::ws::DeflateConfig to_deflate_config(const PerMessageDeflate& o);
std::shared_ptr<runtime::TlsContext> client_tls_context(const ClientTlsOptions& o, std::string& why);

struct ServerMetrics;
struct LoopCounters;

class SessionOwner;

/// What the sessions of one route on one server loop have in common, held
/// once for all of them (memory per connection, decision 0013).
struct SessionContext {
    SessionContext(std::weak_ptr<SessionOwner> o, std::shared_ptr<const void> keep, const WebSocketRoute& r,
                   LoopCounters& c, std::string first_url)
        : owner(std::move(o)), keep_alive(std::move(keep)), route(r), counters(c), url(std::move(first_url)) {}
    std::weak_ptr<SessionOwner> owner;         // the loop's server core: topics, the end
    std::shared_ptr<const void> keep_alive;    // the server's shared state, which owns the two below
    const WebSocketRoute& route;
    LoopCounters& counters;                    // this loop's (written on its thread only)
    // The request target of the route's first connection: the sessions
    // whose target is the same (all of them, on a route with a fixed path
    // and no query) store none of their own.
    const std::string url;

    // Counted by its sessions (one pointer each, no control block).
    void retain() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() const noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

private:
    mutable std::atomic<std::uint32_t> refs_{0};
};
using SessionContextRef = base::IntrusivePtr<const SessionContext>;

/// The server side of a session: told when it ends, and the way to topics.
class SessionOwner {
public:
    virtual void session_done(Session* s) = 0;
    /// The session's socket is about to close: free its connection slot now,
    /// so that a peer that has seen the FIN may connect again at once.
    virtual void session_closing(Session* s) = 0;
    /// The session ends without a close (its loop is being destroyed): forget it.
    virtual void session_gone(Session* s) = 0;
    virtual bool subscribe(Session* s, const std::string& topic, const SubscribeOptions& options) = 0;
    virtual bool unsubscribe(Session* s, const std::string& topic) = 0;
    virtual void publish_from(Session* s, std::string_view topic, std::string_view data, bool binary) = 0;
    virtual std::shared_ptr<ServerMetrics> metrics() = 0;

protected:
    ~SessionOwner() = default;
};

class Session final : public runtime::Stream::Handler {
public:
    enum class Phase : std::uint8_t { Resolving, Connecting, Handshake, Open, Linger, Done };

    /// Server side: attach_server() queues the 101 response next. The
    /// transport is `sock` (TLS) or `tcp` (plain TCP: the session is its own
    /// socket, decision 0014), the other one empty. `context` (which keeps
    /// the server's shared state alive) gives the route-wide handlers, the
    /// server core and the counters; `url` is kept only when it is not the
    /// context's.
    Session(EventLoop& loop, std::unique_ptr<runtime::Stream> sock, runtime::TcpDescriptor tcp,
            proto::ws::Options options,
            std::string protocol, std::string extensions, std::string url, base::Endpoint remote,
            std::shared_ptr<proto::ws::Deflater> shared_deflater, SessionContextRef context);
    /// Client side: call start_client() next.
    Session(EventLoop& loop, std::string url, ClientOptions options);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    // From the block pool: sessions sit together, not between the
    // temporaries of handshakes (memory per idle connection, decision 0011).
    static void* operator new(std::size_t n) { return runtime::allocate_block(n); }
    static void operator delete(void* p, std::size_t n) noexcept { runtime::deallocate_block(p, n); }

    // The reference count behind WebSocket handles and SessionRef: intrusive,
    // so a session carries no control block and no weak count (decision 0013).
    // Any thread may hold a handle; the last release destroys the session.
    void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
    }

    /// Server: takes the socket over and queues `head` (the 101) first. What
    /// the application sends from on_connection is corked behind it until
    /// start_server() handles the bytes that followed the request and flushes.
    void attach_server(std::string_view head);
    void start_server(base::MutableBytes leftover);
    void start_client();

    SendResult send(base::Bytes data, bool binary);
    /// Sends a frame encoded once for many connections (pub/sub). `compressed`
    /// frames only go to sessions that accept shared compression.
    SendResult send_frame(base::Bytes frame);
    /// Fan-out (ServerCore::deliver): queues a message or an encoded frame
    /// without writing it. The first call in a loop iteration returns true in
    /// `joined`: the caller then calls end_batch() once after the iteration's
    /// events, and every message the session got in between leaves in one
    /// write (as uWebSockets' topic tree does), not one write each.
    SendResult send_batched(base::Bytes data, bool binary, bool encoded, bool& joined);
    /// Writes what send_batched() queued (see there).
    void end_batch();
    /// Whether a message compressed once without context may be sent here.
    bool accepts_shared_compression() const noexcept { return has_ws() && ws().accepts_shared_compression(); }
    bool uses_deflate() const noexcept { return has_ws() && ws().deflate_negotiated(); }

    // Topics (server side; loop thread).
    bool subscribe(const std::string& topic, const SubscribeOptions& options);
    bool unsubscribe(const std::string& topic);
    bool publish(std::string_view topic, std::string_view data, bool binary);
    /// Subscribed topics (server side): made on the first subscription.
    std::vector<std::string>& topics() { return negotiated().topics; }
    bool has_topics() const noexcept { return negotiated_ && !negotiated_->topics.empty(); }
    /// Heartbeat: pings a quiet peer, closes a silent one with 1001, as the
    /// policy says (proto/ws/keepalive.hpp). Called by the server's sweep
    /// and by a client's own timer.
    void heartbeat(base::Instant now, const proto::ws::KeepAlivePolicy& policy);
    /// The peer's address without the port (the per-address connection count's key).
    std::string remote_ip() const { return remote().ip.to_string(); }
    void set_backpressure(std::size_t max, BackpressurePolicy policy) noexcept {
        max_backpressure_ = clamp32(max);
        close_when_full_ = policy == BackpressurePolicy::Close;
    }
    void set_low_threshold(std::size_t bytes) noexcept { low_threshold_ = clamp32(bytes); }
    Status set_max_message_size(std::size_t bytes) {
        if (!has_ws() || phase_ != Phase::Open) return Errc::invalid_state;
        ws().set_size_limits(bytes, bytes);
        return {};
    }
    Status ping(base::Bytes payload);
    Status close(std::uint16_t code, std::string_view reason);
    /// Ends the connection now, without a handshake (process shutdown).
    void abort();

    ReadyState ready_state() const noexcept { return static_cast<ReadyState>(state_.load()); }
    std::size_t buffered_amount() const noexcept { return buffered_.load(std::memory_order_relaxed); }
    const std::string& protocol() const noexcept { return negotiated_ ? negotiated_->protocol : empty_string(); }
    const std::string& extensions() const noexcept { return negotiated_ ? negotiated_->extensions : empty_string(); }
    /// "ip:port" ("[v6]:port"); empty before a client has connected.
    std::string remote_address() const { return remote_port_ == 0 ? std::string() : remote().to_string(); }
    const std::string& url() const noexcept {
        if (negotiated_ && (client() || !negotiated_->url.empty())) return negotiated_->url;
        return context_ ? context_->url : empty_string();
    }
    EventLoop& loop() noexcept { return loop_; }
    /// Called on our loop's thread (inline: every send asks).
    bool on_loop_thread() noexcept { return loop_.runtime().in_loop_thread(); }
    /// The loop was destroyed (it ended us if we were still open): nothing
    /// may touch it any more. Set on the loop's thread as it dies.
    bool loop_gone() const noexcept { return loop_state_.load(std::memory_order_acquire) == kLoopGone; }
    /// The loop was destroyed before it ran the task that would have started
    /// us (a client connected from another thread): we never knew it.
    void loop_never_started() noexcept { loop_state_.store(kLoopGone, std::memory_order_release); }

    /// The application's per-connection handlers and data, made on first use:
    /// a connection whose route handles its messages (WebSocketRoute's
    /// on_message) carries none of this (memory per connection, decision 0011).
    struct Handlers {
        std::function<void()> open;
        WebSocket::MessageHandler message;
        WebSocket::CloseHandler close;
        WebSocket::ErrorHandler error;
        std::function<void(std::string_view)> ping;
        std::function<void(std::string_view)> pong;
        std::function<void()> drain;
        std::any user_data;
        /// The callbacks may hold handles to the session: dropped when it ends.
        void drop_callbacks() noexcept {
            open = nullptr;
            message = nullptr;
            close = nullptr;
            error = nullptr;
            ping = nullptr;
            pong = nullptr;
            drain = nullptr;
        }
    };
    Handlers& handlers() {
        if (!handlers_) handlers_ = std::make_unique<Handlers>();
        return *handlers_;
    }
    std::any& user_data() { return handlers().user_data; }

private:
    // runtime::Stream::Handler
    void on_read(base::MutableBytes data) override;
    void on_writable() override;
    void on_eof() override;
    void on_error(std::error_code ec) override;
    void on_connected(std::error_code ec) override;
    // runtime::Loop::IoHandler: the descriptor's events when we are our own socket.
    void on_io(std::uint32_t events) override { tcp_.on_io(rt(), this, events, *this); }

    // `corked`: queue only; the end of the read (or of the batch) writes.
    SendResult send_impl(base::Bytes data, bool binary, bool encoded, bool corked);
    SendResult queued_one(bool corked);  // after a frame was queued: count, flush or cork, report
    void connect_to(const runtime::Address& addr);
    void handle_handshake_bytes(base::MutableBytes data);
    void open_client(const proto::ws::ClientAccept& accepted, base::MutableBytes leftover);
    void feed(base::MutableBytes data);
    // The send budget (max_backpressure_) is spent: after a read, by replies
    // (Close policy: fail; Drop: stop reading until half of it has left);
    // at a send, Close policy.
    void over_budget_on_read();
    void fail_slow_consumer();
    // Before frames are queued: a send queue from the loop, if ours has no
    // buffer (flush() gives it back once everything is written).
    void lend_queue() noexcept { rt().lend_queue(ws().tx()); }
    // A command that failed queued nothing: the queue goes back at once.
    void give_back_queue() noexcept { rt().take_back_queue(ws().tx()); }
    void dispatch();
    void flush();
    void close_transport();
    void done();
    void arm_timer();
    void fail_before_open(std::error_code ec, const std::string& message);
    bool reconnect_later();   // client: schedules the next attempt; false when not to
    void arm_client_heartbeat();
    void report_closed(std::uint16_t code, std::string_view reason, std::error_code error, std::string_view why);

    runtime::Loop& rt() noexcept { return loop_.runtime(); }
    // The transport: sock_ or tcp_ (see the members).
    bool transport_open() const noexcept { return sock_ ? sock_->is_open() : tcp_.is_open(); }
    base::Result<std::size_t> transport_write(base::Bytes d) { return sock_ ? sock_->write(d) : tcp_.write(d); }
    base::Result<std::size_t> transport_writev(base::Bytes a, base::Bytes b) {
        return sock_ ? sock_->writev(a, b) : tcp_.writev(a, b);
    }
    void want_write(bool on) {
        if (sock_) sock_->want_write(on);
        else tcp_.want_write(rt(), this, on);
    }
    void pause_reading(bool paused) {
        if (sock_) sock_->pause_reading(paused);
        else tcp_.pause_reading(rt(), this, paused);
    }
    std::size_t transport_pending() const noexcept { return sock_ ? sock_->pending() : 0; }
    void close_socket() {
        if (sock_) sock_->close();
        tcp_.close(rt());
    }
    // The connection machine (ws_storage_), once made. Phase::Open implies
    // it (it is made before the phase is set, and destroyed after it left).
    bool has_ws() const noexcept { return ws_made_; }
    proto::ws::Connection& ws() noexcept {
        return *std::launder(reinterpret_cast<proto::ws::Connection*>(ws_storage_));
    }
    const proto::ws::Connection& ws() const noexcept {
        return *std::launder(reinterpret_cast<const proto::ws::Connection*>(ws_storage_));
    }
    void build_ws(proto::ws::Options options) {
        destroy_ws();
        ::new (static_cast<void*>(ws_storage_)) proto::ws::Connection(role_, std::move(options));
        ws_made_ = true;
    }
    void destroy_ws() noexcept {
        if (!ws_made_) return;
        ws_made_ = false;
        ws().~Connection();
    }
    // What most connections do without: a negotiated subprotocol or
    // extension, subscriptions, a request target of their own, the close
    // handshake's deadlines.
    static constexpr base::Instant kNoTimer = base::Instant::max();
    struct Negotiated {
        virtual ~Negotiated() = default;  // a client's is its ClientState
        std::string protocol;
        std::string extensions;
        std::shared_ptr<proto::ws::Deflater> shared_deflater;  // a loop's, kept alive while we use it
        std::vector<std::string> topics;
        std::string url;  // server: the request target, when not the context's; client: the URL
        base::Instant timer_at = kNoTimer;  // when timer_ fires, when it waits for a close deadline
    };
    Negotiated& negotiated() {
        if (!negotiated_) negotiated_ = std::make_unique<Negotiated>();
        return *negotiated_;
    }
    static const std::string& empty_string() noexcept;
    void set_state(ReadyState s) noexcept { state_.store(static_cast<std::uint8_t>(s)); }
    LoopCounters* counters() const noexcept { return context_ ? &context_->counters : nullptr; }
    std::shared_ptr<SessionOwner> owner() const noexcept {
        return context_ ? context_->owner.lock() : nullptr;
    }
    // Queue sizes and thresholds in 32 bits: a queue of 4 GiB is past any
    // sane limit (what is larger reads as 4 GiB - 1).
    static std::uint32_t clamp32(std::size_t n) noexcept {
        return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
    }
    // route_handle_, put back if a handler moved it away. Inline: it is
    // asked once per message.
    WebSocket& route_handle() {
        if (route_handle_.impl_ != this) route_handle_ = WebSocket(this);
        return route_handle_;
    }
    // runtime::Loop::Closer: the loop is destroyed, with us open or ended.
    void on_loop_closing() override;
    void hold_self();
    void release_self();
    // The last reference went: leave the loop's closer list (on its thread)
    // and free the session.
    void destroy() noexcept;
    // Written by the loop thread only, read from any: a plain store (a
    // sequentially consistent one is an xchg, on every message).
    void set_buffered(std::size_t n) noexcept { buffered_.store(clamp32(n), std::memory_order_relaxed); }
    void cancel_timer() noexcept;
    // Client-only state, kept out of server sessions (memory per connection):
    // a client's Negotiated block is this, so one pointer serves both.
    struct ClientState final : Negotiated {
        ClientOptions options;
        proto::ws::Options ws_options;
        proto::ws::ClientRequest request;
        std::optional<proto::http::HeadParser> response_parser;
        base::ByteQueue out;  // the upgrade request
        bool closed_by_user = false;
        std::size_t attempts = 0;  // consecutive attempts since the last open
        runtime::Loop::TimerId heartbeat_timer = 0;
        bool secure = false;
        std::string host;  // for SNI and certificate checks
    };
    ClientState* client() const noexcept {
        return role_ == proto::ws::Role::Client ? static_cast<ClientState*>(negotiated_.get()) : nullptr;
    }
    // The peer's address (remote_ip_, remote_port_, remote_v6_).
    base::Endpoint remote() const noexcept;
    void set_remote(const base::Endpoint& e) noexcept;
    // A server core counts its open sessions (in_core_) and finds them in
    // the loop's closer list by their key (decision 0014): the core's
    // counters, which our context keeps alive, so no later core can have the
    // same key while we live (a core's own address could be reused by the
    // next one while sessions of the last are still held).
    friend class ServerCore;
    const void* closer_key() const noexcept override {
        return in_core_ && context_ ? static_cast<const void*>(&context_->counters) : nullptr;
    }

    // The data, ordered to leave no padding (224 bytes; memory per
    // connection, decisions 0011, 0013, 0014).
    EventLoop& loop_;
    // The transport. A server session on plain TCP is its own socket: it
    // holds the descriptor and the loop tells it of its events (no socket
    // object, decision 0014). TLS and client connections use a Stream.
    std::unique_ptr<runtime::Stream> sock_;
    runtime::TcpDescriptor tcp_;
    std::uint32_t low_threshold_ = 0;  // clamped to 32 bits (clamp32())
    // The connection machine, made in place when the connection opens (a
    // server's at once, a client's after its handshake, again after each
    // reconnection). Whether it is made is a bit among the flags below:
    // std::optional's flag would take 8 bytes (decision 0014).
    alignas(proto::ws::Connection) std::byte ws_storage_[sizeof(proto::ws::Connection)];
    std::unique_ptr<Negotiated> negotiated_;
    std::unique_ptr<Handlers> handlers_;
    // Server side only: the route's handlers, the server core, the counters.
    SessionContextRef context_;
    // The route's handlers get this handle by reference: no reference count
    // to touch per message. A handler may move or reassign it: it is put
    // back here before the next message.
    WebSocket route_handle_;
    // One timer at a time, by phase: the handshake's or a reconnection's
    // (client, before open), the close handshake's deadlines (open), the
    // lingering close's (server, after).
    runtime::Loop::TimerId timer_ = 0;
    // When the peer last sent anything and when we last pinged it (the
    // rule is proto/ws/keepalive.hpp's, tested on virtual time).
    proto::ws::KeepAlive keepalive_{base::Instant{}};
    // Clamped to 32 bits (clamp32()).
    std::atomic<std::uint32_t> buffered_{0};
    std::uint32_t max_backpressure_ = 16u << 20;
    std::atomic<std::uint32_t> refs_{0};  // see retain()
    // The peer's address in 18 bytes and a bit (remote()): for
    // remote_address(), the per-address count and the log.
    std::uint16_t remote_port_ = 0;
    std::array<std::uint8_t, 16> remote_ip_{};  // IPv4 in the first 4
    // The small ones together.
    proto::ws::Role role_;
    // ReadyState in a byte: written on the loop thread, read from any.
    std::atomic<std::uint8_t> state_{static_cast<std::uint8_t>(ReadyState::Connecting)};
    Phase phase_ = Phase::Resolving;
    bool close_when_full_ = true;  // BackpressurePolicy::Close (else Drop)
    // Whether our loop lives, and the hand-over when the last handle goes
    // on another thread while the loop may be dying there: destroy() marks
    // kFreeingElsewhere before it touches the loop, and the dying loop waits
    // for kFreePosted before it goes on (on_loop_closing).
    enum : std::uint8_t { kLoopAlive, kFreeingElsewhere, kFreePosted, kLoopGone };
    std::atomic<std::uint8_t> loop_state_{kLoopAlive};
    bool in_read_ = false;
    bool write_blocked_ = false;   // the kernel did not take everything last time
    bool drain_armed_ = false;     // fire on_drain when the buffer falls to low_threshold_
    // Written a few times in a connection's life: bits.
    // A connection lives until it is done, whether or not the application
    // keeps a handle: the loop's registrations point at it. held_: we hold
    // one reference on our own behalf (from attach_server/start_client to
    // the end).
    bool held_ : 1 = false;
    // In the loop's closer list from hold_self() until destroyed, done or
    // not: a handle kept past the loop must learn that it is gone.
    bool closer_linked_ : 1 = false;
    bool abandon_tx_ : 1 = false;      // the close handshake timed out: drop what is queued
    bool flush_deadline_ : 1 = false;  // a timer bounds the wait for the last frames
    bool close_reported_ : 1 = false;
    bool ws_made_ : 1 = false;         // see has_ws()
    bool remote_v6_ : 1 = false;
    bool in_core_ : 1 = false;         // counted by the server core as open (ServerCore::link)
    bool holds_slot_ : 1 = false;      // holds a connection slot (--max-connections), until it closes
    bool read_paused_ : 1 = false;     // reading stopped: over budget (Drop), or closing with data queued
    bool batched_ : 1 = false;         // holds fan-out deliveries until end_batch()
};

#if defined(__x86_64__) && defined(__GLIBCXX__)
// Where it was measured (decision 0014): a member added or moved shows here.
static_assert(sizeof(Session) == 224, "Session: see the order of its members (memory per connection)");
#endif

static_assert(sizeof(Session) <= runtime::BlockPool::kMaxBlock && alignof(Session) <= runtime::BlockPool::kAlign,
              "Session must fit a pool block");

/// A counted reference to a Session, for the library's own use (timers,
/// deferred work); WebSocket is the application's.
using SessionRef = base::IntrusivePtr<Session>;

}  // namespace duplex::detail
