// The echo server of the README, in duplex (Node's ws seed example, in C++).
#include <duplex/websocket_server.hpp>

#include <cstdio>

int main() {
    duplex::EventLoop loop;
    duplex::WebSocketServer server(loop, {.port = 8080});
    server.on_connection([](duplex::WebSocket& ws, const duplex::HttpRequest&) {
        ws.on_message([ws](std::string_view message, bool is_binary) mutable {
            std::printf("received: %.*s\n", static_cast<int>(message.size()), message.data());
            (void)ws.send(message, is_binary);
        });
        (void)ws.send("Hello, client!");
    });
    if (auto st = server.listen(); !st) return std::fprintf(stderr, "listen: %s\n", st.message().c_str()), 1;
    loop.run();
}
