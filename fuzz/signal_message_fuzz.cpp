// libFuzzer target: the signaling schema from both sides, and the rooms
// machine. Any text is read as a client message (what the server gets) and
// as a server message (what a peer gets): never an exception or a crash,
// and what parses writes back to a text that parses to the same writing.
// The text is then fed to a Rooms machine from a few peers in turn.
#include "proto/signal/message.hpp"
#include "proto/signal/rooms.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::signal;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    auto c = parse_client_message(text);
    if (auto* m = std::get_if<ClientMessage>(&c)) {
        const auto written = write_client_message(*m);
        auto again = parse_client_message(written);
        if (!std::holds_alternative<ClientMessage>(again)) __builtin_trap();
        if (write_client_message(std::get<ClientMessage>(again)) != written) __builtin_trap();
    }
    auto s = parse_server_message(text);
    if (auto* m = std::get_if<ServerMessage>(&s)) {
        const auto written = write_server_message(*m);
        auto again = parse_server_message(written);
        if (!std::holds_alternative<ServerMessage>(again)) __builtin_trap();
        if (write_server_message(std::get<ServerMessage>(again)) != written) __builtin_trap();
    }

    // The machine: three peers, the input split at its newlines, each line
    // from the next peer in turn; a join first so that relays reach it.
    Config config;
    config.limits.max_room_size = 3;
    config.limits.max_rooms = 4;
    config.limits.max_rooms_per_address = 2;
    config.new_id = [n = 0]() mutable { return "p" + std::to_string(++n); };
    Rooms rooms(config);
    for (PeerRef p = 1; p <= 3; ++p) rooms.handle_connect(p, p == 3 ? "b" : "a");
    (void)rooms.handle_message(1, R"({"type":"join","room":"r","id":"a"})", 0, 0);
    std::size_t start = 0;
    PeerRef who = 1;
    double t = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        auto out = rooms.handle_message(who, text.substr(start, end - start), 0, t += 0.01);
        for (const auto& send : out.sends)
            if (!std::holds_alternative<ServerMessage>(parse_server_message(send.text))) __builtin_trap();
        who = who % 3 + 1;
        start = end + 1;
    }
    for (PeerRef p = 1; p <= 3; ++p) (void)rooms.handle_disconnect(p);
    if (rooms.room_count() != 0 || rooms.peer_count() != 0) __builtin_trap();
    return 0;
}
