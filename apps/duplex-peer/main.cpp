// duplex-peer: a native WebRTC peer on the command line. It joins a room on
// a duplex signaling server (docs/signaling.md), connects a data channel to
// every peer there, and then echoes, sends a text, sends a file or receives
// files (docs/file-transfer.md).
//
//   duplex-peer --signal ws://HOST:PORT/signal --room R [--id NAME] [--token T]
//               [--bind ADDR] [--stun URL] [--label data] [--timeout SECONDS] [-v]
//               (--echo | --send TEXT | --send-file PATH | --receive-dir DIR)
//
// Negotiation: the peer that joins offers to every peer already in the room;
// the others answer. Should offers cross anyway (renegotiation), the W3C
// "perfect negotiation" pattern decides: the later joiner is polite.
// Exit codes: 0 done, 1 connection or transfer failed (the reason is printed),
// 2 usage.
#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>
#include <duplex/websocket.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

bool g_verbose = false;
void vlog(const std::string& s) {
    if (g_verbose) std::cerr << "duplex-peer: " << s << "\n";
}

/// SHA-256, fed piece by piece (the file-transfer protocol hashes streams).
class Sha256 {
public:
    Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(ctx_); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view d) { EVP_DigestUpdate(ctx_, d.data(), d.size()); }
    std::string hex() {
        unsigned char md[32];
        unsigned len = 0;
        EVP_DigestFinal_ex(ctx_, md, &len);
        static const char* digits = "0123456789abcdef";
        std::string s;
        for (unsigned i = 0; i < len; ++i) {
            s += digits[md[i] >> 4];
            s += digits[md[i] & 15];
        }
        return s;
    }

private:
    EVP_MD_CTX* ctx_;
};

std::optional<std::string> file_sha256(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return std::nullopt;
    Sha256 h;
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        h.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
    }
    return h.hex();
}

struct Options {
    std::string signal_url, room, id, token, bind, stun;
    std::string label = "data";
    double timeout = 0;
    std::optional<std::string> send_text;
    std::string send_file, receive_dir;
    bool echo = false;
};

class App;

/// One remote peer: its PeerConnection and the negotiation state of the
/// perfect-negotiation pattern (W3C webrtc-pc §10.7 example).
struct Link {
    std::string remote_id;
    duplex::PeerConnection pc;
    bool polite = false;
    bool making_offer = false;
    bool ignore_offer = false;
    duplex::DataChannel data;
};

/// Receives one file on one channel (docs/file-transfer.md).
struct FileReceiver {
    std::string name;
    std::uint64_t size = 0, got = 0;
    std::string sha256;
    std::unique_ptr<Sha256> hash;
    std::ofstream out;
    fs::path tmp_path;
    bool header = false, done = false;
};

class App {
public:
    App(duplex::EventLoop& loop, Options o) : loop_(loop), opt_(std::move(o)) {}

    int run() {
        duplex::ClientOptions co;
        ws_ = duplex::WebSocket::connect(loop_, opt_.signal_url, co);
        ws_.on_open([this] {
            json j = {{"type", "join"}, {"room", opt_.room}};
            if (!opt_.id.empty()) j["id"] = opt_.id;
            if (!opt_.token.empty()) j["token"] = opt_.token;
            (void)ws_.send(j.dump());
        });
        ws_.on_message([this](std::string_view data, bool) { on_signal_message(data); });
        ws_.on_close([this](std::uint16_t code, std::string_view reason) {
            if (!finished_) fail("signaling connection closed (" + std::to_string(code) + " " + std::string(reason) + ")");
        });
        ws_.on_error([this](std::error_code, std::string_view msg) {
            if (!finished_) fail("signaling: " + std::string(msg));
        });
        tick();
        if (opt_.timeout > 0) {
            loop_.set_timeout(std::chrono::milliseconds(static_cast<long>(opt_.timeout * 1000)), [this] {
                if (finished_) return;
                // Waiting modes end well at the timeout; one-shot modes have failed.
                if (opt_.echo || !opt_.receive_dir.empty()) finish(0);
                else fail("timed out after " + std::to_string(opt_.timeout) + " s");
            });
        }
        loop_.run();
        return exit_code_;
    }

private:
    void tick() {
        loop_.set_timeout(std::chrono::milliseconds(100), [this] {
            if (g_interrupted && !finished_) {
                vlog("interrupted");
                finish(opt_.echo || !opt_.receive_dir.empty() ? 0 : 1);
                if (exit_code_ == 1) std::cerr << "duplex-peer: interrupted\n";
            }
            if (!finished_) tick();
        });
    }

    void fail(const std::string& why) {
        if (finished_) return;
        std::cerr << "duplex-peer: " << why << "\n";
        finish(1);
    }

    void finish(int code) {
        if (finished_) return;
        finished_ = true;
        exit_code_ = code;
        for (auto& [id, link] : links_) link->pc.close();
        if (ws_) (void)ws_.close(1000);
        // Let the close_notify and the WebSocket close go out, then stop.
        loop_.set_timeout(std::chrono::milliseconds(200), [this] { loop_.stop(); });
    }

    void send_signal(const json& j) { (void)ws_.send(j.dump()); }

    duplex::Configuration configuration() const {
        duplex::Configuration c;
        for (const auto& url : ice_urls_) c.ice_servers.push_back({{url}, {}, {}});
        if (!opt_.bind.empty()) c.allowed_addresses = {opt_.bind};
        return c;
    }

    void on_signal_message(std::string_view data) {
        json m = json::parse(data, nullptr, false);
        if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) return;
        const std::string type = m["type"];
        if (type == "joined") {
            my_id_ = m.value("id", "");
            vlog("joined room " + opt_.room + " as " + my_id_);
            if (m.contains("iceServers") && m["iceServers"].is_array())
                for (const auto& s : m["iceServers"]) {
                    if (!s.contains("urls")) continue;
                    const auto& urls = s["urls"];
                    auto add = [this](const json& u) {
                        if (!u.is_string()) return;
                        std::string url = u;
                        if (url.rfind("stun:", 0) == 0) ice_urls_.push_back(url);
                        else vlog("ignoring ICE server " + url + " (TURN is not supported yet)");
                    };
                    if (urls.is_array()) for (const auto& u : urls) add(u);
                    else add(urls);
                }
            if (!opt_.stun.empty()) ice_urls_.push_back(opt_.stun);
            // The joiner offers to everyone already here (no glare by rule); it is
            // the polite side should an offer cross anyway.
            if (m.contains("peers") && m["peers"].is_array())
                for (const auto& p : m["peers"])
                    if (p.is_string()) start_link(p.get<std::string>(), /*offer=*/true);
        } else if (type == "peer-joined") {
            vlog("peer joined: " + m.value("id", ""));
        } else if (type == "peer-left") {
            const std::string id = m.value("id", "");
            vlog("peer left: " + id);
            if (auto it = links_.find(id); it != links_.end()) {
                it->second->pc.close();
                links_.erase(it);
                if (!opt_.send_file.empty() || opt_.send_text) fail("peer " + id + " left before the transfer finished");
            }
        } else if (type == "offer" || type == "answer") {
            on_description(m.value("from", ""), type, m.value("sdp", ""));
        } else if (type == "candidate") {
            auto it = links_.find(m.value("from", ""));
            if (it == links_.end()) return;
            std::string cand = m.contains("candidate") && m["candidate"].is_string() ? m["candidate"].get<std::string>() : "";
            auto st = it->second->pc.add_ice_candidate({cand, m.value("sdpMid", "0"), 0});
            if (!st.ok() && !it->second->ignore_offer) vlog("candidate refused: " + st.message());
        } else if (type == "error") {
            fail("signaling error " + m.value("code", "") + ": " + m.value("message", ""));
        }
    }

    Link& start_link(const std::string& remote, bool offer) {
        auto link = std::make_unique<Link>();
        link->remote_id = remote;
        link->polite = offer;  // the later joiner is polite
        link->pc = duplex::PeerConnection(loop_, configuration());
        Link& l = *link;
        links_[remote] = std::move(link);
        l.pc.on_ice_candidate([this, remote](const duplex::IceCandidate& c) {
            send_signal({{"type", "candidate"}, {"to", remote}, {"candidate", c.candidate}, {"sdpMid", c.sdp_mid},
                         {"sdpMLineIndex", c.sdp_mline_index}});
        });
        l.pc.on_connection_state_change([this, remote](duplex::PeerConnectionState s) {
            vlog("peer " + remote + ": connection " + duplex::to_string(s));
            if (s == duplex::PeerConnectionState::Failed) fail("connection to " + remote + " failed");
        });
        l.pc.on_ice_connection_state_change(
            [remote](duplex::IceConnectionState s) { vlog("peer " + remote + ": ice " + duplex::to_string(s)); });
        l.pc.on_data_channel([this, remote](duplex::DataChannel dc) { on_channel(remote, dc); });
        if (offer) {
            auto dc = l.pc.create_data_channel(opt_.label);
            if (!dc) {
                fail("create_data_channel: " + dc.status().message());
                return l;
            }
            l.data = *dc;
            on_channel(remote, *dc);
            negotiate(l);
        }
        return l;
    }

    void negotiate(Link& l) {
        l.making_offer = true;
        auto st = l.pc.set_local_description();
        l.making_offer = false;
        if (!st.ok()) return fail("set_local_description: " + st.message());
        auto d = l.pc.local_description();
        send_signal({{"type", duplex::to_string(d->type)}, {"to", l.remote_id}, {"sdp", d->sdp}});
    }

    void on_description(const std::string& from, const std::string& type, const std::string& sdp) {
        if (from.empty()) return;
        auto it = links_.find(from);
        Link& l = it != links_.end() ? *it->second : start_link(from, false);
        const bool is_offer = type == "offer";
        // Perfect negotiation: an offer that collides with ours is ignored by
        // the impolite side and wins on the polite side (rollback is implicit).
        const bool collision =
            is_offer && (l.making_offer || l.pc.signaling_state() != duplex::SignalingState::Stable);
        l.ignore_offer = !l.polite && collision;
        if (l.ignore_offer) {
            vlog("ignoring a colliding offer from " + from);
            return;
        }
        if (collision) {
            vlog("offer collision with " + from + ": rolling back ours (we are polite)");
            (void)l.pc.set_local_description({duplex::SdpType::Rollback, ""});
        }
        auto st = l.pc.set_remote_description({is_offer ? duplex::SdpType::Offer : duplex::SdpType::Answer, sdp});
        if (!st.ok()) return fail("set_remote_description(" + type + "): " + st.message());
        if (is_offer) {
            auto st2 = l.pc.set_local_description();
            if (!st2.ok()) return fail("answer: " + st2.message());
            auto d = l.pc.local_description();
            send_signal({{"type", "answer"}, {"to", from}, {"sdp", d->sdp}});
        }
    }

    void on_channel(const std::string& remote, duplex::DataChannel dc) {
        const std::string label = dc.label();
        dc.on_open([this, remote, dc]() mutable {
            vlog("channel '" + dc.label() + "' open with " + remote);
            if (dc.label() == opt_.label) on_data_open(remote, dc);
        });
        if (label.rfind("file", 0) == 0 && !opt_.receive_dir.empty()) {
            auto rx = std::make_shared<FileReceiver>();
            dc.on_message([this, dc, rx](std::string_view data, bool binary) mutable { on_file_message(dc, *rx, data, binary); });
            dc.on_close([this, rx] {
                if (!rx->done && rx->header) std::cerr << "duplex-peer: file " << rx->name << ": channel closed midway\n";
                if (!rx->tmp_path.empty() && !rx->done) fs::remove(rx->tmp_path);
            });
            return;
        }
        dc.on_message([this, dc](std::string_view data, bool binary) mutable { on_data_message(dc, data, binary); });
    }

    void on_data_open(const std::string& remote, duplex::DataChannel dc) {
        if (opt_.send_text) {
            (void)dc.send(*opt_.send_text);
        } else if (!opt_.send_file.empty()) {
            start_file_send(remote);
        }
    }

    void on_data_message(duplex::DataChannel dc, std::string_view data, bool binary) {
        if (opt_.echo) {
            (void)(binary ? dc.send_binary(data) : dc.send(data));
            return;
        }
        if (opt_.send_text && dc.label() == opt_.label) {
            std::cout << data << std::endl;
            finish(0);
        }
    }

    // --- sending a file ---
    void start_file_send(const std::string& remote) {
        auto it = links_.find(remote);
        if (it == links_.end() || sending_) return;
        sending_ = true;
        const fs::path path = opt_.send_file;
        std::error_code ec;
        const auto size = fs::file_size(path, ec);
        auto digest = file_sha256(path);
        if (ec || !digest) return fail("cannot read " + opt_.send_file);
        auto dc = it->second->pc.create_data_channel("file-1");
        if (!dc) return fail("create_data_channel: " + dc.status().message());
        auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
        file_total_ = size;
        auto ch = *dc;
        ch.set_buffered_amount_low_threshold(256 * 1024);
        ch.on_open([this, ch, in, size, digest = *digest, name = path.filename().string()]() mutable {
            (void)ch.send(json({{"type", "file"}, {"name", name}, {"size", size}, {"sha256", digest}}).dump());
            expected_sha_ = digest;
            pump_file(ch, in);
        });
        ch.on_buffered_amount_low([this, ch, in]() mutable { pump_file(ch, in); });
        ch.on_message([this](std::string_view data, bool binary) {
            if (binary) return;
            json m = json::parse(data, nullptr, false);
            if (!m.is_object()) return;
            if (m.value("type", "") == "file-ok") {
                if (m.value("sha256", "") == expected_sha_) {
                    std::cerr << "\nduplex-peer: sent " << file_total_ << " bytes, sha256 " << expected_sha_ << " confirmed\n";
                    finish(0);
                } else {
                    fail("the receiver confirmed a different sha256: " + m.value("sha256", ""));
                }
            } else if (m.value("type", "") == "file-error") {
                fail("the receiver refused the file: " + m.value("reason", "") + " " + m.value("message", ""));
            }
        });
        ch.on_close([this] {
            if (!finished_) fail("the file channel closed before the receiver confirmed");
        });
    }

    void pump_file(duplex::DataChannel ch, const std::shared_ptr<std::ifstream>& in) {
        if (ch.ready_state() != duplex::DataChannelState::Open || finished_) return;
        constexpr std::size_t kChunk = 64 * 1024, kHigh = 1024 * 1024;
        std::vector<char> buf(kChunk);
        while (!file_sent_all_ && ch.buffered_amount() < kHigh) {
            in->read(buf.data(), kChunk);
            const auto n = static_cast<std::size_t>(in->gcount());
            if (n > 0) {
                auto r = ch.send_binary(std::string_view(buf.data(), n));
                if (!r.ok()) return fail("send: " + r.message());
                file_sent_ += n;
                if (isatty(2)) {
                    std::fprintf(stderr, "\r%llu / %llu bytes (%d%%)", static_cast<unsigned long long>(file_sent_),
                                 static_cast<unsigned long long>(file_total_),
                                 file_total_ ? static_cast<int>(file_sent_ * 100 / file_total_) : 100);
                }
            }
            if (n < kChunk) {
                file_sent_all_ = true;
                (void)ch.send(json({{"type", "file-end"}}).dump());
                vlog("file sent, waiting for the receiver's digest");
            }
        }
    }

    // --- receiving files ---
    void on_file_message(duplex::DataChannel dc, FileReceiver& rx, std::string_view data, bool binary) {
        auto refuse = [&](const std::string& reason, const std::string& msg) {
            (void)dc.send(json({{"type", "file-error"}, {"reason", reason}, {"message", msg}}).dump());
            std::cerr << "duplex-peer: file refused (" << reason << "): " << msg << "\n";
            rx.done = true;
            rx.out.close();
            if (!rx.tmp_path.empty()) fs::remove(rx.tmp_path);
        };
        if (rx.done) return;
        if (binary) {
            if (!rx.header) return refuse("protocol", "data before the header");
            if (rx.got + data.size() > rx.size) return refuse("size", "more bytes than announced");
            rx.hash->update(data);
            rx.out.write(data.data(), static_cast<std::streamsize>(data.size()));
            rx.got += data.size();
            return;
        }
        json m = json::parse(data, nullptr, false);
        if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) return refuse("protocol", "not a JSON object");
        const std::string type = m["type"];
        if (type == "file" && !rx.header) {
            if (!m.contains("size") || !m["size"].is_number_unsigned() || !m.contains("sha256") || !m["sha256"].is_string())
                return refuse("protocol", "bad header");
            rx.header = true;
            rx.size = m["size"];
            rx.sha256 = m["sha256"];
            // The name is a suggestion, never a path (docs/file-transfer.md).
            std::string name = fs::path(m.value("name", "file")).filename().string();
            if (name.empty() || name == "." || name == "..") name = "file";
            rx.name = name;
            rx.hash = std::make_unique<Sha256>();
            rx.tmp_path = fs::path(opt_.receive_dir) / ("." + name + ".part");
            rx.out.open(rx.tmp_path, std::ios::binary | std::ios::trunc);
            if (!rx.out) return refuse("too-large", "cannot write into " + opt_.receive_dir);
        } else if (type == "file-end" && rx.header) {
            if (rx.got != rx.size) return refuse("size", "got " + std::to_string(rx.got) + " of " + std::to_string(rx.size) + " bytes");
            const std::string got = rx.hash->hex();
            if (got != rx.sha256) return refuse("sha256", "expected " + rx.sha256 + ", got " + got);
            rx.out.close();
            fs::rename(rx.tmp_path, fs::path(opt_.receive_dir) / rx.name);
            rx.done = true;
            (void)dc.send(json({{"type", "file-ok"}, {"sha256", got}}).dump());
            std::cout << "received " << rx.name << " " << rx.size << " bytes sha256 " << got << std::endl;
        } else {
            return refuse("protocol", "unexpected message '" + type + "'");
        }
    }

    duplex::EventLoop& loop_;
    Options opt_;
    duplex::WebSocket ws_;
    std::string my_id_;
    std::vector<std::string> ice_urls_;
    std::map<std::string, std::unique_ptr<Link>> links_;
    bool finished_ = false;
    int exit_code_ = 1;
    bool sending_ = false, file_sent_all_ = false;
    std::uint64_t file_total_ = 0, file_sent_ = 0;
    std::string expected_sha_;
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"duplex-peer: a native WebRTC peer that joins a duplex signaling room"};
    Options o;
    std::string send_text;
    cli.add_option("--signal", o.signal_url, "signaling server, ws://HOST:PORT/signal")->required();
    cli.add_option("--room", o.room, "room to join")->required();
    cli.add_option("--id", o.id, "requested peer id");
    cli.add_option("--token", o.token, "room token (duplex-server token)");
    cli.add_option("--bind", o.bind, "gather host candidates only from this address or prefix (e.g. 127.0.0.1)");
    cli.add_option("--stun", o.stun, "a STUN server, stun:HOST:PORT");
    cli.add_option("--label", o.label, "the data channel's label (the demo page's chat is \"chat\")")->capture_default_str();
    cli.add_option("--timeout", o.timeout, "give up (or, for --echo/--receive-dir, stop) after this many seconds");
    cli.add_flag("-v,--verbose", g_verbose, "log state changes");
    auto* mode = cli.add_option_group("mode", "what to do once connected");
    mode->add_flag("--echo", o.echo, "send every message back on its channel");
    auto* send_opt = mode->add_option("--send", send_text, "send a text, print the first reply, exit");
    mode->add_option("--send-file", o.send_file, "send a file (docs/file-transfer.md), exit when confirmed");
    mode->add_option("--receive-dir", o.receive_dir, "store received files here");
    mode->require_option(1);
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = cli.exit(e);
        return rc == 0 ? 0 : 2;
    }
    if (send_opt->count() > 0) o.send_text = send_text;
    if (!o.receive_dir.empty() && !fs::is_directory(o.receive_dir)) {
        std::cerr << "duplex-peer: --receive-dir " << o.receive_dir << " is not a directory\n";
        return 2;
    }
    if (!o.send_file.empty() && !fs::is_regular_file(o.send_file)) {
        std::cerr << "duplex-peer: --send-file " << o.send_file << " is not a readable file\n";
        return 2;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    duplex::EventLoop loop;
    App app(loop, o);
    return app.run();
}
