// duplex-bench: heap allocations made by the calling thread, counted by the
// operator new that allocation_counter.cpp puts in this binary (media.cpp's
// allocations-per-packet figure).
#pragma once

#include <cstdint>

namespace duplex::bench {

std::uint64_t allocations() noexcept;

}  // namespace duplex::bench
