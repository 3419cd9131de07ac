// Autobahn|Testsuite family 9 (limits and performance), ported: big messages
// whole, fragmented at many frame sizes, sent in chops, and many small ones,
// each echoed by the sans-IO server machine and compared byte for byte.
// (Timing is not asserted here: speed lives in the benchmarks.)
#include "proto/ws/connection.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::test;

namespace {

struct LimitCase {
    std::string id;
    bool binary;
    std::size_t size;       // message payload size
    std::size_t fragment;   // frame payload size (0: one frame)
    std::size_t chop;       // bytes per handle_bytes call (0: all at once)
    std::size_t count = 1;  // messages
};

std::vector<std::byte> message_frames(const LimitCase& k, const std::string& payload) {
    std::vector<std::byte> out;
    const std::size_t frag = k.fragment ? k.fragment : std::max<std::size_t>(payload.size(), 1);
    std::size_t pos = 0;
    bool first = true;
    do {
        const std::size_t n = std::min(frag, payload.size() - pos);
        const bool fin = pos + n == payload.size();
        const std::uint8_t op = first ? (k.binary ? 0x2 : 0x1) : 0x0;
        auto f = frame(static_cast<std::uint8_t>((fin ? 0x80 : 0) | op), std::string_view(payload).substr(pos, n), true);
        out.insert(out.end(), f.begin(), f.end());
        pos += n;
        first = false;
    } while (pos < payload.size());
    return out;
}

class AutobahnLimits : public ::testing::TestWithParam<LimitCase> {};

TEST_P(AutobahnLimits, EchoedIntact) {
    const auto& k = GetParam();
    proto::ws::Options o;
    o.max_message_size = 16u << 20;
    o.max_frame_size = 16u << 20;
    Connection server(Role::Server, o);
    std::string payload(k.size, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(k.binary ? (i * 31) & 0xff : 'a' + i % 26);
    std::vector<std::byte> wire;
    for (std::size_t m = 0; m < k.count; ++m) {
        auto f = message_frames(k, payload);
        wire.insert(wire.end(), f.begin(), f.end());
    }
    std::size_t echoed = 0;
    base::MutableBytes rest(wire);
    const base::Instant t0{};
    while (!rest.empty()) {
        auto piece = rest.first(k.chop ? std::min(k.chop, rest.size()) : rest.size());
        rest = rest.subspan(piece.size());
        while (!piece.empty()) {
            const auto n = server.handle_bytes(piece, t0);
            piece = piece.subspan(n);
            while (auto ev = server.poll_event()) {
                auto* msg = std::get_if<proto::ws::MessageEvent>(&*ev);
                ASSERT_TRUE(msg) << "unexpected event";
                ASSERT_EQ(msg->binary, k.binary);
                ASSERT_EQ(base::as_string_view(msg->data), payload);
                ASSERT_TRUE(server.send(msg->data, msg->binary).ok());
                ++echoed;
            }
        }
        server.tx().clear();  // the echo frames were checked by other tests; keep memory low
    }
    EXPECT_EQ(echoed, k.count);
    EXPECT_EQ(server.state(), proto::ws::State::Open);
}

std::vector<LimitCase> cases() {
    std::vector<LimitCase> out;
    int i = 1;
    // 9.1 / 9.2: one message of 64 KiB .. 16 MiB, text and binary.
    for (std::size_t size : {64u << 10, 256u << 10, 1u << 20, 4u << 20, 8u << 20, 16u << 20}) {
        out.push_back({"9_1_" + std::to_string(i), false, size, 0, 0});
        out.push_back({"9_2_" + std::to_string(i++), true, size, 0, 0});
    }
    // 9.3 / 9.4: 4 MiB fragmented into frames of 64 B .. 4 MiB.
    i = 1;
    for (std::size_t frag : {64u, 256u, 1024u, 4096u, 16384u, 65536u, 262144u, 1048576u, 4194304u}) {
        out.push_back({"9_3_" + std::to_string(i), false, 4u << 20, frag, 0});
        out.push_back({"9_4_" + std::to_string(i++), true, 4u << 20, frag, 0});
    }
    // 9.5 / 9.6: 1 MiB sent in chops of 64 B .. 4 KiB.
    i = 1;
    for (std::size_t chop : {64u, 128u, 256u, 512u, 1024u, 2048u, 4096u}) {
        out.push_back({"9_5_" + std::to_string(i), false, 1u << 20, 0, chop});
        out.push_back({"9_6_" + std::to_string(i++), true, 1u << 20, 0, chop});
    }
    // 9.7 / 9.8: 1000 messages of 0 .. 4 KiB.
    i = 1;
    for (std::size_t size : {0u, 16u, 64u, 256u, 1024u, 4096u}) {
        out.push_back({"9_7_" + std::to_string(i), false, size, 0, 0, 1000});
        out.push_back({"9_8_" + std::to_string(i++), true, size, 0, 0, 1000});
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(S9Limits, AutobahnLimits, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<LimitCase>& p) { return "c" + p.param.id; });

}  // namespace
