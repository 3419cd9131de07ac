// api/session.cpp: the Session behind a duplex::WebSocket: a ws::Connection
// bound to a stream on a loop, what both sides do once open (reading,
// sending corked or not, the send budget, closing, the heartbeat's actions),
// and the server side's start. The client side (resolve, connect, upgrade,
// reconnect) is session_client.cpp; who frees a session, and on which
// thread, session_lifetime.cpp.
#include <duplex/websocket.hpp>

#include "api/server_metrics.hpp"
#include "api/session.hpp"
#include "base/log.hpp"

#include <algorithm>

namespace duplex {
namespace detail {

proto::ws::DeflateConfig to_deflate_config(const PerMessageDeflate& o) {
    proto::ws::DeflateConfig c;
    c.enabled = o.enabled;
    c.threshold = o.threshold;
    c.level = o.level;
    c.mem_level = o.mem_level;
    c.max_window_bits = o.max_window_bits;
    c.no_context_takeover = o.no_context_takeover;
    c.request_peer_no_context_takeover = o.request_peer_no_context_takeover;
    c.request_peer_max_window_bits = o.request_peer_max_window_bits;
    return c;
}

namespace {
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// From this size on, a message that finds the queue empty is written with
// writev (header + payload) instead of being copied into the queue first.
constexpr std::size_t kDirectWriteMin = 4096;

std::string_view as_sv(base::Bytes b) { return base::as_string_view(b); }
}  // namespace

Session::Session(EventLoop& loop, std::unique_ptr<runtime::Stream> sock, runtime::TcpDescriptor tcp,
                 proto::ws::Options options,
                 std::string protocol, std::string extensions, std::string url, base::Endpoint remote,
                 std::shared_ptr<proto::ws::Deflater> shared_deflater, SessionContextRef context)
    : loop_(loop),
      sock_(std::move(sock)),
      tcp_(std::move(tcp)),
      context_(std::move(context)),
      role_(proto::ws::Role::Server),
      state_(static_cast<std::uint8_t>(ReadyState::Open)),
      phase_(Phase::Open) {
    set_remote(remote);
    if (!context_ || url != context_->url) negotiated().url = std::move(url);
    if (!protocol.empty() || !extensions.empty() || shared_deflater) {
        auto& n = negotiated();
        n.protocol = std::move(protocol);
        n.extensions = std::move(extensions);
        n.shared_deflater = std::move(shared_deflater);
    }
    build_ws(std::move(options));
    keepalive_ = proto::ws::KeepAlive(rt().now());
}

base::Endpoint Session::remote() const noexcept {
    base::Endpoint e;
    if (remote_v6_) {
        e.ip = base::IpAddress::v6(remote_ip_);
    } else {
        e.ip = base::IpAddress::v4({remote_ip_[0], remote_ip_[1], remote_ip_[2], remote_ip_[3]});
    }
    e.port = remote_port_;
    return e;
}

void Session::set_remote(const base::Endpoint& e) noexcept {
    remote_ip_ = {};
    std::copy_n(e.ip.data(), e.ip.size(), remote_ip_.begin());
    remote_v6_ = e.ip.is_v6();
    remote_port_ = e.port;
}

const std::string& Session::empty_string() noexcept {
    static const std::string empty;
    return empty;
}

Session::~Session() {
    // Ended sessions closed their descriptor (done(), on_loop_closing()).
    if (tcp_.is_open() && !loop_gone()) tcp_.close(rt());
    destroy_ws();
}

// ------------------------------------------------------------ server side --

void Session::attach_server(std::string_view head) {
    hold_self();
    if (sock_) sock_->set_handler(this);
    else tcp_.redirect_to(rt(), this);  // registered by the HTTP phase's socket: its events are ours now
    lend_queue();
    ws().tx().append(head);
    in_read_ = true;  // cork: on_connection's sends leave with the 101
}

void Session::start_server(base::MutableBytes leftover) {
    SessionRef self(this);
    pause_reading(false);  // the HTTP phase paused it while the upgrade was decided
    if (!leftover.empty() && phase_ == Phase::Open) feed(leftover);
    in_read_ = false;
    flush();  // the 101 goes; the queue it was written in goes back to the loop
}

// ------------------------------------------------------ commands (public) --

// A frame is in the queue: flushed now, or (`corked`, inside a read) with the
// read's other replies. Inline, with `corked` a constant on the short echo
// reply's path (Session::send), so that path pays neither a call nor a test.
inline SendResult Session::queued_one(bool corked) {
    if (auto* c = counters()) LoopCounters::add(c->messages_out);
    if (!corked) flush();
    else set_buffered(ws().tx().size());
    if (write_blocked_) {
        drain_armed_ = true;
        return SendStatus::Backpressure;
    }
    if (!corked && buffered_ > low_threshold_) drain_armed_ = true;
    return SendStatus::Success;
}

SendResult Session::send(base::Bytes data, bool binary) {
    // An echo's short reply inside a read: corked with the other replies and
    // written when the read is done. Here, in a small function, rather than
    // in send_impl, whose size makes every call save and restore registers.
    if (in_read_ && phase_ == Phase::Open && ws().tx().size() <= max_backpressure_ &&
        ws().try_send_short(data, binary))
        return queued_one(true);
    return send_impl(data, binary, false, in_read_);
}

SendResult Session::send_frame(base::Bytes frame) { return send_impl(frame, true, true, in_read_); }

SendResult Session::send_batched(base::Bytes data, bool binary, bool encoded, bool& joined) {
    SendResult r = send_impl(data, binary, encoded, true);
    joined = !batched_ && has_ws() && !ws().tx().empty();
    if (joined) batched_ = true;
    return r;
}

void Session::end_batch() {
    if (!batched_) return;
    batched_ = false;
    if (in_read_ || phase_ != Phase::Open || !has_ws()) return;  // the read's own flush writes it
    flush();
    if (write_blocked_ || buffered_ > low_threshold_) drain_armed_ = true;
}

SendResult Session::send_impl(base::Bytes data, bool binary, bool encoded, bool corked) {
    if (!has_ws() || phase_ != Phase::Open) return Errc::invalid_state;
    lend_queue();
    if (ws().tx().size() > max_backpressure_) {
        if (auto* c = counters()) ServerMetrics::add(c->shared->backpressure_drops);
        // A peer that does not read: bounded memory, never a silent loss.
        if (close_when_full_) fail_slow_consumer();
        return Errc::backpressure_limit;
    }
    // Large messages go straight to the kernel without copying the payload:
    // what is queued (the frames corked so far in this read, if any) and the
    // new header in one buffer, the payload in the other, one writev; only
    // what the kernel does not take is queued. A 16 KiB echo then costs one
    // copy less (uWebSockets does the same when a message outgrows its cork
    // buffer). Frames sent after it in the same read are corked again.
    if (!encoded && data.size() >= kDirectWriteMin && transport_pending() == 0 && (corked || ws().tx().empty())) {
        std::byte header[proto::ws::kMaxHeaderLen];
        std::size_t hlen = 0;
        Status st = ws().encode_header(data, binary, header, hlen);
        if (st.ok()) {
            base::ByteQueue& q = ws().tx();
            const bool queued = !q.empty();
            if (queued) q.append(base::Bytes{header, hlen});
            const base::Bytes first = queued ? q.data() : base::Bytes{header, hlen};
            const std::size_t first_len = first.size();
            auto r = transport_writev(first, data);
            if (!r) {
                SessionRef self(this);
                rt().defer([self, ec = r.error()] { self->on_error(ec); });
                return Status(r.error());
            }
            const std::size_t sent = *r;
            if (auto* c = counters()) {
                LoopCounters::add(c->messages_out);
                LoopCounters::add(c->bytes_out, sent);
                LoopCounters::add(c->writes);
            }
            if (queued) q.consume(std::min(sent, first_len));
            else if (sent < hlen) q.append(base::Bytes{header + sent, hlen - sent});
            q.append(data.subspan(sent > first_len ? sent - first_len : 0));
            if (corked) {
                set_buffered(q.size());  // the flush at the end of the read (or batch) sends the rest
                return SendStatus::Success;
            }
            flush();
            if (write_blocked_) {
                drain_armed_ = true;
                return SendStatus::Backpressure;
            }
            return SendStatus::Success;
        }
        if (st.code() != make_error_code(Errc::not_supported)) {
            give_back_queue();
            return st;
        }
    }
    Status st = encoded ? ws().send_encoded(data) : ws().send(data, binary);
    if (!st.ok()) {
        give_back_queue();  // nothing was queued
        return st;
    }
    return queued_one(corked);
}

bool Session::subscribe(const std::string& topic, const SubscribeOptions& options) {
    auto o = owner();
    return o && phase_ == Phase::Open && o->subscribe(this, topic, options);
}

bool Session::unsubscribe(const std::string& topic) {
    auto o = owner();
    return o && o->unsubscribe(this, topic);
}

bool Session::publish(std::string_view topic, std::string_view data, bool binary) {
    auto o = owner();
    if (!o) return false;
    o->publish_from(this, topic, data, binary);
    return true;
}

void Session::heartbeat(base::Instant now, const proto::ws::KeepAlivePolicy& policy) {
    if (phase_ != Phase::Open || !has_ws() || ws().state() != proto::ws::State::Open) return;
    switch (keepalive_.poll(now, policy)) {
        case proto::ws::KeepAlive::Action::CloseIdle:
            DUPLEX_LOG(Info, "websocket " << remote().to_string() << ": idle timeout");
            (void)close(1001, "idle timeout");
            return;
        case proto::ws::KeepAlive::Action::Ping:
            (void)ping({});
            return;
        case proto::ws::KeepAlive::Action::None:
            return;
    }
}

Status Session::ping(base::Bytes payload) {
    if (!has_ws() || phase_ != Phase::Open) return Errc::invalid_state;
    lend_queue();
    Status st = ws().ping(payload);
    if (!st.ok()) give_back_queue();
    if (st.ok() && !in_read_) flush();
    return st;
}

Status Session::close(std::uint16_t code, std::string_view reason) {
    if (client()) client()->closed_by_user = true;  // no reconnection after a close the application asked for
    if (phase_ == Phase::Resolving || phase_ == Phase::Connecting || phase_ == Phase::Handshake) {
        // Like the browser: closing before open fails the connection.
        fail_before_open(make_error_code(Errc::invalid_state), "closed before the connection was open");
        return {};
    }
    if (!has_ws() || phase_ != Phase::Open) return Errc::invalid_state;
    lend_queue();
    Status st = ws().close(code, reason, rt().now());
    if (!st.ok()) {
        give_back_queue();
        return st;
    }
    set_state(ReadyState::Closing);
    if (!in_read_) flush();
    return st;
}

void Session::abort() {
    SessionRef self(this);
    report_closed(1006, {}, make_error_code(Errc::invalid_state), "connection aborted");
    done();
}

// --------------------------------------------------------------- events --

void Session::on_read(base::MutableBytes data) {
    SessionRef self(this);
    keepalive_.on_receive(rt().now());
    if (auto* c = counters()) LoopCounters::add(c->bytes_in, data.size());
    switch (phase_) {
        case Phase::Handshake:
            in_read_ = true;
            handle_handshake_bytes(data);
            in_read_ = false;
            break;
        case Phase::Open:
            in_read_ = true;
            lend_queue();  // the replies to this read are corked in it
            feed(data);
            in_read_ = false;
            flush();
            // Replies the machine queued by itself (pongs, the Close echo)
            // and those of the handlers count against the same budget as
            // every send: what the kernel did not take of them must not grow
            // without bound for a peer that sends and does not read. One read
            // adds at most about its own size.
            if (phase_ == Phase::Open && has_ws() && ws().tx().size() > max_backpressure_) {
                over_budget_on_read();
                flush();
            }
            return;
        case Phase::Linger:
            return;  // discard until the peer's FIN (lingering close)
        default:
            return;
    }
    flush();
}

void Session::over_budget_on_read() {
    if (ws().state() != proto::ws::State::Open) return;
    if (close_when_full_) return fail_slow_consumer();
    // Drop: replies cannot be dropped (a pong, an echo the application sent
    // from its handler and was told was dropped), so stop reading: the peer
    // gets nothing more answered until it reads what it was sent (flush()
    // resumes below half the budget).
    if (read_paused_) return;
    read_paused_ = true;
    pause_reading(true);
    if (auto* c = counters()) ServerMetrics::add(c->shared->backpressure_read_pauses);
    DUPLEX_LOG(Info, "websocket " << remote().to_string() << ": reading paused, " << ws().tx().size()
                                  << " bytes queued for a peer that does not read");
}

void Session::fail_slow_consumer() {
    if (ws().state() == proto::ws::State::Closed) return;
    DUPLEX_LOG(Info, "websocket " << remote().to_string() << ": closing a slow consumer (" << ws().tx().size()
                                  << " bytes queued)");
    if (auto* c = counters()) ServerMetrics::add(c->shared->slow_consumer_closes);
    // The machine queues the Close (1008) behind the data and reports the
    // close as 1008 whether or not the peer ever reads it; flush() stops
    // reading and gives the queue close_timeout to leave. The event is
    // delivered after the current callback (this may be inside a send()).
    ws().fail_connection(proto::ws::WsError::slow_consumer);
    set_state(ReadyState::Closing);
    // (The queue may have left meanwhile and the connection be lingering or
    // done: the event is delivered all the same.)
    rt().defer([self = SessionRef(this)] {
        if (!self->has_ws()) return;
        self->dispatch();
        if (self->phase_ == Phase::Open) self->flush();
    });
}

void Session::feed(base::MutableBytes data) {
    const auto now = rt().now();
    while (!data.empty() && has_ws() && phase_ == Phase::Open) {
        const std::size_t n = ws().handle_bytes(data, now);
        data = data.subspan(n);
        dispatch();
        if (!has_ws() || ws().state() == proto::ws::State::Closed) break;
    }
    // The loop's read buffer is about to be reused, by other connections too:
    // what was validated in it no longer says anything about its bytes.
    if (has_ws()) ws().input_done();
}

void Session::dispatch() {
    for (;;) {
        // Messages, the common event, without an Event built and copied.
        base::Bytes data;
        bool binary = false;
        if (ws().take_message(data, binary)) {
            const SessionContext* ctx = context_.get();  // read once: the counter's add may alias it
            if (ctx) LoopCounters::add(ctx->counters.messages_in);
            if (handlers_ && handlers_->message) handlers_->message(as_sv(data), binary);
            else if (ctx && ctx->route.on_message) {
                ctx->route.on_message(route_handle(), as_sv(data), binary);
                if (!held_) route_handle_ = WebSocket();  // not held any more: hold no cycle
            }
            if (!has_ws()) return;
            continue;
        }
        if (!ws().has_event()) return;
        auto ev = ws().poll_event();
        if (!ev) return;
        if (auto* p = std::get_if<proto::ws::PingEvent>(&*ev)) {
            if (handlers_ && handlers_->ping) handlers_->ping(as_sv(p->data));
        } else if (auto* q = std::get_if<proto::ws::PongEvent>(&*ev)) {
            if (handlers_ && handlers_->pong) handlers_->pong(as_sv(q->data));
        } else if (auto* c = std::get_if<proto::ws::ClosedEvent>(&*ev)) {
            if (c->error == make_error_code(proto::ws::WsError::close_timeout)) abandon_tx_ = true;
            report_closed(c->code, c->reason, c->error, c->error ? c->error.message() : std::string_view{});
        }
        if (!has_ws()) return;
    }
}

void Session::report_closed(std::uint16_t code, std::string_view reason, std::error_code error,
                            std::string_view why) {
    if (close_reported_) return;
    close_reported_ = true;
    set_state(ReadyState::Closed);
    if (auto* c = counters()) c->shared->count_close(code);
    if (error && handlers_ && handlers_->error) handlers_->error(error, why);
    if (handlers_ && handlers_->close) handlers_->close(code, reason);
    else if (context_ && context_->route.on_close) {
        context_->route.on_close(route_handle(), code, reason);
        if (!held_) route_handle_ = WebSocket();  // not held any more: hold no cycle
    }
}

void Session::on_writable() {
    SessionRef self(this);
    flush();
    if (drain_armed_ && phase_ == Phase::Open && buffered_ <= low_threshold_) {
        drain_armed_ = false;
        if (handlers_ && handlers_->drain) handlers_->drain();
    }
}

void Session::on_eof() {
    SessionRef self(this);
    if (phase_ == Phase::Open && has_ws()) {
        ws().handle_eof(rt().now());
        dispatch();
    } else if (phase_ != Phase::Linger) {
        fail_before_open(make_error_code(Errc::handshake_failed), "connection closed during the opening handshake");
    }
    done();
}

void Session::on_error(std::error_code ec) {
    SessionRef self(this);
    if (phase_ == Phase::Open && has_ws()) {
        if (!close_reported_ && handlers_ && handlers_->error) handlers_->error(ec, ec.message());
        ws().handle_eof(rt().now());
        dispatch();
    } else if (phase_ != Phase::Linger) {
        fail_before_open(ec, ec.message());
    }
    done();
}

// --------------------------------------------------------------- output --

void Session::flush() {
    if (!transport_open() || phase_ == Phase::Done) return;
    const bool framing = phase_ == Phase::Open && has_ws();
    if (!framing && !client()) return;  // a server session lingering: nothing more to write
    base::ByteQueue& q = framing ? ws().tx() : client()->out;
    while (!q.empty()) {
        auto r = transport_write(q.data());
        if (!r) {
            // Report it from a safe point, not from inside the caller's send().
            SessionRef self(this);
            rt().defer([self, ec = r.error()] { self->on_error(ec); });
            return;
        }
        if (*r == 0) break;
        q.consume(*r);
        if (auto* c = counters()) {
            LoopCounters::add(c->bytes_out, *r);
            LoopCounters::add(c->writes);
        }
    }
    // All written: the queue goes back to the loop (an idle connection holds
    // no send buffer, decision 0013).
    if (q.empty() && framing) rt().take_back_queue(q);
    const std::size_t below = transport_pending();  // TLS records not yet in the kernel
    set_buffered(q.size() + below);
    write_blocked_ = !q.empty();
    if (write_blocked_ && q.size() > low_threshold_) drain_armed_ = true;
    want_write(!q.empty() || below > 0);
    if (phase_ == Phase::Open && has_ws()) {
        if (ws().should_close_transport()) {
            // The close handshake gave up on a peer that stopped answering:
            // what it did not read is dropped with the connection.
            if (abandon_tx_) return done();
            if (q.empty() && below == 0) return close_transport();
            // A last frame (our Close) is still queued: give the peer
            // close_timeout to take it, not for ever. Its input is
            // discarded by now: stop reading it (§7.1.7).
            if (!flush_deadline_) {
                flush_deadline_ = true;
                if (!read_paused_) {
                    read_paused_ = true;
                    pause_reading(true);
                }
                // In timer_: done() cancels it (the close deadlines it held
                // are over: flush() no longer arms them from here on).
                cancel_timer();
                timer_ = rt().add_timer(base::Clock::now() + ws().close_timeout(), [me = SessionRef(this)] {
                    me->timer_ = 0;
                    if (me->phase_ == Phase::Open) me->done();
                });
            }
            return;
        }
        // Drop policy: reading stopped over budget resumes once the peer
        // has taken half of it.
        // (Closing too: the peer's Close must still be read.)
        if (read_paused_ && q.size() + below <= max_backpressure_ / 2 && ws().state() != proto::ws::State::Closed) {
            read_paused_ = false;
            pause_reading(false);
        }
        arm_timer();
    }
}

void Session::arm_timer() {
    // Every flush asks; an open connection has no deadline, and nothing armed.
    const auto deadline = ws().poll_timeout().value_or(kNoTimer);
    if (deadline == (negotiated_ ? negotiated_->timer_at : kNoTimer)) return;
    cancel_timer();
    if (deadline == kNoTimer) return;
    negotiated().timer_at = deadline;
    timer_ = rt().add_timer(deadline, [self = SessionRef(this)] {
        self->timer_ = 0;
        if (!self->has_ws() || self->phase_ != Phase::Open) return;
        self->negotiated_->timer_at = kNoTimer;
        self->ws().handle_timeout(self->rt().now());
        self->dispatch();
        self->flush();
    });
}

void Session::cancel_timer() noexcept {
    if (timer_) rt().cancel_timer(timer_);
    timer_ = 0;
    if (negotiated_) negotiated_->timer_at = kNoTimer;
}

void Session::close_transport() {
    if (role_ == proto::ws::Role::Client || !transport_open()) return done();
    // RFC 6455 §7.1.1: the server closes the TCP connection first. Half-close
    // and drain until the client's FIN (or a timeout), so that unread bytes
    // do not turn our close into a RST that could destroy the Close frame.
    phase_ = Phase::Linger;
    // The connection is over for its peer once it sees our FIN: its slot is
    // free from now (the linger is bounded by kLingerTimeout).
    if (auto o = owner()) o->session_closing(this);
    want_write(false);
    if (read_paused_) {  // lingering reads (and discards) until the FIN
        read_paused_ = false;
        pause_reading(false);
    }
    if (sock_) sock_->shutdown_write();
    else tcp_.shutdown_write();
    cancel_timer();  // the close handshake's deadlines are over
    timer_ = rt().add_timer(base::Clock::now() + kLingerTimeout, [self = SessionRef(this)] {
        self->timer_ = 0;
        self->done();
    });
}

void Session::done() {
    if (phase_ == Phase::Done) return;
    if (reconnect_later()) return;
    if (client() && client()->heartbeat_timer) rt().cancel_timer(client()->heartbeat_timer);
    if (client()) client()->heartbeat_timer = 0;
    phase_ = Phase::Done;
    set_state(ReadyState::Closed);
    // The slot first: a peer that sees our FIN may connect again at once.
    if (auto o = owner()) o->session_closing(this);
    close_socket();
    cancel_timer();
    set_buffered(0);
    // Drop the user's callbacks (they may hold handles to us) once this
    // dispatch is over, and tell the server.
    SessionRef self(this);
    rt().defer([self] {
        if (self->sock_) self->sock_.reset();
        if (self->handlers_) self->handlers_->drop_callbacks();
        if (auto o = self->owner()) o->session_done(self.get());
        self->in_core_ = false;  // (already, unless the core went first)
        self->release_self();
    });
}

}  // namespace detail
}  // namespace duplex
