// proto/rtp/payload_format.cpp: the codecs' packetizers and depacketizers by name.
#include "proto/rtp/payload_format.hpp"

namespace duplex::proto::rtp {

// In opus.cpp, vp8.cpp, h264.cpp: one codec to a file.
std::unique_ptr<Packetizer> make_opus_packetizer();
std::unique_ptr<Depacketizer> make_opus_depacketizer();
std::unique_ptr<Packetizer> make_vp8_packetizer();
std::unique_ptr<Depacketizer> make_vp8_depacketizer();
std::unique_ptr<Packetizer> make_h264_packetizer(bool single_nal_only);
std::unique_ptr<Depacketizer> make_h264_depacketizer();

std::string_view codec_name(Codec c) noexcept {
    switch (c) {
        case Codec::Opus: return "opus";
        case Codec::Vp8: return "VP8";
        case Codec::H264: return "H264";
    }
    return "";
}

std::unique_ptr<Packetizer> make_packetizer(Codec c, PacketizerOptions options) {
    switch (c) {
        case Codec::Opus: return make_opus_packetizer();
        case Codec::Vp8: return make_vp8_packetizer();
        case Codec::H264: return make_h264_packetizer(options.single_nal_only);
    }
    return nullptr;
}

std::unique_ptr<Depacketizer> make_depacketizer(Codec c) {
    switch (c) {
        case Codec::Opus: return make_opus_depacketizer();
        case Codec::Vp8: return make_vp8_depacketizer();
        case Codec::H264: return make_h264_depacketizer();
    }
    return nullptr;
}

}  // namespace duplex::proto::rtp
