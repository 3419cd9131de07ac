// duplex/websocket.hpp: a WebSocket connection (RFC 6455), either end.
//
// The API follows Node's `ws` and the browser's WebSocket: connect() or a
// server's on_connection hands you a WebSocket; set on_message / on_close;
// send() and close().
//
//   auto ws = duplex::WebSocket::connect(loop, "ws://127.0.0.1:8080/echo");
//   ws.on_open([ws]() mutable { (void)ws.send("Hello, server!"); });
//   ws.on_message([](std::string_view data, bool is_binary) { ... });
#pragma once

#include <duplex/event_loop.hpp>
#include <duplex/http.hpp>
#include <duplex/status.hpp>

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duplex {

namespace detail {
class Session;
}

/// The connection's state, as the browser's WebSocket.readyState.
enum class ReadyState { Connecting = 0, Open = 1, Closing = 2, Closed = 3 };

/// permessage-deflate (RFC 7692): compression of whole messages with zlib.
/// Off by default, like Node's `ws`; browsers always offer it.
struct PerMessageDeflate {
    bool enabled = false;
    std::size_t threshold = 64;          ///< shorter messages are sent uncompressed
    int level = -1;                      ///< zlib level 0-9; -1: zlib's default (6)
    int mem_level = 8;                   ///< zlib memory level 1-9 (lower: less memory, less compression)
    int max_window_bits = 15;            ///< our compressor's window, 9-15 (smaller: less memory)
    /// Reset our compressor after every message: less memory per connection,
    /// less compression. A server then shares one compressor per loop (and
    /// one compressed copy of each published message).
    bool no_context_takeover = false;
    bool request_peer_no_context_takeover = false;  ///< ask the peer to reset too
    int request_peer_max_window_bits = 15;          ///< ask the peer for a smaller window (8-15)
};

/// What happens to a send when the connection already has more than
/// max_backpressure bytes queued (a peer that does not read).
enum class BackpressurePolicy {
    Close,  ///< close the connection with 1008 "slow consumer" (the default: nothing is lost silently)
    Drop,   ///< drop the message; send() returns Dropped (Errc::backpressure_limit)
};

/// TLS for a client (wss://): the server's certificate is checked against
/// the system's CA store (or `ca_file`), and its name against the URL's host.
/// How a server-side connection subscribes to a topic (WebSocket::subscribe).
/// With the server's history (ServerOptions::history_size; docs/scaling.md),
/// each message of a topic has an offset: 1, 2, 3... in publish order, the
/// same on every node that shares the topic through Redis.
struct SubscribeOptions {
    /// Every message this connection gets from the topic starts with its
    /// offset and a space: "17 hello" (text stays text, binary stays binary).
    bool offsets = false;
    /// Recovery (implies offsets): first the messages published after this
    /// offset that the history still has, then the live ones, none twice
    /// and none missing. Before them, a text message "gap FROM TO" says that
    /// offsets FROM..TO-1 are no longer kept, and "reset" that the topic's
    /// offsets started again (it was idle past the history's TTL).
    std::optional<std::uint64_t> since;
};

struct ClientTlsOptions {
    std::string ca_file;             ///< trust these CAs instead of the system store
    bool insecure = false;           ///< no verification at all: for tests only
};

/// Opt-in reconnection for a client: after a connection ends (or fails to
/// open) without the application having called close(), connect again after
/// a delay that doubles each time (with jitter), up to `max_delay`. Each end
/// fires on_close; each success fires on_open again.
struct ReconnectPolicy {
    bool enabled = false;
    std::chrono::milliseconds initial_delay{500};
    std::chrono::milliseconds max_delay{30000};
    double multiplier = 2.0;
    std::size_t max_attempts = 0;  ///< consecutive failed attempts before giving up (0: never give up)
};

/// Options of a client connection.
struct ClientOptions {
    std::vector<std::string> protocols;            ///< Sec-WebSocket-Protocol offers, preferred first
    std::string origin;                            ///< Origin header; empty: none sent
    std::vector<HttpHeader> headers;               ///< extra request headers
    std::size_t max_message_size = 16u << 20;      ///< larger incoming messages close with 1009
    PerMessageDeflate per_message_deflate;         ///< offered when enabled
    ClientTlsOptions tls;                          ///< for wss:// URLs
    ReconnectPolicy reconnect;
    /// Heartbeat: ping when the server has been quiet this long (0: never).
    std::chrono::milliseconds ping_interval{0};
    /// Close (1001 "idle timeout") when the server sent nothing this long (0: never).
    std::chrono::milliseconds idle_timeout{0};
    std::size_t max_backpressure = 16u << 20;      ///< queued bytes before the policy applies
    BackpressurePolicy backpressure_policy = BackpressurePolicy::Close;
    std::chrono::milliseconds handshake_timeout{10000};
    std::chrono::milliseconds close_timeout{5000};
};

/// A handle to one WebSocket connection. Copies refer to the same connection;
/// the connection lives until it is closed, whether or not handles remain.
///
/// @par Thread safety
/// Callbacks run on the connection's loop thread. send(), send_binary(),
/// ping() and close() may be called from any thread: off the loop thread they
/// are posted to it and return success if the call was queued. The on_*
/// setters must be called on the loop thread (e.g. inside on_connection or
/// before the loop runs). ready_state() and buffered_amount() may be read from
/// any thread. Handles may be copied and dropped on any thread; the
/// connection (with its user_data and handlers) is destroyed on its loop's
/// thread once it has ended and the last handle is gone, or when the loop
/// is destroyed. Destroying a loop while other threads are still calling
/// send() or close() on its connections is a race; dropping handles is not.
///
/// @par Limits
/// Sizes (message and frame limits, max_backpressure, buffered_amount()) are
/// kept in 32 bits per connection: larger values mean 4 GiB - 1. Durations
/// of the heartbeat are kept in milliseconds, at most 49 days.
class WebSocket {
public:
    using MessageHandler = std::function<void(std::string_view data, bool is_binary)>;
    using CloseHandler = std::function<void(std::uint16_t code, std::string_view reason)>;
    using ErrorHandler = std::function<void(std::error_code error, std::string_view message)>;

    WebSocket() = default;  ///< an empty handle; every call on it is invalid_state

    /// Opens a client connection to a `ws://host[:port]/path?query` URL. Errors
    /// (a bad URL included) are reported through on_error then on_close(1006),
    /// after the call returns. `wss://` uses TLS (ClientOptions::tls).
    static WebSocket connect(EventLoop& loop, std::string_view url, ClientOptions options = {});

    /// Sends a text message; `text` must be UTF-8 (else invalid_argument).
    /// invalid_state unless the connection is open.
    SendResult send(std::string_view text);
    /// Sends `data` as a text or binary message.
    SendResult send(std::string_view data, bool is_binary);
    SendResult send_binary(std::span<const std::byte> data);
    SendResult send_binary(std::string_view data);
    /// Sends a ping (at most 125 bytes of payload).
    Status ping(std::string_view payload = {});
    /// Starts the closing handshake. `code` is 1000 or 3000-4999 (or another
    /// valid wire code); `reason` at most 123 bytes of UTF-8.
    Status close(std::uint16_t code = 1000, std::string_view reason = {});

    /// Pub/sub (server-side connections): receive what is published to
    /// `topic` by WebSocketServer::publish or by another connection's
    /// publish(). False when already subscribed, or on a client connection.
    /// Loop thread only.
    bool subscribe(const std::string& topic);
    /// The same with offsets or a recovery (SubscribeOptions; needs the
    /// server's history, ServerOptions::history_size).
    bool subscribe(const std::string& topic, const SubscribeOptions& options);
    bool unsubscribe(const std::string& topic);
    /// Publishes to every other subscriber of `topic`, on every loop of the server.
    bool publish(std::string_view topic, std::string_view data, bool is_binary = false);

    /// Client: the connection is open (the handshake succeeded).
    void on_open(std::function<void()> fn);
    /// A whole message arrived. `data` is valid during the call only.
    void on_message(MessageHandler fn);
    /// The connection ended, once per connection: the peer's close code, 1005
    /// when its Close had none, 1006 when it ended without one, or the code we
    /// sent when we failed it (1002, 1007, 1009).
    void on_close(CloseHandler fn);
    /// Something went wrong (before on_close): a protocol error by the peer, a
    /// refused handshake, a socket error.
    void on_error(ErrorHandler fn);
    /// The send buffer fell to the low-water mark (buffered_amount_low_threshold,
    /// default 0) after a send reported Backpressure or left data queued.
    void on_drain(std::function<void()> fn);
    /// A ping arrived (the pong is sent for you) / a pong arrived.
    void on_ping(std::function<void(std::string_view payload)> fn);
    void on_pong(std::function<void(std::string_view payload)> fn);

    ReadyState ready_state() const noexcept;
    /// Bytes queued for sending that the kernel has not taken yet.
    std::size_t buffered_amount() const noexcept;
    /// on_drain fires when buffered_amount() falls to this (W3C bufferedAmountLowThreshold).
    void set_buffered_amount_low_threshold(std::size_t bytes);
    /// The largest message (and frame) accepted from now on; a larger one is
    /// refused with 1009 at its frame header, before its payload is buffered.
    /// For a budget that grows with trust (a signaling peer once it joined).
    /// Any thread (posted to the loop).
    Status set_max_message_size(std::size_t bytes);
    /// The subprotocol agreed in the handshake ("" when none).
    std::string protocol() const;
    /// The peer's address, "127.0.0.1:53412" or "[::1]:53412".
    std::string remote_address() const;
    /// Client: the URL passed to connect(); server: the request target.
    std::string url() const;
    /// The agreed Sec-WebSocket-Extensions ("" when none).
    std::string extensions() const;

    /// Per-connection data for the application (set it in on_upgrade's accept()
    /// or at any time on the loop thread).
    std::any& user_data();
    template <class T>
    T* data() { return std::any_cast<T>(&user_data()); }

    /// The loop this connection lives on (nullptr for an empty handle).
    EventLoop* loop() const noexcept;

    explicit operator bool() const noexcept { return impl_ != nullptr; }
    friend bool operator==(const WebSocket& a, const WebSocket& b) noexcept { return a.impl_ == b.impl_; }

    /// For duplex's own classes.
    /// Internal: a handle to a session (takes a reference of its own).
    explicit WebSocket(detail::Session* impl) noexcept;
    WebSocket(const WebSocket& other) noexcept;
    WebSocket(WebSocket&& other) noexcept : impl_(other.impl_) { other.impl_ = nullptr; }
    WebSocket& operator=(const WebSocket& other) noexcept;
    WebSocket& operator=(WebSocket&& other) noexcept;
    ~WebSocket();

private:
    friend class detail::Session;
    // Counted by the session itself (no control block: memory per
    // connection, decision 0013). Handles may be copied on any thread.
    detail::Session* impl_ = nullptr;
};

}  // namespace duplex
