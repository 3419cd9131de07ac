// proto/dcep/channel_table.cpp: data channels by SCTP stream id (RFC 8832 §6,
// RFC 8831 §6.7, W3C webrtc-pc createDataChannel).
#include "proto/dcep/channel_table.hpp"

#include <algorithm>
#include <limits>

namespace duplex::proto::dcep {

base::Result<WireReliability> to_wire(const Reliability& r) {
    if (r.max_retransmits && r.max_packet_life_time) return Errc::invalid_argument;
    const std::uint8_t unordered = r.ordered ? 0x00 : 0x80;
    if (r.max_retransmits)
        return WireReliability{static_cast<ChannelType>(0x01 | unordered), *r.max_retransmits};
    if (r.max_packet_life_time)
        return WireReliability{static_cast<ChannelType>(0x02 | unordered), *r.max_packet_life_time};
    return WireReliability{static_cast<ChannelType>(0x00 | unordered), 0};
}

Reliability from_wire(ChannelType type, std::uint32_t parameter) noexcept {
    Reliability r;
    r.ordered = is_ordered(type);
    switch (static_cast<std::uint8_t>(type) & 0x7F) {
        case 0x01:
            r.max_retransmits = static_cast<std::uint16_t>(
                std::min<std::uint32_t>(parameter, std::numeric_limits<std::uint16_t>::max()));
            break;
        case 0x02: r.max_packet_life_time = parameter; break;
        default: break;  // reliable: the parameter is ignored (§5.1)
    }
    return r;
}

const char* to_string(ChannelState s) noexcept {
    switch (s) {
        case ChannelState::Connecting: return "connecting";
        case ChannelState::Open: return "open";
        case ChannelState::Closing: return "closing";
        case ChannelState::Closed: return "closed";
    }
    return "unknown";
}

ChannelTable::ChannelTable(Options options) : options_(options) {}

base::Status ChannelTable::check_free(std::uint16_t id) const {
    if (id >= options_.max_streams) return make_error_code(DcepError::stream_out_of_range);
    if (channels_.count(id)) return make_error_code(DcepError::stream_in_use);
    return {};
}

base::Result<std::uint16_t> ChannelTable::allocate_stream_id(bool dtls_is_client) const {
    for (std::uint32_t id = dtls_is_client ? 0 : 1; id < options_.max_streams; id += 2)
        if (!channels_.count(static_cast<std::uint16_t>(id))) return static_cast<std::uint16_t>(id);
    return make_error_code(DcepError::streams_exhausted);
}

base::Status ChannelTable::reserve(std::uint16_t id, const ChannelInit& init) {
    if (auto st = check_free(id); !st) return st;
    if (auto wire = to_wire(init.reliability); !wire) return wire.status();
    Channel c;
    c.stream_id = id;
    c.state = ChannelState::Open;
    c.label = init.label;
    c.protocol = init.protocol;
    c.reliability = init.reliability;
    c.priority = init.priority;
    c.negotiated = true;
    c.local = true;
    c.heard_from_peer = true;  // no DCEP: nothing to wait for
    channels_.emplace(id, std::move(c));
    return {};
}

base::Status ChannelTable::add_local(std::uint16_t id, const ChannelInit& init) {
    if (auto st = check_free(id); !st) return st;
    if (auto wire = to_wire(init.reliability); !wire) return wire.status();
    // §5.1: the lengths are 16-bit fields; refused here so that take_open() cannot fail.
    if (init.label.size() > kMaxLabelSize || init.protocol.size() > kMaxProtocolSize) return Errc::invalid_argument;
    Channel c;
    c.stream_id = id;
    c.state = ChannelState::Connecting;
    c.label = init.label;
    c.protocol = init.protocol;
    c.reliability = init.reliability;
    c.priority = init.priority;
    c.local = true;
    channels_.emplace(id, std::move(c));
    return {};
}

base::Result<std::vector<std::byte>> ChannelTable::take_open(std::uint16_t stream) {
    auto it = channels_.find(stream);
    if (it == channels_.end()) return make_error_code(DcepError::unknown_stream);
    Channel& c = it->second;
    // §6: one OPEN per channel, and only from the side that opens it in-band.
    if (!c.local || c.negotiated || c.open_sent) return make_error_code(DcepError::no_open_to_send);
    auto wire = to_wire(c.reliability);  // checked by add_local()
    if (!wire) return wire.status();
    DataChannelOpen open;
    open.channel_type = wire->channel_type;
    open.priority = c.priority;
    open.reliability_parameter = wire->reliability_parameter;
    open.label = c.label;
    open.protocol = c.protocol;
    auto bytes = encode(open);
    if (!bytes) return bytes.status();
    c.open_sent = true;
    return std::move(bytes).value();
}

base::Result<ChannelTable::LocalOpen> ChannelTable::open(const ChannelInit& init, bool dtls_is_client) {
    auto id = allocate_stream_id(dtls_is_client);
    if (!id) return id.status();
    if (auto st = add_local(*id, init); !st) return st;
    auto bytes = take_open(*id);
    if (!bytes) {
        channels_.erase(*id);  // nothing registered unless the OPEN can go
        return bytes.status();
    }
    return LocalOpen{*id, std::move(bytes).value()};
}

base::Result<std::vector<std::byte>> ChannelTable::on_open_received(std::uint16_t stream, const DataChannelOpen& open) {
    if (auto st = check_free(stream); !st) return st;
    // The peer opens on its own parity: even when it is the DTLS client, that
    // is when we are the server (odd ids are ours then).
    if (dtls_is_client_ && (stream % 2 == 0) == *dtls_is_client_) return make_error_code(DcepError::wrong_parity);
    if (!is_known_channel_type(static_cast<std::uint8_t>(open.channel_type)))
        return make_error_code(DcepError::unknown_channel_type);
    Channel c;
    c.stream_id = stream;
    c.state = ChannelState::Open;
    c.label = open.label;
    c.protocol = open.protocol;
    c.reliability = from_wire(open.channel_type, open.reliability_parameter);
    c.priority = open.priority;
    c.heard_from_peer = true;
    channels_.emplace(stream, std::move(c));
    return encode_ack();
}

base::Status ChannelTable::on_ack_received(std::uint16_t stream) {
    auto it = channels_.find(stream);
    if (it == channels_.end()) return make_error_code(DcepError::unknown_stream);
    Channel& c = it->second;
    // §6: the ACK answers our OPEN; any other is not expected (and changes nothing).
    if (!c.local || c.negotiated || !c.open_sent || c.heard_from_peer)
        return make_error_code(DcepError::unexpected_ack);
    c.heard_from_peer = true;
    if (c.state == ChannelState::Connecting) c.state = ChannelState::Open;
    return {};
}

const Channel* ChannelTable::on_user_message(std::uint16_t stream) {
    auto it = channels_.find(stream);
    if (it == channels_.end()) return nullptr;
    Channel& c = it->second;
    // An in-band channel of ours is unknown to the peer until its OPEN is out.
    if (c.local && !c.negotiated && !c.open_sent) return nullptr;
    // §6: the peer sends on the stream only after our OPEN: it stands for the ACK.
    c.heard_from_peer = true;
    if (c.state == ChannelState::Connecting) c.state = ChannelState::Open;
    return &c;
}

base::Status ChannelTable::close(std::uint16_t stream) {
    auto it = channels_.find(stream);
    if (it == channels_.end()) return make_error_code(DcepError::unknown_stream);
    if (it->second.state != ChannelState::Closed) it->second.state = ChannelState::Closing;
    return {};
}

base::Status ChannelTable::release(std::uint16_t stream) {
    if (channels_.erase(stream) == 0) return make_error_code(DcepError::unknown_stream);
    return {};
}

const Channel* ChannelTable::find(std::uint16_t stream) const noexcept {
    auto it = channels_.find(stream);
    return it == channels_.end() ? nullptr : &it->second;
}

std::vector<std::uint16_t> ChannelTable::stream_ids() const {
    std::vector<std::uint16_t> out;
    out.reserve(channels_.size());
    for (const auto& [id, c] : channels_) out.push_back(id);
    return out;
}

}  // namespace duplex::proto::dcep
