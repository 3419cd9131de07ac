// DCEP messages (RFC 8832 §5) and WebRTC PPIDs (RFC 8831 §8).
#include "proto/dcep/message.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace duplex;
using namespace duplex::proto::dcep;

namespace {

std::vector<std::byte> unhex(std::string_view h) {
    std::vector<std::byte> out;
    int hi = -1;
    for (char c : h) {
        int val;
        if (c >= '0' && c <= '9') val = c - '0';
        else if (c >= 'a' && c <= 'f') val = c - 'a' + 10;
        else continue;
        if (hi < 0) {
            hi = val;
        } else {
            out.push_back(std::byte(hi * 16 + val));
            hi = -1;
        }
    }
    return out;
}

std::error_code error_of(const std::vector<std::byte>& m) {
    std::error_code ec;
    EXPECT_FALSE(parse(m, &ec).has_value());
    return ec;
}

constexpr ChannelType kAllTypes[] = {
    ChannelType::Reliable,
    ChannelType::ReliableUnordered,
    ChannelType::PartialReliableRexmit,
    ChannelType::PartialReliableRexmitUnordered,
    ChannelType::PartialReliableTimed,
    ChannelType::PartialReliableTimedUnordered,
};

}  // namespace

TEST(DcepMessage, OpenEncodesByteExact) {
    // A browser's default channel "chat": reliable, ordered, priority 256.
    DataChannelOpen open{ChannelType::Reliable, kPriorityNormal, 0, "chat", ""};
    auto bytes = encode(open);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(*bytes, unhex("03 00 0100 00000000 0004 0000 63686174"));

    // Unordered, at most 3 retransmissions, high priority, with a protocol.
    DataChannelOpen p{ChannelType::PartialReliableRexmitUnordered, kPriorityHigh, 3, "a", "proto"};
    auto b2 = encode(p);
    ASSERT_TRUE(b2);
    EXPECT_EQ(*b2, unhex("03 81 0200 00000003 0001 0005 61 70726f746f"));

    // Timed: 1500 ms lifetime, extra-high priority, empty label.
    DataChannelOpen t{ChannelType::PartialReliableTimed, kPriorityExtraHigh, 1500, "", "x"};
    EXPECT_EQ(*encode(t), unhex("03 02 0400 000005dc 0000 0001 78"));
}

TEST(DcepMessage, AckIsOneByte) {
    EXPECT_EQ(encode_ack(), unhex("02"));
    std::error_code ec = DcepError::too_short;
    auto m = parse(unhex("02"), &ec);
    ASSERT_TRUE(m);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(std::holds_alternative<DataChannelAck>(*m));
}

TEST(DcepMessage, OpenParsesTheRfcLayout) {
    auto m = parse(unhex("03 82 0080 0000ea60 0003 0004 626f62 74657874"));
    ASSERT_TRUE(m);
    auto* o = std::get_if<DataChannelOpen>(&*m);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->channel_type, ChannelType::PartialReliableTimedUnordered);
    EXPECT_EQ(o->priority, kPriorityBelowNormal);
    EXPECT_EQ(o->reliability_parameter, 60000u);
    EXPECT_EQ(o->label, "bob");
    EXPECT_EQ(o->protocol, "text");
}

TEST(DcepMessage, EveryChannelTypeRoundTrips) {
    for (ChannelType type : kAllTypes) {
        DataChannelOpen open{type, 321, static_cast<std::uint32_t>(type) * 1000u + 7, "label \xe2\x9c\x93", "proto"};
        auto bytes = encode(open);
        ASSERT_TRUE(bytes);
        EXPECT_EQ((*bytes)[1], std::byte{static_cast<std::uint8_t>(type)});
        auto m = parse(*bytes);
        ASSERT_TRUE(m) << int(type);
        ASSERT_TRUE(std::holds_alternative<DataChannelOpen>(*m));
        EXPECT_EQ(std::get<DataChannelOpen>(*m), open);
        EXPECT_EQ(is_ordered(type), (static_cast<std::uint8_t>(type) & 0x80) == 0);
        EXPECT_TRUE(is_known_channel_type(static_cast<std::uint8_t>(type)));
    }
}

TEST(DcepMessage, RejectsTruncatedAtEveryLength) {
    const auto full = *encode(DataChannelOpen{ChannelType::Reliable, 256, 0, "label", "protocol"});
    for (std::size_t n = 0; n < full.size(); ++n) {
        std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        const auto ec = error_of(cut);
        if (n < kOpenHeaderSize) EXPECT_EQ(ec, DcepError::too_short) << n;
        else EXPECT_EQ(ec, DcepError::bad_length) << n;
    }
    EXPECT_TRUE(parse(full));
}

TEST(DcepMessage, RejectsLyingLengths) {
    // Label length larger than what follows.
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 0005 0000 63686174")), DcepError::bad_length);
    // Protocol length larger.
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 0004 0001 63686174")), DcepError::bad_length);
    // Bytes left over after label and protocol.
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 0003 0000 63686174")), DcepError::bad_length);
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 0004 0000 63686174 00")), DcepError::bad_length);
    // Lengths that overflow 16 bits when added.
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 ffff ffff 63686174")), DcepError::bad_length);
    // An ACK with a payload.
    EXPECT_EQ(error_of(unhex("02 00")), DcepError::bad_length);
}

TEST(DcepMessage, RejectsUnknownTypes) {
    EXPECT_EQ(error_of({}), DcepError::too_short);
    for (std::uint8_t t : std::initializer_list<std::uint8_t>{0x00, 0x01, 0x04, 0x7f, 0xff})
        EXPECT_EQ(error_of({std::byte{t}}), DcepError::unknown_message_type) << int(t);
    for (std::uint8_t ct : std::initializer_list<std::uint8_t>{0x03, 0x7f, 0x83, 0xff, 0x40}) {
        auto m = unhex("03 00 0100 00000000 0000 0000");
        m[1] = std::byte{ct};
        EXPECT_EQ(error_of(m), DcepError::unknown_channel_type) << int(ct);
        EXPECT_FALSE(is_known_channel_type(ct));
    }
}

TEST(DcepMessage, RejectsLabelsThatAreNotUtf8) {
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 0002 0000 c328")), DcepError::invalid_utf8);
    EXPECT_EQ(error_of(unhex("03 00 0100 00000000 0000 0001 ff")), DcepError::invalid_utf8);
}

TEST(DcepMessage, LabelAndProtocolLengthLimits) {
    DataChannelOpen open;
    open.label.assign(65535, 'l');
    open.protocol.assign(65535, 'p');
    auto bytes = encode(open);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(bytes->size(), 12u + 65535 + 65535);
    auto m = parse(*bytes);
    ASSERT_TRUE(m);
    EXPECT_EQ(std::get<DataChannelOpen>(*m), open);

    open.label.push_back('l');
    EXPECT_EQ(encode(open).error(), Errc::invalid_argument);
    open.label.pop_back();
    open.protocol.push_back('p');
    EXPECT_EQ(encode(open).error(), Errc::invalid_argument);
}

TEST(DcepMessage, Ppids) {
    EXPECT_EQ(classify_ppid(50), (PayloadInfo{PayloadKind::Control, false}));
    EXPECT_EQ(classify_ppid(51), (PayloadInfo{PayloadKind::String, false}));
    EXPECT_EQ(classify_ppid(53), (PayloadInfo{PayloadKind::Binary, false}));
    EXPECT_EQ(classify_ppid(56), (PayloadInfo{PayloadKind::String, true}));
    EXPECT_EQ(classify_ppid(57), (PayloadInfo{PayloadKind::Binary, true}));
    // The deprecated partial PPIDs are taken as whole messages of their kind.
    EXPECT_EQ(classify_ppid(52), (PayloadInfo{PayloadKind::Binary, false}));
    EXPECT_EQ(classify_ppid(54), (PayloadInfo{PayloadKind::String, false}));
    for (std::uint32_t other : {0u, 49u, 55u, 58u, 0xffffffffu}) EXPECT_FALSE(classify_ppid(other)) << other;

    EXPECT_EQ(ppid_for(false, false), Ppid::String);
    EXPECT_EQ(ppid_for(true, false), Ppid::Binary);
    EXPECT_EQ(ppid_for(false, true), Ppid::StringEmpty);
    EXPECT_EQ(ppid_for(true, true), Ppid::BinaryEmpty);
    EXPECT_EQ(static_cast<std::uint32_t>(Ppid::Dcep), 50u);
}

TEST(DcepMessage, ErrorCategory) {
    EXPECT_STREQ(dcep_category().name(), "dcep");
    for (int e = 1; e <= static_cast<int>(DcepError::unexpected_ack); ++e)
        EXPECT_NE(std::error_code(e, dcep_category()).message(), "unknown DCEP error") << e;
}
