// duplex-bench: the replaced operator new that counts (its own file, so that
// no call site sees it inlined beside a free()).
#include "allocation_counter.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local std::uint64_t g_allocations = 0;
}

void* operator new(std::size_t n) {
    ++g_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace duplex::bench {
std::uint64_t allocations() noexcept { return g_allocations; }
}  // namespace duplex::bench
