// Built against the installed package: a server and a client on one loop
// exchange a message, and a PeerConnection writes an offer (the WebRTC half
// links: OpenSSL, usrsctp). Exits 0 when both worked.
#include <duplex/peer_connection.hpp>
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include <cstdio>
#include <string>

int main() {
    duplex::EventLoop loop;
    duplex::WebSocketServer server(loop, {.host = "127.0.0.1", .port = 0});
    server.on_connection([](duplex::WebSocket& ws, const duplex::HttpRequest&) {
        ws.on_message([ws](std::string_view m, bool b) mutable { (void)ws.send(m, b); });
    });
    if (!server.listen()) return 1;
    std::string got;
    auto ws = duplex::WebSocket::connect(loop, "ws://127.0.0.1:" + std::to_string(server.port()) + "/");
    ws.on_open([&] { (void)ws.send("installed duplex works"); });
    ws.on_message([&](std::string_view m, bool) { got = m; (void)ws.close(); });
    ws.on_close([&](std::uint16_t, std::string_view) { loop.stop(); });
    loop.set_timeout(std::chrono::seconds(5), [&] { loop.stop(); });
    loop.run();
    std::printf("consumer: %s\n", got.c_str());
    duplex::PeerConnection pc(loop);
    (void)pc.create_data_channel("check");
    auto offer = pc.create_offer();
    const bool rtc_ok = offer.ok() && offer->sdp.find("webrtc-datachannel") != std::string::npos;
    std::printf("consumer: PeerConnection offer %s\n", rtc_ok ? "written" : "missing");
    return got == "installed duplex works" && rtc_ok ? 0 : 1;
}
