// proto/rtp/h264.cpp: H.264 in RTP (RFC 6184), packetization mode 1
// (non-interleaved, §6.3): frames come in Annex B form (NAL units after 3- or
// 4-byte start codes) and leave as
//   - a single NAL unit packet (§5.6) when a NAL fits a payload,
//   - STAP-A (§5.7.1, type 24) gathering consecutive NALs that fit together
//     (the SPS, PPS and a small slice of a key frame), each after its size,
//   - FU-A (§5.8, type 28) fragments of a NAL too large for one payload:
//       | F|NRI| 28 |  FU indicator    | S|E|R| type |  FU header
// Mode 0 (§6.2, single NAL unit packets only) is the same without STAP-A and
// FU-A: a frame whose NAL units do not each fit a payload cannot be sent in
// it, and the encoder must cut its slices that small (OpenH264's size-limited
// slices, media/h264_codec.hpp). We offer both modes, mode 1 first (as
// browsers prefer); the receive side is the same for both.
#include "proto/rtp/payload_format.hpp"

#include <algorithm>
#include <cstring>

namespace duplex::proto::rtp {

namespace {

constexpr std::uint8_t kStapA = 24;
constexpr std::uint8_t kFuA = 28;
constexpr std::uint8_t kIdr = 5, kSps = 7;

/// The next NAL unit of an Annex B stream at or after `pos`: its bytes
/// (without the start code), and `pos` moved past it. Empty at the end.
base::Bytes next_nal(base::Bytes s, std::size_t& pos) {
    // A start code is 00 00 01 (a 4-byte one is a zero and then that).
    auto start_at = [&](std::size_t from) -> std::size_t {
        for (std::size_t i = from; i + 3 <= s.size(); ++i)
            if (s[i] == std::byte{0} && s[i + 1] == std::byte{0} && s[i + 2] == std::byte{1}) return i;
        return s.size();
    };
    while (pos < s.size()) {
        const std::size_t sc = start_at(pos);
        if (sc >= s.size()) break;
        const std::size_t begin = sc + 3;
        std::size_t end = start_at(begin);
        pos = end;
        // Trailing zeros belong to the next start code (a 4-byte one) or are padding.
        while (end > begin && s[end - 1] == std::byte{0}) --end;
        if (end > begin) return s.subspan(begin, end - begin);  // (two start codes in a row: nothing between)
    }
    pos = s.size();
    return {};
}

std::uint8_t nal_type(std::byte header) { return std::to_integer<std::uint8_t>(header) & 0x1f; }

/// The next NAL unit that may travel: types 1..23 (RFC 6184 §5.4: 0 is
/// undefined and 24..31 are the payload's own structures, which a receiver
/// would read as such). Others are skipped.
base::Bytes next_sendable_nal(base::Bytes s, std::size_t& pos) {
    for (;;) {
        auto nal = next_nal(s, pos);
        if (nal.empty()) return nal;
        const auto t = nal_type(nal[0]);
        if (t >= 1 && t <= 23) return nal;
    }
}

class H264Packetizer final : public Packetizer {
public:
    explicit H264Packetizer(bool single_nal_only) : single_(single_nal_only) {}

    void start(base::Bytes frame, std::size_t max_payload) override {
        frame_ = frame;
        pos_ = 0;
        max_ = max_payload;
        fu_offset_ = 0;
        nal_ = next_sendable_nal(frame_, pos_);
        peek_ = next_sendable_nal(frame_, pos_);
        if (single_) {  // mode 0: all of it in single NAL unit packets, or nothing
            std::size_t at = 0;
            for (auto n = next_sendable_nal(frame_, at); !n.empty(); n = next_sendable_nal(frame_, at))
                if (n.size() > max_) nal_ = {};
        }
    }

    std::size_t next(std::span<std::byte> out, bool& last) override {
        max_ = std::min(max_, out.size());  // never past the caller's buffer
        if (nal_.empty() || max_ < 3) return 0;
        std::size_t n = 0;
        if (single_) {
            if (nal_.size() > max_) return 0;
            std::memcpy(out.data(), nal_.data(), nal_.size());
            n = nal_.size();
            advance();
        } else if (fu_offset_ > 0 || nal_.size() > max_) {
            n = fragment(out);
        } else if (peek_.empty() || 3 + nal_.size() + 2 + peek_.size() > max_) {
            std::memcpy(out.data(), nal_.data(), nal_.size());  // a single NAL unit packet
            n = nal_.size();
            advance();
        } else {
            n = aggregate(out);
        }
        last = nal_.empty();
        return n;
    }

private:
    void advance() {
        nal_ = peek_;
        peek_ = next_sendable_nal(frame_, pos_);
        fu_offset_ = 0;
    }

    std::size_t fragment(std::span<std::byte> out) {
        // §5.8: the NAL header's F and NRI go in the indicator, its type in
        // the FU header; the fragments carry the rest.
        const auto header = std::to_integer<std::uint8_t>(nal_[0]);
        if (fu_offset_ == 0) fu_offset_ = 1;
        const std::size_t take = std::min(max_ - 2, nal_.size() - fu_offset_);
        const bool first = fu_offset_ == 1, end = fu_offset_ + take == nal_.size();
        out[0] = std::byte((header & 0xe0) | kFuA);
        out[1] = std::byte((first ? 0x80 : 0) | (end ? 0x40 : 0) | (header & 0x1f));
        std::memcpy(out.data() + 2, nal_.data() + fu_offset_, take);
        fu_offset_ += take;
        if (end) advance();
        return 2 + take;
    }

    std::size_t aggregate(std::span<std::byte> out) {
        // §5.7.1: STAP-A header (F: any, NRI: the highest), then size+NAL pairs.
        std::size_t n = 1;
        std::uint8_t nri = 0, f = 0;
        while (!nal_.empty() && n + 2 + nal_.size() <= max_ && fu_offset_ == 0) {
            const auto h = std::to_integer<std::uint8_t>(nal_[0]);
            nri = std::max<std::uint8_t>(nri, h & 0x60);
            f |= h & 0x80;
            base::store_be16(out.data() + n, static_cast<std::uint16_t>(nal_.size()));
            std::memcpy(out.data() + n + 2, nal_.data(), nal_.size());
            n += 2 + nal_.size();
            advance();
        }
        out[0] = std::byte(f | nri | kStapA);
        return n;
    }

    bool single_;
    base::Bytes frame_, nal_, peek_;
    std::size_t pos_ = 0, max_ = 0, fu_offset_ = 0;
};

class H264Depacketizer final : public Depacketizer {
public:
    bool starts_frame(base::Bytes p) const override {
        if (p.empty()) return false;
        const auto type = nal_type(p[0]);
        if (type == kFuA) return p.size() >= 2 && (std::to_integer<std::uint8_t>(p[1]) & 0x80);  // S
        return true;  // a single NAL or a STAP-A begins NAL units
    }
    bool is_key_frame(base::Bytes p) const override {
        if (p.empty()) return false;
        const auto type = nal_type(p[0]);
        if (type == kIdr || type == kSps) return true;
        if (type == kFuA) {
            if (p.size() < 2) return false;
            const auto fu = nal_type(p[1]);
            return (std::to_integer<std::uint8_t>(p[1]) & 0x80) && (fu == kIdr || fu == kSps);
        }
        if (type == kStapA) {
            for (std::size_t pos = 1; pos + 3 <= p.size();) {
                const std::size_t len = base::load_be16(p.data() + pos);
                if (len == 0 || pos + 2 + len > p.size()) return false;
                const auto t = nal_type(p[pos + 2]);
                if (t == kIdr || t == kSps) return true;
                pos += 2 + len;
            }
        }
        return false;
    }
    bool append(base::Bytes p, std::vector<std::byte>& frame) override {
        if (p.empty()) return false;
        static constexpr std::byte kStart[] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{1}};
        const auto type = nal_type(p[0]);
        if (type >= 1 && type <= 23) {
            frame.insert(frame.end(), std::begin(kStart), std::end(kStart));
            frame.insert(frame.end(), p.begin(), p.end());
            return true;
        }
        if (type == kStapA) {
            // Checked whole before anything is appended.
            std::size_t pos = 1, count = 0;
            while (pos < p.size()) {
                if (pos + 2 > p.size()) return false;
                const std::size_t len = base::load_be16(p.data() + pos);
                if (len == 0 || pos + 2 + len > p.size()) return false;
                pos += 2 + len;
                ++count;
            }
            if (count == 0) return false;
            for (pos = 1; pos < p.size();) {
                const std::size_t len = base::load_be16(p.data() + pos);
                frame.insert(frame.end(), std::begin(kStart), std::end(kStart));
                frame.insert(frame.end(), p.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                             p.begin() + static_cast<std::ptrdiff_t>(pos + 2 + len));
                pos += 2 + len;
            }
            return true;
        }
        if (type == kFuA) {
            if (p.size() < 3) return false;
            const auto fu = std::to_integer<std::uint8_t>(p[1]);
            if (fu & 0x80) {  // S: the NAL header comes back from indicator and FU header
                frame.insert(frame.end(), std::begin(kStart), std::end(kStart));
                frame.push_back(std::byte((std::to_integer<std::uint8_t>(p[0]) & 0xe0) | (fu & 0x1f)));
            }
            frame.insert(frame.end(), p.begin() + 2, p.end());
            return true;
        }
        return false;  // 0, 25-27 (STAP-B, MTAP: interleaved mode), 29-31: not in mode 1
    }
};

}  // namespace

std::unique_ptr<Packetizer> make_h264_packetizer(bool single_nal_only) { return std::make_unique<H264Packetizer>(single_nal_only); }
std::unique_ptr<Depacketizer> make_h264_depacketizer() { return std::make_unique<H264Depacketizer>(); }

}  // namespace duplex::proto::rtp
