// api/session_client.cpp: the client side of a Session: it resolves the
// host (runtime::Resolver), connects (TLS when wss://), sends the upgrade and
// checks the answer, reconnects with backoff when asked to, and keeps its own
// heartbeat timer. What is the same for both sides (framing, sending,
// closing) is in session.cpp; its state is the ClientState (session.hpp), the
// one block a server session never holds.
#include <duplex/websocket.hpp>

#include "api/session.hpp"
#include "api/url.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "runtime/resolver.hpp"
#include "runtime/udp.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <map>

namespace duplex {
namespace detail {

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
    flush_deadline_ = abandon_tx_ = false;  // and its close starts afresh
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
    // Closing: the close has its own deadline, and the rule, which would
    // say "due now" again and again, has nothing more to do.
    if (!has_ws() || ws().state() != proto::ws::State::Open) return;
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

}  // namespace detail
}  // namespace duplex
