// base/utf8.hpp: incremental UTF-8 validation (RFC 3629 §4), as RFC 6455 §8.1
// requires for text messages. It fails as soon as a byte makes the sequence
// certainly invalid (not at the end of the message), so a WebSocket peer can
// "fail fast" (Autobahn section 6), and it keeps its state across fragments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace duplex::base {

class Utf8Validator {
public:
    /// Feeds the next bytes. Returns false once the input so far can no longer
    /// be a prefix of valid UTF-8 (and keeps returning false until reset()).
    bool feed(std::span<const std::byte> in) noexcept;
    /// True when the bytes fed so far end on a character boundary.
    bool complete() const noexcept { return need_ == 0 && !bad_; }
    bool failed() const noexcept { return bad_; }
    void reset() noexcept { *this = Utf8Validator{}; }

private:
    std::uint8_t need_ = 0;   // continuation bytes still expected
    std::uint8_t lo_ = 0x80;  // allowed range of the next continuation byte
    std::uint8_t hi_ = 0xBF;
    bool bad_ = false;
};

/// Whole-string check.
bool is_valid_utf8(std::span<const std::byte> in) noexcept;
inline bool is_valid_utf8(std::string_view s) noexcept {
    return is_valid_utf8({reinterpret_cast<const std::byte*>(s.data()), s.size()});
}

}  // namespace duplex::base
