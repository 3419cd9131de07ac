// proto/sdp/signaling_state.cpp: see the header for the transition diagram.
#include "proto/sdp/signaling_state.hpp"

#include <optional>

namespace duplex::proto::sdp {

namespace {

using S = SignalingState;

// The state a legal call leads to (RFC 8829 §5.5 and §5.6 list which
// description types each state accepts), or nullopt if the call is illegal.
std::optional<S> next_state(S state, bool local, SdpType type) noexcept {
    if (state == S::closed) return std::nullopt;
    switch (type) {
    case SdpType::rollback:
        // webrtc-pc "set the session description" step 2: no rollback in
        // stable or in a pranswer state; RFC 8829 §5.7: back to stable.
        if (state == S::have_local_offer || state == S::have_remote_offer) return S::stable;
        return std::nullopt;
    case SdpType::offer:
        if (local) {
            if (state == S::stable || state == S::have_local_offer) return S::have_local_offer;
        } else {
            // have-local-offer: implicit rollback first (see the header).
            if (state == S::stable || state == S::have_remote_offer || state == S::have_local_offer)
                return S::have_remote_offer;
        }
        return std::nullopt;
    case SdpType::pranswer:
        if (local && (state == S::have_remote_offer || state == S::have_local_pranswer))
            return S::have_local_pranswer;
        if (!local && (state == S::have_local_offer || state == S::have_remote_pranswer))
            return S::have_remote_pranswer;
        return std::nullopt;
    case SdpType::answer:
        if (local && (state == S::have_remote_offer || state == S::have_local_pranswer)) return S::stable;
        if (!local && (state == S::have_local_offer || state == S::have_remote_pranswer)) return S::stable;
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(SignalingState s) noexcept {
    switch (s) {
    case S::stable: return "stable";
    case S::have_local_offer: return "have-local-offer";
    case S::have_remote_offer: return "have-remote-offer";
    case S::have_local_pranswer: return "have-local-pranswer";
    case S::have_remote_pranswer: return "have-remote-pranswer";
    case S::closed: return "closed";
    }
    return "closed";
}

std::string_view to_string(SdpType t) noexcept {
    switch (t) {
    case SdpType::offer: return "offer";
    case SdpType::pranswer: return "pranswer";
    case SdpType::answer: return "answer";
    case SdpType::rollback: return "rollback";
    }
    return "offer";
}

SignalingResult SignalingMachine::set_local(SdpType type) { return apply(true, type); }
SignalingResult SignalingMachine::set_remote(SdpType type) { return apply(false, type); }

SignalingTransition SignalingMachine::close() noexcept {
    const SignalingTransition t{state_, S::closed, false};
    state_ = S::closed;
    return t;
}

SignalingResult SignalingMachine::apply(bool local, SdpType type) {
    const auto next = next_state(state_, local, type);
    if (!next) {
        std::string message = "Failed to set ";
        message += local ? "local " : "remote ";
        message += to_string(type);
        message += " sdp: Called in wrong state: ";
        message += to_string(state_);
        return SignalingError{state_, std::move(message)};
    }
    const SignalingTransition t{state_, *next,
                                !local && type == SdpType::offer && state_ == S::have_local_offer};
    state_ = *next;
    return t;
}

}  // namespace duplex::proto::sdp
