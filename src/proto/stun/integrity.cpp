// proto/stun/integrity.cpp: MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5),
// MESSAGE-INTEGRITY-SHA256 (§14.6), FINGERPRINT (CRC-32, §14.7) and the
// long-term credential key (§9.2.2), through OpenSSL's EVP interfaces.
#include "proto/stun/layout.hpp"
#include "proto/stun/message.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstring>

namespace duplex::proto::stun {

namespace {

// CRC-32 of ISO/IEC 3309 / ITU-T V.42 (the one of zlib and Ethernet):
// reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF.
constexpr std::array<std::uint32_t, 256> make_crc_table() noexcept {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr auto kCrcTable = make_crc_table();

// HMAC over two pieces (the patched header, then the rest), without copying
// the message. The EVP_MAC is fetched once and kept for the process.
bool hmac(const char* digest, base::Bytes key, base::Bytes a, base::Bytes b, unsigned char* out, std::size_t out_size) {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (!mac) return false;
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    if (!ctx) return false;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_end(),
    };
    // A zero-length key is legal for HMAC; OpenSSL wants a non-null pointer.
    static const unsigned char empty = 0;
    const auto* k = key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
    std::size_t n = 0;
    const bool ok = EVP_MAC_init(ctx, k, key.size(), params) == 1 &&
                    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(a.data()), a.size()) == 1 &&
                    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(b.data()), b.size()) == 1 &&
                    EVP_MAC_final(ctx, out, &n, out_size) == 1;
    EVP_MAC_CTX_free(ctx);
    return ok && n == out_size;
}

// The HMAC input of §14.5/§14.6: the message up to the integrity attribute at
// `offset`, with the header's length field set as if the message ended right
// after that attribute (whose value is `value_len` bytes).
bool integrity_of(const char* digest, base::Bytes message, std::size_t offset, std::size_t value_len, base::Bytes key,
                  unsigned char* out, std::size_t out_size) {
    std::byte header[kHeaderSize];
    std::memcpy(header, message.data(), kHeaderSize);
    base::store_be16(header + 2, static_cast<std::uint16_t>(offset + 4 + value_len - kHeaderSize));
    return hmac(digest, key, header, message.subspan(kHeaderSize, offset - kHeaderSize), out, out_size);
}

}  // namespace

std::uint32_t crc32(base::Bytes data) noexcept {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::byte b : data) c = kCrcTable[(c ^ std::to_integer<std::uint32_t>(b)) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

bool verify_integrity(base::Bytes datagram, base::Bytes key) {
    detail::Layout layout;
    if (detail::scan(datagram, layout)) return false;
    // MESSAGE-INTEGRITY-SHA256 when present (the stronger one), else MESSAGE-INTEGRITY.
    const bool sha256 = layout.integrity_sha256 >= 0;
    const int index = sha256 ? layout.integrity_sha256 : layout.integrity;
    if (index < 0) return false;
    const detail::RawAttribute& a = layout.attrs[static_cast<std::size_t>(index)];
    unsigned char expected[32];
    const std::size_t full = sha256 ? 32 : 20;
    if (!integrity_of(sha256 ? "SHA256" : "SHA1", datagram, a.offset, a.length, key, expected, full)) return false;
    // MESSAGE-INTEGRITY-SHA256 may be truncated to its first 16..28 bytes (§14.6).
    return a.length <= full && CRYPTO_memcmp(expected, a.value(datagram).data(), a.length) == 0;
}

bool has_valid_fingerprint(base::Bytes datagram) {
    detail::Layout layout;
    if (detail::scan(datagram, layout) || layout.fingerprint < 0) return false;
    const detail::RawAttribute& a = layout.attrs[static_cast<std::size_t>(layout.fingerprint)];
    // FINGERPRINT is last, so the header's length already covers it (§14.7).
    return (crc32(datagram.first(a.offset)) ^ kFingerprintXor) == base::load_be32(a.value(datagram).data());
}

namespace {
// digest(username ":" realm ":" password) with `md`, into `out`.
bool credential_digest(const EVP_MD* md, std::string_view username, std::string_view realm,
                       std::string_view password, std::byte* out, unsigned int size) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (!ctx) return false;
    unsigned int n = 0;
    const bool ok = EVP_DigestInit_ex(ctx, md, nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, username.data(), username.size()) == 1 &&
                    EVP_DigestUpdate(ctx, ":", 1) == 1 && EVP_DigestUpdate(ctx, realm.data(), realm.size()) == 1 &&
                    EVP_DigestUpdate(ctx, ":", 1) == 1 &&
                    EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out), &n) == 1;
    EVP_MD_CTX_free(ctx);
    return ok && n == size;
}
}  // namespace

std::array<std::byte, 16> long_term_key(std::string_view username, std::string_view realm, std::string_view password) {
    std::array<std::byte, 16> out{};
    if (!credential_digest(EVP_md5(), username, realm, password, out.data(), 16)) out.fill(std::byte{0});
    return out;
}

std::array<std::byte, 32> long_term_key_sha256(std::string_view username, std::string_view realm,
                                               std::string_view password) {
    std::array<std::byte, 32> out{};
    if (!credential_digest(EVP_sha256(), username, realm, password, out.data(), 32)) out.fill(std::byte{0});
    return out;
}

// ---- the writer's closing attributes ---------------------------------------

MessageWriter& MessageWriter::add_message_integrity(base::Bytes key) {
    const std::size_t offset = buf_.size();
    unsigned char mac[20];
    if (!integrity_of("SHA1", buf_, offset, sizeof mac, key, mac, sizeof mac)) std::memset(mac, 0, sizeof mac);
    append(static_cast<std::uint16_t>(AttributeType::MessageIntegrity), {reinterpret_cast<const std::byte*>(mac), sizeof mac});
    return *this;
}

MessageWriter& MessageWriter::add_message_integrity_sha256(base::Bytes key) {
    const std::size_t offset = buf_.size();
    unsigned char mac[32];
    if (!integrity_of("SHA256", buf_, offset, sizeof mac, key, mac, sizeof mac)) std::memset(mac, 0, sizeof mac);
    append(static_cast<std::uint16_t>(AttributeType::MessageIntegritySha256),
           {reinterpret_cast<const std::byte*>(mac), sizeof mac});
    return *this;
}

MessageWriter& MessageWriter::add_fingerprint() {
    // The CRC covers the header with the length that includes FINGERPRINT itself.
    const std::size_t body = buf_.size() - kHeaderSize;
    if (body + 8 > kMaxBody) {
        overflowed_ = true;
        return *this;
    }
    set_length(body + 8);
    std::byte v[4];
    base::store_be32(v, crc32(buf_) ^ kFingerprintXor);
    append(static_cast<std::uint16_t>(AttributeType::Fingerprint), v);
    return *this;
}

}  // namespace duplex::proto::stun
