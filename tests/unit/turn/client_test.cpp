// The TURN client (RFC 8656) on virtual time, against a server written here
// from the RFC's rules: the answers are built with the STUN codec and the
// client's requests are checked attribute by attribute.
#include "proto/turn/client.hpp"

#include "proto/turn/channel_data.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace duplex::proto::turn {
namespace {

using stun::AttributeType;
using stun::Class;
using stun::Method;

const base::Instant t0{};
const base::Endpoint kRelayed{*base::IpAddress::parse("203.0.113.10"), 50000};
const base::Endpoint kMapped{*base::IpAddress::parse("198.51.100.2"), 40000};
const base::Endpoint kPeer{*base::IpAddress::parse("198.51.100.7"), 5000};
const base::Endpoint kPeer2{*base::IpAddress::parse("198.51.100.7"), 6000};
const base::Endpoint kStranger{*base::IpAddress::parse("198.51.100.99"), 5000};

std::string str(base::Bytes b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }
base::Bytes bytes(const std::string& s) { return base::as_bytes(s); }

/// The server side: parses what the client sent, answers as told.
struct Server {
    std::string realm = "duplex";
    std::string nonce = "n1";
    std::string user = "alice";
    std::string pass = "secret";
    bool sha256 = false;

    std::vector<std::byte> key() const {
        if (sha256) {
            auto k = stun::long_term_key_sha256(user, realm, pass);
            return {k.begin(), k.end()};
        }
        auto k = stun::long_term_key(user, realm, pass);
        return {k.begin(), k.end()};
    }
    std::vector<std::byte> unauthorized(const stun::Message& req, std::uint16_t code = 401) const {
        stun::MessageWriter w(Class::ErrorResponse, static_cast<Method>(req.method()), req.transaction_id());
        w.add_error_code(code, code == 401 ? "Unauthorized" : "Stale Nonce");
        w.add_string(AttributeType::Realm, realm);
        w.add_string(AttributeType::Nonce, nonce);
        if (sha256) {
            // MD5 (1) and SHA-256 (2), no parameters (RFC 8489 §14.11).
            const std::byte algs[8] = {std::byte{0}, std::byte{1}, std::byte{0}, std::byte{0},
                                       std::byte{0}, std::byte{2}, std::byte{0}, std::byte{0}};
            w.add_bytes(AttributeType::PasswordAlgorithms, algs);
        }
        return std::move(w).take();
    }
    std::vector<std::byte> error(const stun::Message& req, std::uint16_t code, const char* reason) const {
        stun::MessageWriter w(Class::ErrorResponse, static_cast<Method>(req.method()), req.transaction_id());
        w.add_error_code(code, reason);
        w.add_message_integrity(key());
        return std::move(w).take();
    }
    /// 300 Try Alternate (RFC 8489 §10), authenticated or not (coturn
    /// redirects the first, unauthenticated Allocate, without integrity).
    std::vector<std::byte> try_alternate(const stun::Message& req, const base::Endpoint& to, bool integrity,
                                         std::string domain = {}) const {
        stun::MessageWriter w(Class::ErrorResponse, static_cast<Method>(req.method()), req.transaction_id());
        w.add_error_code(300, "Try Alternate");
        w.add_address(AttributeType::AlternateServer, to);
        if (!domain.empty()) w.add_string(AttributeType::AlternateDomain, domain);
        if (integrity) w.add_message_integrity(key());
        return std::move(w).take();
    }
    std::vector<std::byte> allocated(const stun::Message& req, std::uint32_t lifetime = 600) const {
        stun::MessageWriter w(Class::SuccessResponse, Method::Allocate, req.transaction_id());
        w.add_xor_address(AttributeType::XorRelayedAddress, kRelayed);
        w.add_xor_mapped_address(kMapped);
        w.add_u32(AttributeType::Lifetime, lifetime);
        if (sha256) w.add_message_integrity_sha256(key());
        else w.add_message_integrity(key());
        return std::move(w).take();
    }
    std::vector<std::byte> ok(const stun::Message& req, std::optional<std::uint32_t> lifetime = std::nullopt) const {
        stun::MessageWriter w(Class::SuccessResponse, static_cast<Method>(req.method()), req.transaction_id());
        if (lifetime) w.add_u32(AttributeType::Lifetime, *lifetime);
        w.add_message_integrity(key());
        return std::move(w).take();
    }
    /// The request must carry our credentials: USERNAME, REALM, NONCE and a
    /// MESSAGE-INTEGRITY that the key verifies.
    void expect_authenticated(base::Bytes raw, const stun::Message& m) const {
        EXPECT_EQ(m.username(), user);
        EXPECT_EQ(m.string_attr(AttributeType::Realm), realm);
        EXPECT_EQ(m.string_attr(AttributeType::Nonce), nonce);
        EXPECT_TRUE(stun::verify_integrity(raw, key()));
        EXPECT_TRUE(stun::has_valid_fingerprint(raw));
    }
};

struct Sent {
    std::vector<std::byte> raw;
    stun::Message msg;
};

Sent next_request(Client& c) {
    auto t = c.poll_transmit();
    EXPECT_TRUE(t.has_value());
    if (!t) return {};
    auto m = stun::Message::parse(*t);
    EXPECT_TRUE(m.has_value());
    return Sent{*t, m.value_or(stun::Message{})};
}

ClientConfig credentials(const Server& s, ClientConfig cfg = {}) {
    cfg.username = s.user;
    cfg.password = s.pass;
    return cfg;
}

/// The first Allocate answered with the 401 (realm, nonce): the second,
/// authenticated request is returned.
Sent answer_challenge(Client& c, const Server& s) {
    auto first = next_request(c);
    c.handle_datagram(s.unauthorized(first.msg), t0);
    return next_request(c);
}

/// Allocate through the 401 round, as a server with `lifetime` would.
Client allocated_client(Server& s, ClientConfig cfg = {}, std::uint32_t lifetime = 600) {
    Client c(credentials(s, cfg), t0);
    auto second = answer_challenge(c, s);
    c.handle_datagram(s.allocated(second.msg, lifetime), t0);
    EXPECT_EQ(c.state(), ClientState::Allocated);
    while (c.poll_event()) {
    }
    return c;
}

/// A permission and a channel for `peer`, answered by the server; returns
/// the Send indication the first packet went as.
void permit_and_bind(Client& c, Server& s, const base::Endpoint& peer, base::Instant now) {
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(peer, bytes("hello"), now, out), Client::Wrap::Held);
    auto perm = next_request(c);
    ASSERT_TRUE(perm.msg.is(Class::Request, Method::CreatePermission));
    c.handle_datagram(s.ok(perm.msg), now);
    auto held = next_request(c);  // the held packet, as a Send indication
    ASSERT_TRUE(held.msg.is(Class::Indication, Method::Send));
    auto bind = next_request(c);
    ASSERT_TRUE(bind.msg.is(Class::Request, Method::ChannelBind));
    c.handle_datagram(s.ok(bind.msg), now);
    ASSERT_TRUE(c.has_channel(peer));
}

TEST(TurnClient, AllocatesWithLongTermCredentialsAfterThe401) {
    Server s;
    ClientConfig cfg;
    cfg.username = s.user;
    cfg.password = s.pass;
    Client c(cfg, t0);
    auto first = next_request(c);
    ASSERT_TRUE(first.msg.is(Class::Request, Method::Allocate));
    EXPECT_EQ(first.msg.u32_attr(AttributeType::RequestedTransport), 17u << 24);  // UDP
    EXPECT_FALSE(first.msg.has(AttributeType::MessageIntegrity));  // §7.1: the first goes without
    c.handle_datagram(s.unauthorized(first.msg), t0);

    auto second = next_request(c);
    ASSERT_TRUE(second.msg.is(Class::Request, Method::Allocate));
    EXPECT_NE(second.msg.transaction_id(), first.msg.transaction_id());
    s.expect_authenticated(second.raw, second.msg);
    EXPECT_FALSE(second.msg.has(AttributeType::PasswordAlgorithm));  // no SHA-256 offered

    c.handle_datagram(s.allocated(second.msg), t0);
    EXPECT_EQ(c.state(), ClientState::Allocated);
    auto ev = c.poll_event();
    ASSERT_TRUE(ev);
    auto* a = std::get_if<client_event::Allocated>(&*ev);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->relayed, kRelayed);
    EXPECT_EQ(a->mapped, kMapped);
    EXPECT_EQ(a->lifetime, base::seconds(600));
    EXPECT_EQ(c.relayed(), kRelayed);
}

TEST(TurnClient, WrongPasswordFailsWithA401NotALoop) {
    Server s;
    ClientConfig cfg = credentials(s);
    cfg.password = "wrong";
    Client c(cfg, t0);
    auto second = answer_challenge(c, s);
    EXPECT_FALSE(stun::verify_integrity(second.raw, s.key()));  // the server would refuse it:
    c.handle_datagram(s.unauthorized(second.msg), t0);
    EXPECT_EQ(c.state(), ClientState::Failed);
    EXPECT_FALSE(c.poll_transmit());  // no third Allocate
    auto ev = c.poll_event();
    ASSERT_TRUE(ev);
    auto* f = std::get_if<client_event::Failed>(&*ev);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->code, 401);
    EXPECT_NE(f->reason.find("wrong username or password"), std::string::npos) << f->reason;
    EXPECT_FALSE(c.poll_timeout());
}

TEST(TurnClient, StaleNonceIsReplacedAndTheRequestSentAgain) {
    Server s;
    Client c(credentials(s), t0);
    auto second = answer_challenge(c, s);
    s.nonce = "n2";
    c.handle_datagram(s.unauthorized(second.msg, 438), t0);
    auto third = next_request(c);
    ASSERT_TRUE(third.msg.is(Class::Request, Method::Allocate));
    s.expect_authenticated(third.raw, third.msg);  // with the new nonce
    c.handle_datagram(s.allocated(third.msg), t0);
    EXPECT_EQ(c.state(), ClientState::Allocated);
}

TEST(TurnClient, StaleNonceForeverEndsAfterThreeRetries) {
    Server s;
    ClientConfig cfg;
    cfg.username = s.user;
    cfg.password = s.pass;
    Client c(cfg, t0);
    auto req = next_request(c);
    c.handle_datagram(s.unauthorized(req.msg), t0);
    for (int i = 0; i < 4; ++i) {
        req = next_request(c);
        ASSERT_TRUE(req.msg.is(Class::Request, Method::Allocate)) << i;
        s.nonce = "n" + std::to_string(10 + i);
        c.handle_datagram(s.unauthorized(req.msg, 438), t0);
    }
    EXPECT_EQ(c.state(), ClientState::Failed);
    EXPECT_FALSE(c.poll_transmit());
}

TEST(TurnClient, UsesSha256WhenTheServerOffersIt) {
    Server s;
    s.sha256 = true;
    Client c(credentials(s), t0);
    auto second = answer_challenge(c, s);
    EXPECT_TRUE(second.msg.has(AttributeType::MessageIntegritySha256));
    EXPECT_TRUE(second.msg.has(AttributeType::PasswordAlgorithms));
    const auto* alg = second.msg.find(AttributeType::PasswordAlgorithm);
    ASSERT_NE(alg, nullptr);
    ASSERT_EQ(alg->value.size(), 4u);
    EXPECT_EQ(base::load_be16(alg->value.data()), 2);  // SHA-256
    s.expect_authenticated(second.raw, second.msg);   // verified with SHA-256(user:realm:pass)
    c.handle_datagram(s.allocated(second.msg), t0);
    EXPECT_EQ(c.state(), ClientState::Allocated);
}

TEST(TurnClient, EveryAllocateErrorFailsWithItsMeaning) {
    const std::pair<std::uint16_t, const char*> cases[] = {
        {403, "policy"}, {437, "lost the allocation"}, {440, "family"}, {441, "credentials"},
        {442, "transport"}, {486, "quota"}, {508, "relay ports"}, {300, "no ALTERNATE-SERVER"}, {500, "500"}};
    for (const auto& [code, words] : cases) {
        Server s;
        Client c(credentials(s), t0);
        auto second = answer_challenge(c, s);
        c.handle_datagram(s.error(second.msg, code, "Err"), t0);
        EXPECT_EQ(c.state(), ClientState::Failed) << code;
        auto ev = c.poll_event();
        ASSERT_TRUE(ev) << code;
        auto* f = std::get_if<client_event::Failed>(&*ev);
        ASSERT_NE(f, nullptr);
        EXPECT_EQ(f->code, code);
        EXPECT_NE(f->reason.find(words), std::string::npos) << f->reason;
    }
}

TEST(TurnClient, AnAnswerWithABadIntegrityIsIgnored) {
    Server s;
    Client c(credentials(s), t0);
    auto second = answer_challenge(c, s);
    Server forger = s;
    forger.pass = "guess";
    c.handle_datagram(forger.allocated(second.msg), t0);
    EXPECT_EQ(c.state(), ClientState::Allocating);
    c.handle_datagram(s.allocated(second.msg), t0);  // the transaction went on
    EXPECT_EQ(c.state(), ClientState::Allocated);
}

TEST(TurnClient, ASilentServerFailsTheAllocationAfterRetransmissions) {
    ClientConfig cfg;
    Client c(cfg, t0);
    int sends = 0;
    while (c.poll_transmit()) ++sends;
    base::Instant now = t0;
    for (int guard = 0; guard < 100 && c.state() == ClientState::Allocating; ++guard) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        now = *t;
        c.handle_timeout(now);
        while (c.poll_transmit()) ++sends;
    }
    EXPECT_EQ(sends, 5);
    EXPECT_EQ(now - t0, base::milliseconds(9500));  // 0, .5, 1.5, 3.5, 7.5 s, then 2 s more
    auto ev = c.poll_event();
    ASSERT_TRUE(ev);
    EXPECT_NE(std::get<client_event::Failed>(*ev).reason.find("did not answer"), std::string::npos);
}

TEST(TurnClient, RefreshesAMinuteBeforeTheLifetimeEnds) {
    Server s;
    Client c = allocated_client(s);
    EXPECT_EQ(c.poll_timeout(), t0 + base::seconds(540));
    c.handle_timeout(t0 + base::seconds(539));
    EXPECT_FALSE(c.poll_transmit());
    c.handle_timeout(t0 + base::seconds(540));
    auto r = next_request(c);
    ASSERT_TRUE(r.msg.is(Class::Request, Method::Refresh));
    EXPECT_EQ(r.msg.u32_attr(AttributeType::Lifetime), 600u);
    s.expect_authenticated(r.raw, r.msg);
    c.handle_datagram(s.ok(r.msg, 600), t0 + base::seconds(541));
    EXPECT_EQ(c.poll_timeout(), t0 + base::seconds(541 + 540));
}

TEST(TurnClient, AShortLifetimeIsRefreshedHalfwayAndSurvivesThreeLifetimes) {
    Server s;
    Client c = allocated_client(s, {}, 20);
    base::Instant now = t0;
    int refreshes = 0;
    while (now < t0 + base::seconds(70)) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        now = *t;
        c.handle_timeout(now);
        while (auto tx = c.poll_transmit()) {
            auto m = stun::Message::parse(*tx);
            ASSERT_TRUE(m);
            ASSERT_TRUE(m->is(Class::Request, Method::Refresh));
            ++refreshes;
            c.handle_datagram(s.ok(*m, 20), now);
        }
        ASSERT_EQ(c.state(), ClientState::Allocated);
    }
    EXPECT_GE(refreshes, 6);  // every 10 s
}

TEST(TurnClient, UnansweredRefreshesLetTheAllocationExpire) {
    Server s;
    Client c = allocated_client(s, {}, 20);
    base::Instant now = t0;
    for (int guard = 0; guard < 200 && c.state() == ClientState::Allocated; ++guard) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        now = *t;
        c.handle_timeout(now);
        while (c.poll_transmit()) {
        }
    }
    EXPECT_EQ(c.state(), ClientState::Failed);
    EXPECT_EQ(now, t0 + base::seconds(20));
    auto ev = c.poll_event();
    ASSERT_TRUE(ev);
    EXPECT_NE(std::get<client_event::Failed>(*ev).reason.find("expired"), std::string::npos);
}

TEST(TurnClient, A437ToRefreshEndsTheAllocation) {
    Server s;
    Client c = allocated_client(s);
    c.handle_timeout(t0 + base::seconds(540));
    auto r = next_request(c);
    c.handle_datagram(s.error(r.msg, 437, "Allocation Mismatch"), t0 + base::seconds(540));
    EXPECT_EQ(c.state(), ClientState::Failed);
}

TEST(TurnClient, PermissionFirstThenSendIndicationsThenChannelData) {
    Server s;
    Client c = allocated_client(s);
    std::vector<std::byte> out;
    EXPECT_EQ(c.wrap(kPeer, bytes("one"), t0, out), Client::Wrap::Held);
    EXPECT_EQ(c.wrap(kPeer, bytes("two"), t0, out), Client::Wrap::Held);
    auto perm = next_request(c);
    ASSERT_TRUE(perm.msg.is(Class::Request, Method::CreatePermission));
    EXPECT_EQ(perm.msg.xor_address(AttributeType::XorPeerAddress)->ip, kPeer.ip);
    s.expect_authenticated(perm.raw, perm.msg);
    EXPECT_FALSE(c.poll_transmit());  // one request for both packets

    c.handle_datagram(s.ok(perm.msg), t0);
    for (const char* want : {"one", "two"}) {
        auto ind = next_request(c);
        ASSERT_TRUE(ind.msg.is(Class::Indication, Method::Send));
        EXPECT_EQ(ind.msg.xor_address(AttributeType::XorPeerAddress), kPeer);
        EXPECT_EQ(str(ind.msg.find(AttributeType::Data)->value), want);
    }
    auto bind = next_request(c);
    ASSERT_TRUE(bind.msg.is(Class::Request, Method::ChannelBind));
    const auto channel = static_cast<std::uint16_t>(*bind.msg.u32_attr(AttributeType::ChannelNumber) >> 16);
    EXPECT_GE(channel, kMinChannel);
    EXPECT_LE(channel, kMaxChannel);
    EXPECT_EQ(bind.msg.xor_address(AttributeType::XorPeerAddress), kPeer);

    // Before the binding is answered: still a Send indication.
    ASSERT_EQ(c.wrap(kPeer, bytes("three"), t0, out), Client::Wrap::Ready);
    auto m = stun::Message::parse(out);
    ASSERT_TRUE(m && m->is(Class::Indication, Method::Send));

    c.handle_datagram(s.ok(bind.msg), t0);
    ASSERT_EQ(c.wrap(kPeer, bytes("four!"), t0, out), Client::Wrap::Ready);
    ASSERT_EQ(out.size(), 4u + 5u);  // UDP: no padding
    auto cd = parse_channel_data(out);
    ASSERT_TRUE(cd);
    EXPECT_EQ(cd->channel, channel);
    EXPECT_EQ(str(cd->data), "four!");

    // The hot path reuses the buffer: no allocation per packet.
    out.reserve(1500);
    const auto* where = out.data();
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(c.wrap(kPeer, bytes(std::string(1000, 'x')), t0, out), Client::Wrap::Ready);
        ASSERT_EQ(out.data(), where);
    }
}

TEST(TurnClient, ChannelDataIsPaddedOnAStream) {
    Server s;
    ClientConfig cfg;
    cfg.stream = true;
    Client c = allocated_client(s, cfg);
    permit_and_bind(c, s, kPeer, t0);
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(kPeer, bytes("12345"), t0, out), Client::Wrap::Ready);
    ASSERT_EQ(out.size(), 12u);  // 4 + 5 + 3 padding (§12.5)
    EXPECT_EQ(base::load_be16(out.data() + 2), 5);
    EXPECT_EQ(out[9], std::byte{0});
    EXPECT_EQ(out[11], std::byte{0});
}

TEST(TurnClient, PermissionsAndChannelsAreRefreshedBeforeTheyLapse) {
    Server s;
    Client c = allocated_client(s, {}, 3600);
    permit_and_bind(c, s, kPeer, t0);
    base::Instant now = t0, used = t0;
    int permissions = 0, binds = 0;
    std::vector<std::byte> out;
    while (now < t0 + base::seconds(1200)) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        now = std::min(*t, used + base::seconds(60));
        if (now >= used + base::seconds(60)) {  // in use: a packet a minute
            ASSERT_EQ(c.wrap(kPeer, bytes("x"), now, out), Client::Wrap::Ready);
            used = now;
        }
        c.handle_timeout(now);
        while (auto tx = c.poll_transmit()) {
            auto m = stun::Message::parse(*tx);
            ASSERT_TRUE(m);
            if (m->is(Class::Request, Method::CreatePermission)) ++permissions;
            if (m->is(Class::Request, Method::ChannelBind)) ++binds;
            c.handle_datagram(s.ok(*m), now);
        }
    }
    EXPECT_EQ(binds, 2);  // at 540 and 1080 s
    // The channel refreshes the permission too; it never got within a
    // minute of its 300 s? It did: 240 s after each, before the rebind.
    EXPECT_GE(permissions, 2);
    EXPECT_TRUE(c.has_channel(kPeer));
}

TEST(TurnClient, APermissionWhoseRefreshGoesUnansweredLapsesAndIsAskedForAgain) {
    Server s;
    Client c = allocated_client(s, {}, 3600);
    std::vector<std::byte> out;
    // A permission without a channel (the binding refused): refreshed every
    // 4 minutes, lapsing after 5 (§9) if the refresh is not answered.
    ASSERT_EQ(c.wrap(kPeer, bytes("x"), t0, out), Client::Wrap::Held);
    auto perm = next_request(c);
    c.handle_datagram(s.ok(perm.msg), t0);
    (void)next_request(c);  // the held packet
    auto bind = next_request(c);
    ASSERT_TRUE(bind.msg.is(Class::Request, Method::ChannelBind));
    c.handle_datagram(s.error(bind.msg, 400, "Bad Request"), t0);
    EXPECT_FALSE(c.has_channel(kPeer));
    // A refused binding: data goes on as Send indications.
    ASSERT_EQ(c.wrap(kPeer, bytes("y"), t0, out), Client::Wrap::Ready);
    auto m = stun::Message::parse(out);
    ASSERT_TRUE(m && m->is(Class::Indication, Method::Send));
    while (c.poll_transmit()) {
    }
    base::Instant now = t0;
    bool refresh_asked = false;
    base::Instant used = t0;
    while (now < t0 + base::seconds(299)) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        now = std::min({*t, t0 + base::seconds(299), used + base::seconds(30)});
        if (now >= used + base::seconds(30)) {  // in use: permitted, so Send indications go
            ASSERT_EQ(c.wrap(kPeer, bytes("y"), now, out), Client::Wrap::Ready) << (now - t0).count();
            used = now;
        }
        c.handle_timeout(now);
        while (auto tx = c.poll_transmit()) {
            auto r = stun::Message::parse(*tx);
            ASSERT_TRUE(r);
            if (r->is(Class::Request, Method::CreatePermission)) refresh_asked = true;
            if (r->is(Class::Request, Method::Refresh)) c.handle_datagram(s.ok(*r, 3600), now);
            // CreatePermission refreshes (and ChannelBind retries) go unanswered.
        }
    }
    EXPECT_TRUE(refresh_asked);
    // At 300 s it lapses, though in use: the next packet waits for a new permission.
    now = t0 + base::seconds(300);
    c.handle_timeout(now);
    EXPECT_EQ(c.wrap(kPeer, bytes("z"), now, out), Client::Wrap::Held);
}

TEST(TurnClient, APeerUnusedForFiveMinutesIsForgottenAndFreesItsSlot) {
    Server s;
    ClientConfig cfg;
    cfg.max_peers = 1;
    Client c = allocated_client(s, cfg, 3600);
    permit_and_bind(c, s, kPeer, t0);
    std::vector<std::byte> out;
    EXPECT_EQ(c.wrap(kStranger, bytes("x"), t0, out), Client::Wrap::Dropped);  // the one slot is taken
    base::Instant now = t0;
    std::set<stun::TransactionId> refreshes;
    int after_forgotten = 0;
    while (now < t0 + base::seconds(700)) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        ASSERT_GT(*t, now) << "a timer due again at once: a busy loop";
        now = std::min(*t, t0 + base::seconds(700));
        c.handle_timeout(now);
        while (auto tx = c.poll_transmit()) {
            auto r = stun::Message::parse(*tx);
            if (!r || !(r->is(Class::Request, Method::CreatePermission) || r->is(Class::Request, Method::ChannelBind)))
                continue;
            refreshes.insert(r->transaction_id());  // left unanswered: tried again while it lasts
            if (now >= t0 + base::seconds(300)) ++after_forgotten;
        }
    }
    // Used at t0: its permission is refreshed from 240 s (used in its life),
    // the channel never (its refresh would be at 540 s), nothing after 300 s.
    EXPECT_GE(refreshes.size(), 1u);
    EXPECT_EQ(after_forgotten, 0);
    EXPECT_FALSE(c.has_channel(kPeer));
    EXPECT_EQ(c.wrap(kStranger, bytes("x"), now, out), Client::Wrap::Held);  // the slot is free
}

TEST(TurnClient, TwoPortsOfOneAddressShareOnePermissionRefreshWithoutABusyLoop) {
    Server s;
    Client c = allocated_client(s, {}, 3600);
    permit_and_bind(c, s, kPeer, t0);
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(kPeer2, bytes("x"), t0, out), Client::Wrap::Ready);  // same IP: permitted already
    base::Instant now = t0;
    int permissions = 0;
    for (int guard = 0; guard < 200 && now < t0 + base::seconds(290); ++guard) {
        auto t = c.poll_timeout();
        ASSERT_TRUE(t);
        ASSERT_GT(*t, now) << "a timer due again at once: a busy loop";
        now = *t;
        (void)c.wrap(kPeer, bytes("x"), now, out);
        (void)c.wrap(kPeer2, bytes("x"), now, out);
        c.handle_timeout(now);
        while (auto tx = c.poll_transmit()) {
            auto r = stun::Message::parse(*tx);
            if (r && r->is(Class::Request, Method::CreatePermission)) ++permissions;  // left unanswered
        }
    }
    EXPECT_GE(permissions, 1);
}

TEST(TurnClient, ARefusedPeerGetsNothing) {
    Server s;
    Client c = allocated_client(s);
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(kPeer, bytes("x"), t0, out), Client::Wrap::Held);
    auto perm = next_request(c);
    c.handle_datagram(s.error(perm.msg, 403, "Forbidden"), t0);
    EXPECT_FALSE(c.poll_transmit());  // the held packet is dropped
    auto ev = c.poll_event();
    ASSERT_TRUE(ev);
    EXPECT_EQ(std::get<client_event::PeerRefused>(*ev).code, 403);
    EXPECT_EQ(c.wrap(kPeer, bytes("y"), t0, out), Client::Wrap::Dropped);
    EXPECT_EQ(c.state(), ClientState::Allocated);  // the allocation itself lives on
}

TEST(TurnClient, HoldsOnlyAFewPacketsPerPeer) {
    Server s;
    Client c = allocated_client(s);
    std::vector<std::byte> out;
    int held = 0, dropped = 0;
    for (int i = 0; i < 20; ++i) {
        const auto w = c.wrap(kPeer, bytes("x"), t0, out);
        held += w == Client::Wrap::Held;
        dropped += w == Client::Wrap::Dropped;
    }
    EXPECT_EQ(held, 8);
    EXPECT_EQ(dropped, 12);
}

TEST(TurnClient, ReceivesDataIndicationsAndChannelDataOnlyFromPermittedPeers) {
    Server s;
    Client c = allocated_client(s);
    auto data_indication = [](const base::Endpoint& from, const std::string& payload) {
        stun::TransactionId id{};
        id[0] = std::byte{9};
        stun::MessageWriter w(Class::Indication, Method::Data, id);
        w.add_xor_address(AttributeType::XorPeerAddress, from);
        w.add_bytes(AttributeType::Data, bytes(payload));
        return std::move(w).take();
    };
    // No permission yet: nothing comes through.
    EXPECT_FALSE(c.handle_datagram(data_indication(kPeer, "early"), t0));
    permit_and_bind(c, s, kPeer, t0);
    // The data is a view into the datagram: keep it alive.
    const auto ping = data_indication(kPeer, "ping");
    auto r = c.handle_datagram(ping, t0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->peer, kPeer);
    EXPECT_EQ(str(r->data), "ping");
    // Another port of a permitted address (§9: the port is not looked at).
    const auto pong = data_indication(kPeer2, "pong");
    r = c.handle_datagram(pong, t0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->peer, kPeer2);
    EXPECT_FALSE(c.handle_datagram(data_indication(kStranger, "no"), t0));

    // ChannelData on our channel; on another, or cut short: dropped.
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(kPeer, bytes("abc"), t0, out), Client::Wrap::Ready);
    const auto channel = base::load_be16(out.data());
    std::vector<std::byte> in(4 + 3);
    write_channel_header(in.data(), channel, 3);
    std::memcpy(in.data() + 4, "xyz", 3);
    r = c.handle_datagram(in, t0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->peer, kPeer);
    EXPECT_EQ(str(r->data), "xyz");
    write_channel_header(in.data(), static_cast<std::uint16_t>(channel + 1), 3);
    EXPECT_FALSE(c.handle_datagram(in, t0));
    write_channel_header(in.data(), channel, 4);
    EXPECT_FALSE(c.handle_datagram(in, t0));
}

TEST(TurnClient, AStreamInPiecesGivesTheSameMessages) {
    Server s;
    ClientConfig cfg;
    cfg.stream = true;
    cfg.username = s.user;
    cfg.password = s.pass;
    Client c(cfg, t0);
    auto first = next_request(c);
    // The 401 and then the success, fed a byte at a time.
    auto feed = [&c](const std::vector<std::byte>& m) {
        for (auto b : m) {
            c.handle_stream(base::Bytes(&b, 1), t0);
            EXPECT_FALSE(c.poll_received(t0));
        }
    };
    feed(s.unauthorized(first.msg));
    auto second = next_request(c);
    feed(s.allocated(second.msg));
    ASSERT_EQ(c.state(), ClientState::Allocated);
    permit_and_bind(c, s, kPeer, t0);  // answers as datagrams: the same path inside
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(kPeer, bytes("a"), t0, out), Client::Wrap::Ready);
    const auto channel = base::load_be16(out.data());
    // Two padded ChannelData frames in one read.
    std::vector<std::byte> two(16, std::byte{0});
    write_channel_header(two.data(), channel, 3);
    std::memcpy(two.data() + 4, "one", 3);
    write_channel_header(two.data() + 8, channel, 4);
    std::memcpy(two.data() + 12, "four", 4);
    c.handle_stream(two, t0);
    auto r = c.poll_received(t0);
    ASSERT_TRUE(r);
    EXPECT_EQ(str(r->data), "one");
    r = c.poll_received(t0);
    ASSERT_TRUE(r);
    EXPECT_EQ(str(r->data), "four");
    EXPECT_FALSE(c.poll_received(t0));
}

TEST(TurnClient, AStreamThatIsNotTurnFailsTheAllocation) {
    ClientConfig cfg;
    cfg.stream = true;
    Client c(cfg, t0);
    // A TLS alert: what a TLS port says to a client that speaks plain TCP.
    const std::byte alert[] = {std::byte{0x15}, std::byte{0x03}, std::byte{0x03}, std::byte{0x00},
                               std::byte{0x02}, std::byte{0x02}, std::byte{0x28}};
    c.handle_stream(alert, t0);
    EXPECT_FALSE(c.poll_received(t0));
    EXPECT_EQ(c.state(), ClientState::Failed);
}

TEST(TurnClient, AnUnfinishedHugeFrameIsBounded) {
    ClientConfig cfg;
    cfg.stream = true;
    cfg.max_stream_buffer = 1000;
    Client c(cfg, t0);
    std::vector<std::byte> head(4);
    write_channel_header(head.data(), 0x4000, 60000);
    c.handle_stream(head, t0);
    EXPECT_FALSE(c.poll_received(t0));
    c.handle_stream(std::vector<std::byte>(2000), t0);
    EXPECT_FALSE(c.poll_received(t0));
    EXPECT_EQ(c.state(), ClientState::Allocating);  // 2004 bytes wait: over the bound now
    c.handle_stream(std::vector<std::byte>(2000), t0);
    EXPECT_EQ(c.state(), ClientState::Failed);
}

TEST(TurnClient, OneReadOfManyWholeFramesIsNotTooMuch) {
    Server s;
    ClientConfig cfg;
    cfg.stream = true;
    cfg.max_stream_buffer = 1000;
    Client c = allocated_client(s, cfg);
    permit_and_bind(c, s, kPeer, t0);
    std::vector<std::byte> out;
    ASSERT_EQ(c.wrap(kPeer, bytes("a"), t0, out), Client::Wrap::Ready);
    const auto channel = base::load_be16(out.data());
    // 100 frames of 100 bytes: 10 400 bytes in one read, ten times the bound.
    std::vector<std::byte> many;
    for (int i = 0; i < 100; ++i) {
        std::byte h[4];
        write_channel_header(h, channel, 100);
        many.insert(many.end(), h, h + 4);
        many.insert(many.end(), 100, std::byte{'z'});
    }
    c.handle_stream(many, t0);
    int got = 0;
    while (auto r = c.poll_received(t0)) {
        ASSERT_EQ(r->data.size(), 100u);
        ++got;
    }
    EXPECT_EQ(got, 100);
    EXPECT_EQ(c.state(), ClientState::Allocated);
}

TEST(TurnClient, CloseReleasesTheAllocationWithLifetimeZero) {
    Server s;
    Client c = allocated_client(s);
    c.close(t0 + base::seconds(5));
    auto r = next_request(c);
    ASSERT_TRUE(r.msg.is(Class::Request, Method::Refresh));
    EXPECT_EQ(r.msg.u32_attr(AttributeType::Lifetime), 0u);
    s.expect_authenticated(r.raw, r.msg);
    EXPECT_EQ(c.state(), ClientState::Closed);
    EXPECT_FALSE(c.poll_timeout());
    std::vector<std::byte> out;
    EXPECT_EQ(c.wrap(kPeer, bytes("x"), t0, out), Client::Wrap::Dropped);
}

TEST(ChannelData, FrameSizesOnAStream) {
    std::vector<std::byte> b(4);
    write_channel_header(b.data(), 0x4001, 5);
    EXPECT_EQ(stream_frame_size(b), 12u);
    EXPECT_EQ(stream_frame_size(base::Bytes(b).first(3)), std::nullopt);
    b[0] = std::byte{0x01};  // STUN: 20 + length
    EXPECT_EQ(stream_frame_size(b), 25u);
    b[0] = std::byte{0x17};  // a TLS record: not TURN
    EXPECT_EQ(stream_frame_size(b), 0u);
    b[0] = std::byte{0x3F};
    EXPECT_FALSE(parse_channel_data(b));  // 0x3F01 is below 0x4000
}

const base::Endpoint kAlternate{*base::IpAddress::parse("203.0.113.20"), 3479};

TEST(TurnClient, ARedirectionOfTheFirstAllocateNamesTheAlternateAndEndsTheClient) {
    // coturn with --alternate-server answers the first Allocate with a 300
    // before any 401, without integrity (there is no key yet).
    Server s;
    Client c(credentials(s), t0);
    auto first = next_request(c);
    c.handle_datagram(s.try_alternate(first.msg, kAlternate, false, "turn2.example"), t0);
    EXPECT_EQ(c.state(), ClientState::Redirected);
    auto ev = c.poll_event();
    ASSERT_TRUE(ev);
    auto* r = std::get_if<client_event::Redirected>(&*ev);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->server, kAlternate);
    EXPECT_EQ(r->domain, "turn2.example");
    // Done: nothing more goes, nothing is retransmitted, no deadline.
    EXPECT_FALSE(c.poll_transmit());
    EXPECT_FALSE(c.poll_timeout());
    c.handle_timeout(t0 + base::seconds(60));
    EXPECT_FALSE(c.poll_transmit());
    EXPECT_FALSE(c.poll_event());
}

TEST(TurnClient, ARedirectionOfAnAuthenticatedAllocateMustBeAuthenticated) {
    Server s;
    {
        // Without integrity: discarded, as a forgery could be (RFC 8489 §10);
        // the request goes on and times out in its own time.
        Client c(credentials(s), t0);
        auto second = answer_challenge(c, s);
        c.handle_datagram(s.try_alternate(second.msg, kAlternate, false), t0);
        EXPECT_EQ(c.state(), ClientState::Allocating);
        EXPECT_FALSE(c.poll_event());
        c.handle_datagram(s.allocated(second.msg), t0);
        EXPECT_EQ(c.state(), ClientState::Allocated);
    }
    {
        // With it: followed.
        Client c(credentials(s), t0);
        auto second = answer_challenge(c, s);
        c.handle_datagram(s.try_alternate(second.msg, kAlternate, true), t0);
        EXPECT_EQ(c.state(), ClientState::Redirected);
        auto ev = c.poll_event();
        ASSERT_TRUE(ev);
        auto* r = std::get_if<client_event::Redirected>(&*ev);
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(r->server, kAlternate);
        EXPECT_TRUE(r->domain.empty());
    }
}

TEST(TurnClient, A300ToARefreshIsNoRedirection) {
    // Only an Allocate is redirected (RFC 8656 §7.2); an allocation that
    // exists stays where it is.
    Server s;
    Client c = allocated_client(s);
    c.handle_timeout(t0 + base::seconds(541));
    auto refresh = next_request(c);
    ASSERT_TRUE(refresh.msg.is(Class::Request, Method::Refresh));
    c.handle_datagram(s.try_alternate(refresh.msg, kAlternate, true), t0 + base::seconds(541));
    EXPECT_EQ(c.state(), ClientState::Allocated);
    while (auto ev = c.poll_event()) EXPECT_EQ(std::get_if<client_event::Redirected>(&*ev), nullptr);
}

}  // namespace
}  // namespace duplex::proto::turn
