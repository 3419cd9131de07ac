// Autobahn|Testsuite families 12 and 13 (permessage-deflate), ported: every
// offer of section 13 is negotiated by our server code and accepted by our
// client code; then many compressed messages of 16 B .. 128 KiB, whole or
// fragmented at 256 bytes, text (compressible) and binary (random), go from
// the client to an echo server and back, and must arrive intact in order.
#include "proto/ws/connection.hpp"
#include "proto/ws/deflate.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace duplex;
using namespace duplex::proto::ws;
using namespace duplex::test;

namespace {

struct DeflateCase {
    std::string id;
    std::string offer;        // the client's Sec-WebSocket-Extensions
    bool server_no_context;   // the server's own configuration
    std::size_t size;
    std::size_t fragment;     // 0: one frame per message
    bool binary;
};

std::string payload_for(const DeflateCase& k, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(k.size, '\0');
    if (k.binary) {
        for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    } else {
        static const char* words[] = {"Hello, ", "world! ", "duplex ", "deflate ", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "};
        std::string t;
        while (t.size() < k.size) t += words[rng() % 5];
        t.resize(k.size);
        while (!base::is_valid_utf8(t)) t.pop_back();
        s = t;
    }
    return s;
}

class AutobahnDeflate : public ::testing::TestWithParam<DeflateCase> {};

TEST_P(AutobahnDeflate, NegotiatedAndEchoedIntact) {
    const auto& k = GetParam();
    DeflateConfig server_cfg;
    server_cfg.enabled = true;
    server_cfg.threshold = 0;
    server_cfg.no_context_takeover = k.server_no_context;
    auto offers = parse_extensions(k.offer);
    ASSERT_TRUE(offers);
    auto agreed = negotiate_deflate(*offers, server_cfg);
    ASSERT_TRUE(agreed) << k.offer;
    auto response = parse_extensions(agreed->response);
    ASSERT_TRUE(response && response->size() == 1);
    // The client's side of the agreement, from the response it got.
    DeflateConfig client_cfg;
    client_cfg.enabled = true;
    auto client_params = accept_deflate_response(response->front(), client_cfg);
    ASSERT_TRUE(client_params) << agreed->response;
    EXPECT_EQ(client_params->remote_max_window_bits, agreed->params.local_max_window_bits);
    EXPECT_EQ(client_params->remote_no_context_takeover, agreed->params.local_no_context_takeover);

    proto::ws::Options so;
    so.deflate = proto::ws::Options::Deflate{agreed->params, 0, -1, 8, nullptr};
    proto::ws::Options co;
    co.deflate = proto::ws::Options::Deflate{*client_params, 0, -1, 8, nullptr};
    Harness server(Role::Server, so), client(Role::Client, co);

    // The client compresses with its agreed window and context rule, and
    // fragments the compressed payload itself (RSV1 on the first frame only).
    Deflater z(client_params->local_max_window_bits, 8, -1);
    std::vector<std::string> sent;
    std::vector<std::byte> wire;
    for (unsigned m = 0; m < 40; ++m) {
        sent.push_back(payload_for(k, m));
        std::vector<std::byte> c;
        ASSERT_TRUE(z.compress(base::as_bytes(sent.back()), client_params->local_no_context_takeover, c));
        const auto cz = base::as_string_view(c);
        const std::size_t frag = k.fragment ? k.fragment : cz.size();
        for (std::size_t pos = 0; pos < cz.size(); pos += frag) {
            const bool first = pos == 0, fin = pos + frag >= cz.size();
            const std::uint8_t b0 = static_cast<std::uint8_t>((fin ? 0x80 : 0) | (first ? 0x40 | (k.binary ? 2 : 1) : 0));
            auto f = frame(b0, cz.substr(pos, frag), true);
            wire.insert(wire.end(), f.begin(), f.end());
        }
    }
    server.feed(wire, {997, 1300});
    auto at_server = server.messages();
    ASSERT_EQ(at_server.size(), sent.size()) << (server.closed() ? server.closed()->error.message() : "");
    for (const auto& m : at_server) ASSERT_TRUE(server.conn.send(base::as_bytes(m.data), m.binary).ok());
    // The server's echoes, compressed with its agreed window, back to the client.
    std::vector<std::byte> back(server.conn.tx().data().begin(), server.conn.tx().data().end());
    server.conn.tx().clear();
    client.feed(back);
    auto at_client = client.messages();
    ASSERT_EQ(at_client.size(), sent.size()) << (client.closed() ? client.closed()->error.message() : "");
    for (std::size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(at_server[i].data, sent[i]) << i;
        EXPECT_EQ(at_client[i].data, sent[i]) << i;
        EXPECT_EQ(at_client[i].binary, k.binary);
    }
}

std::vector<DeflateCase> cases() {
    // Section 13's offers (client side), then section 12's default offer.
    const std::vector<std::pair<std::string, std::string>> offers = {
        {"13_1", "permessage-deflate; client_max_window_bits"},
        {"13_2", "permessage-deflate; server_no_context_takeover; client_max_window_bits"},
        {"13_3", "permessage-deflate; server_max_window_bits=8; client_max_window_bits"},
        {"13_4", "permessage-deflate; server_max_window_bits=15; client_max_window_bits"},
        {"13_5", "permessage-deflate; server_no_context_takeover; server_max_window_bits=8"},
        {"13_6", "permessage-deflate; server_no_context_takeover; server_max_window_bits=15"},
        {"13_7", "permessage-deflate; server_no_context_takeover; server_max_window_bits=8, "
                 "permessage-deflate; server_no_context_takeover, permessage-deflate"},
        {"12", "permessage-deflate"},
    };
    std::vector<DeflateCase> out;
    for (const auto& [id, offer] : offers) {
        for (bool server_no_context : {false, true}) {
            for (std::size_t size : {16u, 64u, 256u, 1024u, 4096u, 8192u, 16384u, 32768u, 65536u, 131072u}) {
                for (std::size_t frag : {0u, 256u}) {
                    for (bool binary : {false, true}) {
                        if (id != "12" && binary) continue;  // section 13 sends text
                        out.push_back({id + (server_no_context ? "_srvnoctx" : "") + "_" + std::to_string(size) + "_f" +
                                           std::to_string(frag) + (binary ? "_bin" : "_txt"),
                                       offer, server_no_context, size, frag, binary});
                    }
                }
            }
        }
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(S12S13Deflate, AutobahnDeflate, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<DeflateCase>& p) { return "c" + p.param.id; });

}  // namespace
