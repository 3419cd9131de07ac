// proto/rtp/rtx.hpp: retransmission (RFC 4588): the sender's history of what
// it sent, and the RTX packet that carries a lost one again.
//
// An RTX packet (RFC 4588 §4) has the RTX stream's own payload type, SSRC and
// sequence number, the original's timestamp and marker, and a payload that
// begins with the original sequence number (OSN):
//
//   | RTP header (RTX pt, RTX ssrc, RTX seq, original ts) | OSN (16 bits) | original payload |
#pragma once

#include "base/bytes.hpp"
#include "base/time.hpp"
#include "proto/rtp/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace duplex::proto::rtp {

/// The packets a sender sent last, by sequence number, for NACKs to find:
/// `capacity` of them (a power of two), each up to max_packet bytes, in
/// buffers allocated once. Older ones are overwritten.
class PacketHistory {
public:
    explicit PacketHistory(std::size_t capacity = 512, std::size_t max_packet = 1500);
    /// Keeps a copy of the plain RTP packet sent with this sequence number.
    void store(std::uint16_t sequence, base::Bytes packet, base::Instant sent);
    /// The packet sent with this sequence number, if still held.
    std::optional<base::Bytes> find(std::uint16_t sequence) const noexcept;
    /// The same for a retransmission: nullopt also when it went again less
    /// than `min_interval` ago (which is then not counted as a send).
    std::optional<base::Bytes> take_for_resend(std::uint16_t sequence, base::Instant now, base::Duration min_interval) noexcept;

private:
    struct Entry {
        bool used = false;
        std::uint16_t sequence = 0;
        base::Instant sent{};
        std::optional<base::Instant> resent;
        std::vector<std::byte> bytes;
    };
    std::vector<Entry> entries_;
    std::size_t max_packet_;
};

/// Writes the RTX packet for `original` (a parsed plain RTP packet) into
/// `out`; its extensions are carried over, but for those with an id in
/// `replacing`, whose values are taken from there (a retransmission's own
/// transport-wide sequence number). Returns its size, or 0 if `out` is too
/// small.
std::size_t write_rtx(const Packet& original, std::uint8_t rtx_payload_type, std::uint32_t rtx_ssrc,
                      std::uint16_t rtx_sequence, std::span<std::byte> out, std::span<const Extension> replacing = {});

/// The original sequence number and payload an RTX packet carries; nullopt
/// if its payload is shorter than the OSN.
struct Unwrapped {
    std::uint16_t original_sequence = 0;
    base::Bytes payload;
};
std::optional<Unwrapped> unwrap_rtx(const Packet& rtx) noexcept;

}  // namespace duplex::proto::rtp
