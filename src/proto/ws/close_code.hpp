// proto/ws/close_code.hpp: close status codes (RFC 6455 §7.4; IANA "WebSocket
// Close Code Number Registry"), and which of them may appear on the wire.
#pragma once

#include <cstdint>

namespace duplex::proto::ws {

enum class CloseCode : std::uint16_t {
    Normal = 1000,
    GoingAway = 1001,
    ProtocolError = 1002,
    UnsupportedData = 1003,
    // 1004 reserved.
    NoStatus = 1005,          // never sent: "no status code was present"
    Abnormal = 1006,          // never sent: "closed without a Close frame"
    InvalidPayload = 1007,    // e.g. a text message that is not UTF-8
    PolicyViolation = 1008,
    MessageTooBig = 1009,
    MandatoryExtension = 1010,
    InternalError = 1011,
    ServiceRestart = 1012,    // IANA registry
    TryAgainLater = 1013,     // IANA registry
    BadGateway = 1014,        // IANA registry
    TlsHandshake = 1015,      // never sent
};

constexpr std::uint16_t code_value(CloseCode c) noexcept { return static_cast<std::uint16_t>(c); }

/// True when `code` may be carried in a Close frame (RFC 6455 §7.4.1, §7.4.2 and
/// the IANA registry): 1000-1003, 1007-1014 and the 3000-4999 ranges for
/// registered and private use. 1004-1006, 1015, 0-999 and 1016-2999 never are.
constexpr bool is_valid_wire_code(std::uint16_t code) noexcept {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

}  // namespace duplex::proto::ws
