// The sources and recorders (src/media): the test pattern's frame number
// read back through a real VP8 encode and decode, IVF and Ogg Opus files
// written and read back (and decoded), the tone's energy through Opus.
#include "media/annex_b.hpp"
#include "media/audio_level.hpp"
#include "media/h264_codec.hpp"
#include "media/ivf.hpp"
#include "media/ogg_opus.hpp"
#include "media/opus_codec.hpp"
#include "media/test_pattern.hpp"
#include "media/vp8_codec.hpp"

#include "proto/rtp/payload_format.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace media = duplex::media;

namespace {

std::string temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("duplex-media-" + std::to_string(::getpid()) + "-" + name)).string();
}

}  // namespace

TEST(TestPattern, TheFrameNumberSurvivesVp8) {
    std::string err;
    auto enc = media::Vp8Encoder::create(320, 240, 30, 400, err);
    ASSERT_TRUE(enc) << err;
    auto dec = media::Vp8Decoder::create(err);
    ASSERT_TRUE(dec) << err;
    media::TestPattern pattern(320, 240);
    int read = 0;
    for (int i = 0; i < 90; ++i) {
        const auto& frame = pattern.next();
        EXPECT_EQ(media::read_frame_number(frame), i) << "the uncompressed frame " << i;
        const auto bytes = enc->encode(frame, i == 45);
        ASSERT_FALSE(bytes.empty()) << i;
        if (i == 0 || i == 45) {
            EXPECT_TRUE(enc->last_was_key()) << i;
        }
        auto pic = dec->decode(bytes.data(), bytes.size());
        ASSERT_TRUE(pic) << i;
        EXPECT_EQ(pic->width, 320);
        if (media::read_frame_number(*pic) == i) ++read;
    }
    EXPECT_EQ(dec->errors(), 0u);
    EXPECT_GE(read, 88);  // every one, give or take a first frame at a low rate
    EXPECT_FALSE(media::read_frame_number(media::I420Frame::blank(320, 240)));
    EXPECT_FALSE(media::read_frame_number(media::I420Frame::blank(64, 64)));  // too small to carry one
}

TEST(Ivf, WrittenFramesReadBackAndDecode) {
    std::string err;
    auto enc = media::Vp8Encoder::create(320, 240, 30, 300, err);
    ASSERT_TRUE(enc) << err;
    media::TestPattern pattern(320, 240);
    std::vector<std::vector<std::byte>> frames;
    const std::string path = temp_path("a.ivf");
    {
        media::IvfWriter w(path);
        // A delta frame before any key frame is skipped (nothing could decode it).
        media::TestPattern other(320, 240);
        auto warm = media::Vp8Encoder::create(320, 240, 30, 300, err);
        (void)warm->encode(other.next(), false);
        const auto delta = warm->encode(other.next(), false);
        ASSERT_FALSE(media::vp8_key_frame_size(delta.data(), delta.size()));
        ASSERT_TRUE(w.write(delta.data(), delta.size(), 0));
        EXPECT_EQ(w.frames(), 0u);
        for (std::uint32_t i = 0; i < 30; ++i) {
            frames.push_back(enc->encode(pattern.next(), false));
            ASSERT_TRUE(w.write(frames.back().data(), frames.back().size(), 0xFFFFF000u + 3000 * i)) << w.error();
        }
        EXPECT_EQ(w.frames(), 30u);
    }
    auto key = media::vp8_key_frame_size(frames[0].data(), frames[0].size());
    ASSERT_TRUE(key);
    EXPECT_EQ(*key, std::make_pair(320, 240));
    auto r = media::IvfReader::open(path, err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(r->width, 320);
    EXPECT_EQ(r->height, 240);
    EXPECT_EQ(r->rate, 90000u);
    auto dec = media::Vp8Decoder::create(err);
    for (std::size_t i = 0; i < frames.size(); ++i) {
        auto f = r->next();
        ASSERT_TRUE(f) << i;
        EXPECT_EQ(f->data, frames[i]) << i;
        EXPECT_EQ(f->pts, 3000 * i) << "the RTP time from the first frame, across the 32-bit wrap";
        EXPECT_TRUE(dec->decode(f->data.data(), f->data.size()));
    }
    EXPECT_FALSE(r->next());
    EXPECT_EQ(dec->errors(), 0u);
    std::filesystem::remove(path);
    EXPECT_FALSE(media::IvfReader::open(temp_path("missing.ivf"), err));
    EXPECT_NE(err.find("cannot open"), std::string::npos);
}

TEST(OggOpus, AToneWrittenReadBackAndDecodedHasItsEnergy) {
    std::string err;
    auto enc = media::OpusEncoder::create(64000, err);
    ASSERT_TRUE(enc) << err;
    media::Tone tone;
    std::vector<std::vector<std::byte>> packets;
    const std::string path = temp_path("a.ogg");
    {
        auto w = media::OggOpusWriter::create(path, err);
        ASSERT_TRUE(w) << err;
        for (int i = 0; i < 50; ++i) {
            packets.push_back(enc->encode(tone.next()));
            ASSERT_FALSE(packets.back().empty());
            ASSERT_TRUE(w->write(packets.back().data(), packets.back().size()));
        }
        EXPECT_EQ(w->packets(), 50u);
    }
    auto r = media::OggOpusReader::open(path, err);
    ASSERT_TRUE(r) << err;
    auto dec = media::OpusDecoder::create(err);
    double energy = 0;
    std::size_t samples = 0;
    for (std::size_t i = 0; i < packets.size(); ++i) {
        auto p = r->next();
        ASSERT_TRUE(p) << i;
        EXPECT_EQ(p->data, packets[i]) << i;
        EXPECT_EQ(p->samples, media::kOpusFrameSamples);
        const auto pcm = dec->decode(p->data.data(), p->data.size());
        for (auto s : pcm) energy += static_cast<double>(s) * s;
        samples += pcm.size();
    }
    EXPECT_FALSE(r->next());
    // A sine of amplitude 0.25 has an RMS of 0.25/sqrt(2) of full scale.
    const double rms = std::sqrt(energy / static_cast<double>(samples)) / 32767.0;
    EXPECT_GT(rms, 0.12);
    EXPECT_LT(rms, 0.22);
    std::filesystem::remove(path);
    // An IVF file is not an Ogg Opus one.
    const std::string not_ogg = temp_path("b.ogg");
    std::FILE* f = std::fopen(not_ogg.c_str(), "wb");
    std::fputs("DKIF this is no Ogg file at all, and it goes on for a while............................", f);
    std::fclose(f);
    EXPECT_FALSE(media::OggOpusReader::open(not_ogg, err));
    EXPECT_NE(err.find("not an Ogg Opus file"), std::string::npos);
    std::filesystem::remove(not_ogg);
}

TEST(H264, OpenH264FramesThroughOurPayloadFormatDecodeWithTheirNumbers) {
    // A real encoder's access units (SPS, PPS, IDR, slices larger than a
    // packet) split by our packetizer (STAP-A, FU-A) and joined again by our
    // depacketizer: OpenH264's decoder reads every frame and its number. And
    // in packetization mode 0: the encoder's slices cut to 1000 bytes, each
    // NAL unit one packet.
  for (const bool mode0 : {false, true}) {
    SCOPED_TRACE(mode0 ? "packetization mode 0" : "packetization mode 1");
    std::string err;
    auto enc = media::H264Encoder::create(320, 240, 30, mode0 ? 1500 : 500, err, mode0 ? 1000 : 0);
    ASSERT_TRUE(enc) << err;
    auto dec = media::H264Decoder::create(err);
    ASSERT_TRUE(dec) << err;
    auto packetizer = duplex::proto::rtp::make_packetizer(duplex::proto::rtp::Codec::H264,
                                                          duplex::proto::rtp::PacketizerOptions{mode0});
    auto depacketizer = duplex::proto::rtp::make_depacketizer(duplex::proto::rtp::Codec::H264);
    media::TestPattern pattern(320, 240);
    int numbered = 0, keys = 0;
    std::vector<std::byte> payload(1200), frame;
    for (int i = 0; i < 60; ++i) {
        const auto au = enc->encode(pattern.next(), i == 30);
        ASSERT_FALSE(au.empty()) << i;
        if (enc->last_was_key()) ++keys;
        packetizer->start(duplex::base::Bytes(au.data(), au.size()), 1100);
        frame.clear();
        int packets = 0;
        bool first = true;
        for (;;) {
            bool last = false;
            const std::size_t n = packetizer->next(payload, last);
            if (n == 0) break;
            const duplex::base::Bytes p(payload.data(), n);
            if (first) {
                EXPECT_EQ(depacketizer->is_key_frame(p), enc->last_was_key()) << i;
                first = false;
            }
            ASSERT_TRUE(depacketizer->append(p, frame)) << i;
            ++packets;
        }
        ASSERT_GT(packets, 0) << i;
        auto pic = dec->decode(frame.data(), frame.size());
        ASSERT_TRUE(pic) << "frame " << i << " did not decode (" << dec->errors() << " errors)";
        if (media::read_frame_number(*pic) == i) ++numbered;
    }
    EXPECT_EQ(dec->errors(), 0u);
    EXPECT_GE(keys, 2);  // the first frame and the forced one
    EXPECT_GE(numbered, 58);
  }
}

TEST(AudioLevel, DbovOfToneSilenceAndFullScale) {
    // RFC 6464 §3: -dBov of the RMS. A sine of amplitude 0.25 has an RMS of
    // 0.25/sqrt(2), 15.05 dB below full scale.
    duplex::media::Tone tone(440.0, 0.25);
    EXPECT_EQ(duplex::media::audio_level_dbov(tone.next()), 15);
    const std::vector<std::int16_t> silence(960, 0);
    EXPECT_EQ(duplex::media::audio_level_dbov(silence), 127);
    std::vector<std::int16_t> square(960);
    for (std::size_t i = 0; i < square.size(); ++i) square[i] = i % 2 ? 32767 : -32768;
    EXPECT_EQ(duplex::media::audio_level_dbov(square), 0);
    const std::vector<std::int16_t> whisper(960, 1);  // -90 dBov
    EXPECT_EQ(duplex::media::audio_level_dbov(whisper), 90);
}

TEST(AnnexB, AFileOfAccessUnitsReadsBackUnitByUnit) {
    // OpenH264's access units (SPS, PPS and the IDR's slices; then pictures
    // cut into 500-byte slices) one after the other in a file, as
    // duplex-peer --record writes .h264: each comes back whole, slices of one
    // picture together (H.264 §7.4.1.2.3).
    std::string err;
    auto enc = media::H264Encoder::create(320, 240, 30, 800, err, 500);
    ASSERT_TRUE(enc) << err;
    media::TestPattern pattern(320, 240);
    std::vector<std::vector<std::byte>> units;
    const std::string path = ::testing::TempDir() + "annex_b_test.h264";
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        for (int i = 0; i < 30; ++i) {
            units.push_back(enc->encode(pattern.next(), i == 15));
            ASSERT_FALSE(units.back().empty());
            ASSERT_EQ(std::fwrite(units.back().data(), 1, units.back().size(), f), units.back().size());
        }
        std::fclose(f);
    }
    auto r = media::AnnexBReader::open(path, err);
    ASSERT_TRUE(r) << err;
    EXPECT_EQ(r->units(), units.size());
    for (std::size_t i = 0; i < units.size(); ++i) {
        auto u = r->next();
        ASSERT_TRUE(u) << i;
        EXPECT_EQ(*u, units[i]) << i;
    }
    EXPECT_FALSE(r->next());
    r->rewind();
    EXPECT_EQ(r->next(), units[0]);
    std::remove(path.c_str());
    // Not H.264: refused with a reason.
    const std::string junk = ::testing::TempDir() + "annex_b_junk.h264";
    std::FILE* f = std::fopen(junk.c_str(), "wb");
    std::fputs("no start code here", f);
    std::fclose(f);
    EXPECT_FALSE(media::AnnexBReader::open(junk, err));
    EXPECT_NE(err.find("no H.264 NAL unit"), std::string::npos) << err;
    std::remove(junk.c_str());
}
