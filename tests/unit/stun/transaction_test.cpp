// The client transaction timer of RFC 8489 §6.2.1, on virtual time.
#include "proto/stun/transaction.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace duplex;
using namespace duplex::proto::stun;
using namespace std::chrono_literals;

namespace {

// Virtual time: an Instant that only moves when the test says so.
struct FakeClock {
    base::Instant now{};
    void advance_to(base::Instant t) { now = t; }
    std::chrono::milliseconds since_start() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now - base::Instant{});
    }
};

TransactionId id_of(std::uint8_t b) {
    TransactionId id{};
    id.fill(std::byte{b});
    return id;
}

struct Timeline {
    std::vector<long long> sends;  // ms
    long long failed_at = -1;
};

// Runs a transaction to its end, waking exactly at each deadline, and records
// the send times (the first at construction) and the time of failure.
Timeline run(RetransmitPolicy policy) {
    FakeClock clock;
    Transaction t(id_of(1), {std::byte{1}, std::byte{2}}, clock.now, policy);
    Timeline out;
    out.sends.push_back(0);
    for (int guard = 0; guard < 100; ++guard) {
        auto d = t.deadline();
        if (!d) break;
        // One tick early is still Wait.
        EXPECT_EQ(t.on_timeout(*d - 1ns), Transaction::Step::Wait);
        clock.advance_to(*d);
        switch (t.on_timeout(clock.now)) {
            case Transaction::Step::Retransmit: out.sends.push_back(clock.since_start().count()); break;
            case Transaction::Step::Failed: out.failed_at = clock.since_start().count(); break;
            case Transaction::Step::Wait: ADD_FAILURE() << "Wait at the deadline"; break;
        }
    }
    return out;
}

}  // namespace

TEST(StunTransaction, DefaultScheduleOfRfc8489) {
    // RTO 500 ms, Rc 7, Rm 16: sends at 0, 500, 1500, 3500, 7500, 15500,
    // 31500 ms; failure at 31500 + 16 * 500 = 39500 ms (§6.2.1's example).
    const auto t = run({});
    EXPECT_EQ(t.sends, (std::vector<long long>{0, 500, 1500, 3500, 7500, 15500, 31500}));
    EXPECT_EQ(t.failed_at, 39500);
}

TEST(StunTransaction, StateAlongTheWay) {
    FakeClock clock;
    const auto id = id_of(7);
    Transaction t(id, {std::byte{9}}, clock.now);
    EXPECT_EQ(t.id(), id);
    EXPECT_EQ(t.request(), std::vector<std::byte>{std::byte{9}});
    EXPECT_EQ(t.sends(), 1u);
    EXPECT_FALSE(t.failed());
    EXPECT_EQ(t.deadline(), clock.now + 500ms);
    EXPECT_EQ(t.on_timeout(clock.now + 499ms), Transaction::Step::Wait);
    EXPECT_EQ(t.sends(), 1u);
    EXPECT_EQ(t.on_timeout(clock.now + 500ms), Transaction::Step::Retransmit);
    EXPECT_EQ(t.sends(), 2u);
    EXPECT_EQ(t.deadline(), clock.now + 1500ms);
    // Drive to the end.
    while (auto d = t.deadline()) (void)t.on_timeout(*d);
    EXPECT_TRUE(t.failed());
    EXPECT_EQ(t.sends(), 7u);
    EXPECT_FALSE(t.deadline());
    EXPECT_EQ(t.on_timeout(clock.now + 1h), Transaction::Step::Failed);
    EXPECT_EQ(t.sends(), 7u);
}

TEST(StunTransaction, CustomPolicies) {
    const auto a = run({.rto = 100ms, .rc = 3, .rm = 4});
    EXPECT_EQ(a.sends, (std::vector<long long>{0, 100, 300}));
    EXPECT_EQ(a.failed_at, 700);
    // One send only: fail Rm·RTO after it.
    const auto b = run({.rto = 250ms, .rc = 1, .rm = 8});
    EXPECT_EQ(b.sends, (std::vector<long long>{0}));
    EXPECT_EQ(b.failed_at, 2000);
    // Rc 0 is taken as 1 (the send at construction happened).
    const auto c = run({.rto = 250ms, .rc = 0, .rm = 2});
    EXPECT_EQ(c.sends, (std::vector<long long>{0}));
    EXPECT_EQ(c.failed_at, 500);
}

TEST(StunTransaction, LateWakeUpTimesTheNextSendFromTheActualOne) {
    FakeClock clock;
    Transaction t(id_of(1), {}, clock.now);
    // The loop wakes 200 ms late for the second send.
    EXPECT_EQ(t.on_timeout(clock.now + 700ms), Transaction::Step::Retransmit);
    EXPECT_EQ(t.deadline(), clock.now + 700ms + 1000ms);
    // One late call sends once, not a burst.
    EXPECT_EQ(t.on_timeout(clock.now + 1699ms), Transaction::Step::Wait);
    EXPECT_EQ(t.sends(), 2u);
}
