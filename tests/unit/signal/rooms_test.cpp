// The signaling protocol (docs/signaling.md), sans-IO: joins, relays, every
// error code, tokens, TURN credentials, rate limits, and no state left behind.
#include "proto/signal/auth.hpp"
#include "proto/signal/rooms.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace duplex::proto::signal;
using nlohmann::json;

namespace {

struct Fixture {
    explicit Fixture(Config c = {}) : rooms(with_ids(std::move(c))) {}
    static Config with_ids(Config c) {
        if (!c.new_id) c.new_id = [n = 0]() mutable { return "p" + std::to_string(++n); };
        return c;
    }
    Output send(PeerRef p, const json& j) { return rooms.handle_message(p, j.dump(), now, t += 0.001); }
    Output raw(PeerRef p, std::string_view text) { return rooms.handle_message(p, text, now, t += 0.001); }
    Rooms rooms;
    std::int64_t now = 1700000000;
    double t = 0;
};

json only(const Output& out, PeerRef to) {
    json found;
    int n = 0;
    for (const auto& s : out.sends)
        if (s.to == to) {
            found = json::parse(s.text);
            ++n;
        }
    EXPECT_EQ(n, 1) << "messages to " << to;
    return found;
}

std::string error_code(const Output& out, PeerRef to) { return only(out, to).value("code", ""); }

TEST(Signal, JoinAnnouncesPeersBothWays) {
    Fixture f;
    auto a = f.send(1, {{"type", "join"}, {"room", "r"}});
    auto joined = only(a, 1);
    EXPECT_EQ(joined["type"], "joined");
    EXPECT_EQ(joined["room"], "r");
    EXPECT_EQ(joined["id"], "p1");
    EXPECT_EQ(joined["peers"], json::array());
    EXPECT_EQ(joined["iceServers"], json::array());
    auto b = f.send(2, {{"type", "join"}, {"room", "r"}, {"id", "bob"}});
    EXPECT_EQ(only(b, 2)["peers"], json::array({"p1"}));
    EXPECT_EQ(only(b, 1), (json{{"type", "peer-joined"}, {"id", "bob"}}));
    EXPECT_EQ(f.rooms.room_size("r"), 2u);
}

TEST(Signal, RelaysWithFromAndOnlyKnownFields) {
    Fixture f;
    f.send(1, {{"type", "join"}, {"room", "r"}, {"id", "a"}});
    f.send(2, {{"type", "join"}, {"room", "r"}, {"id", "b"}});
    auto o = f.send(2, {{"type", "offer"}, {"to", "a"}, {"sdp", "v=0..."}, {"secret", "not relayed"}});
    EXPECT_EQ(only(o, 1), (json{{"type", "offer"}, {"from", "b"}, {"sdp", "v=0..."}}));
    auto c = f.send(1, {{"type", "candidate"}, {"to", "b"}, {"candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
                        {"sdpMid", "0"}, {"sdpMLineIndex", 0}});
    EXPECT_EQ(only(c, 2), (json{{"type", "candidate"}, {"from", "a"}, {"candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
                                {"sdpMid", "0"}, {"sdpMLineIndex", 0}}));
    auto end = f.send(1, {{"type", "candidate"}, {"to", "b"}, {"candidate", ""}});  // end of candidates
    EXPECT_EQ(only(end, 2)["candidate"], "");
    auto ans = f.send(1, {{"type", "answer"}, {"to", "b"}, {"sdp", "v=0 answer"}});
    EXPECT_EQ(only(ans, 2)["type"], "answer");
}

TEST(Signal, EveryErrorCodeHasAMessageThatProducesIt) {
    Config c;
    c.limits.max_room_size = 2;
    c.limits.max_rooms = 2;
    c.limits.max_message_size = 1000;
    Fixture f(c);
    EXPECT_EQ(error_code(f.raw(1, "{not json"), 1), "bad-message");
    EXPECT_EQ(error_code(f.raw(1, "[1,2]"), 1), "bad-message");
    EXPECT_EQ(error_code(f.send(1, {{"room", "r"}}), 1), "bad-message");            // no type
    EXPECT_EQ(error_code(f.send(1, {{"type", "dance"}}), 1), "bad-message");        // unknown type
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", 5}}), 1), "bad-message");
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", "a b"}}), 1), "bad-message");
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", std::string(65, 'x')}}), 1), "bad-message");
    EXPECT_EQ(error_code(f.raw(1, std::string(1001, ' ')), 1), "bad-message");      // oversized
    EXPECT_EQ(error_code(f.send(1, {{"type", "offer"}, {"to", "x"}, {"sdp", "s"}}), 1), "not-joined");
    EXPECT_EQ(error_code(f.send(1, {{"type", "leave"}}), 1), "not-joined");
    f.send(1, {{"type", "join"}, {"room", "r"}, {"id", "a"}});
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", "r2"}}), 1), "already-joined");
    EXPECT_EQ(error_code(f.send(1, {{"type", "offer"}, {"to", "nobody"}, {"sdp", "s"}}), 1), "unknown-peer");
    EXPECT_EQ(error_code(f.send(1, {{"type", "offer"}, {"to", "a"}, {"sdp", "s"}}), 1), "unknown-peer");  // itself
    EXPECT_EQ(error_code(f.send(1, {{"type", "candidate"}, {"to", "a"}, {"candidate", 7}}), 1), "bad-message");
    EXPECT_EQ(error_code(f.send(2, {{"type", "join"}, {"room", "r"}, {"id", "a"}}), 2), "id-taken");
    f.send(3, {{"type", "join"}, {"room", "r"}});
    EXPECT_EQ(error_code(f.send(4, {{"type", "join"}, {"room", "r"}}), 4), "room-full");
    f.send(5, {{"type", "join"}, {"room", "r2"}});
    EXPECT_EQ(error_code(f.send(6, {{"type", "join"}, {"room", "r3"}}), 6), "room-full");  // max rooms
    EXPECT_EQ(error_code(f.rooms.handle_binary(7, f.t += 0.001), 7), "bad-message");
}

TEST(Signal, TokensGuardJoins) {
    Config c;
    c.secret = "sigsecret";
    Fixture f(c);
    const auto token = make_token("sigsecret", "room-1", 1700000000);
    // An independent implementation (Python's hmac) gives this MAC.
    EXPECT_EQ(token, "v1.room-1.1700000000.aNY9Uf0PT3BmzMkcg3LdlmdN5SRyQnqZpATOT9EYHl8");
    f.now = 1700000000 - 10;
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", "room-1"}}), 1), "unauthorized");
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", "room-2"}, {"token", token}}), 1), "unauthorized");
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", "room-1"}, {"token", make_token("other", "room-1", 1700000000)}}), 1),
              "unauthorized");
    EXPECT_EQ(only(f.send(1, {{"type", "join"}, {"room", "room-1"}, {"token", token}}), 1)["type"], "joined");
    f.now = 1700000001;  // expired
    EXPECT_EQ(error_code(f.send(2, {{"type", "join"}, {"room", "room-1"}, {"token", token}}), 2), "unauthorized");
    EXPECT_TRUE(check_token("s", make_token("s", "a.b.c", 99), "a.b.c", 98));  // dots in room names
    EXPECT_FALSE(check_token("s", "garbage", "a", 0));
}

TEST(Signal, TurnCredentialsInCoturnsRestFormat) {
    const auto c = turn_credentials("turnsecret", "alice", 1700000000);
    EXPECT_EQ(c.username, "1700000000:alice");
    EXPECT_EQ(c.password, "ARlMvw97H5MyLP+gkXbH4g2zIwo=");  // Python's hmac/sha1/base64 agree
    Config cfg;
    cfg.ice_servers = [](std::string_view id, std::int64_t now) {
        const auto t = turn_credentials("turnsecret", id, now + 3600);
        return std::vector<IceServer>{{{"turn:127.0.0.1:3478"}, t.username, t.password}};
    };
    Fixture f(cfg);
    auto j = only(f.send(1, {{"type", "join"}, {"room", "r"}, {"id", "alice"}}), 1);
    EXPECT_EQ(j["iceServers"][0]["username"], "1700003600:alice");
    EXPECT_EQ(j["iceServers"][0]["urls"], json::array({"turn:127.0.0.1:3478"}));
}

TEST(Signal, AbuseIsRateLimitedThenClosed) {
    Config c;
    c.limits.rate = 10;
    c.limits.burst = 2;       // two messages, then the bucket is empty
    c.limits.max_errors = 5;  // two not-joined, three rate-limited, closed
    Fixture f(c);
    Output last;
    int limited = 0;
    for (int i = 0; i < 20 && last.close.empty(); ++i) {
        last = f.rooms.handle_message(1, R"({"type":"leave"})", f.now, 0.0);  // same instant: no refill
        for (const auto& s : last.sends) limited += json::parse(s.text)["code"] == "rate-limited";
    }
    EXPECT_GE(limited, 1);
    ASSERT_EQ(last.close.size(), 1u);
    EXPECT_EQ(last.close[0], 1u);
}

TEST(Signal, DisconnectsLeaveNothingBehind) {
    Fixture f;
    f.send(1, {{"type", "join"}, {"room", "r"}, {"id", "a"}});
    f.send(2, {{"type", "join"}, {"room", "r"}, {"id", "b"}});
    auto gone = f.rooms.handle_disconnect(1);
    EXPECT_EQ(only(gone, 2), (json{{"type", "peer-left"}, {"id", "a"}}));
    f.rooms.handle_disconnect(2);
    EXPECT_EQ(f.rooms.room_count(), 0u);
    EXPECT_EQ(f.rooms.peer_count(), 0u);
    // 1000 peers joining and leaving many rooms, by leave and by disconnect.
    for (PeerRef p = 100; p < 1100; ++p) {
        f.rooms.handle_connect(p, "10.0.0." + std::to_string(p % 50));
        f.send(p, {{"type", "join"}, {"room", "room" + std::to_string(p % 37)}});
    }
    EXPECT_EQ(f.rooms.room_count(), 37u);
    for (PeerRef p = 100; p < 1100; ++p) {
        if (p % 2) f.send(p, {{"type", "leave"}});
        f.rooms.handle_disconnect(p);
    }
    EXPECT_EQ(f.rooms.room_count(), 0u);
    EXPECT_EQ(f.rooms.peer_count(), 0u);
}

// One address cannot take every room (issue 14: 10 000 rooms in 2.8 s):
// rooms that its peers created and that still exist are limited; joining an
// existing room is not; a room that empties gives its slot back.
TEST(Signal, RoomsCreatedFromOneAddressAreLimited) {
    Config c;
    c.limits.max_rooms_per_address = 3;
    Fixture f(c);
    for (PeerRef p = 1; p <= 4; ++p) f.rooms.handle_connect(p, "192.0.2.1");
    f.rooms.handle_connect(9, "198.51.100.7");
    for (PeerRef p = 1; p <= 3; ++p) EXPECT_EQ(only(f.send(p, {{"type", "join"}, {"room", "r" + std::to_string(p)}}), p)["type"], "joined");
    auto refused = only(f.send(4, {{"type", "join"}, {"room", "r4"}}), 4);
    EXPECT_EQ(refused["code"], "room-full");
    EXPECT_EQ(refused["message"], "too many rooms from your address");
    // Another address may create rooms, and anyone may join an existing one.
    EXPECT_EQ(only(f.send(9, {{"type", "join"}, {"room", "r9"}}), 9)["type"], "joined");
    EXPECT_EQ(only(f.send(4, {{"type", "join"}, {"room", "r1"}}), 4)["type"], "joined");
    // r2 empties: its creator's address may make one more.
    f.rooms.handle_disconnect(2);
    f.rooms.handle_connect(5, "192.0.2.1");
    EXPECT_EQ(only(f.send(5, {{"type", "join"}, {"room", "r5"}}), 5)["type"], "joined");
}

// The machine says who entered and left a room: the server gives a peer in a
// room the larger message budget, and takes it back when it leaves.
TEST(Signal, JoinsAndLeavesAreReportedForTheMessageBudget) {
    Fixture f;
    auto in = f.send(1, {{"type", "join"}, {"room", "r"}});
    EXPECT_EQ(in.joined, std::vector<PeerRef>{1});
    EXPECT_TRUE(in.left.empty());
    auto refused = f.send(2, {{"type", "join"}, {"room", "bad name"}});
    EXPECT_TRUE(refused.joined.empty());
    auto out = f.send(1, {{"type", "leave"}});
    EXPECT_EQ(out.left, std::vector<PeerRef>{1});
}



// ---------------------------------------------------------- shared rooms --

Config shared_config() {
    Config c;
    c.shared = true;
    return c;
}

ClaimResult ok_with(std::vector<std::pair<std::string, std::string>> members) {
    return {ClaimResult::Kind::Ok, std::move(members)};
}

TEST(SharedRooms, AJoinIsClaimedThenCompletedWithTheOtherNodesMembers) {
    Fixture f(shared_config());
    auto a = f.send(1, {{"type", "join"}, {"room", "r"}});
    EXPECT_TRUE(a.sends.empty());  // nothing until the other nodes agree
    ASSERT_EQ(a.claims.size(), 1u);
    EXPECT_EQ(a.claims[0].room, "r");
    EXPECT_EQ(a.claims[0].id, "p1");
    EXPECT_TRUE(f.rooms.wants_events("r"));
    // A second join while the first is under way is refused.
    EXPECT_EQ(error_code(f.send(1, {{"type", "join"}, {"room", "s"}}), 1), "already-joined");
    auto done = f.rooms.complete_join(a.claims[0], ok_with({{"p1", "A"}, {"x", "B"}}), f.now);
    auto joined = only(done, 1);
    EXPECT_EQ(joined["type"], "joined");
    EXPECT_EQ(joined["peers"], json::array({"x"}));
    // Another node's member joins: ours hear of it, once.
    EXPECT_EQ(only(f.rooms.remote_joined("r", "y", "C"), 1), (json{{"type", "peer-joined"}, {"id", "y"}}));
    EXPECT_TRUE(f.rooms.remote_joined("r", "y", "C").sends.empty());
    // A message for a member on another node is forwarded to its node, "from" set.
    auto o = f.send(1, {{"type", "offer"}, {"to", "x"}, {"sdp", "v=0"}});
    EXPECT_TRUE(o.sends.empty());
    ASSERT_EQ(o.forwards.size(), 1u);
    EXPECT_EQ(o.forwards[0].node, "B");
    EXPECT_EQ(o.forwards[0].to, "x");
    EXPECT_EQ(json::parse(o.forwards[0].text), (json{{"type", "offer"}, {"from", "p1"}, {"sdp", "v=0"}}));
    // ... and what another node forwards to ours is delivered.
    auto in = f.rooms.deliver_forwarded("r", "p1", R"({"type":"answer","from":"x","sdp":"v=0"})");
    EXPECT_EQ(only(in, 1)["from"], "x");
    EXPECT_TRUE(f.rooms.deliver_forwarded("r", "nobody", "{}").sends.empty());
    // A stale leave (x is on B, not C) changes nothing; the real one is announced.
    EXPECT_TRUE(f.rooms.remote_left("r", "x", "C").sends.empty());
    EXPECT_EQ(only(f.rooms.remote_left("r", "x", "B"), 1), (json{{"type", "peer-left"}, {"id", "x"}}));
    EXPECT_EQ(error_code(f.send(1, {{"type", "offer"}, {"to", "x"}, {"sdp", "v=0"}}), 1), "unknown-peer");
    // Leaving releases the id and leaves the room idle here.
    auto l = f.send(1, {{"type", "leave"}});
    ASSERT_EQ(l.releases.size(), 1u);
    EXPECT_EQ(l.releases[0].id, "p1");
    ASSERT_EQ(l.idle_rooms, std::vector<std::string>{"r"});
    EXPECT_FALSE(f.rooms.wants_events("r"));
    EXPECT_TRUE(f.rooms.remote_members("r").empty());
}

TEST(SharedRooms, EveryAnswerToAClaim) {
    Fixture f(shared_config());
    // Taken on another node, the server's own id: another one is claimed.
    auto a = f.send(1, {{"type", "join"}, {"room", "r"}});
    auto again = f.rooms.complete_join(a.claims[0], {ClaimResult::Kind::IdTaken, {}}, f.now);
    ASSERT_EQ(again.claims.size(), 1u);
    EXPECT_EQ(again.claims[0].id, "p2");
    EXPECT_TRUE(again.sends.empty());
    // A stale answer (to the first claim) for a peer claiming another id now: nothing, and what it took is freed.
    auto stale = f.rooms.complete_join(a.claims[0], ok_with({{"p1", "A"}}), f.now);
    EXPECT_TRUE(stale.sends.empty());
    ASSERT_EQ(stale.releases.size(), 1u);
    EXPECT_EQ(stale.releases[0].id, "p1");
    // Redis away: the join completes with this node's members only.
    EXPECT_EQ(only(f.rooms.complete_join(again.claims[0], {ClaimResult::Kind::Unavailable, {}}, f.now), 1)["peers"],
              json::array());
    EXPECT_EQ(f.rooms.local_members(), (std::vector<std::pair<std::string, std::string>>{{"r", "p2"}}));
    // A chosen id taken elsewhere: refused with id-taken; a full room: room-full.
    auto b = f.send(2, {{"type", "join"}, {"room", "r"}, {"id", "bob"}});
    EXPECT_EQ(error_code(f.rooms.complete_join(b.claims[0], {ClaimResult::Kind::IdTaken, {}}, f.now), 2), "id-taken");
    auto c = f.send(3, {{"type", "join"}, {"room", "q"}, {"id", "carol"}});
    auto full = f.rooms.complete_join(c.claims[0], {ClaimResult::Kind::RoomFull, {}}, f.now);
    EXPECT_EQ(error_code(full, 3), "room-full");
    EXPECT_EQ(full.idle_rooms, std::vector<std::string>{"q"});
    EXPECT_FALSE(f.rooms.wants_events("q"));
}

TEST(SharedRooms, APeerThatGoesWhileItsJoinIsClaimedLeavesNothingBehind) {
    Fixture f(shared_config());
    auto a = f.send(1, {{"type", "join"}, {"room", "r"}, {"id", "amy"}});
    auto gone = f.rooms.handle_disconnect(1);
    ASSERT_EQ(gone.releases.size(), 1u);
    EXPECT_EQ(gone.releases[0].id, "amy");
    EXPECT_FALSE(f.rooms.wants_events("r"));
    // Its claim succeeds after all: released again (it may have run after the first release).
    auto late = f.rooms.complete_join(a.claims[0], ok_with({{"amy", "A"}}), f.now);
    EXPECT_TRUE(late.sends.empty());
    ASSERT_EQ(late.releases.size(), 1u);
    EXPECT_EQ(f.rooms.room_count(), 0u);
}

TEST(SharedRooms, TheRoomSizeCountsMembersOnOtherNodes) {
    Config c = shared_config();
    c.limits.max_room_size = 2;
    Fixture f(c);
    auto a = f.send(1, {{"type", "join"}, {"room", "r"}, {"id", "a"}});
    only(f.rooms.complete_join(a.claims[0], ok_with({{"a", "A"}}), f.now), 1);
    f.rooms.remote_joined("r", "b", "B");
    EXPECT_EQ(error_code(f.send(2, {{"type", "join"}, {"room", "r"}}), 2), "room-full");
    // An id a member on another node has is taken here too.
    f.rooms.remote_left("r", "b", "B");
    EXPECT_TRUE(f.send(2, {{"type", "join"}, {"room", "r"}, {"id", "zed"}}).sends.empty());  // claimed: room for one
    f.rooms.remote_joined("r", "amos", "B");
    Fixture g(shared_config());
    auto x = g.send(1, {{"type", "join"}, {"room", "r"}, {"id", "a"}});
    g.rooms.complete_join(x.claims[0], ok_with({{"a", "A"}, {"zed", "B"}}), g.now);
    EXPECT_EQ(error_code(g.send(2, {{"type", "join"}, {"room", "r"}, {"id", "zed"}}), 2), "id-taken");
}

TEST(SharedRooms, WithoutSharingNothingIsClaimed) {
    Fixture f;
    auto a = f.send(1, {{"type", "join"}, {"room", "r"}});
    EXPECT_TRUE(a.claims.empty());
    EXPECT_EQ(only(a, 1)["type"], "joined");
    EXPECT_TRUE(f.send(1, {{"type", "leave"}}).releases.empty());
}

}  // namespace
