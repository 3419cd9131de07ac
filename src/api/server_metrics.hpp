// api/server_metrics.hpp: a server's counters, read by a scrape (Prometheus
// text format) from any thread. The per-message ones are kept per loop and
// written only by that loop's thread: a plain load and store, no locked
// instruction on the message path and no cache line bouncing between loops;
// the scrape sums them. The rest (per connection or rarer) are shared relaxed
// atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace duplex::detail {

struct ServerMetrics;

/// One loop's per-message counters (single writer: the loop's thread).
struct alignas(64) LoopCounters {
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> messages_out{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> bytes_out{0};
    std::atomic<std::uint64_t> writes{0};  // write calls that moved bytes (one carries every corked message)
    ServerMetrics* shared = nullptr;  // the server's other counters

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

struct ServerMetrics {
    std::atomic<std::uint64_t> connections_open{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> http_requests{0};
    std::atomic<std::uint64_t> handshakes_failed{0};
    std::atomic<std::uint64_t> backpressure_drops{0};
    std::atomic<std::uint64_t> backpressure_read_pauses{0};  // reading stopped: the replies to a peer's input could not leave
    std::atomic<std::uint64_t> slow_consumer_closes{0};       // closed with 1008 for a spent send budget
    std::atomic<std::uint64_t> descriptor_exhaustions{0};     // connections refused: no file descriptor to spare
    std::atomic<std::uint64_t> connections_refused{0};        // at the accept: over max_connections(_per_ip), or no descriptor
    std::atomic<std::uint64_t> published{0};
    // Topics across nodes (api/redis_bus.hpp); shown only when configured.
    std::atomic<bool> redis_configured{false};
    std::atomic<std::uint64_t> redis_up{0};
    std::atomic<std::uint64_t> redis_published{0};
    std::atomic<std::uint64_t> redis_received{0};
    std::atomic<std::uint64_t> redis_dropped{0};     // refused by the queue bound
    std::atomic<std::uint64_t> redis_malformed{0};   // on our channels, but not a message of ours
    std::atomic<std::uint64_t> redis_reconnects{0};
    std::atomic<std::uint64_t> redis_queue_bytes{0};
    mutable std::mutex redis_mu;
    std::string redis_status;  // "up" or "down: why" (under redis_mu)
    // History (ServerOptions::history_size); shown only when configured.
    std::atomic<bool> history_configured{false};
    std::atomic<std::uint64_t> history_recoveries{0};  // `since` served whole
    std::atomic<std::uint64_t> history_gaps{0};        // `since` answered with a gap or a reset
    std::array<std::atomic<std::uint64_t>, 16> closes_10xx{};  // 1000-1015
    std::atomic<std::uint64_t> closes_other{0};

    static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
    void count_close(std::uint16_t code) noexcept {
        if (code >= 1000 && code < 1016) add(closes_10xx[code - 1000]);
        else add(closes_other);
    }
    std::string prometheus_text() const;

    /// A loop's counters (one per server core), summed by the scrape.
    LoopCounters& add_loop() {
        std::lock_guard lock(loops_mu_);
        auto& c = loops_.emplace_back();
        c.shared = this;
        return c;
    }

private:
    mutable std::mutex loops_mu_;
    std::deque<LoopCounters> loops_;  // stable addresses
};

}  // namespace duplex::detail
