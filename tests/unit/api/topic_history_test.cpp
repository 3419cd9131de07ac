// Topic history (api/topic_history.hpp): what a client that has everything
// up to `since` gets, and the history's three bounds.
#include "api/topic_history.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::detail;
using namespace std::chrono_literals;

namespace {

std::vector<HistoryEntry> kept(std::uint64_t from, std::uint64_t to) {
    std::vector<HistoryEntry> v;
    for (auto o = from; o <= to; ++o) v.push_back({o, "m" + std::to_string(o), false});
    return v;
}

std::vector<std::uint64_t> offsets(const Recovery& r) {
    std::vector<std::uint64_t> v;
    for (const auto& e : r.entries) v.push_back(e.offset);
    return v;
}

TEST(Recover, WhatWasMissedWhenTheHistoryReachesBack) {
    auto r = recover(kept(4, 8), 8, 5);
    EXPECT_EQ(offsets(r), (std::vector<std::uint64_t>{6, 7, 8}));
    EXPECT_EQ(r.gap_to, 0u);
    EXPECT_FALSE(r.reset);
    // Up to date: nothing, no gap.
    r = recover(kept(4, 8), 8, 8);
    EXPECT_TRUE(r.entries.empty());
    EXPECT_EQ(r.gap_to, 0u);
    // Just reaching back: since+1 is the oldest kept.
    r = recover(kept(4, 8), 8, 3);
    EXPECT_EQ(offsets(r).front(), 4u);
    EXPECT_EQ(r.gap_to, 0u);
}

TEST(Recover, AGapWhenItDoesNot) {
    auto r = recover(kept(4, 8), 8, 1);  // 2 and 3 are gone
    EXPECT_EQ(r.gap_to, 4u);
    EXPECT_EQ(offsets(r), (std::vector<std::uint64_t>{4, 5, 6, 7, 8}));
    // Nothing kept any more (all trimmed by bytes), messages up to 8 published.
    r = recover({}, 8, 2);
    EXPECT_EQ(r.gap_to, 9u);
    EXPECT_TRUE(r.entries.empty());
}

TEST(Recover, AResetWhenTheClientIsAheadOfTheTopic) {
    auto r = recover(kept(1, 3), 3, 50);  // the topic started again
    EXPECT_TRUE(r.reset);
    EXPECT_EQ(offsets(r), (std::vector<std::uint64_t>{1, 2, 3}));
    r = recover({}, 0, 7);  // the topic is gone altogether
    EXPECT_TRUE(r.reset);
    EXPECT_TRUE(r.entries.empty());
}

TEST(TopicHistory, KeepsTheLastNWithIncreasingOffsets) {
    TopicHistory h(3, 60s, 1 << 20);
    const auto t0 = base::Instant{} + 1000s;
    for (int i = 1; i <= 5; ++i) EXPECT_EQ(h.append("t", "m", false, t0), static_cast<std::uint64_t>(i));
    EXPECT_EQ(h.append("other", "x", true, t0), 1u);  // offsets per topic
    auto r = h.since("t", 0, t0);
    EXPECT_EQ(offsets(r), (std::vector<std::uint64_t>{3, 4, 5}));
    EXPECT_EQ(r.gap_to, 3u);
    EXPECT_TRUE(h.since("other", 0, t0).entries.front().binary);
}

TEST(TopicHistory, ATopicIdlePastItsTtlStartsAgain) {
    TopicHistory h(10, 60s, 1 << 20);
    const auto t0 = base::Instant{} + 1000s;
    h.append("t", "a", false, t0);
    h.append("t", "b", false, t0 + 30s);
    EXPECT_EQ(h.since("t", 0, t0 + 89s).entries.size(), 2u);  // 59 s after the last: still there
    EXPECT_TRUE(h.since("t", 2, t0 + 91s).reset);                // 61 s: forgotten
    EXPECT_EQ(h.append("t", "c", false, t0 + 92s), 1u);
    EXPECT_EQ(h.bytes(), 1u);
}

TEST(TopicHistory, AllTopicsTogetherAreBoundedInBytes) {
    TopicHistory h(100, 60s, 1000);
    const auto t0 = base::Instant{} + 1000s;
    const std::string kb(300, 'x');
    h.append("old", kb, false, t0);
    h.append("mid", kb, false, t0);
    h.append("new", kb, false, t0);
    EXPECT_EQ(h.bytes(), 900u);
    h.append("new", kb, false, t0);  // 1200 > 1000: the least recently published topic goes
    EXPECT_EQ(h.bytes(), 900u);
    EXPECT_TRUE(h.since("old", 1, t0).reset);
    EXPECT_EQ(h.since("mid", 0, t0).entries.size(), 1u);
    // One topic alone over the bound: its own oldest messages go.
    for (int i = 0; i < 10; ++i) h.append("new", kb, false, t0);
    EXPECT_LE(h.bytes(), 1000u);
    EXPECT_FALSE(h.since("new", 0, t0).entries.empty());
}

}  // namespace
