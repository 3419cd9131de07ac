// proto/rtp/transport_feedback_reader.cpp: see transport_feedback_reader.hpp.
#include "proto/rtp/transport_feedback_reader.hpp"

namespace duplex::proto::rtp {

namespace {

constexpr std::uint8_t kRtpfb = 205;
constexpr std::uint8_t kFmtTransportFeedback = 15;
constexpr std::int64_t kTickUs = 250;             // a receive delta's unit (§3.1.5)
constexpr std::int64_t kReferenceUnitUs = 64000;  // the reference time's unit (§3.1)
constexpr std::size_t kFixed = 20;                // header, two SSRCs, base, count, reference, fb count

// Walks the packet status chunks (§3.1.3, §3.1.4) from `at`, calling
// fn(symbol) for each of the first `count` statuses (0 not received, 1 small
// delta, 2 large delta, 3 reserved). Returns the offset after the last chunk
// read, or 0 if the chunks run past `end`.
template <typename Fn>
std::size_t walk_chunks(const std::byte* p, std::size_t at, std::size_t end, std::uint32_t count, Fn&& fn) {
    std::uint32_t seen = 0;
    while (seen < count) {
        if (at + 2 > end) return 0;
        const std::uint16_t c = base::load_be16(p + at);
        at += 2;
        if ((c & 0x8000) == 0) {  // run length: 2-bit symbol, 13-bit length
            const unsigned symbol = (c >> 13) & 3;
            for (std::uint32_t k = 0; k < (c & 0x1fffu) && seen < count; ++k, ++seen) fn(symbol);
        } else if ((c & 0x4000) == 0) {  // status vector of 14 one-bit symbols
            for (int k = 13; k >= 0 && seen < count; --k, ++seen) fn((c >> k) & 1u);
        } else {  // status vector of 7 two-bit symbols
            for (int k = 12; k >= 0 && seen < count; k -= 2, ++seen) fn((c >> k) & 3u);
        }
    }
    return at;
}

}  // namespace

std::optional<TransportFeedback> read_transport_feedback(base::Bytes packet) {
    const std::byte* p = packet.data();
    if (packet.size() < kFixed) return std::nullopt;
    const auto first = std::to_integer<unsigned>(p[0]);
    if ((first >> 6) != 2 || (first & 0x1f) != kFmtTransportFeedback || std::to_integer<unsigned>(p[1]) != kRtpfb)
        return std::nullopt;
    std::size_t end = (std::size_t{base::load_be16(p + 2)} + 1) * 4;
    if (end < kFixed) return std::nullopt;  // shorter than its fixed part says
    if (end > packet.size()) {
        // Shorter than its length says: parse_rtcp hands over the last
        // packet of a compound without its padding, which the P bit owns
        // up to (at most 255 bytes, RFC 3550 §6.4.1).
        if ((first & 0x20) == 0 || end - packet.size() > 255) return std::nullopt;
        end = packet.size();
    } else if (first & 0x20) {  // padding: its count in the last byte (RFC 3550 §6.4.1)
        const auto padding = std::to_integer<std::size_t>(p[end - 1]);
        if (padding == 0 || padding > end - kFixed) return std::nullopt;
        end -= padding;
    }
    TransportFeedback fb;
    fb.sender_ssrc = base::load_be32(p + 4);
    fb.media_ssrc = base::load_be32(p + 8);
    fb.base_sequence = base::load_be16(p + 12);
    fb.status_count = base::load_be16(p + 14);
    // The draft calls the reference time signed; read as unsigned it only
    // differs across its wrap (2^24 x 64 ms, 12 days), which the estimator
    // takes as a clock that went back and starts its delay state afresh.
    const std::int64_t reference = std::int64_t{std::to_integer<unsigned>(p[16])} << 16 |
                                   std::int64_t{std::to_integer<unsigned>(p[17])} << 8 | std::to_integer<unsigned>(p[18]);
    fb.feedback_count = std::to_integer<std::uint8_t>(p[19]);

    // First pass: where the chunks end (the deltas follow), and how many
    // packets arrived (each has one delta, so at most one per byte left).
    std::size_t received = 0;
    bool reserved = false;
    const std::size_t deltas_at = walk_chunks(p, kFixed, end, fb.status_count, [&](unsigned s) {
        if (s == 3) reserved = true;
        else if (s != 0) ++received;
    });
    if (deltas_at == 0 || reserved || received > end - deltas_at) return std::nullopt;
    fb.received.reserve(received);

    // Second pass: the arrival time of each packet that came.
    std::size_t at = deltas_at;
    std::int64_t t = reference * kReferenceUnitUs;
    std::uint16_t sequence = fb.base_sequence;
    bool short_deltas = false;
    walk_chunks(p, kFixed, end, fb.status_count, [&](unsigned s) {
        if (s == 1 && at + 1 <= end) {
            t += std::to_integer<std::int64_t>(p[at]) * kTickUs;
            at += 1;
            fb.received.push_back({sequence, t});
        } else if (s == 2 && at + 2 <= end) {
            t += static_cast<std::int16_t>(base::load_be16(p + at)) * kTickUs;
            at += 2;
            fb.received.push_back({sequence, t});
        } else if (s != 0) {
            short_deltas = true;
        }
        ++sequence;
    });
    if (short_deltas) return std::nullopt;
    return fb;
}

}  // namespace duplex::proto::rtp
