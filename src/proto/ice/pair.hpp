// proto/ice/pair.hpp: a candidate pair (RFC 8445 §6.1.2) and its priority
// (§6.1.2.3). Pairs are keyed by the local *base* (the socket the runtime
// bound) and the remote transport address: after pruning (§6.1.2.4) every
// server-reflexive local candidate has been replaced by its base, so with
// UDP-only, no relays, a local base names the local side of a pair exactly.
#pragma once

#include "base/endpoint.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

namespace duplex::proto::ice {

/// RFC 8445 §6.1.2.6 pair states.
///
///   Frozen ──unfreeze──▶ Waiting ──check sent──▶ In-Progress ──┬─ success ─▶ Succeeded
///                           ▲                                 └─ failure ─▶ Failed
///                           └────── triggered check (§7.3.1.4) ◀── Failed ──┘
enum class PairState : std::uint8_t { Frozen, Waiting, InProgress, Succeeded, Failed };

/// RFC 8445 §6.1.2.3: with G the controlling agent's candidate priority and D
/// the controlled agent's,
///   pair priority = 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0)
constexpr std::uint64_t pair_priority(std::uint32_t controlling, std::uint32_t controlled) noexcept {
    const std::uint64_t g = controlling, d = controlled;
    return (std::min(g, d) << 32) + 2 * std::max(g, d) + (g > d ? 1 : 0);
}

struct CandidatePair {
    base::Endpoint local;            // the base: the socket checks are sent from
    base::Endpoint remote;
    std::uint32_t local_priority = 0;
    std::uint32_t remote_priority = 0;
    std::string foundation;          // local foundation ":" remote foundation (§6.1.2.6)
    std::uint64_t priority = 0;      // recomputed when our role changes
    PairState state = PairState::Frozen;
    /// In the valid list (§7.2.5.3.2): a check on it succeeded. Kept apart from
    /// `state` because a valid pair is checked again when it is nominated.
    bool valid = false;
    /// Controlling: the next check carries USE-CANDIDATE. Controlled: the peer
    /// sent USE-CANDIDATE; nominate once our own check succeeds (§7.3.1.5).
    bool nominate_on_success = false;
    bool nominated = false;          // §8.1.1 / §7.3.1.5
    /// The peer sent an authenticated check on it: the peer may send data on
    /// it before either side selects a pair (§12.1), so data from its remote
    /// is ours to accept (§12.2).
    bool peer_checked = false;
    /// Our address as the peer saw it, from the last successful check's
    /// XOR-MAPPED-ADDRESS: which local candidate the pair really uses
    /// (§7.2.5.3.1), for statistics.
    std::optional<base::Endpoint> mapped;

    void set_priority(bool controlling) noexcept {
        priority = controlling ? pair_priority(local_priority, remote_priority)
                               : pair_priority(remote_priority, local_priority);
    }
};

}  // namespace duplex::proto::ice
