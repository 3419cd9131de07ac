// proto/ws/connection.hpp: one WebSocket endpoint after the opening handshake
// (RFC 6455 §5 framing, §5.4 fragmentation, §5.5 control frames, §7 closing,
// §8.1 UTF-8), as a sans-IO machine: no socket, no clock, no thread.
//
// The drive contract (docs/decisions/0001-sans-io-contract.md), the one loop
// every caller runs (api/session.cpp's feed and dispatch; ws_frame_fuzz runs
// it beside the plain form below and checks that both agree):
//   for each buffer `in` read from the transport:
//     while in is not empty:
//       n = handle_bytes(in, now)   consumes bytes until one event is ready or
//                                   `in` is used up; it may unmask `in` in place;
//       loop:
//         take_message(data, bin)   the fast path for the common event (or
//                                   skip it: poll_event() gives messages too);
//         else e = poll_event()     Ping, Pong, Closed (and messages); none: stop
//         deliver it; spans stay valid until the next non-const call; an echo
//         may go out with try_send_short() (else send());
//       in = in.subspan(n)
//     input_done()                  REQUIRED before `in`'s bytes may change (a
//                                   buffer shared by connections): the echo
//                                   fast path trusts text it validated in it
//   write(tx()), consume what was written; arm a timer for poll_timeout().
//
//            send close / receive close                 close handshake done,
//   Open ─────────────────────────────▶ Closing ──────▶ Closed (terminal)
//     │ receive close: echo it, ───────────────────────▶ Closed
//     └ protocol error: send 1002/1007/1009 ───────────▶ Closed (input discarded)
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "base/utf8.hpp"
#include "proto/ws/close_code.hpp"
#include "proto/ws/deflate.hpp"
#include "proto/ws/error.hpp"
#include "proto/ws/frame.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace duplex::proto::ws {

enum class Role : std::uint8_t { Client, Server };

struct Options {
    /// Largest message accepted, after reassembly (over it: close 1009).
    /// Kept in 32 bits: larger values mean 4 GiB - 1.
    std::uint64_t max_message_size = 16u * 1024 * 1024;
    /// Largest single frame accepted (over it: close 1009); 32 bits, as above.
    std::uint64_t max_frame_size = 16u * 1024 * 1024;
    /// How long to wait for the peer's Close after sending ours, and (client)
    /// for the server to end the TCP connection after the close handshake.
    /// Kept in whole milliseconds (rounded up; at most 49 days).
    base::Duration close_timeout = std::chrono::seconds(5);
    /// permessage-deflate as negotiated in the handshake (RFC 7692); unset:
    /// not in use, and RSV1 fails the connection like RSV2/3.
    struct Deflate {
        DeflateParams params;
        std::size_t threshold = 64;  // shorter messages go uncompressed
        int level = -1;
        int mem_level = 8;
        /// When we reset per message, a deflater shared by every connection
        /// of a loop may be used instead of one each (memory). Not owned.
        Deflater* shared = nullptr;
    };
    std::optional<Deflate> deflate;
    /// Client only: the source of masking keys (§5.3: from a strong source of
    /// entropy). Default (null): OpenSSL's CSPRNG. Tests pass a fixed one.
    MaskKey (*mask_source)() = nullptr;
};

struct MessageEvent {
    bool binary = false;
    base::Bytes data;           // valid until the next non-const call
};
struct PingEvent {
    base::Bytes data;           // the pong is already queued
};
struct PongEvent {
    base::Bytes data;
};
/// The connection ended: the close handshake finished (clean), or it failed.
/// `code` is the peer's code when its Close arrived (1005 when it had none), the
/// code we sent when we failed the connection, or 1006 when no Close arrived.
struct ClosedEvent {
    std::uint16_t code = 0;
    std::string_view reason;    // valid until the next non-const call
    bool clean = false;
    std::error_code error;      // why it failed; empty for a clean close
};
using Event = std::variant<MessageEvent, PingEvent, PongEvent, ClosedEvent>;

enum class State : std::uint8_t { Open, Closing, Closed };

class Connection {
public:
    Connection(Role role, Options options = {});

    // -- input -------------------------------------------------------------
    /// Feeds received bytes; see the drive contract above. Never throws on
    /// peer input: a violation fails the connection (ClosedEvent with an error).
    std::size_t handle_bytes(base::MutableBytes in, base::Instant now) {
        // The last message is gone: a buffer a large one grew is not kept for
        // the life of the connection (memory per connection); a small one is
        // reused (no allocation per fragmented message).
        if (rare_ && rare_->msg.capacity() > kKeptMessageBuffer) release_message_buffer();
        // Inline, the common case: between messages, a whole small data
        // message comes next (whole_message_at decides exactly as the general
        // path would, and leaves everything else to it).
        if (state_ != State::Closed && !message_ready_ && pending_[0] == Pending::None && !in_frame_ &&
            hdr_len_ == 0 && !msg_active_) {
            text_validated_ = false;
            std::size_t pos = 0;
            if (whole_message_at(in, pos)) return state_ == State::Closed ? in.size() : pos;
        }
        return handle_bytes_general(in, now);
    }
    /// The caller is done with the buffers it passed to handle_bytes() (it
    /// may reuse them, e.g. for another connection's input): the text just
    /// delivered is no longer known to be in them, so an echo of those bytes
    /// is validated again (§8.1) rather than trusted.
    void input_done() noexcept { text_validated_ = false; }
    /// The transport delivered EOF.
    void handle_eof(base::Instant now);
    /// Call when poll_timeout() has passed.
    void handle_timeout(base::Instant now);

    // -- local commands ----------------------------------------------------
    /// Sends one whole message. Errc::invalid_state unless Open; text must be
    /// UTF-8 (Errc::invalid_argument otherwise).
    [[nodiscard]] Status send(base::Bytes payload, bool binary);
    /// The common send in a few inline instructions (the runtime's fast path):
    /// a short frame from a server (unmasked, §5.1; 7-bit length, §5.2),
    /// uncompressed, binary or text we already know is valid (an echo of what
    /// was just received). False, with nothing done, for anything else: then
    /// send() decides.
    bool try_send_short(base::Bytes payload, bool binary) {
        if (role_ != Role::Server || payload.size() >= 126 || z_ || state_ != State::Open ||
            !(binary || already_valid(payload)))
            return false;
        std::byte* out = tx_.extend(2 + payload.size());
        out[0] = std::byte(0x80 | (binary ? 0x2 : 0x1));
        out[1] = std::byte(payload.size());
        if (!payload.empty()) std::memcpy(out + 2, payload.data(), payload.size());
        return true;
    }
    /// For the runtime's zero-copy path: validates a message as send() would
    /// and writes only its frame header into `header` (kMaxHeaderLen bytes),
    /// leaving the caller to write header and payload itself (writev) and
    /// to queue in tx() whatever the transport did not take. Only where no
    /// copy is needed anyway: a server (clients mask) sending uncompressed.
    /// Errc::not_supported means "use send()".
    [[nodiscard]] Status encode_header(base::Bytes payload, bool binary, std::byte* header, std::size_t& header_len);
    /// Sends a frame already encoded for this role (a server's unmasked frame,
    /// compressed or not), e.g. one copy of a published message shared by
    /// many connections. The caller guarantees it is a whole data frame
    /// and, if RSV1 is set, that this connection may receive it.
    [[nodiscard]] Status send_encoded(base::Bytes frame);
    /// True when a message compressed once, without context, by the shared
    /// compressor may be sent here: deflate in use, we reset our compressor
    /// after every message, and the agreed window is not smaller than the
    /// shared compressor's (the runtime sets `shared` only then).
    bool accepts_shared_compression() const noexcept {
        return z_ && z_->config.params.local_no_context_takeover && z_->config.shared != nullptr;
    }
    [[nodiscard]] Status send_text(std::string_view text) { return send(base::as_bytes(text), false); }
    [[nodiscard]] Status send_binary(base::Bytes data) { return send(data, true); }
    /// Ping/pong with at most 125 bytes of payload (§5.5).
    [[nodiscard]] Status ping(base::Bytes payload = {});
    [[nodiscard]] Status pong(base::Bytes payload = {});
    /// Starts the close handshake. `code` 0 sends a Close without a status;
    /// otherwise it must be a valid wire code; the reason is UTF-8, ≤ 123 bytes.
    [[nodiscard]] Status close(std::uint16_t code, std::string_view reason, base::Instant now);
    /// Fails the connection for a reason the runtime found, not the peer's
    /// bytes (WsError::slow_consumer: the send budget is spent because the
    /// peer does not read). As for a protocol error (§7.1.7): a Close with
    /// the error's code is queued behind what is already in tx() (it may
    /// never leave if the peer keeps not reading), the transport is to be
    /// closed, further input is discarded, and the ClosedEvent carries that
    /// code, whether or not the Close is ever read. No-op once Closed.
    void fail_connection(WsError e) {
        if (state_ != State::Closed) fail(e);
    }
    /// The size limits from now on (the next frame header is checked against
    /// them; a message already under way keeps its count). 32 bits, as in Options.
    void set_size_limits(std::uint64_t max_message_size, std::uint64_t max_frame_size) noexcept;

    // -- output ------------------------------------------------------------
    std::optional<Event> poll_event();
    /// Whether poll_event() has something (a message, Ping, Pong, Closed).
    bool has_event() const noexcept { return message_ready_ || pending_[0] != Pending::None; }
    /// The runtime's fast path for the common event: the message that
    /// handle_bytes() made ready, taken without building an Event (what
    /// poll_event() would return first as a MessageEvent). False if none.
    bool take_message(base::Bytes& data, bool& binary) noexcept {
        if (!message_ready_) return false;
        message_ready_ = false;
        data = direct_data();
        binary = msg_binary_;
        return true;
    }
    /// Bytes to write, owned here; the runtime writes and consume()s them.
    base::ByteQueue& tx() noexcept { return tx_; }
    std::optional<base::Instant> poll_timeout() const;
    /// True once the runtime should close the transport (after writing tx()).
    bool should_close_transport() const noexcept { return close_transport_; }

    /// Bytes reserved for reassembling messages that are not delivered in
    /// place (fragmented, split across reads, compressed); kept up to 64 KiB
    /// between messages, released by the next handle_bytes() after a larger
    /// one (memory; tests).
    std::size_t reassembly_capacity() const noexcept { return rare_ ? rare_->msg.capacity() : 0; }
    State state() const noexcept { return state_; }
    Role role() const noexcept { return role_; }
    /// permessage-deflate was negotiated (RFC 7692).
    bool deflate_negotiated() const noexcept { return z_ != nullptr; }
    base::Duration close_timeout() const noexcept { return std::chrono::milliseconds(close_timeout_ms_); }

private:
    std::size_t handle_bytes_general(base::MutableBytes in, base::Instant now);
    /// A whole small data message at in[pos]: delivered, pos moved past it.
    bool whole_message_at(base::MutableBytes in, std::size_t& pos);
    bool begin_frame(const FrameHeader& h, std::size_t available);
    bool on_payload(base::Bytes chunk);
    void end_frame(base::Instant now);
    void on_close_frame(base::Instant now);
    void fail(WsError e);
    void finish(std::uint16_t code, std::string reason, bool clean, std::error_code error);
    void write_frame(Opcode op, base::Bytes payload, std::uint8_t rsv = 0);
    bool inflate_piece(base::Bytes chunk, bool final);
    /// The delivered message, kept apart from pending_ (the common event gets
    /// no variant pushed and popped): its span in direct_data().
    void ready_message(bool binary, base::Bytes data) noexcept {
        msg_binary_ = binary;
        set_direct_data(data);
        message_ready_ = true;
    }
    // The delivered message's length is kept in msg_size_ (its count while
    // it arrived is done with by then): at most max_message_size_, 32 bits.
    base::Bytes direct_data() const noexcept { return {direct_ptr_, msg_size_}; }
    void set_direct_data(base::Bytes b) noexcept {
        direct_ptr_ = b.data();
        msg_size_ = static_cast<std::uint32_t>(b.size());
    }
    base::Bytes ctrl_payload() const noexcept {
        if (ctrl_len_ == 0) return {};
        return {ctrl_is_direct_ ? ctrl_direct_ : rare_->ctrl.data(), ctrl_len_};
    }
    bool already_valid(base::Bytes payload) const noexcept {
        return text_validated_ && payload.data() == direct_ptr_ && payload.size() == msg_size_ &&
               payload.data() != nullptr;
    }
    // Ping, Pong and Closed wait here in order (at most two: a Ping or Pong,
    // then Closed). Their data is elsewhere: ctrl_payload() for Ping and Pong,
    // Rare for Closed; so no Event is stored (memory per connection).
    enum class Pending : std::uint8_t { None, Ping, Pong, Closed };
    void push_event(Pending e) noexcept { (pending_[0] == Pending::None ? pending_[0] : pending_[1]) = e; }
    void write_close(std::uint16_t code, std::string_view reason);
    MaskKey next_mask();

    // Laid out for memory per connection (decision 0011): what every connection
    // needs inline, what only some need (compression, client masking keys,
    // a control frame split across reads) behind a pointer made on first use.
    struct Compression {
        Options::Deflate config;
        std::unique_ptr<Deflater> deflater;  // created on first use
        std::unique_ptr<Inflater> inflater;
        std::vector<std::byte> zbuf;         // compressed payload being sent
    };
    std::unique_ptr<Compression> z_;
    // What an idle connection never needs, made on first use: a message that
    // is not delivered from the caller's buffer (fragmented, split across
    // reads, compressed) and its UTF-8 state, a control frame split across
    // reads, the close.
    static constexpr base::Instant kNever = base::Instant::max();
    static constexpr std::size_t kKeptMessageBuffer = 64 * 1024;
    void release_message_buffer() noexcept;
    struct Rare {
        std::vector<std::byte> msg;
        base::Utf8Validator utf8;  // of a text message not delivered in place, as it arrives
        std::array<std::byte, 125> ctrl;
        std::array<std::byte, kMaxHeaderLen> hdr;  // a frame header split across reads (hdr_len_ bytes)
        // Instant::max(): not waiting.
        base::Instant close_deadline = kNever;      // waiting for the peer's Close
        base::Instant transport_deadline = kNever;  // client: waiting for the server's FIN
        // The ClosedEvent's contents.
        std::uint16_t close_code = 0;
        bool close_clean = false;
        std::error_code close_error;
        std::string close_reason;
    };
    std::unique_ptr<Rare> rare_;
    Rare& rare() {
        if (!rare_) rare_ = std::make_unique<Rare>();
        return *rare_;
    }

    base::ByteQueue tx_;
    // rx: the message delivered from the caller's buffer (direct_data()).
    const std::byte* direct_ptr_ = nullptr;
    // rx: the control frame being read (§5.5: ≤ 125 bytes, ctrl_len_): in
    // the caller's buffer when it arrived whole, else gathered in rare().ctrl.
    const std::byte* ctrl_direct_ = nullptr;
    // Client only (servers do not mask, §5.1): where masking keys come from,
    // drawn from the CSPRNG in batches unless a source was given.
    struct ClientMasking {
        static constexpr std::uint8_t kBatch = 32;
        MaskKey (*source)() = nullptr;
        std::array<MaskKey, kBatch> keys{};
        std::uint8_t next = kBatch;
    };
    std::unique_ptr<ClientMasking> masking_;

    // Sizes in 32 bits (memory per connection, decision 0013): a frame or
    // message over max_frame_size_/max_message_size_ is refused before it
    // is counted, and the limits themselves are clamped to 32 bits.
    std::uint32_t max_message_size_;
    std::uint32_t max_frame_size_;
    std::uint32_t close_timeout_ms_;
    std::uint32_t payload_left_ = 0;  // rx: of the frame being read
    std::uint32_t msg_size_ = 0;      // rx: of the message so far; then the delivered one's length
    MaskKey frame_mask_{};
    std::uint8_t hdr_len_ = 0;  // bytes of a split frame header kept in rare().hdr
    std::uint8_t ctrl_len_ = 0;
    std::uint8_t mask_offset_ = 0;  // payload bytes of this frame so far, mod 4 (where the key stands)
    std::array<Pending, 2> pending_{};
    Role role_;
    State state_ = State::Open;
    Opcode frame_op_ = Opcode::Continuation;
    bool in_frame_ = false;
    bool msg_active_ = false;
    bool msg_binary_ = false;
    bool message_ready_ = false;     // a MessageEvent waits in msg_binary_/direct_data()
    // Off the common path (whole_message_at does not touch them): bits.
    bool frame_fin_ : 1 = false;
    bool frame_masked_ : 1 = false;
    bool ctrl_is_direct_ : 1 = false;
    bool msg_direct_ : 1 = false;      // whole message in the caller's buffer: no copy
    bool msg_compressed_ : 1 = false;  // RSV1 on its first frame (RFC 7692 §6)
    bool close_transport_ : 1 = false;
    // The text just delivered (direct_data()) is valid UTF-8, checked on
    // the way in: sending exactly these bytes back (an echo) skips a second
    // validation. Reset by every handle_bytes() and by input_done(), when the
    // span may no longer hold those bytes.
    bool text_validated_ = false;
};

}  // namespace duplex::proto::ws
