// api/server_topics.cpp: one loop's topics: who subscribes, the delivery of
// published messages (batched per loop iteration), and history: offsets
// and recovery (docs/scaling.md).
//
// Where a message comes from, by configuration:
//   - one process, no history: publish_everywhere() hands it to every core;
//   - one process with history: the same, under the history's lock, with
//     its offset (each core gets a topic's messages in offset order);
//   - Redis without history: every core at once, and Redis for the other
//     nodes (their messages come back through deliver_everywhere());
//   - Redis with history: Redis gives the offsets. Subscribers without
//     offsets get a message at once (Audience::Plain), as without history,
//     so that they are served while Redis is away; those with offsets get
//     it from Redis, with its offset, as every other node does
//     (Audience::Offsets for our own, All for the others').
#include "api/redis_bus.hpp"
#include "api/server_core.hpp"
#include "api/topic_history.hpp"

#include "proto/ws/frame.hpp"

#include <algorithm>
#include <optional>
#include <cstring>

namespace duplex::detail {

namespace {

// Live messages held for a connection whose recovery is being read (from
// Redis): past this, it is closed with 1013 and reconnects with `since`.
constexpr std::size_t kMaxHeld = 10000;

void write_frame(std::vector<std::byte>& out, std::string_view prefix, std::string_view payload, bool binary) {
    const std::size_t n = prefix.size() + payload.size();
    out.resize(proto::ws::kMaxHeaderLen + n);
    const auto hlen = proto::ws::write_frame_header(out.data(), true, binary ? proto::ws::Opcode::Binary : proto::ws::Opcode::Text,
                                                    n, nullptr);
    if (!prefix.empty()) std::memcpy(out.data() + hlen, prefix.data(), prefix.size());
    if (!payload.empty()) std::memcpy(out.data() + hlen + prefix.size(), payload.data(), payload.size());
    out.resize(hlen + n);
}

std::shared_ptr<Published> encode(std::string_view topic, std::string_view data, bool binary, const Session* exclude) {
    auto msg = std::make_shared<Published>();
    msg->topic.assign(topic);
    msg->payload.assign(data);
    msg->binary = binary;
    msg->exclude = exclude;
    // The frame is written once per publish, whatever the number of subscribers.
    std::vector<std::byte> f;
    write_frame(f, {}, data, binary);
    msg->frame.assign(reinterpret_cast<const char*>(f.data()), f.size());
    return msg;
}

void to_every_core(ServerShared& shared, const std::shared_ptr<const Published>& msg, Audience audience) {
    for (auto& weak : shared.cores) {
        auto core = weak.lock();
        if (!core) continue;
        if (core->loop_.in_loop_thread()) core->deliver(msg, audience);
        else core->loop_.post([core, msg, audience] { core->deliver(msg, audience); });
    }
}

}  // namespace

void publish_everywhere(ServerShared& shared, std::string_view topic, std::string_view data, bool binary,
                        const Session* exclude) {
    ServerMetrics::add(shared.metrics->published);
    auto msg = encode(topic, data, binary, exclude);
    if (shared.bus) {
        const bool history = shared.options.history_size > 0;
        to_every_core(shared, msg, history ? Audience::Plain : Audience::All);
        shared.bus->publish(topic, data, binary, exclude);
        return;
    }
    if (shared.history) {
        std::lock_guard lock(shared.history->mutex());
        msg->offset = shared.history->append(msg->topic, data, binary, base::Clock::now());
        to_every_core(shared, msg, Audience::All);
        return;
    }
    to_every_core(shared, msg, Audience::All);
}

void deliver_everywhere(ServerShared& shared, std::string_view topic, std::string_view data, bool binary,
                        std::uint64_t offset, const Session* exclude, Audience audience, std::string_view epoch) {
    auto msg = encode(topic, data, binary, exclude);
    msg->offset = offset;
    msg->epoch.assign(epoch);
    to_every_core(shared, msg, audience);
}

void ServerCore::publish_from(Session* s, std::string_view topic, std::string_view data, bool binary) {
    publish_everywhere(*shared_, topic, data, binary, s);
}

// ------------------------------------------------------- subscriptions --

bool ServerCore::subscribe(Session* s, const std::string& topic, const SubscribeOptions& options) {
    const bool offsets = options.offsets || options.since.has_value();
    if (offsets && options_.history_size == 0) return false;  // no history: no offsets to give
    auto& topics = s->topics();
    if (std::find(topics.begin(), topics.end(), topic) != topics.end()) return false;
    topics.push_back(topic);
    auto& v = topics_[topic];
    if (v.empty()) topic_added(topic);
    v.push_back({s, 0, {}, offsets, false, {}});
    if (!options.since) return true;
    const std::uint64_t since = *options.since;
    if (shared_->history) {
        // In this process: read under the lock that orders deliveries, so
        // what is replayed and what comes live meet exactly (`last`).
        std::lock_guard lock(shared_->history->mutex());
        const Recovery r = shared_->history->since(topic, since, base::Clock::now());
        replay(v.back(), r);
        return true;
    }
    start_recovery(v.back(), topic, since);
    return true;
}

// From Redis: live messages are held until the history is read.
void ServerCore::start_recovery(Subscriber& sub, const std::string& topic, std::uint64_t since) {
    sub.recovering = true;
    std::weak_ptr<ServerCore> weak = weak_from_this();
    shared_->bus->recover(topic, since, [weak, ref = SessionRef(sub.s), topic](std::optional<Recovery> r) {
        auto core = weak.lock();
        if (!core) return;
        auto done = [core, ref, topic, r = std::move(r)] { core->recovered(ref.get(), topic, r); };
        if (core->loop_.in_loop_thread()) done();
        else core->loop_.post(std::move(done));
    });
}

ServerCore::Subscriber* ServerCore::find_subscriber(const std::string& topic, Session* s) {
    auto t = topics_.find(topic);
    if (t == topics_.end()) return nullptr;
    for (auto& sub : t->second)
        if (sub.s == s) return &sub;
    return nullptr;
}

void ServerCore::recovered(Session* s, const std::string& topic, const std::optional<Recovery>& r) {
    Subscriber* sub = find_subscriber(topic, s);
    if (!sub || !sub->recovering) return;  // gone, or unsubscribed meanwhile
    if (!r) {
        // Redis could not be read: the client tries again later, with its `since`.
        sub->held.clear();
        (void)s->close(1013, "history unavailable: reconnect with since");
        return;
    }
    if (!sub->epoch.empty() && !r->epoch.empty() && r->epoch != sub->epoch) {
        // Read for a hole, but the numbering started again meanwhile: the
        // client's offset means nothing now; all that is kept, from 1.
        say_reset(*sub);
        sub->epoch = r->epoch;
        start_recovery(*sub, topic, 0);
        return;
    }
    replay(*sub, *r);
    if (!r->epoch.empty()) sub->epoch = r->epoch;
    sub->recovering = false;
    auto held = std::move(sub->held);
    sub->held.clear();
    // The held messages came on the subscription in Redis' order, the read
    // somewhere among them. One of another numbering is older than the read
    // when one of the read's numbering follows it (skipped), newer when none
    // does: the numbering started again after the read.
    std::size_t last_of_read = held.size();
    for (std::size_t i = 0; i < held.size(); ++i)
        if (held[i]->epoch == sub->epoch) last_of_read = i;
    for (std::size_t i = 0; i < held.size(); ++i) {
        const auto& m = held[i];
        const bool other = !sub->epoch.empty() && !m->epoch.empty() && m->epoch != sub->epoch;
        if (other && (last_of_read == held.size() || i > last_of_read)) {
            say_reset(*sub);
            sub->epoch = m->epoch;
            sub->held.assign(held.begin() + static_cast<std::ptrdiff_t>(i), held.end());
            start_recovery(*sub, topic, 0);
            return;
        }
        if (other || m->offset <= sub->last) continue;  // an older numbering, or in the history already
        send_offset_message(s, m->offset, m->payload, m->binary);
        sub->last = m->offset;
        if (sub->epoch.empty()) sub->epoch = m->epoch;
    }
}

void ServerCore::say_reset(Subscriber& sub) {
    bool joined = false;
    (void)sub.s->send_batched(base::as_bytes(std::string_view("reset")), false, false, joined);
    if (joined) batch_.emplace_back(sub.s), arm_batch();
    sub.last = 0;
}

// The gap or reset first, then what the history has after `since`.
void ServerCore::replay(Subscriber& sub, const Recovery& r) {
    if (r.reset || r.gap_to) ServerMetrics::add(shared_->metrics->history_gaps);
    else ServerMetrics::add(shared_->metrics->history_recoveries);
    bool joined = false;
    if (r.reset) {
        (void)sub.s->send_batched(base::as_bytes(std::string_view("reset")), false, false, joined);
    } else if (r.gap_to) {
        // The client has everything up to since; next would be since+1.
        const std::string gap = "gap " + std::to_string(r.since + 1) + " " + std::to_string(r.gap_to);
        (void)sub.s->send_batched(base::as_bytes(std::string_view(gap)), false, false, joined);
    }
    if (joined) batch_.emplace_back(sub.s), arm_batch();
    for (const auto& e : r.entries) send_offset_message(sub.s, e.offset, e.payload, e.binary);
    sub.last = std::max(sub.last, r.last);
}

void ServerCore::send_offset_message(Session* s, std::uint64_t offset, std::string_view payload, bool binary) {
    write_frame(offset_scratch_, std::to_string(offset) + " ", payload, binary);
    bool joined = false;
    (void)s->send_batched(offset_scratch_, binary, true, joined);
    if (joined) {
        batch_.emplace_back(s);
        arm_batch();
    }
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
        v.erase(std::remove_if(v.begin(), v.end(), [s](const Subscriber& x) { return x.s == s; }), v.end());
        if (v.empty()) {
            topics_.erase(t);
            topic_removed(topic);
        }
    }
    return true;
}

void ServerCore::drop_subscriptions(Session* s) {
    if (!s->has_topics()) return;
    for (const auto& topic : s->topics()) {
        auto t = topics_.find(topic);
        if (t == topics_.end()) continue;
        auto& v = t->second;
        v.erase(std::remove_if(v.begin(), v.end(), [s](const Subscriber& x) { return x.s == s; }), v.end());
        if (v.empty()) {
            topics_.erase(t);
            topic_removed(topic);
        }
    }
    s->topics().clear();
}

void ServerCore::topic_added(const std::string& topic) {
    if (shared_->bus) shared_->bus->topic_added(topic);
}

void ServerCore::topic_removed(const std::string& topic) {
    if (shared_->bus) shared_->bus->topic_removed(topic);
}

std::size_t ServerCore::subscribers(const std::string& topic) const {
    auto it = topics_.find(topic);
    return it == topics_.end() ? 0 : it->second.size();
}

// ------------------------------------------------------------ delivery --

void ServerCore::queue(Session* s, base::Bytes data, bool binary, bool encoded) {
    bool joined = false;
    (void)s->send_batched(data, binary, encoded, joined);
    if (joined) batch_.emplace_back(s);
}

void ServerCore::deliver(const std::shared_ptr<const Published>& m, Audience audience) {
    auto it = topics_.find(m->topic);
    if (it == topics_.end()) return;
    const Published& msg = *m;
    // Sends run no user code and never unsubscribe synchronously (a closed
    // session leaves its topics when it is done, after this dispatch), so the
    // list is stable while we walk it.
    auto& subscribers = it->second;
    const auto& cfg = options_.per_message_deflate;
    bool compressed_ready = false;
    bool compressed_ok = false;
    bool offset_ready = false;
    // Every delivery is queued, not written: a subscriber that gets several
    // messages in this iteration (a busy publisher's read holds many) has
    // them all written in one call by end_batch(), after the events.
    for (Subscriber& sub : subscribers) {
        Session* s = sub.s;
        if (s == msg.exclude) continue;
        if (sub.offsets) {
            if (audience == Audience::Plain || msg.offset == 0) continue;
            if (sub.recovering) {
                if (sub.held.size() >= kMaxHeld) {
                    (void)s->close(1013, "recovery too slow: reconnect with since");
                    continue;
                }
                sub.held.push_back(m);
                continue;
            }
            if (shared_->bus) {
                // Through Redis a topic's messages come in offset order on
                // one channel, but a history read answers on the other
                // connection, so messages it had may still come after it:
                // a smaller offset of the same numbering is one of those.
                // (A message without one comes from a node of before the
                // epochs: it tells nothing.)
                if (!sub.epoch.empty() && !msg.epoch.empty() && msg.epoch != sub.epoch) {
                    // The numbering started again (the topic expired, Redis lost it).
                    say_reset(sub);
                    sub.epoch = msg.epoch;
                    start_recovery(sub, m->topic, 0);
                    sub.held.push_back(m);
                    continue;
                }
                if (!msg.epoch.empty()) sub.epoch = msg.epoch;
                if (msg.offset <= sub.last) continue;
                if (sub.last > 0 && msg.offset != sub.last + 1) {
                    // A hole: our subscription was down a while. The history has it.
                    start_recovery(sub, m->topic, sub.last);
                    sub.held.push_back(m);
                    continue;
                }
            } else if (msg.offset <= sub.last) {
                // In this process: replayed from the history already (it
                // was on its way when the client subscribed) - or, offset 1,
                // the topic started again after its TTL.
                if (msg.offset != 1) continue;
                bool joined = false;
                (void)s->send_batched(base::as_bytes(std::string_view("reset")), false, false, joined);
                if (joined) batch_.emplace_back(s);
            }
            if (!offset_ready) {
                offset_ready = true;
                write_frame(offset_frame_, std::to_string(msg.offset) + " ", msg.payload, msg.binary);
            }
            queue(s, offset_frame_, msg.binary, true);
            sub.last = msg.offset;
            continue;
        }
        if (audience == Audience::Offsets) continue;
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
    arm_batch();
}

void ServerCore::arm_batch() {
    if (batch_.empty() || batch_armed_) return;
    batch_armed_ = true;
    loop_.runtime().defer([self = shared_from_this()] { self->end_batch(); });
}

void ServerCore::end_batch() {
    batch_armed_ = false;
    // end_batch() runs no user code (errors are reported from a later safe
    // point), so nothing joins the batch while it is written.
    for (auto& s : batch_) s->end_batch();
    batch_.clear();
}

}  // namespace duplex::detail
