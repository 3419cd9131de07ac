// proto/dcep/message.cpp: DATA_CHANNEL_OPEN / DATA_CHANNEL_ACK (RFC 8832 §5)
// and the PPIDs of WebRTC data channels.
#include "proto/dcep/message.hpp"

#include "base/utf8.hpp"

#include <cstring>

namespace duplex::proto::dcep {

namespace {

class DcepCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "dcep"; }
    std::string message(int ev) const override {
        switch (static_cast<DcepError>(ev)) {
            case DcepError::too_short: return "DCEP message truncated";
            case DcepError::unknown_message_type: return "unknown DCEP message type";
            case DcepError::unknown_channel_type: return "unknown data channel type";
            case DcepError::bad_length: return "DCEP lengths do not match the message size";
            case DcepError::invalid_utf8: return "data channel label or protocol is not UTF-8";
            case DcepError::stream_in_use: return "SCTP stream already in use";
            case DcepError::stream_out_of_range: return "SCTP stream id out of range";
            case DcepError::wrong_parity: return "stream id of the wrong parity for the peer's DTLS role";
            case DcepError::streams_exhausted: return "no free SCTP stream id";
            case DcepError::unknown_stream: return "no data channel on that stream";
            case DcepError::unexpected_ack: return "DATA_CHANNEL_ACK for a channel not waiting for one";
            case DcepError::no_open_to_send: return "no DATA_CHANNEL_OPEN of ours left to send on that stream";
        }
        return "unknown DCEP error";
    }
};

std::optional<Message> fail(std::error_code* error, DcepError e) {
    if (error) *error = e;
    return std::nullopt;
}

}  // namespace

const std::error_category& dcep_category() noexcept {
    static const DcepCategory category;
    return category;
}

std::optional<PayloadInfo> classify_ppid(std::uint32_t ppid) noexcept {
    switch (static_cast<Ppid>(ppid)) {
        case Ppid::Dcep: return PayloadInfo{PayloadKind::Control, false};
        case Ppid::String:
        case Ppid::StringPartial: return PayloadInfo{PayloadKind::String, false};
        case Ppid::Binary:
        case Ppid::BinaryPartial: return PayloadInfo{PayloadKind::Binary, false};
        case Ppid::StringEmpty: return PayloadInfo{PayloadKind::String, true};
        case Ppid::BinaryEmpty: return PayloadInfo{PayloadKind::Binary, true};
    }
    return std::nullopt;
}

Ppid ppid_for(bool binary, bool empty) noexcept {
    if (binary) return empty ? Ppid::BinaryEmpty : Ppid::Binary;
    return empty ? Ppid::StringEmpty : Ppid::String;
}

bool is_known_channel_type(std::uint8_t type) noexcept {
    switch (static_cast<ChannelType>(type)) {
        case ChannelType::Reliable:
        case ChannelType::ReliableUnordered:
        case ChannelType::PartialReliableRexmit:
        case ChannelType::PartialReliableRexmitUnordered:
        case ChannelType::PartialReliableTimed:
        case ChannelType::PartialReliableTimedUnordered: return true;
    }
    return false;
}

std::optional<Message> parse(base::Bytes m, std::error_code* error) {
    if (m.empty()) return fail(error, DcepError::too_short);
    switch (static_cast<MessageType>(std::to_integer<std::uint8_t>(m[0]))) {
        case MessageType::DataChannelAck:
            // §5.2: the message type alone.
            if (m.size() != 1) return fail(error, DcepError::bad_length);
            if (error) error->clear();
            return DataChannelAck{};
        case MessageType::DataChannelOpen: break;
        default: return fail(error, DcepError::unknown_message_type);
    }
    if (m.size() < kOpenHeaderSize) return fail(error, DcepError::too_short);
    const auto type = std::to_integer<std::uint8_t>(m[1]);
    if (!is_known_channel_type(type)) return fail(error, DcepError::unknown_channel_type);
    const std::size_t label_len = base::load_be16(m.data() + 8);
    const std::size_t protocol_len = base::load_be16(m.data() + 10);
    if (kOpenHeaderSize + label_len + protocol_len != m.size()) return fail(error, DcepError::bad_length);
    const base::Bytes label = m.subspan(kOpenHeaderSize, label_len);
    const base::Bytes protocol = m.subspan(kOpenHeaderSize + label_len, protocol_len);
    if (!base::is_valid_utf8(label) || !base::is_valid_utf8(protocol)) return fail(error, DcepError::invalid_utf8);

    DataChannelOpen open;
    open.channel_type = static_cast<ChannelType>(type);
    open.priority = base::load_be16(m.data() + 2);
    open.reliability_parameter = base::load_be32(m.data() + 4);
    open.label.assign(base::as_string_view(label));
    open.protocol.assign(base::as_string_view(protocol));
    if (error) error->clear();
    return open;
}

base::Result<std::vector<std::byte>> encode(const DataChannelOpen& open) {
    if (open.label.size() > kMaxLabelSize || open.protocol.size() > kMaxProtocolSize) return Errc::invalid_argument;
    std::vector<std::byte> out(kOpenHeaderSize + open.label.size() + open.protocol.size());
    out[0] = std::byte{static_cast<std::uint8_t>(MessageType::DataChannelOpen)};
    out[1] = std::byte{static_cast<std::uint8_t>(open.channel_type)};
    base::store_be16(out.data() + 2, open.priority);
    base::store_be32(out.data() + 4, open.reliability_parameter);
    base::store_be16(out.data() + 8, static_cast<std::uint16_t>(open.label.size()));
    base::store_be16(out.data() + 10, static_cast<std::uint16_t>(open.protocol.size()));
    if (!open.label.empty()) std::memcpy(out.data() + kOpenHeaderSize, open.label.data(), open.label.size());
    if (!open.protocol.empty())
        std::memcpy(out.data() + kOpenHeaderSize + open.label.size(), open.protocol.data(), open.protocol.size());
    return out;
}

std::vector<std::byte> encode_ack() { return {std::byte{static_cast<std::uint8_t>(MessageType::DataChannelAck)}}; }

}  // namespace duplex::proto::dcep
