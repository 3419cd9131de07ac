// proto/rtp/packet.hpp: the RTP packet (RFC 3550 §5.1) with its header
// extensions (RFC 8285, one- and two-byte forms), read as a view of the bytes
// it came in (no copy, no allocation) and written into a caller's buffer.
//
//    0                   1                   2                   3
//   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//   |                           timestamp                           |
//   |           synchronization source (SSRC) identifier            |
//   |            contributing source (CSRC) identifiers  (CC × 32)  |
//   |   profile (0xBEDE or 0x100x)  |   length (32-bit words)       |  if X
//   |                        extension elements                     |
//   |                           payload ...     | padding | count   |  if P
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>

namespace duplex::proto::rtp {

enum class RtpError {
    too_short = 1,      // shorter than its own header says
    bad_version,        // V is not 2
    bad_padding,        // a padding count of 0 or longer than the payload
    bad_extension,      // an extension block that overruns the packet, or malformed elements
    is_rtcp,            // the payload type says RTCP (RFC 5761 §4): not an RTP packet
};
const std::error_category& rtp_category() noexcept;
inline std::error_code make_error_code(RtpError e) noexcept { return {static_cast<int>(e), rtp_category()}; }

/// RFC 5761 §4: on a multiplexed port, the second byte tells RTCP (packet
/// types 192..223, i.e. 64..95 once the marker bit is masked) from RTP.
bool looks_like_rtcp(base::Bytes datagram) noexcept;

/// RFC 8285: the extension block's forms.
inline constexpr std::uint16_t kOneByteProfile = 0xBEDE;
inline constexpr std::uint16_t kTwoByteProfileMask = 0xFFF0;
inline constexpr std::uint16_t kTwoByteProfile = 0x1000;

/// One extension element: its id (1..14 one-byte, 1..255 two-byte) and data.
struct Extension {
    std::uint8_t id = 0;
    base::Bytes data;
};

/// A parsed RTP packet: spans point into the bytes given to parse().
struct Packet {
    bool marker = false;
    std::uint8_t payload_type = 0;
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
    std::uint32_t ssrc = 0;
    std::uint8_t csrc_count = 0;
    std::array<std::uint32_t, 15> csrcs{};
    std::uint16_t extension_profile = 0;  // 0: no extension block
    base::Bytes extension_data;           // the elements (after the block's 4-byte header)
    base::Bytes payload;                  // without the padding
    std::uint8_t padding = 0;             // bytes of padding that followed the payload

    /// The data of element `id` (RFC 8285 one- or two-byte form), if present.
    std::optional<base::Bytes> extension(std::uint8_t id) const noexcept;
    /// Calls fn(Extension) for each element, in order; false if malformed.
    template <class Fn>
    bool for_each_extension(Fn&& fn) const;
};

/// Reads an RTP packet (RFC 3550 §5.1; RFC 8285 for the extension block,
/// whose elements are checked too).
base::Result<Packet> parse(base::Bytes datagram);

/// What to write in front of a payload.
struct Header {
    bool marker = false;
    std::uint8_t payload_type = 0;  // 0..127
    std::uint16_t sequence = 0;
    std::uint32_t timestamp = 0;
    std::uint32_t ssrc = 0;
    std::span<const std::uint32_t> csrcs;  // at most 15
    /// Elements to write: the one-byte form when every id is 1..14 and every
    /// element 1..16 bytes, else the two-byte form (RFC 8285 §4.2, §4.3).
    std::span<const Extension> extensions;
    std::uint8_t padding = 0;  // bytes of padding to add (0: none)
};

/// The size write() needs for this header and a payload of `payload_size`.
std::size_t written_size(const Header& h, std::size_t payload_size) noexcept;
/// Writes header, extensions, payload and padding into `out`; returns the
/// bytes written, or 0 when `out` is too small or the header cannot be
/// written (more than 15 CSRCs, an id out of range, an element too long).
std::size_t write(const Header& h, base::Bytes payload, std::span<std::byte> out) noexcept;

/// Sequence numbers compare modulo 2^16 (RFC 3550 §A.1): a is newer than b
/// when it is less than half the space ahead.
constexpr bool seq_newer(std::uint16_t a, std::uint16_t b) noexcept {
    return a != b && static_cast<std::uint16_t>(a - b) < 0x8000;
}

// ------------------------------------------------------------ inline parts --

template <class Fn>
bool Packet::for_each_extension(Fn&& fn) const {
    const std::byte* p = extension_data.data();
    std::size_t left = extension_data.size();
    const bool one_byte = extension_profile == kOneByteProfile;
    const bool two_byte = (extension_profile & kTwoByteProfileMask) == kTwoByteProfile;
    if (!one_byte && !two_byte) return true;  // a profile of another kind: no elements to read
    while (left > 0) {
        const auto b0 = std::to_integer<std::uint8_t>(p[0]);
        if (b0 == 0) {  // padding between elements (§4.2, §4.3)
            ++p;
            --left;
            continue;
        }
        std::uint8_t id;
        std::size_t len, head;
        if (one_byte) {
            id = b0 >> 4;
            if (id == 15) return true;  // §4.2: stop reading
            len = (b0 & 0x0f) + 1u;
            head = 1;
        } else {
            if (left < 2) return false;
            id = b0;
            len = std::to_integer<std::uint8_t>(p[1]);
            head = 2;
        }
        if (left < head + len) return false;
        fn(Extension{id, base::Bytes(p + head, len)});
        p += head + len;
        left -= head + len;
    }
    return true;
}

}  // namespace duplex::proto::rtp

template <>
struct std::is_error_code_enum<duplex::proto::rtp::RtpError> : std::true_type {};
