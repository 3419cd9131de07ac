// proto/sdp/signaling_state.cpp: see the header for the transition diagram.
#include "proto/sdp/signaling_state.hpp"

#include <optional>

namespace duplex::proto::sdp {

namespace {

using S = SignalingState;

// The state a legal call leads to (RFC 8829 §5.5 and §5.6 list which
// description types each state accepts), or nullopt if the call is illegal.
std::optional<S> next_state(S state, bool local, SdpType type) noexcept {
    if (state == S::Closed) return std::nullopt;
    switch (type) {
    case SdpType::Rollback:
        // webrtc-pc "set the session description" step 2: no rollback in
        // stable or in a pranswer state; RFC 8829 §5.7: back to stable.
        if (state == S::HaveLocalOffer || state == S::HaveRemoteOffer) return S::Stable;
        return std::nullopt;
    case SdpType::Offer:
        if (local) {
            if (state == S::Stable || state == S::HaveLocalOffer) return S::HaveLocalOffer;
        } else {
            // have-local-offer: implicit rollback first (see the header).
            if (state == S::Stable || state == S::HaveRemoteOffer || state == S::HaveLocalOffer)
                return S::HaveRemoteOffer;
        }
        return std::nullopt;
    case SdpType::Pranswer:
        if (local && (state == S::HaveRemoteOffer || state == S::HaveLocalPranswer))
            return S::HaveLocalPranswer;
        if (!local && (state == S::HaveLocalOffer || state == S::HaveRemotePranswer))
            return S::HaveRemotePranswer;
        return std::nullopt;
    case SdpType::Answer:
        if (local && (state == S::HaveRemoteOffer || state == S::HaveLocalPranswer)) return S::Stable;
        if (!local && (state == S::HaveLocalOffer || state == S::HaveRemotePranswer)) return S::Stable;
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(SignalingState s) noexcept {
    switch (s) {
    case S::Stable: return "stable";
    case S::HaveLocalOffer: return "have-local-offer";
    case S::HaveRemoteOffer: return "have-remote-offer";
    case S::HaveLocalPranswer: return "have-local-pranswer";
    case S::HaveRemotePranswer: return "have-remote-pranswer";
    case S::Closed: return "closed";
    }
    return "closed";
}

std::string_view to_string(SdpType t) noexcept {
    switch (t) {
    case SdpType::Offer: return "offer";
    case SdpType::Pranswer: return "pranswer";
    case SdpType::Answer: return "answer";
    case SdpType::Rollback: return "rollback";
    }
    return "offer";
}

SignalingResult SignalingMachine::set_local(SdpType type) { return apply(true, type); }
SignalingResult SignalingMachine::set_remote(SdpType type) { return apply(false, type); }

SignalingTransition SignalingMachine::close() noexcept {
    const SignalingTransition t{state_, S::Closed, false};
    state_ = S::Closed;
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
                                !local && type == SdpType::Offer && state_ == S::HaveLocalOffer};
    state_ = *next;
    return t;
}

}  // namespace duplex::proto::sdp
