// base/result.hpp: Result<T>, an expected-shaped value-or-error (g++ 12 in C++20
// mode has no std::expected). Status lives in the public <duplex/status.hpp>.
#pragma once

#include <duplex/status.hpp>

#include <cassert>
#include <system_error>
#include <utility>
#include <variant>

namespace duplex::base {

using duplex::Errc;
using duplex::Status;

/// Either a T or an error_code. Access to the wrong alternative is a bug (asserts).
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
    Result(std::error_code ec) : v_(ec) { assert(ec); }       // NOLINT
    Result(Errc e) : v_(make_error_code(e)) {}                // NOLINT

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
        return ok() ? std::error_code{} : std::get<1>(v_);
    }
    Status status() const noexcept { return Status(error()); }

private:
    std::variant<T, std::error_code> v_;
};

}  // namespace duplex::base
