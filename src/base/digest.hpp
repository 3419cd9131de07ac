// base/digest.hpp: SHA-1 (RFC 3174; for Sec-WebSocket-Accept, RFC 6455 §4.2.2)
// and cryptographic random bytes, both through OpenSSL.
#pragma once

#include <array>
#include <cstddef>
#include <span>

namespace duplex::base {

std::array<std::byte, 20> sha1(std::span<const std::byte> in);
/// Fills `out` from OpenSSL's CSPRNG (RAND_bytes). Returns false on failure.
bool random_bytes(std::span<std::byte> out) noexcept;

}  // namespace duplex::base
