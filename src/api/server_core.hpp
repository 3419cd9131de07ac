// api/server_core.hpp: the body of a WebSocketServer. One ServerCore per
// loop (a server may span several loops, one per thread, each with its own
// SO_REUSEPORT listener); what they share — options, routes, counters, the
// connection limits — is a ServerShared. A connection never leaves its core.
#pragma once

#include <duplex/websocket_server.hpp>

#include "api/server_metrics.hpp"
#include "api/session.hpp"
#include "proto/ws/deflate.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace duplex::detail {

class HttpConnection;
class RedisBus;
class ServerCore;
class TopicHistory;
struct Recovery;

/// A message published to a topic: encoded once, delivered by every core.
struct Published {
    std::string topic;
    std::string payload;
    bool binary = false;
    std::string frame;            // the whole unmasked, uncompressed frame
    const Session* exclude = nullptr;  // the publisher itself (compared, never dereferenced)
    std::uint64_t offset = 0;     // in the topic's history (0: none)
    std::string epoch;            // Redis: the numbering the offset is of
};

/// Who of a topic's subscribers a delivery is for (with history and Redis,
/// the two kinds get a message by different paths: api/server_topics.cpp).
enum class Audience : std::uint8_t { All, Plain, Offsets };

struct ServerShared {
    ServerOptions options;
    std::shared_ptr<runtime::TlsContext> tls;  // set by listen() when options.tls is
    std::vector<std::pair<std::string, WebSocketRoute>> routes;
    WebSocketRoute default_route;
    WebSocketServer::HttpHandler on_http;
    std::shared_ptr<ServerMetrics> metrics = std::make_shared<ServerMetrics>();
    std::vector<std::weak_ptr<ServerCore>> cores;  // fixed once listening; weak: cores own us
    std::shared_ptr<RedisBus> bus;                 // set by listen() with options.redis: topics across nodes
    std::unique_ptr<TopicHistory> history;         // with options.history_size and no Redis: in this process
    /// Services that use the bus too (signaling): told on the first loop once it exists, before it connects.
    std::vector<std::function<void(const std::shared_ptr<RedisBus>&)>> bus_users;

    /// Connection limits, checked at the upgrade (503 / 429).
    std::atomic<std::size_t> open{0};
    std::mutex ip_mu;  // off the message path: taken once per connection
    std::unordered_map<std::string, std::size_t> per_ip;

    const WebSocketRoute* find_route(std::string_view path) const;
    bool has_route(std::string_view path) const;
    /// Reserves a connection slot for `ip`; false with the status to answer.
    bool admit(const std::string& ip, int& status);
    void release(const std::string& ip);
};

/// Encodes a message once and hands it to every core's subscribers, and to
/// the other nodes through Redis when there are any (from any thread).
void publish_everywhere(ServerShared& shared, std::string_view topic, std::string_view data, bool binary,
                        const Session* exclude);
/// The same for this node only (a message that came from another node, or
/// our own back from Redis with its offset).
void deliver_everywhere(ServerShared& shared, std::string_view topic, std::string_view data, bool binary,
                        std::uint64_t offset, const Session* exclude, Audience audience, std::string_view epoch = {});

class ServerCore final : public std::enable_shared_from_this<ServerCore>, public SessionOwner {
public:
    ServerCore(EventLoop& loop, std::shared_ptr<ServerShared> shared)
        : loop_(loop), shared_(std::move(shared)), options_(shared_->options), counters_(shared_->metrics->add_loop()) {}
    ~ServerCore();

    /// Binds this core's listener (thread-safe: epoll_ctl is).
    Status listen(const runtime::Address& addr, bool reuse_port, std::uint16_t& bound_port);
    void close();  // loop thread
    /// Graceful stop on this loop: no more accepts, close 1001 everywhere;
    /// `done` (loop thread) once every connection has ended or at `deadline`.
    void shutdown(base::Instant deadline, std::function<void()> done);

    // SessionOwner
    void session_done(Session* s) override;
    void session_closing(Session* s) override;
    void session_gone(Session* s) override;
    bool subscribe(Session* s, const std::string& topic, const SubscribeOptions& options) override;
    bool unsubscribe(Session* s, const std::string& topic) override;
    void publish_from(Session* s, std::string_view topic, std::string_view data, bool binary) override;
    std::shared_ptr<ServerMetrics> metrics() override { return shared_->metrics; }
    /// This loop's per-message counters (written only on this loop's thread).
    LoopCounters& counters() noexcept { return counters_; }

    void http_done(HttpConnection* c);
    void on_open(Session& s, const WebSocketRoute* route, const HttpRequest& req);
    /// Delivers a published message to this core's subscribers (loop thread).
    void deliver(const std::shared_ptr<const Published>& msg, Audience audience = Audience::All);
    /// A recovery read from the history (Redis'): replayed to `s`, then what was held for it.
    void recovered(Session* s, const std::string& topic, const std::optional<Recovery>& r);
    std::size_t subscribers(const std::string& topic) const;
    /// What the sessions of `route` (null: the default route) on this loop
    /// share; made once per route, with the first session's `url`.
    SessionContextRef session_context(const WebSocketRoute* route, const std::string& url);
    /// The compressor shared by connections that reset per message.
    std::shared_ptr<proto::ws::Deflater> shared_deflater();

    EventLoop& loop_;
    std::shared_ptr<ServerShared> shared_;
    const ServerOptions& options_;
    std::size_t session_count() const noexcept { return session_count_; }

private:
    LoopCounters& counters_;

    void sweep();  // heartbeats and idle timeouts
    /// Answers a connection we will not serve (503 full or out of
    /// descriptors, 429 too many from its address) and closes it.
    void refuse(int fd, int status);

    std::unique_ptr<runtime::TcpListener> listener_;
    // This loop's open sessions are the loop's closers whose key is this
    // core's counters (Session::closer_key()): a session is in one list, the
    // loop's, not in a second one of ours (decision 0014). One we count is alive:
    // its self-reference is dropped only after session_done()/session_gone()
    // stopped counting it.
    std::size_t session_count_ = 0;
    void link(Session* s) noexcept;
    bool unlink(Session* s) noexcept;
    template <class F>
    void for_each_session(F&& f) {
        loop_.runtime().for_each_closer([&](runtime::Loop::Closer& c) {
            if (c.closer_key() == static_cast<const void*>(&counters_)) f(static_cast<Session&>(c));
        });
    }
    /// Unlinks s and gives back what it held here (topics, its connection
    /// slot, the open count); false if it was not linked.
    bool forget(Session* s);
    /// A topic's first subscriber on this core came, or its last one went.
    void topic_added(const std::string& topic);
    void topic_removed(const std::string& topic);
    void drop_subscriptions(Session* s);
    /// A subscription; with offsets, what it has had (`last`) and, while
    /// its recovery is read, the live messages held until it is replayed.
    struct Subscriber {
        Session* s;
        std::uint64_t last = 0;
        std::string epoch;  // Redis: the numbering `last` is of
        bool offsets = false;
        bool recovering = false;
        std::vector<std::shared_ptr<const Published>> held;
    };
    Subscriber* find_subscriber(const std::string& topic, Session* s);
    void send_offset_message(Session* s, std::uint64_t offset, std::string_view payload, bool binary);
    void replay(Subscriber& sub, const Recovery& r);
    /// "reset" to a subscriber with offsets: the numbering started again.
    void say_reset(Subscriber& sub);
    void start_recovery(Subscriber& sub, const std::string& topic, std::uint64_t since);
    std::vector<SessionRef> all_sessions();
    std::unordered_map<HttpConnection*, std::shared_ptr<HttpConnection>> http_;
    std::unordered_map<std::string, std::vector<Subscriber>> topics_;
    std::shared_ptr<proto::ws::Deflater> shared_deflater_;
    std::unordered_map<const WebSocketRoute*, SessionContextRef> contexts_;
    std::vector<std::byte> compressed_;  // scratch for a published message
    // Subscribers that got deliveries in this loop iteration, written once
    // each after its events (end_batch).
    void queue(Session* s, base::Bytes data, bool binary, bool encoded);
    void arm_batch();
    void end_batch();
    std::vector<std::byte> offset_frame_;    // the message being delivered, with its offset
    std::vector<std::byte> offset_scratch_;  // one replayed from the history
    std::vector<SessionRef> batch_;
    bool batch_armed_ = false;
    runtime::Loop::TimerId sweep_timer_ = 0;
    bool closed_ = false;
    std::function<void()> on_drained_;
    runtime::Loop::TimerId shutdown_timer_ = 0;

    // After a burst of handshakes or closes, the heap's free pages go back to
    // the kernel (runtime/heap_trim.hpp), once things have been quiet a moment.
    void note_churn();
    void arm_trim(base::Instant at);
    std::size_t churn_ = 0;  // connections begun or ended since the last trim
    base::Instant last_churn_{};
    runtime::Loop::TimerId trim_timer_ = 0;
};

}  // namespace duplex::detail
