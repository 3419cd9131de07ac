// duplex/status.hpp: the error type every public call returns.
//
// Local misuse (sending on a closed socket, a bad argument) comes back as a
// Status whose code is a duplex::Errc; protocol and system failures carry
// their own std::error_category. Nothing in duplex throws across its API.
#pragma once

#include <string>
#include <system_error>

namespace duplex {

/// Errors of local misuse and of the library itself (DESIGN.md, error policy).
/// Names mirror the DOMException names a browser would raise where one exists.
enum class Errc {
    ok = 0,
    invalid_state,      ///< InvalidStateError: e.g. send() before open or after close
    invalid_argument,   ///< SyntaxError/TypeError: a bad URL, close code, or UTF-8 text
    message_too_big,    ///< the message exceeds a configured limit
    address_in_use,     ///< listen(): the port is taken
    not_supported,      ///< a feature that this build or version does not offer
    timed_out,          ///< a handshake or close did not finish in time
    connection_refused, ///< connect(): nobody listens there
    resolve_failed,     ///< connect(): the host name did not resolve
    handshake_failed,   ///< the HTTP upgrade was refused or malformed
};

/// The category of duplex::Errc.
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

/// A success-or-error result of a call. Cheap to copy (an error_code).
/// Thread safety: a value type; distinct objects may be used from any thread.
class [[nodiscard]] Status {
public:
    Status() noexcept = default;
    Status(std::error_code ec) noexcept : ec_(ec) {}  // NOLINT: implicit by design
    Status(Errc e) noexcept : ec_(make_error_code(e)) {}  // NOLINT: implicit by design

    static Status success() noexcept { return {}; }

    bool ok() const noexcept { return !ec_; }
    explicit operator bool() const noexcept { return ok(); }
    const std::error_code& code() const noexcept { return ec_; }
    std::string message() const { return ok() ? std::string("ok") : ec_.message(); }

    friend bool operator==(const Status& a, const Status& b) noexcept { return a.ec_ == b.ec_; }
    friend bool operator==(const Status& a, Errc e) noexcept { return a.ec_ == make_error_code(e); }

private:
    std::error_code ec_;
};

}  // namespace duplex

template <>
struct std::is_error_code_enum<duplex::Errc> : std::true_type {};
