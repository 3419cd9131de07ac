// base/bytes.hpp: endian loads/stores (memcpy-based, never reinterpret_cast of
// packet bytes) and ByteQueue, the contiguous output buffer that a protocol
// machine fills and the runtime drains.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <span>
#include <string_view>
#include <vector>

namespace duplex::base {

using Bytes = std::span<const std::byte>;
using MutableBytes = std::span<std::byte>;

inline Bytes as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_string_view(Bytes b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

inline std::uint16_t load_be16(const std::byte* p) noexcept {
    std::uint8_t b[2];
    std::memcpy(b, p, 2);
    return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}
inline std::uint32_t load_be32(const std::byte* p) noexcept {
    std::uint8_t b[4];
    std::memcpy(b, p, 4);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
}
inline std::uint64_t load_be64(const std::byte* p) noexcept {
    return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}
inline void store_be16(std::byte* p, std::uint16_t v) noexcept {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v & 0xff);
}
inline void store_be32(std::byte* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = std::byte((v >> (24 - 8 * i)) & 0xff);
}
inline void store_be64(std::byte* p, std::uint64_t v) noexcept {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

/// An allocator that leaves new elements uninitialised (default-init), so
/// that growing a byte buffer we are about to overwrite costs no memset.
template <class T>
struct DefaultInitAllocator : std::allocator<T> {
    template <class U>
    struct rebind {
        using other = DefaultInitAllocator<U>;
    };
    DefaultInitAllocator() noexcept = default;
    template <class U>
    DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}  // NOLINT
    template <class U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

/// A FIFO of bytes kept contiguous, so the runtime can hand data() to one
/// write(). Appends go to the back, consume() drops from the front; the
/// storage is compacted lazily and its capacity is kept (no allocation per
/// message once warm). A plain buffer, not a std::vector: a 16-byte echo
/// frame is appended in a few instructions (no resize bookkeeping, no
/// zero-filling), and an empty queue owns no memory until the first append.
///
/// One pointer wide: the positions live in front of the bytes, in the same
/// allocation. Every connection has a send queue and most of them hold no
/// buffer at rest (the loop lends one while they write, decision 0013), so
/// the three counters would be 24 bytes per idle connection (decision 0014).
///
/// A large buffer (from kMapFrom bytes on: a peer that does not read) is a
/// memory mapping of its own, grown with mremap and unmapped when released.
/// From the heap, it would be copied at each doubling (old and new held at
/// once) and, once glibc's adaptive mmap threshold has risen, freed into a
/// heap that keeps the pages: a slow consumer's budget would cost up to three
/// times itself (issue 14). Pages a buffer reserved but never wrote are not
/// resident, so memory follows what is queued, not the capacity.
class ByteQueue {
public:
    ByteQueue() = default;
    ~ByteQueue() { release(); }
    ByteQueue(const ByteQueue& o) { append(o.data()); }
    ByteQueue& operator=(const ByteQueue& o) {
        if (this != &o) {
            clear();
            append(o.data());
        }
        return *this;
    }
    ByteQueue(ByteQueue&& o) noexcept : b_(std::exchange(o.b_, empty_block())) {}
    ByteQueue& operator=(ByteQueue&& o) noexcept {
        if (this != &o) {
            release();
            b_ = std::exchange(o.b_, empty_block());
        }
        return *this;
    }

    std::size_t size() const noexcept { return b_->tail - b_->head; }
    bool empty() const noexcept { return b_->tail == b_->head; }
    Bytes data() const noexcept { return {b_->bytes() + b_->head, b_->tail - b_->head}; }
    std::size_t capacity() const noexcept { return b_->cap; }

    void append(Bytes b) {
        if (b.empty()) return;
        std::memcpy(extend(b.size()), b.data(), b.size());
    }
    void append(std::string_view s) { append(as_bytes(s)); }

    /// Grows the queue by n bytes and returns them for the caller to fill.
    std::byte* extend(std::size_t n) {
        Block* b = b_;
        // `<=`: the empty block (no room, never written) always goes to grow().
        if (b->cap - b->tail <= n) b = grow(n);
        std::byte* p = b->bytes() + b->tail;
        b->tail += n;
        return p;
    }
    /// Gives back the last n bytes of an extend() that were not used.
    void shrink_back(std::size_t n) noexcept {
        if (n != 0) b_->tail -= n;
    }

    void consume(std::size_t n) noexcept {
        if (n == 0) return;
        Block* b = b_;
        b->head += n;
        if (b->head >= b->tail) {
            b->head = b->tail = 0;
        } else if (b->head > 65536 && b->head * 2 > b->tail) {
            std::memmove(b->bytes(), b->bytes() + b->head, b->tail - b->head);
            b->tail -= b->head;
            b->head = 0;
        }
    }
    void clear() noexcept {
        if (b_->tail != 0) b_->head = b_->tail = 0;
    }
    /// Frees the storage when it grew past `keep` bytes (after a large
    /// message; `keep` 0: whenever empty, e.g. after the opening handshake).
    void trim(std::size_t keep) noexcept {
        if (b_->head == b_->tail && b_->cap > keep) release();
    }

private:
    // The positions, then `cap` bytes (uninitialised: filled by the caller).
    struct Block {
        std::size_t head;
        std::size_t tail;
        std::size_t cap;
        std::byte* bytes() const noexcept {
            return const_cast<std::byte*>(reinterpret_cast<const std::byte*>(this + 1));
        }
    };
    // A queue without storage points at this block: no room, nothing in it,
    // never written (every write path checks for room or for a non-zero
    // count first), so the common calls need no test for a null pointer.
    static Block* empty_block() noexcept {
        static constexpr Block kEmpty{0, 0, 0};
        return const_cast<Block*>(&kEmpty);
    }
    static bool is_mapped(std::size_t cap) noexcept { return cap + sizeof(Block) >= kMapFrom; }
    static Block* allocate(std::size_t cap) {
        if (is_mapped(cap)) return map_block(cap);
        auto* b = static_cast<Block*>(::operator new(sizeof(Block) + cap));
        b->head = b->tail = 0;
        b->cap = cap;
        return b;
    }
    static void free_block(Block* b) noexcept {
        if (b->cap == 0) return;
        if (is_mapped(b->cap)) unmap_block(b);
        else ::operator delete(static_cast<void*>(b));
    }
    void release() noexcept {
        free_block(b_);
        b_ = empty_block();
    }
    // bytes.cpp: a block of at least `cap` bytes as its own mapping (its cap
    // rounded up to whole pages); one grown in place or moved by the kernel
    // without a copy; one given back. Throw std::bad_alloc like operator new.
    static Block* map_block(std::size_t cap);
    static Block* remap_block(Block* b, std::size_t cap);
    static void unmap_block(Block* b) noexcept;
    Block* grow(std::size_t n) {
        // Compact in place when that makes room; else at least double
        // (small queues start at 256 bytes), so the capacity stays within
        // twice the most ever queued.
        Block* old = b_;
        const std::size_t live = old->tail - old->head;
        if (old->cap != 0 && live + n <= old->cap) {  // (never the empty block)
            if (old->head != 0 && live != 0) std::memmove(old->bytes(), old->bytes() + old->head, live);
            old->head = 0;
            old->tail = live;
            return old;
        }
        std::size_t cap = old->cap < 128 ? 256 : old->cap * 2;
        if (cap < live + n) cap = live + n;
        if (old->cap != 0 && is_mapped(old->cap)) {
            // Mapped already: move the bytes to the front, then let the
            // kernel grow the mapping (no second copy held at once).
            if (old->head != 0 && live != 0) std::memmove(old->bytes(), old->bytes() + old->head, live);
            old->head = 0;
            old->tail = live;
            b_ = remap_block(old, cap);
            return b_;
        }
        Block* fresh = allocate(cap);
        if (live != 0) std::memcpy(fresh->bytes(), old->bytes() + old->head, live);
        fresh->tail = live;
        release();
        b_ = fresh;
        return fresh;
    }

    Block* b_ = empty_block();

public:
    /// Buffers from this size on (header included) are mappings of their own.
    static constexpr std::size_t kMapFrom = 256 * 1024;
};

}  // namespace duplex::base
