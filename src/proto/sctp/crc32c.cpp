// proto/sctp/crc32c.cpp
#include "proto/sctp/crc32c.hpp"

#include <array>
#include <cstring>

namespace duplex::proto::sctp {

namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // Castagnoli, reflected

struct Tables {
    std::array<std::array<std::uint32_t, 256>, 8> t{};
    constexpr Tables() {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
            t[0][i] = c;
        }
        for (std::size_t i = 0; i < 256; ++i)
            for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
};
constexpr Tables kTables;

std::uint32_t update_table(std::uint32_t crc, const std::uint8_t* p, std::size_t n) noexcept {
    const auto& t = kTables.t;
    while (n >= 8) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);  // little-endian hosts (x86, ARM): the reflected CRC eats bytes in order
        v ^= crc;
        crc = t[7][v & 0xFF] ^ t[6][(v >> 8) & 0xFF] ^ t[5][(v >> 16) & 0xFF] ^ t[4][(v >> 24) & 0xFF] ^
              t[3][(v >> 32) & 0xFF] ^ t[2][(v >> 40) & 0xFF] ^ t[1][(v >> 48) & 0xFF] ^ t[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t update_sse42(std::uint32_t crc, const std::uint8_t* p,
                                                             std::size_t n) noexcept {
    std::uint64_t c = crc;
    while (n >= 8) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    auto c32 = static_cast<std::uint32_t>(c);
    while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

bool have_sse42() noexcept {
    static const bool yes = __builtin_cpu_supports("sse4.2");
    return yes;
}
#endif

std::uint32_t update(std::uint32_t crc, const std::uint8_t* p, std::size_t n) noexcept {
#if defined(__x86_64__)
    if (have_sse42()) return update_sse42(crc, p, n);
#endif
    return update_table(crc, p, n);
}

}  // namespace

std::uint32_t crc32c(base::Bytes data) noexcept {
    return ~update(~0u, reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
}

std::uint32_t sctp_checksum(base::Bytes packet) noexcept {
    static constexpr std::uint8_t zero[4] = {0, 0, 0, 0};
    const auto* p = reinterpret_cast<const std::uint8_t*>(packet.data());
    std::uint32_t crc = update(~0u, p, 8);
    crc = update(crc, zero, 4);
    crc = update(crc, p + 12, packet.size() - 12);
    return ~crc;
}

void set_sctp_checksum(base::MutableBytes packet) noexcept {
    if (packet.size() < 12) return;
    const std::uint32_t c = sctp_checksum(packet);
    for (int i = 0; i < 4; ++i) packet[8 + static_cast<std::size_t>(i)] = static_cast<std::byte>((c >> (8 * i)) & 0xFF);
}

bool sctp_checksum_ok(base::Bytes packet) noexcept {
    if (packet.size() < 12) return false;
    const std::uint32_t c = sctp_checksum(packet);
    for (int i = 0; i < 4; ++i)
        if (packet[8 + static_cast<std::size_t>(i)] != static_cast<std::byte>((c >> (8 * i)) & 0xFF)) return false;
    return true;
}

}  // namespace duplex::proto::sctp
