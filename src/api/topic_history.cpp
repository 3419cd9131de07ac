// api/topic_history.cpp: topics' last messages in this process. See the header.
#include "api/topic_history.hpp"

namespace duplex::detail {

Recovery recover(std::vector<HistoryEntry> retained, std::uint64_t last, std::uint64_t since) {
    Recovery r;
    r.last = last;
    r.since = since;
    if (since > last) {
        // Ahead of the topic: its offsets started again since the client's.
        r.reset = true;
        r.entries = std::move(retained);
        return r;
    }
    std::size_t first = 0;
    while (first < retained.size() && retained[first].offset <= since) ++first;
    r.entries.assign(std::make_move_iterator(retained.begin() + static_cast<std::ptrdiff_t>(first)),
                     std::make_move_iterator(retained.end()));
    // What comes next for the client is since+1; the history starts at its first entry (or after `last`).
    const std::uint64_t available = r.entries.empty() ? last + 1 : r.entries.front().offset;
    if (available > since + 1) r.gap_to = available;
    return r;
}

void TopicHistory::drop(std::unordered_map<std::string, Topic>::iterator it) {
    for (const auto& e : it->second.entries) bytes_ -= e.payload.size();
    lru_.erase(it->second.lru);
    topics_.erase(it);
}

std::uint64_t TopicHistory::append(const std::string& topic, std::string_view data, bool binary, base::Instant now) {
    auto it = topics_.find(topic);
    if (it != topics_.end() && now - it->second.touched > ttl_) {
        drop(it);  // idle past the TTL: forgotten, offsets start again
        it = topics_.end();
    }
    if (it == topics_.end()) {
        it = topics_.emplace(topic, Topic{}).first;
        it->second.lru = lru_.insert(lru_.end(), topic);
    } else {
        lru_.splice(lru_.end(), lru_, it->second.lru);
    }
    Topic& t = it->second;
    t.touched = now;
    const std::uint64_t offset = ++t.last;
    t.entries.push_back({offset, std::string(data), binary});
    bytes_ += data.size();
    while (t.entries.size() > size_) {
        bytes_ -= t.entries.front().payload.size();
        t.entries.pop_front();
    }
    // Over the byte bound: the least recently published topics go first;
    // then, if this one alone is over it, its own oldest messages.
    while (bytes_ > max_bytes_ && lru_.front() != topic) drop(topics_.find(lru_.front()));
    while (bytes_ > max_bytes_ && t.entries.size() > 1) {
        bytes_ -= t.entries.front().payload.size();
        t.entries.pop_front();
    }
    return offset;
}

Recovery TopicHistory::since(const std::string& topic, std::uint64_t since, base::Instant now) {
    auto it = topics_.find(topic);
    if (it != topics_.end() && now - it->second.touched > ttl_) {
        drop(it);
        it = topics_.end();
    }
    if (it == topics_.end()) return recover({}, 0, since);
    return recover({it->second.entries.begin(), it->second.entries.end()}, it->second.last, since);
}

}  // namespace duplex::detail
