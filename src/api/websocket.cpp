// api/websocket.cpp: duplex::WebSocket, the public handle to a Session.
#include <duplex/websocket.hpp>

#include "api/session.hpp"

#include <utility>

namespace duplex {

// ------------------------------------------------------------ WebSocket --

WebSocket::WebSocket(detail::Session* impl) noexcept : impl_(impl) {
    if (impl_) impl_->retain();
}

WebSocket::WebSocket(const WebSocket& other) noexcept : WebSocket(other.impl_) {}

// Assignments take the new session before they let the old one go: the
// old one's last release may destroy `other` itself (its user_data may own it).
WebSocket& WebSocket::operator=(const WebSocket& other) noexcept {
    detail::Session* next = other.impl_;
    if (next) next->retain();
    if (detail::Session* old = std::exchange(impl_, next)) old->release();
    return *this;
}

WebSocket& WebSocket::operator=(WebSocket&& other) noexcept {
    if (this != &other) {
        detail::Session* next = std::exchange(other.impl_, nullptr);
        if (detail::Session* old = std::exchange(impl_, next)) old->release();
    }
    return *this;
}

WebSocket::~WebSocket() {
    if (impl_) impl_->release();
}

namespace {
template <class Fn>
Status on_loop(detail::Session* s, Fn&& fn) {
    // A loop destroyed before the handle ended the session (its closer).
    if (!s || s->loop_gone()) return Errc::invalid_state;
    if (s->loop().in_loop_thread()) return fn(*s);
    // Off the loop thread: queue the call (it reports its result nowhere but
    // in on_error/on_close, like a browser's queued send).
    s->loop().post([s = detail::SessionRef(s), fn = std::forward<Fn>(fn)]() mutable { (void)fn(*s); });
    return {};
}
}  // namespace

WebSocket WebSocket::connect(EventLoop& loop, std::string_view url, ClientOptions options) {
    detail::SessionRef s(new detail::Session(loop, std::string(url), std::move(options)));
    if (loop.in_loop_thread()) {
        s->start_client();
    } else {
        // If the loop is destroyed before it runs this, the session must
        // learn so: the handle returned here would otherwise ask a dead loop.
        struct Start {
            detail::SessionRef s;
            bool ran = false;
            Start(Start&&) noexcept = default;
            explicit Start(detail::SessionRef r) : s(std::move(r)) {}
            ~Start() {
                if (s && !ran) s->loop_never_started();
            }
        };
        loop.post([st = std::make_shared<Start>(s)] {
            st->ran = true;
            st->s->start_client();
        });
    }
    return WebSocket(s.get());
}

SendResult WebSocket::send(std::string_view text) { return send(text, false); }

SendResult WebSocket::send(std::string_view data, bool is_binary) {
    if (!impl_ || impl_->loop_gone()) return Errc::invalid_state;
    if (impl_->on_loop_thread()) return impl_->send(base::as_bytes(data), is_binary);
    // Off the loop thread: queued to it; the outcome shows in on_drain/on_close.
    impl_->loop().post([s = detail::SessionRef(impl_), d = std::string(data), is_binary] {
        (void)s->send(base::as_bytes(d), is_binary);
    });
    return SendStatus::Success;
}

SendResult WebSocket::send_binary(std::span<const std::byte> data) {
    return send(base::as_string_view(data), true);
}

SendResult WebSocket::send_binary(std::string_view data) { return send(data, true); }

Status WebSocket::ping(std::string_view payload) {
    return on_loop(impl_, [p = std::string(payload)](detail::Session& s) { return s.ping(base::as_bytes(p)); });
}

Status WebSocket::close(std::uint16_t code, std::string_view reason) {
    return on_loop(impl_, [code, r = std::string(reason)](detail::Session& s) { return s.close(code, r); });
}

void WebSocket::on_open(std::function<void()> fn) { if (impl_) impl_->handlers().open = std::move(fn); }
void WebSocket::on_message(MessageHandler fn) { if (impl_) impl_->handlers().message = std::move(fn); }
void WebSocket::on_close(CloseHandler fn) { if (impl_) impl_->handlers().close = std::move(fn); }
void WebSocket::on_error(ErrorHandler fn) { if (impl_) impl_->handlers().error = std::move(fn); }
void WebSocket::on_ping(std::function<void(std::string_view)> fn) { if (impl_) impl_->handlers().ping = std::move(fn); }
void WebSocket::on_pong(std::function<void(std::string_view)> fn) { if (impl_) impl_->handlers().pong = std::move(fn); }
bool WebSocket::subscribe(const std::string& topic) { return impl_ && impl_->subscribe(topic, {}); }
bool WebSocket::subscribe(const std::string& topic, const SubscribeOptions& options) {
    return impl_ && impl_->subscribe(topic, options);
}
bool WebSocket::unsubscribe(const std::string& topic) { return impl_ && impl_->unsubscribe(topic); }
bool WebSocket::publish(std::string_view topic, std::string_view data, bool is_binary) {
    return impl_ && impl_->publish(topic, data, is_binary);
}
void WebSocket::on_drain(std::function<void()> fn) { if (impl_) impl_->handlers().drain = std::move(fn); }
void WebSocket::set_buffered_amount_low_threshold(std::size_t bytes) { if (impl_) impl_->set_low_threshold(bytes); }
Status WebSocket::set_max_message_size(std::size_t bytes) {
    return on_loop(impl_, [bytes](detail::Session& s) { return s.set_max_message_size(bytes); });
}

ReadyState WebSocket::ready_state() const noexcept { return impl_ ? impl_->ready_state() : ReadyState::Closed; }
std::size_t WebSocket::buffered_amount() const noexcept { return impl_ ? impl_->buffered_amount() : 0; }
std::string WebSocket::protocol() const { return impl_ ? impl_->protocol() : std::string(); }
std::string WebSocket::remote_address() const { return impl_ ? impl_->remote_address() : std::string(); }
std::string WebSocket::url() const { return impl_ ? impl_->url() : std::string(); }
std::string WebSocket::extensions() const { return impl_ ? impl_->extensions() : std::string(); }

std::any& WebSocket::user_data() {
    static thread_local std::any empty;
    return impl_ ? impl_->user_data() : empty;
}

EventLoop* WebSocket::loop() const noexcept { return impl_ && !impl_->loop_gone() ? &impl_->loop() : nullptr; }

}  // namespace duplex
