// Certificates and RFC 8122 fingerprints.
#include "proto/dtls/certificate.hpp"

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <string>

using namespace duplex::proto::dtls;

TEST(DtlsCertificate, GeneratesAnEcdsaP256SelfSignedCertificate) {
    auto c = Certificate::generate();
    ASSERT_TRUE(c.ok());
    ASSERT_NE(c->x509(), nullptr);
    ASSERT_NE(c->key(), nullptr);
    EXPECT_EQ(EVP_PKEY_get_base_id(c->key()), EVP_PKEY_EC);
    EXPECT_EQ(EVP_PKEY_get_bits(c->key()), 256);
    EXPECT_EQ(X509_check_private_key(c->x509(), c->key()), 1);
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(c->x509()), X509_get_issuer_name(c->x509())), 0);
    EXPECT_EQ(X509_verify(c->x509(), c->key()), 1);
    // Valid now (one day of slack before, 30 days after).
    EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(c->x509())), 0);
    EXPECT_GT(X509_cmp_current_time(X509_get0_notAfter(c->x509())), 0);

    auto other = Certificate::generate();
    ASSERT_TRUE(other.ok());
    EXPECT_NE(c->fingerprint(), other->fingerprint());
    EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(c->x509()), X509_get0_serialNumber(other->x509())), 0);
}

TEST(DtlsCertificate, FingerprintFormatFollowsRfc8122) {
    auto c = Certificate::generate();
    ASSERT_TRUE(c.ok());
    const std::string fp = c->fingerprint();
    // RFC 8122 §5: 2UHEX *(":" 2UHEX); 32 pairs for SHA-256.
    ASSERT_EQ(fp.size(), 32u * 3 - 1) << fp;
    for (std::size_t i = 0; i < fp.size(); ++i) {
        if (i % 3 == 2) {
            EXPECT_EQ(fp[i], ':') << fp;
        } else {
            EXPECT_TRUE((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F')) << fp;
        }
    }
    EXPECT_EQ(c->fingerprint("sha-1").size(), 20u * 3 - 1);
    EXPECT_EQ(c->fingerprint("sha-512").size(), 64u * 3 - 1);
    EXPECT_EQ(c->fingerprint("SHA-256"), fp);
    EXPECT_EQ(c->fingerprint("md5"), "");
    EXPECT_EQ(c->fingerprint("sha256x"), "");
    EXPECT_EQ(fingerprint_of(c->x509(), "sha-256"), fp);

    auto bytes = parse_fingerprint(fp);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(bytes->size(), 32u);
    std::string lower = fp;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(parse_fingerprint(lower), bytes);
    EXPECT_FALSE(parse_fingerprint(""));
    EXPECT_FALSE(parse_fingerprint("AB:C"));
    EXPECT_FALSE(parse_fingerprint("AB-CD"));
    EXPECT_FALSE(parse_fingerprint("AB:CG"));
    EXPECT_FALSE(parse_fingerprint(fp + ":"));
}

TEST(DtlsCertificate, LoadsFromPem) {
    auto c = Certificate::generate();
    ASSERT_TRUE(c.ok());
    BIO* bio = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PrivateKey(bio, c->key(), nullptr, nullptr, 0, nullptr, nullptr), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    const std::string key_pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);

    auto loaded = Certificate::from_pem(c->certificate_pem(), key_pem);
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->fingerprint(), c->fingerprint());

    auto other = Certificate::generate();
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(Certificate::from_pem(other->certificate_pem(), key_pem).ok());  // key mismatch
    EXPECT_FALSE(Certificate::from_pem("garbage", key_pem).ok());
    EXPECT_FALSE(Certificate::from_pem(c->certificate_pem(), "garbage").ok());
}
