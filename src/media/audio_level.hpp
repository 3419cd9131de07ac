// media/audio_level.hpp: the level of a frame of PCM as RFC 6464 §3 puts it
// in the ssrc-audio-level header extension: the RMS of the samples in dB
// below full scale (dBov), 0 (loudest) to 127 (silence, and anything
// quieter).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

namespace duplex::media {

inline std::uint8_t audio_level_dbov(std::span<const std::int16_t> pcm) {
    if (pcm.empty()) return 127;
    double sum = 0;
    for (auto s : pcm) sum += static_cast<double>(s) * s;
    const double rms = std::sqrt(sum / static_cast<double>(pcm.size())) / 32768.0;
    if (rms <= 0) return 127;
    const double dbov = -20.0 * std::log10(rms);
    return static_cast<std::uint8_t>(std::clamp(std::lround(dbov), 0L, 127L));
}

}  // namespace duplex::media
