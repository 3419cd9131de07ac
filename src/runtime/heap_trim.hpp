// runtime/heap_trim.hpp: gives the heap's free pages back to the kernel.
//
// A storm of handshakes leaves the heap as large as its peak of short-lived
// objects (HTTP requests, parsers, 101 responses): once they are freed the
// allocator keeps those pages, ~270 B per connection after 10 000
// handshakes. What lives as long as a connection is in the block pool
// (runtime/block_pool.hpp), so after a storm the heap is mostly free and this
// returns it (decision 0011). Costs a walk of the heap: call it after a burst,
// never per message.
#pragma once

#include <cstddef>

namespace duplex::runtime {

/// glibc's malloc_trim(0); nothing where the C library has none.
void trim_heap() noexcept;
/// How many times trim_heap() ran in this process (tests).
std::size_t heap_trims() noexcept;

}  // namespace duplex::runtime
