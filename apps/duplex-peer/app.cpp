#include "app.hpp"

#include <atomic>
#include <iostream>

namespace duplex_peer {

namespace fs = std::filesystem;

extern std::atomic<bool> g_interrupted;

namespace {
std::chrono::milliseconds seconds(double s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); }

std::string list(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

std::string shown(std::string_view text) {
    std::string s(text.substr(0, 60));
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return text.size() > 60 ? s + "..." : s;
}
}  // namespace

App::App(duplex::EventLoop& loop, Options o, Console console)
    : loop_(loop),
      opt_(std::move(o)),
      console_(console),
      signaling_(loop, console_,
                 SignalingClient::Handlers{
                     [this](const signal::Joined& j) { on_joined(j); },
                     [this](const std::string& id) { console_.say("peer " + id + " joined"); },
                     [this](const std::string& id) { on_peer_left(id); },
                     [this](const signal::Description& d) { on_description(d); },
                     [this](const signal::Candidate& c) { on_candidate(c); },
                     [this](const signal::Error& e, bool before_join) {
                         if (before_join) fail("the server refused to join room " + opt_.room + ": " + e.code + ": " + e.message);
                         else console_.say("the signaling server refused a message: " + e.code + ": " + e.message);
                     },
                     [this](const std::string& why) { fail(why); },
                 }),
      media_(loop, opt_.media, console_) {}

int App::run() {
    if (std::string error; !media_.open(error)) {
        console_.error(error);
        return 1;
    }
    signaling_.start(opt_.signal_url, signal::Join{opt_.room, opt_.id, opt_.token}, seconds(opt_.join_timeout));
    tick();
    if (opt_.timeout > 0) {
        loop_.set_timeout(seconds(opt_.timeout), [this] {
            if (finished_) return;
            // Waiting modes end well at the timeout; one-shot modes have failed.
            if (opt_.one_shot()) return fail("timed out after " + std::to_string(static_cast<int>(opt_.timeout)) + " s");
            console_.say("--timeout reached, leaving");
            finish(0);
        });
    }
    loop_.run();
    return exit_code_;
}

void App::tick() {
    loop_.set_timeout(std::chrono::milliseconds(100), [this] {
        if (g_interrupted && !finished_) {
            if (opt_.one_shot()) fail("interrupted");
            else {
                console_.say("interrupted, leaving");
                finish(0);
            }
        }
        if (!finished_) tick();
    });
}

void App::fail(const std::string& why) {
    if (finished_) return;
    console_.error(why);
    finish(1);
}

void App::finish(int code) {
    if (finished_) return;
    finished_ = true;
    exit_code_ = code;
    for (auto& [id, link] : links_) {
        report_media(*link);
        media_.finish(id);
        link->pc.close();
    }
    signaling_.close();
    // Let the close_notify and the WebSocket close go out, then stop.
    loop_.set_timeout(std::chrono::milliseconds(200), [this] { loop_.stop(); });
}

duplex::Configuration App::configuration() const {
    duplex::Configuration c;
    c.ice_servers = ice_servers_;
    if (!opt_.turn.empty()) c.ice_servers.push_back({opt_.turn, opt_.turn_user, opt_.turn_pass});
    if (opt_.relay_only) c.ice_transport_policy = duplex::IceTransportPolicy::Relay;
    c.turn_tls_ca_file = opt_.turn_ca;
    c.ice_tcp = opt_.ice_tcp;
    if (!opt_.bind.empty()) c.allowed_addresses = {opt_.bind};
    return c;
}

// --------------------------------------------------------------- signaling --

void App::on_joined(const signal::Joined& j) {
    std::string line = "joined room " + j.room + " as " + j.id;
    line += j.peers.empty() ? "; waiting for peers" : "; here: " + list(j.peers);
    console_.say(line);
    // The server's ICE servers (STUN, and TURN with its REST credentials).
    for (const auto& server : j.ice_servers) {
        duplex::IceServer s;
        s.urls = server.urls;
        s.username = server.username;
        s.credential = server.credential;
        if (!s.urls.empty()) ice_servers_.push_back(std::move(s));
    }
    if (!opt_.stun.empty()) ice_servers_.push_back({opt_.stun, {}, {}});
    // The joiner offers to everyone already here (no glare by rule); it is
    // the polite side should an offer cross anyway.
    for (const auto& p : j.peers) start_link(p, /*offer=*/true);
}

void App::on_peer_left(const std::string& id) {
    console_.say("peer " + id + " left");
    auto it = links_.find(id);
    if (it == links_.end()) return;
    report_media(*it->second);
    media_.finish(id);
    it->second->pc.close();
    links_.erase(it);
    if (opt_.one_shot() && id == target_ && !finished_)
        fail("peer " + id + " left before the " + std::string(opt_.send_text ? "reply came" : "transfer finished"));
}

void App::on_description(const signal::Description& d) {
    const bool is_offer = d.kind == signal::SdpKind::Offer;
    Link* l = nullptr;
    if (auto it = links_.find(d.peer); it != links_.end()) l = it->second.get();
    else if (is_offer) l = start_link(d.peer, false);
    if (l == nullptr) {
        if (!is_offer) console_.say("peer " + d.peer + ": ignoring an answer to nothing we offered");
        return;
    }
    // Perfect negotiation: an offer that collides with ours is ignored by
    // the impolite side and wins on the polite side (rollback is implicit).
    const bool collision = is_offer && (l->making_offer || l->pc.signaling_state() != duplex::SignalingState::Stable);
    l->ignore_offer = !l->polite && collision;
    if (l->ignore_offer) return console_.detail("peer " + d.peer + ": ignoring a colliding offer (we are impolite)");
    if (collision) {
        console_.detail("peer " + d.peer + ": offer collision, rolling back ours (we are polite)");
        (void)l->pc.set_local_description({duplex::SdpType::Rollback, ""});
    }
    if (is_offer && (opt_.media_echo || media_.active())) {
        // Tracks of ours for the offer's live audio and video m= lines (a
        // line at port 0 is a stopped track: RFC 8829 §5.2.2).
        std::size_t audio = 0, video = 0;
        for (std::size_t at = d.sdp.find("\nm="); at != std::string::npos; at = d.sdp.find("\nm=", at + 1)) {
            if (d.sdp.compare(at + 9, 2, "0 ") == 0) continue;
            if (d.sdp.compare(at + 3, 6, "audio ") == 0) ++audio;
            if (d.sdp.compare(at + 3, 6, "video ") == 0) ++video;
        }
        if (opt_.media_echo) add_echo_tracks(*l, audio, video);
        else media_.before_answer(d.peer, l->pc, audio, video);
    }
    auto st = l->pc.set_remote_description({is_offer ? duplex::SdpType::Offer : duplex::SdpType::Answer, d.sdp});
    if (!st.ok()) {
        // An answer we did not ask for (state stable) is only ignored: the
        // connection we have goes on. A bad offer leaves nothing to keep.
        if (!is_offer && l->pc.signaling_state() == duplex::SignalingState::Stable)
            return console_.say("peer " + d.peer + ": ignoring an unexpected answer: " + st.message());
        return drop(d.peer, std::string("bad ") + (is_offer ? "offer" : "answer") + ": " + st.message());
    }
    if (is_offer) {
        auto st2 = l->pc.set_local_description();
        if (!st2.ok()) return drop(d.peer, "cannot answer: " + st2.message());
        auto local = l->pc.local_description();
        signaling_.send(signal::Description{signal::SdpKind::Answer, d.peer, local->sdp});
    }
}

void App::on_candidate(const signal::Candidate& c) {
    auto it = links_.find(c.peer);
    if (it == links_.end()) return;
    Link& l = *it->second;
    auto st = l.pc.add_ice_candidate({c.candidate, c.sdp_mid.value_or("0"), c.sdp_mline_index.value_or(0)});
    if (!st.ok() && !l.ignore_offer) console_.detail("peer " + c.peer + ": candidate refused: " + st.message());
}

// ------------------------------------------------------------------- links --

App::Link* App::start_link(const std::string& remote, bool offer) {
    if (links_.size() >= opt_.max_peers) {
        if (refused_.insert(remote).second)
            console_.say("ignoring peer " + remote + ": --max-peers " + std::to_string(opt_.max_peers) + " reached");
        return nullptr;
    }
    auto pc = duplex::PeerConnection::create(loop_, configuration());
    if (!pc) {  // e.g. an ICE server URL from the signaling server that is not one
        console_.error("peer " + remote + ": cannot connect: " + pc.status().message());
        return nullptr;
    }
    auto link = std::make_unique<Link>();
    link->remote_id = remote;
    link->polite = offer;  // the later joiner is polite
    link->pc = std::move(pc.value());
    Link& l = *link;
    links_[remote] = std::move(link);
    l.pc.on_ice_candidate([this, remote](const duplex::IceCandidate& c) {
        signaling_.send(signal::Candidate{remote, c.candidate, c.sdp_mid,
                                          static_cast<std::uint16_t>(c.sdp_mline_index < 0 ? 0 : c.sdp_mline_index)});
    });
    l.pc.on_connection_state_change([this, remote](duplex::PeerConnectionState s) {
        auto it = links_.find(remote);
        if (it == links_.end()) return;
        Link& self = *it->second;
        using S = duplex::PeerConnectionState;
        if (s == S::Connected) {
            console_.say("peer " + remote + ": connected (" + path_of(self.pc) + ")");
        } else if (s == S::Disconnected) {
            // The path stopped answering (consent, RFC 7675). An ICE restart
            // looks for another one (a relay, when the direct path is cut)
            // while the channels stay open. The side that offered first
            // restarts at once; the other a little later if still needed, so
            // that the two offers do not usually cross (they may: perfect
            // negotiation sorts that out).
            console_.say("peer " + remote + ": disconnected (restarting ICE to find another path)");
            const auto restart = [this, remote] {
                auto found = links_.find(remote);
                if (found == links_.end() ||
                    found->second->pc.connection_state() != duplex::PeerConnectionState::Disconnected)
                    return;
                console_.detail("peer " + remote + ": ICE restart");
                found->second->pc.restart_ice();
                // The new credentials go in an offer (an offer of theirs may
                // be under way: then theirs restarts ICE for both).
                if (found->second->pc.signaling_state() == duplex::SignalingState::Stable) negotiate(*found->second);
            };
            if (self.polite) restart();
            else loop_.set_timeout(std::chrono::seconds(3), restart);
        } else if (s == S::Failed) {
            const auto why = self.pc.get_stats().failure_reason;
            drop(remote, "connection failed" + (why.empty() ? std::string() : ": " + why));
        } else {
            console_.detail("peer " + remote + ": connection " + duplex::to_string(s));
        }
    });
    l.pc.on_selected_candidate_pair_change([this, remote] {
        auto it = links_.find(remote);
        if (it != links_.end()) console_.detail("peer " + remote + ": path " + path_of(it->second->pc));
    });
    l.pc.on_ice_connection_state_change([this, remote](duplex::IceConnectionState s) {
        console_.detail("peer " + remote + ": ice " + duplex::to_string(s));
    });
    l.pc.on_data_channel([this, remote](duplex::DataChannel dc) { on_channel(remote, dc); });
    console_.detail("peer " + remote + ": connecting (" + (offer ? "we offer" : "they offer") + ")");
    if (offer) {
        auto dc = l.pc.create_data_channel(opt_.label);
        if (!dc) {
            drop(remote, "create_data_channel: " + dc.status().message());
            return nullptr;
        }
        l.data = *dc;
        on_channel(remote, *dc);
        if (opt_.media_echo) add_echo_tracks(l, 1, 1);
        else media_.before_offer(remote, l.pc);
        negotiate(l);
        // negotiate() may have dropped the link (a local failure).
        if (links_.find(remote) == links_.end()) return nullptr;
    }
    return &l;
}

void App::add_echo_tracks(Link& l, std::size_t audio, std::size_t video) {
    std::size_t have_audio = 0, have_video = 0;
    for (const auto& t : l.echo_tracks)
        if (!t.stopped()) ++(t.kind() == duplex::MediaKind::Audio ? have_audio : have_video);
    const std::string remote = l.remote_id;
    auto add = [&](duplex::MediaKind kind) {
        auto t = l.pc.add_track(kind, {duplex::TrackDirection::SendRecv, "duplex-peer-echo", std::nullopt});
        if (!t) return console_.error("peer " + remote + ": add_track: " + t.status().message());
        duplex::MediaTrack track = *t;
        // The handlers hold the track; closing the connection drops them.
        track.on_frame([this, remote, track, first = true](const duplex::EncodedFrame& f) mutable {
            if (first) {
                first = false;
                console_.say("peer " + remote + ": echoing its " + duplex::to_string(track.kind()) + " (" +
                             duplex::to_string(f.codec) + ")");
            }
            if (auto st = track.send_frame(f.data, f.rtp_timestamp); !st.ok())
                console_.detail("peer " + remote + ": echo not sent: " + st.message());
        });
        // A key frame asked of us can only come from the sender we echo.
        track.on_key_frame_request([track]() mutable { (void)track.request_key_frame(); });
        l.echo_tracks.push_back(track);
    };
    for (; have_audio < audio; ++have_audio) add(duplex::MediaKind::Audio);
    for (; have_video < video; ++have_video) add(duplex::MediaKind::Video);
}

void App::report_media(Link& l) {
    for (const auto& t : l.echo_tracks) {
        const auto s = t.stats();
        if (s.frames_received == 0 && s.frames_sent == 0) continue;
        console_.say("peer " + l.remote_id + ": " + duplex::to_string(t.kind()) + ": " + std::to_string(s.frames_received) +
                     " frames received (" + std::to_string(s.key_frames_received) + " key), " +
                     std::to_string(s.frames_sent) + " echoed; NACKs sent " + std::to_string(s.nacks_sent) + ", PLIs sent " +
                     std::to_string(s.plis_sent) + ", packets retransmitted " + std::to_string(s.retransmitted_packets_sent));
    }
}

/// "LOCAL TYPE[/PROTOCOL] <-> REMOTE TYPE": the candidate pair data goes over.
std::string App::path_of(const duplex::PeerConnection& pc) {
    const auto stats = pc.get_stats();
    const auto typed = [](const std::string& address, const std::string& type, const std::string& via) {
        if (type.empty()) return address;
        return address + " " + type + (via.empty() ? std::string() : "/" + via);
    };
    // "relay/tcp": a relay reached over TCP; "host/tcp": an ICE-TCP pair.
    const std::string via = !stats.relay_protocol.empty() ? stats.relay_protocol
                            : stats.candidate_protocol == "tcp" ? std::string("tcp")
                                                                : std::string();
    return typed(stats.local_candidate, stats.local_candidate_type, via) + " <-> " +
           typed(stats.remote_candidate, stats.remote_candidate_type, stats.candidate_protocol == "tcp" ? "tcp" : "");
}

void App::drop(const std::string& remote, const std::string& why) {
    auto it = links_.find(remote);
    if (it == links_.end()) return;
    report_media(*it->second);
    media_.finish(remote);
    console_.error("peer " + remote + ": " + why + "; dropping this peer");
    it->second->pc.close();
    // Freed after this callback (we may be inside one of the link's own).
    std::shared_ptr<Link> doomed(std::move(it->second));
    links_.erase(it);
    loop_.post([doomed] {});
    if (opt_.one_shot() && remote == target_) fail("the transfer to " + remote + " failed");
    // A one-shot mode that could connect to nobody says why and ends (a
    // wrong TURN password, say), rather than waiting for its --timeout.
    else if (opt_.one_shot() && target_.empty() && links_.empty()) fail("could not connect to " + remote + ": " + why);
}

void App::negotiate(Link& l) {
    l.making_offer = true;
    auto st = l.pc.set_local_description();
    l.making_offer = false;
    if (!st.ok()) return drop(l.remote_id, "cannot make an offer: " + st.message());
    auto d = l.pc.local_description();
    signaling_.send(signal::Description{d->type == duplex::SdpType::Offer ? signal::SdpKind::Offer : signal::SdpKind::Answer,
                                        l.remote_id, d->sdp});
}

void App::on_channel(const std::string& remote, duplex::DataChannel dc) {
    dc.on_open([this, remote, dc]() mutable {
        console_.detail("peer " + remote + ": channel '" + dc.label() + "' open");
        if (dc.label() == opt_.label) on_data_open(remote, dc);
    });
    if (dc.label().rfind("file", 0) == 0 && !opt_.receive_dir.empty()) {
        auto it = links_.find(remote);
        if (it == links_.end()) return;
        auto rx = std::make_shared<FileReceiver>(
            opt_.receive_dir,
            [this, remote](const fs::path& path, std::uint64_t size, const std::string& sha) {
                // stdout: what was received, one line a file (scripts read it).
                std::cout << "received " << path.filename().string() << " " << size << " bytes sha256 " << sha << std::endl;
                console_.say("received " + path.string() + " (" + std::to_string(size) + " bytes) from " + remote +
                             ", sha256 confirmed");
            },
            [this, remote](const std::string& why) { console_.error("peer " + remote + ": " + why); });
        dc.on_message([dc, rx](std::string_view data, bool binary) mutable { rx->on_message(dc, data, binary); });
        dc.on_close([rx] { rx->on_close(); });
        return;
    }
    dc.on_message([this, remote, dc](std::string_view data, bool binary) mutable {
        on_data_message(remote, dc, data, binary);
    });
}

void App::on_data_open(const std::string& remote, duplex::DataChannel dc) {
    if (finished_ || !target_.empty() || !opt_.one_shot()) return;  // one-shot modes go to the first peer whose channel opens
    target_ = remote;
    if (opt_.delay > 0) {
        // The connection stays up meanwhile (consent checks, TURN refreshes):
        // what a test of a long-lived path wants before it sends.
        console_.detail("peer " + remote + ": sending in " + std::to_string(opt_.delay) + " s (--delay)");
        loop_.set_timeout(seconds(opt_.delay), [this, remote, dc] {
            if (!finished_ && links_.count(remote) != 0) start_one_shot(remote, dc);
        });
        return;
    }
    start_one_shot(remote, dc);
}

void App::start_one_shot(const std::string& remote, duplex::DataChannel dc) {
    if (opt_.send_text) {
        auto r = dc.send(*opt_.send_text);
        if (!r.ok()) return fail("send to " + remote + ": " + r.message());
        console_.say("sent \"" + shown(*opt_.send_text) + "\" to " + remote + " on '" + dc.label() + "'");
        // A chat (the demo page's) does not answer: finish after a while.
        reply_timer_ = loop_.set_timeout(seconds(opt_.reply_timeout), [this, remote] {
            if (finished_) return;
            console_.say("no reply from " + remote + " within " + std::to_string(static_cast<int>(opt_.reply_timeout)) +
                         " s; the message was delivered");
            finish(0);
        });
    } else if (!opt_.send_file.empty()) {
        auto it = links_.find(remote);
        if (it == links_.end()) return;
        auto ch = it->second->pc.create_data_channel("file-1");
        if (!ch) return fail("create_data_channel: " + ch.status().message());
        sender_ = std::make_unique<FileSender>();
        std::string why;
        const bool ok = sender_->start(*ch, opt_.send_file, [this, remote](bool done, const std::string& error) {
            if (!done) return fail("sending " + opt_.send_file + " to " + remote + ": " + error);
            console_.say("sent " + fs::path(opt_.send_file).filename().string() + " (" + std::to_string(sender_->size()) +
                         " bytes) to " + remote + ", sha256 " + sender_->sha256() + " confirmed");
            finish(0);
        }, why);
        if (!ok) fail(why);
    }
}

void App::on_data_message(const std::string& remote, duplex::DataChannel dc, std::string_view data, bool binary) {
    if (opt_.echo) {
        (void)(binary ? dc.send_binary(data) : dc.send(data));
        return;
    }
    if (opt_.send_text && dc.label() == opt_.label && remote == target_ && !finished_) {
        if (binary) std::cout << "[binary message, " << data.size() << " bytes]" << std::endl;
        else std::cout << data << std::endl;
        if (reply_timer_) loop_.clear_timeout(reply_timer_);
        finish(0);
    }
}

}  // namespace duplex_peer
