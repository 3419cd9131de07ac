// Google Benchmark micro-benchmarks of the hot paths: frame header parse and
// serialise, unmasking, UTF-8 validation, deflate/inflate, HTTP head parse,
// and a whole echo through the server machine. Timing goals live here,
// never in unit tests.
#include "base/utf8.hpp"
#include "proto/http/head_parser.hpp"
#include "proto/ws/connection.hpp"
#include "proto/ws/deflate.hpp"
#include "proto/ws/frame.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::proto;

namespace {

std::vector<std::byte> masked_frame(std::size_t len) {
    std::vector<std::byte> f(ws::kMaxHeaderLen + len);
    const ws::MaskKey key{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    const auto h = ws::write_frame_header(f.data(), true, ws::Opcode::Text, len, &key);
    std::vector<std::byte> payload(len, std::byte{'a'});
    if (len) ws::copy_masked(f.data() + h, payload, key);
    f.resize(h + len);
    return f;
}

void BM_FrameHeaderParse(benchmark::State& state) {
    const auto f = masked_frame(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto r = ws::parse_frame_header(f);
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(BM_FrameHeaderParse)->Arg(16)->Arg(300)->Arg(70000);

void BM_FrameHeaderWrite(benchmark::State& state) {
    std::byte out[ws::kMaxHeaderLen];
    const ws::MaskKey key{};
    std::uint64_t len = 16;
    for (auto _ : state) {
        benchmark::DoNotOptimize(ws::write_frame_header(out, true, ws::Opcode::Binary, len, &key));
        len = (len * 7 + 1) & 0xfffff;
    }
}
BENCHMARK(BM_FrameHeaderWrite);

void BM_Unmask(benchmark::State& state) {
    std::vector<std::byte> data(static_cast<std::size_t>(state.range(0)), std::byte{0x5a});
    const ws::MaskKey key{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    for (auto _ : state) {
        ws::apply_mask(data, key, 0);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Unmask)->Arg(16)->Arg(1024)->Arg(65536)->Arg(1 << 20);

void BM_Utf8(benchmark::State& state) {
    std::string s;
    const bool ascii = state.range(1) == 0;
    while (s.size() < static_cast<std::size_t>(state.range(0))) s += ascii ? "hello world " : "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 ";
    for (auto _ : state) benchmark::DoNotOptimize(base::is_valid_utf8(s));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(s.size()));
}
BENCHMARK(BM_Utf8)->Args({1 << 20, 0})->Args({1 << 20, 1})->Args({64, 0});

void BM_Deflate(benchmark::State& state) {
    std::string s;
    std::mt19937 rng(1);
    static const char* words[] = {"duplex ", "websocket ", "frame ", "message ", "topic "};
    while (s.size() < static_cast<std::size_t>(state.range(0))) s += words[rng() % 5];
    ws::Deflater d(15, 8, -1);
    std::vector<std::byte> out;
    for (auto _ : state) benchmark::DoNotOptimize(d.compress(base::as_bytes(s), state.range(1) != 0, out));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(s.size()));
}
BENCHMARK(BM_Deflate)->Args({16384, 0})->Args({16384, 1})->Args({256, 0})->Args({256, 1});

void BM_Inflate(benchmark::State& state) {
    std::string s;
    std::mt19937 rng(1);
    static const char* words[] = {"duplex ", "websocket ", "frame ", "message ", "topic "};
    while (s.size() < static_cast<std::size_t>(state.range(0))) s += words[rng() % 5];
    ws::Deflater d(15, 8, -1);
    std::vector<std::byte> z;
    d.compress(base::as_bytes(s), true, z);
    ws::Inflater inf;
    std::vector<std::byte> out;
    out.reserve(s.size() + 64);
    for (auto _ : state) {
        out.clear();
        inf.inflate(z, out, 1 << 24);
        inf.finish(out, 1 << 24, true);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(s.size()));
}
BENCHMARK(BM_Inflate)->Arg(256)->Arg(16384);

void BM_HttpHeadParse(benchmark::State& state) {
    const std::string req =
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
        "Sec-WebSocket-Version: 13\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    for (auto _ : state) {
        http::HeadParser p(http::HeadKind::Request);
        p.feed(base::as_bytes(req));
        benchmark::DoNotOptimize(p.state());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(req.size()));
}
BENCHMARK(BM_HttpHeadParse);

// A server machine echoing N small masked frames that arrive in one read: the
// per-message cost of the protocol core (the syscalls are not in it).
void BM_ServerEchoMachine(benchmark::State& state) {
    const auto one = masked_frame(static_cast<std::size_t>(state.range(0)));
    std::vector<std::byte> batch;
    for (int i = 0; i < 64; ++i) batch.insert(batch.end(), one.begin(), one.end());
    ws::Connection c(ws::Role::Server);
    std::vector<std::byte> work(batch.size());
    for (auto _ : state) {
        std::copy(batch.begin(), batch.end(), work.begin());  // unmasking happens in place
        base::MutableBytes in(work);
        while (!in.empty()) {
            in = in.subspan(c.handle_bytes(in, {}));
            while (auto ev = c.poll_event())
                if (auto* m = std::get_if<ws::MessageEvent>(&*ev)) (void)c.send(m->data, m->binary);
        }
        c.tx().clear();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 64);
}
BENCHMARK(BM_ServerEchoMachine)->Arg(16)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
