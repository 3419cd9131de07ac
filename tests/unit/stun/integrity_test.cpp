// MESSAGE-INTEGRITY (§14.5), MESSAGE-INTEGRITY-SHA256 (§14.6), FINGERPRINT
// (§14.7) and the long-term key (§9.2.2), against RFC 5769 and by hand.
#include "proto/stun/message.hpp"

#include "unit/stun/rfc5769_vectors.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

using namespace duplex;
using namespace duplex::proto::stun;
using duplex::test::rfc5769::unhex;
namespace v = duplex::test::rfc5769;

namespace {

const auto kPassword = base::as_bytes(v::kShortTermPassword);

TransactionId some_id() {
    TransactionId id{};
    for (std::size_t i = 0; i < id.size(); ++i) id[i] = std::byte(i * 17 + 3);
    return id;
}

std::vector<std::byte> hmac(const EVP_MD* md, base::Bytes key, base::Bytes data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         out, &n);
    return {reinterpret_cast<std::byte*>(out), reinterpret_cast<std::byte*>(out) + n};
}

}  // namespace

TEST(StunIntegrity, Crc32CheckValue) {
    EXPECT_EQ(crc32(base::as_bytes(std::string_view("123456789"))), 0xCBF43926u);
    EXPECT_EQ(crc32({}), 0u);
    EXPECT_EQ(crc32(base::as_bytes(std::string_view("a"))), 0xE8B7BE43u);
}

TEST(StunIntegrity, Rfc5769ShortTermVectorsVerify) {
    for (auto vector : {v::kSampleRequest, v::kSampleIpv4Response, v::kSampleIpv6Response}) {
        const auto d = unhex(vector);
        EXPECT_TRUE(has_valid_fingerprint(d));
        EXPECT_TRUE(verify_integrity(d, kPassword));
        EXPECT_FALSE(verify_integrity(d, base::as_bytes(std::string_view("VOkJxbRl1RmTxUk/WvJxBT"))));
        EXPECT_FALSE(verify_integrity(d, {}));
    }
}

TEST(StunIntegrity, Rfc5769LongTermKeyAndVector) {
    const auto key = long_term_key(v::kLongTermUsername, v::kLongTermRealm, v::kLongTermPassword);
    EXPECT_EQ(std::vector<std::byte>(key.begin(), key.end()), unhex("e8ca7ad59d5eb0518e312911d2dab2a9"));
    const auto d = unhex(v::kSampleLongTermRequest);
    EXPECT_TRUE(verify_integrity(d, key));
    EXPECT_FALSE(has_valid_fingerprint(d));  // §2.4 has none
    // The password itself is not the key.
    EXPECT_FALSE(verify_integrity(d, base::as_bytes(v::kLongTermPassword)));
    const auto other = long_term_key(v::kLongTermUsername, v::kLongTermRealm, "thematrix");
    EXPECT_FALSE(verify_integrity(d, other));
}

TEST(StunIntegrity, LongTermKeyIsMd5OfUserRealmPassword) {
    const auto key = long_term_key("user", "realm", "pass");
    EXPECT_EQ(std::vector<std::byte>(key.begin(), key.end()), unhex("8493fbc53ba582fb4c044c456bdc40eb"));
}

TEST(StunIntegrity, EveryFlippedBitBreaksTheFingerprint) {
    const auto d = unhex(v::kSampleRequest);
    for (std::size_t i = 0; i < d.size(); ++i) {
        for (int bit : {0, 7}) {
            auto f = d;
            f[i] ^= std::byte(1u << bit);
            EXPECT_FALSE(has_valid_fingerprint(f)) << i << "/" << bit;
        }
    }
}

TEST(StunIntegrity, EveryFlippedBitBeforeIntegrityBreaksIt) {
    const auto d = unhex(v::kSampleRequest);
    const std::size_t mi_end = d.size() - 8;  // MESSAGE-INTEGRITY ends where FINGERPRINT starts
    for (std::size_t i = 0; i < mi_end; ++i) {
        auto f = d;
        f[i] ^= std::byte{0x01};
        // Flips in the USERNAME padding (bytes 73..75) are covered by the HMAC too.
        EXPECT_FALSE(verify_integrity(f, kPassword)) << i;
    }
    // The FINGERPRINT is not covered by MESSAGE-INTEGRITY.
    for (std::size_t i = d.size() - 4; i < d.size(); ++i) {
        auto f = d;
        f[i] ^= std::byte{0x80};
        EXPECT_TRUE(verify_integrity(f, kPassword)) << i;
        EXPECT_FALSE(has_valid_fingerprint(f)) << i;
    }
}

// §14.5: the HMAC input is the message up to MESSAGE-INTEGRITY with the
// header length set to end right after MESSAGE-INTEGRITY, even when
// FINGERPRINT follows.
TEST(StunIntegrity, WriterComputesIntegrityOverTheAdjustedLength) {
    MessageWriter w(Class::Request, Method::Binding, some_id());
    w.add_username("alice:bob").add_u32(AttributeType::Priority, 12345).add_message_integrity(kPassword).add_fingerprint();
    const auto& d = w.bytes();
    const std::size_t mi = d.size() - 8 - 24;  // the MI attribute's offset
    std::vector<std::byte> input(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(mi));
    base::store_be16(input.data() + 2, static_cast<std::uint16_t>(mi + 24 - 20));
    const auto expected = hmac(EVP_sha1(), kPassword, input);
    EXPECT_EQ(std::vector<std::byte>(d.begin() + static_cast<std::ptrdiff_t>(mi) + 4, d.begin() + static_cast<std::ptrdiff_t>(mi) + 24),
              expected);
    // FINGERPRINT: CRC-32 of everything before it, XOR 0x5354554E.
    const std::uint32_t fp = crc32(base::Bytes(d).first(d.size() - 8)) ^ 0x5354554Eu;
    EXPECT_EQ(base::load_be32(d.data() + d.size() - 4), fp);
    EXPECT_TRUE(verify_integrity(d, kPassword));
    EXPECT_TRUE(has_valid_fingerprint(d));
}

TEST(StunIntegrity, Sha256IsUsedWhenPresent) {
    const auto key1 = base::as_bytes(std::string_view("one"));
    const auto key2 = base::as_bytes(std::string_view("two"));
    // MI with key1, MI-SHA256 with key2: only key2 verifies (SHA256 wins).
    MessageWriter w(Class::Request, Method::Binding, some_id());
    w.add_username("u").add_message_integrity(key1).add_message_integrity_sha256(key2).add_fingerprint();
    EXPECT_TRUE(verify_integrity(w.bytes(), key2));
    EXPECT_FALSE(verify_integrity(w.bytes(), key1));
    EXPECT_TRUE(has_valid_fingerprint(w.bytes()));
    // MI-SHA256 alone.
    MessageWriter s(Class::Request, Method::Binding, some_id());
    s.add_username("u").add_message_integrity_sha256(key1);
    EXPECT_TRUE(verify_integrity(s.bytes(), key1));
    EXPECT_FALSE(verify_integrity(s.bytes(), key2));
    // Its value is HMAC-SHA256 over the adjusted header (§14.6).
    const auto& d = s.bytes();
    std::vector<std::byte> input(d.begin(), d.end() - 36);
    base::store_be16(input.data() + 2, static_cast<std::uint16_t>(d.size() - 20));
    EXPECT_EQ(std::vector<std::byte>(d.end() - 32, d.end()), hmac(EVP_sha256(), key1, input));
    // Tampering with the SHA256 value is caught even though MI (key1) is fine.
    auto t = w.bytes();
    t[t.size() - 8 - 1] ^= std::byte{1};
    EXPECT_FALSE(verify_integrity(t, key2));
}

TEST(StunIntegrity, TruncatedSha256Verifies) {
    // §14.6 allows 16..32 bytes: the first N bytes of the HMAC, computed with
    // the length ending after the truncated attribute.
    const auto key = base::as_bytes(std::string_view("secret"));
    for (std::size_t n : {16u, 20u, 24u, 28u}) {
        MessageWriter w(Class::Request, Method::Binding, some_id());
        w.add_username("someone");
        std::vector<std::byte> d = w.bytes();
        std::vector<std::byte> input = d;
        base::store_be16(input.data() + 2, static_cast<std::uint16_t>(d.size() - 20 + 4 + n));
        const auto mac = hmac(EVP_sha256(), key, input);
        d.resize(d.size() + 4);
        base::store_be16(d.data() + d.size() - 4, 0x001C);
        base::store_be16(d.data() + d.size() - 2, static_cast<std::uint16_t>(n));
        d.insert(d.end(), mac.begin(), mac.begin() + static_cast<std::ptrdiff_t>(n));
        base::store_be16(d.data() + 2, static_cast<std::uint16_t>(d.size() - 20));
        ASSERT_TRUE(Message::parse(d)) << n;
        EXPECT_TRUE(verify_integrity(d, key)) << n;
        d.back() ^= std::byte{1};
        EXPECT_FALSE(verify_integrity(d, key)) << n;
    }
}

TEST(StunIntegrity, AbsentIntegrityOrFingerprintIsFalse) {
    MessageWriter w(Class::Request, Method::Binding, some_id());
    w.add_username("u");
    EXPECT_FALSE(verify_integrity(w.bytes(), kPassword));
    EXPECT_FALSE(has_valid_fingerprint(w.bytes()));
    EXPECT_FALSE(verify_integrity({}, kPassword));
    EXPECT_FALSE(has_valid_fingerprint({}));
}

TEST(StunIntegrity, EmptyKeyWorks) {
    MessageWriter w(Class::Indication, Method::Binding, some_id());
    w.add_message_integrity({});
    EXPECT_TRUE(verify_integrity(w.bytes(), {}));
    EXPECT_FALSE(verify_integrity(w.bytes(), kPassword));
}

TEST(StunIntegrity, IntegrityStillVerifiesWithIgnoredAttributesAfterIt) {
    MessageWriter w(Class::Request, Method::Binding, some_id());
    w.add_username("u").add_message_integrity(kPassword).add_string(AttributeType::Software, "after").add_fingerprint();
    EXPECT_TRUE(verify_integrity(w.bytes(), kPassword));
    EXPECT_TRUE(has_valid_fingerprint(w.bytes()));
    // Changing the ignored attribute does not touch MI, but FINGERPRINT covers it.
    auto d = w.bytes();
    d[d.size() - 8 - 8] ^= std::byte{1};  // inside "after"
    EXPECT_TRUE(verify_integrity(d, kPassword));
    EXPECT_FALSE(has_valid_fingerprint(d));
}

TEST(StunIntegrity, MalformedMessagesNeverVerify) {
    auto d = unhex(v::kSampleRequest);
    d[4] = std::byte{0};
    EXPECT_FALSE(verify_integrity(d, kPassword));
    EXPECT_FALSE(has_valid_fingerprint(d));
    // A FINGERPRINT followed by another attribute is a parse error: never valid.
    MessageWriter w(Class::Request, Method::Binding, some_id());
    w.add_fingerprint().add_username("x");
    EXPECT_FALSE(has_valid_fingerprint(w.bytes()));
}
