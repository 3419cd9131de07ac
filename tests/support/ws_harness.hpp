// tests/support/ws_harness.hpp: drives a proto::ws::Connection the way the
// runtime does (handle_bytes, poll_event until empty, repeat), records what
// came out as owned copies, and decodes the frames it wrote.
#pragma once

#include "base/bytes.hpp"
#include "proto/ws/connection.hpp"
#include "proto/ws/frame.hpp"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace duplex::test {

using proto::ws::Connection;
using proto::ws::Opcode;
using proto::ws::Role;

inline std::vector<std::byte> bytes_of(std::string_view s) {
    std::vector<std::byte> out(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) out[i] = std::byte(static_cast<unsigned char>(s[i]));
    return out;
}

/// "81 05 48 65" -> bytes.
inline std::vector<std::byte> hex(std::string_view h) {
    std::vector<std::byte> out;
    int hi = -1;
    for (char c : h) {
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;
        if (hi < 0) hi = v;
        else { out.push_back(std::byte(hi * 16 + v)); hi = -1; }
    }
    return out;
}

/// One frame as a peer would send it (masked when `mask` is set).
inline std::vector<std::byte> frame(std::uint8_t b0, std::string_view payload, bool mask,
                                    std::uint64_t declared_len = UINT64_MAX) {
    std::vector<std::byte> out;
    const std::uint64_t len = declared_len == UINT64_MAX ? payload.size() : declared_len;
    out.push_back(std::byte(b0));
    const std::uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) out.push_back(std::byte(mbit | len));
    else if (len <= 0xffff) {
        out.push_back(std::byte(mbit | 126));
        out.push_back(std::byte(len >> 8));
        out.push_back(std::byte(len & 0xff));
    } else {
        out.push_back(std::byte(mbit | 127));
        for (int i = 7; i >= 0; --i) out.push_back(std::byte((len >> (8 * i)) & 0xff));
    }
    const proto::ws::MaskKey key{std::byte(0x37), std::byte(0xfa), std::byte(0x21), std::byte(0x3d)};
    if (mask) out.insert(out.end(), key.begin(), key.end());
    const std::size_t start = out.size();
    for (char c : payload) out.push_back(std::byte(static_cast<unsigned char>(c)));
    if (mask) proto::ws::apply_mask({out.data() + start, payload.size()}, key, 0);
    return out;
}

inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xff);
    p += reason;
    return p;
}

struct Recorded {
    enum Kind { Message, Ping, Pong, Closed } kind;
    bool binary = false;
    std::string data;        // message / ping / pong payload, or close reason
    std::uint16_t code = 0;
    bool clean = false;
    std::error_code error;
};

/// A decoded frame written by the machine.
struct WireFrame {
    bool fin;
    std::uint8_t rsv;
    std::uint8_t opcode;
    bool masked;
    std::string payload;     // unmasked
    std::uint16_t close_code() const {
        return payload.size() >= 2 ? static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                                 static_cast<unsigned char>(payload[1]))
                                   : 0;
    }
};

class Harness {
public:
    explicit Harness(Role role, proto::ws::Options opts = {}) : conn(role, with_fixed_mask(std::move(opts))) {}

    /// Feeds `in` in pieces of the given sizes (the last piece takes the rest).
    void feed(std::vector<std::byte> in, const std::vector<std::size_t>& cuts = {}) {
        std::size_t pos = 0;
        for (std::size_t cut : cuts) {
            if (pos >= in.size()) break;
            const std::size_t n = std::min(cut, in.size() - pos);
            feed_piece({in.data() + pos, n});
            pos += n;
        }
        if (pos < in.size()) feed_piece({in.data() + pos, in.size() - pos});
    }
    void feed_piece(base::MutableBytes piece) {
        while (!piece.empty()) {
            const std::size_t n = conn.handle_bytes(piece, now);
            piece = piece.subspan(n);
            drain();
            if (n == 0 && !piece.empty() && conn.state() != proto::ws::State::Closed) {
                // handle_bytes must make progress once events are drained.
                stalled = true;
                return;
            }
        }
    }
    void drain() {
        while (auto ev = conn.poll_event()) {
            Recorded r{};
            if (auto* m = std::get_if<proto::ws::MessageEvent>(&*ev)) {
                r.kind = Recorded::Message;
                r.binary = m->binary;
                r.data.assign(base::as_string_view(m->data));
            } else if (auto* p = std::get_if<proto::ws::PingEvent>(&*ev)) {
                r.kind = Recorded::Ping;
                r.data.assign(base::as_string_view(p->data));
            } else if (auto* q = std::get_if<proto::ws::PongEvent>(&*ev)) {
                r.kind = Recorded::Pong;
                r.data.assign(base::as_string_view(q->data));
            } else if (auto* c = std::get_if<proto::ws::ClosedEvent>(&*ev)) {
                r.kind = Recorded::Closed;
                r.code = c->code;
                r.data.assign(c->reason);
                r.clean = c->clean;
                r.error = c->error;
            }
            events.push_back(std::move(r));
        }
    }
    /// Frames written so far (and consumes them from tx).
    std::vector<WireFrame> take_frames() {
        std::vector<WireFrame> out;
        auto& q = conn.tx();
        base::Bytes data = q.data();
        std::size_t pos = 0;
        while (pos < data.size()) {
            auto r = proto::ws::parse_frame_header(data.subspan(pos));
            auto* h = std::get_if<proto::ws::FrameHeader>(&r);
            if (!h || pos + h->header_len + h->payload_len > data.size()) break;
            WireFrame f{h->fin, h->rsv, h->opcode, h->masked, {}};
            std::vector<std::byte> p(data.begin() + static_cast<std::ptrdiff_t>(pos + h->header_len),
                                     data.begin() + static_cast<std::ptrdiff_t>(pos + h->header_len + h->payload_len));
            if (h->masked) proto::ws::apply_mask(p, h->mask, 0);
            f.payload.assign(reinterpret_cast<const char*>(p.data()), p.size());
            out.push_back(std::move(f));
            pos += h->header_len + h->payload_len;
        }
        q.consume(pos);
        return out;
    }
    const Recorded* closed() const {
        for (const auto& e : events)
            if (e.kind == Recorded::Closed) return &e;
        return nullptr;
    }
    std::vector<Recorded> messages() const {
        std::vector<Recorded> out;
        for (const auto& e : events)
            if (e.kind == Recorded::Message) out.push_back(e);
        return out;
    }

    Connection conn;
    base::Instant now{};
    std::vector<Recorded> events;
    bool stalled = false;

private:
    static proto::ws::Options with_fixed_mask(proto::ws::Options o) {
        if (!o.mask_source)
            o.mask_source = [] { return proto::ws::MaskKey{std::byte(1), std::byte(2), std::byte(3), std::byte(4)}; };
        return o;
    }
};

/// Runs `check` once with the input whole, once split at every position, and
/// a few times in random chunks (uWS's makeChunked idea).
inline void for_each_split(const std::vector<std::byte>& input, const std::function<void(std::vector<std::size_t>)>& check) {
    check({});
    for (std::size_t cut = 1; cut < input.size(); ++cut) check({cut});
    std::mt19937 rng(12345);
    for (int round = 0; round < 8; ++round) {
        std::vector<std::size_t> cuts;
        std::size_t total = 0;
        while (total < input.size()) {
            const std::size_t n = 1 + rng() % 7;
            cuts.push_back(n);
            total += n;
        }
        check(cuts);
    }
}

inline std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

}  // namespace duplex::test
