// api/stream_connection.cpp: a PeerConnection's TCP or TLS connection. See the header.
#include "api/stream_connection.hpp"

#include "api/session.hpp"
#include "runtime/address.hpp"
#include "runtime/loop.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

namespace duplex::detail {

StreamConnection::StreamConnection(runtime::Loop& loop, const base::Endpoint& server, bool tls, const std::string& host,
                               const std::string& ca_file, Callbacks callbacks)
    : loop_(loop), server_(server), cb_(std::move(callbacks)) {
    auto s = runtime::TcpSocket::connect(loop, runtime::to_address(server), this);
    if (!s) {
        const auto why = "cannot connect to " + server.to_string() + ": " + s.error().message();
        loop_.defer([alive = std::weak_ptr<bool>(alive_), this, why] {
            if (alive.lock()) end(why);
        });
        return;
    }
    if (!tls) {
        stream_ = std::move(s.value());
        return;
    }
    std::string why;
    ClientTlsOptions o;
    o.ca_file = ca_file;
    auto ctx = client_tls_context(o, why);
    if (!ctx) {
        s.value()->close();
        loop_.defer([alive = std::weak_ptr<bool>(alive_), this, why] {
            if (alive.lock()) end("TLS: " + why);
        });
        return;
    }
    // The TLS layer takes the socket over; on_connected comes after its handshake.
    stream_ = std::make_unique<runtime::TlsStream>(std::move(s.value()), std::move(ctx), this, host);
}

StreamConnection::StreamConnection(runtime::Loop& loop, int fd, const base::Endpoint& remote, Callbacks callbacks)
    : loop_(loop), server_(remote), cb_(std::move(callbacks)), up_(true) {
    stream_ = std::make_unique<runtime::TcpSocket>(loop, fd, this);
}

StreamConnection::~StreamConnection() {
    ended_ = true;
    if (stream_) stream_->close();
}

void StreamConnection::close() {
    ended_ = true;
    if (stream_) stream_->close();
}

void StreamConnection::end(const std::string& why) {
    if (ended_) return;
    ended_ = true;
    if (stream_) stream_->close();
    if (cb_.closed) cb_.closed(why);  // may destroy this
}

void StreamConnection::on_connected(std::error_code ec) {
    if (ended_) return;
    if (ec) {
        const std::string detail = stream_ ? stream_->error_detail() : std::string();
        return end("connecting to " + server_.to_string() + " failed: " + (detail.empty() ? ec.message() : detail));
    }
    up_ = true;
    flush();
    if (cb_.connected) cb_.connected();
}

void StreamConnection::send(base::Bytes frame) {
    if (ended_ || !stream_) return;
    std::size_t sent = 0;
    if (up_ && pending_.empty()) {
        auto n = stream_->write(frame);
        if (!n) return end("writing to " + server_.to_string() + ": " + n.error().message());
        sent = *n;
        if (sent == frame.size()) return;
    }
    // The rest of a frame that began to go must follow it; a frame that has
    // not begun is dropped whole when too much waits.
    const auto rest = frame.subspan(sent);
    if (sent == 0 && pending_.size() + rest.size() > kMaxPending) {
        ++dropped_;
        return;
    }
    pending_.insert(pending_.end(), rest.begin(), rest.end());
    if (up_) stream_->want_write(true);
}

void StreamConnection::flush() {
    if (!up_ || ended_ || pending_.empty()) return;
    auto n = stream_->write(pending_);
    if (!n) return end("writing to " + server_.to_string() + ": " + n.error().message());
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(*n));
    stream_->want_write(!pending_.empty());
}

void StreamConnection::on_writable() { flush(); }

void StreamConnection::on_read(base::MutableBytes data) {
    if (ended_) return;
    if (cb_.data) cb_.data(data);
}

void StreamConnection::on_eof() { end("the server closed the connection"); }

void StreamConnection::on_error(std::error_code ec) {
    const std::string detail = stream_ ? stream_->error_detail() : std::string();
    end(detail.empty() ? ec.message() : detail);
}

}  // namespace duplex::detail
