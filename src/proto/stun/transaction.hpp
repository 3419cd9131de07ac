// proto/stun/transaction.hpp: client transaction retransmission over UDP
// (RFC 8489 §6.2.1). Pure: the caller passes `now` in and asks when to call
// back. A request is sent at 0, RTO, 3·RTO, 7·RTO … (doubling), Rc sends in
// all; after the last send it waits Rm·RTO and then the transaction has failed.
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/time.hpp"
#include "proto/stun/message.hpp"

#include <cstddef>
#include <optional>
#include <vector>

namespace duplex::proto::stun {

struct RetransmitPolicy {
    base::Duration rto = base::milliseconds(500);  // §6.2.1 default initial RTO
    unsigned rc = 7;                               // total sends
    unsigned rm = 16;                              // last wait is rm·rto
};

/// One outstanding request: it knows when to (re)send and when it has failed.
class Transaction {
public:
    Transaction(const TransactionId& id, std::vector<std::byte> request, base::Instant now,
                RetransmitPolicy policy = {});

    const TransactionId& id() const noexcept { return id_; }
    const std::vector<std::byte>& request() const noexcept { return request_; }
    unsigned sends() const noexcept { return sends_; }
    /// When the first send happened (with sends() == 1, a response measures
    /// the round trip; after a retransmission it is ambiguous: Karn's rule).
    base::Instant started() const noexcept { return started_; }

    /// When to call on_timeout() next; nullopt once failed.
    std::optional<base::Instant> deadline() const noexcept;
    enum class Step { Retransmit, Wait, Failed };
    /// Call at or after deadline(): Retransmit means "send request() again now".
    Step on_timeout(base::Instant now) noexcept;
    bool failed() const noexcept { return failed_; }

private:
    TransactionId id_;
    std::vector<std::byte> request_;
    RetransmitPolicy policy_;
    base::Instant started_;
    base::Instant next_;
    base::Duration interval_;
    unsigned sends_ = 1;  // the first send happens at construction time
    bool failed_ = false;
};

}  // namespace duplex::proto::stun
