// RTX packets (RFC 4588 §4): the original's timestamp, marker and
// extensions, the OSN before its payload, and an extension given anew (a
// retransmission's own transport-wide sequence number).
#include "proto/rtp/packet.hpp"
#include "proto/rtp/rtx.hpp"

#include "support/byte_literals.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string_view>
#include <vector>

using namespace duplex;
using duplex::test::bytes;
using namespace duplex::proto::rtp;

namespace {

std::map<int, std::vector<std::byte>> extensions_of(const Packet& p) {
    std::map<int, std::vector<std::byte>> out;
    p.for_each_extension([&](const Extension& e) { out[e.id] = std::vector<std::byte>(e.data.begin(), e.data.end()); });
    return out;
}

}  // namespace

TEST(Rtx, TheRetransmissionCarriesTheOriginalWithOneExtensionGivenAnew) {
    const std::vector<std::byte> mid = bytes({'0'}), twcc = bytes({0x00, 0x07}), again = bytes({0x01, 0x2C});
    const Extension ext[] = {{1, mid}, {3, twcc}};
    Header h;
    h.marker = true;
    h.payload_type = 96;
    h.sequence = 4000;
    h.timestamp = 90000;
    h.ssrc = 0x11111111;
    h.extensions = ext;
    std::vector<std::byte> original(64);
    original.resize(write(h, base::as_bytes(std::string_view("frame")), original));
    const auto parsed = parse(original);
    ASSERT_TRUE(parsed.ok());

    const Extension own[] = {{3, again}};
    std::vector<std::byte> rtx(128);
    const std::size_t n = write_rtx(parsed.value(), 97, 0x22222222, 17, rtx, own);
    ASSERT_GT(n, 0u);
    rtx.resize(n);
    const auto r = parse(rtx);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().payload_type, 97);
    EXPECT_EQ(r.value().ssrc, 0x22222222u);
    EXPECT_EQ(r.value().sequence, 17);
    EXPECT_EQ(r.value().timestamp, 90000u);
    EXPECT_TRUE(r.value().marker);
    const auto e = extensions_of(r.value());
    EXPECT_EQ(e.at(1), mid);    // carried over
    EXPECT_EQ(e.at(3), again);  // given anew
    const auto u = unwrap_rtx(r.value());
    ASSERT_TRUE(u);
    EXPECT_EQ(u->original_sequence, 4000);
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(u->payload.data()), u->payload.size()), "frame");

    // Without anything to replace, every extension is the original's.
    std::vector<std::byte> plain(128);
    plain.resize(write_rtx(parsed.value(), 97, 0x22222222, 18, plain));
    const auto p = parse(plain);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(extensions_of(p.value()).at(3), twcc);
}
