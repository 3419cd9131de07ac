// proto/rtc/media_transceiver.cpp: see media_transceiver.hpp.
#include "proto/rtc/media_transceiver.hpp"

#include <openssl/rand.h>

namespace duplex::proto::rtc::media_detail {

std::uint32_t random_u32() {
    std::uint32_t v = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) v = 0x5eed1234;
    return v == 0 ? 1 : v;
}

std::string random_id(std::size_t n) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(n, 'a');
    for (auto& c : s) c = kChars[random_u32() % (sizeof kChars - 1)];
    return s;
}

std::optional<rtp::Codec> codec_of(const sdp::RtpCodec& c) {
    if (c.is("opus") && c.clock_rate == 48000) return rtp::Codec::Opus;
    if (c.is("VP8") && c.clock_rate == 90000) return rtp::Codec::Vp8;
    if (c.is("H264") && c.clock_rate == 90000) return rtp::Codec::H264;
    return std::nullopt;
}

MediaCodec public_codec(rtp::Codec c) {
    switch (c) {
    case rtp::Codec::Opus: return MediaCodec::Opus;
    case rtp::Codec::Vp8: return MediaCodec::Vp8;
    case rtp::Codec::H264: return MediaCodec::H264;
    }
    return MediaCodec::Vp8;
}

std::uint32_t clock_rate(rtp::Codec c) { return c == rtp::Codec::Opus ? 48000 : 90000; }

bool of_kind(MediaCodec c, MediaKind kind) { return (c == MediaCodec::Opus) == (kind == MediaKind::Audio); }

}  // namespace duplex::proto::rtc::media_detail
