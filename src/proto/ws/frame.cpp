#include "proto/ws/frame.hpp"

#include "proto/ws/error.hpp"

#include <bit>
#include <cstring>

namespace duplex::proto::ws {

HeaderParse parse_frame_header(base::Bytes in) noexcept {
    if (in.size() < 2) return NeedMore{};
    const auto b0 = std::to_integer<std::uint8_t>(in[0]);
    const auto b1 = std::to_integer<std::uint8_t>(in[1]);
    const std::size_t need = header_len_from(b1);
    if (in.size() < need) return NeedMore{};

    FrameHeader h;
    h.fin = (b0 & 0x80) != 0;
    h.rsv = static_cast<std::uint8_t>((b0 >> 4) & 0x7);
    h.opcode = b0 & 0x0f;
    h.masked = (b1 & 0x80) != 0;
    h.header_len = need;
    std::size_t pos = 2;
    const std::uint8_t len7 = b1 & 0x7f;
    if (len7 == 126) {
        h.payload_len = base::load_be16(in.data() + 2);
        pos = 4;
    } else if (len7 == 127) {
        h.payload_len = base::load_be64(in.data() + 2);
        // §5.2: "the most significant bit MUST be 0".
        if (h.payload_len >> 63) return make_error_code(WsError::length_msb_set);
        pos = 10;
    } else {
        h.payload_len = len7;
    }
    if (h.masked) std::memcpy(h.mask.data(), in.data() + pos, 4);
    return h;
}

std::size_t write_frame_header(std::byte* out, bool fin, Opcode op, std::uint64_t len,
                               const MaskKey* mask, std::uint8_t rsv) noexcept {
    out[0] = std::byte((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | static_cast<std::uint8_t>(op));
    const std::uint8_t mask_bit = mask ? 0x80 : 0;
    std::size_t pos;
    if (len < 126) {
        out[1] = std::byte(mask_bit | static_cast<std::uint8_t>(len));
        pos = 2;
    } else if (len <= 0xffff) {
        out[1] = std::byte(mask_bit | 126);
        base::store_be16(out + 2, static_cast<std::uint16_t>(len));
        pos = 4;
    } else {
        out[1] = std::byte(mask_bit | 127);
        base::store_be64(out + 2, len);
        pos = 10;
    }
    if (mask) {
        std::memcpy(out + pos, mask->data(), 4);
        pos += 4;
    }
    return pos;
}

void apply_mask(base::MutableBytes data, const MaskKey& mask, std::uint64_t offset) noexcept {
    // Rotate the key so that key[0] lines up with data[0], then XOR a word at
    // a time. The key as one 32-bit word in memory order, rotated by whole
    // bytes: a handful of instructions even for the 16-byte messages that
    // dominate chat-like traffic.
    std::uint32_t k32;
    std::memcpy(&k32, mask.data(), 4);
    const unsigned shift = static_cast<unsigned>(offset & 3) * 8;
    if (shift != 0) {
        // Little-endian: memory byte i is bits 8i..8i+7, so moving byte
        // (offset+i)&3 to position i is a right rotation; big-endian, a left one.
        if constexpr (std::endian::native == std::endian::little) k32 = (k32 >> shift) | (k32 << (32 - shift));
        else k32 = (k32 << shift) | (k32 >> (32 - shift));
    }
    (void)xor_key_words(data.data(), data.size(), k32);
}

void copy_masked(std::byte* out, base::Bytes in, const MaskKey& mask) noexcept {
    std::memcpy(out, in.data(), in.size());
    apply_mask({out, in.size()}, mask, 0);
}

}  // namespace duplex::proto::ws
