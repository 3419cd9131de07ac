#include "proto/ws/error.hpp"

#include <string>

namespace duplex::proto::ws {

namespace {
class WsCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "websocket"; }
    std::string message(int ev) const override {
        switch (static_cast<WsError>(ev)) {
            case WsError::reserved_bits: return "reserved bits set without a negotiated extension";
            case WsError::reserved_opcode: return "reserved opcode";
            case WsError::bad_masking: return "frame masking does not match the peer's role";
            case WsError::length_msb_set: return "64-bit payload length has its most significant bit set";
            case WsError::control_too_long: return "control frame payload longer than 125 bytes";
            case WsError::control_fragmented: return "fragmented control frame";
            case WsError::unexpected_continuation: return "continuation frame without a message to continue";
            case WsError::expected_continuation: return "new data frame inside a fragmented message";
            case WsError::bad_close_payload: return "invalid close frame payload";
            case WsError::invalid_utf8: return "invalid UTF-8 in text";
            case WsError::bad_compressed_data: return "compressed payload does not inflate";
            case WsError::message_too_big: return "message too big";
            case WsError::close_timeout: return "close handshake timed out";
            case WsError::unexpected_eof: return "connection ended without a close frame";
            case WsError::slow_consumer: return "slow consumer: send buffer over limit";
        }
        return "unknown websocket error";
    }
};
}  // namespace

const std::error_category& ws_category() noexcept {
    static const WsCategory category;
    return category;
}

CloseCode close_code_for(WsError e) noexcept {
    switch (e) {
        case WsError::invalid_utf8:
        case WsError::bad_compressed_data: return CloseCode::InvalidPayload;
        case WsError::message_too_big: return CloseCode::MessageTooBig;
        case WsError::slow_consumer: return CloseCode::PolicyViolation;
        case WsError::close_timeout:
        case WsError::unexpected_eof: return CloseCode::Abnormal;
        default: return CloseCode::ProtocolError;
    }
}

}  // namespace duplex::proto::ws
