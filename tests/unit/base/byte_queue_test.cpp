// base::ByteQueue: the contiguous FIFO every protocol machine writes into.
// Checked against a std::string model through random operations, and for the
// memory it keeps (none until the first append, bounded after compaction).
#include "base/bytes.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

using namespace duplex::base;

namespace {
std::string str(Bytes b) { return std::string(as_string_view(b)); }
}  // namespace

TEST(ByteQueue, EmptyOwnsNothingAndAppendsAreContiguous) {
    ByteQueue q;
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.capacity(), 0u);
    q.append(std::string_view("hello "));
    q.append(std::string_view("world"));
    EXPECT_EQ(str(q.data()), "hello world");
    q.consume(6);
    EXPECT_EQ(str(q.data()), "world");
    q.consume(5);
    EXPECT_TRUE(q.empty());
    EXPECT_GT(q.capacity(), 0u);  // kept for the next message
    q.trim(0);
    EXPECT_EQ(q.capacity(), 0u);
}

TEST(ByteQueue, ExtendAndShrinkBackWriteInPlace) {
    ByteQueue q;
    q.append(std::string_view("ab"));
    std::byte* p = q.extend(14);
    std::memcpy(p, "cd", 2);
    q.shrink_back(12);
    EXPECT_EQ(str(q.data()), "abcd");
}

TEST(ByteQueue, MatchesAStringModelThroughRandomOperations) {
    std::mt19937 rng(7);
    ByteQueue q;
    std::string model;
    std::size_t max_live = 0;
    for (int step = 0; step < 20000; ++step) {
        const auto op = rng() % 4;
        if (op <= 1) {
            std::string chunk(rng() % (op == 0 ? 40 : 70000), '\0');
            for (auto& c : chunk) c = static_cast<char>(rng());
            q.append(std::string_view(chunk));
            model += chunk;
        } else if (op == 2 && !model.empty()) {
            const std::size_t n = rng() % (model.size() + 1);
            q.consume(n);
            model.erase(0, n);
        } else {
            ByteQueue copy = q;  // copies are independent
            copy.append(std::string_view("x"));
            EXPECT_EQ(str(copy.data()), model + "x");
            ByteQueue moved = std::move(copy);
            EXPECT_EQ(moved.size(), model.size() + 1);
        }
        max_live = std::max(max_live, model.size());
        ASSERT_EQ(q.size(), model.size()) << step;
        ASSERT_EQ(str(q.data()), model) << step;
        // Consuming from the front and appending at the back never makes the
        // storage grow past twice the most ever queued.
        ASSERT_LE(q.capacity(), std::max<std::size_t>(256, 2 * max_live + 4096)) << step;  // + a page: large buffers are whole pages
    }
}

// One pointer wide (decision 0014): an idle connection's send queue, with no
// buffer of its own, costs 8 bytes, and what an empty queue is asked for is
// answered without storage (from a shared empty block that is never written:
// it is read-only, so a write to it would crash this test).
TEST(ByteQueue, IsOnePointerWideAndAnEmptyOneAnswersWithoutStorage) {
    static_assert(sizeof(ByteQueue) == sizeof(void*));
    ByteQueue q;
    EXPECT_EQ(q.size(), 0u);
    EXPECT_TRUE(q.data().empty());
    q.consume(0);
    q.clear();
    q.shrink_back(0);
    q.trim(0);
    EXPECT_EQ(q.capacity(), 0u);
    ByteQueue none;
    (void)none.extend(0);  // nothing to hold, but the queue may take storage for it
    EXPECT_EQ(none.size(), 0u);
    ByteQueue moved = std::move(q);
    EXPECT_EQ(moved.capacity(), 0u);
    moved.append(std::string_view("abc"));
    q = std::move(moved);  // a moved-from queue takes a new one
    EXPECT_EQ(str(q.data()), "abc");
    EXPECT_EQ(moved.capacity(), 0u);
    ByteQueue& same = q;
    q = std::move(same);  // a self-move keeps the bytes
    EXPECT_EQ(str(q.data()), "abc");
}

// A large queue (a peer that does not read) is a mapping of its own, grown by
// the kernel: its bytes survive each growth and compaction, it never holds
// more than twice what was queued (plus a page), and a trim gives it back.
TEST(ByteQueue, ALargeQueueKeepsItsBytesThroughGrowthAndIsGivenBack) {
    ByteQueue q;
    std::string model;
    std::mt19937 rng(11);
    std::size_t max_live = 0;
    for (int i = 0; i < 300; ++i) {
        std::string chunk(50000 + rng() % 50000, '\0');
        for (auto& c : chunk) c = static_cast<char>(rng());
        q.append(std::string_view(chunk));
        model += chunk;
        max_live = std::max(max_live, model.size());
        if (i % 3 == 0) {  // the peer reads a little now and then
            const std::size_t n = std::min<std::size_t>(model.size(), 40000);
            q.consume(n);
            model.erase(0, n);
        }
        ASSERT_EQ(q.size(), model.size());
        ASSERT_LE(q.capacity(), 2 * max_live + 4096);
    }
    ASSERT_GT(q.capacity(), ByteQueue::kMapFrom);
    ASSERT_EQ(str(q.data()), model);
    q.consume(q.size());
    q.trim(0);
    EXPECT_EQ(q.capacity(), 0u);
}
