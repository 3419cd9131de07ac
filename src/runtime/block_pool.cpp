// runtime/block_pool.cpp: see block_pool.hpp.
#include "runtime/block_pool.hpp"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

#ifdef DUPLEX_POOL_ASAN
#include <sanitizer/asan_interface.h>
// A free block is poisoned: a use after free inside the pool is still caught.
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace duplex::runtime {

// At the start of every chunk (chunks are aligned to their size, so a block's
// chunk is its address rounded down). Blocks are carved lazily: pages of a
// new chunk are not touched before they are used.
struct BlockPool::Chunk {
    Chunk* prev = nullptr;
    Chunk* next = nullptr;
    void* free = nullptr;        // freed blocks, linked through their first bytes
    std::uint32_t used = 0;      // blocks handed out
    std::uint32_t carved = 0;    // blocks ever handed out (the rest never touched)
};

namespace {
constexpr std::size_t kHeader = (sizeof(void*) * 3 + 8 + BlockPool::kAlign - 1) / BlockPool::kAlign * BlockPool::kAlign;

std::byte* block_at(void* chunk, std::size_t block_size, std::size_t i) {
    return static_cast<std::byte*>(chunk) + kHeader + i * block_size;
}
}  // namespace

BlockPool& BlockPool::for_size(std::size_t size) {
    const std::size_t cls = (size + kAlign - 1) / kAlign;
    static std::array<std::atomic<BlockPool*>, kMaxBlock / kAlign + 1> pools{};
    static std::mutex mu;
    if (BlockPool* p = pools[cls].load(std::memory_order_acquire)) return *p;
    std::lock_guard lock(mu);
    BlockPool* p = pools[cls].load(std::memory_order_relaxed);
    if (!p) {
        // Never destroyed: a block may be given back during static destruction.
        p = new BlockPool(cls * kAlign);
        pools[cls].store(p, std::memory_order_release);
    }
    return *p;
}

BlockPool::BlockPool(std::size_t block_size)
    : block_size_((block_size + kAlign - 1) / kAlign * kAlign),
      blocks_per_chunk_((kChunkSize - kHeader) / block_size_) {
    static_assert(sizeof(Chunk) <= kHeader);
}

BlockPool::~BlockPool() {
    // Only pools of tests are destroyed; blocks still handed out would dangle.
    for (Chunk* head : {partial_, full_}) {
        while (head) {
            Chunk* next = head->next;
            unmap_chunk(head);
            head = next;
        }
    }
    if (spare_) unmap_chunk(spare_);
}

void BlockPool::push(Chunk*& head, Chunk* c) noexcept {
    c->prev = nullptr;
    c->next = head;
    if (head) head->prev = c;
    head = c;
}

void BlockPool::unlink(Chunk*& head, Chunk* c) noexcept {
    if (c->prev) c->prev->next = c->next;
    else head = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
}

BlockPool::Chunk* BlockPool::map_chunk() {
    // Twice the size, then the unaligned ends are given back: an aligned chunk.
    void* raw = ::mmap(nullptr, 2 * kChunkSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto addr = reinterpret_cast<std::uintptr_t>(raw);
    const auto aligned = (addr + kChunkSize - 1) & ~(std::uintptr_t{kChunkSize} - 1);
    if (aligned > addr) ::munmap(raw, aligned - addr);
    const auto tail = aligned + kChunkSize;
    if (tail < addr + 2 * kChunkSize) ::munmap(reinterpret_cast<void*>(tail), addr + 2 * kChunkSize - tail);
    ++chunks_;
    auto* c = new (reinterpret_cast<void*>(aligned)) Chunk();
    POOL_POISON(block_at(c, block_size_, 0), blocks_per_chunk_ * block_size_);
    return c;
}

void BlockPool::unmap_chunk(Chunk* c) noexcept {
    --chunks_;
    POOL_UNPOISON(c, kChunkSize);
    ::munmap(c, kChunkSize);
}

void* BlockPool::allocate() {
    std::lock_guard lock(mu_);
    Chunk* c = partial_;
    if (!c) {
        c = spare_ ? spare_ : map_chunk();
        spare_ = nullptr;
        push(partial_, c);
    }
    void* p;
    if (c->free) {
        p = c->free;
        POOL_UNPOISON(p, block_size_);
        std::memcpy(&c->free, p, sizeof(void*));
    } else {
        p = block_at(c, block_size_, c->carved++);
        POOL_UNPOISON(p, block_size_);
    }
    ++c->used;
    ++live_;
    if (c->used == blocks_per_chunk_) {
        unlink(partial_, c);
        push(full_, c);
    }
    return p;
}

void BlockPool::deallocate(void* p) noexcept {
    if (!p) return;
    auto* c = reinterpret_cast<Chunk*>(reinterpret_cast<std::uintptr_t>(p) & ~(std::uintptr_t{kChunkSize} - 1));
    std::lock_guard lock(mu_);
    std::memcpy(p, &c->free, sizeof(void*));
    c->free = p;
    POOL_POISON(p, block_size_);
    --live_;
    if (c->used-- == blocks_per_chunk_) {
        unlink(full_, c);
        push(partial_, c);
    }
    if (c->used == 0) {
        unlink(partial_, c);
        if (!spare_) {
            spare_ = c;
        } else {
            unmap_chunk(c);
        }
    }
}

std::size_t BlockPool::live_blocks() const {
    std::lock_guard lock(mu_);
    return live_;
}

std::size_t BlockPool::chunks() const {
    std::lock_guard lock(mu_);
    return chunks_;
}

}  // namespace duplex::runtime
