// api/redis_bus.cpp: topics across nodes through Redis. See the header.
#include "api/redis_bus.hpp"

#include "api/server_core.hpp"
#include "api/server_metrics.hpp"
#include "base/log.hpp"

#include <cstring>
#include <random>

namespace duplex::detail {

namespace {
constexpr char kVersion = 1;
constexpr std::size_t kHeader = 1 + 8 + 1;  // version, node, flags
constexpr std::uint8_t kBinary = 1;

std::uint64_t random_node_id() {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}
}  // namespace

std::string RedisBus::encode(std::uint64_t node, bool binary, std::string_view data) {
    std::string out;
    out.reserve(kHeader + data.size());
    out += kVersion;
    for (int i = 7; i >= 0; --i) out += static_cast<char>((node >> (8 * i)) & 0xff);
    out += static_cast<char>(binary ? kBinary : 0);
    out.append(data);
    return out;
}

bool RedisBus::decode(std::string_view payload, std::uint64_t& node, bool& binary, std::string_view& data) {
    if (payload.size() < kHeader || payload[0] != kVersion) return false;
    node = 0;
    for (int i = 1; i <= 8; ++i) node = (node << 8) | static_cast<unsigned char>(payload[i]);
    const auto flags = static_cast<unsigned char>(payload[9]);
    if ((flags & ~kBinary) != 0) return false;
    binary = (flags & kBinary) != 0;
    data = payload.substr(kHeader);
    return true;
}

RedisBus::RedisBus(runtime::Loop& home, ServerShared& shared, const proto::redis::ServerUrl& url, std::string tls_ca_file,
                   std::size_t max_queue)
    : home_(home), shared_(shared), metrics_(*shared.metrics), node_(random_node_id()) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; --i) node_hex_ += kHex[(node_ >> (4 * i)) & 0xf];
    RedisConnection::Options o;
    o.url = url;
    o.tls_ca_file = std::move(tls_ca_file);
    o.max_queue = max_queue;
    // A message is at most max_message_size; with the channel name and our
    // header it is one bulk string in a reply of a few.
    o.limits.max_bulk = std::max<std::size_t>(shared.options.max_message_size + 64 * 1024, 1u << 20);
    o.limits.max_reply = 2 * o.limits.max_bulk + (1u << 20);
    // Our replies are small arrays (a message is 3 elements; a room's
    // members at most 2 x its size): a reply of many values is not Redis.
    o.limits.max_elements = 64 * 1024;
    o.limits.max_values = 64 * 1024;
    o.name = "duplex-pub";
    metrics_.redis_configured.store(true);
    pub_ = std::make_unique<RedisConnection>(
        home_, o,
        RedisConnection::Events{[this] {
                                    heartbeat();
                                    connections_changed();
                                },
                                [this](const std::string& why, bool first) {
                                    // Said once when it goes; each retry that fails only at info.
                                    if (first) DUPLEX_LOG(Warn, "redis (publishing) down: " << why);
                                    else DUPLEX_LOG(Info, "redis (publishing) still down: " << why);
                                    connections_changed();
                                },
                                nullptr});
    o.name = "duplex-sub";
    o.subscriber = true;
    sub_ = std::make_unique<RedisConnection>(
        home_, o,
        RedisConnection::Events{[this] {
                                    subscribe_all();
                                    connections_changed();
                                },
                                [this](const std::string& why, bool first) {
                                    // Said once when it goes; each retry that fails only at info.
                                    if (first) DUPLEX_LOG(Warn, "redis (subscriptions) down: " << why);
                                    else DUPLEX_LOG(Info, "redis (subscriptions) still down: " << why);
                                    connections_changed();
                                },
                                [this](const RedisConnection::Value& v) { on_push(v); }});
}

RedisBus::~RedisBus() = default;

void RedisBus::start() {
    if (stopped_) return;  // close() came first (start is posted from listen())
    pub_->start();
    sub_->start();
    heartbeat();  // queued until the connection is up, then renewed
}

void RedisBus::stop() {
    stopped_ = true;
    if (heartbeat_timer_) home_.cancel_timer(heartbeat_timer_), heartbeat_timer_ = 0;
    up_hooks_.clear();
    handlers_.clear();
    channels_.clear();
    pub_.reset();
    sub_.reset();
    metrics_.redis_up.store(0);
    std::lock_guard lock(metrics_.redis_mu);
    metrics_.redis_status = "down: stopped";
}

void RedisBus::on_home(std::function<void()> fn) {
    if (home_.in_loop_thread()) fn();
    else home_.post([self = shared_from_this(), fn = std::move(fn)] { fn(); });
}

void RedisBus::publish(std::string_view topic, std::string_view data, bool binary) {
    std::string channel(kChannelPrefix);
    channel.append(topic);
    std::string payload = encode(node_, binary, data);
    on_home([this, channel = std::move(channel), payload = std::move(payload)] {
        if (stopped_) return;
        if (pub_->command({"PUBLISH", channel, payload})) ServerMetrics::add(metrics_.redis_published);
        else ServerMetrics::add(metrics_.redis_dropped);  // the queue bound (docs/scaling.md)
        metrics_.redis_queue_bytes.store(pub_->queued_bytes(), std::memory_order_relaxed);
    });
}

void RedisBus::topic_added(const std::string& topic) {
    on_home([this, topic] {
        if (stopped_ || local_[topic]++ != 0) return;
        std::string channel(kChannelPrefix);
        channel.append(topic);
        // While down, it is subscribed with all the others once up (subscribe_all).
        if (sub_->up()) sub_->command({"SUBSCRIBE", channel});
    });
}

void RedisBus::topic_removed(const std::string& topic) {
    on_home([this, topic] {
        if (stopped_) return;
        auto it = local_.find(topic);
        if (it == local_.end() || --it->second != 0) return;
        local_.erase(it);
        std::string channel(kChannelPrefix);
        channel.append(topic);
        if (sub_->up()) sub_->command({"UNSUBSCRIBE", channel});
    });
}

void RedisBus::subscribe_all() {
    // In batches: one command per 256 channels.
    std::vector<std::string> channels;
    channels.reserve(local_.size() + channels_.size());
    for (const auto& [topic, n] : local_) channels.push_back(std::string(kChannelPrefix) + topic);
    for (const auto& [channel, waiting] : channels_) channels.push_back(channel);
    for (std::size_t i = 0; i < channels.size(); i += 256) {
        std::vector<std::string_view> args{"SUBSCRIBE"};
        for (std::size_t j = i; j < std::min(channels.size(), i + 256); ++j) args.push_back(channels[j]);
        sub_->command(args);
    }
}

void RedisBus::on_push(const RedisConnection::Value& v) {
    // ["subscribe", channel, count]: whoever waited for that channel may go on.
    if (v.is_push("subscribe") && v.elements.size() == 3 && v.elements[1].is_string()) {
        auto it = channels_.find(v.elements[1].text);
        if (it == channels_.end() || it->second.empty()) return;
        auto waiting = std::move(it->second);
        it->second.clear();
        for (auto& fn : waiting) fn();
        return;
    }
    // ["message", channel, payload].
    if (!v.is_push("message") || v.elements.size() != 3 || !v.elements[1].is_string() || !v.elements[2].is_string())
        return;
    const std::string& channel = v.elements[1].text;
    if (!std::string_view(channel).starts_with(kChannelPrefix)) {
        for (const auto& [prefix, handler] : handlers_) {
            if (std::string_view(channel).starts_with(prefix)) {
                handler(channel, v.elements[2].text);
                return;
            }
        }
        return;
    }
    std::uint64_t node = 0;
    bool binary = false;
    std::string_view data;
    if (!decode(v.elements[2].text, node, binary, data)) {
        ServerMetrics::add(metrics_.redis_malformed);
        return;
    }
    if (node == node_) return;  // ours, delivered here when it was published
    if (data.size() > shared_.options.max_message_size) {
        ServerMetrics::add(metrics_.redis_malformed);
        return;
    }
    ServerMetrics::add(metrics_.redis_received);
    deliver_everywhere(shared_, std::string_view(channel).substr(kChannelPrefix.size()), data, binary);
}

void RedisBus::on_channel(std::string prefix, ChannelHandler handler) {
    handlers_.emplace_back(std::move(prefix), std::move(handler));
}

void RedisBus::subscribe_channel(const std::string& channel, std::function<void()> subscribed) {
    if (stopped_) return;
    auto [it, fresh] = channels_.try_emplace(channel);
    if (!fresh && !subscribed) return;
    if (subscribed) it->second.push_back(std::move(subscribed));
    // While down, subscribe_all() sends it once up (and the confirmation comes then).
    if (sub_->up()) sub_->command({"SUBSCRIBE", channel});
}

void RedisBus::unsubscribe_channel(const std::string& channel) {
    if (stopped_ || channels_.erase(channel) == 0) return;
    if (sub_->up()) sub_->command({"UNSUBSCRIBE", channel});
}

bool RedisBus::command(const std::vector<std::string_view>& args, RedisConnection::Reply reply) {
    if (stopped_) return false;
    return pub_->command(args, std::move(reply));
}

// This node is alive for kAliveTtl more: renewed every kAliveEvery (other
// nodes take a member whose node's key is gone for a member of a dead node).
void RedisBus::heartbeat() {
    if (stopped_) return;
    if (heartbeat_timer_) home_.cancel_timer(heartbeat_timer_);
    if (pub_->up()) pub_->command({"SET", alive_key(node_hex_), "1", "EX", std::to_string(kAliveTtl.count())});
    heartbeat_timer_ = home_.add_timer(base::Clock::now() + kAliveEvery, [this] {
        heartbeat_timer_ = 0;
        heartbeat();
    });
}

void RedisBus::connections_changed() {
    update_gauges();
    const bool now_up = up();
    if (now_up && !was_up_) {
        was_up_ = true;
        for (auto& fn : up_hooks_) fn();
    } else if (!now_up) {
        was_up_ = false;
    }
}

bool RedisBus::up() const noexcept { return pub_ && sub_ && pub_->up() && sub_->up(); }

std::string RedisBus::status() const {
    if (up()) return "up";
    if (!pub_ || !sub_) return "down: stopped";
    const std::string& why = !pub_->up() ? pub_->last_error() : sub_->last_error();
    return "down" + (why.empty() ? std::string(" (connecting)") : ": " + why);
}

void RedisBus::update_gauges() {
    metrics_.redis_up.store(up() ? 1 : 0);
    metrics_.redis_queue_bytes.store(pub_ ? pub_->queued_bytes() : 0, std::memory_order_relaxed);
    metrics_.redis_reconnects.store((pub_ ? pub_->reconnects() : 0) + (sub_ ? sub_->reconnects() : 0),
                                    std::memory_order_relaxed);
    std::lock_guard lock(metrics_.redis_mu);
    metrics_.redis_status = status();
}

}  // namespace duplex::detail
