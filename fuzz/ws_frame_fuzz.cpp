// libFuzzer target: the WebSocket connection machine in both roles, fed the
// input in chunks whose sizes come from the input, driven two ways side by
// side on copies of the same bytes:
//   A, the general drive loop: handle_bytes, poll_event until empty, send();
//   B, the runtime's fast paths: take_message first, then poll_event;
//      try_send_short for the echo (send() when it declines); input_done
//      once a chunk is done with (connection.hpp's drive loop).
// Both must report the same events and write the same bytes, and neither
// may crash, hang or stall. Small limits make the size checks reachable.
#include "proto/ws/connection.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {
using namespace duplex::proto::ws;

// One event as text, to compare the two drives.
std::string describe(const Event& e) {
    if (auto* m = std::get_if<MessageEvent>(&e))
        return std::string(m->binary ? "bin:" : "text:") + std::string(duplex::base::as_string_view(m->data));
    if (auto* p = std::get_if<PingEvent>(&e)) return "ping:" + std::string(duplex::base::as_string_view(p->data));
    if (auto* p = std::get_if<PongEvent>(&e)) return "pong:" + std::string(duplex::base::as_string_view(p->data));
    const auto& c = std::get<ClosedEvent>(e);
    return "closed:" + std::to_string(c.code) + ":" + std::string(c.reason) + (c.clean ? ":clean" : "");
}

// Handles one piece: returns the events, echoing every message.
std::vector<std::string> drive(Connection& c, std::span<std::byte> piece, bool fast, duplex::base::Instant t0) {
    std::vector<std::string> out;
    while (!piece.empty()) {
        const std::size_t n = c.handle_bytes(piece, t0);
        if (n > piece.size()) __builtin_trap();
        piece = piece.subspan(n);
        bool any = false;
        for (;;) {
            if (fast) {
                duplex::base::Bytes data;
                bool binary = false;
                if (c.take_message(data, binary)) {
                    any = true;
                    out.push_back(describe(MessageEvent{binary, data}));
                    if (!c.try_send_short(data, binary)) (void)c.send(data, binary);
                    continue;
                }
            }
            auto ev = c.poll_event();
            if (!ev) break;
            any = true;
            out.push_back(describe(*ev));
            if (auto* m = std::get_if<MessageEvent>(&*ev)) (void)c.send(m->data, m->binary);
        }
        if (n == 0 && !any && !piece.empty()) __builtin_trap();  // no progress: a stall
    }
    if (fast) c.input_done();
    return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    for (Role role : {Role::Server, Role::Client}) {
        Options o;
        o.max_message_size = 4096;
        o.max_frame_size = 2048;
        o.mask_source = [] { return MaskKey{std::byte(1), std::byte(2), std::byte(3), std::byte(4)}; };
        Connection a(role, o), b(role, o);
        // Each machine unmasks its own copy in place.
        std::vector<std::byte> buf_a(reinterpret_cast<const std::byte*>(data + 1),
                                     reinterpret_cast<const std::byte*>(data + size));
        std::vector<std::byte> buf_b = buf_a;
        const duplex::base::Instant t0{};
        std::size_t off = 0;
        while (off < buf_a.size()) {
            const std::size_t len = std::min(chunk, buf_a.size() - off);
            const auto ea = drive(a, {buf_a.data() + off, len}, false, t0);
            const auto eb = drive(b, {buf_b.data() + off, len}, true, t0);
            if (ea != eb) __builtin_trap();  // the fast path decided otherwise
            const auto ta = a.tx().data(), tb = b.tx().data();
            if (ta.size() != tb.size() || !std::equal(ta.begin(), ta.end(), tb.begin())) __builtin_trap();
            a.tx().clear();
            b.tx().clear();
            off += len;
        }
        a.handle_eof(t0);
        b.handle_eof(t0);
        while (a.poll_event()) {
        }
        while (b.poll_event()) {
        }
    }
    return 0;
}
