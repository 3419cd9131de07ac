// duplex/result.hpp: Result<T>, a value or an error (g++ 12 in C++20 mode has
// no std::expected). Returned where a call yields a value or fails, e.g.
// PeerConnection::create_offer().
#pragma once

#include <duplex/status.hpp>

#include <cassert>
#include <system_error>
#include <utility>
#include <variant>

namespace duplex {

/// Either a T or an error_code. Access to the wrong alternative is a bug (asserts).
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
    Result(std::error_code ec) : v_(Status(ec)) { assert(ec); }  // NOLINT
    Result(Errc e) : v_(Status(e)) {}                            // NOLINT
    Result(Status st) : v_(std::move(st)) { assert(!std::get<1>(v_).ok()); }  // NOLINT: an error with its detail

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { assert(ok()); return std::get<0>(v_); }
    const T& value() const& { assert(ok()); return std::get<0>(v_); }
    T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    std::error_code error() const noexcept {
        return ok() ? std::error_code{} : std::get<1>(v_).code();
    }
    /// ok, or the error with its one-line detail.
    Status status() const { return ok() ? Status{} : std::get<1>(v_); }

private:
    std::variant<T, Status> v_;
};

}  // namespace duplex
