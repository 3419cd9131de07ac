// permessage-deflate (RFC 7692): negotiation in both roles, the codec, and the
// connection rules (RSV1, decompression limits), with real zlib streams.
#include "proto/ws/connection.hpp"
#include "proto/ws/deflate.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

using namespace duplex;
using namespace duplex::proto::ws;
using namespace duplex::test;

namespace {

std::vector<ExtensionOffer> offers(const std::string& header) {
    auto parsed = parse_extensions(header);
    EXPECT_TRUE(parsed) << header;
    return parsed.value_or(std::vector<ExtensionOffer>{});
}

DeflateConfig on() {
    DeflateConfig c;
    c.enabled = true;
    return c;
}

std::string text_of(std::size_t n, unsigned seed) {
    // Compressible but not trivial: words from a small vocabulary.
    static const char* words[] = {"duplex ", "socket ", "frame ", "deflate ", "window ", "message ", "\xce\xba\xe1\xbd\xb9 "};
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < n) s += words[rng() % 7];
    s.resize(n);
    while (!base::is_valid_utf8(s)) s.pop_back();
    return s;
}

}  // namespace

TEST(DeflateNegotiation, AcceptsWhatBrowsersNodeAndPythonOffer) {
    // Chromium and Node ws: "permessage-deflate; client_max_window_bits".
    auto a = negotiate_deflate(offers("permessage-deflate; client_max_window_bits"), on());
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate");
    EXPECT_EQ(a->params.local_max_window_bits, 15);
    // Python websockets (client): both window parameters.
    auto b = negotiate_deflate(offers("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"), on());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->response, "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    EXPECT_EQ(b->params.local_max_window_bits, 12);
    EXPECT_EQ(b->params.remote_max_window_bits, 12);
    // Context takeover flags are echoed as agreed.
    auto c = negotiate_deflate(offers("permessage-deflate; server_no_context_takeover; client_no_context_takeover"), on());
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->params.local_no_context_takeover);
    EXPECT_TRUE(c->params.remote_no_context_takeover);
    EXPECT_EQ(c->response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST(DeflateNegotiation, DeclinesInvalidOffersAndTakesTheNextOne) {
    for (const char* bad : {"permessage-deflate; foo", "permessage-deflate; server_max_window_bits",
                            "permessage-deflate; server_max_window_bits=7", "permessage-deflate; server_max_window_bits=16",
                            "permessage-deflate; server_max_window_bits=08", "permessage-deflate; client_max_window_bits=1a",
                            "permessage-deflate; server_no_context_takeover=1",
                            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                            "x-webkit-deflate-frame"}) {
        EXPECT_FALSE(negotiate_deflate(offers(bad), on())) << bad;
        auto next = negotiate_deflate(offers(std::string(bad) + ", permessage-deflate; server_no_context_takeover"), on());
        ASSERT_TRUE(next) << bad;
        EXPECT_EQ(next->response, "permessage-deflate; server_no_context_takeover");
    }
    EXPECT_FALSE(negotiate_deflate(offers("permessage-deflate"), DeflateConfig{}));  // disabled
}

TEST(DeflateNegotiation, AnswersTheSameOrASmallerWindow) {
    DeflateConfig c = on();
    c.max_window_bits = 10;
    auto a = negotiate_deflate(offers("permessage-deflate; server_max_window_bits=12"), c);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->response, "permessage-deflate; server_max_window_bits=10");
    // Asked for 8 (which zlib's deflate cannot do): we answer 8, as §7.1.2.1
    // requires, and compress with 9, whose matches never reach past 250 bytes.
    auto b = negotiate_deflate(offers("permessage-deflate; server_max_window_bits=8"), on());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->params.local_max_window_bits, 8);
    EXPECT_EQ(b->response, "permessage-deflate; server_max_window_bits=8");
    // We only send client_max_window_bits to a client that offered it.
    DeflateConfig small = on();
    small.request_peer_max_window_bits = 10;
    EXPECT_EQ(negotiate_deflate(offers("permessage-deflate"), small)->response, "permessage-deflate");
    EXPECT_EQ(negotiate_deflate(offers("permessage-deflate; client_max_window_bits"), small)->response,
              "permessage-deflate; client_max_window_bits=10");
}

TEST(DeflateNegotiation, ClientChecksTheResponse) {
    DeflateConfig c = on();
    EXPECT_EQ(deflate_offer(c), "permessage-deflate; client_max_window_bits");
    auto ok = accept_deflate_response(offers("permessage-deflate; server_no_context_takeover; client_max_window_bits=10")[0], c);
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->remote_no_context_takeover);
    EXPECT_EQ(ok->local_max_window_bits, 10);
    EXPECT_FALSE(accept_deflate_response(offers("permessage-deflate; unknown")[0], c));
    EXPECT_FALSE(accept_deflate_response(offers("permessage-deflate; client_max_window_bits")[0], c));  // needs a value
    c.request_peer_max_window_bits = 10;
    EXPECT_FALSE(accept_deflate_response(offers("permessage-deflate; server_max_window_bits=12")[0], c));
}

TEST(DeflateCodec, NineBitOutputInflatesWithAnEightBitWindow) {
    // The claim behind answering server_max_window_bits=8: a stream from
    // zlib's deflate at 9 bits never references more than 256 bytes back.
    Deflater d(8, 8, 9);
    z_stream z{};
    ASSERT_EQ(inflateInit2(&z, -8), Z_OK);
    std::vector<std::byte> out;
    for (unsigned m = 0; m < 40; ++m) {
        const std::string msg = text_of(2000 + m * 97, m);
        ASSERT_TRUE(d.compress(base::as_bytes(msg), false, out));
        out.insert(out.end(), {std::byte{0}, std::byte{0}, std::byte{0xff}, std::byte{0xff}});
        std::string back(msg.size() + 64, '\0');
        z.next_in = reinterpret_cast<Bytef*>(out.data());
        z.avail_in = static_cast<uInt>(out.size());
        z.next_out = reinterpret_cast<Bytef*>(back.data());
        z.avail_out = static_cast<uInt>(back.size());
        ASSERT_EQ(inflate(&z, Z_SYNC_FLUSH), Z_OK) << m;
        back.resize(back.size() - z.avail_out);
        ASSERT_EQ(back, msg) << m;
    }
    inflateEnd(&z);
}

TEST(DeflateCodec, RoundTripsWithAndWithoutContextTakeover) {
    for (bool reset : {false, true}) {
        Deflater d(15, 8, -1);
        Inflater inf;
        std::vector<std::byte> wire;
        std::size_t total_wire = 0;
        for (unsigned m = 0; m < 20; ++m) {
            const std::string msg = m == 5 ? std::string() : text_of(100 + m * 300, 7);
            ASSERT_TRUE(d.compress(base::as_bytes(msg), reset, wire));
            total_wire += wire.size();
            std::vector<std::byte> out;
            ASSERT_EQ(inf.inflate(wire, out, 1 << 20), Inflater::Status::Ok);
            ASSERT_EQ(inf.finish(out, 1 << 20, reset), Inflater::Status::Ok);
            EXPECT_EQ(base::as_string_view(out), msg) << m;
        }
        EXPECT_LT(total_wire, 20u * 1000u);
    }
}

namespace {
proto::ws::Options with_deflate(bool no_context = false, std::uint64_t max = 16u << 20) {
    proto::ws::Options o;
    o.max_message_size = max;
    o.max_frame_size = max;
    o.deflate = proto::ws::Options::Deflate{};
    o.deflate->params.local_no_context_takeover = no_context;
    o.deflate->params.remote_no_context_takeover = no_context;
    o.deflate->threshold = 16;
    return o;
}

/// Moves what `from` wrote into `to`, as a transport would.
void pipe(Harness& from, Harness& to) {
    auto bytes = std::vector<std::byte>(from.conn.tx().data().begin(), from.conn.tx().data().end());
    from.conn.tx().clear();
    to.feed(bytes);
}
}  // namespace

TEST(DeflateConnection, ClientAndServerExchangeCompressedMessages) {
    for (bool no_context : {false, true}) {
        Harness client(Role::Client, with_deflate(no_context));
        Harness server(Role::Server, with_deflate(no_context));
        std::vector<std::string> sent;
        for (unsigned m = 0; m < 10; ++m) {
            sent.push_back(text_of(m == 3 ? 5 : 50 + m * 1000, m));
            ASSERT_TRUE(client.conn.send_text(sent.back()).ok());
            ASSERT_TRUE(server.conn.send_binary(base::as_bytes(sent.back())).ok());
        }
        pipe(client, server);
        pipe(server, client);
        auto at_server = server.messages(), at_client = client.messages();
        ASSERT_EQ(at_server.size(), sent.size());
        ASSERT_EQ(at_client.size(), sent.size());
        for (std::size_t i = 0; i < sent.size(); ++i) {
            EXPECT_EQ(at_server[i].data, sent[i]);
            EXPECT_FALSE(at_server[i].binary);
            EXPECT_EQ(at_client[i].data, sent[i]);
            EXPECT_TRUE(at_client[i].binary);
        }
    }
}

TEST(DeflateConnection, Rsv1MarksCompressedFramesOnly) {
    Harness server(Role::Server, with_deflate());
    ASSERT_TRUE(server.conn.send_text(text_of(500, 1)).ok());
    ASSERT_TRUE(server.conn.send_text("tiny").ok());
    ASSERT_TRUE(server.conn.ping({}).ok());
    auto frames = server.take_frames();
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].rsv, 4);
    EXPECT_LT(frames[0].payload.size(), 500u);
    EXPECT_EQ(frames[1].rsv, 0);
    EXPECT_EQ(frames[1].payload, "tiny");
    EXPECT_EQ(frames[2].rsv, 0);
}

TEST(DeflateConnection, Rsv1OnControlOrContinuationFramesFails) {
    {
        Harness h(Role::Server, with_deflate());
        h.feed(frame(0xC9, "", true));  // ping with RSV1
        ASSERT_TRUE(h.closed());
        EXPECT_EQ(h.closed()->code, 1002);
    }
    {
        Harness h(Role::Server, with_deflate());
        h.feed(concat({frame(0x01, "a", true), frame(0xC0, "b", true)}));  // RSV1 on a continuation
        ASSERT_TRUE(h.closed());
        EXPECT_EQ(h.closed()->code, 1002);
    }
    {
        Harness h(Role::Server);  // not negotiated
        h.feed(frame(0xC1, "x", true));
        ASSERT_TRUE(h.closed());
        EXPECT_EQ(h.closed()->code, 1002);
    }
}

TEST(DeflateConnection, DecompressionBombIsStoppedWith1009) {
    // 64 MiB of zeros compress to ~64 KiB; the limit is 1 MiB.
    Deflater d(15, 8, 9);
    std::vector<std::byte> wire;
    const std::vector<std::byte> zeros(64u << 20);
    ASSERT_TRUE(d.compress(zeros, true, wire));
    ASSERT_LT(wire.size(), 128u << 10);
    Harness h(Role::Server, with_deflate(false, 1u << 20));
    h.feed(frame(0xC2, base::as_string_view(wire), true));
    ASSERT_TRUE(h.closed());
    EXPECT_EQ(h.closed()->code, 1009);
    EXPECT_LT(h.conn.tx().size(), 64u);
}

TEST(DeflateConnection, CorruptStreamFailsWith1007AndBadUtf8Too) {
    {
        Harness h(Role::Server, with_deflate());
        h.feed(frame(0xC1, "\xff\xff\xff\xff\xff", true));
        ASSERT_TRUE(h.closed());
        EXPECT_EQ(h.closed()->code, 1007);
    }
    {
        Deflater d(15, 8, -1);
        std::vector<std::byte> wire;
        const std::string bad = "valid text then \xed\xa0\x80 a surrogate";
        ASSERT_TRUE(d.compress(base::as_bytes(bad), true, wire));
        Harness h(Role::Server, with_deflate());
        h.feed(frame(0xC1, base::as_string_view(wire), true));
        ASSERT_TRUE(h.closed());
        EXPECT_EQ(h.closed()->code, 1007);
    }
}

TEST(DeflateConnection, FragmentedCompressedMessageAtEverySplit) {
    Deflater d(15, 8, -1);
    std::vector<std::byte> wire;
    const std::string msg = text_of(3000, 3);
    ASSERT_TRUE(d.compress(base::as_bytes(msg), true, wire));
    const auto z = base::as_string_view(wire);
    const auto input = concat({frame(0x41, z.substr(0, z.size() / 3), true), frame(0x89, "p", true),
                               frame(0x00, z.substr(z.size() / 3, z.size() / 3), true),
                               frame(0x80, z.substr(2 * (z.size() / 3)), true)});
    for_each_split(input, [&](std::vector<std::size_t> cuts) {
        Harness h(Role::Server, with_deflate(true));
        h.feed(input, cuts);
        ASSERT_EQ(h.messages().size(), 1u);
        EXPECT_EQ(h.messages()[0].data, msg);
    });
}
