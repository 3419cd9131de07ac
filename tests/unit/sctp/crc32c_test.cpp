// CRC32c against the standard check value and against usrsctp's own
// implementation (an independent one), and the SCTP checksum field's rules.
#include "proto/sctp/crc32c.hpp"

#include <gtest/gtest.h>
#include <usrsctp.h>

#include <cstring>
#include <random>
#include <vector>

using namespace duplex;
using namespace duplex::proto::sctp;

TEST(Crc32c, CheckValue) {
    // The CRC catalogue's check value for CRC-32C: "123456789" -> 0xE3069283.
    EXPECT_EQ(crc32c(base::as_bytes("123456789")), 0xE3069283u);
    EXPECT_EQ(crc32c({}), 0u);
}

TEST(Crc32c, AgreesWithUsrsctpOnEveryLengthAndAlignment) {
    std::mt19937 rng(9);
    std::vector<std::byte> buf(4096 + 16);
    for (auto& b : buf) b = static_cast<std::byte>(rng());
    for (std::size_t off = 0; off < 8; ++off)
        for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 1155u, 4096u}) {
            base::Bytes view(buf.data() + off, len);
            EXPECT_EQ(crc32c(view), usrsctp_crc32c(buf.data() + off, len)) << "off " << off << " len " << len;
        }
}

TEST(Crc32c, SctpChecksumFieldRoundTripsAndCatchesAFlippedBit) {
    std::vector<std::byte> packet(1200);
    std::mt19937 rng(4);
    for (auto& b : packet) b = static_cast<std::byte>(rng());
    set_sctp_checksum(packet);
    EXPECT_TRUE(sctp_checksum_ok(packet));
    // The field holds usrsctp_crc32c of the packet with a zero field, in memory order.
    auto zeroed = packet;
    for (int i = 8; i < 12; ++i) zeroed[static_cast<std::size_t>(i)] = std::byte{0};
    const std::uint32_t expect = usrsctp_crc32c(zeroed.data(), zeroed.size());
    std::uint32_t got = 0;
    std::memcpy(&got, packet.data() + 8, 4);
    EXPECT_EQ(got, expect);
    for (std::size_t bit : {0u, 100u, 8 * 9u, 8 * 1199u + 7}) {
        auto bad = packet;
        bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
        EXPECT_FALSE(sctp_checksum_ok(bad)) << bit;
    }
    EXPECT_FALSE(sctp_checksum_ok(base::Bytes(packet.data(), 11)));
}
