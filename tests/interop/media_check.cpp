// media_check FILE: reads a recording of duplex-peer --record and decodes it.
//   FILE.ivf (VP8, libvpx):   `video frames N decoded D errors E size WxH numbered K max_gap_ms G`
//                             (K: decoded frames that carry a test-pattern frame number; G: the longest time
//                             between two frames' timestamps, i.e. the longest run of frames that are not there)
//   FILE.ogg (Opus, libopus): `audio packets N decoded D errors E rms R` (R: 0..1 of full scale)
//   FILE.h264 (Annex B, OpenH264): `video nals N decoded D errors E size WxH numbered K`
// on stdout; exit 0 if the file could be read, 1 otherwise, 2 on a usage error.
#include "media/h264_codec.hpp"
#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"
#include "media/opus_codec.hpp"
#include "media/test_pattern.hpp"
#include "media/vp8_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

int check_ivf(const std::string& path) {
    std::string error;
    auto reader = duplex::media::IvfReader::open(path, error);
    auto decoder = duplex::media::Vp8Decoder::create(error);
    if (!reader || !decoder) {
        std::fprintf(stderr, "media_check: %s\n", error.c_str());
        return 1;
    }
    unsigned long frames = 0, decoded = 0, numbered = 0;
    int w = 0, h = 0;
    std::uint64_t last_pts = 0, max_gap = 0;
    while (auto f = reader->next()) {
        if (frames > 0 && f->pts > last_pts) max_gap = std::max(max_gap, f->pts - last_pts);
        last_pts = f->pts;
        ++frames;
        const auto errors_before = decoder->errors();
        auto pic = decoder->decode(f->data.data(), f->data.size());
        if (decoder->errors() != errors_before) {
            // Where and what: a test that fails on errors shows these (RFC 6386 §9.1: bit 0 clear = key frame).
            const bool key = !f->data.empty() && (std::to_integer<unsigned>(f->data[0]) & 1) == 0;
            std::fprintf(stderr, "media_check: frame %lu (pts %llu, %zu bytes, %s) does not decode\n", frames - 1,
                         static_cast<unsigned long long>(f->pts), f->data.size(), key ? "key" : "delta");
        }
        if (pic) {
            ++decoded;
            w = pic->width;
            h = pic->height;
            if (duplex::media::read_frame_number(*pic)) ++numbered;
        }
    }
    const double gap_ms = reader->rate == 0 ? 0.0 : 1000.0 * static_cast<double>(max_gap) * reader->scale / reader->rate;
    std::printf("video frames %lu decoded %lu errors %llu size %dx%d numbered %lu max_gap_ms %.0f\n", frames, decoded,
                static_cast<unsigned long long>(decoder->errors()), w, h, numbered, gap_ms);
    return 0;
}

int check_ogg(const std::string& path) {
    std::string error;
    auto reader = duplex::media::OggOpusReader::open(path, error);
    auto decoder = duplex::media::OpusDecoder::create(error);
    if (!reader || !decoder) {
        std::fprintf(stderr, "media_check: %s\n", error.c_str());
        return 1;
    }
    unsigned long packets = 0, decoded = 0;
    double energy = 0;
    unsigned long long samples = 0;
    while (auto p = reader->next()) {
        ++packets;
        const auto pcm = decoder->decode(p->data.data(), p->data.size());
        if (pcm.empty()) continue;
        ++decoded;
        for (auto s : pcm) energy += static_cast<double>(s) * s;
        samples += pcm.size();
    }
    const double rms = samples ? std::sqrt(energy / static_cast<double>(samples)) / 32767.0 : 0;
    std::printf("audio packets %lu decoded %lu errors %llu rms %.4f\n", packets, decoded,
                static_cast<unsigned long long>(decoder->errors()), rms);
    return 0;
}

// Annex B: NAL units after 00 00 01 or 00 00 00 01; each goes to the decoder
// with its start code, and a picture comes out when one is complete.
int check_h264(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "media_check: cannot open %s\n", path.c_str());
        return 1;
    }
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto* d = reinterpret_cast<const std::byte*>(raw.data());
    std::string error;
    auto decoder = duplex::media::H264Decoder::create(error);
    if (!decoder) {
        std::fprintf(stderr, "media_check: %s\n", error.c_str());
        return 1;
    }
    std::vector<std::size_t> starts;  // where each start code begins
    for (std::size_t i = 0; i + 3 <= raw.size(); ++i)
        if (raw[i] == 0 && raw[i + 1] == 0 && raw[i + 2] == 1) {
            starts.push_back(i > 0 && raw[i - 1] == 0 ? i - 1 : i);
            i += 2;
        }
    unsigned long decoded = 0, numbered = 0;
    int w = 0, h = 0;
    for (std::size_t k = 0; k < starts.size(); ++k) {
        const std::size_t end = k + 1 < starts.size() ? starts[k + 1] : raw.size();
        if (auto pic = decoder->decode(d + starts[k], end - starts[k])) {
            ++decoded;
            w = pic->width;
            h = pic->height;
            if (duplex::media::read_frame_number(*pic)) ++numbered;
        }
    }
    std::printf("video nals %zu decoded %lu errors %llu size %dx%d numbered %lu\n", starts.size(), decoded,
                static_cast<unsigned long long>(decoder->errors()), w, h, numbered);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: media_check FILE.ivf|FILE.ogg|FILE.h264\n");
        return 2;
    }
    const std::string path = argv[1];
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".ivf") == 0) return check_ivf(path);
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".ogg") == 0) return check_ogg(path);
    if (path.size() > 5 && path.compare(path.size() - 5, 5, ".h264") == 0) return check_h264(path);
    std::fprintf(stderr, "media_check: %s is neither .ivf, .ogg nor .h264\n", path.c_str());
    return 2;
}
