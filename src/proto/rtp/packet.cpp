#include "proto/rtp/packet.hpp"

#include <cstring>
#include <string>

namespace duplex::proto::rtp {

namespace {
class RtpCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "rtp"; }
    std::string message(int ev) const override {
        switch (static_cast<RtpError>(ev)) {
            case RtpError::too_short: return "RTP packet shorter than its header";
            case RtpError::bad_version: return "RTP version is not 2";
            case RtpError::bad_padding: return "RTP padding count is 0 or longer than the payload";
            case RtpError::bad_extension: return "malformed RTP header extension";
            case RtpError::is_rtcp: return "an RTCP packet, not RTP";
        }
        return "unknown RTP error";
    }
};

bool one_byte_fits(std::span<const Extension> ext) noexcept {
    for (const auto& e : ext)
        if (e.id < 1 || e.id > 14 || e.data.empty() || e.data.size() > 16) return false;
    return true;
}

std::size_t extension_block_size(std::span<const Extension> ext) noexcept {
    if (ext.empty()) return 0;
    const bool one = one_byte_fits(ext);
    std::size_t n = 0;
    for (const auto& e : ext) n += (one ? 1 : 2) + e.data.size();
    return 4 + (n + 3) / 4 * 4;  // the block is whole 32-bit words (§4.2)
}
}  // namespace

const std::error_category& rtp_category() noexcept {
    static const RtpCategory category;
    return category;
}

bool looks_like_rtcp(base::Bytes d) noexcept {
    if (d.size() < 2) return false;
    const auto pt = std::to_integer<std::uint8_t>(d[1]) & 0x7f;
    return pt >= 64 && pt <= 95;
}

std::optional<base::Bytes> Packet::extension(std::uint8_t id) const noexcept {
    std::optional<base::Bytes> found;
    (void)for_each_extension([&](const Extension& e) {
        if (!found && e.id == id) found = e.data;
    });
    return found;
}

base::Result<Packet> parse(base::Bytes d) {
    // RFC 3550 §5.1: a fixed header of 12 bytes.
    if (d.size() < 12) return make_error_code(RtpError::too_short);
    const auto b0 = std::to_integer<std::uint8_t>(d[0]);
    const auto b1 = std::to_integer<std::uint8_t>(d[1]);
    if ((b0 >> 6) != 2) return make_error_code(RtpError::bad_version);
    if (looks_like_rtcp(d)) return make_error_code(RtpError::is_rtcp);
    Packet p;
    p.marker = (b1 & 0x80) != 0;
    p.payload_type = b1 & 0x7f;
    p.sequence = base::load_be16(d.data() + 2);
    p.timestamp = base::load_be32(d.data() + 4);
    p.ssrc = base::load_be32(d.data() + 8);
    p.csrc_count = b0 & 0x0f;
    std::size_t pos = 12;
    if (d.size() < pos + 4u * p.csrc_count) return make_error_code(RtpError::too_short);
    for (std::uint8_t i = 0; i < p.csrc_count; ++i, pos += 4) p.csrcs[i] = base::load_be32(d.data() + pos);
    if (b0 & 0x10) {
        // §5.3.1: profile (16 bits), length in 32-bit words (16 bits), then the words.
        if (d.size() < pos + 4) return make_error_code(RtpError::too_short);
        p.extension_profile = base::load_be16(d.data() + pos);
        const std::size_t words = base::load_be16(d.data() + pos + 2);
        pos += 4;
        if (d.size() < pos + 4 * words) return make_error_code(RtpError::bad_extension);
        p.extension_data = d.subspan(pos, 4 * words);
        pos += 4 * words;
        if (!p.for_each_extension([](const Extension&) {})) return make_error_code(RtpError::bad_extension);
    }
    std::size_t end = d.size();
    if (b0 & 0x20) {
        // §5.1: the last byte counts the padding, itself included.
        const auto count = std::to_integer<std::uint8_t>(d[d.size() - 1]);
        if (count == 0 || count > d.size() - pos) return make_error_code(RtpError::bad_padding);
        p.padding = count;
        end -= count;
    }
    p.payload = d.subspan(pos, end - pos);
    return p;
}

std::size_t written_size(const Header& h, std::size_t payload_size) noexcept {
    return 12 + 4 * h.csrcs.size() + extension_block_size(h.extensions) + payload_size + h.padding;
}

std::size_t write(const Header& h, base::Bytes payload, std::span<std::byte> out) noexcept {
    if (h.csrcs.size() > 15 || h.payload_type > 127) return 0;
    const bool one = one_byte_fits(h.extensions);
    for (const auto& e : h.extensions)
        if (!one && (e.id == 0 || e.data.size() > 255)) return 0;
    const std::size_t need = written_size(h, payload.size());
    if (out.size() < need) return 0;
    std::byte* o = out.data();
    o[0] = std::byte((2 << 6) | (h.padding ? 0x20 : 0) | (h.extensions.empty() ? 0 : 0x10) |
                     static_cast<std::uint8_t>(h.csrcs.size()));
    o[1] = std::byte((h.marker ? 0x80 : 0) | h.payload_type);
    base::store_be16(o + 2, h.sequence);
    base::store_be32(o + 4, h.timestamp);
    base::store_be32(o + 8, h.ssrc);
    std::size_t pos = 12;
    for (auto c : h.csrcs) {
        base::store_be32(o + pos, c);
        pos += 4;
    }
    if (!h.extensions.empty()) {
        const std::size_t block = extension_block_size(h.extensions);
        base::store_be16(o + pos, one ? kOneByteProfile : kTwoByteProfile);
        base::store_be16(o + pos + 2, static_cast<std::uint16_t>((block - 4) / 4));
        std::size_t e = pos + 4;
        for (const auto& x : h.extensions) {
            if (one) {
                o[e++] = std::byte((x.id << 4) | (x.data.size() - 1));
            } else {
                o[e++] = std::byte(x.id);
                o[e++] = std::byte(x.data.size());
            }
            if (!x.data.empty()) std::memcpy(o + e, x.data.data(), x.data.size());
            e += x.data.size();
        }
        std::memset(o + e, 0, pos + block - e);  // padding to the word (§4.2: 0 bytes)
        pos += block;
    }
    if (!payload.empty()) std::memcpy(o + pos, payload.data(), payload.size());
    pos += payload.size();
    if (h.padding) {
        std::memset(o + pos, 0, h.padding - 1u);
        o[pos + h.padding - 1] = std::byte(h.padding);
        pos += h.padding;
    }
    return pos;
}

}  // namespace duplex::proto::rtp
