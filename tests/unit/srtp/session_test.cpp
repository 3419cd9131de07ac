// SRTP and SRTCP sessions (proto/srtp): both profiles round trip, a packet
// that was tampered with, replayed or keyed otherwise is refused with its
// error, and two DTLS endpoints that shook hands derive sessions that talk
// to each other (RFC 5764 §4.2: each side sends with its own key).
#include "proto/dtls/certificate.hpp"
#include "proto/dtls/endpoint.hpp"
#include "proto/rtp/packet.hpp"
#include "proto/srtp/session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::proto;
using srtp::Direction;
using srtp::Profile;
using srtp::Session;
using srtp::SrtpError;

namespace {

std::vector<std::byte> fill(std::size_t n, int seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((seed + i * 7) & 0xff);
    return v;
}

/// An RTP packet of `payload` bytes with sequence `seq`, in a buffer with
/// room for the SRTP trailer; returns its length.
std::size_t rtp_packet(std::vector<std::byte>& buf, std::uint16_t seq, std::size_t payload) {
    rtp::Header h;
    h.payload_type = 96;
    h.sequence = seq;
    h.timestamp = 90000u * seq;
    h.ssrc = 0x1234;
    const auto body = fill(payload, seq);
    buf.assign(rtp::written_size(h, payload) + Session::kMaxTrailer + 4, std::byte{0});
    return rtp::write(h, body, buf);
}

struct Keys {
    std::vector<std::byte> key = fill(16, 1), salt;
    explicit Keys(Profile p) : salt(fill(p == Profile::AeadAes128Gcm ? 12 : 14, 2)) {}
};

class SrtpProfiles : public ::testing::TestWithParam<Profile> {};

TEST_P(SrtpProfiles, RtpAndRtcpRoundTripAndTheTagIsChecked) {
    const Keys k(GetParam());
    auto tx = Session::create(GetParam(), Direction::Outbound, k.key, k.salt);
    auto rx = Session::create(GetParam(), Direction::Inbound, k.key, k.salt);
    ASSERT_TRUE(tx && rx) << tx.status().message() << rx.status().message();
    std::vector<std::byte> buf;
    const std::size_t len = rtp_packet(buf, 1, 1000);
    const std::vector<std::byte> plain(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
    auto sealed = tx->protect_rtp(buf, len);
    ASSERT_TRUE(sealed) << sealed.status().message();
    const std::size_t tag = GetParam() == Profile::AeadAes128Gcm ? 16 : 10;
    EXPECT_EQ(*sealed, len + tag);
    EXPECT_FALSE(std::equal(plain.begin() + 12, plain.end(), buf.begin() + 12));  // the payload is encrypted
    EXPECT_TRUE(std::equal(plain.begin(), plain.begin() + 12, buf.begin()));    // the header is not
    const std::vector<std::byte> wire(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*sealed));
    // Tampered: refused.
    auto bad = wire;
    bad[40] ^= std::byte{1};
    EXPECT_EQ(rx->unprotect_rtp(bad).error(), make_error_code(SrtpError::auth_failed));
    // Whole: the plain packet back.
    auto good = wire;
    auto opened = rx->unprotect_rtp(good);
    ASSERT_TRUE(opened) << opened.status().message();
    ASSERT_EQ(*opened, len);
    EXPECT_TRUE(std::equal(plain.begin(), plain.end(), good.begin()));
    // The same again: a replay (RFC 3711 §3.3.2).
    auto again = wire;
    EXPECT_EQ(rx->unprotect_rtp(again).error(), make_error_code(SrtpError::replay));
    // RTCP: an RR, sealed and opened.
    std::vector<std::byte> rtcp = {std::byte{0x80}, std::byte{201}, std::byte{0}, std::byte{1},
                                   std::byte{0},    std::byte{0},   std::byte{0}, std::byte{9}};
    const auto rr = rtcp;
    rtcp.resize(rtcp.size() + Session::kMaxTrailer + 4);
    auto s = tx->protect_rtcp(rtcp, rr.size());
    ASSERT_TRUE(s) << s.status().message();
    rtcp.resize(*s);
    auto o = rx->unprotect_rtcp(rtcp);
    ASSERT_TRUE(o) << o.status().message();
    rtcp.resize(*o);
    EXPECT_EQ(rtcp, rr);
}

TEST_P(SrtpProfiles, AForgottenSsrcStartsAfresh) {
    // A stream that ended (its transceiver got another SSRC) leaves no state:
    // the same packet is a replay before forget_ssrc, and new after it.
    const Keys k(GetParam());
    auto tx = Session::create(GetParam(), Direction::Outbound, k.key, k.salt);
    auto rx = Session::create(GetParam(), Direction::Inbound, k.key, k.salt);
    ASSERT_TRUE(tx && rx);
    std::vector<std::byte> buf;
    const std::size_t len = rtp_packet(buf, 7, 200);
    auto sealed = tx->protect_rtp(buf, len);
    ASSERT_TRUE(sealed);
    const std::vector<std::byte> wire(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*sealed));
    auto first = wire;
    ASSERT_TRUE(rx->unprotect_rtp(first));
    auto replay = wire;
    EXPECT_EQ(rx->unprotect_rtp(replay).error(), make_error_code(SrtpError::replay));
    rx->forget_ssrc(0x4321);  // another SSRC: nothing changes
    auto still = wire;
    EXPECT_EQ(rx->unprotect_rtp(still).error(), make_error_code(SrtpError::replay));
    rx->forget_ssrc(0x1234);
    auto fresh = wire;
    EXPECT_TRUE(rx->unprotect_rtp(fresh)) << "the stream's state was not dropped";
}

TEST_P(SrtpProfiles, AnotherKeyOrNoRoomIsRefused) {
    const Keys k(GetParam());
    auto tx = Session::create(GetParam(), Direction::Outbound, k.key, k.salt);
    auto other = fill(16, 99);
    auto rx = Session::create(GetParam(), Direction::Inbound, other, k.salt);
    ASSERT_TRUE(tx && rx);
    std::vector<std::byte> buf;
    const std::size_t len = rtp_packet(buf, 7, 200);
    auto sealed = tx->protect_rtp(buf, len);
    ASSERT_TRUE(sealed);
    std::vector<std::byte> wire(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*sealed));
    EXPECT_EQ(rx->unprotect_rtp(wire).error(), make_error_code(SrtpError::auth_failed));
    std::vector<std::byte> tight(len);
    EXPECT_EQ(tx->protect_rtp(tight, len).error(), make_error_code(SrtpError::no_room));
    std::vector<std::byte> tiny(4);
    EXPECT_EQ(rx->unprotect_rtp(tiny).error(), make_error_code(SrtpError::too_short));
    EXPECT_EQ(Session::create(GetParam(), Direction::Inbound, fill(15, 1), k.salt).error(),
              make_error_code(SrtpError::bad_key));
}

INSTANTIATE_TEST_SUITE_P(BothProfiles, SrtpProfiles, ::testing::Values(Profile::Aes128CmHmacSha1_80, Profile::AeadAes128Gcm),
                         [](const auto& p) { return p.param == Profile::AeadAes128Gcm ? "AeadAes128Gcm" : "AesCm128Sha1_80"; });

TEST(SrtpSessions, KeyedFromADtlsHandshakeEachSideReadsTheOther) {
    auto client_cert = dtls::Certificate::generate();
    auto server_cert = dtls::Certificate::generate();
    ASSERT_TRUE(client_cert && server_cert);
    auto config = [](dtls::Role role, const dtls::Certificate& own, const dtls::Certificate& remote) {
        dtls::EndpointConfig c;
        c.role = role;
        c.certificate = own;
        c.remote_fingerprint = remote.fingerprint();
        return c;
    };
    dtls::Endpoint client(config(dtls::Role::Client, *client_cert, *server_cert));
    dtls::Endpoint server(config(dtls::Role::Server, *server_cert, *client_cert));
    const auto now = base::Instant{} + std::chrono::hours(1);
    server.start(now);
    client.start(now);
    for (int round = 0; round < 50; ++round) {
        bool any = false;
        while (auto d = client.poll_transmit()) any = true, server.handle_datagram(*d, now);
        while (auto d = server.poll_transmit()) any = true, client.handle_datagram(*d, now);
        if (!any) break;
    }
    ASSERT_EQ(client.state(), dtls::State::Connected);
    ASSERT_EQ(server.state(), dtls::State::Connected);
    auto ck = client.srtp_keying_material();
    auto sk = server.srtp_keying_material();
    ASSERT_TRUE(ck && sk);
    auto c = srtp::make_sessions(*ck, true);
    auto s = srtp::make_sessions(*sk, false);
    ASSERT_TRUE(c && s) << c.status().message() << s.status().message();
    for (auto [from, to] : {std::pair{&c->outbound, &s->inbound}, std::pair{&s->outbound, &c->inbound}}) {
        std::vector<std::byte> buf;
        const std::size_t len = rtp_packet(buf, 42, 500);
        const std::vector<std::byte> plain(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
        auto sealed = from->protect_rtp(buf, len);
        ASSERT_TRUE(sealed);
        buf.resize(*sealed);
        auto opened = to->unprotect_rtp(buf);
        ASSERT_TRUE(opened) << opened.status().message();
        EXPECT_TRUE(std::equal(plain.begin(), plain.end(), buf.begin()));
    }
    // One's own outbound key does not open what it sent: the directions differ.
    std::vector<std::byte> buf;
    const std::size_t len = rtp_packet(buf, 43, 100);
    auto sealed = c->outbound.protect_rtp(buf, len);
    ASSERT_TRUE(sealed);
    buf.resize(*sealed);
    EXPECT_FALSE(c->inbound.unprotect_rtp(buf));
}

}  // namespace
