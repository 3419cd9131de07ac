// proto/sctp/association.hpp: one SCTP association carried over DTLS, the
// transport of WebRTC data channels (RFC 8261 SCTP over DTLS, RFC 8831 §5-6
// data channel transport, RFC 8841 SDP parameters). Only streams, PPIDs and
// bytes live here; DCEP (RFC 8832) and channel bookkeeping live above.
//
// The interface is the seam of DESIGN.md's decision "usrsctp first, in
// no-threads mode behind proto/sctp; our own SCTP later": the first
// implementation wraps usrsctp (usrsctp_association.hpp), a later sans-IO one
// replaces it without touching the rtc::Peer that composes it.
//
// The drive contract (docs/decisions/0001-sans-io-contract.md):
//   inputs   connect(now), handle_packet(sctp_packet, now) with each DTLS
//            application-data record, handle_timeout(now); local commands
//            send(), reset_stream(), close(), abort();
//   outputs  poll_transmit() (one SCTP packet to encrypt into one DTLS record),
//            poll_event() (Connected, MessageReceived, StreamReset, ...);
//   time     poll_timeout() is when to call handle_timeout(now).
// After any input or command, drain poll_transmit() and poll_event() to empty
// and re-arm the timer from poll_timeout().
//
//           connect()          COMM_UP              close()            SHUTDOWN done
//   New ──────────────▶ Connecting ─────▶ Connected ─────────▶ Closing ──────────────▶ Closed
//                           │                 │  peer SHUTDOWN / ABORT ───────────────▶ Closed
//                           └─────────────────┴─ lost / bad input / abort() ──────────▶ Failed
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/time.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace duplex::proto::sctp {

/// Partial reliability of one message (RFC 8831 §6.1, RFC 3758 PR-SCTP,
/// RFC 7496 policies). At most one of the two limits may be set.
struct Reliability {
    bool ordered = true;
    std::optional<std::uint16_t> max_retransmits;         // RFC 7496 §4 "limited retransmissions"
    std::optional<std::uint32_t> max_packet_life_time_ms;  // RFC 3758 "timed reliability"
};

struct AssociationConfig {
    /// SCTP ports from a=sctp-port (RFC 8841 §5); WebRTC uses 5000 on both sides.
    std::uint16_t local_port = 5000;
    std::uint16_t remote_port = 5000;
    /// Streams asked for in each direction (INIT's OS and MIS, RFC 9260 §3.3.2).
    /// RFC 8831 §6.2 lets the peer grant fewer; 1024 is what browsers offer.
    std::uint16_t streams = 1024;
    /// The largest message we accept (our a=max-message-size, RFC 8841 §6).
    /// A bigger inbound message aborts the association: the peer was told.
    std::size_t max_message_size = 256 * 1024;
    /// The largest message the peer accepts (its a=max-message-size; 64 KiB
    /// when it gave none, RFC 8841 §6.1). send() refuses anything bigger.
    std::size_t remote_max_message_size = 65536;
    /// The largest SCTP packet handed to DTLS. DTLS datagrams are kept at 1200
    /// bytes (the lowest path MTU WebRTC assumes); a DTLS 1.2 AES-GCM record
    /// adds 13 header + 8 explicit nonce + 16 tag = 37 bytes (RFC 6347 §4.1,
    /// RFC 5288 §3), so 1200 - 37 = 1163, rounded down to a multiple of 4.
    std::size_t mtu = 1160;
    /// Bytes that send() may queue in this object on top of what the SCTP stack
    /// holds; over it send() answers Errc::backpressure_limit (nothing queued).
    std::size_t send_buffer = 4u * 1024 * 1024;
    /// The SCTP stack's own socket buffers (SO_SNDBUF/SO_RCVBUF). The send side
    /// is raised to at least 2 * remote_max_message_size so a whole message fits.
    std::size_t stack_send_buffer = 1024 * 1024;
    std::size_t stack_receive_buffer = 1024 * 1024;
    /// Packets waiting for poll_transmit(); more are dropped (SCTP retransmits
    /// them like packets a full NIC queue lost).
    std::size_t max_queued_packets = 4096;
};

/// One user message (RFC 9260 §3.3.1 DATA: stream identifier S, payload
/// protocol identifier, user data).
struct Message {
    std::uint16_t stream = 0;
    std::uint32_t ppid = 0;
    std::vector<std::byte> data;
};

namespace event {
/// The association is up (COMM_UP): send() may be used.
struct Connected {};
struct MessageReceived {
    Message message;
};
/// The peer reset its outgoing stream `stream` (RFC 6525 §5.2.2; RFC 8831
/// §6.7: the data channel on it is closing). The channel layer answers by
/// resetting its own outgoing stream with reset_stream() unless it started.
struct StreamReset {
    std::uint16_t stream = 0;
};
/// Our reset of outgoing stream `stream` was performed by the peer (RFC 6525
/// §5.2.2 response "Success performed"): the stream number may be reused.
struct OutgoingStreamReset {
    std::uint16_t stream = 0;
};
/// buffered_amount(stream) fell to or below its low threshold (W3C
/// RTCDataChannel bufferedamountlow) after having been above it.
struct BufferedAmountLow {
    std::uint16_t stream = 0;
};
/// The association ended in an orderly way: our or the peer's SHUTDOWN
/// finished (RFC 9260 §9.2), or the peer aborted it (reason says which).
struct Closed {
    std::string reason;
};
/// The association ended in failure: lost (RFC 9260 §8.1 excess
/// retransmissions), refused, or aborted by us for bad peer input.
struct Failed {
    std::error_code error;
    std::string reason;
};
}  // namespace event

using AssociationEvent = std::variant<event::Connected, event::MessageReceived, event::StreamReset,
                                      event::OutgoingStreamReset, event::BufferedAmountLow, event::Closed,
                                      event::Failed>;

enum class State { New, Connecting, Connected, Closing, Closed, Failed };
const char* to_string(State s) noexcept;

/// One SCTP association. Single-threaded: every call on the thread (loop)
/// that owns it. No IO, no clock reads: time comes in as `now`.
class Association {
public:
    virtual ~Association() = default;

    /// Starts the association (sends INIT). RFC 8841 §9.3 / RFC 8831 §6.2:
    /// both WebRTC peers connect at once; SCTP resolves the INIT collision
    /// (RFC 9260 §5.2.1). Calling it twice, or after close, is a no-op.
    virtual void connect(base::Instant now) = 0;
    /// One decrypted DTLS application-data record: exactly one SCTP packet
    /// (RFC 8261 §5). Garbage is dropped by the SCTP checksum and tag checks.
    /// In state New it calls connect(now) first (the peer started first).
    virtual void handle_packet(base::Bytes sctp_packet, base::Instant now) = 0;
    /// The next SCTP packet to send as one DTLS record, or nothing.
    virtual std::optional<std::vector<std::byte>> poll_transmit() = 0;
    virtual std::optional<AssociationEvent> poll_event() = 0;

    /// Queues one message. Errors (nothing is queued):
    ///   Errc::invalid_state     not Connected, or the stream is being reset;
    ///   Errc::invalid_argument  stream out of range, empty data (SCTP cannot
    ///                           carry it; RFC 8831 §6.6 sends one byte with
    ///                           the "empty" PPIDs instead), or both limits set;
    ///   Errc::message_too_big   over remote_max_message_size;
    ///   Errc::backpressure_limit  the queue is over send_buffer: wait for
    ///                           BufferedAmountLow and send again.
    [[nodiscard]] virtual base::Status send(std::uint16_t stream, std::uint32_t ppid, base::Bytes data,
                                            const Reliability& reliability) = 0;
    /// Bytes of messages on `stream` accepted by send() and not yet handed to
    /// the SCTP stack's socket buffer (see the implementation for what that
    /// leaves out).
    virtual std::size_t buffered_amount(std::uint16_t stream) const = 0;
    /// Sum of buffered_amount() over all streams.
    virtual std::size_t buffered_amount_total() const = 0;
    /// BufferedAmountLow{stream} fires when buffered_amount(stream) drops from
    /// above `bytes` to `bytes` or below (default 0).
    virtual void set_buffered_amount_low_threshold(std::uint16_t stream, std::size_t bytes) = 0;

    /// Resets our outgoing stream (RFC 6525 §4.1; RFC 8831 §6.7 closing a
    /// channel) once the messages queued on it are sent. send() on it fails
    /// until OutgoingStreamReset{stream} arrives.
    virtual void reset_stream(std::uint16_t stream) = 0;

    virtual std::optional<base::Instant> poll_timeout() const = 0;
    virtual void handle_timeout(base::Instant now) = 0;

    /// Graceful SHUTDOWN (RFC 9260 §9.2) after everything queued is sent.
    virtual void close() = 0;
    /// ABORT now (RFC 9260 §9.1); queued data is dropped. Ends in Closed.
    virtual void abort() = 0;
    virtual State state() const = 0;
};

}  // namespace duplex::proto::sctp
