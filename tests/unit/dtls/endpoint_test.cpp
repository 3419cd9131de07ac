// Two DTLS endpoints in one process, datagrams moved through memory. OpenSSL
// keeps its own retransmission clock (docs/decisions/0008-dtls-openssl-clock.md),
// so these tests pass real time; only the retransmission test waits for it.
#include "proto/dtls/endpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace duplex;
using namespace duplex::proto::dtls;
using base::Bytes;
using base::Clock;

namespace {

Certificate make_cert() {
    auto c = Certificate::generate();
    EXPECT_TRUE(c.ok());
    return *c;
}

std::vector<std::byte> bytes_of(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    return {p, p + s.size()};
}

// The record layer's first byte, RFC 6347 §4.1: 20 change_cipher_spec,
// 21 alert, 22 handshake, 23 application_data.
constexpr std::byte kHandshake{22};

struct Side {
    Endpoint ep;
    std::size_t mtu;
    std::vector<Event> events;
    std::vector<std::vector<std::byte>> sent;  // every datagram it emitted

    Side(EndpointConfig c) : ep(c), mtu(c.mtu) {}  // NOLINT

    void drain_events() {
        while (auto e = ep.poll_event()) events.push_back(std::move(*e));
    }
    const Connected* connected() const {
        for (const Event& e : events)
            if (const auto* c = std::get_if<Connected>(&e)) return c;
        return nullptr;
    }
    const Failed* failed() const {
        for (const Event& e : events)
            if (const auto* f = std::get_if<Failed>(&e)) return f;
        return nullptr;
    }
    bool closed() const {
        return std::any_of(events.begin(), events.end(),
                           [](const Event& e) { return std::holds_alternative<Closed>(e); });
    }
    std::vector<std::string> data() const {
        std::vector<std::string> out;
        for (const Event& e : events)
            if (const auto* d = std::get_if<Data>(&e))
                out.emplace_back(reinterpret_cast<const char*>(d->data.data()), d->data.size());
        return out;
    }
};

/// What the network does to a datagram from `from` (0 = client, 1 = server):
/// it may rewrite it; true delivers it.
using Filter = std::function<bool(int from, std::vector<std::byte>&)>;

struct Pair {
    Certificate client_cert = make_cert();
    Certificate server_cert = make_cert();
    Side client;
    Side server;
    bool check_mtu = true;

    static EndpointConfig config(Role role, const Certificate& own, const Certificate& remote) {
        EndpointConfig c;
        c.role = role;
        c.certificate = own;
        c.remote_fingerprint = remote.fingerprint();
        c.initial_retransmission_timeout = std::chrono::milliseconds(150);
        return c;
    }
    Pair() : Pair(std::function<void(EndpointConfig&, EndpointConfig&)>{}) {}
    explicit Pair(const std::function<void(EndpointConfig&, EndpointConfig&)>& tweak)
        : client(make(Role::Client, tweak)), server(make(Role::Server, tweak)) {}

    EndpointConfig make(Role role, const std::function<void(EndpointConfig&, EndpointConfig&)>& tweak) {
        EndpointConfig c = config(Role::Client, client_cert, server_cert);
        EndpointConfig s = config(Role::Server, server_cert, client_cert);
        if (tweak) tweak(c, s);
        return role == Role::Client ? c : s;
    }

    /// Moves datagrams both ways until none is left; returns how many moved.
    std::size_t pump(const Filter& filter = {}) {
        std::size_t moved = 0;
        for (int round = 0; round < 200; ++round) {
            bool any = false;
            for (int from = 0; from < 2; ++from) {
                Side& src = from == 0 ? client : server;
                Side& dst = from == 0 ? server : client;
                while (auto d = src.ep.poll_transmit()) {
                    any = true;
                    ++moved;
                    if (check_mtu) {
                        EXPECT_LE(d->size(), src.mtu) << "datagram over the MTU";
                    }
                    src.sent.push_back(*d);
                    if (!filter || filter(from, *d)) dst.ep.handle_datagram(*d, Clock::now());
                }
            }
            client.drain_events();
            server.drain_events();
            if (!any) break;
        }
        return moved;
    }

    void start(const Filter& filter = {}) {
        server.ep.start(Clock::now());
        client.ep.start(Clock::now());
        pump(filter);
    }
};

}  // namespace

TEST(DtlsEndpoint, HandshakeCompletesAndBothSidesAgree) {
    Pair p;
    EXPECT_EQ(p.client.ep.state(), State::New);
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Connected) << (p.client.failed() ? p.client.failed()->reason : "");
    ASSERT_EQ(p.server.ep.state(), State::Connected) << (p.server.failed() ? p.server.failed()->reason : "");
    const Connected* c = p.client.connected();
    const Connected* s = p.server.connected();
    ASSERT_TRUE(c && s);
    EXPECT_EQ(c->protocol_version, "DTLSv1.2");
    EXPECT_EQ(c->protocol_version, s->protocol_version);
    EXPECT_EQ(c->cipher, s->cipher);
    EXPECT_NE(c->cipher.find("ECDHE-ECDSA"), std::string::npos) << c->cipher;
    EXPECT_FALSE(c->srtp_profile.empty());
    EXPECT_EQ(c->srtp_profile, s->srtp_profile);

    // Each side saw the other's real certificate.
    EXPECT_EQ(p.client.ep.remote_certificate_fingerprint(), p.server_cert.fingerprint());
    EXPECT_EQ(p.server.ep.remote_certificate_fingerprint(), p.client_cert.fingerprint());

    // RFC 5764 §4.2: both derive the same four secrets.
    auto kc = p.client.ep.srtp_keying_material();
    auto ks = p.server.ep.srtp_keying_material();
    ASSERT_TRUE(kc && ks);
    EXPECT_EQ(kc->profile_name, c->srtp_profile);
    EXPECT_EQ(kc->profile_id, ks->profile_id);
    EXPECT_EQ(kc->client_key, ks->client_key);
    EXPECT_EQ(kc->server_key, ks->server_key);
    EXPECT_EQ(kc->client_salt, ks->client_salt);
    EXPECT_EQ(kc->server_salt, ks->server_salt);
    EXPECT_NE(kc->client_key, kc->server_key);
    EXPECT_EQ(kc->client_key.size(), 16u);
    EXPECT_EQ(kc->client_salt.size(), kc->profile_id == 1 ? 14u : 12u);
    EXPECT_EQ(kc->server_salt.size(), kc->client_salt.size());
}

TEST(DtlsEndpoint, NoSrtpWhenDisabled) {
    Pair p([](EndpointConfig& c, EndpointConfig& s) {
        c.srtp = false;
        s.srtp = false;
    });
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Connected);
    ASSERT_TRUE(p.client.connected());
    EXPECT_TRUE(p.client.connected()->srtp_profile.empty());
    EXPECT_FALSE(p.client.ep.srtp_keying_material());
}

TEST(DtlsEndpoint, ApplicationDataBothWays) {
    Pair p;
    EXPECT_EQ(p.client.ep.send(bytes_of("early"), Clock::now()), Errc::invalid_state);
    p.start();
    ASSERT_EQ(p.server.ep.state(), State::Connected);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(p.client.ep.send(bytes_of("ping " + std::to_string(i)), Clock::now()).ok());
        ASSERT_TRUE(p.server.ep.send(bytes_of("pong " + std::to_string(i)), Clock::now()).ok());
    }
    p.pump();
    EXPECT_EQ(p.server.data(), (std::vector<std::string>{"ping 0", "ping 1", "ping 2", "ping 3", "ping 4"}));
    EXPECT_EQ(p.client.data(), (std::vector<std::string>{"pong 0", "pong 1", "pong 2", "pong 3", "pong 4"}));
    EXPECT_EQ(p.client.ep.send({}, Clock::now()), Errc::invalid_argument);
}

TEST(DtlsEndpoint, RecordSizeLimits) {
    Pair p;
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Connected);
    const std::size_t fit = p.client.ep.max_datagram_payload();
    ASSERT_GT(fit, 1000u);
    ASSERT_LT(fit, 1200u);

    // The largest payload that fits one MTU datagram does.
    ASSERT_TRUE(p.client.ep.send(std::vector<std::byte>(fit, std::byte{1}), Clock::now()).ok());
    auto d = p.client.ep.poll_transmit();
    ASSERT_TRUE(d);
    EXPECT_LE(d->size(), 1200u);
    p.server.ep.handle_datagram(*d, Clock::now());

    // One more byte still goes, as one datagram over the MTU (documented:
    // OpenSSL does not split application records; SCTP sizes its packets).
    ASSERT_TRUE(p.client.ep.send(std::vector<std::byte>(fit + 1, std::byte{2}), Clock::now()).ok());
    d = p.client.ep.poll_transmit();
    ASSERT_TRUE(d);
    EXPECT_GT(d->size(), 1200u);
    p.server.ep.handle_datagram(*d, Clock::now());

    // The record limit (2^14) is accepted and delivered whole; beyond it is refused.
    const std::vector<std::byte> max(kMaxRecordPayload, std::byte{3});
    ASSERT_TRUE(p.client.ep.send(max, Clock::now()).ok());
    d = p.client.ep.poll_transmit();
    ASSERT_TRUE(d);
    p.server.ep.handle_datagram(*d, Clock::now());
    EXPECT_FALSE(p.client.ep.poll_transmit());
    EXPECT_EQ(p.client.ep.send(std::vector<std::byte>(kMaxRecordPayload + 1), Clock::now()),
              Errc::message_too_big);

    p.server.drain_events();
    std::vector<std::size_t> sizes;
    for (const Event& e : p.server.events)
        if (const auto* data = std::get_if<Data>(&e)) sizes.push_back(data->data.size());
    EXPECT_EQ(sizes, (std::vector<std::size_t>{fit, fit + 1, kMaxRecordPayload}));
    EXPECT_EQ(p.client.ep.state(), State::Connected);
}

TEST(DtlsEndpoint, ClientDetectsFingerprintMismatch) {
    const Certificate stranger = make_cert();
    Pair p([&](EndpointConfig& c, EndpointConfig&) { c.remote_fingerprint = stranger.fingerprint(); });
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Failed);
    ASSERT_TRUE(p.client.failed());
    EXPECT_EQ(p.client.failed()->reason, "remote certificate fingerprint does not match the SDP");
    EXPECT_FALSE(p.client.connected());
    // The client's bad_certificate alert fails the server as well.
    EXPECT_EQ(p.server.ep.state(), State::Failed);
    ASSERT_TRUE(p.server.failed());
    EXPECT_NE(p.server.failed()->reason.find("bad certificate"), std::string::npos) << p.server.failed()->reason;
    EXPECT_EQ(p.client.ep.remote_certificate_fingerprint(), p.server_cert.fingerprint());
}

TEST(DtlsEndpoint, ServerDetectsFingerprintMismatch) {
    const Certificate stranger = make_cert();
    Pair p([&](EndpointConfig&, EndpointConfig& s) { s.remote_fingerprint = stranger.fingerprint(); });
    p.start();
    ASSERT_EQ(p.server.ep.state(), State::Failed);
    ASSERT_TRUE(p.server.failed());
    EXPECT_EQ(p.server.failed()->reason, "remote certificate fingerprint does not match the SDP");
    EXPECT_FALSE(p.server.connected());
    EXPECT_NE(p.client.ep.state(), State::Connected);
    EXPECT_FALSE(p.client.connected());
}

TEST(DtlsEndpoint, FingerprintHexIsCaseInsensitive) {
    Pair p([&](EndpointConfig& c, EndpointConfig&) {
        std::transform(c.remote_fingerprint.begin(), c.remote_fingerprint.end(), c.remote_fingerprint.begin(),
                       [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
        c.remote_fingerprint_algorithm = "SHA-256";
    });
    p.start();
    EXPECT_EQ(p.client.ep.state(), State::Connected);
}

TEST(DtlsEndpoint, LateFingerprintHoldsDataUntilChecked) {
    Pair p([](EndpointConfig&, EndpointConfig& s) { s.remote_fingerprint.clear(); });
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Connected);
    // The server finished the handshake but cannot trust it yet.
    EXPECT_EQ(p.server.ep.state(), State::Connecting);
    EXPECT_FALSE(p.server.connected());
    ASSERT_TRUE(p.client.ep.send(bytes_of("before the answer"), Clock::now()).ok());
    p.pump();
    EXPECT_TRUE(p.server.data().empty());

    p.server.ep.set_remote_fingerprint("sha-256", p.client_cert.fingerprint());
    p.server.drain_events();
    ASSERT_EQ(p.server.ep.state(), State::Connected);
    ASSERT_EQ(p.server.events.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<Connected>(p.server.events[0]));
    EXPECT_EQ(p.server.data(), std::vector<std::string>{"before the answer"});
}

TEST(DtlsEndpoint, LateWrongFingerprintFails) {
    Pair p([](EndpointConfig&, EndpointConfig& s) { s.remote_fingerprint.clear(); });
    p.start();
    ASSERT_EQ(p.server.ep.state(), State::Connecting);
    p.server.ep.set_remote_fingerprint("sha-256", p.server_cert.fingerprint());  // not the client's
    p.server.drain_events();
    EXPECT_EQ(p.server.ep.state(), State::Failed);
    ASSERT_TRUE(p.server.failed());
    EXPECT_EQ(p.server.failed()->reason, "remote certificate fingerprint does not match the SDP");
    // We told the client with close_notify.
    p.pump();
    EXPECT_TRUE(p.client.closed());
}

TEST(DtlsEndpoint, MalformedFingerprintFails) {
    Pair p([](EndpointConfig& c, EndpointConfig&) { c.remote_fingerprint = "not:hex"; });
    p.start();
    EXPECT_EQ(p.client.ep.state(), State::Failed);
    EXPECT_FALSE(p.server.connected());
}

TEST(DtlsEndpoint, LostFirstFlightIsRetransmittedAfterTheTimeout) {
    Pair p;
    const auto t0 = Clock::now();
    bool dropped = false;
    p.start([&](int from, std::vector<std::byte>&) {
        if (from == 0 && !dropped) {
            dropped = true;  // the ClientHello
            return false;
        }
        return true;
    });
    ASSERT_TRUE(dropped);
    EXPECT_EQ(p.server.ep.state(), State::Connecting);
    EXPECT_FALSE(p.server.ep.poll_timeout());  // a server without a ClientHello waits, no timer
    auto deadline = p.client.ep.poll_timeout();
    ASSERT_TRUE(deadline);
    EXPECT_GT(*deadline, t0);
    EXPECT_LE(*deadline - t0, std::chrono::milliseconds(400));

    // A timeout that has not expired by OpenSSL's clock retransmits nothing.
    p.client.ep.handle_timeout(Clock::now());
    EXPECT_FALSE(p.client.ep.poll_transmit());

    while (p.client.ep.state() == State::Connecting && Clock::now() - t0 < std::chrono::milliseconds(1500)) {
        if (auto when = p.client.ep.poll_timeout()) {
            std::this_thread::sleep_until(*when + std::chrono::milliseconds(2));
            p.client.ep.handle_timeout(Clock::now());
        }
        if (auto when = p.server.ep.poll_timeout(); when && *when <= Clock::now()) {
            p.server.ep.handle_timeout(Clock::now());
        }
        p.pump();
    }
    EXPECT_EQ(p.client.ep.state(), State::Connected);
    EXPECT_EQ(p.server.ep.state(), State::Connected);
    EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(140));
}

TEST(DtlsEndpoint, CloseNotifyReachesThePeer) {
    Pair p;
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Connected);
    p.client.ep.close(Clock::now());
    EXPECT_EQ(p.client.ep.state(), State::Closed);
    EXPECT_EQ(p.client.ep.send(bytes_of("late"), Clock::now()), Errc::invalid_state);
    p.pump();
    EXPECT_EQ(p.server.ep.state(), State::Closed);
    EXPECT_TRUE(p.server.closed());
    // Closed is terminal: input is ignored.
    const std::size_t events = p.server.events.size();
    p.server.ep.handle_datagram(bytes_of("\x17\xfe\xfd junk"), Clock::now());
    p.server.drain_events();
    EXPECT_EQ(p.server.events.size(), events);
    EXPECT_FALSE(p.server.ep.poll_transmit());
    EXPECT_EQ(p.server.ep.send(bytes_of("x"), Clock::now()), Errc::invalid_state);
}

TEST(DtlsEndpoint, GarbageDoesNotCrashAndAnOpenSessionSurvivesIt) {
    std::mt19937 rng(7);
    auto garbage = [&](std::size_t n, int first) {
        std::vector<std::byte> g(n);
        for (auto& b : g) b = std::byte(static_cast<std::uint8_t>(rng()));
        if (first >= 0) g[0] = std::byte(static_cast<std::uint8_t>(first));
        if (n > 2 && first >= 0) {
            g[1] = std::byte{0xfe};  // DTLS 1.2 record version (RFC 6347 §4.1)
            g[2] = std::byte{0xfd};
        }
        return g;
    };
    // A fresh server fed garbage: never crashes; either still waits or fails with a reason.
    {
        Pair p;
        p.server.ep.start(Clock::now());
        for (int i = 0; i < 200; ++i) {
            p.server.ep.handle_datagram(garbage(1 + rng() % 1500, i % 2 ? 22 : -1), Clock::now());
            while (p.server.ep.poll_transmit()) {
            }
        }
        p.server.drain_events();
        EXPECT_TRUE(p.server.ep.state() == State::Connecting || p.server.ep.state() == State::Failed);
        if (p.server.ep.state() == State::Failed) {
            ASSERT_TRUE(p.server.failed());
            EXPECT_FALSE(p.server.failed()->reason.empty());
        }
    }
    // An established session drops forged records (RFC 6347 §4.1.2.7) and goes on.
    {
        Pair p;
        p.start();
        ASSERT_EQ(p.server.ep.state(), State::Connected);
        for (int i = 0; i < 200; ++i) {
            p.server.ep.handle_datagram(garbage(1 + rng() % 1500, 20 + i % 4), Clock::now());
        }
        p.pump();
        EXPECT_EQ(p.server.ep.state(), State::Connected) << (p.server.failed() ? p.server.failed()->reason : "");
        ASSERT_TRUE(p.client.ep.send(bytes_of("still here"), Clock::now()).ok());
        p.pump();
        EXPECT_EQ(p.server.data(), std::vector<std::string>{"still here"});
    }
}

TEST(DtlsEndpoint, SmallClientMtuFragmentsTheHandshake) {
    Pair p([](EndpointConfig& c, EndpointConfig&) { c.mtu = 300; });
    p.start();
    ASSERT_EQ(p.client.ep.state(), State::Connected) << (p.client.failed() ? p.client.failed()->reason : "");
    ASSERT_EQ(p.server.ep.state(), State::Connected);
    // Every client datagram kept to 300 (checked in pump). OpenSSL's own
    // ClientHello (~170 bytes) fits, but its Certificate does not: count the
    // plaintext handshake fragments shorter than their message (RFC 6347
    // §4.2.2 header: msg_type(1) length(3) message_seq(2) fragment_offset(3)
    // fragment_length(3)), which the server had to reassemble.
    auto u24 = [](const std::byte* b) {
        return (std::size_t{static_cast<std::uint8_t>(b[0])} << 16) |
               (std::size_t{static_cast<std::uint8_t>(b[1])} << 8) | std::size_t{static_cast<std::uint8_t>(b[2])};
    };
    std::size_t fragments = 0;
    for (const auto& d : p.client.sent) {
        for (std::size_t off = 0; off + 13 <= d.size();) {
            const std::size_t len = base::load_be16(d.data() + off + 11);
            if (d[off] == kHandshake && base::load_be16(d.data() + off + 3) == 0 && len >= 12 &&
                off + 13 + len <= d.size()) {
                const std::byte* hs = d.data() + off + 13;
                if (u24(hs + 9) < u24(hs + 1)) ++fragments;
            }
            off += 13 + len;
        }
    }
    EXPECT_GE(fragments, 2u);
}

// Chromium's 1413-byte ClientHello arrives as two fragments (0+1175, 1175+238)
// in two datagrams (peers/README.md). We split OpenSSL's ClientHello the same
// way, by rewriting the RFC 6347 §4.2.2 headers:
//
//   record:    type(1) version(2) epoch(2) sequence_number(6) length(2)
//   handshake: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3) body
std::vector<std::vector<std::byte>> split_client_hello(const std::vector<std::byte>& d, std::size_t first) {
    constexpr std::size_t kRec = 13, kHs = 12;
    const std::size_t body_len = d.size() - kRec - kHs;
    auto u24 = [](std::byte* p, std::size_t v) {
        p[0] = std::byte((v >> 16) & 0xff);
        p[1] = std::byte((v >> 8) & 0xff);
        p[2] = std::byte(v & 0xff);
    };
    std::vector<std::vector<std::byte>> out;
    for (int part = 0; part < 2; ++part) {
        const std::size_t off = part == 0 ? 0 : first;
        const std::size_t len = part == 0 ? first : body_len - first;
        std::vector<std::byte> r(d.begin(), d.begin() + kRec + kHs);
        r.insert(r.end(), d.begin() + static_cast<std::ptrdiff_t>(kRec + kHs + off),
                 d.begin() + static_cast<std::ptrdiff_t>(kRec + kHs + off + len));
        r[10] = std::byte(static_cast<std::uint8_t>(static_cast<std::uint8_t>(r[10]) + part));  // next record seq
        base::store_be16(r.data() + 11, static_cast<std::uint16_t>(kHs + len));
        u24(r.data() + kRec + 6, off);
        u24(r.data() + kRec + 9, len);
        out.push_back(std::move(r));
    }
    return out;
}

void shift_epoch0_sequence_numbers(std::vector<std::byte>& d) {
    std::size_t off = 0;
    while (off + 13 <= d.size()) {
        const std::size_t len = base::load_be16(d.data() + off + 11);
        if (base::load_be16(d.data() + off + 3) == 0) {  // epoch 0
            std::uint64_t seq = 0;
            for (std::size_t i = 5; i < 11; ++i) seq = (seq << 8) | static_cast<std::uint8_t>(d[off + i]);
            ++seq;
            for (std::size_t i = 10; i >= 5; --i, seq >>= 8) d[off + i] = std::byte(seq & 0xff);
        }
        off += 13 + len;
    }
}

TEST(DtlsEndpoint, ServerReassemblesAClientHelloSplitOverTwoDatagrams) {
    Pair p;
    p.server.ep.start(Clock::now());
    p.client.ep.start(Clock::now());
    auto hello = p.client.ep.poll_transmit();
    ASSERT_TRUE(hello);
    ASSERT_FALSE(p.client.ep.poll_transmit());
    ASSERT_EQ((*hello)[0], kHandshake);
    ASSERT_EQ((*hello)[13], std::byte{1});  // client_hello (RFC 5246 §7.4)
    const std::size_t body = hello->size() - 25;
    ASSERT_EQ(base::load_be16(hello->data() + 11), body + 12);  // one unfragmented message
    auto parts = split_client_hello(*hello, body / 2);
    // Out of order, as the network may deliver them.
    p.server.ep.handle_datagram(parts[1], Clock::now());
    EXPECT_FALSE(p.server.ep.poll_transmit());  // half a ClientHello: nothing to answer yet
    p.server.ep.handle_datagram(parts[0], Clock::now());
    // The split used one more epoch-0 record sequence number than the client
    // knows of; its later epoch-0 records must not look like replays (RFC 6347
    // §4.1.2.6), so shift them as a real two-datagram client would number them.
    p.pump([](int from, std::vector<std::byte>& d) {
        if (from == 0) shift_epoch0_sequence_numbers(d);
        return true;
    });
    EXPECT_EQ(p.client.ep.state(), State::Connected);
    EXPECT_EQ(p.server.ep.state(), State::Connected);
}

TEST(DtlsEndpoint, InboundApplicationDataIsBounded) {
    Pair p([](EndpointConfig&, EndpointConfig& s) { s.max_pending_app = 1000; });
    p.start();
    ASSERT_EQ(p.server.ep.state(), State::Connected);
    p.server.events.clear();
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(p.client.ep.send(std::vector<std::byte>(400, std::byte{9}), Clock::now()).ok());
    // Deliver without polling the server's events in between.
    while (auto d = p.client.ep.poll_transmit()) p.server.ep.handle_datagram(*d, Clock::now());
    p.server.drain_events();
    EXPECT_EQ(p.server.data().size(), 2u);  // 800 bytes held, the rest dropped
    // Once taken, more fits again.
    ASSERT_TRUE(p.client.ep.send(std::vector<std::byte>(400, std::byte{9}), Clock::now()).ok());
    p.pump();
    EXPECT_EQ(p.server.data().size(), 3u);
}

TEST(DtlsEndpoint, ServerStartsOnItsFirstDatagram) {
    // A server handed the ClientHello before start() starts by itself.
    Pair p;
    p.client.ep.start(Clock::now());
    p.pump();
    EXPECT_EQ(p.client.ep.state(), State::Connected);
    EXPECT_EQ(p.server.ep.state(), State::Connected);
}

TEST(DtlsEndpoint, EveryHandshakeDatagramFitsTheMtuAcrossSizes) {
    // OpenSSL packs several handshake messages per datagram; whatever the fill
    // level, no datagram may exceed the MTU (checked on every one in pump).
    for (std::size_t mtu = 280; mtu <= 1200; mtu += 23) {
        Pair p([&](EndpointConfig& c, EndpointConfig& s) {
            c.mtu = mtu;
            s.mtu = mtu;
        });
        p.start();
        ASSERT_EQ(p.client.ep.state(), State::Connected) << "mtu " << mtu;
        ASSERT_EQ(p.server.ep.state(), State::Connected) << "mtu " << mtu;
        for (const auto& d : p.client.sent) ASSERT_LE(d.size(), mtu);
        for (const auto& d : p.server.sent) ASSERT_LE(d.size(), mtu);
    }
}

// Chromium 156 offers DTLS 1.3 next to 1.2 (supported_versions fefc, fefd) and
// a 1216-byte X25519MLKEM768 key share, so its ClientHello is ~1.4 KB in two
// fragments (peers/README.md). We add those two extensions to OpenSSL's own
// ClientHello, split it like Chromium, and check that the server answers with
// a DTLS 1.2 ServerHello instead of failing. (The client's transcript no
// longer matches, so this handshake cannot finish; the reply is the point.)
//
//   ClientHello body (RFC 6347 §4.2.1, RFC 5246 §7.4.1.2):
//   client_version(2) random(32) session_id<0..32> cookie<0..255>
//   cipher_suites<2..2^16-2> compression_methods<1..255> extensions<0..2^16-1>
TEST(DtlsEndpoint, ServerFallsBackToDtls12FromAChromiumLikeClientHello) {
    Pair p;
    p.server.ep.start(Clock::now());
    p.client.ep.start(Clock::now());
    auto hello = p.client.ep.poll_transmit();
    ASSERT_TRUE(hello);
    std::vector<std::byte>& d = *hello;
    constexpr std::size_t kBody = 13 + 12;
    std::size_t at = kBody + 2 + 32;
    at += 1 + static_cast<std::uint8_t>(d[at]);             // session_id
    at += 1 + static_cast<std::uint8_t>(d[at]);             // cookie
    at += 2 + base::load_be16(d.data() + at);               // cipher_suites
    at += 1 + static_cast<std::uint8_t>(d[at]);             // compression_methods
    ASSERT_LE(at + 2, d.size());
    const std::size_t ext_len_at = at;
    ASSERT_EQ(ext_len_at + 2 + base::load_be16(d.data() + ext_len_at), d.size());

    std::vector<std::byte> ext;
    auto u16 = [&](std::size_t v) {
        ext.push_back(std::byte((v >> 8) & 0xff));
        ext.push_back(std::byte(v & 0xff));
    };
    u16(43);  // supported_versions (RFC 8446 §4.2.1): DTLS 1.3, DTLS 1.2
    u16(5);
    ext.push_back(std::byte{4});
    for (int b : {0xfe, 0xfc, 0xfe, 0xfd}) ext.push_back(std::byte(b));
    u16(51);  // key_share (RFC 8446 §4.2.8): X25519MLKEM768 (0x11ec) and X25519
    u16(2 + (4 + 1216) + (4 + 32));
    u16((4 + 1216) + (4 + 32));
    u16(0x11ec);
    u16(1216);
    ext.insert(ext.end(), 1216, std::byte{0x5a});
    u16(0x001d);
    u16(32);
    ext.insert(ext.end(), 32, std::byte{0x09});

    d.insert(d.end(), ext.begin(), ext.end());
    base::store_be16(d.data() + ext_len_at, static_cast<std::uint16_t>(d.size() - ext_len_at - 2));
    const std::size_t body = d.size() - kBody;
    ASSERT_GT(body, 1175u);
    for (std::size_t hs_len_at : {std::size_t{13 + 1}, std::size_t{13 + 9}}) {  // length, fragment_length
        d[hs_len_at] = std::byte((body >> 16) & 0xff);
        d[hs_len_at + 1] = std::byte((body >> 8) & 0xff);
        d[hs_len_at + 2] = std::byte(body & 0xff);
    }
    base::store_be16(d.data() + 11, static_cast<std::uint16_t>(body + 12));

    auto parts = split_client_hello(d, 1175);
    EXPECT_LE(parts[0].size(), 1200u);
    p.server.ep.handle_datagram(parts[0], Clock::now());
    EXPECT_FALSE(p.server.ep.poll_transmit());
    p.server.ep.handle_datagram(parts[1], Clock::now());
    p.server.drain_events();
    ASSERT_FALSE(p.server.failed()) << p.server.failed()->reason;
    auto reply = p.server.ep.poll_transmit();
    ASSERT_TRUE(reply);
    ASSERT_GT(reply->size(), 13u + 12 + 2);
    EXPECT_EQ((*reply)[0], kHandshake);
    EXPECT_EQ((*reply)[13], std::byte{2});  // server_hello
    EXPECT_EQ((*reply)[25], std::byte{0xfe});  // server_version: DTLS 1.2
    EXPECT_EQ((*reply)[26], std::byte{0xfd});
}
