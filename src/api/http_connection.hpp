// api/http_connection.hpp: a server connection before (or instead of) the
// WebSocket upgrade.
#pragma once

#include <duplex/websocket_server.hpp>

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "proto/http/head_parser.hpp"
#include "proto/ws/deflate.hpp"
#include "proto/ws/handshake.hpp"
#include "runtime/loop.hpp"
#include "runtime/stream.hpp"
#include "runtime/tcp.hpp"

#include <any>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::detail {

class ServerCore;

/// A server connection before (or instead of) the upgrade: it parses request
/// heads, answers plain GET/HEAD (keep-alive), refuses bad requests, and hands
/// an accepted upgrade to a Session.
class HttpConnection final : public std::enable_shared_from_this<HttpConnection>,
                             public runtime::Stream::Handler {
public:
    HttpConnection(ServerCore& server, int fd, const runtime::Address& peer);
    ~HttpConnection();
    void start();
    /// UpgradeResponder's verdicts (loop thread).
    void accept_upgrade(std::string protocol, std::any user_data, std::vector<HttpHeader> headers);
    void reject_upgrade(int status, std::string body, std::vector<HttpHeader> headers);
    void close_now();
    /// Runs fn on the server's loop thread: now if we are on it, else posted.
    void on_loop(std::function<void()> fn);

private:
    void on_read(base::MutableBytes data) override;
    void on_writable() override;
    void on_eof() override;
    void on_error(std::error_code ec) override;

    void handle(base::MutableBytes data);
    void handle_request(base::MutableBytes rest);
    void respond(std::string bytes, bool close_after);
    void serve_plain(const proto::http::Request& req, const HttpRequest& pub);
    void flush();
    void finish();
    /// Unsent responses allowed before reading stops (pipelining).
    std::size_t output_limit() const noexcept;
    void resume_reading();
    /// Paused over the budget, and half of it has left: read again.
    void resume_if_drained();
    void pause_if_over_budget();
    void arm_timeout(std::chrono::milliseconds after);
    void release_slot();

    /// The parser, made at the first byte: a connection accepted in a storm
    /// holds little until its request arrives (memory per connection).
    proto::http::HeadParser& parser();
    /// "ip:port" for logs and HttpRequest::remote_address.
    std::string remote() const { return peer_.to_string(); }

    ServerCore& server_;
    runtime::Loop& rt_;
    std::shared_ptr<ServerCore> keep_server_;  // a posted verdict may outlive the server object
    std::unique_ptr<runtime::Stream> sock_;
    base::Endpoint peer_;
    std::unique_ptr<proto::http::HeadParser> parser_;
    base::ByteQueue out_;
    /// An upgrade request waiting for its verdict (on_upgrade may answer later).
    struct PendingUpgrade {
        proto::ws::UpgradeRequest request;
        std::optional<proto::ws::DeflateAgreement> deflate;
        HttpRequest public_request;
        const WebSocketRoute* route = nullptr;
        std::vector<std::byte> bytes_after;  // what followed the head: the client may send frames at once
    };
    std::unique_ptr<PendingUpgrade> upgrade_;
    /// Pipelined requests read but not handled while out_ is over its limit
    /// (at most one read's worth).
    std::vector<std::byte> held_;
    bool reading_paused_ = false;
    runtime::Loop::TimerId timer_ = 0;
    bool admitted_ = true;  // holds a connection slot (ServerShared::admit, taken at the accept)
    bool close_after_flush_ = false;
    bool lingering_ = false;
    bool done_ = false;
    bool in_read_ = false;
    bool upgrade_pending_ = false;
    bool upgrade_decided_ = false;
};

}  // namespace duplex::detail
