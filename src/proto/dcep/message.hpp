// proto/dcep/message.hpp: the Data Channel Establishment Protocol's two
// messages (RFC 8832 §5) and the SCTP payload protocol identifiers of WebRTC
// data channels (RFC 8832 §8.1, RFC 8831 §8).
//
// DATA_CHANNEL_OPEN (§5.1), sent with PPID 50 on the chosen stream:
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Message Type |  Channel Type |            Priority           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Reliability Parameter                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Label Length          |       Protocol Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  \                             Label                             /
//  \                            Protocol                           /
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// Message Type 0x03; the label and protocol are UTF-8, not padded, and the
// message is exactly 12 + Label Length + Protocol Length bytes.
//
// DATA_CHANNEL_ACK (§5.2) is the single byte 0x02.
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace duplex::proto::dcep {

// ---- SCTP payload protocol identifiers (RFC 8831 §8, RFC 8832 §8.1) --------

enum class Ppid : std::uint32_t {
    Dcep = 50,           ///< DATA_CHANNEL_OPEN / DATA_CHANNEL_ACK
    String = 51,         ///< WebRTC String
    BinaryPartial = 52,  ///< WebRTC Binary Partial (deprecated; received as Binary)
    Binary = 53,         ///< WebRTC Binary
    StringPartial = 54,  ///< WebRTC String Partial (deprecated; received as String)
    StringEmpty = 56,    ///< WebRTC String Empty: the payload is one byte, to be ignored
    BinaryEmpty = 57,    ///< WebRTC Binary Empty: likewise
};

enum class PayloadKind { Control, String, Binary };

/// What a received message carries, from its PPID.
struct PayloadInfo {
    PayloadKind kind = PayloadKind::Binary;
    /// PPID 56/57 (RFC 8831 §6.6): an empty message, sent as one byte because
    /// SCTP cannot carry an empty one; deliver it with no data.
    bool empty = false;
    friend bool operator==(const PayloadInfo&, const PayloadInfo&) = default;
};

/// nullopt for a PPID that is not WebRTC's (the message is dropped).
std::optional<PayloadInfo> classify_ppid(std::uint32_t ppid) noexcept;

/// The PPID to send a user message with: 51/53, or 56/57 when it is empty
/// (then send the single byte 0x00 as its payload).
Ppid ppid_for(bool binary, bool empty) noexcept;

// ---- DCEP messages ---------------------------------------------------------

enum class MessageType : std::uint8_t { DataChannelAck = 0x02, DataChannelOpen = 0x03 };

/// §5.1, §8.2.2. Bit 0x80 means unordered.
enum class ChannelType : std::uint8_t {
    Reliable = 0x00,
    ReliableUnordered = 0x80,
    PartialReliableRexmit = 0x01,
    PartialReliableRexmitUnordered = 0x81,
    PartialReliableTimed = 0x02,
    PartialReliableTimedUnordered = 0x82,
};

/// One of the six types above?
bool is_known_channel_type(std::uint8_t type) noexcept;
constexpr bool is_ordered(ChannelType t) noexcept { return (static_cast<std::uint8_t>(t) & 0x80) == 0; }

/// §5.1 "Priority": the values that WebRTC's priorities map to (RFC 8831 §6.4).
inline constexpr std::uint16_t kPriorityBelowNormal = 128;
inline constexpr std::uint16_t kPriorityNormal = 256;
inline constexpr std::uint16_t kPriorityHigh = 512;
inline constexpr std::uint16_t kPriorityExtraHigh = 1024;

inline constexpr std::size_t kOpenHeaderSize = 12;
inline constexpr std::size_t kMaxLabelSize = 65535;     ///< the 16-bit Label Length
inline constexpr std::size_t kMaxProtocolSize = 65535;  ///< the 16-bit Protocol Length

struct DataChannelOpen {
    ChannelType channel_type = ChannelType::Reliable;
    std::uint16_t priority = kPriorityNormal;
    /// Retransmissions (…_REXMIT) or milliseconds (…_TIMED); for the reliable
    /// types the sender puts 0 and the receiver ignores it (§5.1).
    std::uint32_t reliability_parameter = 0;
    std::string label;     // UTF-8
    std::string protocol;  // UTF-8
    friend bool operator==(const DataChannelOpen&, const DataChannelOpen&) = default;
};

struct DataChannelAck {
    friend bool operator==(const DataChannelAck&, const DataChannelAck&) = default;
};

using Message = std::variant<DataChannelOpen, DataChannelAck>;

/// Errors of the codec and of the channel table (one category, "dcep").
enum class DcepError {
    // codec (peer input)
    too_short = 1,         ///< empty, or an OPEN shorter than its 12-byte header
    unknown_message_type,  ///< not 0x02 or 0x03
    unknown_channel_type,  ///< not one of the six types of §5.1
    bad_length,            ///< 12 + label + protocol lengths is not the message size (or an ACK with a payload)
    invalid_utf8,          ///< label or protocol not UTF-8
    // channel table
    stream_in_use,         ///< an OPEN, or a negotiated id, on a stream that is already used
    stream_out_of_range,   ///< a stream id at or over the table's max_streams
    wrong_parity,          ///< an OPEN on a stream of our own parity (§6: even for the DTLS client)
    streams_exhausted,     ///< no free stream id of our parity
    unknown_stream,        ///< no channel on that stream
    unexpected_ack,        ///< an ACK on a channel that is not waiting for one
    no_open_to_send,       ///< take_open() on a channel with no OPEN of ours left to send
};
const std::error_category& dcep_category() noexcept;
inline std::error_code make_error_code(DcepError e) noexcept { return {static_cast<int>(e), dcep_category()}; }

/// Parses one DCEP message (the payload of a PPID 50 message). Never throws;
/// nullopt with `*error` set on malformed input.
std::optional<Message> parse(base::Bytes message, std::error_code* error = nullptr);

/// Encodes an OPEN. Errc::invalid_argument when the label or protocol is
/// longer than 65535 bytes.
base::Result<std::vector<std::byte>> encode(const DataChannelOpen& open);
/// The one-byte ACK.
std::vector<std::byte> encode_ack();

}  // namespace duplex::proto::dcep

template <>
struct std::is_error_code_enum<duplex::proto::dcep::DcepError> : std::true_type {};
