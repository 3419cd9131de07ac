// proto/ice/checklist.hpp: the checklist of one data stream (RFC 8445 §6.1.2):
// the candidate pairs sorted by priority, their states, the foundation-based
// unfreezing (§6.1.2.6, §7.2.5.3.3), the choice of the next ordinary check
// (§6.1.4.2) and the triggered-check queue (§6.1.4.1, §7.3.1.4).
//
// It sends nothing and keeps no time: the agent asks it which pair to check
// next and reports the outcome. Its size is bounded (§6.1.2.5): at most
// `max_pairs` pairs (the lowest-priority unchecked pair gives way to a better
// one) and `max_triggered` queued triggered checks.
#pragma once

#include "base/endpoint.hpp"
#include "proto/ice/pair.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace duplex::proto::ice {

class CheckList {
public:
    using Key = std::pair<base::Endpoint, base::Endpoint>;  // local base, remote

    explicit CheckList(std::size_t max_pairs = 100, std::size_t max_triggered = 100)
        : max_pairs_(max_pairs), max_triggered_(max_triggered) {}

    /// Adds `pair` unless one with the same local base and remote address
    /// exists (§6.1.2.4 redundancy: then the higher candidate priorities are
    /// kept). A new pair starts Waiting when no other pair shares its
    /// foundation, Frozen otherwise (§6.1.2.6). Returns the stored pair, or
    /// nullptr when the list is full of better pairs (§6.1.2.5). The pointer
    /// is valid until the next call that adds or removes pairs.
    CandidatePair* add(CandidatePair pair, bool controlling);

    CandidatePair* find(const base::Endpoint& local, const base::Endpoint& remote);
    const CandidatePair* find(const base::Endpoint& local, const base::Endpoint& remote) const;

    std::vector<CandidatePair>& pairs() noexcept { return pairs_; }
    const std::vector<CandidatePair>& pairs() const noexcept { return pairs_; }

    /// Our role changed (§7.3.1.1): pair priorities are recomputed.
    void set_role(bool controlling);

    /// §7.3.1.4: the pair goes to Waiting and to the back of the triggered
    /// queue (once). Dropped when the queue is full.
    void enqueue_triggered(const base::Endpoint& local, const base::Endpoint& remote);
    /// The next triggered check whose pair still exists.
    std::optional<Key> pop_triggered();
    bool has_triggered() const noexcept { return !triggered_.empty(); }

    /// §6.1.4.2: the highest-priority Waiting pair; when there is none, the
    /// highest-priority Frozen pair whose foundation no Waiting/In-Progress
    /// pair has is unfrozen first. nullptr when nothing is left to check.
    CandidatePair* next_ordinary();
    /// True when next_ordinary() would return a pair.
    bool has_ordinary_work() const;

    /// §7.2.5.3.3: a check succeeded, so the Frozen pairs of its foundation
    /// become Waiting.
    void unfreeze(const std::string& foundation);

    /// §8.1.2: once a pair is nominated, unchecked (Frozen/Waiting) pairs are
    /// removed and no new ordinary checks start.
    void remove_unchecked();

    /// Removes every pair whose local side is `local` (a relay that is gone).
    void remove_local(const base::Endpoint& local);

    bool any_in_progress() const noexcept;
    /// No pair left to check (none Frozen, Waiting or In-Progress) and no
    /// triggered check queued.
    bool exhausted() const noexcept;
    /// The highest-priority pair in the valid list, if any.
    CandidatePair* best_valid();
    const CandidatePair* best_valid() const;
    bool any_valid() const noexcept;

    void clear() noexcept {
        pairs_.clear();
        triggered_.clear();
    }

private:
    void sort();

    std::size_t max_pairs_;
    std::size_t max_triggered_;
    std::vector<CandidatePair> pairs_;  // sorted by priority, highest first
    std::deque<Key> triggered_;
};

}  // namespace duplex::proto::ice
