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
class ByteQueue {
public:
    ByteQueue() = default;
    ByteQueue(const ByteQueue& o) { append(o.data()); }
    ByteQueue& operator=(const ByteQueue& o) {
        if (this != &o) {
            clear();
            append(o.data());
        }
        return *this;
    }
    ByteQueue(ByteQueue&& o) noexcept
        : buf_(std::move(o.buf_)), head_(std::exchange(o.head_, 0)), tail_(std::exchange(o.tail_, 0)),
          cap_(std::exchange(o.cap_, 0)) {}
    ByteQueue& operator=(ByteQueue&& o) noexcept {
        buf_ = std::move(o.buf_);
        head_ = std::exchange(o.head_, 0);
        tail_ = std::exchange(o.tail_, 0);
        cap_ = std::exchange(o.cap_, 0);
        return *this;
    }

    std::size_t size() const noexcept { return tail_ - head_; }
    bool empty() const noexcept { return tail_ == head_; }
    Bytes data() const noexcept { return {buf_.get() + head_, size()}; }
    std::size_t capacity() const noexcept { return cap_; }

    void append(Bytes b) {
        if (b.empty()) return;
        std::memcpy(extend(b.size()), b.data(), b.size());
    }
    void append(std::string_view s) { append(as_bytes(s)); }

    /// Grows the queue by n bytes and returns them for the caller to fill.
    std::byte* extend(std::size_t n) {
        if (head_ == tail_) head_ = tail_ = 0;
        if (cap_ - tail_ < n) grow(n);
        std::byte* p = buf_.get() + tail_;
        tail_ += n;
        return p;
    }
    /// Gives back the last n bytes of an extend() that were not used.
    void shrink_back(std::size_t n) noexcept { tail_ -= n; }

    void consume(std::size_t n) noexcept {
        head_ += n;
        if (head_ >= tail_) {
            clear();
        } else if (head_ > 65536 && head_ * 2 > tail_) {
            std::memmove(buf_.get(), buf_.get() + head_, tail_ - head_);
            tail_ -= head_;
            head_ = 0;
        }
    }
    void clear() noexcept { head_ = tail_ = 0; }
    /// Frees the storage when it grew past `keep` bytes (after a large
    /// message; `keep` 0: whenever empty, e.g. after the opening handshake).
    void trim(std::size_t keep) noexcept {
        if (empty() && cap_ > keep) {
            buf_.reset();
            head_ = tail_ = cap_ = 0;
        }
    }

private:
    void grow(std::size_t n) {
        // Compact in place when that makes room; else at least double
        // (small queues start at 256 bytes), so the capacity stays within
        // twice the most ever queued.
        const std::size_t live = tail_ - head_;
        if (live + n <= cap_) {
            std::memmove(buf_.get(), buf_.get() + head_, live);
            head_ = 0;
            tail_ = live;
            return;
        }
        std::size_t cap = cap_ < 128 ? 256 : cap_ * 2;
        if (cap < live + n) cap = live + n;
        std::unique_ptr<std::byte[]> fresh(new std::byte[cap]);  // uninitialised: filled by the caller
        if (live != 0) std::memcpy(fresh.get(), buf_.get() + head_, live);
        buf_ = std::move(fresh);
        head_ = 0;
        tail_ = live;
        cap_ = cap;
    }

    std::unique_ptr<std::byte[]> buf_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
    std::size_t cap_ = 0;
};

}  // namespace duplex::base
