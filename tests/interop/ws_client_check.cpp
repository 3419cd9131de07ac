// ws_client_check: duplex's WebSocket client against any echo server.
//
//   ws_client_check [--deflate] [--ca FILE | --insecure] ws[s]://127.0.0.1:PORT/path
//
// With --deflate it offers permessage-deflate and fails unless the server
// agrees to it.
//
// Sends a text message, a binary message (all 256 byte values) and a 1 MiB
// text message, checks that each comes back unchanged and in order, then
// closes with 1000 and checks that the close handshake completes. Prints
// "PASS ..." and exits 0, or prints what went wrong and exits 1. A watchdog
// ends it after 20 s.
#include <duplex/event_loop.hpp>
#include <duplex/websocket.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    bool deflate = false;
    const char* url = nullptr;
    duplex::ClientOptions opts;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--deflate") deflate = true;
        else if (a == "--insecure") opts.tls.insecure = true;
        else if (a == "--ca" && i + 1 < argc) opts.tls.ca_file = argv[++i];
        else url = argv[i];
    }
    if (url == nullptr) {
        std::fprintf(stderr, "usage: ws_client_check [--deflate] [--ca FILE | --insecure] ws[s]://host:port/path\n");
        return 2;
    }
    duplex::EventLoop loop;
    std::string binary;
    for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
    std::string big(1u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    struct Expect {
        std::string data;
        bool binary;
    };
    const std::vector<Expect> sent = {{"hello from duplex \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", false},
                                      {binary, true},
                                      {big, false}};
    std::size_t received = 0;
    std::string failure;
    int close_code = -1;
    bool opened = false;

    opts.max_message_size = 4u << 20;
    opts.per_message_deflate.enabled = deflate;
    auto ws = duplex::WebSocket::connect(loop, url, opts);
    ws.on_open([&] {
        opened = true;
        if (deflate && ws.extensions().find("permessage-deflate") == std::string::npos)
            failure = "the server did not agree to permessage-deflate";
        for (const auto& e : sent) {
            auto st = ws.send(e.data, e.binary);
            if (!st) failure = "send failed: " + st.message();
        }
    });
    ws.on_message([&](std::string_view data, bool is_binary) {
        if (received >= sent.size()) {
            failure = "unexpected extra message";
            return;
        }
        const auto& e = sent[received++];
        if (is_binary != e.binary || data != e.data)
            failure = "message " + std::to_string(received) + " came back different (" + std::to_string(data.size()) +
                      " bytes, binary=" + std::to_string(is_binary) + ")";
        if (received == sent.size()) (void)ws.close(1000, "done");
    });
    ws.on_error([&](std::error_code ec, std::string_view msg) {
        failure = "error: " + std::string(msg) + " (" + ec.message() + ")";
    });
    ws.on_close([&](std::uint16_t code, std::string_view) {
        close_code = code;
        loop.stop();
    });
    loop.set_timeout(std::chrono::seconds(20), [&] {
        failure = "watchdog: no close after 20 s";
        loop.stop();
    });
    loop.run();
    if (failure.empty() && !opened) failure = "never opened";
    if (failure.empty() && received != sent.size()) failure = "only " + std::to_string(received) + " echoes";
    if (failure.empty() && close_code != 1000) failure = "close code " + std::to_string(close_code);
    if (!failure.empty()) {
        std::printf("FAIL %s: %s\n", url, failure.c_str());
        return 1;
    }
    std::printf("PASS %s: %zu messages echoed, closed 1000%s\n", url, received,
                deflate ? (", extensions: " + ws.extensions()).c_str() : "");
    return 0;
}
