// proto/sdp/signaling_state.hpp: the offer/answer signaling state machine of
// W3C webrtc-pc §4.3.1 (RTCSignalingState) and RFC 8829 §3.2 / §5.5-§5.7.
//
//              set_local(offer)                      set_remote(offer)
//   have-local-offer <------------ stable ------------> have-remote-offer
//     |  ^  |  set_remote(answer)  ^  ^  set_local(answer)   |  ^  |
//     |  |  +--------------------->+  +<---------------------+  |  |
//     |  +-- set_local(offer)                 set_remote(offer) +  |
//     | set_remote(pranswer)                    set_local(pranswer)|
//     v                                                            v
//   have-remote-pranswer --set_remote(answer)--> stable <--set_local(answer)-- have-local-pranswer
//   (set_remote(pranswer) stays)                       (set_local(pranswer) stays)
//
//   rollback (local or remote): have-local-offer or have-remote-offer -> stable;
//   refused in stable and in the pranswer states (webrtc-pc "set the session
//   description", step 2).
//   set_remote(offer) in have-local-offer: an implicit rollback of the local
//   offer, then have-remote-offer (webrtc-pc setRemoteDescription, the
//   "perfect negotiation" glare rule); the transition reports it.
//   close(): any state -> closed, terminal; every later call is refused.
//
// Drive contract: this machine owns no IO and no time (it has no timers, so
// it has no poll_timeout/handle_timeout). Inputs are set_local(), set_remote()
// and close(); each returns the transition it made or an error, and a refused
// call leaves the state unchanged.
#pragma once

#include <string>
#include <string_view>
#include <variant>

namespace duplex::proto::sdp {

enum class SignalingState {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
    HaveLocalPranswer,
    HaveRemotePranswer,
    Closed,
};

/// RTCSdpType.
enum class SdpType { Offer, Pranswer, Answer, Rollback };

/// The W3C strings: "stable", "have-local-offer", ..., "closed".
std::string_view to_string(SignalingState s) noexcept;
/// "offer", "pranswer", "answer", "rollback".
std::string_view to_string(SdpType t) noexcept;

struct SignalingTransition {
    SignalingState from;
    SignalingState to;
    /// set_remote(offer) in have-local-offer rolled our offer back first.
    bool implicit_rollback = false;
};

/// An InvalidStateError, with the browser's wording, e.g.
/// "Failed to set local answer sdp: Called in wrong state: stable".
struct SignalingError {
    SignalingState state;
    std::string message;
};

using SignalingResult = std::variant<SignalingTransition, SignalingError>;

class SignalingMachine {
public:
    SignalingState state() const noexcept { return state_; }

    SignalingResult set_local(SdpType type);
    SignalingResult set_remote(SdpType type);
    /// Moves to closed (from any state; closing twice is harmless).
    SignalingTransition close() noexcept;

private:
    SignalingResult apply(bool local, SdpType type);
    SignalingState state_ = SignalingState::Stable;
};

}  // namespace duplex::proto::sdp
