// media/vp8_codec.hpp: VP8 with libvpx (Debian libvpx-dev): an encoder for
// the synthetic camera and file-less sources, a decoder for tests and for
// counting what a track delivered. Real-time settings: one pass, no lag,
// error resilient, a key frame on request (a PLI) and every `key_interval`.
#pragma once

#include "media/i420.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::media {

class Vp8Encoder {
public:
    /// nullptr and `error` set when libvpx refuses the settings.
    static std::unique_ptr<Vp8Encoder> create(int width, int height, int fps, int kilobits_per_second,
                                              std::string& error, int key_interval = 300);
    ~Vp8Encoder();
    /// One frame (same size as created) -> one encoded VP8 frame (empty if
    /// the encoder dropped it).
    std::vector<std::byte> encode(const I420Frame& frame, bool force_key_frame);
    bool last_was_key() const noexcept { return last_key_; }
    /// The rate the next frames aim at (a bandwidth estimate moved). False
    /// if libvpx refused it.
    bool set_bitrate(int kilobits_per_second);

private:
    Vp8Encoder() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    bool last_key_ = false;
};

class Vp8Decoder {
public:
    static std::unique_ptr<Vp8Decoder> create(std::string& error);
    ~Vp8Decoder();
    /// One encoded frame -> the picture; nullopt on a decode error (counted).
    std::optional<I420Frame> decode(const std::byte* data, std::size_t size);
    std::uint64_t errors() const noexcept { return errors_; }

private:
    Vp8Decoder() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint64_t errors_ = 0;
};

}  // namespace duplex::media
