// proto/dtls/certificate.hpp: the certificate a DTLS endpoint presents, and
// the fingerprints that WebRTC uses instead of a CA to trust the peer's
// (RFC 8122 §5 a=fingerprint, RFC 8827 §6.5: the SDP carries a hash of the
// certificate, the DTLS handshake proves possession of its key).
#pragma once

#include "base/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace duplex::proto::dtls {

/// An X.509 certificate with its private key. Copies share the same OpenSSL
/// objects (reference counted), so a Certificate is cheap to pass around and
/// one may serve many endpoints. Immutable after creation.
class Certificate {
public:
    /// No certificate (x509() and key() are nullptr); an endpoint given one fails.
    Certificate() = default;

    /// A fresh ECDSA P-256 key and a self-signed certificate for it: random
    /// serial, CN "duplex", valid from one day ago for 30 days (the slack
    /// absorbs a peer whose clock is behind ours). What browsers generate for
    /// RTCPeerConnection (W3C webrtc-pc §4.9, ECDSA P-256 default).
    static base::Result<Certificate> generate();
    /// A certificate and its key from PEM text; the key must match.
    static base::Result<Certificate> from_pem(std::string_view cert_pem, std::string_view key_pem);

    /// RFC 8122 §5: the hash of the DER certificate as uppercase hex byte
    /// pairs joined by ':'. `algorithm` is an SDP hash name ("sha-256",
    /// "sha-1", "sha-384", "sha-512", ...). Empty on an unknown algorithm.
    std::string fingerprint(std::string_view algorithm = "sha-256") const;
    /// The certificate in PEM, e.g. to persist it between runs.
    std::string certificate_pem() const;

    X509* x509() const noexcept { return x509_.get(); }
    EVP_PKEY* key() const noexcept { return key_.get(); }
    bool empty() const noexcept { return !x509_ || !key_; }

private:
    Certificate(std::shared_ptr<X509> x509, std::shared_ptr<EVP_PKEY> key)
        : x509_(std::move(x509)), key_(std::move(key)) {}

    std::shared_ptr<X509> x509_;
    std::shared_ptr<EVP_PKEY> key_;
};

/// The message digest of an SDP hash-function name (RFC 8122 §5, the IANA
/// "Hash Function Textual Names": "sha-256" is OpenSSL's "SHA256"), or
/// nullptr when we do not know it. MD2 and MD5 are refused (RFC 8122 §5
/// keeps them only for old implementations; RFC 8827 §6.5 requires SHA-256).
const EVP_MD* fingerprint_digest(std::string_view algorithm) noexcept;

/// The RFC 8122 fingerprint of `cert` ("AB:CD:..."); empty when the
/// algorithm is unknown or the digest fails.
std::string fingerprint_of(X509* cert, std::string_view algorithm = "sha-256");

/// The bytes of an "AB:CD:..." fingerprint (hex is case-insensitive, RFC
/// 8122 §5 UHEX is uppercase but peers differ); nullopt when malformed.
std::optional<std::vector<unsigned char>> parse_fingerprint(std::string_view text);

}  // namespace duplex::proto::dtls
