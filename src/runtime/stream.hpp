// runtime/stream.hpp: a byte stream on a loop (plain TCP, or TLS over TCP).
// Protocol code above sees only this: reads arrive in a loop-owned buffer,
// writes take what they can now and the caller keeps the rest.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "runtime/address.hpp"
#include "runtime/loop.hpp"

#include <string>
#include <system_error>

namespace duplex::runtime {

// A Stream is an IoHandler and a Handler a Closer so that a connection
// object carries one vtable pointer, not two (memory per connection,
// decision 0013): a stream the loop drives directly (TcpSocket) gets its
// readiness in on_io(); a handler that must end with its loop overrides
// on_loop_closing() and registers itself (Loop::add_closer).
class Stream : public Loop::IoHandler {
public:
    class Handler : public Loop::Closer {
    public:
        /// Bytes read (plaintext for TLS), in a buffer owned by the loop:
        /// valid during the call; the handler may modify them in place.
        virtual void on_read(base::MutableBytes data) = 0;
        virtual void on_writable() = 0;
        virtual void on_eof() = 0;
        virtual void on_error(std::error_code ec) = 0;
        /// The connection is ready for application data (TCP connected; for
        /// TLS, the handshake finished). ec set when it failed.
        virtual void on_connected(std::error_code ec) { (void)ec; }
        /// Loop::Closer: only a handler that registered itself is told.
        void on_loop_closing() override {}

    protected:
        ~Handler() override = default;
    };

    virtual ~Stream() = default;
    /// Loop::IoHandler: only a stream that registered its descriptor is told.
    void on_io(std::uint32_t events) override { (void)events; }
    /// Takes what can be sent now; returns how many bytes (0: would block).
    virtual base::Result<std::size_t> write(base::Bytes data) = 0;
    /// Two buffers in one call where the transport can (TCP: sendmsg); returns
    /// the bytes taken from a then b.
    virtual base::Result<std::size_t> writev(base::Bytes a, base::Bytes b) {
        auto r = write(a);
        if (!r || *r < a.size()) return r;
        auto r2 = write(b);
        if (!r2) return *r;  // a went out; the error shows on the next write
        return *r + *r2;
    }
    /// Asks for on_writable() when write() can take more.
    virtual void want_write(bool on) = 0;
    virtual void pause_reading(bool paused) = 0;
    /// Ends our direction (FIN; TLS: close_notify first); reading goes on.
    virtual void shutdown_write() = 0;
    /// Closes now; no more callbacks.
    virtual void close() = 0;
    virtual bool is_open() const noexcept = 0;
    virtual void set_handler(Handler* h) noexcept = 0;
    virtual Address peer_address() const = 0;
    /// Bytes accepted by write() but not yet handed to the kernel (TLS records).
    virtual std::size_t pending() const noexcept { return 0; }
    /// Why the stream failed, when it knows more than an error code (TLS).
    virtual std::string error_detail() const { return {}; }
};

}  // namespace duplex::runtime
