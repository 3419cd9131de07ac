// duplex-bench rtc: data-channel goodput and setup time between two
// PeerConnections, in one process (one loop) or in two processes (a fork,
// signaling over a socketpair). Only loopback addresses are used.
//
//   duplex-bench rtc [--megabytes 64] [--message-size 65536] [--processes] [--json]
//                    [--turn URL --turn-user U --turn-pass P [--relay one|both]]   (relay-only through it)
//
// setup: from the first PeerConnection's creation to the offerer's channel
// being open. goodput: payload bytes per second from the first send to the
// last byte received; the sender keeps buffered_amount under 1 MiB and
// refills on buffered_amount_low (threshold 256 KiB), as a browser app would.
// DUPLEX_BENCH_TRACE=1 prints when each setup step happened (one process).
#include "rtc.hpp"

#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include "runtime/loop.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

namespace duplex::bench {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

struct RtcConfig {
    std::size_t bytes = 64u << 20;
    std::size_t message_size = 64 * 1024;
    std::size_t high_water = 1u << 20;
    std::size_t low_water = 256u * 1024;
    double timeout_s = 60;
    int ice_pacing_ms = 50;
};

struct RtcResult {
    double setup_ms = 0;
    double seconds = 0;
    std::size_t bytes = 0;
    bool ok = false;
    std::string error;
};

int g_ice_pacing_ms = 50;
std::optional<IceServer> g_turn;  // --turn: relay-only through it (both peers, or the offerer: --relay one)
bool g_relay_both = true;

/// `sender`: the offerer's configuration (with --relay one, only it goes through the relay).
Configuration loopback(bool sender = true) {
    Configuration c;
    c.allowed_addresses = {"127.0.0.1"};
    c.ice_pacing = std::chrono::milliseconds(g_ice_pacing_ms);
    if (g_turn && (sender || g_relay_both)) {
        c.ice_servers = {*g_turn};
        c.ice_transport_policy = IceTransportPolicy::Relay;
    }
    return c;
}

/// Feeds a channel up to the high-water mark; called again on buffered-low.
struct Sender {
    DataChannel dc;
    const RtcConfig& cfg;
    std::string chunk;
    std::size_t sent = 0;
    Clock::time_point first_send{};

    Sender(DataChannel d, const RtcConfig& c) : dc(std::move(d)), cfg(c), chunk(c.message_size, 'x') {}
    void pump() {
        if (sent == 0) first_send = Clock::now();
        while (sent < cfg.bytes && dc.buffered_amount() < cfg.high_water) {
            const std::size_t n = std::min(cfg.message_size, cfg.bytes - sent);
            if (!dc.send_binary(std::string_view(chunk).substr(0, n)).ok()) return;
            sent += n;
        }
    }
};

RtcResult in_process(const RtcConfig& cfg) {
    RtcResult r;
    EventLoop loop;
    const auto t0 = Clock::now();
    PeerConnection a(loop, loopback(true)), b(loop, loopback(false));
    const bool trace = std::getenv("DUPLEX_BENCH_TRACE") != nullptr;
    auto mark = [&](const char* what) {
        if (trace) std::fprintf(stderr, "%.1f ms: %s\n", std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), what);
    };
    mark("two PeerConnections created");
    std::vector<IceCandidate> to_a, to_b;
    auto deliver = [](PeerConnection& pc, std::vector<IceCandidate>& q) {
        if (!pc.remote_description()) return;
        for (auto& c : q) (void)pc.add_ice_candidate(c);
        q.clear();
    };
    a.on_ice_candidate([&](const IceCandidate& c) { to_b.push_back(c); deliver(b, to_b); });
    if (trace) {
        a.on_ice_connection_state_change([t0](IceConnectionState s) {
            std::fprintf(stderr, "%.1f ms: ice %s\n", std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), to_string(s));
        });
        a.on_connection_state_change([t0](PeerConnectionState s) {
            std::fprintf(stderr, "%.1f ms: connection %s\n", std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), to_string(s));
        });
    }
    b.on_ice_candidate([&](const IceCandidate& c) { to_a.push_back(c); deliver(a, to_a); });
    std::size_t received = 0;
    std::optional<Clock::time_point> done_at;
    b.on_data_channel([&](DataChannel dc) {
        dc.on_message([&](std::string_view d, bool) {
            received += d.size();
            if (received >= cfg.bytes && !done_at) done_at = Clock::now();
        });
    });
    auto dc = a.create_data_channel("bench");
    if (!dc) return {0, 0, 0, false, dc.status().message()};
    Sender sender(*dc, cfg);
    std::optional<Clock::time_point> open_at;
    dc->set_buffered_amount_low_threshold(cfg.low_water);
    dc->on_buffered_amount_low([&] { sender.pump(); });
    dc->on_open([&] {
        open_at = Clock::now();
        sender.pump();
    });
    (void)a.set_local_description();
    mark("offer set");
    (void)b.set_remote_description(*a.local_description());
    deliver(b, to_b);
    (void)b.set_local_description();
    mark("answer set");
    (void)a.set_remote_description(*b.local_description());
    deliver(a, to_a);
    mark("negotiated");
    const auto give_up = t0 + std::chrono::milliseconds(static_cast<long>(cfg.timeout_s * 1000));
    while (!done_at && Clock::now() < give_up) loop.run_once(10);
    if (!open_at || !done_at) {
        r.error = open_at ? "transfer timed out" : "the channel did not open";
        return r;
    }
    r.setup_ms = std::chrono::duration<double, std::milli>(*open_at - t0).count();
    r.seconds = std::chrono::duration<double>(*done_at - sender.first_send).count();
    r.bytes = received;
    r.ok = true;
    a.close();
    b.close();
    return r;
}

// --- two processes: signaling as JSON lines over a socketpair ---

class LineChannel final : runtime::Loop::IoHandler {
public:
    LineChannel(runtime::Loop& loop, int fd, std::function<void(const json&)> on_msg)
        : loop_(loop), fd_(fd), on_msg_(std::move(on_msg)) {
        loop_.add_fd(fd_, EPOLLIN, this);
    }
    ~LineChannel() { loop_.remove_fd(fd_); }
    void send(const json& j) {
        std::string s = j.dump() + "\n";
        const char* p = s.data();
        std::size_t left = s.size();
        while (left > 0) {
            ssize_t n = ::write(fd_, p, left);
            if (n <= 0) return;
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }

private:
    void on_io(std::uint32_t) override {
        char buf[65536];
        ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) return;
        in_.append(buf, static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = in_.find('\n')) != std::string::npos;) {
            auto j = json::parse(in_.substr(0, nl), nullptr, false);
            in_.erase(0, nl + 1);
            if (j.is_object()) on_msg_(j);
        }
    }
    runtime::Loop& loop_;
    int fd_;
    std::function<void(const json&)> on_msg_;
    std::string in_;
};

/// One side of the two-process run. The offerer sends and measures.
RtcResult run_side(int fd, bool offerer, const RtcConfig& cfg) {
    RtcResult r;
    EventLoop loop;
    const auto t0 = Clock::now();
    PeerConnection pc(loop, loopback(offerer));
    std::vector<IceCandidate> early;
    std::optional<Clock::time_point> open_at, done_at;
    std::size_t received = 0;
    std::optional<Sender> sender;
    LineChannel* chan = nullptr;
    LineChannel line(loop.runtime(), fd, [&](const json& m) {
        const std::string type = m.value("type", "");
        if (type == "offer" || type == "answer") {
            (void)pc.set_remote_description({type == "offer" ? SdpType::Offer : SdpType::Answer, m.value("sdp", "")});
            for (auto& c : early) (void)pc.add_ice_candidate(c);
            early.clear();
            if (type == "offer") {
                (void)pc.set_local_description();
                chan->send({{"type", "answer"}, {"sdp", pc.local_description()->sdp}});
            }
        } else if (type == "candidate") {
            IceCandidate c{m.value("candidate", ""), "0", 0};
            if (pc.remote_description()) (void)pc.add_ice_candidate(c);
            else early.push_back(c);
        } else if (type == "done") {
            done_at = Clock::now();
            received = m.value("bytes", std::size_t{0});
        }
    });
    chan = &line;
    pc.on_ice_candidate([&](const IceCandidate& c) { line.send({{"type", "candidate"}, {"candidate", c.candidate}}); });
    if (offerer) {
        auto dc = pc.create_data_channel("bench");
        if (!dc) return {0, 0, 0, false, dc.status().message()};
        sender.emplace(*dc, cfg);
        dc->set_buffered_amount_low_threshold(cfg.low_water);
        dc->on_buffered_amount_low([&] { sender->pump(); });
        dc->on_open([&] {
            open_at = Clock::now();
            sender->pump();
        });
        (void)pc.set_local_description();
        line.send({{"type", "offer"}, {"sdp", pc.local_description()->sdp}});
    } else {
        pc.on_data_channel([&](DataChannel dc) {
            dc.on_message([&, dc](std::string_view d, bool) {
                received += d.size();
                if (received >= cfg.bytes && !done_at) {
                    done_at = Clock::now();
                    line.send({{"type", "done"}, {"bytes", received}});
                }
            });
        });
    }
    const auto give_up = t0 + std::chrono::milliseconds(static_cast<long>(cfg.timeout_s * 1000));
    while (!done_at && Clock::now() < give_up) loop.run_once(10);
    // Let the last message (done) and the DTLS close out before leaving.
    const auto linger = Clock::now() + std::chrono::milliseconds(100);
    while (Clock::now() < linger) loop.run_once(10);
    if (!done_at) {
        r.error = open_at || !offerer ? "transfer timed out" : "the channel did not open";
        return r;
    }
    if (offerer) {
        r.setup_ms = std::chrono::duration<double, std::milli>(*open_at - t0).count();
        r.seconds = std::chrono::duration<double>(*done_at - sender->first_send).count();
        r.bytes = received;
    }
    r.ok = true;
    pc.close();
    return r;
}

RtcResult two_processes(const RtcConfig& cfg) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return {0, 0, 0, false, "socketpair failed"};
    const pid_t child = ::fork();
    if (child < 0) return {0, 0, 0, false, "fork failed"};
    if (child == 0) {
        ::close(sv[0]);
        auto r = run_side(sv[1], false, cfg);
        ::_exit(r.ok ? 0 : 1);
    }
    ::close(sv[1]);
    auto r = run_side(sv[0], true, cfg);
    ::close(sv[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (r.ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        r.ok = false;
        r.error = "the answering process failed";
    }
    return r;
}

}  // namespace

int run_rtc(int argc, char** argv) {
    CLI::App app{"duplex-bench rtc: data-channel goodput and setup time between two PeerConnections", "duplex-bench rtc"};
    RtcConfig cfg;
    std::size_t megabytes = 64;
    bool processes = false, json_out = false;
    app.add_option("--megabytes", megabytes, "MiB to send")->check(CLI::Range(std::size_t{1}, std::size_t{4096}))->capture_default_str();
    app.add_option("--message-size", cfg.message_size, "bytes per message")->check(CLI::Range(std::size_t{1}, std::size_t{256 * 1024}))->capture_default_str();
    app.add_option("--timeout", cfg.timeout_s, "seconds before giving up")->capture_default_str();
    app.add_flag("--processes", processes, "the two peers in two processes (fork) instead of one loop");
    app.add_option("--ice-pacing-ms", cfg.ice_pacing_ms, "ICE Ta (RFC 8445 §14.2)")->check(CLI::Range(1, 1000))->capture_default_str();
    app.add_flag("--json", json_out, "print the result as JSON");
    std::string turn_url, turn_user, turn_pass;
    app.add_option("--turn", turn_url, "both peers relay-only through this TURN server (turn:127.0.0.1:3478, "
                   "?transport=tcp, turns:); with --turn-user and --turn-pass");
    app.add_option("--turn-user", turn_user, "the TURN server's username");
    app.add_option("--turn-pass", turn_pass, "the TURN server's password");
    std::string relay = "both";
    app.add_option("--relay", relay, "with --turn: both peers relay-only (every packet crosses the relay twice, "
                   "relay to relay), or one (the sender only: once)")->check(CLI::IsMember({"one", "both"}))->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "duplex-bench rtc: " << e.what() << "\n";
        return 2;
    }
    cfg.bytes = megabytes << 20;
    g_ice_pacing_ms = cfg.ice_pacing_ms;
    if (!turn_url.empty()) g_turn = IceServer{{turn_url}, turn_user, turn_pass};
    g_relay_both = relay == "both";
    const auto r = processes ? two_processes(cfg) : in_process(cfg);
    if (!r.ok) {
        std::cerr << "duplex-bench rtc: " << r.error << "\n";
        return 1;
    }
    const double mbps = static_cast<double>(r.bytes) / r.seconds / 1e6;
    if (json_out)
        std::printf("{\"mode\":\"rtc\",\"relayed\":%s,\"processes\":%s,\"message_size\":%zu,\"bytes\":%zu,\"setup_ms\":%.2f,"
                    "\"seconds\":%.4f,\"megabytes_per_second\":%.2f}\n",
                    g_turn ? "true" : "false", processes ? "true" : "false", cfg.message_size, r.bytes, r.setup_ms, r.seconds, mbps);
    else
        std::printf("rtc (%s%s): setup %.1f ms, %zu bytes in %.3f s: %.1f MB/s\n", processes ? "two processes" : "one process",
                    g_turn ? ", relayed" : "", r.setup_ms, r.bytes, r.seconds, mbps);
    return 0;
}

}  // namespace duplex::bench
