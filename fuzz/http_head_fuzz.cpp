// libFuzzer target: the HTTP head parser, fed the input in chunks whose sizes
// come from the input itself, then the WebSocket handshake check on any head
// that parses. Must never crash, hang, or read out of bounds.
#include "proto/http/head_parser.hpp"
#include "proto/ws/handshake.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto;
    if (size == 0) return 0;
    const std::size_t chunk = 1 + data[0] % 17;
    const auto* p = reinterpret_cast<const std::byte*>(data + 1);
    std::size_t left = size - 1;
    for (auto kind : {http::HeadKind::Request, http::HeadKind::Response}) {
        http::HeadParser parser(kind, http::HeadLimits{512, 2048, 32});
        std::size_t off = 0;
        while (off < left && parser.state() == http::HeadState::NeedMore) {
            const std::size_t n = std::min(chunk, left - off);
            const std::size_t used = parser.feed({p + off, n});
            if (used > n) __builtin_trap();
            off += used;
        }
        if (parser.state() == http::HeadState::Complete) {
            if (kind == http::HeadKind::Request) {
                (void)ws::check_upgrade_request(parser.request());
                if (auto ext = parser.request().headers.get("Sec-WebSocket-Extensions")) (void)ws::parse_extensions(*ext);
            } else {
                ws::ClientRequest req;
                req.key = "dGhlIHNhbXBsZSBub25jZQ==";
                req.protocols = {"chat"};
                (void)ws::check_upgrade_response(parser.response(), req);
            }
        }
    }
    return 0;
}
