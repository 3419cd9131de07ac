// libFuzzer target: RTP packets and their header extensions (RFC 3550,
// RFC 8285) on arbitrary bytes. Must never crash; what parses is written
// back from its parts and must parse to the same parts.
#include "proto/rtp/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::rtp;
    const duplex::base::Bytes in(reinterpret_cast<const std::byte*>(data), size);
    auto p = parse(in);
    if (!p) return 0;
    std::vector<Extension> ext;
    const bool ok = p->for_each_extension([&](const Extension& e) { ext.push_back(e); });
    if (!ok) __builtin_trap();  // parse() accepted elements it cannot walk
    // Ids repeat in a hostile packet; write each once (the first, as extension() finds it).
    std::vector<Extension> unique;
    for (const auto& e : ext) {
        bool seen = false;
        for (const auto& u : unique) seen = seen || u.id == e.id;
        if (!seen && e.id != 0) unique.push_back(e);
    }
    Header h;
    h.marker = p->marker;
    h.payload_type = p->payload_type;
    h.sequence = p->sequence;
    h.timestamp = p->timestamp;
    h.ssrc = p->ssrc;
    h.csrcs = std::span<const std::uint32_t>(p->csrcs.data(), p->csrc_count);
    h.extensions = unique;
    h.padding = p->padding;
    std::vector<std::byte> out(written_size(h, p->payload.size()));
    if (write(h, p->payload, out) != out.size()) return 0;  // e.g. an element too long for either form
    auto q = parse(out);
    if (!q) __builtin_trap();
    if (q->sequence != p->sequence || q->timestamp != p->timestamp || q->ssrc != p->ssrc ||
        q->payload.size() != p->payload.size() || q->csrc_count != p->csrc_count)
        __builtin_trap();
    for (const auto& e : unique) {
        auto got = q->extension(e.id);
        if (!got || got->size() != e.data.size()) __builtin_trap();
    }
    return 0;
}
