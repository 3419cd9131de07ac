// runtime/heap_trim.cpp: see heap_trim.hpp.
#include "runtime/heap_trim.hpp"

#include <cstdlib>  // defines __GLIBC__ where it applies

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>

namespace duplex::runtime {

namespace {
std::atomic<std::size_t> trims{0};
}

std::size_t heap_trims() noexcept { return trims.load(std::memory_order_relaxed); }

void trim_heap() noexcept {
    trims.fetch_add(1, std::memory_order_relaxed);
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

}  // namespace duplex::runtime
