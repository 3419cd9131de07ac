// api/http_connection.cpp: a server connection in its HTTP phase: request
// heads, plain GET/HEAD with keep-alive, refusals, and the upgrade hand-off.
#include "api/http_connection.hpp"

#include "api/http_convert.hpp"
#include "api/server_metrics.hpp"
#include "api/server_core.hpp"
#include "api/static_files.hpp"
#include "base/log.hpp"
#include "proto/http/error.hpp"
#include "proto/http/response_writer.hpp"
#include "proto/ws/deflate.hpp"
#include "proto/ws/handshake.hpp"
#include "runtime/tls.hpp"
#include "runtime/udp.hpp"

#include <algorithm>

namespace duplex::detail {

namespace {
constexpr auto kLinger = std::chrono::seconds(2);

bool wants_close(const proto::http::Request& req) {
    if (req.headers.has_token("Connection", "close")) return true;
    // HTTP/1.0 closes unless it asks for keep-alive (RFC 9112 §9.3).
    return req.version_minor == 0 && !req.headers.has_token("Connection", "keep-alive");
}
}  // namespace

// -------------------------------------------------------- HttpConnection --

HttpConnection::HttpConnection(ServerCore& server, int fd, const runtime::Address& peer)
    : server_(server),
      rt_(server.loop_.runtime()),
      keep_server_(server.shared_from_this()),
      peer_(runtime::to_endpoint(peer)) {
    auto tcp = std::make_unique<runtime::TcpSocket>(server.loop_.runtime(), fd, this);
    if (server.shared_->tls) sock_ = std::make_unique<runtime::TlsStream>(std::move(tcp), server.shared_->tls, this);
    else sock_ = std::move(tcp);
}

// The timer dies with us, so its callback may hold a plain pointer (which a
// std::function keeps inline: no allocation per connection).
HttpConnection::~HttpConnection() {
    if (timer_) rt_.cancel_timer(timer_);
}

proto::http::HeadParser& HttpConnection::parser() {
    if (!parser_) {
        const auto& o = server_.options_;
        parser_ = std::make_unique<proto::http::HeadParser>(
            proto::http::HeadKind::Request, proto::http::HeadLimits{o.max_header_bytes, o.max_header_bytes, o.max_headers});
    }
    return *parser_;
}

void HttpConnection::start() { arm_timeout(server_.options_.handshake_timeout); }

void HttpConnection::arm_timeout(std::chrono::milliseconds after) {
    if (timer_) rt_.cancel_timer(timer_);
    timer_ = rt_.add_timer(base::Clock::now() + after, [this] {
        auto self = shared_from_this();
        timer_ = 0;
        if (done_) return;
        if (lingering_) return finish();
        // A request head that did not arrive in time (or a client that went
        // quiet between requests): 408 if it had started, then close.
        if ((parser_ && parser_->buffered() > 0) || upgrade_pending_)
            respond(proto::http::write_simple_response(408, {}, "request timeout\n"), true);
        else
            finish();
    });
}

void HttpConnection::on_read(base::MutableBytes data) {
    auto self = shared_from_this();
    if (lingering_) return;  // draining before close
    if (reading_paused_ || !held_.empty()) {
        // Reading stopped over the budget, but this read was under way (a
        // TLS record decrypted in pieces): behind what is held, in order.
        held_.insert(held_.end(), data.begin(), data.end());
        return;
    }
    in_read_ = true;
    handle(data);
    in_read_ = false;
    if (done_ || !sock_) return;
    flush();
    // A client that sends one request a read leaves nothing to hold: the
    // budget must stop it all the same.
    pause_if_over_budget();
    // And the reverse: paused inside handle(), but the flush since took it
    // all (the client reads): no writable event will come to resume.
    resume_if_drained();
}

void HttpConnection::pause_if_over_budget() {
    if (reading_paused_ || upgrade_pending_ || !sock_ || out_.size() <= output_limit()) return;
    reading_paused_ = true;
    sock_->pause_reading(true);
    ServerMetrics::add(server_.shared_->metrics->backpressure_read_pauses);
}

void HttpConnection::handle(base::MutableBytes data) {
    while (!data.empty() && !done_ && !close_after_flush_ && !upgrade_pending_ && sock_) {
        auto& p = parser();
        const std::size_t used = p.feed(data);
        data = data.subspan(used);
        if (p.state() == proto::http::HeadState::NeedMore) return;
        if (p.state() == proto::http::HeadState::Error) {
            const int status = proto::http::status_for(p.error());
            DUPLEX_LOG(Info, "http " << remote() << ": " << status << " " << p.error().message());
            respond(proto::http::write_simple_response(status, {}, p.error().message() + "\n"), true);
            return;
        }
        handle_request(data);
        if (upgrade_pending_ || !sock_) return;  // the session (or the app) has the rest
        p.reset();
        // Pipelined requests from a client that does not read its responses:
        // what waits for it is bounded by max_backpressure, as for a
        // WebSocket. Over it, what the kernel takes leaves now; if that is not
        // enough, the rest of this read waits here (at most one read) and
        // reading stops until the client has taken half of it.
        if (out_.size() > output_limit() && !data.empty()) {
            flush();
            if (out_.size() > output_limit()) {
                held_.insert(held_.end(), data.begin(), data.end());
                pause_if_over_budget();
                return;
            }
        }
    }
}

std::size_t HttpConnection::output_limit() const noexcept { return server_.options_.max_backpressure; }

void HttpConnection::resume_reading() {
    // Called once the client took enough: the held requests first, then the socket.
    for (;;) {
        auto held = std::move(held_);
        held_.clear();
        reading_paused_ = false;
        in_read_ = true;
        handle({held.data(), held.size()});
        in_read_ = false;
        if (done_ || !sock_) return;
        flush();
        if (held_.empty() && out_.size() <= output_limit()) {
            // (handle() may have paused on the way: the budget is met now.)
            reading_paused_ = false;
            if (!upgrade_pending_) sock_->pause_reading(false);
            return;
        }
        // Over the budget again: stay paused, held_ keeping the rest, until
        // half of it has left (on_writable). If the kernel already took that
        // much, no writable event will come for it: go on now.
        reading_paused_ = true;
        sock_->pause_reading(true);
        if (upgrade_pending_ || out_.size() > output_limit() / 2) return;
    }
}

void HttpConnection::resume_if_drained() {
    if (reading_paused_ && !done_ && sock_ && !upgrade_pending_ && out_.size() <= output_limit() / 2) resume_reading();
}

void HttpConnection::handle_request(base::MutableBytes rest) {
    auto& req = parser().request();
    // We take no request bodies (RFC 9112 §6.3): refuse rather than misparse.
    if (req.headers.get("Transfer-Encoding") ||
        (req.headers.get("Content-Length") && *req.headers.get("Content-Length") != "0")) {
        respond(proto::http::write_simple_response(413, {}, "request bodies are not accepted\n"), true);
        return;
    }
    ServerMetrics::add(server_.shared_->metrics->http_requests);
    HttpRequest pub = to_public(req, remote());
    if (!proto::ws::wants_websocket(req)) return serve_plain(req, pub);

    const WebSocketRoute* route = server_.shared_->find_route(req.path());
    if (route == nullptr) {
        ServerMetrics::add(server_.shared_->metrics->handshakes_failed);
        respond(proto::http::write_simple_response(404, {}, "no WebSocket endpoint here\n"), true);
        return;
    }
    auto checked = proto::ws::check_upgrade_request(req);
    if (auto* r = std::get_if<proto::ws::Rejection>(&checked)) {
        ServerMetrics::add(server_.shared_->metrics->handshakes_failed);
        DUPLEX_LOG(Info, "handshake " << remote() << ": " << r->status << " " << r->message);
        respond(proto::http::write_simple_response(r->status, r->headers, r->message + "\n"), true);
        return;
    }
    auto& up = std::get<proto::ws::UpgradeRequest>(checked);
    // RFC 6455 §10.2: the server may refuse an origin it does not trust.
    if (server_.options_.origin_check && !server_.options_.origin_check(up.origin.value_or(""))) {
        ServerMetrics::add(server_.shared_->metrics->handshakes_failed);
        respond(proto::http::write_simple_response(403, {}, "origin not allowed\n"), true);
        return;
    }
    // (The connection limits were checked when it was accepted: it holds a slot.)
    upgrade_ = std::make_unique<PendingUpgrade>();
    upgrade_->deflate =
        proto::ws::negotiate_deflate(up.extensions, to_deflate_config(server_.options_.per_message_deflate));
    upgrade_->request = std::move(up);
    upgrade_->public_request = std::move(pub);
    upgrade_->route = route;
    upgrade_pending_ = true;
    upgrade_decided_ = false;
    // Keep what followed the head: the client may send frames right away.
    upgrade_->bytes_after.assign(rest.begin(), rest.end());
    sock_->pause_reading(true);

    auto on_upgrade = route->on_upgrade ? route->on_upgrade : server_.shared_->default_route.on_upgrade;
    if (!on_upgrade) {
        // §4.2.2: pick the first of our protocols that the client offered.
        std::string chosen;
        for (const auto& p : server_.options_.protocols) {
            const auto& offered = upgrade_->request.protocols;
            if (std::find(offered.begin(), offered.end(), p) != offered.end()) {
                chosen = p;
                break;
            }
        }
        accept_upgrade(std::move(chosen), {}, {});
        return;
    }
    on_upgrade(upgrade_->public_request, UpgradeResponder(shared_from_this(), upgrade_->request.protocols));
}

void HttpConnection::accept_upgrade(std::string protocol, std::any user_data, std::vector<HttpHeader> headers) {
    if (!upgrade_pending_ || upgrade_decided_ || done_ || !sock_) return;
    upgrade_decided_ = true;
    const auto& offered = upgrade_->request.protocols;
    if (!protocol.empty() && std::find(offered.begin(), offered.end(), protocol) == offered.end()) {
        DUPLEX_LOG(Warn, "upgrade accepted with a subprotocol the client did not offer: " << protocol);
        return reject_upgrade(500, "bad subprotocol choice", {});
    }
    headers.erase(std::remove_if(headers.begin(), headers.end(), [](const HttpHeader& h) { return !is_safe_header(h); }),
                  headers.end());
    // Responses to earlier pipelined requests that have not left yet go first.
    std::string head(base::as_string_view(out_.data()));
    out_.clear();
    const auto& deflate = upgrade_->deflate;
    const std::string extensions = deflate ? deflate->response : std::string();
    head += proto::ws::write_accept_response(upgrade_->request.key, protocol, extensions, to_header_list(headers));

    proto::ws::Options wo;
    const WebSocketRoute& route = *upgrade_->route;
    wo.max_message_size = route.max_message_size ? route.max_message_size : server_.options_.max_message_size;
    wo.max_frame_size = std::min<std::size_t>(server_.options_.max_frame_size, wo.max_message_size);
    wo.close_timeout = server_.options_.close_timeout;
    std::shared_ptr<proto::ws::Deflater> shared;
    if (deflate) {
        const auto& cfg = server_.options_.per_message_deflate;
        // The loop's shared compressor runs at the configured window; a
        // connection that agreed to a smaller one gets its own.
        if (deflate->params.local_no_context_takeover &&
            deflate->params.local_max_window_bits >= std::clamp(cfg.max_window_bits, 9, 15))
            shared = server_.shared_deflater();
        wo.deflate = proto::ws::Options::Deflate{deflate->params, cfg.threshold, cfg.level, cfg.mem_level, shared.get()};
    }
    if (timer_) rt_.cancel_timer(timer_);
    timer_ = 0;
    // On plain TCP the session is its own socket (decision 0014): it takes
    // the descriptor, registered as it is; our socket object stays, closed,
    // until we go (an event of this loop turn may still name it).
    std::unique_ptr<runtime::Stream> stream;
    runtime::TcpDescriptor tcp;
    if (server_.shared_->tls) stream = std::move(sock_);
    else tcp = static_cast<runtime::TcpSocket&>(*sock_).release_descriptor();
    SessionRef session(new Session(server_.loop_, std::move(stream), std::move(tcp), wo, protocol, extensions,
                                   upgrade_->public_request.target, peer_, shared,
                                   server_.session_context(upgrade_->route, upgrade_->public_request.target)));
    if (user_data.has_value()) session->user_data() = std::move(user_data);
    admitted_ = false;  // the session holds the slot now
    session->set_backpressure(route.max_backpressure ? route.max_backpressure : server_.options_.max_backpressure,
                              server_.options_.backpressure_policy);
    done_ = true;
    session->attach_server(head);
    const auto pending = std::move(upgrade_);
    parser_.reset();
    server_.on_open(*session, pending->route, pending->public_request);
    auto bytes = std::move(pending->bytes_after);
    session->start_server({bytes.data(), bytes.size()});
    server_.http_done(this);
}

void HttpConnection::reject_upgrade(int status, std::string body, std::vector<HttpHeader> headers) {
    if (!upgrade_pending_ || done_ || !sock_) return;
    upgrade_decided_ = true;
    upgrade_pending_ = false;
    ServerMetrics::add(server_.shared_->metrics->handshakes_failed);
    if (status < 300 || status > 599) status = 403;
    headers.erase(std::remove_if(headers.begin(), headers.end(), [](const HttpHeader& h) { return !is_safe_header(h); }),
                  headers.end());
    if (body.empty()) body = std::string(proto::http::reason_phrase(status)) + "\n";
    respond(proto::http::write_simple_response(status, to_header_list(headers), body), true);
    if (!in_read_) flush();
}

void HttpConnection::serve_plain(const proto::http::Request& req, const HttpRequest& pub) {
    const bool head = req.method == "HEAD";
    const bool close = wants_close(req);
    HttpResponse res;
    bool handled = false;
    if (server_.shared_->on_http) handled = server_.shared_->on_http(pub, res);
    if (!handled) {
        if (server_.shared_->has_route(req.path()) && req.path() != "/") {
            // A WebSocket endpoint asked for without the upgrade (RFC 6455 §4.2.2 / RFC 9110 §15.5.22).
            res = {};
            res.status = 426;
            res.set_header("Upgrade", "websocket");
            res.set_header("Connection", "Upgrade");
            res.set_header("Sec-WebSocket-Version", "13");
            res.set_header("Content-Type", "text/plain; charset=utf-8");
            res.body = "this is a WebSocket endpoint: upgrade required\n";
        } else if (req.method != "GET" && !head) {
            // RFC 9110 §9.1: methods are case-sensitive ("get" is not GET).
            // One defined there that we do not serve: 405 with Allow; one
            // we do not know at all: 501 (§15.6.2).
            static constexpr std::string_view kKnown[] = {"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
            const bool known = std::find(std::begin(kKnown), std::end(kKnown), req.method) != std::end(kKnown);
            res.status = known ? 405 : 501;
            if (known) res.set_header("Allow", "GET, HEAD");
            res.set_header("Content-Type", "text/plain; charset=utf-8");
            res.body = known ? "method not allowed\n" : "method not implemented (methods are case-sensitive)\n";
        } else if (!serve_static(server_.options_.static_dir, req.path(), res, server_.options_.serve_hidden_files)) {
            res = {};
            res.status = 404;
            res.set_header("Content-Type", "text/plain; charset=utf-8");
            res.body = "not found\n";
        }
    }
    proto::http::HeaderList headers;
    bool has_connection = false;
    for (const auto& h : res.headers) {
        if (!is_safe_header(h) || proto::http::iequals(h.name, "Content-Length")) continue;
        if (proto::http::iequals(h.name, "Connection")) {
            if (proto::http::iequals(h.value, "Upgrade")) has_connection = true;
            else continue;
        }
        headers.emplace_back(h.name, h.value);
    }
    headers.emplace_back("Content-Length", std::to_string(res.body.size()));
    if (close && !has_connection) headers.emplace_back("Connection", "close");
    std::string out = proto::http::write_response_head(res.status, headers);
    if (!head) out += res.body;
    respond(std::move(out), close);
    if (!close) arm_timeout(server_.options_.keep_alive_timeout);
}

void HttpConnection::respond(std::string bytes, bool close_after) {
    out_.append(bytes);
    if (close_after) close_after_flush_ = true;
    if (!in_read_) flush();
}

void HttpConnection::flush() {
    if (!sock_ || done_) return;
    while (!out_.empty()) {
        auto r = sock_->write(out_.data());
        if (!r) return finish();
        if (*r == 0) break;
        out_.consume(*r);
    }
    sock_->want_write(!out_.empty() || sock_->pending() > 0);
    if (out_.empty() && sock_->pending() == 0 && close_after_flush_ && !lingering_) {
        // Half-close and drain, so that unread request bytes don't turn our
        // close into a RST that destroys the response in flight.
        lingering_ = true;
        sock_->shutdown_write();
        arm_timeout(std::chrono::duration_cast<std::chrono::milliseconds>(kLinger));
    }
}

void HttpConnection::on_writable() {
    auto self = shared_from_this();
    flush();
    resume_if_drained();
}

void HttpConnection::on_eof() {
    auto self = shared_from_this();
    finish();
}

void HttpConnection::on_error(std::error_code) {
    auto self = shared_from_this();
    finish();
}

void HttpConnection::close_now() { finish(); }

void HttpConnection::on_loop(std::function<void()> fn) {
    if (server_.loop_.in_loop_thread()) fn();
    else server_.loop_.post(std::move(fn));
}

void HttpConnection::release_slot() {
    if (admitted_) server_.shared_->release(peer_.ip.to_string());
    admitted_ = false;
}

void HttpConnection::finish() {
    release_slot();
    if (done_ && (!sock_ || !sock_->is_open())) return;  // ended, or handed to a session
    done_ = true;
    if (timer_) rt_.cancel_timer(timer_);
    timer_ = 0;
    if (sock_) sock_->close();
    server_.http_done(this);
    // Break the cycle server -> connection -> server once this callback is over.
    auto self = shared_from_this();
    rt_.defer([self] { self->keep_server_.reset(); });
}

}  // namespace duplex::detail
