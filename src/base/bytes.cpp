// base/bytes.cpp: ByteQueue's large buffers, each a memory mapping of its own
// (see bytes.hpp for why).
#include "base/bytes.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace duplex::base {

namespace {
std::size_t page_size() noexcept {
    static const std::size_t page = [] {
        const long p = ::sysconf(_SC_PAGESIZE);
        return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
    }();
    return page;
}
std::size_t mapping_size(std::size_t bytes) noexcept {
    const std::size_t page = page_size();
    return (bytes + page - 1) / page * page;
}
}  // namespace

ByteQueue::Block* ByteQueue::map_block(std::size_t cap) {
    if (cap > SIZE_MAX / 2) throw std::bad_alloc();
    const std::size_t len = mapping_size(sizeof(Block) + cap);
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* b = static_cast<Block*>(p);
    b->head = b->tail = 0;
    b->cap = len - sizeof(Block);
    return b;
}

ByteQueue::Block* ByteQueue::remap_block(Block* b, std::size_t cap) {
    if (cap > SIZE_MAX / 2) throw std::bad_alloc();
    const std::size_t old_len = sizeof(Block) + b->cap;  // whole pages already
    const std::size_t len = mapping_size(sizeof(Block) + cap);
    void* p = ::mremap(b, old_len, len, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();  // the old mapping is still ours, unchanged
    auto* fresh = static_cast<Block*>(p);
    fresh->cap = len - sizeof(Block);
    return fresh;
}

void ByteQueue::unmap_block(Block* b) noexcept { ::munmap(b, sizeof(Block) + b->cap); }

}  // namespace duplex::base
