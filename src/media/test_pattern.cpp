// media/test_pattern.cpp: see test_pattern.hpp.
#include "media/test_pattern.hpp"

namespace duplex::media {

namespace {

constexpr std::uint8_t kWhite = 235, kBlack = 16;  // video range (BT.601)

void block(I420Frame& f, int index, bool white) {
    for (int yy = 0; yy < kCodeBlock; ++yy)
        for (int x = 0; x < kCodeBlock; ++x) f.luma(index * kCodeBlock + x, yy) = white ? kWhite : kBlack;
    // Neutral chroma under the code: the blocks are grey levels only.
    for (int yy = 0; yy < kCodeBlock / 2; ++yy)
        for (int x = 0; x < kCodeBlock / 2; ++x) {
            const auto at = static_cast<std::size_t>(yy) * static_cast<std::size_t>(f.width / 2) +
                            static_cast<std::size_t>(index * kCodeBlock / 2 + x);
            f.u[at] = f.v[at] = 128;
        }
}

// The mean luma of a block's centre (8x8 of its 16x16: codec ringing stays at the edges).
int sample(const I420Frame& f, int index) {
    int sum = 0;
    for (int yy = 4; yy < 12; ++yy)
        for (int x = 4; x < 12; ++x) sum += f.luma(index * kCodeBlock + x, yy);
    return sum / 64;
}

}  // namespace

TestPattern::TestPattern(int width, int height) : frame_(I420Frame::blank(width, height)) {}

const I420Frame& TestPattern::next() {
    const int w = frame_.width, h = frame_.height;
    const int shift = static_cast<int>(count_ * 4);
    for (int yy = 0; yy < h; ++yy)
        for (int x = 0; x < w; ++x) frame_.luma(x, yy) = static_cast<std::uint8_t>(32 + ((x + yy + shift) % 160));
    const int bar = (shift * 2) % w;
    for (int yy = kCodeBlock * 2; yy < h; ++yy)
        for (int x = bar; x < bar + 24 && x < w; ++x) frame_.luma(x, yy) = kWhite;
    for (std::size_t i = 0; i < frame_.u.size(); ++i) {
        frame_.u[i] = static_cast<std::uint8_t>(96 + (i + static_cast<std::size_t>(shift)) % 64);
        frame_.v[i] = static_cast<std::uint8_t>(160 - (i / static_cast<std::size_t>(w / 2) + static_cast<std::size_t>(shift)) % 64);
    }
    const auto number = static_cast<std::uint16_t>(count_);
    block(frame_, 0, true);
    for (int bit = 0; bit < 16; ++bit) block(frame_, 1 + bit, (number >> (15 - bit)) & 1);
    block(frame_, 17, false);
    ++count_;
    return frame_;
}

std::optional<std::uint16_t> read_frame_number(const I420Frame& f) {
    if (f.width < kCodeBlock * kCodeBlocks || f.height < kCodeBlock) return std::nullopt;
    if (sample(f, 0) < 180 || sample(f, 17) > 70) return std::nullopt;
    std::uint16_t n = 0;
    for (int bit = 0; bit < 16; ++bit) {
        const int s = sample(f, 1 + bit);
        if (s > 70 && s < 180) return std::nullopt;  // neither: damaged
        n = static_cast<std::uint16_t>(n << 1 | (s >= 180 ? 1 : 0));
    }
    return n;
}

}  // namespace duplex::media
