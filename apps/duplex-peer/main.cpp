// duplex-peer: a native WebRTC peer on the command line. It joins a room on
// a duplex signaling server (docs/signaling.md), connects a data channel to
// every peer there, and then echoes, sends a text, sends a file or receives
// files (docs/file-transfer.md).
//
//   duplex-peer --signal ws://HOST:PORT/signal --room R [--id NAME] [--token T]
//               [--bind ADDR] [--stun URL] [--label data] [--timeout SECONDS]
//               [--max-peers N] [-v | -q]
//               (--echo | --send TEXT | --send-file PATH | --receive-dir DIR)
//
// Negotiation: the peer that joins offers to every peer already in the room;
// the others answer. Should offers cross anyway (renegotiation), the W3C
// "perfect negotiation" pattern decides: the later joiner is polite.
// Status lines go to stderr (-q: errors only, -v: detail); stdout carries
// what was received (a --send reply, one line per received file).
// Exit codes: 0 done, 1 connection or transfer failed (the reason is printed),
// 2 usage.
#include "app.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>

namespace duplex_peer {
std::atomic<bool> g_interrupted{false};
}

namespace {

void on_signal(int) { duplex_peer::g_interrupted = true; }

int usage_error(const std::string& why) {
    std::cerr << "duplex-peer: " << why << " (see --help)\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    using duplex_peer::signal::is_valid_name;
    CLI::App cli{"duplex-peer: a native WebRTC peer that joins a duplex signaling room", "duplex-peer"};
    duplex_peer::Options o;
    std::string send_text;
    bool verbose = false, quiet = false;
    cli.add_option("--signal", o.signal_url, "signaling server, ws://HOST:PORT/signal (or wss://)")->required();
    cli.add_option("--room", o.room, "room to join (1-64 characters of A-Za-z0-9_.-)")->required();
    cli.add_option("--id", o.id, "requested peer id (default: the server picks one)");
    cli.add_option("--token", o.token, "room token (duplex-server token)");
    cli.add_option("--bind", o.bind, "gather host candidates only from this address or prefix (e.g. 127.0.0.1)");
    cli.add_option("--stun", o.stun, "a STUN server, stun:HOST:PORT (repeatable)");
    cli.add_option("--turn", o.turn, "a TURN server: turn:HOST[:PORT] (UDP), turn:HOST[:PORT]?transport=tcp or "
                   "turns:HOST[:PORT] (TLS) (repeatable; with --turn-user and --turn-pass)");
    cli.add_option("--turn-ca", o.turn_ca, "check turns: servers' certificates against these CAs (PEM file)");
    cli.add_option("--turn-user", o.turn_user, "the TURN servers' username (long-term credentials)");
    cli.add_option("--turn-pass", o.turn_pass, "the TURN servers' password");
    cli.add_flag("--relay-only", o.relay_only, "use relayed candidates only (every path through a TURN server)");
    cli.add_flag("--ice-tcp", o.ice_tcp, "also listen for ICE over TCP (RFC 6544 passive candidates): peers whose "
                 "UDP is blocked reach us without a TURN server");
    cli.add_option("--label", o.label, "the data channel's label (the demo page's chat is \"chat\")")->capture_default_str();
    cli.add_option("--timeout", o.timeout, "give up (or, for --echo/--receive-dir, leave) after this many seconds");
    cli.add_option("--join-timeout", o.join_timeout, "seconds to wait for the server to answer the join")
        ->capture_default_str();
    cli.add_option("--reply-timeout", o.reply_timeout, "--send: seconds to wait for a reply before finishing")
        ->capture_default_str();
    cli.add_option("--delay", o.delay, "--send, --send-file: wait this many seconds after the channel opens before sending");
    cli.add_option("--max-peers", o.max_peers, "peers to connect to at most; others are ignored")->capture_default_str();
    auto* v = cli.add_flag("-v,--verbose", verbose, "also print the detail (ICE states, channels)");
    cli.add_flag("-q,--quiet", quiet, "print errors only")->excludes(v);
    cli.add_flag("--media-echo", o.media_echo,
                 "with any mode: send every audio and video track a peer sends back to it (offers audio and video "
                 "when duplex-peer makes the offer)");
    cli.add_option("--video", o.media.video,
                   "send video to every peer: testsrc (a moving test pattern with its frame number as a bar code, VP8) "
                   "or a file, looped: .ivf (VP8, paced by its timestamps) or .h264/.264 (H.264 Annex B, at --fps)");
    std::string video_codec = "vp8";
    cli.add_option("--video-codec", video_codec, "the codec our offers and answers prefer for --video testsrc: "
                   "vp8 or h264 (the other one stays second)")->check(CLI::IsMember({"vp8", "h264"}))->capture_default_str();
    cli.add_option("--video-kbps", o.media.video_kbps,
                   "the most --video testsrc is encoded at, in kbit/s; below it, the encoder follows each peer's "
                   "bandwidth estimate (the lowest)")->check(CLI::Range(100, 20000))->capture_default_str();
    cli.add_option("--audio", o.media.audio, "send audio to every peer: tone (440 Hz, Opus) or an Ogg Opus file (looped)");
    cli.add_option("--record", o.media.record,
                   "record every audio and video track a peer sends to DIR/<peer>-<mid>.ivf (VP8), .ogg (Opus) or "
                   ".h264 (Annex B), DIR made if missing; the counts are printed when the peer goes");
    auto* mode = cli.add_option_group("mode", "what to do once connected");
    mode->add_flag("--echo", o.echo, "send every message back on its channel");
    auto* send_opt = mode->add_option("--send", send_text, "send a text, print the first reply (if any), exit");
    mode->add_option("--send-file", o.send_file, "send a file (docs/file-transfer.md), exit when confirmed");
    mode->add_option("--receive-dir", o.receive_dir, "store received files here (never overwriting one)");
    mode->require_option(0, 1);
    try {
        cli.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return cli.exit(e);
    } catch (const CLI::ParseError& e) {
        return usage_error(e.what());
    }
    if (send_opt->count() > 0) o.send_text = send_text;
    if (o.signal_url.rfind("ws://", 0) != 0 && o.signal_url.rfind("wss://", 0) != 0)
        return usage_error("--signal must be a ws:// or wss:// URL, not '" + o.signal_url + "'");
    if (!is_valid_name(o.room)) return usage_error("--room must be 1-64 characters of A-Za-z0-9_.-");
    if (!o.id.empty() && !is_valid_name(o.id)) return usage_error("--id must be 1-64 characters of A-Za-z0-9_.-");
    if (o.max_peers == 0) return usage_error("--max-peers must be at least 1");
    if (!o.turn.empty() && (o.turn_user.empty() || o.turn_pass.empty()))
        return usage_error("--turn needs --turn-user and --turn-pass");
    if (o.timeout < 0 || o.join_timeout <= 0 || o.reply_timeout <= 0 || o.delay < 0)
        return usage_error("timeouts must be positive numbers of seconds");
    if (!o.receive_dir.empty() && !fs::is_directory(o.receive_dir))
        return usage_error("--receive-dir " + o.receive_dir + " is not a directory");
    if (!o.send_file.empty() && !fs::is_regular_file(o.send_file))
        return usage_error("--send-file " + o.send_file + " is not a readable file");
    const bool media = !o.media.video.empty() || !o.media.audio.empty() || !o.media.record.empty();
    o.media.video_codec = video_codec == "h264" ? duplex::Codec::H264 : duplex::Codec::Vp8;
    const auto video_ext = fs::path(o.media.video).extension().string();
    const bool h264_file = video_ext == ".h264" || video_ext == ".264";
    if (o.media.video_codec == duplex::Codec::H264 && o.media.video != "testsrc" && !h264_file)
        return usage_error("--video-codec h264 goes with --video testsrc (an .ivf file is VP8)");
    if (h264_file) o.media.video_codec = duplex::Codec::H264;  // the file says what it is
    if (mode->count_all() == 0 && !media && !o.media_echo)
        return usage_error("say what to do: --echo, --send, --send-file, --receive-dir, --media-echo, --video, --audio "
                           "or --record");
    if (o.media_echo && media) return usage_error("--media-echo sends back what comes; it goes without --video, --audio, --record");
    if (!o.media.video.empty() && o.media.video != "testsrc" && !fs::is_regular_file(o.media.video))
        return usage_error("--video " + o.media.video + ": neither testsrc nor a readable .ivf or .h264 file");
    if (!o.media.audio.empty() && o.media.audio != "tone" && !fs::is_regular_file(o.media.audio))
        return usage_error("--audio " + o.media.audio + ": neither tone nor a readable Ogg Opus file");
    if (!o.media.record.empty()) {
        std::error_code ec;
        fs::create_directories(o.media.record, ec);  // an output directory is made if missing
        if (!fs::is_directory(o.media.record))
            return usage_error("--record " + o.media.record + " is not a directory" + (ec ? " (" + ec.message() + ")" : ""));
    }

    duplex_peer::Console console(quiet ? duplex_peer::Verbosity::Quiet
                                 : verbose ? duplex_peer::Verbosity::Verbose
                                           : duplex_peer::Verbosity::Normal);
    // Without an address to gather candidates from, no peer could ever be
    // reached: say so now rather than at the timeout.
    duplex::Configuration probe;
    if (!o.bind.empty()) probe.allowed_addresses = {o.bind};
    if (duplex::host_candidate_addresses(probe).empty()) {
        if (o.bind.empty()) console.error("no usable local address (only loopback?): try --bind 127.0.0.1");
        else console.error("--bind " + o.bind + " matches no local address");
        return 1;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    duplex::EventLoop loop;
    duplex_peer::App app(loop, o, console);
    return app.run();
}
