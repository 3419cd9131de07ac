// A client: connects, sends one message, prints the replies, closes.
//   echo_client ws://127.0.0.1:8080/echo
#include <duplex/websocket.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    duplex::EventLoop loop;
    auto ws = duplex::WebSocket::connect(loop, argc > 1 ? argv[1] : "ws://127.0.0.1:8080/echo");
    ws.on_open([&] { (void)ws.send("Hello, server!"); });
    ws.on_message([&](std::string_view message, bool) {
        std::printf("received: %.*s\n", static_cast<int>(message.size()), message.data());
        (void)ws.close(1000, "bye");
    });
    ws.on_error([](std::error_code, std::string_view what) { std::fprintf(stderr, "error: %.*s\n", (int)what.size(), what.data()); });
    ws.on_close([&](std::uint16_t code, std::string_view) { std::printf("closed %u\n", code); loop.stop(); });
    loop.run();
}
