// base/base64.hpp: RFC 4648 §4 base64 (the alphabet with + and /, padded),
// used by the WebSocket key exchange (RFC 6455 §4.1, §4.2.2).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace duplex::base {

std::string base64_encode(std::span<const std::byte> in);
/// Strict decoding: canonical padding, no whitespace. nullopt on any error.
std::optional<std::vector<std::byte>> base64_decode(std::string_view in);

}  // namespace duplex::base
