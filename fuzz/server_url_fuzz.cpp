// libFuzzer target: an ICE server URL of any bytes (RFC 7064/7065). Must
// never crash; what parses writes a canonical form that parses to itself.
#include "proto/ice/server_url.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto url = duplex::proto::ice::parse_server_url(text);
    if (!url) return 0;
    const auto canonical = url->to_string();
    auto again = duplex::proto::ice::parse_server_url(canonical);
    if (!again || again->to_string() != canonical || again->port != url->port || again->host != url->host ||
        again->scheme != url->scheme || again->transport != url->transport)
        std::abort();
    return 0;
}
