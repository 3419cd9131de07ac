// tests/support/byte_literals.hpp: packets written as byte literals in tests.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <vector>

namespace duplex::test {

/// bytes({0x80, 0x60, 'x'}): the bytes, in order.
inline std::vector<std::byte> bytes(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    out.reserve(v.size());
    for (int b : v) out.push_back(std::byte(b));
    return out;
}

}  // namespace duplex::test
