// proto/turn/channel_data.cpp: ChannelData and stream framing (RFC 8656 §12.4, §12.5).
#include "proto/turn/channel_data.hpp"

#include "base/bytes.hpp"

namespace duplex::proto::turn {

std::optional<ChannelData> parse_channel_data(base::Bytes message) noexcept {
    if (message.size() < kChannelHeaderSize) return std::nullopt;
    const auto channel = base::load_be16(message.data());
    const auto length = base::load_be16(message.data() + 2);
    if (channel < kMinChannel || channel > kMaxChannel) return std::nullopt;
    if (message.size() - kChannelHeaderSize < length) return std::nullopt;  // §12.6: too short
    return ChannelData{channel, message.subspan(kChannelHeaderSize, length)};
}

void write_channel_header(std::byte* out, std::uint16_t channel, std::uint16_t length) noexcept {
    base::store_be16(out, channel);
    base::store_be16(out + 2, length);
}

std::optional<std::size_t> stream_frame_size(base::Bytes buffer) noexcept {
    if (buffer.size() < 4) return std::nullopt;
    const auto first = std::to_integer<unsigned>(buffer[0]);
    const std::size_t length = base::load_be16(buffer.data() + 2);
    if (first <= 3) return 20 + length;  // STUN: Length excludes the 20-byte header, already a multiple of 4
    if (first >= 0x40 && first <= 0x4F) return kChannelHeaderSize + length + stream_padding(length);
    return 0;
}

}  // namespace duplex::proto::turn
