// duplex-server: a WebSocket server with an echo endpoint and the web page.
//
//   duplex-server [--host 127.0.0.1] [--port 8080] [--web DIR]
//
// Prints "listening on http://HOST:PORT" once it accepts connections (with
// the real port when --port 0 picked one). Exit codes: 0 after SIGINT/SIGTERM,
// 2 for a usage error or a port that cannot be bound.
#include <duplex/event_loop.hpp>
#include <duplex/websocket_server.hpp>

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <pthread.h>
#include <string>
#include <thread>
#include <unistd.h>

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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"duplex-server: WebSocket echo, and the web page", "duplex-server"};
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string web;
    std::size_t max_message = 16u << 20;
    app.add_option("--host", host, "address to listen on (numeric IPv4 or IPv6)")->capture_default_str();
    app.add_option("--port", port, "port to listen on; 0 picks a free one")
        ->check(CLI::Range(0, 65535))
        ->capture_default_str();
    app.add_option("--web", web, "directory served at / (default: the installed page)");
    bool deflate = false;
    bool deflate_no_context = false;
    app.add_flag("--deflate", deflate, "accept permessage-deflate (RFC 7692) from clients that offer it");
    app.add_flag("--deflate-no-context-takeover", deflate_no_context,
                 "reset the compressor after each message (less memory per connection)");
    app.add_option("--max-message-size", max_message, "largest message accepted, in bytes (else close 1009)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 40))
        ->capture_default_str();
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
    if (web.empty()) web = default_web_dir();
    if (!std::filesystem::is_directory(web)) {
        std::cerr << "duplex-server: web directory not found: " << web << "\n";
        return 2;
    }

    // Signals go to a thread of their own, which posts a stop to the loop.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    duplex::EventLoop loop;
    duplex::ServerOptions options;
    options.host = host;
    options.port = static_cast<std::uint16_t>(port);
    options.static_dir = web;
    options.max_message_size = max_message;
    options.max_frame_size = max_message;
    options.per_message_deflate.enabled = deflate || deflate_no_context;
    options.per_message_deflate.no_context_takeover = deflate_no_context;
    duplex::WebSocketServer server(loop, options);

    // /echo: every message comes back as it came, text as text, binary as binary.
    server.route("/echo", {.on_upgrade = nullptr,
                           .on_connection = [](duplex::WebSocket& ws, const duplex::HttpRequest&) {
                               ws.on_message([ws](std::string_view data, bool is_binary) mutable {
                                   (void)ws.send(data, is_binary);
                               });
                           }});

    if (auto st = server.listen(); !st) {
        std::cerr << "duplex-server: cannot listen on " << host << ":" << port << ": " << st.message() << "\n";
        return 2;
    }
    const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    std::printf("listening on http://%s:%u\n", shown_host.c_str(), static_cast<unsigned>(server.port()));
    std::fflush(stdout);

    std::thread([&loop, signals] {
        int sig = 0;
        sigwait(&signals, &sig);
        loop.post([&loop] { loop.stop(); });
    }).detach();

    loop.run();
    server.close();
    // Give the close frames a moment to leave.
    for (int i = 0; i < 20 && server.connection_count() > 0; ++i) loop.run_once(50);
    std::fprintf(stderr, "duplex-server: stopped\n");
    return 0;
}
