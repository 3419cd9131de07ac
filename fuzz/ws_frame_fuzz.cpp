// libFuzzer target: the WebSocket connection machine in both roles, fed the
// input in chunks whose sizes come from the input, with the runtime's drive
// loop (handle_bytes, poll_event until empty). Small limits make the size
// checks reachable. Must never crash, hang or stall.
#include "proto/ws/connection.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::ws;
    if (size < 2) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    for (Role role : {Role::Server, Role::Client}) {
        Options o;
        o.max_message_size = 4096;
        o.max_frame_size = 2048;
        o.mask_source = [] { return MaskKey{std::byte(1), std::byte(2), std::byte(3), std::byte(4)}; };
        Connection c(role, o);
        std::vector<std::byte> buf(reinterpret_cast<const std::byte*>(data + 1),
                                   reinterpret_cast<const std::byte*>(data + size));
        const duplex::base::Instant t0{};
        std::size_t off = 0;
        while (off < buf.size()) {
            std::span<std::byte> piece(buf.data() + off, std::min(chunk, buf.size() - off));
            off += piece.size();
            while (!piece.empty()) {
                const std::size_t n = c.handle_bytes(piece, t0);
                if (n > piece.size()) __builtin_trap();
                piece = piece.subspan(n);
                bool any = false;
                while (auto ev = c.poll_event()) {
                    any = true;
                    if (auto* m = std::get_if<MessageEvent>(&*ev)) (void)c.send(m->data, m->binary);
                }
                if (n == 0 && !any && !piece.empty()) __builtin_trap();  // no progress: a stall
            }
            c.tx().clear();
        }
        c.handle_eof(t0);
        while (c.poll_event()) {
        }
    }
    return 0;
}
