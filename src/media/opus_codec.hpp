// media/opus_codec.hpp: Opus with libopus (Debian libopus-dev) at 48 kHz,
// stereo, 20 ms frames (what browsers send): an encoder for the tone source
// and a decoder for tests (it tells a track's audio from silence).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace duplex::media {

inline constexpr int kOpusRate = 48000;
inline constexpr int kOpusChannels = 2;
inline constexpr int kOpusFrameSamples = 960;  // 20 ms at 48 kHz, per channel

class OpusEncoder {
public:
    static std::unique_ptr<OpusEncoder> create(int bits_per_second, std::string& error);
    ~OpusEncoder();
    /// 20 ms of interleaved stereo samples (1920 values) -> one packet.
    std::vector<std::byte> encode(std::span<const std::int16_t> pcm);

private:
    OpusEncoder() = default;
    void* enc_ = nullptr;
};

class OpusDecoder {
public:
    static std::unique_ptr<OpusDecoder> create(std::string& error);
    ~OpusDecoder();
    /// A packet -> its samples (interleaved stereo); empty on an error (counted).
    std::vector<std::int16_t> decode(const std::byte* data, std::size_t size);
    std::uint64_t errors() const noexcept { return errors_; }

private:
    OpusDecoder() = default;
    void* dec_ = nullptr;
    std::uint64_t errors_ = 0;
};

/// A tone: 20 ms frames of a sine at `hz`, interleaved stereo.
class Tone {
public:
    explicit Tone(double hz = 440.0, double amplitude = 0.25) : hz_(hz), amplitude_(amplitude) {}
    const std::vector<std::int16_t>& next();

private:
    double hz_, amplitude_;
    std::uint64_t sample_ = 0;
    std::vector<std::int16_t> frame_ = std::vector<std::int16_t>(kOpusFrameSamples * kOpusChannels);
};

}  // namespace duplex::media
