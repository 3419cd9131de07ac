#include "load.hpp"

#include "proto/ws/deflate.hpp"

#include <cstdio>
#include <cstring>

namespace duplex::bench {

namespace {
constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // a load generator need not be unpredictable

template <class T>
void defer_destroy(runtime::Loop& loop, std::unique_ptr<T> p) {
    if (!p) return;
    std::shared_ptr<T> sp(std::move(p));
    loop.defer([sp] {});
}
}  // namespace

// ---------------------------------------------------------------- Worker --

Worker::Worker(const Config& c, std::size_t first_index, std::size_t count, std::size_t publishers) : cfg(c) {
    // The message every Echo connection sends, encoded and masked once.
    std::string payload(std::max<std::size_t>(c.size, c.mode == Mode::Fanout ? 8 : 0), '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::vector<std::byte> body(reinterpret_cast<const std::byte*>(payload.data()),
                                reinterpret_cast<const std::byte*>(payload.data()) + payload.size());
    std::uint8_t rsv = 0;
    if (c.deflate && c.mode == Mode::Echo) {
        // Compressed once, without context: valid whatever the server keeps.
        proto::ws::Deflater z(15, 8, -1);
        std::vector<std::byte> zbody;
        if (z.compress(body, true, zbody)) {
            body = std::move(zbody);
            rsv = 0x4;
        }
    }
    // Fanout messages carry a raw timestamp: binary, whatever --binary says.
    const bool binary = c.binary || c.mode == Mode::Fanout;
    const auto op = binary ? proto::ws::Opcode::Binary : proto::ws::Opcode::Text;
    frame_.resize(proto::ws::kMaxHeaderLen + body.size());
    frame_header_ = proto::ws::write_frame_header(frame_.data(), true, op, body.size(), &mask_, rsv);
    proto::ws::copy_masked(frame_.data() + frame_header_, body, mask_);
    frame_.resize(frame_header_ + body.size());
    // The same message uncompressed, for a server that declines deflate.
    plain_frame_.resize(proto::ws::kMaxHeaderLen + payload.size());
    const auto ph = proto::ws::write_frame_header(plain_frame_.data(), true, op, payload.size(), &mask_);
    proto::ws::copy_masked(plain_frame_.data() + ph, base::as_bytes(payload), mask_);
    plain_frame_.resize(ph + payload.size());

    for (std::size_t i = 0; i < count; ++i) {
        BenchConnection::Role role = BenchConnection::Role::Echo;
        switch (c.mode) {
            case Mode::Echo: role = BenchConnection::Role::Echo; break;
            case Mode::Fanout:
                role = i < publishers ? BenchConnection::Role::Publisher : BenchConnection::Role::Subscriber;
                break;
            case Mode::Connect: role = BenchConnection::Role::Connect; break;
            case Mode::Idle: role = BenchConnection::Role::Idle; break;
        }
        conns_.push_back(std::make_unique<BenchConnection>(*this, role, first_index + i));
        if (role == BenchConnection::Role::Publisher) publishers_.push_back(conns_.back().get());
    }
}

std::uint64_t Worker::now_ns() const {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

void Worker::run(std::chrono::milliseconds duration) {
    for (auto& c : conns_) c->start();
    loop_.add_timer(base::Clock::now() + duration, [this] {
        stopping_ = true;
        loop_.stop();
    });
    if (!publishers_.empty()) {
        last_tick_ = std::chrono::steady_clock::now();
        loop_.add_timer(base::Clock::now() + std::chrono::milliseconds(1), [this] { tick_publishers(); });
    }
    loop_.run();
    publish_tallies();
    conns_.clear();
}

void Worker::tick_publishers() {
    if (stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    publish_credit_ += cfg.rate * std::chrono::duration<double>(now - last_tick_).count();
    last_tick_ = now;
    const auto n = static_cast<std::uint64_t>(publish_credit_);
    publish_credit_ -= static_cast<double>(n);
    const auto stamp = now_ns();
    for (std::uint64_t k = 0; k < n; ++k)
        for (auto* p : publishers_)
            if (p->is_open()) p->publish(stamp);
    publish_tallies();
    loop_.add_timer(base::Clock::now() + std::chrono::milliseconds(1), [this] { tick_publishers(); });
}

// -------------------------------------------------------- BenchConnection --

BenchConnection::BenchConnection(Worker& w, Role role, std::size_t index) : w_(w), role_(role), index_(index) {
    if (role_ == Role::Echo) inflight_.assign(std::max<std::size_t>(w.cfg.depth, 1), 0);
}

void BenchConnection::start() {
    const auto& cfg = w_.cfg;
    const bool elsewhere = role_ == Role::Publisher && cfg.pub_port != 0;
    auto to = runtime::Address::parse(elsewhere ? cfg.pub_host : cfg.host, elsewhere ? cfg.pub_port : cfg.port);
    if (!to) return fail("the host must be a numeric address");
    const runtime::Address* from = cfg.sources.empty() ? nullptr : &cfg.sources[index_ % cfg.sources.size()];
    auto tcp = runtime::TcpSocket::connect(w_.loop_, *to, this, from);
    if (!tcp) return fail("connect to " + to->to_string() + " failed: " + tcp.error().message());
    if (cfg.tls) stream_ = std::make_unique<runtime::TlsStream>(std::move(tcp.value()), cfg.tls_ctx, this, cfg.host);
    else stream_ = std::move(tcp.value());
}

void BenchConnection::on_connected(std::error_code ec) {
    if (ec) return fail("connect to " + w_.cfg.host + ":" + std::to_string(w_.cfg.port) + " failed: " + ec.message());
    const auto& cfg = w_.cfg;
    if (cfg.raw) {
        // A raw TCP echo sends our (masked) frames back as they are; the
        // frame reader counts them just the same.
        in_read_ = true;
        w_.read_ns_ = w_.now_ns();  // the first sends' stamp
        opened({});
        in_read_ = false;
        return flush();
    }
    const bool elsewhere = role_ == Role::Publisher && cfg.pub_port != 0;
    request_.host = elsewhere ? cfg.pub_host + ":" + std::to_string(cfg.pub_port) : cfg.host + ":" + std::to_string(cfg.port);
    request_.target = elsewhere ? cfg.pub_path : cfg.path;
    request_.key = std::string(kKey);
    if (cfg.deflate)
        request_.extensions = cfg.no_context_takeover ? "permessage-deflate; server_no_context_takeover; client_max_window_bits"
                                                      : "permessage-deflate; client_max_window_bits";
    out_.append(proto::ws::write_upgrade_request(request_));
    flush();
}

void BenchConnection::on_read(base::MutableBytes data) {
    w_.tallies_.bytes_in += data.size();
    w_.read_ns_ = w_.now_ns();
    in_read_ = true;
    if (!open_) {
        const std::size_t used = parser_.feed(data);
        if (parser_.state() == proto::http::HeadState::Complete) {
            auto outcome = proto::ws::check_upgrade_response(parser_.response(), request_);
            if (std::holds_alternative<proto::ws::ClientRefusal>(outcome)) {
                in_read_ = false;
                return fail(("handshake refused: " + std::get<proto::ws::ClientRefusal>(outcome).message).c_str());
            }
            opened(data.subspan(used));
        } else if (parser_.state() == proto::http::HeadState::Error) {
            in_read_ = false;
            return fail("bad handshake response");
        }
    } else {
        frames(data);
    }
    in_read_ = false;
    flush();
    w_.publish_tallies();
}

void BenchConnection::opened(base::MutableBytes leftover) {
    open_ = true;
    // Compressed frames only if the server agreed to permessage-deflate.
    if (w_.cfg.deflate && !w_.cfg.raw) {
        const auto ext = parser_.response().headers.get("Sec-WebSocket-Extensions");
        compressed_ = ext && ext->find("permessage-deflate") != std::string_view::npos;
    }
    w_.counters.handshakes.fetch_add(1, std::memory_order_relaxed);
    w_.counters.open.fetch_add(1, std::memory_order_relaxed);
    // Socket.IO: into the default namespace (the server's open packet comes first, unasked).
    if (w_.cfg.socketio) append_text("40");
    if (role_ == Role::Echo) {
        for (std::size_t i = 0; i < inflight_.size(); ++i) send_message();
    } else if (role_ == Role::Idle && w_.cfg.warm > 0) {
        // Used, then idle: what a connection keeps after it has talked.
        for (std::size_t i = 0; i < w_.cfg.warm; ++i) out_.append(w_.plain_frame_);
        w_.tallies_.sent += w_.cfg.warm;
        if (!in_read_) flush();
    } else if (role_ == Role::Connect) {
        // A full lifecycle: handshake, Close 1000, the server's Close and FIN.
        std::byte close[8];
        const std::byte code[2] = {std::byte{0x03}, std::byte{0xe8}};
        const auto n = proto::ws::write_frame_header(close, true, proto::ws::Opcode::Close, 2, &w_.mask_);
        proto::ws::copy_masked(close + n, code, w_.mask_);
        out_.append(base::Bytes{close, n + 2});
    }
    if (!leftover.empty()) frames(leftover);
}

void BenchConnection::frames(base::MutableBytes data) {
    while (!data.empty()) {
        if (skip_ == 0) {
            // A frame header, possibly split across reads.
            proto::ws::FrameHeader h;
            std::size_t spilled = 0;  // header bytes that came with earlier reads
            const auto b0 = std::to_integer<std::uint8_t>(data[0]);
            const auto b1 = data.size() >= 2 ? std::to_integer<std::uint8_t>(data[1]) : 0xff;
            if (hdr_len_ == 0 && (b0 & 0xf0) == 0x80 && b1 < 126) {
                // The common frame from a server: FIN, no RSV, unmasked, a
                // 7-bit length; read without the general parser.
                h.opcode = b0 & 0x0f;
                h.payload_len = b1;
                h.header_len = 2;
            } else {
                proto::ws::HeaderParse r;
                if (hdr_len_ == 0) {
                    r = proto::ws::parse_frame_header(data);
                    if (std::holds_alternative<proto::ws::NeedMore>(r)) {
                        hdr_len_ = data.size();
                        std::memcpy(hdr_.data(), data.data(), hdr_len_);
                        return;
                    }
                } else {
                    const std::size_t take = std::min(hdr_.size() - hdr_len_, data.size());
                    std::memcpy(hdr_.data() + hdr_len_, data.data(), take);
                    r = proto::ws::parse_frame_header({hdr_.data(), hdr_len_ + take});
                    if (std::holds_alternative<proto::ws::NeedMore>(r)) {
                        hdr_len_ += take;
                        return;
                    }
                    spilled = hdr_len_;
                }
                if (std::holds_alternative<std::error_code>(r)) return fail("bad frame from the server");
                h = std::get<proto::ws::FrameHeader>(r);
            }
            data = data.subspan(h.header_len - spilled);
            hdr_len_ = 0;
            cur_op_ = h.opcode;
            cur_fin_ = h.fin;
            skip_ = h.payload_len;
            payload_pos_ = 0;
            stamp_len_ = 0;
            if (skip_ == 0) on_frame_end(cur_op_, cur_fin_);
            if (!stream_) return;
            continue;
        }
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, data.size()));
        if (stamp_len_ < stamp_.size() && payload_pos_ < stamp_.size()) {
            const std::size_t n = std::min<std::size_t>(stamp_.size() - stamp_len_, take);
            std::memcpy(stamp_.data() + stamp_len_, data.data(), n);
            stamp_len_ += n;
        }
        payload_pos_ += take;
        skip_ -= take;
        data = data.subspan(take);
        if (skip_ == 0) on_frame_end(cur_op_, cur_fin_);
        if (!stream_) return;
    }
}

void BenchConnection::on_frame_end(std::uint8_t opcode, bool fin) {
    skip_ = 0;
    if (opcode == 0x8) {
        if (role_ != Role::Connect) fail("the server closed the connection");
        return;  // Connect: the server's FIN follows
    }
    if (opcode == 0x9) {  // a heartbeat: answer it (empty pings only, as servers send)
        std::byte pong[6];
        const auto n = proto::ws::write_frame_header(pong, true, proto::ws::Opcode::Pong, 0, &w_.mask_);
        out_.append(base::Bytes{pong, n});
        return;
    }
    if (opcode == 0xA || !fin) return;
    const auto now = w_.read_ns_;
    if (w_.cfg.socketio) {
        const auto* c = reinterpret_cast<const char*>(stamp_.data());
        if (payload_pos_ == 1 && c[0] == '2') return append_text("3");  // Engine.IO ping, pong
        if (stamp_len_ >= 2 && c[0] == '4' && c[1] == '0') {
            sio_joined_ = true;  // the namespace accepted us: events may go
            return;
        }
        // An event: 42["m","<16 hex digits>"] (anything else, "0{...}", "40{...}", is the handshake).
        constexpr std::string_view kHead = "42[\"m\",\"";
        if (stamp_len_ < kHead.size() + 16 || std::string_view(c, kHead.size()) != kHead) return;
        ++w_.tallies_.received;
        std::uint64_t sent = 0;
        for (std::size_t i = 0; i < 16; ++i) {
            const char h = c[kHead.size() + i];
            sent = sent * 16 + static_cast<std::uint64_t>(h <= '9' ? h - '0' : h - 'a' + 10);
        }
        if (role_ == Role::Subscriber && sent <= now && now - sent < 3600ull * 1000000000ull) w_.latency.record(now - sent);
        return;
    }
    ++w_.tallies_.received;
    if (role_ == Role::Echo && inflight_count_ > 0) {
        w_.latency.record(now - inflight_[inflight_head_]);
        if (++inflight_head_ == inflight_.size()) inflight_head_ = 0;
        --inflight_count_;
        if (!w_.stopping_) send_message();
    } else if (role_ == Role::Subscriber && stamp_len_ >= 8) {
        std::uint64_t sent;
        std::memcpy(&sent, stamp_.data(), 8);
        if (sent <= now && now - sent < 3600ull * 1000000000ull) w_.latency.record(now - sent);
    }
}

void BenchConnection::send_message() {
    out_.append(compressed_ || !w_.cfg.deflate ? w_.frame_ : w_.plain_frame_);
    std::size_t at = inflight_head_ + inflight_count_;
    if (at >= inflight_.size()) at -= inflight_.size();
    inflight_[at] = w_.read_ns_;  // sends happen while a read is handled (or right after the handshake's)
    ++inflight_count_;
    ++w_.tallies_.sent;
    if (!in_read_) flush();
}

void BenchConnection::append_text(std::string_view text) {
    std::byte head[proto::ws::kMaxHeaderLen];
    const auto n = proto::ws::write_frame_header(head, true, proto::ws::Opcode::Text, text.size(), &w_.mask_);
    out_.append(base::Bytes{head, n});
    std::vector<std::byte> body(text.size());
    proto::ws::copy_masked(body.data(), base::as_bytes(text), w_.mask_);
    out_.append(base::Bytes{body.data(), body.size()});
    if (!in_read_) flush();
}

void BenchConnection::publish(std::uint64_t now_ns) {
    if (w_.cfg.socketio) {
        if (!sio_joined_) return;  // an event before the namespace's answer would be refused
        char event[64];
        const int n = std::snprintf(event, sizeof(event), "42[\"m\",\"%016llx\"]", static_cast<unsigned long long>(now_ns));
        ++w_.tallies_.sent;
        return append_text(std::string_view(event, static_cast<std::size_t>(n)));
    }
    const std::size_t at = out_.size() + w_.frame_header_;
    out_.append(w_.frame_);
    // The timestamp goes in the first 8 payload bytes, masked like the rest.
    std::byte* p = const_cast<std::byte*>(out_.data().data()) + at;
    std::byte stamp[8];
    std::memcpy(stamp, &now_ns, 8);
    for (int i = 0; i < 8; ++i) p[i] = stamp[i] ^ w_.mask_[static_cast<std::size_t>(i) & 3];
    ++w_.tallies_.sent;
    flush();
}

void BenchConnection::flush() {
    if (!stream_ || !stream_->is_open()) return;
    while (!out_.empty()) {
        auto r = stream_->write(out_.data());
        if (!r) return fail("write failed");
        if (*r == 0) break;
        out_.consume(*r);
    }
    stream_->want_write(!out_.empty());
}

void BenchConnection::on_eof() {
    if (role_ == Role::Connect && open_) return restart();
    fail("the server ended the connection");
}

void BenchConnection::on_error(std::error_code ec) { fail("socket error: " + ec.message()); }

void BenchConnection::fail(const std::string& why) {
    if (w_.stopping_) return;
    static thread_local int reported = 0;
    if (reported++ < 5) std::fprintf(stderr, "duplex-bench: connection %zu: %s\n", index_, why.c_str());
    w_.counters.errors.fetch_add(1, std::memory_order_relaxed);
    if (open_) w_.counters.open.fetch_sub(1, std::memory_order_relaxed);
    open_ = false;
    if (stream_) stream_->close();
    defer_destroy(w_.loop_, std::move(stream_));
}

void BenchConnection::restart() {
    // Connect mode: the next handshake on a new connection.
    w_.counters.open.fetch_sub(1, std::memory_order_relaxed);
    open_ = false;
    if (stream_) stream_->close();
    defer_destroy(w_.loop_, std::move(stream_));
    parser_.reset();
    out_.clear();
    hdr_len_ = 0;
    skip_ = 0;
    if (!w_.stopping_) start();
}

}  // namespace duplex::bench
