// STUN codec (RFC 8489 §5, §14) against the RFC 5769 vectors, and its
// rejections of malformed input.
#include "proto/stun/message.hpp"

#include "unit/stun/rfc5769_vectors.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace duplex;
using namespace duplex::proto::stun;
using duplex::test::rfc5769::unhex;
namespace v = duplex::test::rfc5769;

namespace {

TransactionId tid(std::string_view h) {
    TransactionId id{};
    const auto b = unhex(h);
    std::memcpy(id.data(), b.data(), id.size());
    return id;
}

const TransactionId kId = tid(v::kTransactionId);

std::optional<Message> parse(const std::vector<std::byte>& d, std::error_code* ec = nullptr) {
    return Message::parse(d, ec);
}

std::error_code parse_error(const std::vector<std::byte>& d) {
    std::error_code ec;
    EXPECT_FALSE(Message::parse(d, &ec).has_value());
    return ec;
}

std::string str(const Attribute* a) { return a ? std::string(base::as_string_view(a->value)) : "<absent>"; }

// A message from raw attribute TLVs (value bytes as given, zero padding).
std::vector<std::byte> raw_message(std::vector<std::pair<std::uint16_t, std::vector<std::byte>>> attrs) {
    MessageWriter w(Class::Request, Method::Binding, kId);
    for (auto& [t, val] : attrs) w.add_bytes(static_cast<AttributeType>(t), val);
    return std::move(w).take();
}

}  // namespace

// ---- RFC 5769 ------------------------------------------------------------

TEST(StunMessage, Rfc5769SampleRequest) {
    const auto d = unhex(v::kSampleRequest);
    ASSERT_EQ(d.size(), 108u);
    std::error_code ec = make_error_code(ParseError::too_short);
    auto m = parse(d, &ec);
    ASSERT_TRUE(m) << ec.message();
    EXPECT_FALSE(ec);
    EXPECT_EQ(m->cls(), Class::Request);
    EXPECT_EQ(m->method(), 0x001);
    EXPECT_TRUE(m->is(Class::Request, Method::Binding));
    EXPECT_EQ(m->transaction_id(), kId);

    ASSERT_EQ(m->attributes().size(), 6u);
    const std::uint16_t order[] = {0x8022, 0x0024, 0x8029, 0x0006, 0x0008, 0x8028};
    for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(m->attributes()[i].type, order[i]) << i;

    EXPECT_EQ(m->string_attr(AttributeType::Software), "STUN test client");
    EXPECT_EQ(m->priority(), 0x6e0001ffu);
    EXPECT_EQ(m->ice_controlled(), 0x932ff9b151263b36ull);
    EXPECT_FALSE(m->ice_controlling());
    EXPECT_EQ(m->username(), "evtj:h6vY");
    // The padding (three spaces) is not part of the value.
    EXPECT_EQ(m->find(AttributeType::Username)->value.size(), 9u);
    EXPECT_EQ(m->find(AttributeType::MessageIntegrity)->value, unhex("9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2"));
    EXPECT_EQ(m->find(AttributeType::Fingerprint)->value, unhex("e57a3bcf"));
    EXPECT_TRUE(m->unknown_required_attributes().empty());
    EXPECT_FALSE(m->xor_mapped_address());
    EXPECT_FALSE(m->error_code());
    EXPECT_TRUE(looks_like_stun(d));
}

TEST(StunMessage, Rfc5769SampleIpv4Response) {
    const auto d = unhex(v::kSampleIpv4Response);
    ASSERT_EQ(d.size(), 80u);
    auto m = parse(d);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->is(Class::SuccessResponse, Method::Binding));
    EXPECT_EQ(m->transaction_id(), kId);
    EXPECT_EQ(m->string_attr(AttributeType::Software), "test vector");
    const auto a = m->xor_mapped_address();
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "192.0.2.1:32853");
    EXPECT_EQ(*a, *base::Endpoint::parse("192.0.2.1:32853"));
    EXPECT_EQ(m->xor_address(AttributeType::XorMappedAddress), a);
    EXPECT_FALSE(m->mapped_address());
    EXPECT_EQ(m->attributes().size(), 4u);
}

TEST(StunMessage, Rfc5769SampleIpv6Response) {
    const auto d = unhex(v::kSampleIpv6Response);
    ASSERT_EQ(d.size(), 92u);
    auto m = parse(d);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->is(Class::SuccessResponse, Method::Binding));
    EXPECT_EQ(m->string_attr(AttributeType::Software), "test vector");
    const auto a = m->xor_mapped_address();
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->ip.is_v6());
    EXPECT_EQ(a->port, 32853);
    EXPECT_EQ(a->ip, *base::IpAddress::parse("2001:db8:1234:5678:11:2233:4455:6677"));
}

TEST(StunMessage, Rfc5769SampleLongTermRequest) {
    const auto d = unhex(v::kSampleLongTermRequest);
    ASSERT_EQ(d.size(), 116u);
    auto m = parse(d);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->is(Class::Request, Method::Binding));
    EXPECT_EQ(m->transaction_id(), tid(v::kTransactionIdLongTerm));
    // U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9, UTF-8.
    EXPECT_EQ(m->username(), std::string(v::kLongTermUsername));
    EXPECT_EQ(m->string_attr(AttributeType::Nonce), std::string(v::kLongTermNonce));
    EXPECT_EQ(m->string_attr(AttributeType::Realm), std::string(v::kLongTermRealm));
    EXPECT_TRUE(m->has(AttributeType::MessageIntegrity));
    EXPECT_FALSE(m->has(AttributeType::Fingerprint));
}

// Our writer pads with zeros, so §2.4 (whose padding is zeros) comes out
// byte for byte, MESSAGE-INTEGRITY included.
TEST(StunMessage, WriterReproducesRfc5769LongTermRequestExactly) {
    const auto key = long_term_key(v::kLongTermUsername, v::kLongTermRealm, v::kLongTermPassword);
    MessageWriter w(Class::Request, Method::Binding, tid(v::kTransactionIdLongTerm));
    w.add_username(v::kLongTermUsername)
        .add_string(AttributeType::Nonce, v::kLongTermNonce)
        .add_string(AttributeType::Realm, v::kLongTermRealm)
        .add_message_integrity(key);
    EXPECT_EQ(w.bytes(), unhex(v::kSampleLongTermRequest));
    EXPECT_FALSE(w.overflowed());
}

// §2.1-§2.3 pad with spaces, so compare what parses, attribute by attribute,
// and the attributes without padding byte for byte.
TEST(StunMessage, WriterMatchesRfc5769SampleRequestAfterParse) {
    const auto vec = unhex(v::kSampleRequest);
    MessageWriter w(Class::Request, Method::Binding, kId);
    w.add_string(AttributeType::Software, "STUN test client")
        .add_u32(AttributeType::Priority, 0x6e0001ff)
        .add_u64(AttributeType::IceControlled, 0x932ff9b151263b36ull)
        .add_username("evtj:h6vY")
        .add_message_integrity(base::as_bytes(v::kShortTermPassword))
        .add_fingerprint();
    const auto& ours = w.bytes();
    ASSERT_EQ(ours.size(), vec.size());
    // Identical up to the USERNAME padding (offset 20 + 20 + 8 + 12 + 4 + 9 = 73).
    EXPECT_TRUE(std::equal(vec.begin(), vec.begin() + 73, ours.begin()));
    auto a = parse(vec);
    auto b = parse(ours);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->attributes().size(), b->attributes().size());
    for (std::size_t i = 0; i < 4; ++i) {  // before MESSAGE-INTEGRITY: the same values
        EXPECT_EQ(a->attributes()[i].type, b->attributes()[i].type);
        EXPECT_EQ(a->attributes()[i].value, b->attributes()[i].value);
    }
    EXPECT_TRUE(verify_integrity(ours, base::as_bytes(v::kShortTermPassword)));
    EXPECT_TRUE(has_valid_fingerprint(ours));
}

TEST(StunMessage, WriterMatchesRfc5769ResponsesAfterParse) {
    for (auto [vector, addr] : {std::pair{v::kSampleIpv4Response, "192.0.2.1:32853"},
                                std::pair{v::kSampleIpv6Response, "[2001:db8:1234:5678:11:2233:4455:6677]:32853"}}) {
        const auto vec = unhex(vector);
        MessageWriter w(Class::SuccessResponse, Method::Binding, kId);
        w.add_string(AttributeType::Software, "test vector")
            .add_xor_mapped_address(*base::Endpoint::parse(addr))
            .add_message_integrity(base::as_bytes(v::kShortTermPassword))
            .add_fingerprint();
        const auto& ours = w.bytes();
        ASSERT_EQ(ours.size(), vec.size()) << addr;
        // Header and SOFTWARE value identical; the padding byte differs (0x20 vs 0).
        EXPECT_TRUE(std::equal(vec.begin(), vec.begin() + 35, ours.begin())) << addr;
        // The XOR-MAPPED-ADDRESS attribute byte for byte.
        const std::size_t xma = 20 + 4 + 12;
        const std::size_t xma_len = 4 + (addr[0] == '[' ? 20u : 8u);
        EXPECT_TRUE(std::equal(vec.begin() + xma, vec.begin() + xma + xma_len, ours.begin() + xma)) << addr;
        auto m = parse(ours);
        ASSERT_TRUE(m);
        EXPECT_EQ(m->xor_mapped_address(), base::Endpoint::parse(addr));
        EXPECT_EQ(m->string_attr(AttributeType::Software), "test vector");
        EXPECT_TRUE(verify_integrity(ours, base::as_bytes(v::kShortTermPassword)));
        EXPECT_TRUE(has_valid_fingerprint(ours));
    }
}

// ---- header ----------------------------------------------------------------

TEST(StunMessage, TypeEncodingOfEveryMethodAndClass) {
    // §5: C1 at bit 8, C0 at bit 4, method bits around them.
    struct Case { Class c; Method m; std::uint16_t type; };
    const Case cases[] = {
        {Class::Request, Method::Binding, 0x0001},         {Class::Indication, Method::Binding, 0x0011},
        {Class::SuccessResponse, Method::Binding, 0x0101}, {Class::ErrorResponse, Method::Binding, 0x0111},
        {Class::Request, Method::Allocate, 0x0003},        {Class::SuccessResponse, Method::Allocate, 0x0103},
        {Class::ErrorResponse, Method::Refresh, 0x0114},   {Class::Indication, Method::Send, 0x0016},
        {Class::Indication, Method::Data, 0x0017},         {Class::Request, Method::CreatePermission, 0x0008},
        {Class::Request, Method::ChannelBind, 0x0009},
    };
    for (const auto& c : cases) {
        MessageWriter w(c.c, c.m, kId);
        EXPECT_EQ(base::load_be16(w.bytes().data()), c.type);
        auto m = parse(w.bytes());
        ASSERT_TRUE(m);
        EXPECT_TRUE(m->is(c.c, c.m));
    }
    // Every 12-bit method and class survives a round trip.
    for (std::uint16_t method = 0; method < 0x1000; method += 7) {
        for (Class c : {Class::Request, Class::Indication, Class::SuccessResponse, Class::ErrorResponse}) {
            MessageWriter w(c, static_cast<Method>(method), kId);
            auto m = parse(w.bytes());
            ASSERT_TRUE(m);
            EXPECT_EQ(m->method(), method);
            EXPECT_EQ(m->cls(), c);
        }
    }
}

TEST(StunMessage, EmptyMessageParses) {
    MessageWriter w(Class::Request, Method::Binding, kId);
    ASSERT_EQ(w.bytes().size(), kHeaderSize);
    auto m = parse(w.bytes());
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->attributes().empty());
}

TEST(StunMessage, RejectsTruncatedAtEveryLength) {
    const auto d = unhex(v::kSampleRequest);
    for (std::size_t n = 0; n < d.size(); ++n) {
        std::vector<std::byte> cut(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
        const auto ec = parse_error(cut);
        if (n < kHeaderSize) EXPECT_EQ(ec, ParseError::too_short) << n;
        else EXPECT_EQ(ec, ParseError::bad_length) << n;
        EXPECT_FALSE(has_valid_fingerprint(cut));
        EXPECT_FALSE(verify_integrity(cut, base::as_bytes(v::kShortTermPassword)));
    }
}

TEST(StunMessage, RejectsBadCookieAndLeadingBits) {
    auto d = unhex(v::kSampleRequest);
    d[4] = std::byte{0x21 ^ 0x01};
    EXPECT_EQ(parse_error(d), ParseError::not_stun);
    EXPECT_FALSE(looks_like_stun(d));
    d = unhex(v::kSampleRequest);
    d[7] = std::byte{0x43};
    EXPECT_EQ(parse_error(d), ParseError::not_stun);
    for (std::uint8_t top : {std::uint8_t{0x40}, std::uint8_t{0x80}, std::uint8_t{0xC0}}) {
        d = unhex(v::kSampleRequest);
        d[0] = std::byte{top};
        EXPECT_EQ(parse_error(d), ParseError::not_stun) << int(top);
        EXPECT_FALSE(looks_like_stun(d));
    }
}

TEST(StunMessage, RejectsBadLength) {
    auto d = unhex(v::kSampleRequest);
    base::store_be16(d.data() + 2, 0x0056);  // not a multiple of 4
    EXPECT_EQ(parse_error(d), ParseError::bad_length);
    base::store_be16(d.data() + 2, 0x0054);  // a multiple of 4, but not the datagram's
    EXPECT_EQ(parse_error(d), ParseError::bad_length);
    base::store_be16(d.data() + 2, 0x005c);
    EXPECT_EQ(parse_error(d), ParseError::bad_length);
    d = unhex(v::kSampleRequest);
    d.push_back(std::byte{0});  // a trailing byte the length does not cover
    EXPECT_EQ(parse_error(d), ParseError::bad_length);
    for (int i = 0; i < 3; ++i) d.push_back(std::byte{0});
    EXPECT_EQ(parse_error(d), ParseError::bad_length);
}

TEST(StunMessage, RejectsOversizedTlvLength) {
    // SOFTWARE claims 0x0100 bytes in a 108-byte message.
    auto d = unhex(v::kSampleRequest);
    base::store_be16(d.data() + 22, 0x0100);
    EXPECT_EQ(parse_error(d), ParseError::too_short);
    // The last attribute claims 5 bytes where 4 are left (padding would run out).
    d = unhex(v::kSampleRequest);
    base::store_be16(d.data() + 102, 5);
    EXPECT_EQ(parse_error(d), ParseError::too_short);
    // 0xFFFF.
    d = unhex(v::kSampleRequest);
    base::store_be16(d.data() + 22, 0xFFFF);
    EXPECT_EQ(parse_error(d), ParseError::too_short);
}

TEST(StunMessage, RejectsDatagramsOver64KiB) {
    std::vector<std::byte> d(kHeaderSize + 0xFFFC);  // length 65532: datagram 65552 bytes
    base::store_be16(d.data(), 0x0001);
    base::store_be16(d.data() + 2, 0xFFFC);
    base::store_be32(d.data() + 4, kMagicCookie);
    // One big attribute that fills it.
    base::store_be16(d.data() + 20, 0x8022);
    base::store_be16(d.data() + 22, 0xFFF8);
    EXPECT_EQ(parse_error(d), ParseError::bad_length);
    // The largest message that fits 64 KiB parses.
    std::vector<std::byte> ok(kMaxDatagramSize);
    base::store_be16(ok.data(), 0x0001);
    base::store_be16(ok.data() + 2, static_cast<std::uint16_t>(kMaxDatagramSize - kHeaderSize));
    base::store_be32(ok.data() + 4, kMagicCookie);
    base::store_be16(ok.data() + 20, 0x0013);  // DATA
    base::store_be16(ok.data() + 22, static_cast<std::uint16_t>(kMaxDatagramSize - kHeaderSize - 4));
    EXPECT_TRUE(parse(ok));
}

TEST(StunMessage, AttributeCountLimit) {
    std::vector<std::pair<std::uint16_t, std::vector<std::byte>>> attrs(kMaxAttributes, {0x8022, {}});
    EXPECT_TRUE(parse(raw_message(attrs)));
    attrs.emplace_back(0x8022, std::vector<std::byte>{});
    EXPECT_EQ(parse_error(raw_message(attrs)), ParseError::too_many_attributes);
}

TEST(StunMessage, RejectsAnythingAfterFingerprint) {
    MessageWriter w(Class::Request, Method::Binding, kId);
    w.add_username("a").add_fingerprint().add_string(AttributeType::Software, "late");
    EXPECT_EQ(parse_error(w.bytes()), ParseError::after_fingerprint);
    EXPECT_FALSE(has_valid_fingerprint(w.bytes()));
    // A second FINGERPRINT too.
    MessageWriter w2(Class::Request, Method::Binding, kId);
    w2.add_fingerprint().add_fingerprint();
    EXPECT_EQ(parse_error(w2.bytes()), ParseError::after_fingerprint);
    // Even a known integrity attribute.
    MessageWriter w3(Class::Request, Method::Binding, kId);
    w3.add_fingerprint().add_message_integrity(base::as_bytes(std::string_view("k")));
    EXPECT_EQ(parse_error(w3.bytes()), ParseError::after_fingerprint);
}

// RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY other than
// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored: the message parses
// and they are gone.
TEST(StunMessage, IgnoresAttributesAfterIntegrity) {
    const auto key = base::as_bytes(std::string_view("pass"));
    MessageWriter w(Class::Request, Method::Binding, kId);
    w.add_username("user")
        .add_message_integrity(key)
        .add_u32(AttributeType::Priority, 7)
        .add_bytes(static_cast<AttributeType>(0x0033), {})  // unknown, comprehension-required
        .add_username("intruder")
        .add_fingerprint();
    std::error_code ec;
    auto m = Message::parse(w.bytes(), &ec);
    ASSERT_TRUE(m) << ec.message();
    ASSERT_EQ(m->attributes().size(), 3u);
    EXPECT_EQ(m->attributes()[0].type, 0x0006);
    EXPECT_EQ(m->attributes()[1].type, 0x0008);
    EXPECT_EQ(m->attributes()[2].type, 0x8028);
    EXPECT_EQ(m->username(), "user");  // not the one after MI
    EXPECT_FALSE(m->priority());
    EXPECT_TRUE(m->unknown_required_attributes().empty());
    EXPECT_TRUE(verify_integrity(w.bytes(), key));
    EXPECT_TRUE(has_valid_fingerprint(w.bytes()));
}

TEST(StunMessage, KeepsIntegritySha256AfterIntegrityAndIgnoresOthersAfterIt) {
    const auto key = base::as_bytes(std::string_view("pass"));
    MessageWriter w(Class::Request, Method::Binding, kId);
    w.add_message_integrity(key)
        .add_message_integrity_sha256(key)
        .add_string(AttributeType::Software, "ignored")
        .add_message_integrity(key)  // a second MI: ignored too
        .add_fingerprint();
    auto m = parse(w.bytes());
    ASSERT_TRUE(m);
    ASSERT_EQ(m->attributes().size(), 3u);
    EXPECT_EQ(m->attributes()[0].type, 0x0008);
    EXPECT_EQ(m->attributes()[1].type, 0x001C);
    EXPECT_EQ(m->attributes()[2].type, 0x8028);
    EXPECT_EQ(m->find(AttributeType::MessageIntegritySha256)->value.size(), 32u);
}

TEST(StunMessage, RejectsIntegrityAndFingerprintOfTheWrongSize) {
    EXPECT_EQ(parse_error(raw_message({{0x0008, std::vector<std::byte>(19)}})), ParseError::bad_attribute);
    EXPECT_EQ(parse_error(raw_message({{0x0008, std::vector<std::byte>(21)}})), ParseError::bad_attribute);
    EXPECT_EQ(parse_error(raw_message({{0x8028, std::vector<std::byte>(3)}})), ParseError::bad_attribute);
    EXPECT_EQ(parse_error(raw_message({{0x8028, std::vector<std::byte>(8)}})), ParseError::bad_attribute);
    // MESSAGE-INTEGRITY-SHA256: 16..32 bytes, a multiple of 4 (§14.6).
    for (std::size_t n : {0u, 12u, 15u, 17u, 30u, 36u})
        EXPECT_EQ(parse_error(raw_message({{0x001C, std::vector<std::byte>(n)}})), ParseError::bad_attribute) << n;
    for (std::size_t n : {16u, 20u, 24u, 28u, 32u}) EXPECT_TRUE(parse(raw_message({{0x001C, std::vector<std::byte>(n)}}))) << n;
}

// ---- attributes --------------------------------------------------------------

TEST(StunMessage, XorAddressRoundTrips) {
    for (const char* text : {"192.0.2.1:32853", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:9", "[fe80::1:2:3:4]:5000",
                             "[2001:db8:1234:5678:11:2233:4455:6677]:32853"}) {
        const auto e = *base::Endpoint::parse(text);
        for (auto t : {AttributeType::XorMappedAddress, AttributeType::XorPeerAddress, AttributeType::XorRelayedAddress}) {
            MessageWriter w(Class::SuccessResponse, Method::Allocate, kId);
            w.add_xor_address(t, e).add_mapped_address(e);
            auto m = parse(w.bytes());
            ASSERT_TRUE(m) << text;
            EXPECT_EQ(m->xor_address(t), e) << text;
            EXPECT_EQ(m->mapped_address(), e) << text;
            EXPECT_EQ(m->address(AttributeType::MappedAddress), e) << text;
        }
    }
}

TEST(StunMessage, XorMappedAddressWireForm) {
    // §14.2: port XOR 0x2112, IPv4 address XOR the cookie.
    MessageWriter w(Class::SuccessResponse, Method::Binding, kId);
    w.add_xor_mapped_address(*base::Endpoint::parse("192.0.2.1:32853"));
    EXPECT_EQ(std::vector<std::byte>(w.bytes().begin() + 20, w.bytes().end()), unhex("0020 0008 0001 a147 e112a643"));
    // MAPPED-ADDRESS: plain.
    MessageWriter w2(Class::SuccessResponse, Method::Binding, kId);
    w2.add_mapped_address(*base::Endpoint::parse("192.0.2.1:32853"));
    EXPECT_EQ(std::vector<std::byte>(w2.bytes().begin() + 20, w2.bytes().end()), unhex("0001 0008 0001 8055 c0000201"));
}

TEST(StunMessage, AlternateServerIsAPlainAddress) {
    // §14.15: ALTERNATE-SERVER has MAPPED-ADDRESS's form (no XOR).
    const auto e = *base::Endpoint::parse("198.51.100.7:3478");
    auto m = parse(raw_message({{0x8023, unhex("0001 0d96 c6336407")}}));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->address(AttributeType::AlternateServer), e);
    EXPECT_FALSE(m->address(AttributeType::MappedAddress));
}

TEST(StunMessage, MalformedAddressesReadAsAbsent) {
    const std::vector<std::vector<std::byte>> bad = {
        {},
        unhex("00 01 a1"),
        unhex("00 01 a1 47 e1 12 a6"),                      // IPv4 one byte short
        unhex("00 01 a1 47 e1 12 a6 43 00 00 00 00"),       // IPv4 with 12 bytes
        unhex("00 02 a1 47 e1 12 a6 43"),                   // IPv6 family, IPv4 size
        unhex("00 03 a1 47 e1 12 a6 43"),                   // unknown family
        unhex("00 01 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"),  // IPv4 family, IPv6 size
    };
    for (const auto& val : bad) {
        auto m = parse(raw_message({{0x0020, val}, {0x0001, val}}));
        ASSERT_TRUE(m);
        EXPECT_FALSE(m->xor_mapped_address());
        EXPECT_FALSE(m->mapped_address());
    }
}

TEST(StunMessage, IntegerAttributes) {
    MessageWriter w(Class::Request, Method::Binding, kId);
    w.add_u32(AttributeType::Priority, 0xdeadbeef)
        .add_u64(AttributeType::IceControlling, 0x0102030405060708ull)
        .add_u32(AttributeType::Lifetime, 600)
        .add_flag(AttributeType::UseCandidate);
    auto m = parse(w.bytes());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->priority(), 0xdeadbeefu);
    EXPECT_EQ(m->ice_controlling(), 0x0102030405060708ull);
    EXPECT_FALSE(m->ice_controlled());
    EXPECT_EQ(m->u32_attr(AttributeType::Lifetime), 600u);
    ASSERT_TRUE(m->has(AttributeType::UseCandidate));
    EXPECT_TRUE(m->find(AttributeType::UseCandidate)->value.empty());
    // Wrong sizes read as absent.
    auto bad = parse(raw_message({{0x0024, unhex("00 00 01")}, {0x802A, unhex("01 02 03 04")}, {0x8029, unhex("00")}}));
    ASSERT_TRUE(bad);
    EXPECT_FALSE(bad->priority());
    EXPECT_FALSE(bad->ice_controlling());
    EXPECT_FALSE(bad->ice_controlled());
}

TEST(StunMessage, ErrorCodeRoundTrips) {
    for (auto [code, reason] : {std::pair<std::uint16_t, std::string_view>{300, "Try Alternate"}, {400, "Bad Request"},
                                {401, "Unauthorized"}, {420, "Unknown Attribute"}, {438, "Stale Nonce"},
                                {487, "Role Conflict"}, {500, "Server Error"}, {699, ""}}) {
        MessageWriter w(Class::ErrorResponse, Method::Binding, kId);
        w.add_error_code(code, reason);
        auto m = parse(w.bytes());
        ASSERT_TRUE(m);
        auto e = m->error_code();
        ASSERT_TRUE(e) << code;
        EXPECT_EQ(e->code, code);
        EXPECT_EQ(e->reason, reason);
    }
    // §14.8 layout: 21 zero bits, class 4, number 1.
    MessageWriter w(Class::ErrorResponse, Method::Binding, kId);
    w.add_error_code(401, "Unauthorized");
    EXPECT_EQ(std::vector<std::byte>(w.bytes().begin() + 20, w.bytes().begin() + 28), unhex("0009 0010 0000 0401"));
}

TEST(StunMessage, ErrorCodeReasonIsCutAt763BytesOnACharacterBoundary) {
    std::string reason;
    while (reason.size() < 800) reason += "\xe3\x83\x9e";  // 3-byte characters: 762 is the last boundary under 763
    MessageWriter w(Class::ErrorResponse, Method::Binding, kId);
    w.add_error_code(500, reason);
    auto m = parse(w.bytes());
    ASSERT_TRUE(m);
    auto e = m->error_code();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->reason.size(), 762u);
    EXPECT_EQ(e->reason, reason.substr(0, 762));
}

TEST(StunMessage, MalformedErrorCodesReadAsAbsent) {
    for (const auto& val : {unhex(""), unhex("00 00 04"), unhex("00 00 02 00"), unhex("00 00 07 00"),
                            unhex("00 00 04 64"), unhex("00 00 04 01 ff")}) {
        auto m = parse(raw_message({{0x0009, val}}));
        ASSERT_TRUE(m);
        EXPECT_FALSE(m->error_code());
    }
    std::vector<std::byte> longer(4 + 764, std::byte{'a'});
    longer[2] = std::byte{4};
    auto m = parse(raw_message({{0x0009, longer}}));
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->error_code());
    // Reserved bits above the class are ignored (class is the low 3 bits).
    auto ok = parse(raw_message({{0x0009, unhex("ff ff fc 01")}}));
    ASSERT_TRUE(ok);
    ASSERT_TRUE(ok->error_code());
    EXPECT_EQ(ok->error_code()->code, 401);
}

TEST(StunMessage, StringsMustBeUtf8AndWithinLimits) {
    auto m = parse(raw_message({{0x0006, unhex("ff fe")}, {0x8022, unhex("c3 28")}, {0x0014, std::vector<std::byte>(764, std::byte{'r'})},
                                {0x0015, std::vector<std::byte>(763, std::byte{'n'})}}));
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->username());
    EXPECT_FALSE(m->string_attr(AttributeType::Software));
    EXPECT_FALSE(m->string_attr(AttributeType::Realm));
    EXPECT_EQ(m->string_attr(AttributeType::Nonce), std::string(763, 'n'));
    EXPECT_FALSE(m->string_attr(AttributeType::Username));
    auto u = parse(raw_message({{0x0006, std::vector<std::byte>(514, std::byte{'u'})}}));
    ASSERT_TRUE(u);
    EXPECT_FALSE(u->username());
    auto u2 = parse(raw_message({{0x0006, std::vector<std::byte>(513, std::byte{'u'})}}));
    ASSERT_TRUE(u2);
    EXPECT_EQ(u2->username(), std::string(513, 'u'));
}

TEST(StunMessage, UnknownAttributes) {
    const std::uint16_t types[] = {0x0033, 0x8044, 0x0055};
    MessageWriter w(Class::ErrorResponse, Method::Binding, kId);
    w.add_error_code(420, "Unknown Attribute").add_unknown_attributes(types);
    auto m = parse(w.bytes());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->find(AttributeType::UnknownAttributes)->value, unhex("0033 8044 0055"));
    // §14.9: an odd count is padded (with zeros here).
    EXPECT_EQ(w.bytes().size(), 20u + 4 + 4 + 17 + 3 + 4 + 8);

    // What a server puts there: the comprehension-required types it does not know.
    auto req = parse(raw_message({{0x0033, {}}, {0x8044, {}}, {0x0006, unhex("61")}, {0x0033, {}}, {0x7FFF, {}},
                                  {0x0019, unhex("11000000")}}));
    ASSERT_TRUE(req);
    EXPECT_EQ(req->unknown_required_attributes(), (std::vector<std::uint16_t>{0x0033, 0x7FFF}));
}

TEST(StunMessage, PaddingIsIgnoredOnInput) {
    // USERNAME "a" with padding "xyz": the value is still "a".
    std::vector<std::byte> d = unhex("0001 0008 2112a442 b7e7a701 bc34d686 fa87dfae 0006 0001 61 78 79 7a");
    auto m = parse(d);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->username(), "a");
    EXPECT_EQ(str(m->find(AttributeType::Username)), "a");
}

TEST(StunMessage, WriterRefusesToOverflowTheLengthField) {
    // The largest message is 64 KiB, as parse() accepts.
    MessageWriter w(Class::Request, Method::Binding, kId);
    std::vector<std::byte> big(kMaxDatagramSize - kHeaderSize - 4 - 4);
    w.add_bytes(AttributeType::Data, big);
    EXPECT_FALSE(w.overflowed());
    w.add_flag(AttributeType::UseCandidate);
    EXPECT_FALSE(w.overflowed());
    EXPECT_EQ(w.bytes().size(), kMaxDatagramSize);
    EXPECT_TRUE(parse(w.bytes()));
    w.add_flag(AttributeType::UseCandidate);  // 4 more bytes: over 64 KiB
    EXPECT_TRUE(w.overflowed());
    EXPECT_EQ(w.bytes().size(), kMaxDatagramSize);
    w.add_fingerprint();
    EXPECT_EQ(w.bytes().size(), kMaxDatagramSize);
    EXPECT_TRUE(parse(w.bytes()));
    MessageWriter w2(Class::Request, Method::Binding, kId);
    w2.add_bytes(AttributeType::Data, std::vector<std::byte>(0x10000));
    EXPECT_TRUE(w2.overflowed());
    EXPECT_EQ(w2.bytes().size(), 20u);
}

TEST(StunMessage, LooksLikeStun) {
    EXPECT_TRUE(looks_like_stun(unhex(v::kSampleIpv4Response)));
    EXPECT_FALSE(looks_like_stun(unhex("16 fe fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")));  // DTLS
    EXPECT_FALSE(looks_like_stun(unhex("00 01 00 00 21 12 a4")));
    EXPECT_FALSE(looks_like_stun({}));
    auto d = unhex(v::kSampleRequest);
    d[0] = std::byte{0x03};
    EXPECT_TRUE(looks_like_stun(d));
    d[0] = std::byte{0x04};
    EXPECT_FALSE(looks_like_stun(d));
}

TEST(StunMessage, ErrorCategory) {
    EXPECT_STREQ(parse_error_category().name(), "stun");
    for (int e = 1; e <= static_cast<int>(ParseError::too_many_attributes); ++e)
        EXPECT_NE(std::error_code(e, parse_error_category()).message(), "unknown STUN error") << e;
    std::error_code ec = ParseError::after_fingerprint;
    EXPECT_EQ(ec.category(), parse_error_category());
}
