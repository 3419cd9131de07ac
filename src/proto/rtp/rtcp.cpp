#include "proto/rtp/rtcp.hpp"

#include <algorithm>
#include <string>

namespace duplex::proto::rtp {

namespace {

class RtcpCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "rtcp"; }
    std::string message(int ev) const override {
        switch (static_cast<RtcpError>(ev)) {
            case RtcpError::too_short: return "RTCP packet shorter than its header";
            case RtcpError::bad_version: return "RTCP version is not 2";
            case RtcpError::bad_length: return "RTCP length runs past the compound packet";
            case RtcpError::bad_padding: return "RTCP padding outside the last packet, or a bad count";
            case RtcpError::bad_body: return "RTCP body does not match its type";
        }
        return "unknown RTCP error";
    }
};

constexpr std::uint8_t kFmtNack = 1;  // RTPFB, RFC 4585 §6.2.1
constexpr std::uint8_t kFmtPli = 1;   // PSFB, RFC 4585 §6.3.1
constexpr std::uint8_t kFmtFir = 4;   // PSFB, RFC 5104 §4.3.1
constexpr std::uint8_t kSdesCname = 1;

ReportBlock read_block(const std::byte* p) {
    ReportBlock b;
    b.ssrc = base::load_be32(p);
    b.fraction_lost = std::to_integer<std::uint8_t>(p[4]);
    // 24-bit two's complement (RFC 3550 §6.4.1: it may be negative with duplicates).
    std::uint32_t lost = (std::to_integer<std::uint32_t>(p[5]) << 16) | (std::to_integer<std::uint32_t>(p[6]) << 8) |
                         std::to_integer<std::uint32_t>(p[7]);
    b.cumulative_lost = (lost & 0x800000) ? static_cast<std::int32_t>(lost | 0xff000000u) : static_cast<std::int32_t>(lost);
    b.highest_sequence = base::load_be32(p + 8);
    b.jitter = base::load_be32(p + 12);
    b.last_sr = base::load_be32(p + 16);
    b.delay_since_last_sr = base::load_be32(p + 20);
    return b;
}

void put16(std::vector<std::byte>& out, std::uint16_t v) {
    out.push_back(std::byte(v >> 8));
    out.push_back(std::byte(v & 0xff));
}
void put32(std::vector<std::byte>& out, std::uint32_t v) {
    put16(out, static_cast<std::uint16_t>(v >> 16));
    put16(out, static_cast<std::uint16_t>(v));
}

// The common header, with the length filled in by end_packet().
std::size_t begin_packet(std::vector<std::byte>& out, std::uint8_t count, std::uint8_t type) {
    const std::size_t at = out.size();
    out.push_back(std::byte((2 << 6) | (count & 0x1f)));
    out.push_back(std::byte(type));
    put16(out, 0);
    return at;
}
void end_packet(std::vector<std::byte>& out, std::size_t at) {
    while ((out.size() - at) % 4) out.push_back(std::byte{0});
    base::store_be16(out.data() + at + 2, static_cast<std::uint16_t>((out.size() - at) / 4 - 1));
}

void write_block(const ReportBlock& b, std::vector<std::byte>& out) {
    put32(out, b.ssrc);
    out.push_back(std::byte(b.fraction_lost));
    const auto lost = static_cast<std::uint32_t>(std::clamp(b.cumulative_lost, -0x800000, 0x7fffff)) & 0xffffff;
    out.push_back(std::byte(lost >> 16));
    out.push_back(std::byte((lost >> 8) & 0xff));
    out.push_back(std::byte(lost & 0xff));
    put32(out, b.highest_sequence);
    put32(out, b.jitter);
    put32(out, b.last_sr);
    put32(out, b.delay_since_last_sr);
}

base::Result<RtcpPacket> read_one(std::uint8_t count, std::uint8_t type, base::Bytes packet) {
    const base::Bytes body = packet.subspan(4);
    const std::byte* p = body.data();
    switch (type) {
        case rtcp_type::kSenderReport: {
            if (body.size() < 24 + 24u * count) return make_error_code(RtcpError::bad_body);
            SenderReport sr;
            sr.ssrc = base::load_be32(p);
            sr.ntp_time = base::load_be64(p + 4);
            sr.rtp_time = base::load_be32(p + 12);
            sr.packet_count = base::load_be32(p + 16);
            sr.octet_count = base::load_be32(p + 20);
            for (std::uint8_t i = 0; i < count; ++i) sr.blocks.push_back(read_block(p + 24 + 24 * i));
            return RtcpPacket{std::move(sr)};
        }
        case rtcp_type::kReceiverReport: {
            if (body.size() < 4 + 24u * count) return make_error_code(RtcpError::bad_body);
            ReceiverReport rr;
            rr.ssrc = base::load_be32(p);
            for (std::uint8_t i = 0; i < count; ++i) rr.blocks.push_back(read_block(p + 4 + 24 * i));
            return RtcpPacket{std::move(rr)};
        }
        case rtcp_type::kSdes: {
            // §6.5: `count` chunks, each an SSRC then items (type, length,
            // text) up to a null item, padded to a 32-bit boundary.
            Sdes sdes;
            std::size_t pos = 0;
            for (std::uint8_t i = 0; i < count; ++i) {
                if (body.size() < pos + 4) return make_error_code(RtcpError::bad_body);
                Sdes::Chunk chunk;
                chunk.ssrc = base::load_be32(p + pos);
                pos += 4;
                for (;;) {
                    if (pos >= body.size()) return make_error_code(RtcpError::bad_body);
                    const auto item = std::to_integer<std::uint8_t>(p[pos]);
                    if (item == 0) {  // the end: skip to the next word
                        pos = (pos + 4) / 4 * 4;
                        break;
                    }
                    if (pos + 2 > body.size()) return make_error_code(RtcpError::bad_body);
                    const std::size_t len = std::to_integer<std::uint8_t>(p[pos + 1]);
                    if (pos + 2 + len > body.size()) return make_error_code(RtcpError::bad_body);
                    if (item == kSdesCname)
                        chunk.cname = std::string_view(reinterpret_cast<const char*>(p + pos + 2), len);
                    pos += 2 + len;
                }
                sdes.chunks.push_back(chunk);
            }
            return RtcpPacket{std::move(sdes)};
        }
        case rtcp_type::kBye: {
            if (body.size() < 4u * count) return make_error_code(RtcpError::bad_body);
            Bye bye;
            for (std::uint8_t i = 0; i < count; ++i) bye.ssrcs.push_back(base::load_be32(p + 4 * i));
            const std::size_t at = 4u * count;
            if (body.size() > at) {
                const std::size_t len = std::to_integer<std::uint8_t>(p[at]);
                if (at + 1 + len > body.size()) return make_error_code(RtcpError::bad_body);
                bye.reason = std::string_view(reinterpret_cast<const char*>(p + at + 1), len);
            }
            return RtcpPacket{std::move(bye)};
        }
        case rtcp_type::kTransportFeedback:
            if (count == kFmtNack) {
                // RFC 4585 §6.1: sender SSRC, media SSRC, then FCI: PID (16) + BLP (16) pairs.
                if (body.size() < 8) return make_error_code(RtcpError::bad_body);
                Nack nack;
                nack.sender_ssrc = base::load_be32(p);
                nack.media_ssrc = base::load_be32(p + 4);
                for (std::size_t pos = 8; pos + 4 <= body.size(); pos += 4) {
                    const std::uint16_t pid = base::load_be16(p + pos);
                    const std::uint16_t blp = base::load_be16(p + pos + 2);
                    nack.lost.push_back(pid);
                    for (int bit = 0; bit < 16; ++bit)
                        if (blp & (1u << bit)) nack.lost.push_back(static_cast<std::uint16_t>(pid + bit + 1));
                }
                return RtcpPacket{std::move(nack)};
            }
            break;
        case rtcp_type::kPayloadFeedback:
            if (count == kFmtPli) {
                if (body.size() < 8) return make_error_code(RtcpError::bad_body);
                return RtcpPacket{Pli{base::load_be32(p), base::load_be32(p + 4)}};
            }
            if (count == kFmtFir) {
                // RFC 5104 §4.3.1: media SSRC is 0; FCI entries of SSRC, seq, 3 reserved bytes.
                if (body.size() < 8) return make_error_code(RtcpError::bad_body);
                Fir fir;
                fir.sender_ssrc = base::load_be32(p);
                for (std::size_t pos = 8; pos + 8 <= body.size(); pos += 8)
                    fir.entries.push_back(Fir::Entry{base::load_be32(p + pos), std::to_integer<std::uint8_t>(p[pos + 4])});
                return RtcpPacket{std::move(fir)};
            }
            break;
        default:
            break;
    }
    return RtcpPacket{OtherRtcp{type, count, packet}};
}

}  // namespace

const std::error_category& rtcp_category() noexcept {
    static const RtcpCategory category;
    return category;
}

base::Result<std::vector<RtcpPacket>> parse_rtcp(base::Bytes d) {
    std::vector<RtcpPacket> out;
    if (d.size() < 4) return make_error_code(RtcpError::too_short);
    std::size_t pos = 0;
    while (pos < d.size()) {
        if (d.size() - pos < 4) return make_error_code(RtcpError::too_short);
        const auto b0 = std::to_integer<std::uint8_t>(d[pos]);
        if ((b0 >> 6) != 2) return make_error_code(RtcpError::bad_version);
        const std::uint8_t count = b0 & 0x1f;
        const auto type = std::to_integer<std::uint8_t>(d[pos + 1]);
        const std::size_t len = (std::size_t{base::load_be16(d.data() + pos + 2)} + 1) * 4;
        if (len > d.size() - pos) return make_error_code(RtcpError::bad_length);
        base::Bytes packet = d.subspan(pos, len);
        if (b0 & 0x20) {
            // RFC 3550 §6.4.1 (and A.2's check): only the last packet of a
            // compound may be padded; its last byte counts the padding.
            if (pos + len != d.size()) return make_error_code(RtcpError::bad_padding);
            const auto pad = std::to_integer<std::uint8_t>(packet[len - 1]);
            if (pad == 0 || pad > len - 4) return make_error_code(RtcpError::bad_padding);
            packet = packet.first(len - pad);
        }
        auto one = read_one(count, type, packet);
        if (!one) return one.error();
        out.push_back(std::move(*one));
        pos += len;
    }
    return out;
}

void write_sender_report(const SenderReport& sr, std::vector<std::byte>& out) {
    const auto n = static_cast<std::uint8_t>(std::min<std::size_t>(sr.blocks.size(), 31));
    const std::size_t at = begin_packet(out, n, rtcp_type::kSenderReport);
    put32(out, sr.ssrc);
    put32(out, static_cast<std::uint32_t>(sr.ntp_time >> 32));
    put32(out, static_cast<std::uint32_t>(sr.ntp_time));
    put32(out, sr.rtp_time);
    put32(out, sr.packet_count);
    put32(out, sr.octet_count);
    for (std::uint8_t i = 0; i < n; ++i) write_block(sr.blocks[i], out);
    end_packet(out, at);
}

void write_receiver_report(const ReceiverReport& rr, std::vector<std::byte>& out) {
    const auto n = static_cast<std::uint8_t>(std::min<std::size_t>(rr.blocks.size(), 31));
    const std::size_t at = begin_packet(out, n, rtcp_type::kReceiverReport);
    put32(out, rr.ssrc);
    for (std::uint8_t i = 0; i < n; ++i) write_block(rr.blocks[i], out);
    end_packet(out, at);
}

void write_sdes_cname(std::uint32_t ssrc, std::string_view cname, std::vector<std::byte>& out) {
    cname = cname.substr(0, 255);
    const std::size_t at = begin_packet(out, 1, rtcp_type::kSdes);
    put32(out, ssrc);
    out.push_back(std::byte(kSdesCname));
    out.push_back(std::byte(cname.size()));
    for (char c : cname) out.push_back(std::byte(c));
    // §6.5: the item list ends with at least one null byte, to the word.
    out.push_back(std::byte{0});
    end_packet(out, at);
}

void write_bye(std::span<const std::uint32_t> ssrcs, std::string_view reason, std::vector<std::byte>& out) {
    const auto n = static_cast<std::uint8_t>(std::min<std::size_t>(ssrcs.size(), 31));
    const std::size_t at = begin_packet(out, n, rtcp_type::kBye);
    for (std::uint8_t i = 0; i < n; ++i) put32(out, ssrcs[i]);
    if (!reason.empty()) {
        reason = reason.substr(0, 255);
        out.push_back(std::byte(reason.size()));
        for (char c : reason) out.push_back(std::byte(c));
    }
    end_packet(out, at);
}

void write_nack(std::uint32_t sender_ssrc, std::uint32_t media_ssrc, std::span<const std::uint16_t> lost,
                std::vector<std::byte>& out) {
    if (lost.empty()) return;
    // In sequence order from the oldest (modulo 2^16, around the first one).
    std::vector<std::uint16_t> seqs(lost.begin(), lost.end());
    const std::uint16_t base_seq = seqs.front();
    std::sort(seqs.begin(), seqs.end(), [base_seq](std::uint16_t a, std::uint16_t b) {
        return static_cast<std::int16_t>(a - base_seq) < static_cast<std::int16_t>(b - base_seq);
    });
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    const std::size_t at = begin_packet(out, kFmtNack, rtcp_type::kTransportFeedback);
    put32(out, sender_ssrc);
    put32(out, media_ssrc);
    for (std::size_t i = 0; i < seqs.size();) {
        const std::uint16_t pid = seqs[i++];
        std::uint16_t blp = 0;
        while (i < seqs.size()) {
            const auto d = static_cast<std::uint16_t>(seqs[i] - pid);
            if (d == 0 || d > 16) break;
            blp = static_cast<std::uint16_t>(blp | (1u << (d - 1)));
            ++i;
        }
        put16(out, pid);
        put16(out, blp);
    }
    end_packet(out, at);
}

void write_pli(std::uint32_t sender_ssrc, std::uint32_t media_ssrc, std::vector<std::byte>& out) {
    const std::size_t at = begin_packet(out, kFmtPli, rtcp_type::kPayloadFeedback);
    put32(out, sender_ssrc);
    put32(out, media_ssrc);
    end_packet(out, at);
}

void write_fir(std::uint32_t sender_ssrc, std::span<const Fir::Entry> entries, std::vector<std::byte>& out) {
    const std::size_t at = begin_packet(out, kFmtFir, rtcp_type::kPayloadFeedback);
    put32(out, sender_ssrc);
    put32(out, 0);  // RFC 5104 §4.3.1.2: the media source SSRC is unused
    for (const auto& e : entries) {
        put32(out, e.ssrc);
        out.push_back(std::byte(e.sequence));
        out.push_back(std::byte{0});
        out.push_back(std::byte{0});
        out.push_back(std::byte{0});
    }
    end_packet(out, at);
}

}  // namespace duplex::proto::rtp
