// runtime/tls.hpp: TLS over a TcpSocket with OpenSSL, driven through memory
// BIOs: ciphertext moves between the socket and the BIOs, plaintext between
// the BIOs and the Stream's handler. TLS 1.2 and 1.3 only.
//
// Decision (docs/decisions/0005-tls.md): memory BIOs rather than SSL on the
// descriptor, so that reads keep using the loop's shared buffer, writes keep
// the caller's queue (backpressure stays exact), and a handshake step can be
// postponed to the next loop iteration (a budget per iteration keeps a storm
// of new TLS clients from starving open connections).
#pragma once

#include "base/result.hpp"
#include "runtime/loop.hpp"
#include "runtime/stream.hpp"
#include "runtime/tcp.hpp"

#include <memory>
#include <string>

using SSL = struct ssl_st;
using SSL_CTX = struct ssl_ctx_st;

namespace duplex::runtime {

/// An SSL_CTX with our defaults. Shared by the connections of a server (or
/// of clients with the same settings) across threads (SSL_CTX allows it).
class TlsContext {
public:
    /// A server context from PEM files (the certificate file may hold a chain).
    /// On failure: an error and a one-line reason in `why`.
    static base::Result<std::shared_ptr<TlsContext>> server(const std::string& cert_file, const std::string& key_file,
                                                            std::string& why);
    /// A client context: verify against `ca_file`, or the system store when
    /// empty; `insecure` turns verification off (tests only).
    static base::Result<std::shared_ptr<TlsContext>> client(const std::string& ca_file, bool insecure, std::string& why);
    ~TlsContext();
    SSL_CTX* native() const noexcept { return ctx_; }
    bool verifies() const noexcept { return verify_; }

private:
    explicit TlsContext(SSL_CTX* ctx, bool verify) : ctx_(ctx), verify_(verify) {}
    SSL_CTX* ctx_;
    bool verify_;
};

class TlsStream final : public Stream, private Stream::Handler {
public:
    /// Server side: wraps an accepted socket; the handshake starts with the
    /// client's first bytes. `on_connected` is not called on this side.
    TlsStream(std::unique_ptr<TcpSocket> tcp, std::shared_ptr<TlsContext> ctx, Stream::Handler* handler);
    /// Client side: `host` for SNI and certificate checks (a name or an IP
    /// literal); the handshake starts when the TCP connect completes, and the
    /// handler's on_connected() comes when it has finished.
    TlsStream(std::unique_ptr<TcpSocket> tcp, std::shared_ptr<TlsContext> ctx, Stream::Handler* handler,
              const std::string& host);
    ~TlsStream() override;

    // Stream
    base::Result<std::size_t> write(base::Bytes data) override;
    void want_write(bool on) override;
    void pause_reading(bool paused) override { tcp_->pause_reading(paused); }
    void shutdown_write() override;
    void close() override;
    bool is_open() const noexcept override { return tcp_ && tcp_->is_open(); }
    void set_handler(Stream::Handler* h) noexcept override { handler_ = h; }
    Address peer_address() const override { return tcp_->peer_address(); }
    std::size_t pending() const noexcept override { return out_.size(); }
    std::string error_detail() const override { return error_; }
    /// The socket underneath, so that a client can start it with a connect.
    TcpSocket& tcp() noexcept { return *tcp_; }
    std::string negotiated_protocol() const;  // ALPN result

    /// Handshake steps each loop iteration may take, across all TLS streams
    /// of the loop's thread; more wait for the next iteration.
    static constexpr int kHandshakesPerIteration = 32;

private:
    // Stream::Handler of the TCP socket underneath.
    void on_read(base::MutableBytes data) override;
    void on_writable() override;
    void on_eof() override;
    void on_error(std::error_code ec) override;
    void on_connected(std::error_code ec) override;

    void init(bool server, const std::string& host);
    void step_handshake();
    void read_plaintext();
    bool flush_out();  // false after a socket error (already reported)
    void fail(const std::string& why);
    void update_want_write();

    std::unique_ptr<TcpSocket> tcp_;
    std::shared_ptr<TlsContext> ctx_;
    Stream::Handler* handler_;
    SSL* ssl_ = nullptr;
    bool server_ = false;
    bool handshake_done_ = false;
    bool handshake_scheduled_ = false;
    bool user_wants_write_ = false;
    bool failed_ = false;
    std::string error_;
    base::ByteQueue out_;  // ciphertext the socket did not take yet
    std::shared_ptr<TlsStream*> alive_;  // for work postponed to a later iteration
};

}  // namespace duplex::runtime
