// api/server_core.hpp: the body of a WebSocketServer: its listener, routes, and
// the connections still in their HTTP phase (HttpConnection) or upgraded
// (Session). Everything here runs on the server's loop thread.
#pragma once

#include <duplex/websocket_server.hpp>

#include "api/session.hpp"
#include "proto/http/head_parser.hpp"
#include "runtime/tcp.hpp"

#include <memory>
#include <unordered_map>
#include <vector>

namespace duplex::detail {

class ServerCore;

/// A server connection before (or instead of) the upgrade: it parses request
/// heads, answers plain GET/HEAD (keep-alive), refuses bad requests, and hands
/// an accepted upgrade to a Session.
class HttpConnection final : public std::enable_shared_from_this<HttpConnection>,
                             public runtime::TcpSocket::Handler {
public:
    HttpConnection(ServerCore& server, int fd, const runtime::Address& peer);
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
    void arm_timeout(std::chrono::milliseconds after);

    ServerCore& server_;
    std::shared_ptr<ServerCore> keep_server_;  // a posted verdict may outlive the server object
    std::unique_ptr<runtime::TcpSocket> sock_;
    std::string remote_;
    proto::http::HeadParser parser_;
    base::ByteQueue out_;
    bool close_after_flush_ = false;
    bool lingering_ = false;
    bool done_ = false;
    bool in_read_ = false;
    // A pending asynchronous upgrade decision.
    bool upgrade_pending_ = false;
    bool upgrade_decided_ = false;
    std::optional<proto::ws::UpgradeRequest> upgrade_;
    std::optional<proto::ws::DeflateAgreement> deflate_;
    HttpRequest upgrade_request_;
    const WebSocketRoute* upgrade_route_ = nullptr;
    std::vector<std::byte> pending_bytes_;
    runtime::Loop::TimerId timer_ = 0;
};

class ServerCore final : public std::enable_shared_from_this<ServerCore>, public SessionOwner {
public:
    ServerCore(EventLoop& loop, ServerOptions options) : loop_(loop), options_(std::move(options)) {}
    ~ServerCore();

    Status listen();
    void close();
    void session_done(Session* s) override;
    void http_done(HttpConnection* c);
    /// The route for a path, or the default route; nullptr when none applies.
    const WebSocketRoute* find_route(std::string_view path) const;
    bool has_route(std::string_view path) const;
    void on_open(const std::shared_ptr<Session>& s, const WebSocketRoute* route, const HttpRequest& req);

    EventLoop& loop_;
    ServerOptions options_;
    std::unique_ptr<runtime::TcpListener> listener_;
    std::uint16_t port_ = 0;
    std::vector<std::pair<std::string, WebSocketRoute>> routes_;
    WebSocketRoute default_route_;
    WebSocketServer::HttpHandler on_http_;
    std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
    std::unordered_map<HttpConnection*, std::shared_ptr<HttpConnection>> http_;
    bool closed_ = false;
    /// One compressor for every connection of this server that resets per
    /// message (no context takeover), created on first use.
    std::shared_ptr<proto::ws::Deflater> shared_deflater();
    std::shared_ptr<proto::ws::Deflater> shared_deflater_;
};

}  // namespace duplex::detail
