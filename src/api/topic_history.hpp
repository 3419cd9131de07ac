// api/topic_history.hpp: the last messages of each topic, with increasing
// offsets, kept in this process (a server without Redis; with Redis the
// history is Redis', api/redis_bus.hpp). A client that reconnects with
// `since` gets what it missed from here, or a gap (docs/scaling.md).
//
// Bounded three ways: `size` messages per topic, topics idle for `ttl` are
// forgotten (their offsets start again at 1: a reset), and all topics
// together hold at most `max_bytes` of messages (the least recently
// published topic goes first).
#pragma once

#include "base/time.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace duplex::detail {

struct HistoryEntry {
    std::uint64_t offset = 0;
    std::string payload;
    bool binary = false;
};

/// What a client that asks for everything after `since` gets.
struct Recovery {
    std::vector<HistoryEntry> entries;  // offset > since, in order
    /// Messages since+1 .. gap_to-1 are no longer kept (0: no gap).
    std::uint64_t gap_to = 0;
    /// The topic's offsets started again (it was idle past the TTL, or Redis
    /// lost it): `since` means nothing here; `entries` is all there is.
    bool reset = false;
    std::uint64_t last = 0;   // the topic's last offset when this was read
    std::uint64_t since = 0;  // what the client asked for
    std::string epoch;        // Redis: which numbering (empty in this process)
};

/// From a topic's retained messages (in order) and its last offset: what
/// a client that has everything up to `since` gets. Pure: used for the
/// in-memory history and for Redis' alike.
Recovery recover(std::vector<HistoryEntry> retained, std::uint64_t last, std::uint64_t since);

class TopicHistory {
public:
    TopicHistory(std::size_t size, std::chrono::seconds ttl, std::size_t max_bytes)
        : size_(size), ttl_(ttl), max_bytes_(max_bytes) {}

    /// Held while an offset is given and the message handed to every loop,
    /// so that each loop gets a topic's messages in offset order.
    std::mutex& mutex() noexcept { return mu_; }
    /// Under mutex(): the next offset of `topic`, and the message kept.
    std::uint64_t append(const std::string& topic, std::string_view data, bool binary, base::Instant now);
    /// Under mutex().
    Recovery since(const std::string& topic, std::uint64_t since, base::Instant now);
    std::size_t bytes() const noexcept { return bytes_; }

private:
    struct Topic {
        std::uint64_t last = 0;
        std::deque<HistoryEntry> entries;
        base::Instant touched{};
        std::list<std::string>::iterator lru;
    };
    void drop(std::unordered_map<std::string, Topic>::iterator it);

    std::mutex mu_;
    std::size_t size_;
    std::chrono::seconds ttl_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    std::unordered_map<std::string, Topic> topics_;
    std::list<std::string> lru_;  // least recently published first
};

}  // namespace duplex::detail
