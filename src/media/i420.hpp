// media/i420.hpp: an uncompressed video frame, I420 (YUV 4:2:0, three planes),
// what the VP8 encoder takes and its decoder gives back.
#pragma once

#include <cstdint>
#include <vector>

namespace duplex::media {

struct I420Frame {
    int width = 0, height = 0;  // even
    std::vector<std::uint8_t> y, u, v;  // width*height, then (width/2)*(height/2) each

    static I420Frame blank(int w, int h) {
        I420Frame f;
        f.width = w;
        f.height = h;
        f.y.assign(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 16);
        f.u.assign(static_cast<std::size_t>(w / 2) * static_cast<std::size_t>(h / 2), 128);
        f.v.assign(f.u.size(), 128);
        return f;
    }
    std::uint8_t& luma(int x, int yy) { return y[static_cast<std::size_t>(yy) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)]; }
    std::uint8_t luma(int x, int yy) const { return y[static_cast<std::size_t>(yy) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)]; }
};

}  // namespace duplex::media
