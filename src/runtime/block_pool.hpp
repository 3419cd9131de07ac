// runtime/block_pool.hpp: fixed-size blocks for objects that live as long as a
// connection (the session, its socket), carved from 64 KiB chunks mapped
// for them alone (decision 0011).
//
// Why not malloc: a connection's long-lived objects are allocated in the
// middle of its handshake's short-lived ones (the HTTP request, the parser,
// the 101 response). With one heap, every handshake leaves holes between
// live sessions that can be neither reused by a session nor returned to the
// kernel: ~240 B per idle connection after a connection storm, plus malloc's
// own header and rounding. Here the blocks of one size sit side by side, and
// a chunk whose blocks are all free goes back to the kernel.
//
// Thread safety: any thread. A block is allocated on its loop's thread, but
// the last handle to a session may be dropped on an application thread; the
// lock is taken once per connection, never per message.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define DUPLEX_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DUPLEX_POOL_ASAN 1
#endif
#endif

namespace duplex::runtime {

/// Under AddressSanitizer connection objects come from operator new, not
/// from the pool: a freed session handed out again at once would hide a use
/// after free that ASan's quarantine catches. (BlockPool itself still works
/// there, with free blocks poisoned, and its own tests run.)
#ifdef DUPLEX_POOL_ASAN
inline constexpr bool kPoolBypassed = true;
#else
inline constexpr bool kPoolBypassed = false;
#endif

class BlockPool {
public:
    static constexpr std::size_t kChunkSize = 64 * 1024;
    /// Block sizes step by 8 bytes and blocks are 8-aligned: the objects
    /// kept here (sessions, sockets) hold nothing more aligned than a
    /// pointer (static_asserts where they are declared), and 16-byte steps
    /// cost 8 bytes a block on average (memory per connection, decision 0013).
    static constexpr std::size_t kAlign = 8;
    /// Blocks larger than this are not pooled (a chunk holds at least 32).
    static constexpr std::size_t kMaxBlock = kChunkSize / 32;

    /// The pool for blocks of `size` bytes (rounded up to kAlign); one per
    /// size for the life of the process.
    static BlockPool& for_size(std::size_t size);

    explicit BlockPool(std::size_t block_size);
    ~BlockPool();
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;

    /// A block of block_size() bytes aligned to kAlign; throws std::bad_alloc.
    void* allocate();
    void deallocate(void* p) noexcept;

    std::size_t block_size() const noexcept { return block_size_; }
    /// Blocks handed out and not given back, and chunks mapped (tests).
    std::size_t live_blocks() const;
    std::size_t chunks() const;

private:
    struct Chunk;
    Chunk* map_chunk();
    void unmap_chunk(Chunk* c) noexcept;
    static void unlink(Chunk*& head, Chunk* c) noexcept;
    static void push(Chunk*& head, Chunk* c) noexcept;

    const std::size_t block_size_;
    const std::size_t blocks_per_chunk_;
    mutable std::mutex mu_;
    Chunk* partial_ = nullptr;  // chunks with a free block
    Chunk* full_ = nullptr;     // chunks without
    Chunk* spare_ = nullptr;    // one empty chunk kept mapped (no map/unmap churn at the edge)
    std::size_t chunks_ = 0;
    std::size_t live_ = 0;
};

/// A block of `size` bytes for an object that lives as long as a connection
/// (from the BlockPool of that size; operator new under ASan).
inline void* allocate_block(std::size_t size) {
    if constexpr (kPoolBypassed) return ::operator new(size);
    else return BlockPool::for_size(size).allocate();
}
inline void deallocate_block(void* p, std::size_t size) noexcept {
    if constexpr (kPoolBypassed) ::operator delete(p);
    else BlockPool::for_size(size).deallocate(p);
}

}  // namespace duplex::runtime
