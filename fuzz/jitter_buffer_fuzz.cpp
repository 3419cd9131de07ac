// libFuzzer target: the jitter buffer fed arbitrary packets (sequence
// number, timestamp, marker, payload) at arbitrary times, polled between
// them. Must never crash or hang, and keeps its bounds: no gap list longer
// than what it holds, no frame over max_frame_bytes, and once poll_timeout
// is due, poll_frame makes progress.
#include "proto/rtp/jitter_buffer.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::rtp;
    if (size < 1) return 0;
    JitterBufferConfig cfg;
    cfg.capacity = 64;
    cfg.max_packet_payload = 200;
    cfg.max_frame_bytes = 1000;
    JitterBuffer jb(static_cast<Codec>(data[0] % 3), cfg);
    duplex::base::Instant now{};
    // Each packet: 2 bytes sequence, 1 byte timestamp step, 1 byte flags
    // (marker, time step), 1 byte payload length, the payload.
    std::size_t pos = 1;
    std::uint32_t ts = 0;
    while (pos + 5 <= size) {
        const auto seq = static_cast<std::uint16_t>(data[pos] << 8 | data[pos + 1]);
        ts += static_cast<std::uint32_t>(data[pos + 2]) * 97u;
        const bool marker = data[pos + 3] & 1;
        now += std::chrono::milliseconds(data[pos + 3] >> 1);
        const std::size_t len = std::min<std::size_t>(data[pos + 4], size - pos - 5);
        jb.insert(seq, ts, marker, duplex::base::Bytes(reinterpret_cast<const std::byte*>(data + pos + 5), len), now);
        pos += 5 + len;
        if (jb.missing(1000).size() > cfg.capacity) __builtin_trap();
        for (int polls = 0;; ++polls) {
            auto f = jb.poll_frame(now);
            if (!f) break;
            if (f->data.size() > cfg.max_frame_bytes || polls > 100) __builtin_trap();
        }
        if (auto t = jb.poll_timeout(); t && *t <= now) __builtin_trap();  // due, yet nothing came out
    }
    return 0;
}
