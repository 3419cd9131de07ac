// api/session.cpp: the Session behind a duplex::WebSocket: a ws::Connection
// bound to a stream on a loop; the client side resolves, connects, shakes
// hands, reconnects and keeps a heartbeat.
#include <duplex/websocket.hpp>

#include "api/server_metrics.hpp"
#include "api/session.hpp"
#include "api/url.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "runtime/resolver.hpp"
#include "runtime/udp.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <thread>

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

std::shared_ptr<runtime::TlsContext> client_tls_context(const ClientTlsOptions& o, std::string& why) {
    // One context per (CA file, insecure) on each thread: loading the system
    // store is not free, and SSL_CTX may be shared.
    // A CA file is read for every connection (it may change between them).
    if (!o.ca_file.empty()) {
        auto ctx = runtime::TlsContext::client(o.ca_file, o.insecure, why);
        return ctx ? std::move(ctx.value()) : nullptr;
    }
    thread_local std::map<bool, std::shared_ptr<runtime::TlsContext>> cache;
    auto& slot = cache[o.insecure];
    if (!slot) {
        auto ctx = runtime::TlsContext::client(o.ca_file, o.insecure, why);
        if (!ctx) return nullptr;
        slot = std::move(ctx.value());
    }
    return slot;
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

Session::Session(EventLoop& loop, std::string url, ClientOptions options)
    : loop_(loop),
      negotiated_(std::make_unique<ClientState>()),
      role_(proto::ws::Role::Client) {
    client()->url = std::move(url);
    client()->options = std::move(options);
    client()->ws_options.max_message_size = client()->options.max_message_size;
    client()->ws_options.max_frame_size = client()->options.max_message_size;
    client()->ws_options.close_timeout = client()->options.close_timeout;
    max_backpressure_ = clamp32(client()->options.max_backpressure);
    close_when_full_ = client()->options.backpressure_policy == BackpressurePolicy::Close;
}

Session::~Session() {
    // Ended sessions closed their descriptor (done(), on_loop_closing()).
    if (tcp_.is_open() && !loop_gone()) tcp_.close(rt());
    destroy_ws();
}

void Session::destroy() noexcept {
    // The closer list is the loop thread's. A session freed elsewhere (the
    // application dropped its last handle on another thread) is unlinked and
    // freed there: a posted task, which frees it even if the loop is
    // destroyed before running it (by then the loop has marked us gone).
    struct Free {
        Session* s;
        explicit Free(Session* p) : s(p) {}
        Free(Free&& o) noexcept : s(std::exchange(o.s, nullptr)) {}
        ~Free() {
            if (!s) return;
            if (s->closer_linked_ && !s->loop_gone()) s->rt().remove_closer(*s);
            delete s;
        }
    };
    std::uint8_t alive = kLoopAlive;
    if (closer_linked_ && loop_state_.compare_exchange_strong(alive, kFreeingElsewhere, std::memory_order_acq_rel)) {
        // The loop cannot finish dying until this is settled (on_loop_closing waits).
        if (on_loop_thread()) {
            loop_state_.store(kLoopAlive, std::memory_order_release);
            Free{this};
            return;
        }
        loop_.post([f = std::make_shared<Free>(this)] {});
        loop_state_.store(kFreePosted, std::memory_order_release);
        return;
    }
    Free{this};  // never linked, or the loop is gone
}

// ------------------------------------------------------------ server side --

void Session::hold_self() {
    retain();
    held_ = true;
    if (!closer_linked_) rt().add_closer(*this);
    closer_linked_ = true;
}

void Session::on_loop_closing() {
    // The loop is going away. A session still open ends without callbacks;
    // one that has ended only learns that the loop is gone (for the handles
    // that outlive it).
    if (phase_ != Phase::Done) {
        cancel_timer();
        if (client() && client()->heartbeat_timer) rt().cancel_timer(client()->heartbeat_timer);
        if (client()) client()->heartbeat_timer = 0;
        phase_ = Phase::Done;
        set_state(ReadyState::Closed);
        sock_.reset();
        tcp_.close(rt());
        if (handlers_) handlers_->drop_callbacks();
        route_handle_ = WebSocket();
        if (auto o = owner()) o->session_gone(this);
        in_core_ = false;  // (already, unless the core went first)
    }
    // A handle released on another thread may be handing us to this loop
    // right now: let it finish before the loop goes (it takes microseconds).
    for (;;) {
        std::uint8_t st = loop_state_.load(std::memory_order_acquire);
        if (st == kFreeingElsewhere) {
            std::this_thread::yield();
            continue;
        }
        if (loop_state_.compare_exchange_weak(st, kLoopGone, std::memory_order_acq_rel)) break;
    }
    if (!held_) return;
    held_ = false;
    release();  // may be the last reference: nothing of us is touched after
}

void Session::release_self() {
    // Still in the loop's closer list: destroy() leaves it.
    route_handle_ = WebSocket();
    if (!held_) return;
    held_ = false;
    release();  // the caller holds a reference of its own
}

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

// ------------------------------------------------------------ client side --

void Session::start_client() {
    SessionRef self(this);
    if (!held_) hold_self();
    auto url = parse_ws_url(client()->url);
    if (!url) {
        // Reported after connect() returns, so the caller can set handlers first.
        rt().defer([self] { self->fail_before_open(make_error_code(Errc::invalid_argument), "invalid WebSocket URL: " + self->url()); });
        return;
    }
    client()->secure = url->secure;
    client()->host = url->host;
    std::array<std::byte, 16> nonce{};
    base::random_bytes(nonce);
    client()->request.host = url->host_header();
    client()->request.target = url->target;
    client()->request.key = proto::ws::make_client_key(nonce);
    client()->request.protocols = client()->options.protocols;
    if (!client()->options.origin.empty()) client()->request.origin = client()->options.origin;
    for (const auto& h : client()->options.headers) client()->request.extra.emplace_back(h.name, h.value);
    if (client()->options.per_message_deflate.enabled)
        client()->request.extensions = proto::ws::deflate_offer(to_deflate_config(client()->options.per_message_deflate));

    cancel_timer();
    timer_ = rt().add_timer(base::Clock::now() + client()->options.handshake_timeout, [me = self] {
        me->timer_ = 0;
        if (me->phase_ == Phase::Resolving || me->phase_ == Phase::Connecting || me->phase_ == Phase::Handshake)
            me->fail_before_open(make_error_code(Errc::timed_out), "opening handshake timed out");
    });

    // A numeric host is answered on the next turn; a name off the loop
    // thread, through the loop's mailbox (a lookup that outlives the loop
    // touches nothing of it).
    runtime::Resolver::resolve(rt(), url->host, url->port, SOCK_STREAM,
                               [self, host = url->host](std::vector<runtime::Address> found, std::error_code) {
                                   if (self->phase_ != Phase::Resolving) return;
                                   if (found.empty())
                                       return self->fail_before_open(make_error_code(Errc::resolve_failed),
                                                                     "cannot resolve " + host);
                                   self->connect_to(found.front());
                               });
}

void Session::connect_to(const runtime::Address& addr) {
    if (phase_ != Phase::Resolving) return;
    phase_ = Phase::Connecting;
    set_remote(runtime::to_endpoint(addr));
    auto s = runtime::TcpSocket::connect(rt(), addr, this);
    if (!s) return fail_before_open(s.error(), "connect to " + remote().to_string() + " failed: " + s.error().message());
    if (!client()->secure) {
        sock_ = std::move(s.value());
        return;
    }
    std::string why;
    auto ctx = client_tls_context(client()->options.tls, why);
    if (!ctx) return fail_before_open(make_error_code(Errc::tls_failed), why);
    // The TLS layer takes the socket over; on_connected comes after its handshake.
    sock_ = std::make_unique<runtime::TlsStream>(std::move(s.value()), std::move(ctx), this, client()->host);
}

void Session::on_connected(std::error_code ec) {
    if (ec) {
        const auto code = ec == std::errc::connection_refused ? make_error_code(Errc::connection_refused) : ec;
        if (ec == make_error_code(Errc::tls_failed) && sock_)
            return fail_before_open(code, "TLS with " + remote().to_string() + " failed: " + sock_->error_detail());
        return fail_before_open(code, "connect to " + remote().to_string() + " failed: " + ec.message());
    }
    phase_ = Phase::Handshake;
    client()->response_parser.emplace(proto::http::HeadKind::Response);
    client()->out.append(proto::ws::write_upgrade_request(client()->request));
    flush();
}

void Session::handle_handshake_bytes(base::MutableBytes data) {
    const std::size_t used = client()->response_parser->feed(data);
    switch (client()->response_parser->state()) {
        case proto::http::HeadState::NeedMore:
            return;
        case proto::http::HeadState::Error:
            return fail_before_open(make_error_code(Errc::handshake_failed),
                                    "bad handshake response: " + client()->response_parser->error().message());
        case proto::http::HeadState::Complete:
            break;
    }
    auto outcome = proto::ws::check_upgrade_response(client()->response_parser->response(), client()->request);
    if (auto* refusal = std::get_if<proto::ws::ClientRefusal>(&outcome))
        return fail_before_open(make_error_code(Errc::handshake_failed), refusal->message);
    open_client(std::get<proto::ws::ClientAccept>(outcome), data.subspan(used));
}

void Session::open_client(const proto::ws::ClientAccept& accepted, base::MutableBytes leftover) {
    if (!accepted.extensions.empty()) {
        // RFC 7692 §5: a response we cannot honour fails the connection.
        auto agreed = proto::ws::parse_extensions(accepted.extensions);
        std::optional<proto::ws::DeflateParams> params;
        if (agreed && agreed->size() == 1)
            params = proto::ws::accept_deflate_response(agreed->front(),
                                                        to_deflate_config(client()->options.per_message_deflate));
        if (!params)
            return fail_before_open(make_error_code(Errc::handshake_failed),
                                    "unacceptable Sec-WebSocket-Extensions: " + accepted.extensions);
        const auto& cfg = client()->options.per_message_deflate;
        client()->ws_options.deflate = proto::ws::Options::Deflate{*params, cfg.threshold, cfg.level, cfg.mem_level, nullptr};
        negotiated().extensions = accepted.extensions;
    }
    cancel_timer();  // the handshake's
    client()->response_parser.reset();
    if (!accepted.protocol.empty()) negotiated().protocol = accepted.protocol;
    build_ws(client()->ws_options);  // first: Phase::Open implies has_ws()
    phase_ = Phase::Open;
    set_state(ReadyState::Open);
    client()->attempts = 0;
    keepalive_ = proto::ws::KeepAlive(rt().now());
    arm_client_heartbeat();
    if (handlers_ && handlers_->open) handlers_->open();
    if (!leftover.empty() && phase_ == Phase::Open) feed(leftover);
}

void Session::fail_before_open(std::error_code ec, const std::string& message) {
    if (phase_ == Phase::Done) return;
    DUPLEX_LOG(Info, "websocket " << url() << ": " << message);
    report_closed(1006, {}, ec, message);
    done();
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
    return send_impl(data, binary, false);
}

SendResult Session::send_frame(base::Bytes frame) { return send_impl(frame, true, true); }

SendResult Session::send_impl(base::Bytes data, bool binary, bool encoded) {
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
    if (!encoded && data.size() >= kDirectWriteMin && transport_pending() == 0 && (in_read_ || ws().tx().empty())) {
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
            }
            if (queued) q.consume(std::min(sent, first_len));
            else if (sent < hlen) q.append(base::Bytes{header + sent, hlen - sent});
            q.append(data.subspan(sent > first_len ? sent - first_len : 0));
            if (in_read_) {
                set_buffered(q.size());  // the flush at the end of the read sends the rest
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
    return queued_one(in_read_);
}

bool Session::subscribe(const std::string& topic) {
    auto o = owner();
    return o && phase_ == Phase::Open && o->subscribe(this, topic);
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
        if (auto* c = counters()) LoopCounters::add(c->bytes_out, *r);
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
        if (read_paused_ && q.size() + below <= max_backpressure_ / 2 && ws().state() == proto::ws::State::Open) {
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

bool Session::reconnect_later() {
    if (!client()) return false;  // server sessions never reconnect
    const auto& policy = client()->options.reconnect;
    if (!policy.enabled || client()->closed_by_user || !held_) return false;
    if (policy.max_attempts > 0 && client()->attempts >= policy.max_attempts) return false;
    // Let go of this attempt's socket and state; keep the callbacks.
    if (sock_) {
        sock_->close();
        std::shared_ptr<runtime::Stream> old(std::move(sock_));
        rt().defer([old] {});  // destroyed after the callback that ended it
    }
    cancel_timer();
    if (client()->heartbeat_timer) rt().cancel_timer(client()->heartbeat_timer);
    client()->heartbeat_timer = 0;
    phase_ = Phase::Resolving;  // first: Phase::Open implies has_ws()
    set_state(ReadyState::Connecting);
    destroy_ws();
    client()->response_parser.reset();
    client()->out.clear();
    close_reported_ = false;
    set_buffered(0);
    write_blocked_ = drain_armed_ = false;
    read_paused_ = false;  // the next attempt's socket reads
    // Exponential backoff with ±20% jitter, so that many clients of one
    // server do not come back in lockstep.
    double delay = static_cast<double>(policy.initial_delay.count());
    for (std::size_t i = 0; i < client()->attempts && delay < static_cast<double>(policy.max_delay.count()); ++i)
        delay *= policy.multiplier;
    delay = std::min(delay, static_cast<double>(policy.max_delay.count()));
    std::array<std::byte, 2> r{};
    base::random_bytes(r);
    const double jitter = 0.8 + 0.4 * (std::to_integer<unsigned>(r[0]) * 256 + std::to_integer<unsigned>(r[1])) / 65535.0;
    ++client()->attempts;
    DUPLEX_LOG(Info, "websocket " << url() << ": reconnecting in " << static_cast<long>(delay * jitter) << " ms");
    const auto wait = std::chrono::milliseconds(static_cast<long>(delay * jitter));
    timer_ = rt().add_timer(base::Clock::now() + wait, [me = SessionRef(this)] {
        me->timer_ = 0;
        if (me->phase_ == Phase::Resolving && !me->client()->closed_by_user) me->start_client();
    });
    return true;
}

void Session::arm_client_heartbeat() {
    // One timer, at the time the keep-alive rule will next act (traffic
    // since only moves that later: the timer then finds nothing to do and
    // is armed again).
    const proto::ws::KeepAlivePolicy policy{client()->options.ping_interval, client()->options.idle_timeout};
    const auto now = rt().now();
    const auto due = keepalive_.poll_timeout(now, policy);
    if (!due) return;
    client()->heartbeat_timer = rt().add_timer(std::max(*due, now + std::chrono::milliseconds(1)), [me = SessionRef(this)] {
        me->client()->heartbeat_timer = 0;
        if (me->phase_ != Phase::Open) return;
        me->heartbeat(me->rt().now(), {me->client()->options.ping_interval, me->client()->options.idle_timeout});
        me->arm_client_heartbeat();
    });
}

void Session::done() {
    if (phase_ == Phase::Done) return;
    if (reconnect_later()) return;
    if (client() && client()->heartbeat_timer) rt().cancel_timer(client()->heartbeat_timer);
    if (client()) client()->heartbeat_timer = 0;
    phase_ = Phase::Done;
    set_state(ReadyState::Closed);
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
