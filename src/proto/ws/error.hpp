// proto/ws/error.hpp: why a WebSocket connection failed (RFC 6455 §7.1.7), each
// with the close code that is sent for it.
#pragma once

#include "proto/ws/close_code.hpp"

#include <system_error>

namespace duplex::proto::ws {

enum class WsError {
    reserved_bits = 1,        // 1002: RSV1-3 set without a negotiated extension (§5.2)
    reserved_opcode,          // 1002: opcodes 3-7, 0xB-0xF (§5.2)
    bad_masking,              // 1002: unmasked from a client / masked from a server (§5.1)
    length_msb_set,           // 1002: 64-bit length with its top bit set (§5.2)
    control_too_long,         // 1002: control payload over 125 bytes (§5.5)
    control_fragmented,       // 1002: control frame without FIN (§5.5)
    unexpected_continuation,  // 1002: continuation with no message started (§5.4)
    expected_continuation,    // 1002: new data frame inside a fragmented message (§5.4)
    bad_close_payload,        // 1002: one-byte close payload or invalid code (§5.5.1, §7.4)
    invalid_utf8,             // 1007: text or close reason not UTF-8 (§8.1)
    bad_compressed_data,      // 1007: a permessage-deflate payload that does not inflate (RFC 7692 §8)
    message_too_big,          // 1009: over the message or frame size limit (§7.4.1)
    close_timeout,            // 1006: the peer never answered our Close
    unexpected_eof,           // 1006: the transport ended without a Close
    slow_consumer,            // 1008: the peer does not read what we send (our send budget is spent)
};

const std::error_category& ws_category() noexcept;
inline std::error_code make_error_code(WsError e) noexcept { return {static_cast<int>(e), ws_category()}; }

/// The close code sent when failing the connection for `e`.
CloseCode close_code_for(WsError e) noexcept;

}  // namespace duplex::proto::ws

template <>
struct std::is_error_code_enum<duplex::proto::ws::WsError> : std::true_type {};
