// proto/sctp/error.hpp: why an SCTP association failed (the Failed event's
// code). Local misuse of send() is a duplex::Errc instead (error policy,
// docs/decisions/0002-error-policy.md).
#pragma once

#include <system_error>

namespace duplex::proto::sctp {

enum class SctpError {
    stack_failure = 1,     // the SCTP stack refused a socket call (out of memory, bad setup)
    cannot_start,          // the INIT/COOKIE handshake gave up (RFC 9260 §5.1, Max.Init.Retransmits)
    association_lost,      // too many retransmissions (RFC 9260 §8.1 Association.Max.Retrans)
    message_too_big,       // the peer sent a message over our a=max-message-size (RFC 8841 §6)
    protocol_violation,    // the stack delivered something the data channel transport forbids
};

const std::error_category& sctp_category() noexcept;
inline std::error_code make_error_code(SctpError e) noexcept { return {static_cast<int>(e), sctp_category()}; }

}  // namespace duplex::proto::sctp

template <>
struct std::is_error_code_enum<duplex::proto::sctp::SctpError> : std::true_type {};
