// media/vp8_codec.cpp: see vp8_codec.hpp.
#include "media/vp8_codec.hpp"

#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

#include <cstring>

namespace duplex::media {

struct Vp8Encoder::Impl {
    vpx_codec_ctx_t codec{};
    vpx_codec_enc_cfg_t cfg{};
    vpx_image_t image{};
    vpx_codec_pts_t pts = 0;
    bool open = false;
    ~Impl() {
        if (open) vpx_codec_destroy(&codec);
    }
};

std::unique_ptr<Vp8Encoder> Vp8Encoder::create(int width, int height, int fps, int kbps, std::string& error,
                                               int key_interval) {
    std::unique_ptr<Vp8Encoder> e(new Vp8Encoder);
    e->impl_ = std::make_unique<Impl>();
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) {
        error = "libvpx: no default VP8 configuration";
        return nullptr;
    }
    cfg.g_w = static_cast<unsigned>(width);
    cfg.g_h = static_cast<unsigned>(height);
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = fps;
    cfg.rc_target_bitrate = static_cast<unsigned>(kbps);
    cfg.rc_end_usage = VPX_CBR;
    // A rate-control buffer of a second (libvpx's default is six): a new
    // target (a bandwidth estimate that fell) is met within about that, not
    // after seconds of overshoot that a path's queue would drop.
    cfg.rc_buf_sz = 1000;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_undershoot_pct = 100;
    cfg.rc_overshoot_pct = 15;
    cfg.g_lag_in_frames = 0;          // real time: a frame in, a frame out
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.g_threads = 1;
    cfg.kf_mode = VPX_KF_AUTO;
    cfg.kf_max_dist = static_cast<unsigned>(key_interval);
    if (vpx_codec_enc_init(&e->impl_->codec, vpx_codec_vp8_cx(), &cfg, 0) != VPX_CODEC_OK) {
        error = std::string("libvpx: ") + vpx_codec_error(&e->impl_->codec);
        return nullptr;
    }
    e->impl_->open = true;
    e->impl_->cfg = cfg;
    vpx_codec_control(&e->impl_->codec, VP8E_SET_CPUUSED, 8);  // fastest (real time)
    if (!vpx_img_alloc(&e->impl_->image, VPX_IMG_FMT_I420, cfg.g_w, cfg.g_h, 1)) {
        error = "libvpx: no image";
        return nullptr;
    }
    return e;
}

bool Vp8Encoder::set_bitrate(int kbps) {
    if (kbps <= 0) return false;
    impl_->cfg.rc_target_bitrate = static_cast<unsigned>(kbps);
    return vpx_codec_enc_config_set(&impl_->codec, &impl_->cfg) == VPX_CODEC_OK;
}

Vp8Encoder::~Vp8Encoder() {
    if (impl_ && impl_->image.img_data) vpx_img_free(&impl_->image);
}

std::vector<std::byte> Vp8Encoder::encode(const I420Frame& frame, bool force_key_frame) {
    vpx_image_t& img = impl_->image;
    for (int y = 0; y < frame.height; ++y)
        std::memcpy(img.planes[0] + y * img.stride[0], frame.y.data() + static_cast<std::size_t>(y * frame.width),
                    static_cast<std::size_t>(frame.width));
    for (int y = 0; y < frame.height / 2; ++y) {
        std::memcpy(img.planes[1] + y * img.stride[1], frame.u.data() + static_cast<std::size_t>(y * frame.width / 2),
                    static_cast<std::size_t>(frame.width / 2));
        std::memcpy(img.planes[2] + y * img.stride[2], frame.v.data() + static_cast<std::size_t>(y * frame.width / 2),
                    static_cast<std::size_t>(frame.width / 2));
    }
    std::vector<std::byte> out;
    last_key_ = false;
    if (vpx_codec_encode(&impl_->codec, &img, impl_->pts++, 1, force_key_frame ? VPX_EFLAG_FORCE_KF : 0,
                         VPX_DL_REALTIME) != VPX_CODEC_OK)
        return out;
    vpx_codec_iter_t iter = nullptr;
    while (const vpx_codec_cx_pkt_t* pkt = vpx_codec_get_cx_data(&impl_->codec, &iter)) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
        const auto* p = static_cast<const std::byte*>(pkt->data.frame.buf);
        out.insert(out.end(), p, p + pkt->data.frame.sz);
        if (pkt->data.frame.flags & VPX_FRAME_IS_KEY) last_key_ = true;
    }
    return out;
}

struct Vp8Decoder::Impl {
    vpx_codec_ctx_t codec{};
    bool open = false;
    ~Impl() {
        if (open) vpx_codec_destroy(&codec);
    }
};

std::unique_ptr<Vp8Decoder> Vp8Decoder::create(std::string& error) {
    std::unique_ptr<Vp8Decoder> d(new Vp8Decoder);
    d->impl_ = std::make_unique<Impl>();
    vpx_codec_dec_cfg_t cfg{};
    cfg.threads = 1;
    if (vpx_codec_dec_init(&d->impl_->codec, vpx_codec_vp8_dx(), &cfg, 0) != VPX_CODEC_OK) {
        error = std::string("libvpx: ") + vpx_codec_error(&d->impl_->codec);
        return nullptr;
    }
    d->impl_->open = true;
    return d;
}

Vp8Decoder::~Vp8Decoder() = default;

std::optional<I420Frame> Vp8Decoder::decode(const std::byte* data, std::size_t size) {
    if (vpx_codec_decode(&impl_->codec, reinterpret_cast<const std::uint8_t*>(data), static_cast<unsigned>(size),
                         nullptr, 0) != VPX_CODEC_OK) {
        ++errors_;
        return std::nullopt;
    }
    vpx_codec_iter_t iter = nullptr;
    const vpx_image_t* img = vpx_codec_get_frame(&impl_->codec, &iter);
    if (img == nullptr) return std::nullopt;
    I420Frame f = I420Frame::blank(static_cast<int>(img->d_w), static_cast<int>(img->d_h));
    for (int y = 0; y < f.height; ++y)
        std::memcpy(f.y.data() + static_cast<std::size_t>(y * f.width), img->planes[0] + y * img->stride[0],
                    static_cast<std::size_t>(f.width));
    for (int y = 0; y < f.height / 2; ++y) {
        std::memcpy(f.u.data() + static_cast<std::size_t>(y * f.width / 2), img->planes[1] + y * img->stride[1],
                    static_cast<std::size_t>(f.width / 2));
        std::memcpy(f.v.data() + static_cast<std::size_t>(y * f.width / 2), img->planes[2] + y * img->stride[2],
                    static_cast<std::size_t>(f.width / 2));
    }
    return f;
}

}  // namespace duplex::media
