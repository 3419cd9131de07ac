// proto/ice/checklist.cpp: pair formation limits, states and check order
// (RFC 8445 §6.1.2, §6.1.4).
#include "proto/ice/checklist.hpp"

#include <algorithm>

namespace duplex::proto::ice {

void CheckList::sort() {
    // Highest priority first (§6.1.2.3); stable so that equal pairs keep
    // their order of arrival.
    std::stable_sort(pairs_.begin(), pairs_.end(),
                     [](const CandidatePair& a, const CandidatePair& b) { return a.priority > b.priority; });
}

CandidatePair* CheckList::add(CandidatePair pair, bool controlling) {
    pair.set_priority(controlling);
    if (CandidatePair* existing = find(pair.local, pair.remote)) {
        // §6.1.2.4: a redundant pair; keep the better priorities (a signalled
        // candidate may replace a peer-reflexive one, RFC 8838 §11.4).
        if (pair.remote_priority > existing->remote_priority) {
            existing->remote_priority = pair.remote_priority;
            existing->foundation = pair.foundation;
        }
        existing->local_priority = std::max(existing->local_priority, pair.local_priority);
        existing->set_priority(controlling);
        const auto key = std::make_pair(existing->local, existing->remote);
        sort();
        return find(key.first, key.second);
    }
    if (pairs_.size() >= max_pairs_) {
        // §6.1.2.5: keep the best pairs. Only a pair that nothing has happened
        // to yet (Frozen/Waiting, not queued) may give way.
        auto victim = pairs_.end();
        for (auto it = pairs_.begin(); it != pairs_.end(); ++it) {
            const bool idle = (it->state == PairState::Frozen || it->state == PairState::Waiting) &&
                              !it->valid && !it->nominate_on_success;
            if (idle && it->priority < pair.priority &&
                (victim == pairs_.end() || it->priority < victim->priority)) {
                victim = it;
            }
        }
        if (victim == pairs_.end()) return nullptr;
        const Key gone{victim->local, victim->remote};
        triggered_.erase(std::remove(triggered_.begin(), triggered_.end(), gone), triggered_.end());
        pairs_.erase(victim);
    }
    // §6.1.2.6 (one data stream): the first pair of each foundation starts
    // Waiting, the others Frozen until a pair of their foundation succeeds.
    const bool foundation_seen = std::any_of(pairs_.begin(), pairs_.end(), [&](const CandidatePair& p) {
        return p.foundation == pair.foundation;
    });
    pair.state = foundation_seen ? PairState::Frozen : PairState::Waiting;
    const Key key{pair.local, pair.remote};
    pairs_.push_back(std::move(pair));
    sort();
    return find(key.first, key.second);
}

CandidatePair* CheckList::find(const base::Endpoint& local, const base::Endpoint& remote) {
    for (auto& p : pairs_) {
        if (p.local == local && p.remote == remote) return &p;
    }
    return nullptr;
}

const CandidatePair* CheckList::find(const base::Endpoint& local, const base::Endpoint& remote) const {
    for (const auto& p : pairs_) {
        if (p.local == local && p.remote == remote) return &p;
    }
    return nullptr;
}

void CheckList::set_role(bool controlling) {
    for (auto& p : pairs_) p.set_priority(controlling);
    sort();
}

void CheckList::enqueue_triggered(const base::Endpoint& local, const base::Endpoint& remote) {
    CandidatePair* p = find(local, remote);
    if (p == nullptr) return;
    p->state = PairState::Waiting;
    const Key key{local, remote};
    if (std::find(triggered_.begin(), triggered_.end(), key) != triggered_.end()) return;
    if (triggered_.size() >= max_triggered_) return;  // bounded; the pair stays Waiting
    triggered_.push_back(key);
}

std::optional<CheckList::Key> CheckList::pop_triggered() {
    while (!triggered_.empty()) {
        Key k = triggered_.front();
        triggered_.pop_front();
        if (find(k.first, k.second) != nullptr) return k;
    }
    return std::nullopt;
}

CandidatePair* CheckList::next_ordinary() {
    // §6.1.4.2 step 1: the highest-priority Waiting pair (pairs_ is sorted).
    for (auto& p : pairs_) {
        if (p.state == PairState::Waiting) return &p;
    }
    // Step 2: unfreeze, per foundation with no Waiting/In-Progress pair, its
    // highest-priority Frozen pair.
    CandidatePair* first = nullptr;
    for (auto& p : pairs_) {
        if (p.state != PairState::Frozen) continue;
        const bool busy = std::any_of(pairs_.begin(), pairs_.end(), [&](const CandidatePair& q) {
            return q.foundation == p.foundation &&
                   (q.state == PairState::Waiting || q.state == PairState::InProgress);
        });
        if (busy) continue;
        p.state = PairState::Waiting;
        if (first == nullptr) first = &p;
    }
    return first;  // step 3 (the highest-priority Waiting one), or step 4: none
}

bool CheckList::has_ordinary_work() const {
    for (const auto& p : pairs_) {
        if (p.state == PairState::Waiting) return true;
        if (p.state != PairState::Frozen) continue;
        const bool busy = std::any_of(pairs_.begin(), pairs_.end(), [&](const CandidatePair& q) {
            return q.foundation == p.foundation &&
                   (q.state == PairState::Waiting || q.state == PairState::InProgress);
        });
        if (!busy) return true;
    }
    return false;
}

void CheckList::unfreeze(const std::string& foundation) {
    for (auto& p : pairs_) {
        if (p.state == PairState::Frozen && p.foundation == foundation) p.state = PairState::Waiting;
    }
}

void CheckList::remove_unchecked() {
    const auto idle = [](const CandidatePair& p) {
        return (p.state == PairState::Frozen || p.state == PairState::Waiting) && !p.valid &&
               !p.nominate_on_success;
    };
    for (const auto& p : pairs_) {
        if (idle(p)) {
            const Key k{p.local, p.remote};
            triggered_.erase(std::remove(triggered_.begin(), triggered_.end(), k), triggered_.end());
        }
    }
    pairs_.erase(std::remove_if(pairs_.begin(), pairs_.end(), idle), pairs_.end());
}

void CheckList::remove_local(const base::Endpoint& local) {
    triggered_.erase(std::remove_if(triggered_.begin(), triggered_.end(), [&](const Key& k) { return k.first == local; }),
                     triggered_.end());
    pairs_.erase(std::remove_if(pairs_.begin(), pairs_.end(), [&](const CandidatePair& p) { return p.local == local; }),
                 pairs_.end());
}

bool CheckList::any_in_progress() const noexcept {
    return std::any_of(pairs_.begin(), pairs_.end(),
                       [](const CandidatePair& p) { return p.state == PairState::InProgress; });
}

bool CheckList::exhausted() const noexcept {
    if (!triggered_.empty()) return false;
    return std::none_of(pairs_.begin(), pairs_.end(), [](const CandidatePair& p) {
        return p.state == PairState::Frozen || p.state == PairState::Waiting ||
               p.state == PairState::InProgress;
    });
}

CandidatePair* CheckList::best_valid() {
    for (auto& p : pairs_) {
        if (p.valid && p.state != PairState::Failed) return &p;
    }
    return nullptr;
}

const CandidatePair* CheckList::best_valid() const {
    for (const auto& p : pairs_) {
        if (p.valid && p.state != PairState::Failed) return &p;
    }
    return nullptr;
}

bool CheckList::any_valid() const noexcept {
    return std::any_of(pairs_.begin(), pairs_.end(), [](const CandidatePair& p) { return p.valid; });
}

}  // namespace duplex::proto::ice
