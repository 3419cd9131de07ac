// RFC 6455 §5.7 examples and the header codec.
#include "proto/ws/error.hpp"
#include "proto/ws/frame.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::proto::ws;
using test::hex;

TEST(Frame, Rfc6455Section57UnmaskedHello) {
    auto in = hex("81 05 48 65 6c 6c 6f");
    auto r = parse_frame_header(in);
    auto* h = std::get_if<FrameHeader>(&r);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->fin);
    EXPECT_EQ(h->opcode, 1);
    EXPECT_FALSE(h->masked);
    EXPECT_EQ(h->payload_len, 5u);
    EXPECT_EQ(h->header_len, 2u);
}

TEST(Frame, Rfc6455Section57MaskedHello) {
    auto in = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
    auto r = parse_frame_header(in);
    auto* h = std::get_if<FrameHeader>(&r);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->masked);
    EXPECT_EQ(h->header_len, 6u);
    std::vector<std::byte> payload(in.begin() + 6, in.end());
    apply_mask(payload, h->mask, 0);
    EXPECT_EQ(base::as_string_view(payload), "Hello");
}

TEST(Frame, MaskingPieceByPieceEqualsWhole) {
    const MaskKey key{std::byte(0x37), std::byte(0xfa), std::byte(0x21), std::byte(0x3d)};
    std::vector<std::byte> data(1000);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i * 7);
    auto whole = data;
    apply_mask(whole, key, 0);
    for (std::size_t cut : {1u, 3u, 5u, 8u, 13u, 999u}) {
        auto parts = data;
        apply_mask({parts.data(), cut}, key, 0);
        apply_mask({parts.data() + cut, parts.size() - cut}, key, cut);
        EXPECT_EQ(parts, whole) << cut;
    }
}

TEST(Frame, MaskingEqualsTheRfcDefinitionForEverySizeAndOffset) {
    // RFC 6455 §5.3: transformed-octet-i = original-octet-i XOR masking-key-octet-(i MOD 4),
    // with i counted from the payload's start (here `offset` bytes before the span).
    const MaskKey key{std::byte(0x9d), std::byte(0x01), std::byte(0xe7), std::byte(0x42)};
    for (std::size_t offset = 0; offset < 8; ++offset) {
        for (std::size_t size = 0; size <= 40; ++size) {
            std::vector<std::byte> data(size);
            for (std::size_t i = 0; i < size; ++i) data[i] = std::byte(i * 29 + offset);
            auto expected = data;
            for (std::size_t i = 0; i < size; ++i) expected[i] ^= key[(offset + i) % 4];
            apply_mask(data, key, offset);
            EXPECT_EQ(data, expected) << "offset " << offset << " size " << size;
        }
    }
}

TEST(Frame, UnmaskingWhileLookingForNonAsciiEqualsTheRfcDefinition) {
    // The server's fast path: §5.3 unmasking and "is every byte < 0x80" in
    // one pass, for every size around the 8- and 4-byte steps, with one
    // non-ASCII byte at each position (and none).
    const MaskKey key{std::byte(0x9d), std::byte(0x01), std::byte(0xe7), std::byte(0x42)};
    for (std::size_t size = 0; size <= 40; ++size) {
        for (std::size_t high = 0; high <= size; ++high) {  // high == size: all ASCII
            std::vector<std::byte> plain(size);
            for (std::size_t i = 0; i < size; ++i) plain[i] = std::byte(0x20 + (i * 13) % 0x5f);
            if (high < size) plain[high] = std::byte(0x80 | (high * 7 & 0x7f));
            auto wire = plain;
            for (std::size_t i = 0; i < size; ++i) wire[i] ^= key[i % 4];
            const bool ascii = unmask_is_ascii(wire, key);
            EXPECT_EQ(wire, plain) << "size " << size << " non-ASCII at " << high;
            EXPECT_EQ(ascii, high == size) << "size " << size << " non-ASCII at " << high;
        }
    }
}

TEST(Frame, Rfc6455Section57Lengths) {
    // 256 bytes binary: 16-bit length; 64 KiB: 64-bit length.
    auto r = parse_frame_header(hex("82 7E 01 00"));
    ASSERT_TRUE(std::holds_alternative<FrameHeader>(r));
    EXPECT_EQ(std::get<FrameHeader>(r).payload_len, 256u);
    r = parse_frame_header(hex("82 7F 00 00 00 00 00 01 00 00"));
    ASSERT_TRUE(std::holds_alternative<FrameHeader>(r));
    EXPECT_EQ(std::get<FrameHeader>(r).payload_len, 65536u);
    EXPECT_EQ(std::get<FrameHeader>(r).header_len, 10u);
}

TEST(Frame, NeedsMoreUntilTheHeaderIsWhole) {
    const auto in = hex("82 FF 00 00 00 00 00 01 00 00 01 02 03 04");
    for (std::size_t n = 0; n < in.size(); ++n)
        EXPECT_TRUE(std::holds_alternative<NeedMore>(parse_frame_header({in.data(), n}))) << n;
    EXPECT_TRUE(std::holds_alternative<FrameHeader>(parse_frame_header(in)));
}

TEST(Frame, SixtyFourBitLengthWithMsbSetIsAnError) {
    auto r = parse_frame_header(hex("82 7F 80 00 00 00 00 00 00 01"));
    ASSERT_TRUE(std::holds_alternative<std::error_code>(r));
    EXPECT_EQ(std::get<std::error_code>(r), make_error_code(WsError::length_msb_set));
}

TEST(Frame, WritesMinimalLengthEncodings) {
    std::byte out[kMaxHeaderLen];
    EXPECT_EQ(write_frame_header(out, true, Opcode::Text, 125, nullptr), 2u);
    EXPECT_EQ(write_frame_header(out, true, Opcode::Text, 126, nullptr), 4u);
    EXPECT_EQ(write_frame_header(out, true, Opcode::Text, 65535, nullptr), 4u);
    EXPECT_EQ(write_frame_header(out, true, Opcode::Text, 65536, nullptr), 10u);
    const MaskKey key{};
    EXPECT_EQ(write_frame_header(out, false, Opcode::Binary, 5, &key), 6u);
    EXPECT_EQ(std::to_integer<int>(out[0]), 0x02);
    EXPECT_EQ(std::to_integer<int>(out[1]), 0x85);
}

TEST(Frame, RoundTripsThroughTheParser) {
    for (std::uint64_t len : {0ull, 1ull, 125ull, 126ull, 65535ull, 65536ull, (1ull << 40)}) {
        std::byte out[kMaxHeaderLen];
        const MaskKey key{std::byte(9), std::byte(8), std::byte(7), std::byte(6)};
        const auto n = write_frame_header(out, true, Opcode::Ping, len, &key, 4);
        auto r = parse_frame_header({out, n});
        auto* h = std::get_if<FrameHeader>(&r);
        ASSERT_TRUE(h);
        EXPECT_EQ(h->payload_len, len);
        EXPECT_EQ(h->rsv, 4);
        EXPECT_EQ(h->mask, key);
        EXPECT_EQ(h->header_len, n);
    }
}
