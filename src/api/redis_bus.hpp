// api/redis_bus.hpp: a server's topics shared with the other nodes that name
// the same Redis (docs/scaling.md, decision 0021). Two connections per node,
// not per WebSocket connection: one publishes (pipelined), one subscribes.
//
// A message published here is delivered to this node's subscribers at once
// (without a round trip, and while Redis is down) and PUBLISHed to the
// topic's Redis channel; other nodes' messages come from the subscriber
// connection and are fanned out like local ones. A node subscribes to a
// topic's channel only while it has local subscribers to it, and again
// after every reconnection. What a node publishes carries its id, so that
// it ignores its own messages when Redis echoes them back.
//
// Thread: everything here runs on the server's first loop ("home"); the
// other loops post to it.
#pragma once

#include "api/redis_connection.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <functional>
#include <vector>
#include <memory>
#include <string>
#include <unordered_map>

namespace duplex::detail {

struct ServerShared;
struct ServerMetrics;
struct Recovery;
class Session;

class RedisBus final : public std::enable_shared_from_this<RedisBus> {
public:
    /// Redis channel = kChannelPrefix + topic (channels are binary-safe).
    static constexpr std::string_view kChannelPrefix = "duplex:topic:";

    RedisBus(runtime::Loop& home, ServerShared& shared, const proto::redis::ServerUrl& url, std::string tls_ca_file,
             std::size_t max_queue);
    ~RedisBus();
    /// Connects both connections (home loop).
    void start();
    /// Closes both; nothing is sent or received after (home loop).
    void stop();

    // From any core's thread (posted to home when needed).
    /// With history, `exclude` (the publishing connection, never dereferenced)
    /// is remembered until the message comes back with its offset.
    void publish(std::string_view topic, std::string_view data, bool binary, const Session* exclude = nullptr);
    /// Reads `topic`'s history after `since` (once subscribed to it: nothing
    /// published after the read is missed); nullopt when Redis could not
    /// answer. `done` runs on the home loop.
    void recover(const std::string& topic, std::uint64_t since, std::function<void(std::optional<Recovery>)> done,
                 int attempt = 0);
    void topic_added(const std::string& topic);
    void topic_removed(const std::string& topic);

    /// "up", or "down: why" (home loop; a snapshot is kept for other threads in the metrics).
    bool up() const noexcept;
    std::string status() const;

    // For other services on the bus (signaling across nodes); home loop only.
    using ChannelHandler = std::function<void(std::string_view channel, std::string_view payload)>;
    /// Messages on channels that start with `prefix` go to `handler`.
    void on_channel(std::string prefix, ChannelHandler handler);
    /// Subscribes (again after every reconnection); `subscribed` once Redis
    /// confirmed it (then no message published after that point is missed).
    void subscribe_channel(const std::string& channel, std::function<void()> subscribed = {});
    void unsubscribe_channel(const std::string& channel);
    /// A command on the publishing connection (queued while down, within the bound).
    bool command(const std::vector<std::string_view>& args, RedisConnection::Reply reply = {});
    /// Called each time both connections are up again (and the first time).
    void on_up(std::function<void()> fn) { up_hooks_.push_back(std::move(fn)); }
    /// This node's id, as it appears in keys and messages (16 hex digits).
    const std::string& node() const noexcept { return node_hex_; }
    /// Key of a node's liveness (set for 10 s, renewed every 3 s while the node runs).
    static std::string alive_key(std::string_view node) { return "duplex:alive:" + std::string(node); }
    static constexpr std::chrono::seconds kAliveTtl{10};
    static constexpr std::chrono::seconds kAliveEvery{3};

    /// The payload on the wire: version, the publishing node, flags, the
    /// node's publish sequence, the offset in decimal and a space (0: no
    /// history), then the message (docs/scaling.md).
    struct Wire {
        std::uint64_t node = 0;
        bool binary = false;
        std::uint64_t seq = 0;
        std::uint64_t offset = 0;
        std::string_view epoch;  // with history: which numbering the offset is of
        std::string_view data;
    };
    static std::string header(std::uint64_t node, bool binary, std::uint64_t seq);
    static std::string encode(std::uint64_t node, bool binary, std::uint64_t seq, std::uint64_t offset, std::string_view data);
    /// false: not a message of ours (another version, or garbage).
    static bool decode(std::string_view payload, Wire& out);
    static std::string offset_key(std::string_view topic) { return "duplex:offset:" + std::string(topic); }
    static std::string history_key(std::string_view topic) { return "duplex:history:" + std::string(topic); }

private:
    void on_home(std::function<void()> fn);
    void on_push(const RedisConnection::Value& v);
    void subscribe_all();
    void when_subscribed(const std::string& channel, std::function<void()> fn);
    void update_gauges();
    void connections_changed();
    void heartbeat();

    runtime::Loop& home_;
    ServerShared& shared_;
    ServerMetrics& metrics_;
    std::uint64_t node_;
    std::unique_ptr<RedisConnection> pub_;
    std::unique_ptr<RedisConnection> sub_;
    std::unordered_map<std::string, std::size_t> local_;  // topic -> cores with subscribers to it
    std::set<std::string> channels_;     // other services' channels
    std::set<std::string> confirmed_;    // channels Redis confirmed on this connection
    std::unordered_map<std::string, std::vector<std::function<void()>>> waiters_;  // until confirmed
    std::uint64_t seq_ = 0;              // our publishes, in order
    static constexpr std::size_t kMaxExcluded = 100000;
    std::deque<std::pair<std::uint64_t, const Session*>> excluded_;  // seq -> publisher, until the message is back
    std::vector<std::pair<std::string, ChannelHandler>> handlers_;
    std::vector<std::function<void()>> up_hooks_;
    std::string node_hex_;
    bool was_up_ = false;
    runtime::Loop::TimerId heartbeat_timer_ = 0;
    bool stopped_ = false;
};

}  // namespace duplex::detail
