// A native WebRTC peer that echoes every data-channel message a browser sends.
// It joins a room on duplex-server's /signal and answers whoever offers:
//   peer_echo ws://127.0.0.1:8080/signal myroom      (then open /?room=myroom)
#include <duplex/peer_connection.hpp>
#include <duplex/websocket.hpp>

#include <nlohmann/json.hpp>

#include <map>

int main(int argc, char** argv) {
    if (argc < 3) return 2;
    duplex::EventLoop loop;
    std::map<std::string, duplex::PeerConnection> peers;
    auto ws = duplex::WebSocket::connect(loop, argv[1]);
    auto send = [ws](nlohmann::json j) mutable { (void)ws.send(j.dump()); };
    ws.on_open([&] { send({{"type", "join"}, {"room", argv[2]}}); });
    ws.on_message([&](std::string_view text, bool) {
        auto m = nlohmann::json::parse(text, nullptr, false);
        if (!m.is_object() || !m.contains("from")) return;
        const std::string from = m["from"], type = m.value("type", "");
        if (type == "offer") {
            auto& pc = peers[from] = duplex::PeerConnection(loop);
            pc.on_ice_candidate([send, from](const duplex::IceCandidate& c) mutable {
                send({{"type", "candidate"}, {"to", from}, {"candidate", c.candidate}, {"sdpMid", c.sdp_mid}});
            });
            pc.on_data_channel([](duplex::DataChannel dc) {
                dc.on_message([dc](std::string_view data, bool binary) mutable {
                    (void)(binary ? dc.send_binary(data) : dc.send(data));
                });
            });
            (void)pc.set_remote_description({duplex::SdpType::Offer, m.value("sdp", "")});
            (void)pc.set_local_description();
            send({{"type", "answer"}, {"to", from}, {"sdp", pc.local_description()->sdp}});
        } else if (type == "candidate" && peers.count(from)) {
            (void)peers[from].add_ice_candidate({m.value("candidate", ""), m.value("sdpMid", "0"), 0});
        }
    });
    loop.run();
}
