// media/h264_codec.cpp: see h264_codec.hpp.
#include "media/h264_codec.hpp"

#include <wels/codec_api.h>

#include <cstring>

namespace duplex::media {

std::unique_ptr<H264Encoder> H264Encoder::create(int width, int height, int fps, int kbps, std::string& error,
                                                 unsigned max_nal_bytes) {
    std::unique_ptr<H264Encoder> e(new H264Encoder);
    ISVCEncoder* enc = nullptr;
    if (WelsCreateSVCEncoder(&enc) != 0 || enc == nullptr) {
        error = "OpenH264: cannot create an encoder";
        return nullptr;
    }
    e->enc_ = enc;
    e->fps_ = fps;
    SEncParamExt p{};
    enc->GetDefaultParams(&p);
    p.iUsageType = CAMERA_VIDEO_REAL_TIME;
    p.iPicWidth = width;
    p.iPicHeight = height;
    p.iTargetBitrate = kbps * 1000;
    p.iRCMode = RC_BITRATE_MODE;
    // Every frame is encoded, even when the target (a bandwidth estimate
    // that fell) is below what the picture costs: as with VP8 (libvpx drops
    // none unless told), a receiver counts every frame of the test pattern.
    p.bEnableFrameSkip = false;
    p.fMaxFrameRate = static_cast<float>(fps);
    p.iSpatialLayerNum = 1;
    SSpatialLayerConfig& layer = p.sSpatialLayers[0];
    layer.iVideoWidth = width;
    layer.iVideoHeight = height;
    layer.fFrameRate = static_cast<float>(fps);
    layer.iSpatialBitrate = p.iTargetBitrate;
    layer.iMaxSpatialBitrate = p.iTargetBitrate * 2;
    if (max_nal_bytes > 0) {
        // Slices of at most that many bytes (one thread: the size is only kept slice by slice).
        layer.sSliceArgument.uiSliceMode = SM_SIZELIMITED_SLICE;
        layer.sSliceArgument.uiSliceSizeConstraint = max_nal_bytes;
        p.uiMaxNalSize = max_nal_bytes;
        p.iMultipleThreadIdc = 1;
    }
    if (enc->InitializeExt(&p) != 0) {
        error = "OpenH264: the encoder refused " + std::to_string(width) + "x" + std::to_string(height);
        return nullptr;
    }
    int format = videoFormatI420;
    enc->SetOption(ENCODER_OPTION_DATAFORMAT, &format);
    return e;
}

bool H264Encoder::set_bitrate(int kbps) {
    if (kbps <= 0) return false;
    auto* enc = static_cast<ISVCEncoder*>(enc_);
    // The layer's ceiling first: OpenH264 keeps a target below it.
    SBitrateInfo max{SPATIAL_LAYER_ALL, kbps * 2000};
    SBitrateInfo target{SPATIAL_LAYER_ALL, kbps * 1000};
    return enc->SetOption(ENCODER_OPTION_MAX_BITRATE, &max) == 0 && enc->SetOption(ENCODER_OPTION_BITRATE, &target) == 0;
}

H264Encoder::~H264Encoder() {
    if (auto* enc = static_cast<ISVCEncoder*>(enc_)) {
        enc->Uninitialize();
        WelsDestroySVCEncoder(enc);
    }
}

std::vector<std::byte> H264Encoder::encode(const I420Frame& frame, bool force_key_frame) {
    auto* enc = static_cast<ISVCEncoder*>(enc_);
    if (force_key_frame) enc->ForceIntraFrame(true);
    SSourcePicture pic{};
    pic.iPicWidth = frame.width;
    pic.iPicHeight = frame.height;
    pic.iColorFormat = videoFormatI420;
    pic.iStride[0] = frame.width;
    pic.iStride[1] = pic.iStride[2] = frame.width / 2;
    pic.pData[0] = const_cast<unsigned char*>(frame.y.data());
    pic.pData[1] = const_cast<unsigned char*>(frame.u.data());
    pic.pData[2] = const_cast<unsigned char*>(frame.v.data());
    pic.uiTimeStamp = static_cast<long long>(frames_++ * 1000 / static_cast<std::uint64_t>(fps_));
    SFrameBSInfo info{};
    std::vector<std::byte> out;
    last_key_ = false;
    if (enc->EncodeFrame(&pic, &info) != cmResultSuccess || info.eFrameType == videoFrameTypeSkip) return out;
    last_key_ = info.eFrameType == videoFrameTypeIDR;
    for (int l = 0; l < info.iLayerNum; ++l) {
        const SLayerBSInfo& layer = info.sLayerInfo[l];
        std::size_t size = 0;
        for (int n = 0; n < layer.iNalCount; ++n) size += static_cast<std::size_t>(layer.pNalLengthInByte[n]);
        const auto* p = reinterpret_cast<const std::byte*>(layer.pBsBuf);
        out.insert(out.end(), p, p + size);  // NAL units with their start codes: Annex B
    }
    return out;
}

std::unique_ptr<H264Decoder> H264Decoder::create(std::string& error) {
    std::unique_ptr<H264Decoder> d(new H264Decoder);
    ISVCDecoder* dec = nullptr;
    if (WelsCreateDecoder(&dec) != 0 || dec == nullptr) {
        error = "OpenH264: cannot create a decoder";
        return nullptr;
    }
    d->dec_ = dec;
    SDecodingParam p{};
    p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
    if (dec->Initialize(&p) != 0) {
        error = "OpenH264: the decoder did not start";
        return nullptr;
    }
    return d;
}

H264Decoder::~H264Decoder() {
    if (auto* dec = static_cast<ISVCDecoder*>(dec_)) {
        dec->Uninitialize();
        WelsDestroyDecoder(dec);
    }
}

std::optional<I420Frame> H264Decoder::decode(const std::byte* data, std::size_t size) {
    auto* dec = static_cast<ISVCDecoder*>(dec_);
    unsigned char* planes[3] = {nullptr, nullptr, nullptr};
    SBufferInfo info{};
    const DECODING_STATE st =
        dec->DecodeFrameNoDelay(reinterpret_cast<const unsigned char*>(data), static_cast<int>(size), planes, &info);
    if (st != dsErrorFree) {
        ++errors_;
        return std::nullopt;
    }
    if (info.iBufferStatus != 1) return std::nullopt;
    const auto& b = info.UsrData.sSystemBuffer;
    I420Frame f = I420Frame::blank(b.iWidth, b.iHeight);
    for (int y = 0; y < f.height; ++y)
        std::memcpy(f.y.data() + static_cast<std::size_t>(y * f.width), planes[0] + y * b.iStride[0],
                    static_cast<std::size_t>(f.width));
    for (int y = 0; y < f.height / 2; ++y) {
        std::memcpy(f.u.data() + static_cast<std::size_t>(y * f.width / 2), planes[1] + y * b.iStride[1],
                    static_cast<std::size_t>(f.width / 2));
        std::memcpy(f.v.data() + static_cast<std::size_t>(y * f.width / 2), planes[2] + y * b.iStride[1],
                    static_cast<std::size_t>(f.width / 2));
    }
    return f;
}

}  // namespace duplex::media
