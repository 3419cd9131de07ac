// libFuzzer target: what a Redis server (or a stranger on its port) may
// send us, in pieces of any size, and Redis URLs of any bytes. The reader
// must never crash, never hold more than its reply limit, and give the same
// replies however the bytes were split.
#include "proto/redis/resp.hpp"
#include "proto/redis/url.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace duplex;

namespace {
std::string replay(const std::uint8_t* data, std::size_t size, std::size_t step, std::string& error) {
    proto::redis::ReaderLimits l;
    l.max_bulk = 4096;
    l.max_elements = 64;
    l.max_line = 256;
    l.max_reply = 16384;
    proto::redis::Reader r(l);
    std::string shape;
    for (std::size_t at = 0; at < size; at += step) {
        const std::size_t n = std::min(step, size - at);
        r.feed(base::Bytes{reinterpret_cast<const std::byte*>(data + at), n});
        while (auto v = r.next()) {
            shape += static_cast<char>('0' + static_cast<int>(v->kind));
            shape += std::to_string(v->text.size() + v->elements.size());
        }
        if (r.held() > l.max_reply + step) std::abort();  // held past the bound
    }
    error = r.error();
    return shape;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string e1, e7;
    const auto whole = replay(data, size, size ? size : 1, e1);
    const auto pieces = replay(data, size, 7, e7);
    // Split or not, the same replies; an error may only come later when split.
    if (e1.empty() && e7.empty() && whole != pieces) std::abort();
    proto::redis::ServerUrl u;
    std::string why;
    if (proto::redis::parse_server_url(std::string_view(reinterpret_cast<const char*>(data), size), u, why)) {
        (void)u.redacted();
    } else if (why.empty()) {
        std::abort();  // a refusal always says why
    }
    return 0;
}
