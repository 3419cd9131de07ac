// libFuzzer target: transport-wide feedback (draft-holmer-rmcat-transport-
// wide-cc-extensions-01 §3.1) on arbitrary bytes, read and fed to the
// bandwidth estimator after packets it sent. Must never crash; what reads
// lists no more packets than its count nor than its bytes, in sequence
// order, and the estimate stays within the estimator's bounds.
#include "proto/rtp/bandwidth_estimator.hpp"
#include "proto/rtp/transport_feedback_reader.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::rtp;
    using namespace std::chrono_literals;
    // The first two bytes: how many packets the estimator sent before (from
    // sequence number 0, a millisecond apart); the rest, feedback packets
    // each prefixed by its length byte.
    if (size < 2) return 0;
    BandwidthEstimatorConfig config;
    BandwidthEstimator bwe(config);
    auto now = duplex::base::Instant{} + 10s;
    const unsigned sent = data[0] | (data[1] << 8);
    for (unsigned s = 0; s < sent; ++s) bwe.on_sent(static_cast<std::uint16_t>(s), 1000 + s % 200, now += 1ms);
    std::size_t at = 2;
    while (at < size) {
        const std::size_t n = std::min<std::size_t>(data[at], size - at - 1);
        const duplex::base::Bytes in(reinterpret_cast<const std::byte*>(data + at + 1), n);
        at += 1 + n;
        const auto fb = read_transport_feedback(in);
        if (!fb) continue;
        if (fb->received.size() > fb->status_count || fb->received.size() > n) std::abort();
        for (std::size_t i = 1; i < fb->received.size(); ++i)
            if (static_cast<std::uint16_t>(fb->received[i].sequence - fb->received[0].sequence) <=
                static_cast<std::uint16_t>(fb->received[i - 1].sequence - fb->received[0].sequence))
                std::abort();
        bwe.on_feedback(*fb, now += 50ms);
        const auto bps = bwe.target_bps();
        if (bps < config.min_bps || bps > config.max_bps) std::abort();
    }
    return 0;
}
