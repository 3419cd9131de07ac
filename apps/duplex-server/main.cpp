// duplex-server: a WebSocket server with an echo endpoint, pub/sub topics,
// health and metrics endpoints, and the web page.
//
//   duplex-server [--host 127.0.0.1] [--port 8080] [--web DIR] [--threads N] ...
//
// Prints "listening on http://HOST:PORT" (https with --cert/--key) once it accepts connections (with
// the real port when --port 0 picked one). Routes:
//   /echo            every message comes back as it came (text as text, binary as binary)
//   /pubsub/<topic>  every message goes to every other client on the same topic;
//                    with --history, ?offsets=1 and ?since=OFFSET (docs/scaling.md)
//   /signal          WebRTC signaling: rooms, peer ids, offer/answer/candidate relay (docs/signaling.md)
//   /healthz         "ok" (plain HTTP), and "redis: up" or "redis: down: why" with --redis
//   /metrics         counters in the Prometheus text format
//   /                the web directory
// Exit codes: 0 after SIGINT/SIGTERM (connections closed with 1001, queued
// messages drained up to --drain-timeout), 2 for a usage error or a port
// that cannot be bound.
#include <duplex/event_loop.hpp>
#include <duplex/signaling.hpp>
#include <duplex/websocket_server.hpp>

#include <CLI/CLI.hpp>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/resource.h>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string default_web_dir() {
    // Installed layout: <prefix>/bin/duplex-server and <prefix>/share/duplex/web.
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const auto installed = exe.parent_path().parent_path() / DUPLEX_INSTALL_WEB_SUBDIR;
        if (std::filesystem::exists(installed / "index.html", ec)) return installed.string();
    }
    return DUPLEX_SOURCE_WEB_DIR;
}

// A route-wide handler: one function serves every connection, which then
// carries no handler of its own (memory per connection).
duplex::WebSocketRoute echo_route() {
    duplex::WebSocketRoute r;
    r.on_message = [](duplex::WebSocket& ws, std::string_view data, bool is_binary) {
        (void)ws.send(data, is_binary);
    };
    return r;
}

// A query parameter's value ("" when absent); the query is key=value&...
std::string query_value(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view kv = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (kv.size() > key.size() && kv.substr(0, key.size()) == key && kv[key.size()] == '=')
            return std::string(kv.substr(key.size() + 1));
    }
    return {};
}

// /pubsub/<topic>[?offsets=1][?since=N]: with --history, every message
// starts with its offset ("17 hello"), and since=N first replays what was
// published after N (docs/scaling.md).
void pubsub(duplex::WebSocket& ws, const duplex::HttpRequest& req) {
    const std::string topic = req.path.substr(std::string_view("/pubsub/").size());
    duplex::SubscribeOptions o;
    o.offsets = query_value(req.query, "offsets") == "1";
    if (const std::string since = query_value(req.query, "since"); !since.empty()) {
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(since.data(), since.data() + since.size(), n);
        if (ec != std::errc() || end != since.data() + since.size()) {
            (void)ws.close(1008, "since= takes an offset (a number)");
            return;
        }
        o.since = n;
    }
    if (!ws.subscribe(topic, o)) {
        (void)ws.close(1008, "offsets need the server's history (--history)");
        return;
    }
    ws.on_message([ws, topic](std::string_view data, bool is_binary) mutable {
        ws.publish(topic, data, is_binary);  // to every other client on the topic
    });
}

// Each connection is a descriptor: the soft limit (often 1024) goes up to
// the hard one, so that the server is not out of descriptors long before
// it is out of anything else. Said once, on stderr.
void raise_open_files_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max) return;
    const auto before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
        std::fprintf(stderr, "duplex-server: open files limit raised from %llu to %llu\n",
                     static_cast<unsigned long long>(before), static_cast<unsigned long long>(lim.rlim_max));
}

// --host as the library takes it (numeric): a name such as localhost is
// looked up once, here, before anything runs (blocking is fine at start).
struct HostResult {
    std::optional<std::string> value;
    std::string why;
    explicit operator bool() const noexcept { return value.has_value(); }
    const std::string& operator*() const { return *value; }
    const std::string& error() const noexcept { return why; }
};
HostResult numeric_host(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) return {std::nullopt, std::string("cannot resolve: ") + gai_strerror(rc)};
    char buf[INET6_ADDRSTRLEN] = {};
    const void* addr = res->ai_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
                                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
    inet_ntop(res->ai_family, addr, buf, sizeof(buf));
    freeaddrinfo(res);
    return {std::string(buf), {}};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"duplex-server: WebSocket echo and pub/sub, health, metrics and the web page", "duplex-server"};
    std::string host = "127.0.0.1";
    std::string port_text = "8080";
    std::string web;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    duplex::ServerOptions options;
    std::size_t max_message = options.max_message_size;
    bool deflate = false;
    bool deflate_no_context = false;
    int ping_ms = static_cast<int>(options.ping_interval.count());
    int idle_ms = static_cast<int>(options.idle_timeout.count());
    int drain_ms = 5000;
    std::size_t max_backpressure = options.max_backpressure;
    std::string policy = "close";
    app.add_option("--host", host, "address to listen on (IPv4, IPv6, or a name such as localhost)")->capture_default_str();
    app.add_option("--port", port_text, "port to listen on, 0-65535; 0 picks a free one")->capture_default_str();
    app.add_option("--web", web, "directory served at / (default: the installed page)");
    app.add_option("--cert", options.tls.cert_file, "serve wss:// and https:// with this PEM certificate (chain allowed)");
    app.add_option("--key", options.tls.key_file, "the PEM private key of --cert");
    app.add_option("--threads", threads, "event loops, one per thread, each with its own SO_REUSEPORT listener")
        ->check(CLI::Range(1u, 256u))
        ->capture_default_str();
    app.add_option("--max-message-size", max_message, "largest message accepted, in bytes (else close 1009)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 40))
        ->capture_default_str();
    app.add_flag("--deflate", deflate, "accept permessage-deflate (RFC 7692) from clients that offer it");
    app.add_flag("--deflate-no-context-takeover", deflate_no_context,
                 "accept permessage-deflate, resetting the compressor after each message (less memory)");
    // A public server's default: one address cannot take every descriptor
    // (issue 14); a NAT with many users behind it still fits.
    options.max_connections_per_ip = 256;
    app.add_option("--max-connections", options.max_connections,
                   "connections at once, HTTP and WebSocket (0: no limit; more get 503)")
        ->capture_default_str();
    app.add_option("--max-connections-per-ip", options.max_connections_per_ip,
                   "connections at once from one address (0: no limit; more get 429)")
        ->capture_default_str();
    app.add_option("--max-header-size", options.max_header_bytes, "largest request head in bytes (else 431)")
        ->check(CLI::Range(std::size_t{256}, std::size_t{1} << 20))
        ->capture_default_str();
    app.add_option("--max-backpressure", max_backpressure, "bytes queued for a client before --backpressure applies")
        ->capture_default_str();
    app.add_option("--backpressure", policy, "what a client over --max-backpressure gets: close (1008) or drop")
        ->check(CLI::IsMember({"close", "drop"}))
        ->capture_default_str();
    app.add_option("--ping-interval-ms", ping_ms, "ping a quiet client this often (0: never)")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--idle-timeout-ms", idle_ms, "close a client silent this long (0: never)")->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--drain-timeout-ms", drain_ms, "on SIGTERM, how long queued messages may take to leave")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    duplex::SignalingOptions signaling;
    int turn_ttl_s = 3600;
    app.add_option("--redis", options.redis,
                   "share topics with every node on this Redis: redis://[user:pass@]host:port[/db], rediss://..., unix:///path");
    app.add_option("--redis-ca", options.redis_tls_ca_file, "rediss://: trust this CA file instead of the system store");
    app.add_option("--redis-max-queue", options.redis_max_queue,
                   "bytes of messages held for Redis while it is slow or down (more are not sent to other nodes)")
        ->capture_default_str();
    std::size_t history = 0;
    unsigned history_ttl_s = 300;
    app.add_option("--history", history, "keep each topic's last N messages with offsets (/pubsub/<topic>?since=OFFSET)")
        ->capture_default_str();
    app.add_option("--history-ttl", history_ttl_s, "forget a topic's history after this many seconds without a message")
        ->check(CLI::Range(1u, 30u * 86400u))->capture_default_str();
    app.add_option("--signal-secret", signaling.secret, "require a join token signed with this secret (see: token)");
    app.add_option("--stun", signaling.stun_urls, "STUN server URL handed to peers (repeatable)");
    app.add_option("--turn", signaling.turn_urls, "TURN server URL handed to peers (repeatable)");
    app.add_option("--turn-secret", signaling.turn_secret, "coturn static-auth-secret: peers get ephemeral credentials");
    app.add_option("--turn-ttl", turn_ttl_s, "lifetime of TURN credentials, seconds")->check(CLI::Range(60, 7 * 86400))->capture_default_str();
    // duplex-server token --room R --ttl SECONDS --secret S: prints a join token.
    auto* token_cmd = app.add_subcommand("token", "print a join token for --signal-secret");
    std::string token_room, token_secret;
    int token_ttl = 3600;
    token_cmd->add_option("--room", token_room, "the room")->required();
    token_cmd->add_option("--secret", token_secret, "the --signal-secret of the server")->required();
    token_cmd->add_option("--ttl", token_ttl, "seconds until it expires")->check(CLI::Range(1, 365 * 86400))->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "duplex-server: " << e.what() << "\n";
        return 2;
    }
    if (*token_cmd) {
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
        std::printf("%s\n", duplex::make_signaling_token(token_secret, token_room, now.count() + token_ttl).c_str());
        return 0;
    }
    signaling.turn_ttl = std::chrono::seconds(turn_ttl_s);
    int port = -1;
    {
        const auto* end = port_text.data() + port_text.size();
        const auto [p, ec] = std::from_chars(port_text.data(), end, port);
        if (ec != std::errc{} || p != end || port < 0 || port > 65535) {
            std::cerr << "duplex-server: --port " << port_text << ": not a port number (0-65535)\n";
            return 2;
        }
    }
    if (auto numeric = numeric_host(host)) {
        host = *numeric;
    } else {
        std::cerr << "duplex-server: --host " << host << ": " << numeric.error()
                  << " (give an address such as 127.0.0.1, ::1 or 0.0.0.0)\n";
        return 2;
    }
    if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
        std::cerr << "duplex-server: --cert and --key go together\n";
        return 2;
    }
    if (web.empty()) web = default_web_dir();
    if (!std::filesystem::is_directory(web)) {
        std::cerr << "duplex-server: web directory not found: " << web << "\n";
        return 2;
    }

    raise_open_files_limit();

    // Signals go to a thread of their own, which starts the graceful stop.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    options.host = host;
    options.port = static_cast<std::uint16_t>(port);
    options.static_dir = web;
    options.max_message_size = max_message;
    options.max_frame_size = max_message;
    options.per_message_deflate.enabled = deflate || deflate_no_context;
    options.per_message_deflate.no_context_takeover = deflate_no_context;
    options.ping_interval = std::chrono::milliseconds(ping_ms);
    options.idle_timeout = std::chrono::milliseconds(idle_ms);
    options.max_backpressure = max_backpressure;
    options.history_size = history;
    options.history_ttl = std::chrono::seconds(history_ttl_s);
    options.backpressure_policy = policy == "drop" ? duplex::BackpressurePolicy::Drop : duplex::BackpressurePolicy::Close;

    std::vector<std::unique_ptr<duplex::EventLoop>> loops;
    for (unsigned i = 0; i < threads; ++i) loops.push_back(std::make_unique<duplex::EventLoop>());
    duplex::WebSocketServer server(*loops[0], options);
    for (unsigned i = 1; i < threads; ++i) server.add_loop(*loops[i]);
    server.route("/echo", echo_route());
    server.route("/pubsub/*", {nullptr, pubsub});
    duplex::SignalingServer signal_server(server, "/signal", signaling);
    server.on_http([&server](const duplex::HttpRequest& req, duplex::HttpResponse& res) {
        if (req.path == "/healthz") {
            // 200 while this node serves its own clients; a Redis that is
            // down is a degradation (other nodes unreachable), said on a line.
            res.set_header("Content-Type", "text/plain; charset=utf-8");
            res.body = "ok\n";
            if (const auto redis = server.redis_status(); !redis.empty()) res.body += "redis: " + redis + "\n";
            return true;
        }
        if (req.path == "/metrics") {
            res.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            res.body = server.metrics_text();
            return true;
        }
        return false;
    });

    if (auto st = server.listen(); !st) {
        if (st == duplex::Errc::tls_failed || st.message().find(": redis: ") != std::string::npos)
            std::cerr << "duplex-server: " << st.message() << "\n";
        else std::cerr << "duplex-server: cannot listen on " << host << ":" << port << ": " << st.message() << "\n";
        return 2;
    }
    const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::printf("listening on %s://%s:%u\n", options.tls.enabled() ? "https" : "http", shown_host.c_str(),
                static_cast<unsigned>(server.port()));
    std::fflush(stdout);

    std::thread([&server, &loops, signals, drain_ms] {
        int sig = 0;
        sigwait(&signals, &sig);
        std::fprintf(stderr, "duplex-server: %s, closing %zu connections\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                     server.connection_count());
        server.shutdown(std::chrono::milliseconds(drain_ms), [&loops] {
            for (auto& l : loops) l->stop();
        });
    }).detach();

    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&loops, i] { loops[i]->run(); });
    loops[0]->run();
    for (auto& w : workers) w.join();
    std::fprintf(stderr, "duplex-server: stopped\n");
    return 0;
}
