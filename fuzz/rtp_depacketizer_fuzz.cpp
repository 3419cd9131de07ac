// libFuzzer target: the depacketizers (Opus, VP8, H.264) on arbitrary
// payloads, and the packetizers on arbitrary frames. Must never crash; a
// depacketizer that refuses a payload leaves the frame as it was; what a
// packetizer makes, its depacketizer reads back (H.264: every NAL unit).
#include "proto/rtp/payload_format.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::rtp;
    if (size < 3) return 0;
    const Codec codec = static_cast<Codec>(data[0] % 3);
    const std::size_t max = 8 + (static_cast<std::size_t>(data[1]) << 3);
    const duplex::base::Bytes rest(reinterpret_cast<const std::byte*>(data + 2), size - 2);
    auto d = make_depacketizer(codec);
    // The input as payloads: each prefixed by its length byte.
    std::vector<std::byte> frame;
    for (std::size_t pos = 0; pos < rest.size();) {
        const std::size_t len = std::min<std::size_t>(std::to_integer<std::size_t>(rest[pos]), rest.size() - pos - 1);
        const auto payload = rest.subspan(pos + 1, len);
        pos += 1 + len;
        (void)d->starts_frame(payload);
        (void)d->is_key_frame(payload);
        const auto before = frame.size();
        if (!d->append(payload, frame) && frame.size() != before) __builtin_trap();
    }
    // The input as a frame through the packetizer and back.
    auto p = make_packetizer(codec);
    p->start(rest, max);
    std::vector<std::byte> buf(max), back;
    std::size_t count = 0;
    for (;;) {
        bool last = false;
        const std::size_t n = p->next(buf, last);
        if (n == 0) break;
        if (n > max || ++count > rest.size() + 8) __builtin_trap();
        if (!d->append(duplex::base::Bytes(buf.data(), n), back)) __builtin_trap();
    }
    if (codec != Codec::H264 && count > 0 && back.size() != rest.size()) __builtin_trap();
    return 0;
}
