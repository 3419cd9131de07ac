// libFuzzer target: what a TURN server (or anyone on its path) sends to the
// client, as datagrams or as a stream in pieces, once an allocation with a
// permission and a channel exists. Must never crash, hang or grow: the
// client's held bytes stay under its bound.
#include "proto/turn/client.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace duplex;
using namespace duplex::proto;

std::vector<std::byte> answer(const stun::Message& req, stun::Class cls, const std::vector<std::byte>& key) {
    stun::MessageWriter w(cls, static_cast<stun::Method>(req.method()), req.transaction_id());
    if (cls == stun::Class::ErrorResponse) {
        w.add_error_code(401, "Unauthorized");
        w.add_string(stun::AttributeType::Realm, "r");
        w.add_string(stun::AttributeType::Nonce, "n");
        return std::move(w).take();
    }
    if (req.method() == static_cast<std::uint16_t>(stun::Method::Allocate)) {
        w.add_xor_address(stun::AttributeType::XorRelayedAddress, {*base::IpAddress::parse("203.0.113.1"), 4000});
        w.add_xor_mapped_address({*base::IpAddress::parse("198.51.100.1"), 5000});
        w.add_u32(stun::AttributeType::Lifetime, 600);
    }
    w.add_message_integrity(key);
    return std::move(w).take();
}

/// Answers every request the client has queued (the first Allocate with 401).
void serve(turn::Client& c, bool& challenged, const std::vector<std::byte>& key, base::Instant now) {
    while (auto t = c.poll_transmit()) {
        auto m = stun::Message::parse(*t);
        if (!m || m->cls() != stun::Class::Request) continue;
        const bool first = !challenged;
        challenged = true;
        c.handle_datagram(answer(*m, first ? stun::Class::ErrorResponse : stun::Class::SuccessResponse, key), now);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const bool stream = (data[0] & 1) != 0;
    turn::ClientConfig cfg;
    cfg.username = "u";
    cfg.password = "p";
    cfg.stream = stream;
    cfg.max_stream_buffer = 70000;
    base::Instant now{};
    turn::Client c(cfg, now);
    const auto k = stun::long_term_key("u", "r", "p");
    const std::vector<std::byte> key(k.begin(), k.end());
    bool challenged = false;
    serve(c, challenged, key, now);
    if (c.state() != turn::ClientState::Allocated) std::abort();
    const base::Endpoint peer{*base::IpAddress::parse("198.51.100.7"), 5000};
    std::vector<std::byte> out;
    (void)c.wrap(peer, std::as_bytes(std::span(data, 1)), now, out);
    serve(c, challenged, key, now);
    if (!c.has_channel(peer)) std::abort();
    while (c.poll_event()) {
    }

    // The rest: chunks of [length: 2 bytes][bytes].
    std::size_t at = 1;
    while (at + 2 <= size) {
        const std::size_t len = std::min<std::size_t>(size - at - 2, (std::size_t{data[at]} << 8) | data[at + 1]);
        const auto chunk = std::as_bytes(std::span(data + at + 2, len));
        at += 2 + len;
        if (stream) {
            c.handle_stream(chunk, now);
            for (int guard = 0; guard < 100000; ++guard) {
                if (!c.poll_received(now)) break;
            }
        } else {
            (void)c.handle_datagram(chunk, now);
        }
        now += base::seconds(7);
        c.handle_timeout(now);
        (void)c.wrap(peer, chunk.first(std::min<std::size_t>(chunk.size(), 1200)), now, out);
        while (c.poll_transmit()) {
        }
        while (c.poll_event()) {
        }
    }
    c.close(now);
    return 0;
}
