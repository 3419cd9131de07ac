// api/shared_rooms.cpp: signaling rooms across nodes, through the server's
// Redis (docs/scaling.md). The machine (proto/signal/rooms) decides; this
// carries its claims, releases and forwards:
//
//   duplex:room:<room>:members   hash, member id -> node id (who is in the room, on which node)
//   duplex:room:<room>           channel: "join <node> <id>", "left <node> <id>"
//   duplex:node:<node>           channel: "<room>\n<to>\n<message JSON>" for a member on that node
//   duplex:alive:<node>          set for 10 s, renewed every 3 s while the node runs
//
// A claim is one Lua script (atomic in Redis): the id free and the room not
// full across nodes, then the member added. Every kAliveEvery the node
// reconciles each of its rooms with the hash: members of nodes whose alive
// key is gone are removed and announced as left (a node killed with
// SIGKILL: within kAliveTtl + kAliveEvery), joins and leaves whose events
// were missed (Redis away) are made up for, and our own members are
// registered again if Redis lost them (a restart).
#include "api/redis_bus.hpp"
#include "api/signal_core.hpp"

#include "base/log.hpp"

#include <set>

namespace duplex::detail {

namespace {

constexpr std::string_view kRoomChannel = "duplex:room:";
constexpr std::string_view kNodeChannel = "duplex:node:";

std::string members_key(std::string_view room) { return std::string(kRoomChannel) + std::string(room) + ":members"; }
std::string room_channel(std::string_view room) { return std::string(kRoomChannel) + std::string(room); }

// KEYS[1] the room's members; ARGV id, node, room size limit.
constexpr std::string_view kClaim = R"(
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'id-taken'} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {'room-full'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local r = redis.call('HGETALL', KEYS[1])
table.insert(r, 1, 'ok')
return r
)";

// KEYS[1] the room's members; ARGV id, node: removed only if it is still that node's.
constexpr std::string_view kRelease = R"(
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
)";

proto::signal::ClaimResult claim_result(const RedisConnection::Value& v) {
    using Kind = proto::signal::ClaimResult::Kind;
    proto::signal::ClaimResult r;
    if (v.kind != RedisConnection::Value::Kind::Array || v.elements.empty() || !v.elements[0].is_string()) return r;
    const std::string& head = v.elements[0].text;
    if (head == "id-taken") r.kind = Kind::IdTaken;
    else if (head == "room-full") r.kind = Kind::RoomFull;
    else if (head == "ok" && v.elements.size() % 2 == 1) {
        r.kind = Kind::Ok;
        for (std::size_t i = 1; i + 1 < v.elements.size(); i += 2)
            r.members.emplace_back(v.elements[i].text, v.elements[i + 1].text);
    }
    return r;  // anything else: Unavailable (the join completes here only)
}

}  // namespace

SignalCore::~SignalCore() {
    if (reconcile_timer) home.runtime().cancel_timer(reconcile_timer);
}

void SignalCore::attach(const std::shared_ptr<RedisBus>& b) {
    bus = b;
    std::weak_ptr<SignalCore> weak = weak_from_this();
    bus->on_channel(std::string(kRoomChannel), [weak](std::string_view channel, std::string_view payload) {
        if (auto self = weak.lock()) self->on_room_event(channel, payload);
    });
    bus->on_channel(std::string(kNodeChannel), [weak](std::string_view, std::string_view payload) {
        if (auto self = weak.lock()) self->on_forward(payload);
    });
    bus->subscribe_channel(std::string(kNodeChannel) + bus->node());
    // Back from an outage (or a first connection): catch up at once.
    bus->on_up([weak] {
        if (auto self = weak.lock()) self->reconcile();
    });
    reconcile_timer = home.runtime().add_timer(base::Clock::now() + RedisBus::kAliveEvery, [weak] {
        if (auto self = weak.lock()) {
            self->reconcile_timer = 0;
            self->reconcile();
        }
    });
}

void SignalCore::carry(const proto::signal::Output& out) {
    if (!bus) return;
    for (const auto& c : out.claims) claim(c);
    for (const auto& r : out.releases) {
        const std::string key = members_key(r.room);
        bus->command({"EVAL", kRelease, "1", key, r.id, bus->node()});
        bus->command({"PUBLISH", room_channel(r.room), "left " + bus->node() + " " + r.id});
    }
    for (const auto& f : out.forwards)
        bus->command({"PUBLISH", std::string(kNodeChannel) + f.node, f.room + "\n" + f.to + "\n" + f.text});
    for (const auto& room : out.idle_rooms) {
        if (rooms.wants_events(room)) continue;
        bus->unsubscribe_channel(room_channel(room));
        missing.erase(room);
    }
}

// Subscribed to the room's events first, then claimed: a join elsewhere
// after our claim is an event we hear; one before it is in the claim's list.
void SignalCore::claim(const proto::signal::Output::Claim& c) {
    std::weak_ptr<SignalCore> weak = weak_from_this();
    auto unavailable = [weak, c] {
        if (auto self = weak.lock())
            self->apply(self->rooms.complete_join(c, {proto::signal::ClaimResult::Kind::Unavailable, {}}, unix_now()));
    };
    if (!bus->up()) return home.runtime().defer(unavailable);  // Redis away: a room of this node's members
    bus->subscribe_channel(room_channel(c.room), [weak, c, unavailable] {
        auto self = weak.lock();
        if (!self) return;
        const bool sent = self->bus->command(
            {"EVAL", kClaim, "1", members_key(c.room), c.id, self->bus->node(), std::to_string(self->max_room_size)},
            [weak, c](const RedisConnection::Value& v) {
                auto me = weak.lock();
                if (!me) return;
                const auto result = claim_result(v);
                if (result.kind == proto::signal::ClaimResult::Kind::Ok)
                    me->bus->command({"PUBLISH", room_channel(c.room), "join " + me->bus->node() + " " + c.id});
                else if (v.is_error())
                    DUPLEX_LOG(Info, "signaling: claim for room " << c.room << " failed: " << v.text);
                me->apply(me->rooms.complete_join(c, result, unix_now()));
            });
        if (!sent) self->home.runtime().defer(unavailable);
    });
}

void SignalCore::on_room_event(std::string_view channel, std::string_view payload) {
    const std::string room(channel.substr(kRoomChannel.size()));
    // "join <node> <id>" or "left <node> <id>".
    const auto sp1 = payload.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : payload.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return;
    const std::string_view what = payload.substr(0, sp1);
    const std::string node(payload.substr(sp1 + 1, sp2 - sp1 - 1));
    const std::string id(payload.substr(sp2 + 1));
    if (node == bus->node() || !proto::signal::is_valid_name(id)) return;  // ours, or not a member id
    if (what == "join") apply(rooms.remote_joined(room, id, node));
    else if (what == "left") apply(rooms.remote_left(room, id, node));
}

void SignalCore::on_forward(std::string_view payload) {
    const auto nl1 = payload.find('\n');
    const auto nl2 = nl1 == std::string_view::npos ? nl1 : payload.find('\n', nl1 + 1);
    if (nl2 == std::string_view::npos) return;
    apply(rooms.deliver_forwarded(std::string(payload.substr(0, nl1)), std::string(payload.substr(nl1 + 1, nl2 - nl1 - 1)),
                                  std::string(payload.substr(nl2 + 1))));
}

void SignalCore::reconcile() {
    if (reconcile_timer) home.runtime().cancel_timer(reconcile_timer);
    std::weak_ptr<SignalCore> weak = weak_from_this();
    reconcile_timer = home.runtime().add_timer(base::Clock::now() + RedisBus::kAliveEvery, [weak] {
        if (auto self = weak.lock()) {
            self->reconcile_timer = 0;
            self->reconcile();
        }
    });
    if (!bus || !bus->up()) return;
    for (const auto& room : rooms.local_rooms()) reconcile_room(room);
}

void SignalCore::reconcile_room(const std::string& room) {
    std::weak_ptr<SignalCore> weak = weak_from_this();
    bus->command({"HGETALL", members_key(room)}, [weak, room](const RedisConnection::Value& v) {
        auto self = weak.lock();
        if (!self || v.kind != RedisConnection::Value::Kind::Array) return;
        std::vector<std::pair<std::string, std::string>> members;  // id, node
        for (std::size_t i = 0; i + 1 < v.elements.size(); i += 2)
            members.emplace_back(v.elements[i].text, v.elements[i + 1].text);
        const std::string& me = self->bus->node();
        // Ours that Redis does not have (it restarted, or was away when they joined): registered again.
        std::set<std::string> in_redis;
        for (const auto& [id, node] : members) in_redis.insert(id);
        for (const auto& [r, id] : self->rooms.local_members()) {
            if (r != room || in_redis.count(id)) continue;
            self->bus->command({"HSET", members_key(room), id, me});
            self->bus->command({"PUBLISH", room_channel(room), "join " + me + " " + id});
        }
        // Those we know of that Redis no longer has: they left while we did
        // not hear it, or Redis lost them (a restart) and their node puts
        // them back within one round. Missing twice in a row, they are gone;
        // never on one look (their peers would see them leave and come back).
        std::set<std::string> others;
        for (const auto& [id, node] : members)
            if (node != me) others.insert(id);
        auto& was_missing = self->missing[room];
        std::set<std::string> now_missing;
        for (const auto& [id, node] : self->rooms.remote_members(room)) {
            if (others.count(id)) continue;
            if (was_missing.count(id)) self->apply(self->rooms.remote_left(room, id, node));
            else now_missing.insert(id);
        }
        if (now_missing.empty()) self->missing.erase(room);
        else self->missing[room] = std::move(now_missing);
        // The others, by node: alive (joins we missed are made up for) or dead (removed, announced).
        std::vector<std::string> nodes;
        for (const auto& [id, node] : members)
            if (node != me && std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(node);
        if (nodes.empty()) return;
        std::vector<std::string> keys;
        for (const auto& n : nodes) keys.push_back(RedisBus::alive_key(n));
        std::vector<std::string_view> args{"MGET"};
        for (const auto& k : keys) args.push_back(k);
        self->bus->command(args, [weak, room, nodes, members](const RedisConnection::Value& alive) {
            auto s = weak.lock();
            if (!s || alive.kind != RedisConnection::Value::Kind::Array || alive.elements.size() != nodes.size()) return;
            for (std::size_t i = 0; i < nodes.size(); ++i) {
                const bool dead = alive.elements[i].kind == RedisConnection::Value::Kind::Nil;
                for (const auto& [id, node] : members) {
                    if (node != nodes[i]) continue;
                    if (!dead) {
                        s->apply(s->rooms.remote_joined(room, id, node));
                        continue;
                    }
                    DUPLEX_LOG(Info, "signaling: node " << node << " is gone: " << id << " leaves room " << room);
                    s->bus->command({"EVAL", kRelease, "1", members_key(room), id, node});
                    s->bus->command({"PUBLISH", room_channel(room), "left " + node + " " + id});
                    s->apply(s->rooms.remote_left(room, id, node));
                }
            }
        });
    });
}

}  // namespace duplex::detail
