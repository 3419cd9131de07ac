// proto/ws/keepalive.hpp: when to ping a quiet WebSocket peer and when to
// give up on a silent one, as a sans-IO rule: times in, decisions out
// (RFC 6455 §5.5.2: "a Ping frame may serve either as a keepalive or as a
// means to verify that the remote endpoint is still responsive").
//
//   KeepAlive k(now);            when the connection opens
//   k.on_receive(now);           whenever the peer sent anything (a pong too)
//   switch (k.poll(now, policy)) { Ping: send a ping; CloseIdle: close 1001 }
//
// Who calls poll() and how often is the runtime's business: a server sweeps
// all its connections from one timer per loop (no timer per connection), a
// client arms one from poll_timeout(). Both are tested on virtual time.
//
// Times are kept as 32-bit millisecond ticks (8 bytes a connection), compared
// by their difference: spans are right up to 2^32 ms (49.7 days); a policy
// longer than that is held at it, and a connection must be polled at least
// that often (the server sweeps every second at most).
#pragma once

#include "base/time.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace duplex::proto::ws {

struct KeepAlivePolicy {
    /// A peer quiet this long is pinged (zero: never).
    base::Duration ping_every{0};
    /// A peer silent this long (not even a pong) is closed with 1001 (zero: never).
    base::Duration idle_for{0};
};

class KeepAlive {
public:
    enum class Action : std::uint8_t { None, Ping, CloseIdle };
    /// The longest span told apart (2^32 - 1 ms, 49.7 days).
    static constexpr base::Duration kLongest = std::chrono::milliseconds(UINT32_MAX);

    explicit KeepAlive(base::Instant now) noexcept : last_rx_(tick(now)), last_ping_(last_rx_) {}

    /// The peer sent something (a message, a control frame, any bytes).
    void on_receive(base::Instant now) noexcept { last_rx_ = tick(now); }

    /// What to do now. CloseIdle when the peer has been silent for idle_for;
    /// else Ping when it has been quiet for ping_every and we have not pinged
    /// for as long (a pong, being traffic, resets the quiet). A Ping is
    /// recorded as sent.
    Action poll(base::Instant now, const KeepAlivePolicy& p) noexcept {
        const auto idle = capped(p.idle_for), every = capped(p.ping_every);
        if (idle.count() > 0 && since(now, last_rx_) >= idle) return Action::CloseIdle;
        if (every.count() > 0 && since(now, last_ping_) >= every && since(now, last_rx_) >= every) {
            last_ping_ = tick(now);
            return Action::Ping;
        }
        return Action::None;
    }

    /// When poll() would next act, for a runtime with one timer per
    /// connection; nothing when the policy is off.
    std::optional<base::Instant> poll_timeout(base::Instant now, const KeepAlivePolicy& p) const noexcept {
        const auto idle = capped(p.idle_for), every = capped(p.ping_every);
        std::optional<base::Instant> at;
        auto earliest = [&](base::Instant t) { at = at ? std::min(*at, t) : t; };
        if (idle.count() > 0) earliest(now + (idle - std::min(idle, since(now, last_rx_))));
        if (every.count() > 0) {
            const auto quiet = std::min(since(now, last_rx_), since(now, last_ping_));
            earliest(now + (every - std::min(every, quiet)));
        }
        return at;
    }

private:
    static std::uint32_t tick(base::Instant t) noexcept {
        return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
    }
    static base::Duration since(base::Instant now, std::uint32_t then) noexcept {
        return std::chrono::milliseconds(static_cast<std::uint32_t>(tick(now) - then));
    }
    static base::Duration capped(base::Duration d) noexcept { return std::min(d, kLongest); }

    std::uint32_t last_rx_;
    std::uint32_t last_ping_;
};

}  // namespace duplex::proto::ws
