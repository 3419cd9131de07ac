#include "base/utf8.hpp"

#include <cstring>

namespace duplex::base {

// RFC 3629 §4 syntax. The first byte fixes how many continuation bytes follow
// and, for E0/ED/F0/F4, narrows the range of the second one (overlongs,
// surrogates U+D800..DFFF, and code points above U+10FFFF are excluded).
bool Utf8Validator::feed(std::span<const std::byte> in) noexcept {
    if (bad_) return false;
    const auto* p = reinterpret_cast<const std::uint8_t*>(in.data());
    const auto* end = p + in.size();
    while (p < end) {
        if (need_ == 0) {
            // ASCII fast path: 32 bytes per step (four words OR-ed, one
            // test), then eight at a time.
            while (end - p >= 32) {
                std::uint64_t w[4];
                std::memcpy(w, p, 32);
                if ((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ULL) break;
                p += 32;
            }
            while (end - p >= 8) {
                std::uint64_t w;
                std::memcpy(&w, p, 8);
                if (w & 0x8080808080808080ULL) break;
                p += 8;
            }
            if (p == end) break;
            const std::uint8_t c = *p++;
            if (c < 0x80) continue;
            if (c < 0xC2) { bad_ = true; return false; }  // continuation or overlong C0/C1
            if (c < 0xE0) { need_ = 1; lo_ = 0x80; hi_ = 0xBF; }
            else if (c < 0xF0) {
                need_ = 2;
                lo_ = c == 0xE0 ? 0xA0 : 0x80;
                hi_ = c == 0xED ? 0x9F : 0xBF;
            } else if (c < 0xF5) {
                need_ = 3;
                lo_ = c == 0xF0 ? 0x90 : 0x80;
                hi_ = c == 0xF4 ? 0x8F : 0xBF;
            } else { bad_ = true; return false; }
        } else {
            const std::uint8_t c = *p++;
            if (c < lo_ || c > hi_) { bad_ = true; return false; }
            --need_;
            lo_ = 0x80;
            hi_ = 0xBF;
        }
    }
    return true;
}

bool is_valid_utf8(std::span<const std::byte> in) noexcept {
    // Whole short ASCII texts (most chat and JSON messages) in a few
    // instructions: eight bytes per test, the tail as one overlapping word.
    // At the first non-ASCII word the validator takes over from there (the
    // bytes before it are whole characters).
    const auto* p = reinterpret_cast<const std::uint8_t*>(in.data());
    std::size_t n = in.size();
    constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        if (w & kHigh) break;
        p += 8;
        n -= 8;
    }
    if (n < 8) {
        if (n == 0) return true;
        if (in.size() >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p + n - 8, 8);  // the last eight bytes, partly checked already
            if (!(w & kHigh)) return true;
        } else {
            std::uint8_t any = 0;
            for (std::size_t i = 0; i < n; ++i) any |= p[i];
            if (!(any & 0x80)) return true;
        }
    }
    Utf8Validator v;
    return v.feed({reinterpret_cast<const std::byte*>(p), n}) && v.complete();
}

}  // namespace duplex::base
