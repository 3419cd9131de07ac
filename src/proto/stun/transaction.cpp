// proto/stun/transaction.cpp: the client retransmission timer of RFC 8489
// §6.2.1. Send k (1-based) goes out at t0 + (2^(k-1) - 1)·RTO; after send Rc
// the transaction waits Rm·RTO more and fails. With RTO 500 ms, Rc 7, Rm 16:
// sends at 0, 500, 1500, 3500, 7500, 15500, 31500 ms, failure at 39500 ms.
#include "proto/stun/transaction.hpp"

#include <utility>

namespace duplex::proto::stun {

Transaction::Transaction(const TransactionId& id, std::vector<std::byte> request, base::Instant now,
                         RetransmitPolicy policy)
    : id_(id), request_(std::move(request)), policy_(policy), started_(now), interval_(policy.rto) {
    if (policy_.rc == 0) policy_.rc = 1;  // the first send has happened: it counts
    next_ = policy_.rc > 1 ? now + interval_ : now + policy_.rto * policy_.rm;
}

std::optional<base::Instant> Transaction::deadline() const noexcept {
    if (failed_) return std::nullopt;
    return next_;
}

Transaction::Step Transaction::on_timeout(base::Instant now) noexcept {
    if (failed_) return Step::Failed;
    if (now < next_) return Step::Wait;
    if (sends_ >= policy_.rc) {
        failed_ = true;  // Rm·RTO after the last send without a response (§6.2.1)
        return Step::Failed;
    }
    ++sends_;
    interval_ *= 2;
    // Timed from this send, so a late wake-up does not bunch the next ones.
    next_ = sends_ < policy_.rc ? now + interval_ : now + policy_.rto * policy_.rm;
    return Step::Retransmit;
}

}  // namespace duplex::proto::stun
