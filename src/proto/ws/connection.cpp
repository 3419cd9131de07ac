#include "proto/ws/connection.hpp"

#include "base/digest.hpp"

#include <algorithm>
#include <cstring>

namespace duplex::proto::ws {

namespace {
std::uint32_t clamp32(std::uint64_t n) noexcept { return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX)); }
}  // namespace

Connection::Connection(Role role, Options options)
    : max_message_size_(clamp32(options.max_message_size)),
      max_frame_size_(clamp32(options.max_frame_size)),
      close_timeout_ms_(clamp32(static_cast<std::uint64_t>(
          std::max<std::int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(options.close_timeout).count())))),
      role_(role) {
    if (options.deflate) z_ = std::make_unique<Compression>(Compression{*options.deflate, {}, {}, {}});
    if (role == Role::Client) {
        masking_ = std::make_unique<ClientMasking>();
        masking_->source = options.mask_source;
    }
}

void Connection::set_size_limits(std::uint64_t max_message_size, std::uint64_t max_frame_size) noexcept {
    max_message_size_ = clamp32(max_message_size);
    max_frame_size_ = clamp32(max_frame_size);
}

void Connection::release_message_buffer() noexcept {
    // Only between messages: a message being reassembled keeps its bytes.
    if (!msg_active_) std::vector<std::byte>().swap(rare_->msg);
}

MaskKey Connection::next_mask() {
    auto& m = *masking_;  // made with every client connection
    if (m.source) return m.source();
    // §5.3: the key must be unpredictable; draw it from the CSPRNG in batches.
    if (m.next == ClientMasking::kBatch) {
        base::random_bytes({reinterpret_cast<std::byte*>(m.keys.data()), sizeof(m.keys)});
        m.next = 0;
    }
    return m.keys[m.next++];
}

// ---------------------------------------------------------------- input --

std::size_t Connection::handle_bytes_general(base::MutableBytes in, base::Instant now) {
    // §7.1.7: once the connection is failed (or closed), input is discarded.
    if (state_ == State::Closed) return in.size();
    if (message_ready_ || pending_[0] != Pending::None) return 0;  // the caller must poll first
    text_validated_ = false;
    std::size_t pos = 0;
    while (pos < in.size() && !message_ready_ && pending_[0] == Pending::None && state_ != State::Closed) {
        if (!in_frame_ && hdr_len_ == 0 && !msg_active_ && whole_message_at(in, pos)) continue;
        if (!in_frame_) {
            FrameHeader h;
            if (hdr_len_ == 0) {
                auto r = parse_frame_header(in.subspan(pos));
                if (std::holds_alternative<NeedMore>(r)) {
                    // Keep the partial header (at most 13 bytes) for the next call.
                    hdr_len_ = static_cast<std::uint8_t>(in.size() - pos);
                    std::memcpy(rare().hdr.data(), in.data() + pos, hdr_len_);
                    return in.size();
                }
                if (auto* ec = std::get_if<std::error_code>(&r)) {
                    fail(static_cast<WsError>(ec->value()));
                    return in.size();
                }
                h = std::get<FrameHeader>(r);
                pos += h.header_len;
            } else {
                // Complete a header that was split across reads.
                auto& hdr = rare().hdr;
                std::size_t need = hdr_len_ < 2 ? 2 : header_len_from(std::to_integer<std::uint8_t>(hdr[1]));
                while (hdr_len_ < need && pos < in.size()) {
                    const std::size_t n = std::min(need - hdr_len_, in.size() - pos);
                    std::memcpy(hdr.data() + hdr_len_, in.data() + pos, n);
                    hdr_len_ = static_cast<std::uint8_t>(hdr_len_ + n);
                    pos += n;
                    if (hdr_len_ >= 2) need = header_len_from(std::to_integer<std::uint8_t>(hdr[1]));
                }
                if (hdr_len_ < need) return in.size();
                auto r = parse_frame_header({hdr.data(), hdr_len_});
                hdr_len_ = 0;
                if (auto* ec = std::get_if<std::error_code>(&r)) {
                    fail(static_cast<WsError>(ec->value()));
                    return in.size();
                }
                h = std::get<FrameHeader>(r);
            }
            if (!begin_frame(h, in.size() - pos)) return in.size();
            if (payload_left_ == 0) {
                end_frame(now);
                continue;
            }
        }
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, in.size() - pos));
        auto chunk = in.subspan(pos, take);
        if (frame_masked_) apply_mask(chunk, frame_mask_, mask_offset_);
        mask_offset_ = static_cast<std::uint8_t>((mask_offset_ + take) & 3);
        payload_left_ -= static_cast<std::uint32_t>(take);  // take ≤ payload_left_
        pos += take;
        if (!on_payload(chunk)) return in.size();
        if (payload_left_ == 0) end_frame(now);
    }
    return state_ == State::Closed ? in.size() : pos;
}

bool Connection::whole_message_at(base::MutableBytes in, std::size_t& pos) {
    // The common case, taken without the general frame machinery: a whole,
    // unfragmented, uncompressed text or binary message (FIN set, RSV 0, a
    // 7- or 16-bit length, masked exactly when we are the server, §5.1) that
    // is entirely in `in`. Anything else, including every error, goes the
    // general way, which checks and reports it; so this path decides only
    // what the general one would decide the same way.
    const std::size_t avail = in.size() - pos;
    if (avail < 2) return false;
    const auto b0 = std::to_integer<std::uint8_t>(in[pos]);
    const auto b1 = std::to_integer<std::uint8_t>(in[pos + 1]);
    const std::uint8_t op = b0 & 0x0f;
    if ((b0 & 0xf0) != 0x80 || (op != 0x1 && op != 0x2)) return false;
    const bool masked = (b1 & 0x80) != 0;
    if (masked != (role_ == Role::Server)) return false;
    const std::uint8_t len7 = b1 & 0x7f;
    if (len7 == 127) return false;
    std::size_t hlen = len7 == 126 ? 4 : 2;
    if (avail < hlen + (masked ? 4 : 0)) return false;
    const std::uint64_t len = len7 == 126 ? base::load_be16(in.data() + pos + 2) : len7;
    if (len > max_frame_size_ || len > max_message_size_) return false;
    MaskKey mask{};
    if (masked) {
        std::memcpy(mask.data(), in.data() + pos + hlen, 4);
        hlen += 4;
    }
    if (avail - hlen < len) return false;
    const base::MutableBytes payload = in.subspan(pos + hlen, static_cast<std::size_t>(len));
    pos += hlen + payload.size();
    // Unmasked in the same pass that looks for non-ASCII bytes: an ASCII text
    // needs no UTF-8 validation.
    const bool ascii = masked && unmask_is_ascii(payload, mask);
    const bool binary = op == 0x2;
    // §8.1: the payload is unmasked now, so an invalid text fails here (the
    // general path must not see these bytes again).
    if (!binary && !ascii && !base::is_valid_utf8(payload)) {
        fail(WsError::invalid_utf8);
        return true;
    }
    ready_message(binary, payload);
    text_validated_ = !binary;
    return true;
}

bool Connection::begin_frame(const FrameHeader& h, std::size_t available) {
    // §5.2: "MUST be 0 unless an extension is negotiated that defines meanings".
    // RFC 7692 §6: permessage-deflate defines RSV1, on the first frame of a
    // data message only.
    const bool rsv1 = (h.rsv & 0x4) != 0;
    if ((h.rsv & 0x3) || (rsv1 && !z_)) return fail(WsError::reserved_bits), false;
    // §5.2: reserved opcodes fail the connection.
    if (!is_known_opcode(h.opcode)) return fail(WsError::reserved_opcode), false;
    if (rsv1 && (is_control(static_cast<Opcode>(h.opcode)) || h.opcode == 0))
        return fail(WsError::reserved_bits), false;
    // §5.1: a server MUST close on an unmasked frame; a client on a masked one.
    if (h.masked != (role_ == Role::Server)) return fail(WsError::bad_masking), false;
    const auto op = static_cast<Opcode>(h.opcode);
    if (is_control(op)) {
        // §5.5: control frames are ≤ 125 bytes and MUST NOT be fragmented.
        if (!h.fin) return fail(WsError::control_fragmented), false;
        if (h.payload_len > 125) return fail(WsError::control_too_long), false;
        ctrl_len_ = 0;
        // Whole in the caller's buffer (the usual case): read from there.
        ctrl_is_direct_ = h.payload_len <= available;
        ctrl_direct_ = nullptr;
    } else {
        // §5.4: continuation only inside a message; no new message inside one.
        if (op == Opcode::Continuation && !msg_active_) return fail(WsError::unexpected_continuation), false;
        if (op != Opcode::Continuation && msg_active_) return fail(WsError::expected_continuation), false;
        if (h.payload_len > max_frame_size_) return fail(WsError::message_too_big), false;
        if (op != Opcode::Continuation) {
            msg_active_ = true;
            msg_binary_ = op == Opcode::Binary;
            msg_size_ = 0;
            if (rare_) {
                rare_->msg.clear();  // its capacity was bounded by handle_bytes()
                rare_->utf8.reset();
            }
            // The common case: a whole unfragmented message already in the
            // caller's buffer is delivered from there, without a copy.
            msg_compressed_ = rsv1;
            msg_direct_ = !rsv1 && h.fin && h.payload_len <= available;
            set_direct_data({});
        } else {
            msg_direct_ = false;
        }
        // (msg_size_ may exceed a limit lowered while the message arrived.)
        if (msg_size_ > max_message_size_ || h.payload_len > max_message_size_ - msg_size_)
            return fail(WsError::message_too_big), false;
    }
    in_frame_ = true;
    frame_op_ = op;
    frame_fin_ = h.fin;
    frame_masked_ = h.masked;
    frame_mask_ = h.mask;
    payload_left_ = static_cast<std::uint32_t>(h.payload_len);  // ≤ max_frame_size_ or 125, checked above
    mask_offset_ = 0;
    return true;
}

bool Connection::on_payload(base::Bytes chunk) {
    if (is_control(frame_op_)) {
        if (ctrl_is_direct_) {
            ctrl_direct_ = chunk.data();  // the whole payload: it is all in the buffer
        } else {
            std::memcpy(rare().ctrl.data() + ctrl_len_, chunk.data(), chunk.size());
        }
        ctrl_len_ = static_cast<std::uint8_t>(ctrl_len_ + chunk.size());
        return true;
    }
    msg_size_ += static_cast<std::uint32_t>(chunk.size());  // the message's total was checked
    if (msg_compressed_) return inflate_piece(chunk, false);
    // §8.1 and Autobahn section 6: fail as soon as the text can't be UTF-8.
    // A direct message is here whole, in this one chunk: validated at once.
    if (msg_direct_) {
        if (!msg_binary_ && !base::is_valid_utf8(chunk)) return fail(WsError::invalid_utf8), false;
        set_direct_data(chunk);
    } else {
        if (!msg_binary_ && !rare().utf8.feed(chunk)) return fail(WsError::invalid_utf8), false;
        auto& msg = rare().msg;
        msg.insert(msg.end(), chunk.begin(), chunk.end());
    }
    return true;
}

void Connection::end_frame(base::Instant now) {
    in_frame_ = false;
    const base::Bytes ctrl = ctrl_payload();
    switch (frame_op_) {
        case Opcode::Ping:
            // §5.5.2: answer with a Pong carrying the same data, unless we
            // already sent a Close (§5.5.1: nothing may follow it).
            if (state_ == State::Open) write_frame(Opcode::Pong, ctrl);
            push_event(Pending::Ping);
            return;
        case Opcode::Pong:
            // §5.5.3: an unsolicited Pong is allowed and needs no answer.
            push_event(Pending::Pong);
            return;
        case Opcode::Close:
            on_close_frame(now);
            return;
        default:
            break;
    }
    if (!frame_fin_) return;
    if (msg_compressed_ && !inflate_piece({}, true)) return;
    // §8.1: a text message must end on a character boundary (a direct one
    // was checked whole; one with no Rare had no bytes at all).
    if (!msg_binary_ && !msg_direct_ && rare_ && !rare_->utf8.complete()) return fail(WsError::invalid_utf8);
    msg_active_ = false;
    // Not direct and no Rare yet: every frame of the message was empty.
    const base::Bytes data = msg_direct_ ? direct_data()
                             : rare_     ? base::Bytes{rare_->msg.data(), rare_->msg.size()}
                                         : base::Bytes{};
    ready_message(msg_binary_, data);
    text_validated_ = !msg_binary_;
}

bool Connection::inflate_piece(base::Bytes chunk, bool final) {
    // RFC 7692 §7.2.2: inflate as the frames arrive, so that the size limit
    // (a decompression bomb) and invalid UTF-8 are caught as early as possible.
    if (!z_->inflater) z_->inflater = std::make_unique<Inflater>(z_->config.params.remote_max_window_bits);
    auto& msg = rare().msg;
    const std::size_t before = msg.size();
    const auto limit = static_cast<std::size_t>(std::min<std::uint64_t>(max_message_size_, SIZE_MAX));
    const auto st = final ? z_->inflater->finish(msg, limit, z_->config.params.remote_no_context_takeover)
                          : z_->inflater->inflate(chunk, msg, limit);
    if (st == Inflater::Status::TooBig) return fail(WsError::message_too_big), false;
    if (st == Inflater::Status::Error) return fail(WsError::bad_compressed_data), false;
    if (!msg_binary_ && !rare().utf8.feed({msg.data() + before, msg.size() - before}))
        return fail(WsError::invalid_utf8), false;
    return true;
}

void Connection::on_close_frame(base::Instant now) {
    std::uint16_t code = code_value(CloseCode::NoStatus);
    std::string_view reason;
    if (ctrl_len_ == 1) return fail(WsError::bad_close_payload);  // §5.5.1: a code is 2 bytes
    if (ctrl_len_ >= 2) {
        code = base::load_be16(ctrl_payload().data());
        if (!is_valid_wire_code(code)) return fail(WsError::bad_close_payload);  // §7.4
        reason = base::as_string_view(ctrl_payload().subspan(2));
        if (!base::is_valid_utf8(reason)) return fail(WsError::invalid_utf8);    // §5.5.1
    }
    if (state_ == State::Open) {
        // §5.5.1: answer with a Close, echoing the status code.
        write_close(code == code_value(CloseCode::NoStatus) ? 0 : code, {});
    }
    if (rare_) rare_->close_deadline = kNever;
    // §7.1.1: the server closes the TCP connection first; the client waits for
    // it, but not for ever.
    if (role_ == Role::Server) close_transport_ = true;
    else rare().transport_deadline = now + close_timeout();
    finish(code, std::string(reason), true, {});
}

void Connection::handle_eof(base::Instant) {
    close_transport_ = true;
    if (state_ == State::Closed) return;
    // §7.1.5: closed without a Close frame: 1006.
    finish(code_value(CloseCode::Abnormal), {}, false, make_error_code(WsError::unexpected_eof));
}

void Connection::handle_timeout(base::Instant now) {
    if (!rare_) return;  // no deadline without it
    if (now >= rare_->close_deadline && state_ == State::Closing) {
        rare_->close_deadline = kNever;
        close_transport_ = true;
        finish(code_value(CloseCode::Abnormal), {}, false, make_error_code(WsError::close_timeout));
    }
    if (now >= rare_->transport_deadline) {
        rare_->transport_deadline = kNever;
        close_transport_ = true;
    }
}

void Connection::fail(WsError e) {
    // §7.1.7: send a Close with the right code unless one was already sent,
    // then close the transport; further input is discarded.
    const CloseCode code = close_code_for(e);
    const std::string why = make_error_code(e).message();
    if (state_ == State::Open) write_close(code_value(code), why);
    close_transport_ = true;
    if (rare_) rare_->close_deadline = kNever;
    finish(code_value(code), why, false, make_error_code(e));
}

void Connection::finish(std::uint16_t code, std::string reason, bool clean, std::error_code error) {
    state_ = State::Closed;
    in_frame_ = false;
    msg_active_ = false;
    auto& r = rare();
    r.close_code = code;
    r.close_clean = clean;
    r.close_error = error;
    r.close_reason = std::move(reason);
    push_event(Pending::Closed);
}

// -------------------------------------------------------- local commands --

Status Connection::send(base::Bytes payload, bool binary) {
    if (try_send_short(payload, binary)) return {};
    if (state_ != State::Open) return Errc::invalid_state;
    if (!binary && !already_valid(payload) && !base::is_valid_utf8(payload)) return Errc::invalid_argument;
    const Opcode op = binary ? Opcode::Binary : Opcode::Text;
    if (z_ && payload.size() >= z_->config.threshold) {
        const auto& d = z_->config;
        Deflater* z = d.shared;
        if (!z || !d.params.local_no_context_takeover) {
            if (!z_->deflater)
                z_->deflater = std::make_unique<Deflater>(d.params.local_max_window_bits, d.mem_level, d.level);
            z = z_->deflater.get();
        }
        auto& zbuf = z_->zbuf;
        if (z->compress(payload, d.params.local_no_context_takeover, zbuf)) {
            write_frame(op, {zbuf.data(), zbuf.size()}, 0x4);  // RFC 7692 §6: RSV1 marks it compressed
            if (zbuf.capacity() > (256u << 10)) std::vector<std::byte>().swap(zbuf);
            return {};
        }
        // zlib failed (out of memory): send it uncompressed, which is always allowed.
    }
    write_frame(op, payload);
    return {};
}

Status Connection::encode_header(base::Bytes payload, bool binary, std::byte* header, std::size_t& header_len) {
    if (state_ != State::Open) return Errc::invalid_state;
    if (role_ == Role::Client || (z_ && payload.size() >= z_->config.threshold))
        return Errc::not_supported;
    if (!binary && !already_valid(payload) && !base::is_valid_utf8(payload)) return Errc::invalid_argument;
    header_len = write_frame_header(header, true, binary ? Opcode::Binary : Opcode::Text, payload.size(), nullptr);
    return {};
}

Status Connection::send_encoded(base::Bytes frame) {
    if (state_ != State::Open) return Errc::invalid_state;
    tx_.append(frame);
    return {};
}

Status Connection::ping(base::Bytes payload) {
    if (state_ != State::Open) return Errc::invalid_state;
    if (payload.size() > 125) return Errc::invalid_argument;
    write_frame(Opcode::Ping, payload);
    return {};
}

Status Connection::pong(base::Bytes payload) {
    if (state_ != State::Open) return Errc::invalid_state;
    if (payload.size() > 125) return Errc::invalid_argument;
    write_frame(Opcode::Pong, payload);
    return {};
}

Status Connection::close(std::uint16_t code, std::string_view reason, base::Instant now) {
    if (state_ != State::Open) return Errc::invalid_state;
    if (code != 0 && !is_valid_wire_code(code)) return Errc::invalid_argument;
    if (reason.size() > 123 || (code == 0 && !reason.empty()) || !base::is_valid_utf8(reason))
        return Errc::invalid_argument;
    write_close(code, reason);
    state_ = State::Closing;
    rare().close_deadline = now + close_timeout();
    return {};
}

void Connection::write_close(std::uint16_t code, std::string_view reason) {
    std::array<std::byte, 125> payload{};
    std::size_t len = 0;
    if (code != 0) {
        base::store_be16(payload.data(), code);
        reason = reason.substr(0, 123);
        // Never cut a reason inside a UTF-8 sequence.
        while (!reason.empty() && !base::is_valid_utf8(reason)) reason.remove_suffix(1);
        if (!reason.empty()) std::memcpy(payload.data() + 2, reason.data(), reason.size());
        len = 2 + reason.size();
    }
    write_frame(Opcode::Close, {payload.data(), len});
}

void Connection::write_frame(Opcode op, base::Bytes payload, std::uint8_t rsv) {
    const bool client = role_ == Role::Client;
    MaskKey mask{};
    if (client) mask = next_mask();
    std::byte* out = tx_.extend(kMaxHeaderLen + payload.size());
    const std::size_t hlen = write_frame_header(out, true, op, payload.size(), client ? &mask : nullptr, rsv);
    if (client && !payload.empty()) copy_masked(out + hlen, payload, mask);
    else if (!payload.empty()) std::memcpy(out + hlen, payload.data(), payload.size());
    tx_.shrink_back(kMaxHeaderLen - hlen);
}

// --------------------------------------------------------------- output --

std::optional<Event> Connection::poll_event() {
    // A message is only made ready while no other event waits (handle_bytes
    // stops at the first one), so it comes first.
    if (message_ready_) {
        message_ready_ = false;
        return MessageEvent{msg_binary_, direct_data()};
    }
    const Pending e = pending_[0];
    pending_[0] = pending_[1];
    pending_[1] = Pending::None;
    switch (e) {
        case Pending::None: return std::nullopt;
        case Pending::Ping: return PingEvent{ctrl_payload()};
        case Pending::Pong: return PongEvent{ctrl_payload()};
        case Pending::Closed: return ClosedEvent{rare_->close_code, rare_->close_reason, rare_->close_clean, rare_->close_error};
    }
    return std::nullopt;
}

std::optional<base::Instant> Connection::poll_timeout() const {
    if (!rare_) return std::nullopt;
    const auto at = std::min(rare_->close_deadline, rare_->transport_deadline);
    if (at == kNever) return std::nullopt;
    return at;
}

}  // namespace duplex::proto::ws
