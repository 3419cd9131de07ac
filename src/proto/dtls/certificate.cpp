// proto/dtls/certificate.cpp: key and self-signed certificate generation
// and RFC 8122 fingerprints, with OpenSSL 3.
#include "proto/dtls/certificate.hpp"

#include "base/digest.hpp"

#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace duplex::proto::dtls {
namespace {

struct X509Free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct BnFree {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};

Status tls_error(std::string what) {
    char buf[256] = {};
    const unsigned long e = ERR_get_error();
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        what += ": ";
        what += buf;
    }
    ERR_clear_error();
    return Status(make_error_code(Errc::tls_failed), std::move(what));
}

std::unique_ptr<BIO, BioFree> memory_bio(std::string_view text) {
    if (text.size() > static_cast<std::size_t>(INT32_MAX)) return nullptr;
    return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

constexpr char kHex[] = "0123456789ABCDEF";

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

base::Result<Certificate> Certificate::generate() {
    // ECDSA over P-256 (secp256r1): small, fast, and what every browser accepts.
    std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
    if (!key) return Errc::tls_failed;
    std::unique_ptr<X509, X509Free> x509(X509_new());
    if (!x509) return Errc::tls_failed;

    bool ok = X509_set_version(x509.get(), 2) == 1;  // X.509 v3
    // A random positive serial (RFC 5280 §4.1.2.2: at most 20 octets; 8 here).
    std::array<std::byte, 8> serial_bytes{};
    ok = ok && base::random_bytes(serial_bytes);
    serial_bytes[0] &= std::byte{0x7f};
    std::unique_ptr<BIGNUM, BnFree> serial(
        BN_bin2bn(reinterpret_cast<const unsigned char*>(serial_bytes.data()),
                  static_cast<int>(serial_bytes.size()), nullptr));
    ok = ok && serial && BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x509.get())) != nullptr;
    // X509_gmtime_adj reads the system clock (time(NULL)) inside OpenSSL. That
    // is OpenSSL's, not ours: the validity period is informational here, since
    // the peer trusts the certificate by its SDP fingerprint, never by date.
    constexpr long kDay = 24L * 60 * 60;
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x509.get()), -kDay) != nullptr;
    ok = ok && X509_gmtime_adj(X509_getm_notAfter(x509.get()), 30 * kDay) != nullptr;
    X509_NAME* name = X509_get_subject_name(x509.get());
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                          reinterpret_cast<const unsigned char*>("duplex"), -1, -1, 0) == 1;
    ok = ok && X509_set_issuer_name(x509.get(), name) == 1;  // self-signed
    ok = ok && X509_set_pubkey(x509.get(), key.get()) == 1;
    ok = ok && X509_sign(x509.get(), key.get(), EVP_sha256()) > 0;
    if (!ok) {
        ERR_clear_error();
        return Errc::tls_failed;
    }
    return Certificate(std::shared_ptr<X509>(x509.release(), X509Free{}),
                       std::shared_ptr<EVP_PKEY>(key.release(), PkeyFree{}));
}

base::Result<Certificate> Certificate::from_pem(std::string_view cert_pem, std::string_view key_pem) {
    auto cert_bio = memory_bio(cert_pem);
    auto key_bio = memory_bio(key_pem);
    if (!cert_bio || !key_bio) return tls_error("cannot read PEM").code();
    std::unique_ptr<X509, X509Free> x509(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!x509) return tls_error("cannot parse the certificate PEM").code();
    std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!key) return tls_error("cannot parse the private key PEM").code();
    if (X509_check_private_key(x509.get(), key.get()) != 1) {
        return tls_error("the private key does not match the certificate").code();
    }
    return Certificate(std::shared_ptr<X509>(x509.release(), X509Free{}),
                       std::shared_ptr<EVP_PKEY>(key.release(), PkeyFree{}));
}

std::string Certificate::fingerprint(std::string_view algorithm) const {
    return fingerprint_of(x509_.get(), algorithm);
}

std::string Certificate::certificate_pem() const {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), x509_.get()) != 1) {
        ERR_clear_error();
        return {};
    }
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string{};
}

const EVP_MD* fingerprint_digest(std::string_view algorithm) noexcept {
    // Case-insensitive (RFC 8122 §5: hash-func is a token; peers send "SHA-256" too).
    std::string name;
    for (char c : algorithm) {
        if (name.size() > 16) return nullptr;
        name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (name == "sha-1") return EVP_sha1();
    if (name == "sha-224") return EVP_sha224();
    if (name == "sha-256") return EVP_sha256();
    if (name == "sha-384") return EVP_sha384();
    if (name == "sha-512") return EVP_sha512();
    return nullptr;
}

std::string fingerprint_of(X509* cert, std::string_view algorithm) {
    const EVP_MD* md = fingerprint_digest(algorithm);
    if (cert == nullptr || md == nullptr) return {};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, md, digest, &len) != 1) {
        ERR_clear_error();
        return {};
    }
    std::string out;
    out.reserve(len * 3);
    for (unsigned int i = 0; i < len; ++i) {
        if (i != 0) out.push_back(':');
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 0x0f]);
    }
    return out;
}

std::optional<std::vector<unsigned char>> parse_fingerprint(std::string_view text) {
    // RFC 8122 §5: fingerprint = 2UHEX *(":" 2UHEX)
    if (text.size() < 2 || text.size() > EVP_MAX_MD_SIZE * 3 || (text.size() + 1) % 3 != 0) return std::nullopt;
    std::vector<unsigned char> out;
    out.reserve((text.size() + 1) / 3);
    for (std::size_t i = 0; i < text.size(); i += 3) {
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i + 2 < text.size() && text[i + 2] != ':') return std::nullopt;
        out.push_back(static_cast<unsigned char>(hi * 16 + lo));
    }
    return out;
}

}  // namespace duplex::proto::dtls
