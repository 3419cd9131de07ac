// base/intrusive_ptr.hpp: a counted pointer to an object that keeps its own
// count (T::retain() / T::release(), the last release frees it).
//
// Why not std::shared_ptr: one per connection costs a control block (or a
// weak count and enable_shared_from_this) and 16 bytes per pointer; this is
// one pointer, and the count sits in the object (decision 0013).
#pragma once

#include <utility>

namespace duplex::base {

template <class T>
class IntrusivePtr {
public:
    IntrusivePtr() = default;
    /// Takes a reference of its own.
    explicit IntrusivePtr(T* p) noexcept : p_(p) {
        if (p_) p_->retain();
    }
    IntrusivePtr(const IntrusivePtr& o) noexcept : IntrusivePtr(o.p_) {}
    IntrusivePtr(IntrusivePtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    IntrusivePtr& operator=(IntrusivePtr o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~IntrusivePtr() {
        if (p_) p_->release();
    }

    T* operator->() const noexcept { return p_; }
    T& operator*() const noexcept { return *p_; }
    T* get() const noexcept { return p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }

private:
    T* p_ = nullptr;
};

}  // namespace duplex::base
