// duplex/status.hpp: the error type every public call returns.
//
// Local misuse (sending on a closed socket, a bad argument) comes back as a
// Status whose code is a duplex::Errc; protocol and system failures carry
// their own std::error_category. Nothing in duplex throws across its API.
#pragma once

#include <memory>
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
    backpressure_limit, ///< dropped: the send buffer is over max_backpressure
    tls_failed,         ///< the TLS handshake or certificate check failed
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
    /// An error with a one-line explanation (a file name, OpenSSL's reason).
    Status(std::error_code ec, std::string detail)
        : ec_(ec), detail_(detail.empty() ? nullptr : std::make_shared<const std::string>(std::move(detail))) {}

    static Status success() noexcept { return {}; }

    bool ok() const noexcept { return !ec_; }
    explicit operator bool() const noexcept { return ok(); }
    const std::error_code& code() const noexcept { return ec_; }
    /// "address already in use", or "TLS failed: cannot load certificate x.pem: ..."
    std::string message() const {
        if (ok()) return "ok";
        return detail_ ? ec_.message() + ": " + *detail_ : ec_.message();
    }

    friend bool operator==(const Status& a, const Status& b) noexcept { return a.ec_ == b.ec_; }
    friend bool operator==(const Status& a, Errc e) noexcept { return a.ec_ == make_error_code(e); }

private:
    std::error_code ec_;
    std::shared_ptr<const std::string> detail_;
};

/// What became of a message handed to send() (uWebSockets' three outcomes).
enum class SendStatus {
    Success,       ///< written to the kernel, or queued while a read is handled (sent with its replies)
    Backpressure,  ///< queued behind data the peer has not taken yet: wait for on_drain
    Dropped,       ///< not sent; code() says why (closed, bad argument, over max_backpressure)
};

/// The result of a send. `ok()` unless the message was dropped; compares
/// equal to the Errc of a drop.
class [[nodiscard]] SendResult {
public:
    SendResult(SendStatus s = SendStatus::Success) noexcept : status_(s) {}  // NOLINT: implicit by design
    SendResult(Errc e) noexcept  // NOLINT: implicit by design
        : status_(SendStatus::Dropped), value_(static_cast<int>(e)), category_(&error_category()) {}
    SendResult(Status st) noexcept  // NOLINT: a failed Status is a drop
        : status_(st.ok() ? SendStatus::Success : SendStatus::Dropped),
          value_(st.code().value()),
          category_(st.ok() ? nullptr : &st.code().category()) {}

    SendStatus status() const noexcept { return status_; }
    bool ok() const noexcept { return status_ != SendStatus::Dropped; }
    explicit operator bool() const noexcept { return ok(); }
    /// Why the message was dropped; an empty code otherwise.
    std::error_code code() const noexcept {
        return category_ ? std::error_code(value_, *category_) : std::error_code();
    }
    std::string message() const {
        switch (status_) {
            case SendStatus::Success: return "sent";
            case SendStatus::Backpressure: return "queued (backpressure)";
            case SendStatus::Dropped: return "dropped: " + code().message();
        }
        return {};
    }
    friend bool operator==(const SendResult& a, Errc e) noexcept { return a.code() == make_error_code(e); }
    friend bool operator==(const SendResult& a, SendStatus s) noexcept { return a.status_ == s; }

private:
    // The code as value and category, not a std::error_code: a successful
    // send (every message) then builds no error_code, whose constructor
    // calls std::system_category() out of line.
    SendStatus status_;
    int value_ = 0;
    const std::error_category* category_ = nullptr;  // null: no error
};

}  // namespace duplex

template <>
struct std::is_error_code_enum<duplex::Errc> : std::true_type {};
