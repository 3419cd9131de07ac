// media/test_pattern.hpp: a synthetic camera. Each frame has a moving
// gradient and bar (so every frame really changes and costs bits) and, in
// its top-left corner, its number as a bar code that survives a lossy codec:
// a row of 18 blocks of 16x16 pixels, a white start block, 16 bits (white =
// 1, black = 0, most significant first) and a black stop block. A receiver
// (our tests, a browser canvas) reads the number back to count frames lost,
// repeated or late.
#pragma once

#include "media/i420.hpp"

#include <cstdint>
#include <optional>

namespace duplex::media {

inline constexpr int kCodeBlock = 16;
inline constexpr int kCodeBlocks = 18;  // start, 16 bits, stop

class TestPattern {
public:
    /// At least 288x32 (the bar code's width); even sizes.
    TestPattern(int width, int height);
    /// The next frame; its number is the count of frames made before it
    /// (modulo 2^16).
    const I420Frame& next();
    std::uint32_t frames() const noexcept { return count_; }

private:
    I420Frame frame_;
    std::uint32_t count_ = 0;
};

/// The frame number a decoded frame carries, or nullopt when its bar code
/// does not read (no start/stop block: not a test pattern, or too damaged).
std::optional<std::uint16_t> read_frame_number(const I420Frame& frame);

}  // namespace duplex::media
