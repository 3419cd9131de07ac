// proto/dtls/endpoint.cpp: the DTLS endpoint over OpenSSL 3.0 and DatagramBio.
#include "proto/dtls/endpoint.hpp"

#include "base/log.hpp"
#include "proto/dtls/datagram_bio.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <ostream>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace duplex::proto::dtls {
namespace {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

// ECDHE only, AEAD only (RFC 7525 §4.2; what browsers offer for DTLS 1.2).
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
// RFC 5764 §4.1.2 SRTP_AES128_CM_HMAC_SHA1_80 (0x0001), RFC 7714 §14.2 AEAD_AES_128_GCM (0x0007).
constexpr const char* kSrtpProfiles = "SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM";
// RFC 5764 §4.2 exporter label.
constexpr char kSrtpExporterLabel[] = "EXTRACTOR-dtls_srtp";

// OpenSSL 3.0 fills handshake datagrams to its MTU without counting the AEAD
// expansion of encrypted handshake messages (dtls1_do_write sets mac_size to 0
// for AEAD ciphers), so a Finished appended to a nearly full datagram could
// overshoot by the explicit nonce plus tag. We give OpenSSL an MTU this much
// smaller than ours: 8 (GCM explicit nonce) + 16 (tag).
constexpr std::size_t kAeadReserve = 24;
// dtls1_min_mtu(): OpenSSL refuses a smaller SSL_set_mtu.
constexpr std::size_t kOpensslMinMtu = 256;
// DatagramBio's queues; the handshake buffer BIO is 4 KiB, so larger MTUs
// would split a flush into several writes.
constexpr std::size_t kMaxMtu = 4096;
constexpr std::size_t kMaxQueuedDatagrams = 64;
constexpr unsigned int kMaxRetransmissionTimeoutUs = 60u * 1000 * 1000;  // RFC 6347 §4.2.4.1

int ex_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

/// The reason of the last OpenSSL error, e.g. "sslv3 alert bad certificate".
std::string openssl_reason() {
    unsigned long last = 0;
    while (const unsigned long e = ERR_get_error()) last = e;
    if (last == 0) return {};
    const char* r = ERR_reason_error_string(last);
    if (r != nullptr) return r;
    char buf[256] = {};
    ERR_error_string_n(last, buf, sizeof buf);
    return buf;
}

std::optional<std::pair<std::size_t, std::size_t>> srtp_key_salt_lengths(unsigned long id) {
    switch (id) {
        case SRTP_AES128_CM_SHA1_80:
        case SRTP_AES128_CM_SHA1_32:
            return std::pair<std::size_t, std::size_t>{16, 14};  // RFC 3711 §8.2 defaults
        case SRTP_AEAD_AES_128_GCM:
            return std::pair<std::size_t, std::size_t>{16, 12};  // RFC 7714 §12
        case SRTP_AEAD_AES_256_GCM:
            return std::pair<std::size_t, std::size_t>{32, 12};
        default:
            return std::nullopt;
    }
}

}  // namespace

const char* to_string(State s) noexcept {
    switch (s) {
        case State::New: return "new";
        case State::Connecting: return "connecting";
        case State::Connected: return "connected";
        case State::Closed: return "closed";
        case State::Failed: return "failed";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, State s) { return os << to_string(s); }

struct Endpoint::Impl {
    EndpointConfig config;
    State state = State::New;
    base::Instant last_now{};
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
    std::unique_ptr<SSL, SslFree> ssl;
    std::unique_ptr<DatagramBio> bio;
    std::deque<Event> events;
    std::deque<Data> held;             // received before the fingerprint was checked
    std::size_t pending_app_bytes = 0; // in `events` and `held`
    std::size_t dropped_app_records = 0;
    bool handshake_done = false;
    std::string verify_failure;        // set by the verify callback
    std::optional<std::string> seen_fingerprint;
    std::array<unsigned char, kMaxRecordPayload> read_buf{};

    explicit Impl(EndpointConfig c) : config(std::move(c)) {
        config.mtu = std::clamp(config.mtu, kOpensslMinMtu + kAeadReserve, kMaxMtu);
    }

    void fail(std::string reason) {
        if (state == State::Failed || state == State::Closed) return;
        DUPLEX_LOG(Info, "dtls: failed: " << reason);
        state = State::Failed;
        held.clear();
        events.emplace_back(Failed{std::move(reason)});
    }

    bool setup();
    void advance();
    void on_handshake_done();
    void check_fingerprint();
    void read_records();
    void fail_from_ssl(int ret, const char* what);

    static int verify_callback(int preverify_ok, X509_STORE_CTX* store);
    static unsigned int timer_callback(SSL* s, unsigned int timer_us);
};

bool Endpoint::Impl::setup() {
    ERR_clear_error();
    if (!config.certificate.x509() || !config.certificate.key()) {
        fail("DTLS setup failed: no certificate");
        return false;
    }
    ctx.reset(SSL_CTX_new(DTLS_method()));
    if (!ctx) {
        fail("DTLS setup failed: " + openssl_reason());
        return false;
    }
    SSL_CTX* c = ctx.get();
    // DTLS 1.2 only: OpenSSL 3.0 has no DTLS 1.3, and a client that offers
    // 1.3 (Chromium) falls back through supported_versions (RFC 8446 §4.2.1).
    bool ok = SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) == 1 &&
              SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION) == 1 &&
              SSL_CTX_use_certificate(c, config.certificate.x509()) == 1 &&
              SSL_CTX_use_PrivateKey(c, config.certificate.key()) == 1 &&
              SSL_CTX_check_private_key(c) == 1 && SSL_CTX_set_cipher_list(c, kCipherList) == 1 &&
              SSL_CTX_set1_groups_list(c, kGroups) == 1;
    // SSL_CTX_set_tlsext_use_srtp returns 0 on success.
    ok = ok && (!config.srtp || SSL_CTX_set_tlsext_use_srtp(c, kSrtpProfiles) == 0);
    if (!ok) {
        fail("DTLS setup failed: " + openssl_reason());
        return false;
    }
    SSL_CTX_set_options(c, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    // Both sides present and demand a certificate (RFC 8827 §6.5); the peer's
    // is self-signed, and trust comes from the SDP fingerprint instead of a CA.
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &Impl::verify_callback);

    ssl.reset(SSL_new(c));
    bio = std::make_unique<DatagramBio>(config.mtu, kMaxQueuedDatagrams);
    if (!ssl || bio->bio() == nullptr) {
        fail("DTLS setup failed: " + openssl_reason());
        return false;
    }
    SSL_set_ex_data(ssl.get(), ex_index(), this);
    BIO_up_ref(bio->bio());  // SSL_set_bio takes one reference (rbio == wbio)
    SSL_set_bio(ssl.get(), bio->bio(), bio->bio());
    if (SSL_set_mtu(ssl.get(), static_cast<long>(config.mtu - kAeadReserve)) <= 0) {
        fail("DTLS setup failed: MTU refused: " + openssl_reason());
        return false;
    }
    DTLS_set_timer_cb(ssl.get(), &Impl::timer_callback);
    if (config.role == Role::Client) {
        SSL_set_connect_state(ssl.get());
    } else {
        SSL_set_accept_state(ssl.get());
    }
    return true;
}

int Endpoint::Impl::verify_callback(int /*preverify_ok*/, X509_STORE_CTX* store) {
    auto* s = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    auto* self = s ? static_cast<Impl*>(SSL_get_ex_data(s, ex_index())) : nullptr;
    if (self == nullptr) return 0;
    // Chain errors (self-signed, unknown issuer, dates) are expected and
    // ignored: RFC 8122 §5 trusts the certificate whose hash the SDP carries.
    if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    if (cert == nullptr) return 0;
    if (self->config.remote_fingerprint.empty()) return 1;  // checked after the handshake
    const EVP_MD* md = fingerprint_digest(self->config.remote_fingerprint_algorithm);
    const auto expected = parse_fingerprint(self->config.remote_fingerprint);
    unsigned char seen[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const bool match = md != nullptr && expected && X509_digest(cert, md, seen, &len) == 1 &&
                       expected->size() == len && CRYPTO_memcmp(seen, expected->data(), len) == 0;
    if (!match) {
        self->seen_fingerprint = fingerprint_of(cert, self->config.remote_fingerprint_algorithm);
        self->verify_failure = "remote certificate fingerprint does not match the SDP";
        // Refusing here makes OpenSSL send an alert, so the peer fails too;
        // CERT_REJECTED maps to bad_certificate (RFC 5246 §7.2.2) rather than
        // the unknown_ca of the self-signed chain error.
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    return 1;
}

unsigned int Endpoint::Impl::timer_callback(SSL* s, unsigned int timer_us) {
    auto* self = static_cast<Impl*>(SSL_get_ex_data(s, ex_index()));
    if (timer_us == 0) {
        const auto initial = self ? self->config.initial_retransmission_timeout.count() : 1000;
        const long long us = std::clamp<long long>(static_cast<long long>(initial) * 1000, 1000,
                                                   kMaxRetransmissionTimeoutUs);
        return static_cast<unsigned int>(us);
    }
    // RFC 6347 §4.2.4.1: double on each retransmission, up to 60 s.
    return timer_us >= kMaxRetransmissionTimeoutUs / 2 ? kMaxRetransmissionTimeoutUs : timer_us * 2;
}

void Endpoint::Impl::fail_from_ssl(int ret, const char* what) {
    const int err = SSL_get_error(ssl.get(), ret);
    std::string reason = openssl_reason();
    if (!verify_failure.empty()) {
        fail(verify_failure);
        return;
    }
    if (reason.empty()) reason = err == SSL_ERROR_SYSCALL ? "transport error" : "unknown error";
    fail(std::string(what) + ": " + reason);
}

void Endpoint::Impl::advance() {
    if (state != State::Connecting) return;
    if (!handshake_done) {
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl.get());
        if (r != 1) {
            const int err = SSL_get_error(ssl.get(), r);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
            fail_from_ssl(r, "DTLS handshake failed");
            return;
        }
        on_handshake_done();
        if (state == State::Failed) return;
    }
    read_records();
}

void Endpoint::Impl::on_handshake_done() {
    handshake_done = true;
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    if (peer == nullptr) {  // SSL_VERIFY_FAIL_IF_NO_PEER_CERT makes this unreachable
        fail("remote sent no certificate");
        return;
    }
    const std::string algorithm =
        config.remote_fingerprint_algorithm.empty() ? "sha-256" : config.remote_fingerprint_algorithm;
    seen_fingerprint = fingerprint_of(peer, algorithm);
    if (!config.remote_fingerprint.empty()) check_fingerprint();
    // else: Connecting until set_remote_fingerprint()
}

void Endpoint::Impl::check_fingerprint() {
    X509* peer = SSL_get0_peer_certificate(ssl.get());
    const EVP_MD* md = fingerprint_digest(config.remote_fingerprint_algorithm);
    const auto expected = parse_fingerprint(config.remote_fingerprint);
    if (peer == nullptr || md == nullptr || !expected) {
        fail("remote fingerprint from the SDP is malformed or uses an unsupported hash");
        return;
    }
    seen_fingerprint = fingerprint_of(peer, config.remote_fingerprint_algorithm);
    unsigned char seen[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    // Constant time over the digest (CRYPTO_memcmp); the hex was already
    // parsed case-insensitively.
    if (X509_digest(peer, md, seen, &len) != 1 || expected->size() != len ||
        CRYPTO_memcmp(seen, expected->data(), len) != 0) {
        ERR_clear_error();
        fail("remote certificate fingerprint does not match the SDP");
        SSL_shutdown(ssl.get());  // close_notify: the handshake is over, no alert can reject it now
        return;
    }
    state = State::Connected;
    Connected c;
    c.protocol_version = SSL_get_version(ssl.get());
    c.cipher = SSL_get_cipher_name(ssl.get());
    if (const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl.get())) c.srtp_profile = p->name;
    DUPLEX_LOG(Info, "dtls: connected " << c.protocol_version << " " << c.cipher << " " << c.srtp_profile);
    events.emplace_back(std::move(c));
    for (Data& d : held) events.emplace_back(std::move(d));
    held.clear();
}

void Endpoint::Impl::read_records() {
    // Terminates: every SSL_read consumes queued input, and the inbound queue
    // is bounded.
    for (;;) {
        if (state != State::Connecting && state != State::Connected) return;
        ERR_clear_error();
        std::size_t n = 0;
        const int r = SSL_read_ex(ssl.get(), read_buf.data(), read_buf.size(), &n);
        if (r == 1) {
            if (n == 0) continue;
            if (pending_app_bytes + n > config.max_pending_app) {
                ++dropped_app_records;  // the reader is behind; DTLS may drop, SCTP retransmits
                continue;
            }
            pending_app_bytes += n;
            const auto* p = reinterpret_cast<const std::byte*>(read_buf.data());
            Data d{std::vector<std::byte>(p, p + n)};
            if (state == State::Connected) {
                events.emplace_back(std::move(d));
            } else {
                held.push_back(std::move(d));
            }
            continue;
        }
        const int err = SSL_get_error(ssl.get(), r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify (RFC 5246 §7.2.1)
            SSL_shutdown(ssl.get());          // answer with ours
            ERR_clear_error();
            state = State::Closed;
            held.clear();
            events.emplace_back(Closed{});
            return;
        }
        fail_from_ssl(r, "DTLS failed");
        return;
    }
}

Endpoint::Endpoint(EndpointConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
    impl_->setup();
}
Endpoint::~Endpoint() = default;
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;

void Endpoint::set_remote_fingerprint(std::string algorithm, std::string value) {
    Impl& m = *impl_;
    if (m.state == State::Failed || m.state == State::Closed || m.state == State::Connected) return;
    m.config.remote_fingerprint_algorithm = std::move(algorithm);
    m.config.remote_fingerprint = std::move(value);
    if (m.handshake_done) m.check_fingerprint();
}

void Endpoint::start(base::Instant now) {
    Impl& m = *impl_;
    if (m.state != State::New) return;
    m.last_now = now;
    m.state = State::Connecting;
    if (m.config.role == Role::Client) m.advance();  // queues the ClientHello
}

void Endpoint::handle_datagram(base::Bytes datagram, base::Instant now) {
    Impl& m = *impl_;
    // A server may be handed the ClientHello before anyone called start().
    if (m.state == State::New && m.config.role == Role::Server) start(now);
    if (m.state != State::Connecting && m.state != State::Connected) return;
    m.last_now = now;
    m.bio->push_inbound(datagram);
    m.advance();
    if (m.state == State::Connected) m.read_records();
}

std::optional<std::vector<std::byte>> Endpoint::poll_transmit() {
    if (!impl_->bio) return std::nullopt;
    return impl_->bio->pop_outbound();
}

std::optional<Event> Endpoint::poll_event() {
    Impl& m = *impl_;
    if (m.events.empty()) return std::nullopt;
    Event e = std::move(m.events.front());
    m.events.pop_front();
    if (const auto* d = std::get_if<Data>(&e)) m.pending_app_bytes -= d->data.size();
    return e;
}

base::Status Endpoint::send(base::Bytes app_data, base::Instant now) {
    Impl& m = *impl_;
    if (m.state != State::Connected) return Errc::invalid_state;
    if (app_data.empty()) return Errc::invalid_argument;
    if (app_data.size() > kMaxRecordPayload) return Errc::message_too_big;
    m.last_now = now;
    ERR_clear_error();
    std::size_t written = 0;
    const int r = SSL_write_ex(m.ssl.get(), app_data.data(), app_data.size(), &written);
    if (r == 1) return Status::success();
    m.fail_from_ssl(r, "DTLS write failed");
    return Status(make_error_code(Errc::tls_failed), "DTLS write failed");
}

std::optional<base::Instant> Endpoint::poll_timeout() const {
    const Impl& m = *impl_;
    if (m.state != State::Connecting && m.state != State::Connected) return std::nullopt;
    timeval tv{};
    if (DTLSv1_get_timeout(m.ssl.get(), &tv) != 1) return std::nullopt;  // no timer running
    return m.last_now + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

void Endpoint::handle_timeout(base::Instant now) {
    Impl& m = *impl_;
    if (m.state != State::Connecting && m.state != State::Connected) return;
    m.last_now = now;
    ERR_clear_error();
    // OpenSSL checks against its own clock whether the timer really expired,
    // then retransmits the last flight (RFC 6347 §4.2.4).
    if (DTLSv1_handle_timeout(m.ssl.get()) < 0) {
        std::string reason = openssl_reason();
        m.fail("DTLS handshake timed out" + (reason.empty() ? std::string{} : ": " + reason));
    }
}

void Endpoint::close(base::Instant now) {
    Impl& m = *impl_;
    if (m.state == State::Closed || m.state == State::Failed) return;
    m.last_now = now;
    if (m.state == State::Connected || m.handshake_done) {
        ERR_clear_error();
        SSL_shutdown(m.ssl.get());  // queues close_notify; we do not wait for the peer's
        ERR_clear_error();
    }
    m.state = State::Closed;
    m.held.clear();
}

State Endpoint::state() const noexcept { return impl_->state; }
Role Endpoint::role() const noexcept { return impl_->config.role; }

std::optional<SrtpKeyingMaterial> Endpoint::srtp_keying_material() const {
    const Impl& m = *impl_;
    if (m.state != State::Connected) return std::nullopt;
    const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(m.ssl.get());
    if (p == nullptr) return std::nullopt;
    const auto lengths = srtp_key_salt_lengths(p->id);
    if (!lengths) return std::nullopt;
    const auto [key_len, salt_len] = *lengths;
    // RFC 5764 §4.2: client_write_SRTP_master_key[key] | server_write_SRTP_master_key[key] |
    //                client_write_SRTP_master_salt[salt] | server_write_SRTP_master_salt[salt]
    std::vector<unsigned char> out(2 * (key_len + salt_len));
    if (SSL_export_keying_material(m.ssl.get(), out.data(), out.size(), kSrtpExporterLabel,
                                   sizeof kSrtpExporterLabel - 1, nullptr, 0, 0) != 1) {
        ERR_clear_error();
        return std::nullopt;
    }
    const auto* b = reinterpret_cast<const std::byte*>(out.data());
    SrtpKeyingMaterial k;
    k.profile_id = static_cast<std::uint16_t>(p->id);
    k.profile_name = p->name;
    k.client_key.assign(b, b + key_len);
    k.server_key.assign(b + key_len, b + 2 * key_len);
    k.client_salt.assign(b + 2 * key_len, b + 2 * key_len + salt_len);
    k.server_salt.assign(b + 2 * key_len + salt_len, b + 2 * (key_len + salt_len));
    return k;
}

std::optional<std::string> Endpoint::remote_certificate_fingerprint() const {
    return impl_->seen_fingerprint;
}

std::size_t Endpoint::max_datagram_payload() const {
    const Impl& m = *impl_;
    if (m.state != State::Connected) return 0;
    // DTLS_get_data_mtu counts from the MTU we gave OpenSSL, kAeadReserve below ours.
    const std::size_t n = DTLS_get_data_mtu(m.ssl.get());
    return n == 0 ? 0 : std::min(n + kAeadReserve, kMaxRecordPayload);
}

std::size_t Endpoint::dropped_datagrams() const noexcept {
    return impl_->bio ? impl_->bio->dropped() : 0;
}

}  // namespace duplex::proto::dtls
