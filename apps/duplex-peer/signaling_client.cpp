#include "signaling_client.hpp"

#include <variant>

namespace duplex_peer {

void SignalingClient::start(const std::string& url, signal::Join join, std::chrono::milliseconds join_timeout) {
    url_ = url;
    duplex::ClientOptions co;
    // Signaling is small: a joined list and SDPs, never megabytes.
    co.max_message_size = 1u << 20;
    ws_ = duplex::WebSocket::connect(loop_, url, co);
    ws_.on_open([this, join = std::move(join), join_timeout] {
        console_.detail("connected to " + url_);
        (void)ws_.send(signal::write_client_message(join));
        join_timer_ = loop_.set_timeout(join_timeout, [this, join_timeout] {
            join_timer_ = 0;
            if (joined_ || closing_) return;
            if (h_.lost)
                h_.lost("no answer to join from " + url_ + " within " + std::to_string(join_timeout.count() / 1000) +
                        " s (is it a duplex signaling server?)");
        });
    });
    ws_.on_message([this](std::string_view data, bool binary) {
        if (binary) return console_.say("ignoring a binary message from the signaling server");
        on_message(data);
    });
    ws_.on_close([this](std::uint16_t code, std::string_view reason) {
        if (closing_) return;
        if (h_.lost)
            h_.lost("signaling connection closed (" + std::to_string(code) + (reason.empty() ? "" : " ") +
                    std::string(reason) + ")");
    });
    ws_.on_error([this](std::error_code, std::string_view why) {
        if (closing_) return;
        closing_ = true;  // on_close follows: one report is enough
        if (h_.lost) h_.lost("signaling: " + std::string(why));
    });
}

void SignalingClient::send(const signal::ClientMessage& m) { (void)ws_.send(signal::write_client_message(m)); }

void SignalingClient::close() {
    closing_ = true;
    if (join_timer_) loop_.clear_timeout(join_timer_);
    join_timer_ = 0;
    if (ws_) (void)ws_.close(1000);
}

void SignalingClient::on_message(std::string_view text) {
    auto parsed = signal::parse_server_message(text);
    if (auto* e = std::get_if<signal::ParseError>(&parsed)) {
        std::string shown(text.substr(0, 120));
        for (auto& c : shown)
            if (static_cast<unsigned char>(c) < 0x20) c = ' ';
        return console_.say("ignoring a malformed signaling message (" + e->message + "): " + shown);
    }
    std::visit(
        [this](auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, signal::Joined>) {
                if (joined_) return console_.say("ignoring a second `joined` from the signaling server");
                joined_ = true;
                if (join_timer_) loop_.clear_timeout(join_timer_);
                join_timer_ = 0;
                if (h_.joined) h_.joined(m);
            } else if constexpr (std::is_same_v<T, signal::PeerJoined>) {
                if (h_.peer_joined) h_.peer_joined(m.id);
            } else if constexpr (std::is_same_v<T, signal::PeerLeft>) {
                if (h_.peer_left) h_.peer_left(m.id);
            } else if constexpr (std::is_same_v<T, signal::Description>) {
                if (h_.description) h_.description(m);
            } else if constexpr (std::is_same_v<T, signal::Candidate>) {
                if (h_.candidate) h_.candidate(m);
            } else {
                if (h_.refused) h_.refused(m, !joined_);
            }
        },
        std::get<signal::ServerMessage>(parsed));
}

}  // namespace duplex_peer
