// api/stream_connection.hpp: a PeerConnection's TCP (or TLS) connection: to
// a TURN server that the machine asks for (proto::rtc::event::OpenStream,
// RFC 8656 §3.1), or from a peer to our ICE-TCP listener (RFC 6544). It
// moves bytes both ways and says when it is up and when it ended; the
// machine frames them (TURN's ChannelData and STUN, or RFC 4571).
//
// Writes are whole frames. What the kernel does not take waits here, up to
// kMaxPending bytes; a frame beyond that is dropped whole (both carry
// datagrams: SCTP and ICE retransmit, and a frame cut in two would break
// the stream).
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "runtime/stream.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace duplex::runtime {
class Loop;
}

namespace duplex::detail {

class StreamConnection final : public runtime::Stream::Handler {
public:
    struct Callbacks {
        std::function<void()> connected;
        std::function<void(base::Bytes)> data;
        std::function<void(const std::string&)> closed;  // once; nothing after it
    };
    static constexpr std::size_t kMaxPending = 1 << 20;

    /// Connects to `server`; with `tls`, a TLS client that checks the
    /// server's certificate against `host` and the CAs of `ca_file` (empty:
    /// the system store). A failure to start comes as `closed`, later.
    StreamConnection(runtime::Loop& loop, const base::Endpoint& server, bool tls, const std::string& host,
                     const std::string& ca_file, Callbacks callbacks);
    /// An accepted connection (descriptor `fd`, from `remote`): up already,
    /// `connected` is not called.
    StreamConnection(runtime::Loop& loop, int fd, const base::Endpoint& remote, Callbacks callbacks);
    ~StreamConnection() override;
    StreamConnection(const StreamConnection&) = delete;
    StreamConnection& operator=(const StreamConnection&) = delete;

    void send(base::Bytes frame);
    /// Closes at once; no callback after this.
    void close();
    std::size_t dropped() const noexcept { return dropped_; }

private:
    void on_read(base::MutableBytes data) override;
    void on_writable() override;
    void on_eof() override;
    void on_error(std::error_code ec) override;
    void on_connected(std::error_code ec) override;
    void end(const std::string& why);
    void flush();

    runtime::Loop& loop_;
    base::Endpoint server_;
    std::unique_ptr<runtime::Stream> stream_;
    Callbacks cb_;
    bool up_ = false;
    bool ended_ = false;
    std::vector<std::byte> pending_;
    std::size_t dropped_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // deferred calls check it
};

}  // namespace duplex::detail
