// duplex-peer/app.hpp: the native peer's run: it joins a room, keeps one
// PeerConnection per remote peer (up to --max-peers), and does what its mode
// says on a data channel of each.
//
// One bad peer never ends the run: a peer whose offer does not parse, whose
// answer comes unasked, whose DTLS fingerprint does not match, or whose
// connection fails is dropped (and named, with the reason) while the others
// are served (issue 14). The run itself fails only when signaling fails, or
// when a one-shot mode (--send, --send-file) cannot do what it was asked.
#pragma once

#include "console.hpp"
#include "file_transfer.hpp"
#include "media_tracks.hpp"
#include "signaling_client.hpp"

#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace duplex_peer {

struct Options {
    std::string signal_url, room, id, token, bind;
    std::vector<std::string> stun;
    std::vector<std::string> turn;     // turn:HOST[:PORT] URLs, with turn_user / turn_pass
    std::string turn_user, turn_pass;
    std::string turn_ca;               // CAs for turns: servers (PEM); empty: the system store
    bool relay_only = false;           // iceTransportPolicy "relay"
    bool ice_tcp = false;              // also offer passive TCP candidates (RFC 6544)
    std::string label = "data";
    double timeout = 0;          // 0: none
    double join_timeout = 10;    // seconds for `joined` to come
    double reply_timeout = 3;    // --send: how long to wait for a reply
    double delay = 0;            // --send, --send-file: seconds between the channel opening and sending
    std::size_t max_peers = 16;
    std::optional<std::string> send_text;
    std::string send_file, receive_dir;
    bool echo = false;
    bool media_echo = false;     // send every received audio/video track back
    MediaOptions media;          // --video, --audio, --record

    bool one_shot() const noexcept { return send_text.has_value() || !send_file.empty(); }
};

class App {
public:
    App(duplex::EventLoop& loop, Options o, Console console);
    /// Runs until done; returns the exit code (0 done, 1 failed).
    int run();

private:
    /// One remote peer: its PeerConnection and the negotiation state of the
    /// perfect-negotiation pattern (W3C webrtc-pc §10.7 example).
    struct Link {
        std::string remote_id;
        duplex::PeerConnection pc;
        bool polite = false;
        bool making_offer = false;
        bool ignore_offer = false;
        duplex::DataChannel data;
        std::vector<duplex::MediaTrack> echo_tracks;  // --media-echo: sendrecv, what comes in goes back
    };

    void tick();
    void fail(const std::string& why);
    void finish(int code);
    duplex::Configuration configuration() const;

    // signaling
    void on_joined(const signal::Joined& j);
    void on_description(const signal::Description& d);
    void on_candidate(const signal::Candidate& c);
    void on_peer_left(const std::string& id);

    Link* start_link(const std::string& remote, bool offer);
    /// Drops one peer (its connection closed) and says why; the run goes on.
    void drop(const std::string& remote, const std::string& why);
    void negotiate(Link& l);
    static std::string path_of(const duplex::PeerConnection& pc);
    void on_channel(const std::string& remote, duplex::DataChannel dc);
    void on_data_open(const std::string& remote, duplex::DataChannel dc);
    void start_one_shot(const std::string& remote, duplex::DataChannel dc);
    void on_data_message(const std::string& remote, duplex::DataChannel dc, std::string_view data, bool binary);
    /// --media-echo: tracks of ours until there are `audio` and `video` of
    /// each kind (before a remote offer is applied, so that its sections
    /// are taken by them and answered sendrecv).
    void add_echo_tracks(Link& l, std::size_t audio, std::size_t video);
    void report_media(Link& l);

    duplex::EventLoop& loop_;
    Options opt_;
    Console console_;
    SignalingClient signaling_;
    std::vector<duplex::IceServer> ice_servers_;
    std::map<std::string, std::unique_ptr<Link>> links_;
    std::set<std::string> refused_;  // over --max-peers, said once each
    MediaTracks media_;
    bool finished_ = false;
    int exit_code_ = 1;
    // One-shot modes.
    std::string target_;  // the peer the text or file went to
    std::unique_ptr<FileSender> sender_;
    duplex::EventLoop::TimerId reply_timer_ = 0;
};

}  // namespace duplex_peer
