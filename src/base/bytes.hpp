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
/// message once warm).
class ByteQueue {
public:
    std::size_t size() const noexcept { return buf_.size() - head_; }
    bool empty() const noexcept { return size() == 0; }
    Bytes data() const noexcept { return {buf_.data() + head_, size()}; }

    void append(Bytes b) {
        if (b.empty()) return;
        const std::size_t old = buf_.size();
        buf_.resize(old + b.size());
        std::memcpy(buf_.data() + old, b.data(), b.size());
    }
    void append(std::string_view s) { append(as_bytes(s)); }

    /// Grows the queue by n bytes and returns them for the caller to fill.
    std::byte* extend(std::size_t n) {
        if (head_ != 0 && head_ == buf_.size()) clear();
        const std::size_t old = buf_.size();
        buf_.resize(old + n);
        return buf_.data() + old;
    }
    /// Gives back the last n bytes of an extend() that were not used.
    void shrink_back(std::size_t n) noexcept { buf_.resize(buf_.size() - n); }

    void consume(std::size_t n) noexcept {
        head_ += n;
        if (head_ >= buf_.size()) {
            clear();
        } else if (head_ > 65536 && head_ * 2 > buf_.size()) {
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }
    void clear() noexcept {
        buf_.clear();
        head_ = 0;
    }
    /// Frees the storage when it grew past `keep` bytes (after a large message).
    void trim(std::size_t keep) {
        if (empty() && buf_.capacity() > keep) {
            decltype(buf_)().swap(buf_);
            head_ = 0;
        }
    }

private:
    std::vector<std::byte, DefaultInitAllocator<std::byte>> buf_;
    std::size_t head_ = 0;
};

}  // namespace duplex::base
