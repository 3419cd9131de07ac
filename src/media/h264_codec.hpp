// media/h264_codec.hpp: H.264 with OpenH264 (Debian libopenh264-dev, BSD):
// constrained baseline, what WebRTC's H.264 is (RFC 6184, profile-level-id
// 42e01f). Frames are Annex B access units, as the payload format
// (proto/rtp/h264.cpp) takes and gives them. With max_nal_bytes the encoder
// cuts its slices so that no NAL unit is larger (size-limited slices): what
// packetization mode 0, one NAL unit per packet, needs.
#pragma once

#include "media/i420.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::media {

class H264Encoder {
public:
    static std::unique_ptr<H264Encoder> create(int width, int height, int fps, int kilobits_per_second, std::string& error,
                                               unsigned max_nal_bytes = 0);
    ~H264Encoder();
    /// One frame -> one access unit (SPS and PPS before each IDR); empty if skipped.
    std::vector<std::byte> encode(const I420Frame& frame, bool force_key_frame);
    bool last_was_key() const noexcept { return last_key_; }
    /// The rate the next frames aim at (a bandwidth estimate moved). False
    /// if OpenH264 refused it.
    bool set_bitrate(int kilobits_per_second);

private:
    H264Encoder() = default;
    void* enc_ = nullptr;  // ISVCEncoder*
    int fps_ = 30;
    std::uint64_t frames_ = 0;
    bool last_key_ = false;
};

class H264Decoder {
public:
    static std::unique_ptr<H264Decoder> create(std::string& error);
    ~H264Decoder();
    /// One access unit -> the picture (nullopt while the decoder waits for
    /// more, or on an error, which is counted).
    std::optional<I420Frame> decode(const std::byte* data, std::size_t size);
    std::uint64_t errors() const noexcept { return errors_; }

private:
    H264Decoder() = default;
    void* dec_ = nullptr;  // ISVCDecoder*
    std::uint64_t errors_ = 0;
};

}  // namespace duplex::media
