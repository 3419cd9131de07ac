#include "runtime/tls.hpp"

#include "base/log.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace duplex::runtime {

namespace {
// Move at most this much ciphertext into the queue before refusing more
// plaintext: the rest waits in the caller's queue, where it is counted.
constexpr std::size_t kMaxPendingCipher = 256 * 1024;

// Why a file named on the command line cannot be used, in a user's words:
// the system's reason when it cannot be read at all, else OpenSSL's reason
// for the last error only (its whole stack is noise to a user).
std::string file_error(const std::string& file, const char* what) {
    if (::access(file.c_str(), R_OK) != 0) {
        const std::string reason = std::strerror(errno);
        ERR_clear_error();
        return reason;
    }
    const unsigned long e = ERR_peek_last_error();
    const char* reason = e ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return std::string("not a usable PEM ") + what + (reason ? std::string(" (") + reason + ")" : std::string());
}

std::string openssl_error() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

std::error_code tls_error() { return make_error_code(Errc::tls_failed); }

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
    // We speak HTTP/1.1 only (the WebSocket upgrade needs it).
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, kHttp11, sizeof(kHttp11), in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

struct Budget {
    std::uint64_t iteration = 0;
    int used = 0;
};
thread_local Budget t_budget;
}  // namespace

// ------------------------------------------------------------ TlsContext --

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

base::Result<std::shared_ptr<TlsContext>> TlsContext::server(const std::string& cert_file, const std::string& key_file,
                                                             std::string& why) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return (why = openssl_error(), Errc::tls_failed);
    std::shared_ptr<TlsContext> out(new TlsContext(ctx, false));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    // TLS 1.2: forward-secret AEAD suites only; TLS 1.3 suites are OpenSSL's defaults.
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
        return (why = "cannot load certificate " + cert_file + ": " + file_error(cert_file, "certificate"), Errc::tls_failed);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return (why = "private key " + key_file + " does not match certificate " + cert_file, Errc::tls_failed);
        }
        return (why = "cannot load private key " + key_file + ": " + file_error(key_file, "private key"), Errc::tls_failed);
    }
    if (SSL_CTX_check_private_key(ctx) != 1)
        return (why = "private key " + key_file + " does not match certificate " + cert_file, Errc::tls_failed);
    return out;
}

base::Result<std::shared_ptr<TlsContext>> TlsContext::client(const std::string& ca_file, bool insecure, std::string& why) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return (why = openssl_error(), Errc::tls_failed);
    std::shared_ptr<TlsContext> out(new TlsContext(ctx, !insecure));
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
    ERR_clear_error();
    if (!insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        const int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                       : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
        if (ok != 1)
            return (why = ca_file.empty() ? "cannot load the system's CA store: " + openssl_error()
                                          : "cannot load CA " + ca_file + ": " + file_error(ca_file, "CA file"),
                    Errc::tls_failed);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    return out;
}

// ------------------------------------------------------------- TlsStream --

TlsStream::TlsStream(std::unique_ptr<TcpSocket> tcp, std::shared_ptr<TlsContext> ctx, Stream::Handler* handler)
    : tcp_(std::move(tcp)), ctx_(std::move(ctx)), handler_(handler) {
    init(true, {});
}

TlsStream::TlsStream(std::unique_ptr<TcpSocket> tcp, std::shared_ptr<TlsContext> ctx, Stream::Handler* handler,
                     const std::string& host)
    : tcp_(std::move(tcp)), ctx_(std::move(ctx)), handler_(handler) {
    init(false, host);
}

void TlsStream::init(bool server, const std::string& host) {
    server_ = server;
    alive_ = std::make_shared<TlsStream*>(this);
    tcp_->set_handler(this);
    ssl_ = SSL_new(ctx_->native());
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio, -1);  // "no data yet", not EOF
    SSL_set_bio(ssl_, rbio, wbio);
    if (server) {
        SSL_set_accept_state(ssl_);
        return;
    }
    SSL_set_connect_state(ssl_);
    if (!host.empty() && !is_ip_literal(host)) SSL_set_tlsext_host_name(ssl_, host.c_str());  // SNI: names only
    if (ctx_->verifies()) {
        if (is_ip_literal(host)) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
        else {
            SSL_set1_host(ssl_, host.c_str());
            // Names only from subjectAltName, never the CN (RFC 6125 §6.4.4, as browsers do).
            SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
        }
    }
}

TlsStream::~TlsStream() {
    *alive_ = nullptr;
    if (ssl_) SSL_free(ssl_);
}

std::string TlsStream::negotiated_protocol() const {
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl_, &p, &n);
    return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

void TlsStream::fail(const std::string& why) {
    if (failed_) return;
    failed_ = true;
    error_ = why;
    DUPLEX_LOG(Info, "tls " << tcp_->peer_address().to_string() << ": " << why);
    if (!handshake_done_ && !server_) handler_->on_connected(tls_error());
    else handler_->on_error(tls_error());
}

void TlsStream::on_connected(std::error_code ec) {
    if (ec) return handler_->on_connected(ec);
    step_handshake();  // the ClientHello
}

void TlsStream::on_read(base::MutableBytes data) {
    if (failed_) return;
    BIO_write(SSL_get_rbio(ssl_), data.data(), static_cast<int>(data.size()));
    if (!handshake_done_) {
        step_handshake();
        if (!handshake_done_) return;
    }
    read_plaintext();
}

void TlsStream::step_handshake() {
    if (handshake_done_ || failed_ || !tcp_->is_open()) return;
    // A bounded number of handshake steps per loop iteration (the expensive
    // part is the key exchange); the rest waits for the next iteration.
    Loop& loop = tcp_->loop();
    if (t_budget.iteration != loop.iteration()) t_budget = {loop.iteration(), 0};
    if (t_budget.used >= kHandshakesPerIteration) {
        if (!handshake_scheduled_) {
            handshake_scheduled_ = true;
            loop.next_iteration([alive = alive_] {
                if (TlsStream* self = *alive) {
                    self->handshake_scheduled_ = false;
                    self->step_handshake();
                    if (self->handshake_done_) self->read_plaintext();
                }
            });
        }
        return;
    }
    ++t_budget.used;
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl_);
    if (!flush_out()) return;
    if (rc == 1) {
        handshake_done_ = true;
        if (!server_) handler_->on_connected({});
        update_want_write();
        return;
    }
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    std::string why = openssl_error();
    if (!server_ && SSL_get_verify_result(ssl_) != X509_V_OK)
        why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
    fail("handshake failed: " + why);
}

void TlsStream::read_plaintext() {
    auto buf = tcp_->loop().plain_buffer();
    std::size_t have = 0;
    bool eof = false;
    while (!failed_) {
        if (have == buf.size()) {
            handler_->on_read(buf.first(have));
            have = 0;
            if (!tcp_->is_open()) return;
        }
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf.data() + have, static_cast<int>(buf.size() - have));
        if (n > 0) {
            have += static_cast<std::size_t>(n);
            continue;
        }
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify: the peer's EOF
            eof = true;
            break;
        }
        if (have > 0) handler_->on_read(buf.first(have));
        return fail("read failed: " + openssl_error());
    }
    // TLS 1.3 may write (session tickets, key updates) while reading.
    if (!flush_out()) return;
    if (have > 0) handler_->on_read(buf.first(have));
    if (eof && tcp_->is_open()) handler_->on_eof();
}

base::Result<std::size_t> TlsStream::write(base::Bytes data) {
    if (failed_ || !tcp_->is_open()) return tls_error();
    if (!handshake_done_ || out_.size() >= kMaxPendingCipher || data.empty()) {
        update_want_write();
        return std::size_t{0};
    }
    ERR_clear_error();
    const std::size_t chunk = std::min<std::size_t>(data.size(), kMaxPendingCipher);
    const int n = SSL_write(ssl_, data.data(), static_cast<int>(chunk));
    if (n <= 0) {
        const int err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return std::size_t{0};
        fail("write failed: " + openssl_error());
        return tls_error();
    }
    if (!flush_out()) return tls_error();
    return static_cast<std::size_t>(n);
}

bool TlsStream::flush_out() {
    // Ciphertext from the write BIO to our queue, then to the socket.
    BIO* wbio = SSL_get_wbio(ssl_);
    char* data = nullptr;
    const long pending = BIO_get_mem_data(wbio, &data);
    if (pending > 0) {
        out_.append(base::Bytes{reinterpret_cast<const std::byte*>(data), static_cast<std::size_t>(pending)});
        (void)BIO_reset(wbio);
    }
    while (!out_.empty()) {
        auto r = tcp_->write(out_.data());
        if (!r) {
            failed_ = true;
            handler_->on_error(r.error());
            return false;
        }
        if (*r == 0) break;
        out_.consume(*r);
    }
    update_want_write();
    return true;
}

void TlsStream::update_want_write() {
    if (tcp_->is_open()) tcp_->want_write(!out_.empty() || (user_wants_write_ && handshake_done_));
}

void TlsStream::want_write(bool on) {
    user_wants_write_ = on;
    update_want_write();
}

void TlsStream::on_writable() {
    if (!flush_out()) return;
    if (!handshake_done_) return;
    if (out_.size() < kMaxPendingCipher && user_wants_write_) handler_->on_writable();
}

void TlsStream::on_eof() { handler_->on_eof(); }
void TlsStream::on_error(std::error_code ec) { handler_->on_error(ec); }

void TlsStream::shutdown_write() {
    if (ssl_ && handshake_done_ && !failed_) {
        SSL_shutdown(ssl_);  // close_notify
        (void)flush_out();
    }
    tcp_->shutdown_write();
}

void TlsStream::close() { tcp_->close(); }

}  // namespace duplex::runtime
