// media/opus_codec.cpp: see opus_codec.hpp.
#include "media/opus_codec.hpp"

#include <opus/opus.h>

#include <cmath>
#include <numbers>

namespace duplex::media {

std::unique_ptr<OpusEncoder> OpusEncoder::create(int bps, std::string& error) {
    std::unique_ptr<OpusEncoder> e(new OpusEncoder);
    int err = 0;
    e->enc_ = opus_encoder_create(kOpusRate, kOpusChannels, OPUS_APPLICATION_AUDIO, &err);
    if (err != OPUS_OK) {
        error = std::string("libopus: ") + opus_strerror(err);
        return nullptr;
    }
    opus_encoder_ctl(static_cast<::OpusEncoder*>(e->enc_), OPUS_SET_BITRATE(bps));
    return e;
}

OpusEncoder::~OpusEncoder() {
    if (enc_) opus_encoder_destroy(static_cast<::OpusEncoder*>(enc_));
}

std::vector<std::byte> OpusEncoder::encode(std::span<const std::int16_t> pcm) {
    std::vector<std::byte> out(1500);
    const int n = opus_encode(static_cast<::OpusEncoder*>(enc_), pcm.data(), kOpusFrameSamples,
                              reinterpret_cast<unsigned char*>(out.data()), static_cast<opus_int32>(out.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

std::unique_ptr<OpusDecoder> OpusDecoder::create(std::string& error) {
    std::unique_ptr<OpusDecoder> d(new OpusDecoder);
    int err = 0;
    d->dec_ = opus_decoder_create(kOpusRate, kOpusChannels, &err);
    if (err != OPUS_OK) {
        error = std::string("libopus: ") + opus_strerror(err);
        return nullptr;
    }
    return d;
}

OpusDecoder::~OpusDecoder() {
    if (dec_) opus_decoder_destroy(static_cast<::OpusDecoder*>(dec_));
}

std::vector<std::int16_t> OpusDecoder::decode(const std::byte* data, std::size_t size) {
    std::vector<std::int16_t> pcm(5760 * kOpusChannels);  // 120 ms, the longest Opus packet
    const int n = opus_decode(static_cast<::OpusDecoder*>(dec_), reinterpret_cast<const unsigned char*>(data),
                              static_cast<opus_int32>(size), pcm.data(), 5760, 0);
    if (n < 0) {
        ++errors_;
        return {};
    }
    pcm.resize(static_cast<std::size_t>(n) * kOpusChannels);
    return pcm;
}

const std::vector<std::int16_t>& Tone::next() {
    for (int i = 0; i < kOpusFrameSamples; ++i, ++sample_) {
        const double t = static_cast<double>(sample_) / kOpusRate;
        const auto v = static_cast<std::int16_t>(32767.0 * amplitude_ * std::sin(2 * std::numbers::pi * hz_ * t));
        frame_[static_cast<std::size_t>(2 * i)] = frame_[static_cast<std::size_t>(2 * i + 1)] = v;
    }
    return frame_;
}

}  // namespace duplex::media
