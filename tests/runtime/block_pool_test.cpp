#include "runtime/block_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

using namespace duplex;
using runtime::BlockPool;

TEST(BlockPool, BlocksAreAlignedDistinctAndWritable) {
    BlockPool pool(37);
    EXPECT_EQ(pool.block_size(), 40u);  // rounded up to 8
    std::vector<void*> blocks;
    for (int i = 0; i < 3000; ++i) {  // more than one chunk
        void* p = pool.allocate();
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p) % BlockPool::kAlign, 0u);
        std::memset(p, i & 0xff, pool.block_size());
        blocks.push_back(p);
    }
    EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size());
    // No block overlaps another: each still holds its own pattern.
    for (int i = 0; i < 3000; ++i) {
        auto* b = static_cast<unsigned char*>(blocks[static_cast<std::size_t>(i)]);
        ASSERT_TRUE(std::all_of(b, b + pool.block_size(), [&](unsigned char c) { return c == (i & 0xff); })) << i;
    }
    EXPECT_EQ(pool.live_blocks(), 3000u);
    EXPECT_GE(pool.chunks(), 3000u * pool.block_size() / BlockPool::kChunkSize + 1);
    for (void* p : blocks) pool.deallocate(p);
    EXPECT_EQ(pool.live_blocks(), 0u);
}

TEST(BlockPool, EmptyChunksGoBackToTheKernelButOne) {
    BlockPool pool(512);
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) blocks.push_back(pool.allocate());
    const auto mapped = pool.chunks();
    EXPECT_GE(mapped, 1000u * 512 / BlockPool::kChunkSize);
    for (void* p : blocks) pool.deallocate(p);
    EXPECT_EQ(pool.chunks(), 1u);  // the spare
    // Freed blocks are reused before anything new is mapped.
    void* again = pool.allocate();
    EXPECT_EQ(pool.chunks(), 1u);
    pool.deallocate(again);
}

TEST(BlockPool, ABlockFreedIsTheNextOneHandedOut) {
    BlockPool pool(64);
    void* a = pool.allocate();
    void* b = pool.allocate();
    pool.deallocate(a);
    EXPECT_EQ(pool.allocate(), a);
    pool.deallocate(a);
    pool.deallocate(b);
}

TEST(BlockPool, BlocksMayBeFreedOnAnotherThread) {
    BlockPool pool(96);
    std::vector<void*> blocks;
    for (int i = 0; i < 4000; ++i) blocks.push_back(pool.allocate());
    // Half freed here while another thread frees the other half and allocates.
    std::thread other([&] {
        std::vector<void*> mine;
        for (std::size_t i = 1; i < blocks.size(); i += 2) {
            pool.deallocate(blocks[i]);
            mine.push_back(pool.allocate());
        }
        for (void* p : mine) pool.deallocate(p);
    });
    for (std::size_t i = 0; i < blocks.size(); i += 2) pool.deallocate(blocks[i]);
    other.join();
    EXPECT_EQ(pool.live_blocks(), 0u);
}
