// api/session_lifetime.cpp: who frees a Session, and on which thread. The
// application's handles may go on any thread, while the session belongs to
// its loop's closer list and descriptors; the loop itself may be dying at the
// same moment. The hand-over (loop_state_) is here, apart from what a session
// does while it lives (session.cpp, session_client.cpp).
#include "api/session.hpp"

#include "api/server_metrics.hpp"

#include <memory>
#include <thread>

namespace duplex {
namespace detail {

void Session::destroy() noexcept {
    // The closer list is the loop thread's. A session freed elsewhere (the
    // application dropped its last handle on another thread) is unlinked and
    // freed there: a posted task, which frees it even if the loop is
    // destroyed before running it (by then the loop has marked us gone).
    struct Free {
        Session* s;
        explicit Free(Session* p) : s(p) {}
        Free(Free&& o) noexcept : s(std::exchange(o.s, nullptr)) {}
        ~Free() {
            if (!s) return;
            if (s->closer_linked_ && !s->loop_gone()) s->rt().remove_closer(*s);
            delete s;
        }
    };
    std::uint8_t alive = kLoopAlive;
    if (closer_linked_ && loop_state_.compare_exchange_strong(alive, kFreeingElsewhere, std::memory_order_acq_rel)) {
        // The loop cannot finish dying until this is settled (on_loop_closing waits).
        if (on_loop_thread()) {
            loop_state_.store(kLoopAlive, std::memory_order_release);
            Free{this};
            return;
        }
        loop_.post([f = std::make_shared<Free>(this)] {});
        loop_state_.store(kFreePosted, std::memory_order_release);
        return;
    }
    Free{this};  // never linked, or the loop is gone
}

void Session::hold_self() {
    retain();
    held_ = true;
    if (!closer_linked_) rt().add_closer(*this);
    closer_linked_ = true;
}

void Session::on_loop_closing() {
    // The loop is going away. A session still open ends without callbacks;
    // one that has ended only learns that the loop is gone (for the handles
    // that outlive it).
    if (phase_ != Phase::Done) {
        cancel_timer();
        if (client() && client()->heartbeat_timer) rt().cancel_timer(client()->heartbeat_timer);
        if (client()) client()->heartbeat_timer = 0;
        phase_ = Phase::Done;
        set_state(ReadyState::Closed);
        sock_.reset();
        tcp_.close(rt());
        if (handlers_) handlers_->drop_callbacks();
        route_handle_ = WebSocket();
        if (auto o = owner()) o->session_gone(this);
        in_core_ = false;  // (already, unless the core went first)
    }
    // A handle released on another thread may be handing us to this loop
    // right now: let it finish before the loop goes (it takes microseconds).
    for (;;) {
        std::uint8_t st = loop_state_.load(std::memory_order_acquire);
        if (st == kFreeingElsewhere) {
            std::this_thread::yield();
            continue;
        }
        if (loop_state_.compare_exchange_weak(st, kLoopGone, std::memory_order_acq_rel)) break;
    }
    if (!held_) return;
    held_ = false;
    release();  // may be the last reference: nothing of us is touched after
}

void Session::release_self() {
    // Still in the loop's closer list: destroy() leaves it.
    route_handle_ = WebSocket();
    if (!held_) return;
    held_ = false;
    release();  // the caller holds a reference of its own
}

}  // namespace detail
}  // namespace duplex
