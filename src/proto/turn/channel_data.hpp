// proto/turn/channel_data.hpp: the ChannelData message of TURN (RFC 8656
// §12.4) and the framing of TURN on a stream (TCP, TLS: §12.5).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Channel Number        |            Length             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  /                       Application Data                        /
//  +-------------------------------+
//
// Channel numbers are 0x4000..0x4FFF (§12), so the first byte is 64..79,
// apart from STUN's 0..3 (RFC 7983 §7). On a stream a ChannelData message
// is padded to a multiple of four bytes (§12.5); in a UDP datagram it need
// not be, and bytes past Length are ignored.
#pragma once

#include "base/bytes.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace duplex::proto::turn {

inline constexpr std::uint16_t kMinChannel = 0x4000;
inline constexpr std::uint16_t kMaxChannel = 0x4FFF;
inline constexpr std::size_t kChannelHeaderSize = 4;

struct ChannelData {
    std::uint16_t channel = 0;
    base::Bytes data;  // a view into the message
};

/// A ChannelData message at the start of `message`: nullopt when it is too
/// short for its Length or the channel number is out of range (§12.6:
/// "silently discarded").
std::optional<ChannelData> parse_channel_data(base::Bytes message) noexcept;

/// Writes the 4-byte header for `length` bytes of data on `channel`.
void write_channel_header(std::byte* out, std::uint16_t channel, std::uint16_t length) noexcept;

/// Padding a ChannelData message of `length` data bytes takes on a stream.
constexpr std::size_t stream_padding(std::size_t length) noexcept { return (4 - length % 4) % 4; }

/// On a stream: how long the frame at the start of `buffer` is, padding
/// included, once its first four bytes are there (a STUN message: 20 +
/// Length; ChannelData: 4 + Length + padding). nullopt: not four bytes yet.
/// 0: the first byte is neither STUN nor ChannelData (the stream is broken).
std::optional<std::size_t> stream_frame_size(base::Bytes buffer) noexcept;

}  // namespace duplex::proto::turn
