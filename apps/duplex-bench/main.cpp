// duplex-bench: a WebSocket load generator for any server.
//
//   duplex-bench echo    ws://127.0.0.1:8080/echo --connections 100 --size 16 --depth 16 --duration 10
//   duplex-bench fanout  ws://127.0.0.1:8080/pubsub/bench --connections 1000 --publishers 1 --rate 1000
//   duplex-bench connect ws://127.0.0.1:8080/echo --connections 50
//   duplex-bench idle    ws://127.0.0.1:8080/echo --connections 10000 --server-pid PID [--warm 1]
//   duplex-bench rtc     [--megabytes 64] [--message-size 65536] [--processes] (data channels, rtc.cpp)
//   duplex-bench media   [--packets 200000] [--rounds 3] (RTP over SRTP against libsrtp2's floor, media.cpp)
//
// Prints a progress line every second and a summary at the end (JSON with
// --json). Bounded by --duration and --connections.
#include "kernel_sampler.hpp"
#include "load.hpp"
#include "process_sampler.hpp"
#include "media.hpp"
#include "rtc.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

using namespace duplex;
using namespace duplex::bench;

namespace {

struct Url {
    bool tls = false;
    std::string host, path;
    std::uint16_t port = 0;
};

bool parse_url(const std::string& s, Url& u) {
    std::string rest;
    if (s.rfind("ws://", 0) == 0) rest = s.substr(5);
    else if (s.rfind("wss://", 0) == 0) rest = s.substr(6), u.tls = true;
    else return false;
    const auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    u.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    if (colon == std::string::npos || authority.back() == ']') return false;  // the port is required
    u.host = authority.substr(0, colon);
    if (!u.host.empty() && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
    try {
        const int p = std::stoi(authority.substr(colon + 1));
        if (p <= 0 || p > 65535) return false;
        u.port = static_cast<std::uint16_t>(p);
    } catch (...) {
        return false;
    }
    return runtime::Address::parse(u.host, u.port).has_value();
}

bool parse_sources(const std::string& spec, std::vector<runtime::Address>& out) {
    // "127.0.0.2-127.0.0.20" or "127.0.0.2,127.0.0.3"
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
        const auto dash = item.find('-');
        if (dash == std::string::npos) {
            auto a = runtime::Address::parse(item, 0);
            if (!a) return false;
            out.push_back(*a);
            continue;
        }
        const std::string lo = item.substr(0, dash), hi = item.substr(dash + 1);
        const auto last_dot = lo.rfind('.');
        if (last_dot == std::string::npos || hi.rfind(lo.substr(0, last_dot + 1), 0) != 0) return false;
        const int a = std::stoi(lo.substr(last_dot + 1)), b = std::stoi(hi.substr(last_dot + 1));
        for (int i = a; i <= b; ++i) {
            auto addr = runtime::Address::parse(lo.substr(0, last_dot + 1) + std::to_string(i), 0);
            if (!addr) return false;
            out.push_back(*addr);
        }
    }
    return !out.empty();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::string_view(argv[1]) == "rtc") return run_rtc(argc - 1, argv + 1);
    if (argc >= 2 && std::string_view(argv[1]) == "media") return run_media(argc - 1, argv + 1);
    CLI::App app{"duplex-bench: a load generator for WebSocket servers, and for data channels (rtc)", "duplex-bench"};
    app.footer(
        "Modes: echo, fanout, connect, idle (below: a WebSocket URL and these options), and\n"
        "  duplex-bench rtc [--megabytes 64] [--message-size 65536] [--processes]   data-channel goodput and setup time\n"
        "  duplex-bench media [--packets 200000] [--rounds 3]   RTP/SRTP packets per second against libsrtp2's floor\n"
        "  (duplex-bench rtc --help lists its options)");
    std::string mode_name, url_text, sources_spec, ca_file;
    Config cfg;
    double duration_s = 10;
    unsigned threads = 1;
    int server_pid = 0;
    bool json = false, insecure = false;
    app.add_option("mode", mode_name, "echo | fanout | connect | idle (| rtc, see below)")->required()->check(CLI::IsMember({"echo", "fanout", "connect", "idle"}));
    app.add_option("url", url_text, "ws://HOST:PORT/PATH or wss://... (numeric host)")->required();
    app.add_option("--connections,-c", cfg.connections, "connections (fanout: subscribers + publishers)")->capture_default_str();
    app.add_option("--size,-s", cfg.size, "message payload bytes")->capture_default_str();
    app.add_option("--depth,-d", cfg.depth, "echo: messages in flight per connection")->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--duration", duration_s, "seconds to run")->check(CLI::Range(0.1, 3600.0))->capture_default_str();
    app.add_option("--threads,-t", threads, "load generator threads")->check(CLI::Range(1u, 64u))->capture_default_str();
    app.add_option("--publishers", cfg.publishers, "fanout: publishing connections")->capture_default_str();
    app.add_option("--rate", cfg.rate, "fanout: messages per second per publisher")->capture_default_str();
    std::string publish_url;
    app.add_option("--publish-url", publish_url, "fanout: publishers connect here (another node), subscribers to URL");
    app.add_flag("--socketio", cfg.socketio, "fanout: the server speaks Socket.IO (Engine.IO 4 over WebSocket), a baseline");
    app.add_flag("--binary", cfg.binary, "binary messages (default text)");
    app.add_flag("--deflate", cfg.deflate, "offer permessage-deflate");
    app.add_flag("--no-context-takeover", cfg.no_context_takeover, "with --deflate: ask for server_no_context_takeover");
    app.add_option("--ca", ca_file, "wss: trust this CA file");
    app.add_flag("--insecure", insecure, "wss: do not verify the certificate");
    app.add_option("--sources", sources_spec, "local addresses to connect from, e.g. 127.0.0.2-127.0.0.40");
    app.add_option("--server-pid", server_pid, "sample this process's CPU and RSS");
    app.add_flag("--json", json, "print the summary as JSON");
    app.add_flag("--raw", cfg.raw, "no opening handshake (to measure a raw TCP echo, the floor)");
    app.add_option("--warm", cfg.warm, "idle: messages each connection sends (and gets back) before it idles")
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "duplex-bench: " << e.what() << "\n";
        return 2;
    }
    Url url;
    if (!parse_url(url_text, url)) {
        std::cerr << "duplex-bench: the URL must be ws[s]://NUMERIC-HOST:PORT/PATH: " << url_text << "\n";
        return 2;
    }
    cfg.mode = mode_name == "echo" ? Mode::Echo : mode_name == "fanout" ? Mode::Fanout : mode_name == "connect" ? Mode::Connect : Mode::Idle;
    cfg.host = url.host;
    cfg.port = url.port;
    cfg.path = url.path;
    if (!publish_url.empty()) {
        Url pu;
        if (!parse_url(publish_url, pu) || pu.tls != url.tls) {
            std::cerr << "duplex-bench: --publish-url must be a URL like the first: " << publish_url << "\n";
            return 2;
        }
        cfg.pub_host = pu.host;
        cfg.pub_port = pu.port;
        cfg.pub_path = pu.path;
    }
    cfg.tls = url.tls;
    if (cfg.tls) {
        std::string why;
        auto ctx = runtime::TlsContext::client(ca_file, insecure, why);
        if (!ctx) {
            std::cerr << "duplex-bench: " << why << "\n";
            return 2;
        }
        cfg.tls_ctx = ctx.value();
    }
    if (!sources_spec.empty() && !parse_sources(sources_spec, cfg.sources)) {
        std::cerr << "duplex-bench: bad --sources: " << sources_spec << "\n";
        return 2;
    }
    if (cfg.mode == Mode::Fanout && cfg.publishers >= cfg.connections) {
        std::cerr << "duplex-bench: fanout needs more --connections than --publishers\n";
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);

    // Spread connections (and publishers) over the threads.
    std::vector<std::unique_ptr<Worker>> workers;
    std::size_t next = 0;
    for (unsigned t = 0; t < threads; ++t) {
        const std::size_t n = cfg.connections / threads + (t < cfg.connections % threads ? 1 : 0);
        const std::size_t pubs = cfg.mode == Mode::Fanout ? cfg.publishers / threads + (t < cfg.publishers % threads ? 1 : 0) : 0;
        workers.push_back(std::make_unique<Worker>(cfg, next, n, pubs));
        next += n;
    }
    const auto duration = std::chrono::milliseconds(static_cast<long>(duration_s * 1000));
    const ProcessSample server_before = server_pid ? sample_process(server_pid) : ProcessSample{};
    const KernelSample kernel_before = server_pid ? sample_kernel() : KernelSample{};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&w, duration] { w->run(duration); });

    auto total = [&](auto field) {
        std::uint64_t sum = 0;
        for (auto& w : workers) sum += (w->counters.*field).load(std::memory_order_relaxed);
        return sum;
    };
    std::uint64_t last_msgs = 0, peak_rss = server_before.rss_bytes;
    std::uint64_t rss_at_full_open = 0, anon_at_full_open = 0;
    KernelSample kernel_at_full_open;
    for (int second = 1;; ++second) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        const auto elapsed = std::chrono::steady_clock::now() - start;
        const std::uint64_t msgs = total(&Counters::received);
        std::string server;
        if (server_pid) {
            const auto s = sample_process(server_pid);
            peak_rss = std::max(peak_rss, s.rss_bytes);
            // The last sample with every connection open: the steady state of
            // the hold, not the moment the storm of handshakes ended.
            if (total(&Counters::open) >= cfg.connections && elapsed < duration) {
                rss_at_full_open = s.rss_bytes;
                anon_at_full_open = s.anon_bytes;
                kernel_at_full_open = sample_kernel();
            }
            server = " server rss=" + std::to_string(s.rss_bytes >> 20) + "MiB";
        }
        std::fprintf(stderr, "[%3ds] open=%llu msgs/s=%llu handshakes=%llu errors=%llu%s\n", second,
                     static_cast<unsigned long long>(total(&Counters::open)),
                     static_cast<unsigned long long>(msgs - last_msgs),
                     static_cast<unsigned long long>(total(&Counters::handshakes)),
                     static_cast<unsigned long long>(total(&Counters::errors)), server.c_str());
        last_msgs = msgs;
        if (elapsed >= duration) break;
    }
    const ProcessSample server_after = server_pid ? sample_process(server_pid) : ProcessSample{};
    for (auto& t : running) t.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    Histogram latency;
    for (auto& w : workers) latency.merge(w->latency);

    const double received = static_cast<double>(total(&Counters::received));
    const double mb = static_cast<double>(total(&Counters::bytes_in)) / 1e6;
    const double cpu = server_pid ? (server_after.cpu_seconds - server_before.cpu_seconds) / secs * 100 : 0;
    // Per connection: how much the server grew once all were open. The
    // private anonymous memory (anon) is the figure to compare; VmRSS also
    // counts code pages the first connections faulted in.
    auto per_conn = [&](std::uint64_t at_open, std::uint64_t before) {
        return (server_pid && at_open > before && cfg.connections > 0)
                   ? static_cast<double>(at_open - before) / static_cast<double>(cfg.connections)
                   : 0.0;
    };
    const double rss_per_conn = per_conn(rss_at_full_open, server_before.rss_bytes);
    const double anon_per_conn = per_conn(anon_at_full_open, server_before.anon_bytes);
    // The kernel's, system-wide: on loopback, both ends of every connection.
    const bool kernel_ok = kernel_before.ok && kernel_at_full_open.ok;
    const double kernel_sockets_per_conn =
        kernel_ok ? per_conn(kernel_at_full_open.socket_objects, kernel_before.socket_objects) : 0.0;
    const double kernel_buffers_per_conn =
        kernel_ok ? per_conn(kernel_at_full_open.tcp_buffers, kernel_before.tcp_buffers) : 0.0;
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    if (json) {
        std::printf("{\"mode\":\"%s\",\"url\":\"%s\",\"connections\":%zu,\"size\":%zu,\"depth\":%zu,\"seconds\":%.3f,"
                    "\"messages\":%.0f,\"messages_per_second\":%.1f,\"megabytes_per_second\":%.3f,"
                    "\"handshakes\":%llu,\"handshakes_per_second\":%.1f,\"errors\":%llu,"
                    "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f},"
                    "\"server\":{\"cpu_percent\":%.1f,\"rss_bytes\":%llu,\"peak_rss_bytes\":%llu,\"rss_per_connection\":%.0f,"
                    "\"anon_per_connection\":%.0f,\"kernel_sockets_per_connection_both_ends\":%.0f,"
                    "\"kernel_tcp_buffers_per_connection_both_ends\":%.0f}}\n",
                    mode_name.c_str(), url_text.c_str(), cfg.connections, cfg.size, cfg.depth, secs, received, received / secs,
                    mb / secs, static_cast<unsigned long long>(total(&Counters::handshakes)),
                    static_cast<double>(total(&Counters::handshakes)) / secs,
                    static_cast<unsigned long long>(total(&Counters::errors)), us(latency.quantile(0.5)),
                    us(latency.quantile(0.99)), us(latency.quantile(0.999)), cpu,
                    static_cast<unsigned long long>(server_after.rss_bytes), static_cast<unsigned long long>(peak_rss), rss_per_conn,
                    anon_per_conn, kernel_sockets_per_conn, kernel_buffers_per_conn);
    } else {
        std::printf("%s %s: %zu connections, %.1f s\n", mode_name.c_str(), url_text.c_str(), cfg.connections, secs);
        std::printf("  messages: %.0f (%.0f/s, %.2f MB/s in)\n", received, received / secs, mb / secs);
        std::printf("  handshakes: %llu (%.0f/s), errors: %llu\n", static_cast<unsigned long long>(total(&Counters::handshakes)),
                    static_cast<double>(total(&Counters::handshakes)) / secs, static_cast<unsigned long long>(total(&Counters::errors)));
        std::printf("  latency: p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n", us(latency.quantile(0.5)), us(latency.quantile(0.99)),
                    us(latency.quantile(0.999)));
        if (server_pid)
            std::printf("  server: cpu %.0f%%, rss %llu MiB (peak %llu MiB), per connection %.0f B anonymous (%.0f B rss)\n",
                        cpu, static_cast<unsigned long long>(server_after.rss_bytes >> 20),
                        static_cast<unsigned long long>(peak_rss >> 20), anon_per_conn, rss_per_conn);
        if (server_pid && kernel_ok)
            std::printf("  kernel (system-wide; on loopback both ends of each connection): %.0f B of socket objects and "
                        "%.0f B of TCP buffers per connection\n",
                        kernel_sockets_per_conn, kernel_buffers_per_conn);
    }
    return total(&Counters::errors) > 0 && cfg.mode != Mode::Connect ? 1 : 0;
}
