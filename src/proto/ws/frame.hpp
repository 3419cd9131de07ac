// proto/ws/frame.hpp: the base framing codec (RFC 6455 §5.2) and masking (§5.3).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-------+-+-------------+-------------------------------+
//  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//  | |1|2|3|       |K|             |                               |
//  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//  |     Extended payload length continued, if payload len == 127  |
//  + - - - - - - - - - - - - - - - +-------------------------------+
//  |                               |Masking-key, if MASK set to 1  |
//  +-------------------------------+-------------------------------+
//  | Masking-key (continued)       |          Payload Data         |
//  +-------------------------------- - - - - - - - - - - - - - - - +
//
// This layer only decodes and encodes; the rules that depend on the
// connection (role, fragmentation, limits) live in Connection.
#pragma once

#include "base/bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <variant>

namespace duplex::proto::ws {

enum class Opcode : std::uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

constexpr bool is_control(Opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }
constexpr bool is_known_opcode(std::uint8_t op) noexcept {
    return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

using MaskKey = std::array<std::byte, 4>;

struct FrameHeader {
    bool fin = true;
    std::uint8_t rsv = 0;             // RSV1..3 as bits 0x4, 0x2, 0x1
    std::uint8_t opcode = 0;          // raw; may be a reserved value
    bool masked = false;
    std::uint64_t payload_len = 0;
    MaskKey mask{};
    std::size_t header_len = 0;       // bytes the header occupied on the wire
};

struct NeedMore {};
/// A tri-state parse result: more bytes needed, a header, or an error.
using HeaderParse = std::variant<NeedMore, FrameHeader, std::error_code>;

constexpr std::size_t kMaxHeaderLen = 14;

/// The total header length implied by the first two bytes.
constexpr std::size_t header_len_from(std::uint8_t b1) noexcept {
    const std::uint8_t len7 = b1 & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
}

/// Decodes a frame header from the front of `in`. Rejects only what is wrong
/// whatever the connection: a 64-bit length with the top bit set (§5.2).
/// Non-minimal length encodings are accepted (a documented choice: §5.2 binds
/// the sender, and rejecting them buys no safety).
HeaderParse parse_frame_header(base::Bytes in) noexcept;

/// Writes a header into `out` (at least kMaxHeaderLen bytes), always with the
/// minimal length encoding (§5.2). Returns the number of bytes written.
std::size_t write_frame_header(std::byte* out, bool fin, Opcode op, std::uint64_t len,
                               const MaskKey* mask, std::uint8_t rsv = 0) noexcept;

/// XORs `data` with the mask (§5.3), `offset` being the position of data[0]
/// within the frame's payload (so a payload may be unmasked piece by piece).
void apply_mask(base::MutableBytes data, const MaskKey& mask, std::uint64_t offset) noexcept;
/// Copies `in` to `out` while masking it (the client's send path).
void copy_masked(std::byte* out, base::Bytes in, const MaskKey& mask) noexcept;
/// XORs `n` bytes at `p` with the key `k32` (four key bytes in memory order,
/// already rotated to line up with p[0]), eight bytes a step (memcpy loads:
/// no unaligned punning), and returns every resulting byte ORed together
/// (bit 7 of some byte set: not all ASCII). Shared by apply_mask() and
/// unmask_is_ascii(); inline for the server's short messages.
inline std::uint64_t xor_key_words(std::byte* p, std::size_t n, std::uint32_t k32) noexcept {
    const std::uint64_t k64 = (std::uint64_t{k32} << 32) | k32;  // the key twice, in memory order
    std::uint64_t seen = 0;
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        w ^= k64;
        std::memcpy(p, &w, 8);
        seen |= w;
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        w ^= k32;
        std::memcpy(p, &w, 4);
        seen |= w;
        p += 4;
        n -= 4;
    }
    std::byte k[4];
    std::memcpy(k, &k32, 4);
    for (std::size_t i = 0; i < n; ++i) {  // a multiple of 4 is behind: key byte i
        p[i] ^= k[i];
        seen |= std::to_integer<std::uint8_t>(p[i]);
    }
    return seen;
}

/// Unmasks a whole payload (offset 0) and tells whether every byte is ASCII,
/// in one pass: an ASCII text is valid UTF-8 (§8.1) without the validator.
inline bool unmask_is_ascii(base::MutableBytes data, const MaskKey& mask) noexcept {
    std::uint32_t k32;
    std::memcpy(&k32, mask.data(), 4);
    return (xor_key_words(data.data(), data.size(), k32) & 0x8080808080808080ULL) == 0;
}

}  // namespace duplex::proto::ws
