// api/server_metrics.cpp: the Prometheus text exposition of a server's counters.
#include "api/server_metrics.hpp"

#include <sstream>

namespace duplex::detail {

std::string ServerMetrics::prometheus_text() const {
    std::ostringstream o;
    auto load = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    auto one = [&](const char* name, const char* type, const char* help, std::uint64_t v) {
        o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << v << '\n';
    };
    one("duplex_connections_open", "gauge", "Open WebSocket connections.", load(connections_open));
    one("duplex_connections_total", "counter", "WebSocket connections accepted.", load(connections_total));
    one("duplex_http_requests_total", "counter", "HTTP requests received (upgrades included).", load(http_requests));
    one("duplex_handshakes_failed_total", "counter", "Opening handshakes refused or malformed.", load(handshakes_failed));
    std::uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0, writes = 0;
    {
        std::lock_guard lock(loops_mu_);
        for (const auto& l : loops_) {
            messages_in += load(l.messages_in);
            messages_out += load(l.messages_out);
            bytes_in += load(l.bytes_in);
            bytes_out += load(l.bytes_out);
            writes += load(l.writes);
        }
    }
    one("duplex_messages_received_total", "counter", "WebSocket messages received.", messages_in);
    one("duplex_messages_sent_total", "counter", "WebSocket messages queued for sending.", messages_out);
    one("duplex_bytes_received_total", "counter", "Bytes read from WebSocket connections.", bytes_in);
    one("duplex_bytes_sent_total", "counter", "Bytes written to WebSocket connections.", bytes_out);
    one("duplex_socket_writes_total", "counter",
        "Writes to WebSocket connections' sockets (the messages corked in a read or a fan-out leave in one).", writes);
    one("duplex_backpressure_drops_total", "counter", "Sends refused because a connection's buffer was over max_backpressure.",
        load(backpressure_drops));
    one("duplex_backpressure_read_pauses_total", "counter",
        "Times reading from a connection stopped because its replies (pongs, echoes) were over max_backpressure.",
        load(backpressure_read_pauses));
    one("duplex_slow_consumer_closes_total", "counter",
        "Connections closed with 1008 because they did not read and their send buffer passed max_backpressure.",
        load(slow_consumer_closes));
    one("duplex_connections_refused_total", "counter",
        "Connections refused as they were accepted (503 full or out of descriptors, 429 too many from one address).",
        load(connections_refused));
    one("duplex_descriptor_exhaustions_total", "counter",
        "Connections refused with 503 because the process had no file descriptor to spare.", load(descriptor_exhaustions));
    one("duplex_published_total", "counter", "Messages published to topics.", load(published));
    if (redis_configured.load()) {
        one("duplex_redis_up", "gauge", "1 while both connections to Redis (publishing, subscriptions) are up.",
            load(redis_up));
        one("duplex_redis_published_total", "counter", "Messages published to other nodes through Redis.",
            load(redis_published));
        one("duplex_redis_received_total", "counter", "Messages from other nodes received through Redis.",
            load(redis_received));
        one("duplex_redis_dropped_total", "counter",
            "Messages not sent to Redis: its queue was full (Redis slow or down, see docs/scaling.md).",
            load(redis_dropped));
        one("duplex_redis_malformed_total", "counter", "Messages on duplex's Redis channels that were not duplex's.",
            load(redis_malformed));
        one("duplex_redis_reconnects_total", "counter", "Attempts to connect to Redis again after a loss.",
            load(redis_reconnects));
        one("duplex_redis_queue_bytes", "gauge", "Bytes waiting to be sent to Redis.", load(redis_queue_bytes));
    }
    if (history_configured.load()) {
        one("duplex_history_recoveries_total", "counter",
            "Subscriptions with since= served whole from the history.", load(history_recoveries));
        one("duplex_history_gaps_total", "counter",
            "Subscriptions with since= that the history no longer reached back to (a gap or a reset).",
            load(history_gaps));
    }
    o << "# HELP duplex_closes_total WebSocket connections closed, by close code.\n# TYPE duplex_closes_total counter\n";
    for (std::size_t i = 0; i < closes_10xx.size(); ++i)
        if (const auto v = load(closes_10xx[i])) o << "duplex_closes_total{code=\"" << 1000 + i << "\"} " << v << '\n';
    o << "duplex_closes_total{code=\"other\"} " << load(closes_other) << '\n';
    return o.str();
}

}  // namespace duplex::detail
