// proto/rtp/vp8.cpp: VP8 in RTP (RFC 7741). Each payload starts with the
// payload descriptor (§4.2):
//
//   |X|R|N|S|R| PID |   S: start of a partition; PID: its index
//   |I|L|T|K| RSV   |   if X
//   |M| PictureID   |   if I (M: a 15-bit id, one more byte)
//   |  TL0PICIDX    |   if L
//   |TID|Y| KEYIDX  |   if T or K
//
// We send one partition-agnostic run of payloads per frame (PID 0, S on the
// first), each with a 15-bit PictureID that counts frames (what browsers
// send and expect). A frame is a key frame when the first byte of its VP8
// payload header has P = 0 (§4.3; RFC 6386 §9.1).
#include "proto/rtp/payload_format.hpp"

#include <algorithm>
#include <cstring>

namespace duplex::proto::rtp {

namespace {

constexpr std::size_t kDescriptor = 4;  // X, I/L/T/K byte, a 15-bit PictureID

/// The descriptor's length, or 0 if the payload is too short for it.
std::size_t descriptor_length(base::Bytes p) {
    if (p.empty()) return 0;
    std::size_t n = 1;
    const auto b0 = std::to_integer<std::uint8_t>(p[0]);
    if (b0 & 0x80) {  // X
        if (p.size() < 2) return 0;
        const auto x = std::to_integer<std::uint8_t>(p[1]);
        n = 2;
        if (x & 0x80) {  // I
            if (p.size() < n + 1) return 0;
            n += (std::to_integer<std::uint8_t>(p[n]) & 0x80) ? 2 : 1;  // M: 15 bits
        }
        if (x & 0x40) ++n;            // L: TL0PICIDX
        if (x & 0x30) ++n;            // T or K: TID/Y/KEYIDX
    }
    return p.size() > n ? n : 0;  // at least one byte of VP8 data after it
}

class Vp8Packetizer final : public Packetizer {
public:
    void start(base::Bytes frame, std::size_t max_payload) override {
        frame_ = frame;
        sent_ = 0;
        max_ = max_payload;
        first_ = true;
        picture_id_ = static_cast<std::uint16_t>((picture_id_ + 1) & 0x7fff);
    }
    std::size_t next(std::span<std::byte> out, bool& last) override {
        max_ = std::min(max_, out.size());  // never past the caller's buffer
        if (sent_ >= frame_.size() || max_ <= kDescriptor) return 0;
        const std::size_t take = std::min(max_ - kDescriptor, frame_.size() - sent_);
        out[0] = std::byte(0x80 | (first_ ? 0x10 : 0));  // X, S on the first; PID 0
        out[1] = std::byte(0x80);                        // I
        out[2] = std::byte(0x80 | (picture_id_ >> 8));    // M: 15-bit PictureID
        out[3] = std::byte(picture_id_ & 0xff);
        std::memcpy(out.data() + kDescriptor, frame_.data() + sent_, take);
        sent_ += take;
        first_ = false;
        last = sent_ == frame_.size();
        return kDescriptor + take;
    }

private:
    base::Bytes frame_;
    std::size_t sent_ = 0, max_ = 0;
    bool first_ = true;
    std::uint16_t picture_id_ = 0;
};

class Vp8Depacketizer final : public Depacketizer {
public:
    bool starts_frame(base::Bytes p) const override {
        // S = 1 and PID = 0: the start of the frame's first partition.
        return !p.empty() && (std::to_integer<std::uint8_t>(p[0]) & 0x17) == 0x10 && descriptor_length(p) != 0;
    }
    bool is_key_frame(base::Bytes p) const override {
        const std::size_t n = descriptor_length(p);
        if (n == 0 || !starts_frame(p)) return false;
        return (std::to_integer<std::uint8_t>(p[n]) & 0x01) == 0;  // P = 0 (inverse key frame flag)
    }
    bool append(base::Bytes p, std::vector<std::byte>& frame) override {
        const std::size_t n = descriptor_length(p);
        if (n == 0) return false;
        frame.insert(frame.end(), p.begin() + static_cast<std::ptrdiff_t>(n), p.end());
        return true;
    }
};

}  // namespace

std::unique_ptr<Packetizer> make_vp8_packetizer() { return std::make_unique<Vp8Packetizer>(); }
std::unique_ptr<Depacketizer> make_vp8_depacketizer() { return std::make_unique<Vp8Depacketizer>(); }

}  // namespace duplex::proto::rtp
