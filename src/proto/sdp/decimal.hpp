// proto/sdp/decimal.hpp: a number in an SDP text (RFC 8866 §9: 1*DIGIT),
// read whole or not at all: no sign, no spaces, nothing after the digits, and
// within T's range.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>

namespace duplex::proto::sdp {

template <class T>
std::optional<T> parse_decimal(std::string_view s) noexcept {
    if (s.empty()) return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

}  // namespace duplex::proto::sdp
