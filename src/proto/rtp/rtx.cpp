// proto/rtp/rtx.cpp: see rtx.hpp.
#include "proto/rtp/rtx.hpp"

#include <array>

namespace duplex::proto::rtp {

PacketHistory::PacketHistory(std::size_t capacity, std::size_t max_packet) : max_packet_(max_packet) {
    std::size_t n = 16;
    while (n < capacity) n <<= 1;
    entries_.resize(n);
    for (auto& e : entries_) e.bytes.reserve(max_packet);
}

void PacketHistory::store(std::uint16_t sequence, base::Bytes packet, base::Instant sent) {
    Entry& e = entries_[sequence & (entries_.size() - 1)];
    if (packet.size() > max_packet_) {
        e.used = false;
        return;
    }
    e.used = true;
    e.sequence = sequence;
    e.sent = sent;
    e.resent.reset();
    e.bytes.assign(packet.begin(), packet.end());  // within the reserved capacity
}

std::optional<base::Bytes> PacketHistory::find(std::uint16_t sequence) const noexcept {
    const Entry& e = entries_[sequence & (entries_.size() - 1)];
    if (!e.used || e.sequence != sequence) return std::nullopt;
    return base::Bytes(e.bytes.data(), e.bytes.size());
}

std::optional<base::Bytes> PacketHistory::take_for_resend(std::uint16_t sequence, base::Instant now,
                                                          base::Duration min_interval) noexcept {
    Entry& e = entries_[sequence & (entries_.size() - 1)];
    if (!e.used || e.sequence != sequence) return std::nullopt;
    if (e.resent && now - *e.resent < min_interval) return std::nullopt;
    e.resent = now;
    return base::Bytes(e.bytes.data(), e.bytes.size());
}

std::size_t write_rtx(const Packet& original, std::uint8_t rtx_payload_type, std::uint32_t rtx_ssrc,
                      std::uint16_t rtx_sequence, std::span<std::byte> out, std::span<const Extension> replacing) {
    std::array<Extension, 16> extensions;
    std::size_t n = 0;
    const bool ok = original.for_each_extension([&](const Extension& e) {
        if (n == extensions.size()) return;
        extensions[n++] = e;
        for (const auto& r : replacing)
            if (r.id == e.id) extensions[n - 1].data = r.data;
    });
    if (!ok) n = 0;
    Header h;
    h.marker = original.marker;
    h.payload_type = rtx_payload_type;
    h.sequence = rtx_sequence;
    h.timestamp = original.timestamp;
    h.ssrc = rtx_ssrc;
    h.csrcs = std::span<const std::uint32_t>(original.csrcs.data(), original.csrc_count);
    h.extensions = std::span<const Extension>(extensions.data(), n);
    // RFC 4588 §4: the OSN, then the original payload.
    const std::size_t header = written_size(h, 0);
    const std::size_t total = header + 2 + original.payload.size();
    if (out.size() < total) return 0;
    std::array<std::byte, 2> osn = {std::byte(original.sequence >> 8), std::byte(original.sequence & 0xFF)};
    if (write(h, base::Bytes(osn.data(), osn.size()), out) != header + 2) return 0;
    std::copy(original.payload.begin(), original.payload.end(), out.begin() + static_cast<std::ptrdiff_t>(header + 2));
    return total;
}

std::optional<Unwrapped> unwrap_rtx(const Packet& rtx) noexcept {
    if (rtx.payload.size() < 2) return std::nullopt;
    Unwrapped u;
    u.original_sequence =
        static_cast<std::uint16_t>(std::to_integer<unsigned>(rtx.payload[0]) << 8 | std::to_integer<unsigned>(rtx.payload[1]));
    u.payload = rtx.payload.subspan(2);
    return u;
}

}  // namespace duplex::proto::rtp
