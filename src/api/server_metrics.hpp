// api/server_metrics.hpp: a server's counters, written with relaxed atomics
// from every loop and read by a scrape (Prometheus text format).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace duplex::detail {

struct ServerMetrics {
    std::atomic<std::uint64_t> connections_open{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> http_requests{0};
    std::atomic<std::uint64_t> handshakes_failed{0};
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> messages_out{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> bytes_out{0};
    std::atomic<std::uint64_t> backpressure_drops{0};
    std::atomic<std::uint64_t> published{0};
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
};

}  // namespace duplex::detail
