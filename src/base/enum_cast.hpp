// base/enum_cast.hpp: between two enums that list the same states in the same
// order (a machine's and one of its parts', or the public API's and a
// machine's), checked enumerator by enumerator where they are converted.
#pragma once

#include <type_traits>

namespace duplex::base {

/// The enumerator of `To` at the same position as `from`. Only for pairs
/// whose every enumerator is checked with DUPLEX_SAME_ENUMERATOR.
template <class To, class From>
constexpr To same_order_cast(From from) noexcept {
    static_assert(std::is_enum_v<To> && std::is_enum_v<From>);
    return static_cast<To>(static_cast<std::underlying_type_t<From>>(from));
}

}  // namespace duplex::base

/// One enumerator of two enums converted by same_order_cast: a state added to
/// one list but not the other, or moved, fails the build here.
#define DUPLEX_SAME_ENUMERATOR(A, B, name)                                          \
    static_assert(static_cast<int>(A::name) == static_cast<int>(B::name), #A "::" #name " and " #B "::" #name \
                  " must stand at the same position")
