// libFuzzer target: the mDNS response parser (RFC 1035 §4, RFC 6762) on
// arbitrary input. The first byte picks the name looked up; the rest is the
// message. Must never crash, hang or read out of bounds (compression pointer
// loops included); every address found must be an A (4-byte) or AAAA
// (16-byte) one, each reported once. A query we make for a name taken from
// the input is never an answer to itself.
#include "proto/mdns/message.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::mdns;
    namespace base = duplex::base;
    if (size < 1) return 0;
    static constexpr std::string_view names[] = {"host.local", "HOST.local.", "a.b.local", "local", "x"};
    const std::string_view name = names[data[0] % std::size(names)];
    const base::Bytes msg(reinterpret_cast<const std::byte*>(data + 1), size - 1);

    auto ips = parse_answers(msg, name);
    for (std::size_t i = 0; i < ips.size(); ++i) {
        if (ips[i].size() != 4 && ips[i].size() != 16) __builtin_trap();
        if (std::find(ips.begin() + static_cast<std::ptrdiff_t>(i) + 1, ips.end(), ips[i]) != ips.end())
            __builtin_trap();
    }
    // The input, read as text, as a name to query: valid or refused, and a
    // query is never taken for a response.
    const std::string_view text(reinterpret_cast<const char*>(data + 1), std::min<std::size_t>(size - 1, 300));
    auto q = make_query(text, static_cast<std::uint16_t>(size));
    if (!q.empty() && !parse_answers(q, text).empty()) __builtin_trap();
    return 0;
}
