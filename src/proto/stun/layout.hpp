// proto/stun/layout.hpp (internal): one walk over a datagram's header and
// attribute TLVs that parse(), verify_integrity() and has_valid_fingerprint()
// share, so that all three apply the same rules (RFC 8489 §5, §14, §14.5-14.7).
#pragma once

#include "base/bytes.hpp"
#include "proto/stun/message.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace duplex::proto::stun::detail {

/// One accepted attribute: its type, where its TLV header starts in the
/// datagram, and the length of its value (without padding).
struct RawAttribute {
    std::uint16_t type = 0;
    std::uint16_t length = 0;
    std::uint32_t offset = 0;
    base::Bytes value(base::Bytes datagram) const noexcept { return datagram.subspan(offset + 4, length); }
};

struct Layout {
    std::array<RawAttribute, kMaxAttributes> attrs{};  // accepted attributes, in order
    std::size_t count = 0;
    int integrity = -1;         // index into attrs of MESSAGE-INTEGRITY
    int integrity_sha256 = -1;  // ... of MESSAGE-INTEGRITY-SHA256
    int fingerprint = -1;       // ... of FINGERPRINT
};

/// Checks the header and the TLVs and fills `out`. Attributes that RFC 8489
/// says to ignore (after MESSAGE-INTEGRITY, other than MESSAGE-INTEGRITY-SHA256
/// and FINGERPRINT; after MESSAGE-INTEGRITY-SHA256, other than FINGERPRINT) are
/// skipped. Returns the first violation, or an empty error_code.
std::error_code scan(base::Bytes datagram, Layout& out) noexcept;

}  // namespace duplex::proto::stun::detail
