// api/redis_bus.cpp: topics across nodes through Redis. See the header.
#include "api/redis_bus.hpp"

#include "api/server_core.hpp"
#include "api/server_metrics.hpp"
#include "base/log.hpp"

#include <cstring>
#include <random>

#include "api/topic_history.hpp"

namespace duplex::detail {

namespace {
constexpr char kVersion = 1;
constexpr std::size_t kHeader = 1 + 8 + 1 + 8;  // version, node, flags, publish sequence
constexpr std::uint8_t kBinary = 1;

std::uint64_t random_node_id() {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

void put64(std::string& out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get64(std::string_view s) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[static_cast<std::size_t>(i)]);
    return v;
}

// KEYS: the topic's numbering (a hash: the last offset `n`, and `epoch`),
// its history list, its channel. ARGV: the message's header, its data, the
// history's size, its TTL (seconds), a new epoch should the numbering start
// (again) here. The offset is given, the message kept and published in one
// atomic step: every node sees a topic's messages in offset order. The epoch
// names one numbering: a node that sees it change knows the offsets started
// again (the topic expired, or Redis lost it), which a smaller offset alone
// would not tell apart from a message that reached it late. Both live in one
// key, so that they can only be lost (expired, evicted) together.
constexpr std::string_view kPublishWithHistory = R"(
local o = redis.call('HINCRBY', KEYS[1], 'n', 1)
local e = redis.call('HGET', KEYS[1], 'epoch')
if o == 1 or not e then
  e = ARGV[5]
  redis.call('HSET', KEYS[1], 'epoch', e)
end
local m = ARGV[1] .. o .. '@' .. e .. ' ' .. ARGV[2]
redis.call('RPUSH', KEYS[2], m)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[3], m)
return o
)";

// KEYS: the topic's numbering, its history list. ARGV: at most this many
// bytes of messages (the newest). Returns the last offset, the epoch, then
// the messages.
constexpr std::string_view kReadHistory = R"(
local all = redis.call('LRANGE', KEYS[2], 0, -1)
local total, first = 0, #all + 1
for i = #all, 1, -1 do
  total = total + #all[i]
  if total > tonumber(ARGV[1]) then break end
  first = i
end
local r = {redis.call('HGET', KEYS[1], 'n') or '0', redis.call('HGET', KEYS[1], 'epoch') or ''}
for i = first, #all do r[#r + 1] = all[i] end
return r
)";
}  // namespace

std::string RedisBus::header(std::uint64_t node, bool binary, std::uint64_t seq) {
    std::string out;
    out += kVersion;
    put64(out, node);
    out += static_cast<char>(binary ? kBinary : 0);
    put64(out, seq);
    return out;
}

std::string RedisBus::encode(std::uint64_t node, bool binary, std::uint64_t seq, std::uint64_t offset,
                             std::string_view data) {
    std::string out = header(node, binary, seq);
    out += std::to_string(offset);
    out += ' ';
    out.append(data);
    return out;
}

bool RedisBus::decode(std::string_view payload, Wire& w) {
    if (payload.size() < kHeader + 2 || payload[0] != kVersion) return false;
    w.node = get64(payload.substr(1));
    const auto flags = static_cast<unsigned char>(payload[9]);
    if ((flags & ~kBinary) != 0) return false;
    w.binary = (flags & kBinary) != 0;
    w.seq = get64(payload.substr(10));
    // The offset in decimal, "@" and the epoch with history, then a space
    // (the publish script writes them there).
    std::size_t at = kHeader;
    w.offset = 0;
    const std::size_t field_end = payload.find(' ', at);
    if (field_end == std::string_view::npos || field_end == at || field_end - at > 64) return false;
    const std::string_view field = payload.substr(at, field_end - at);
    const std::size_t sep = field.find('@');
    const std::string_view digits = field.substr(0, sep);
    if (digits.empty() || digits.size() > 19) return false;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        w.offset = w.offset * 10 + static_cast<std::uint64_t>(c - '0');
    }
    w.epoch = sep == std::string_view::npos ? std::string_view() : field.substr(sep + 1);
    w.data = payload.substr(field_end + 1);
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
    o.limits.max_elements = 64 * 1024 + shared.options.history_size;
    o.limits.max_values = 64 * 1024 + shared.options.history_size;
    if (shared.options.history_size > 0)  // a recovery reads at most history_max_bytes of messages
        o.limits.max_reply = std::max(o.limits.max_reply, shared.options.history_max_bytes +
                                                              64 * shared.options.history_size + (1u << 20));
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
                                    confirmed_.clear();  // subscribed again once up
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
    waiters_.clear();
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

void RedisBus::publish(std::string_view topic, std::string_view data, bool binary, const Session* exclude) {
    std::string t(topic);
    std::string d(data);
    on_home([this, t = std::move(t), d = std::move(d), binary, exclude] {
        if (stopped_) return;
        const std::uint64_t seq = ++seq_;
        const std::string channel = std::string(kChannelPrefix) + t;
        const std::size_t history = shared_.options.history_size;
        bool sent = false;
        if (history == 0) {
            sent = pub_->command({"PUBLISH", channel, encode(node_, binary, seq, 0, d)});
        } else {
            sent = pub_->command({"EVAL", kPublishWithHistory, "3", offset_key(t), history_key(t), channel,
                                  header(node_, binary, seq), d, std::to_string(history),
                                  std::to_string(shared_.options.history_ttl.count()),
                                  node_hex_ + "." + std::to_string(seq)});
            // Our message comes back with its offset: its publisher must not get it then either.
            if (sent && exclude) {
                excluded_.push_back({seq, exclude});
                if (excluded_.size() > kMaxExcluded) excluded_.pop_front();
            }
        }
        if (sent) ServerMetrics::add(metrics_.redis_published);
        else ServerMetrics::add(metrics_.redis_dropped);  // the queue bound (docs/scaling.md)
        metrics_.redis_queue_bytes.store(pub_->queued_bytes(), std::memory_order_relaxed);
    });
}

void RedisBus::recover(const std::string& topic, std::uint64_t since, std::function<void(std::optional<Recovery>)> done,
                       int attempt) {
    on_home([this, topic, since, done = std::move(done), attempt]() mutable {
        if (stopped_) return done(std::nullopt);
        // Subscribed first: a message published after the read is one we hear.
        when_subscribed(std::string(kChannelPrefix) + topic, [this, topic, since, done = std::move(done), attempt]() mutable {
            const std::string max_bytes = std::to_string(shared_.options.history_max_bytes);
            const bool sent = pub_->command(
                {"EVAL", kReadHistory, "2", offset_key(topic), history_key(topic), max_bytes},
                [this, topic, since, done, attempt](const RedisConnection::Value& v) mutable {
                    if (v.kind != RedisConnection::Value::Kind::Array || v.elements.size() < 2) {
                        // Lost on the way (the connection broke): again, a few times.
                        if (attempt < 5) return recover(topic, since, std::move(done), attempt + 1);
                        return done(std::nullopt);
                    }
                    std::uint64_t last = 0;
                    for (char c : v.elements[0].text) last = c >= '0' && c <= '9' ? last * 10 + static_cast<std::uint64_t>(c - '0') : last;
                    std::vector<HistoryEntry> entries;
                    for (std::size_t i = 2; i < v.elements.size(); ++i) {
                        Wire w;
                        if (!v.elements[i].is_string() || !decode(v.elements[i].text, w)) continue;
                        entries.push_back({w.offset, std::string(w.data), w.binary});
                    }
                    Recovery r = duplex::detail::recover(std::move(entries), last, since);
                    r.epoch = v.elements[1].text;
                    done(std::move(r));
                });
            if (!sent) done(std::nullopt);
        });
    });
}

void RedisBus::when_subscribed(const std::string& channel, std::function<void()> fn) {
    if (confirmed_.count(channel)) return fn();
    waiters_[channel].push_back(std::move(fn));
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
    for (const auto& channel : channels_) channels.push_back(channel);
    for (std::size_t i = 0; i < channels.size(); i += 256) {
        std::vector<std::string_view> args{"SUBSCRIBE"};
        for (std::size_t j = i; j < std::min(channels.size(), i + 256); ++j) args.push_back(channels[j]);
        sub_->command(args);
    }
}

void RedisBus::on_push(const RedisConnection::Value& v) {
    // ["subscribe", channel, count]: whoever waited for that channel may go on.
    if ((v.is_push("subscribe") || v.is_push("unsubscribe")) && v.elements.size() == 3 && v.elements[1].is_string()) {
        const std::string& channel = v.elements[1].text;
        if (v.is_push("unsubscribe")) {
            confirmed_.erase(channel);
            return;
        }
        confirmed_.insert(channel);
        auto it = waiters_.find(channel);
        if (it == waiters_.end()) return;
        auto waiting = std::move(it->second);
        waiters_.erase(it);
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
    Wire w;
    if (!decode(v.elements[2].text, w) || w.data.size() > shared_.options.max_message_size) {
        ServerMetrics::add(metrics_.redis_malformed);
        return;
    }
    const std::string_view topic = std::string_view(channel).substr(kChannelPrefix.size());
    if (w.node == node_) {
        // Ours: delivered here when it was published, except to those who
        // take offsets, who get it now that it has one.
        if (w.offset == 0) return;
        const Session* exclude = nullptr;
        while (!excluded_.empty() && excluded_.front().first < w.seq) excluded_.pop_front();
        if (!excluded_.empty() && excluded_.front().first == w.seq) {
            exclude = excluded_.front().second;
            excluded_.pop_front();
        }
        deliver_everywhere(shared_, topic, w.data, w.binary, w.offset, exclude, Audience::Offsets, w.epoch);
        return;
    }
    ServerMetrics::add(metrics_.redis_received);
    deliver_everywhere(shared_, topic, w.data, w.binary, w.offset, nullptr, Audience::All, w.epoch);
}

void RedisBus::on_channel(std::string prefix, ChannelHandler handler) {
    handlers_.emplace_back(std::move(prefix), std::move(handler));
}

void RedisBus::subscribe_channel(const std::string& channel, std::function<void()> subscribed) {
    if (stopped_) return;
    const bool fresh = channels_.insert(channel).second;
    if (subscribed) when_subscribed(channel, std::move(subscribed));
    // While down, subscribe_all() sends it once up (and the confirmation comes then).
    if (fresh && sub_->up()) sub_->command({"SUBSCRIBE", channel});
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
