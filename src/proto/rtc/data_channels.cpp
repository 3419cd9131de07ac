#include "proto/rtc/data_channels.hpp"

#include "proto/dcep/message.hpp"
#include "proto/sctp/usrsctp_association.hpp"

namespace duplex::proto::rtc {

namespace {

// The SCTP payload protocol identifiers (RFC 8831 §8, RFC 8832 §8.1) are dcep::Ppid.
constexpr auto kPpidDcep = static_cast<std::uint32_t>(dcep::Ppid::Dcep);

base::Status error(Errc e, std::string detail) { return base::Status(make_error_code(e), std::move(detail)); }

dcep::ChannelInit init_of(const ChannelOptions& o) {
    dcep::ChannelInit init;
    init.label = o.label;
    init.protocol = o.protocol;
    init.reliability.ordered = o.ordered;
    init.reliability.max_retransmits = o.max_retransmits;
    init.reliability.max_packet_life_time = o.max_packet_life_time;
    return init;
}

// What SCTP is asked for a message on the channel. RFC 8832 §6: ordered until
// the peer has been heard from on the stream, whatever the channel says.
sctp::Reliability reliability_of(const dcep::Channel& c) {
    sctp::Reliability r;
    r.ordered = c.send_ordered();
    r.max_retransmits = c.reliability.max_retransmits;
    r.max_packet_life_time_ms = c.reliability.max_packet_life_time;
    return r;
}

}  // namespace

// ---------------------------------------------------------- the transport --

void DataChannels::set_dtls_role(bool client) {
    table_.set_dtls_role(client);
    assign_stream_ids();
}

void DataChannels::start(std::uint16_t remote_port, std::size_t remote_max_message_size, base::Instant now) {
    if (sctp_) return;
    sctp::AssociationConfig sc;
    sc.local_port = 5000;
    sc.remote_port = remote_port;
    sc.max_message_size = max_message_size_;
    sc.remote_max_message_size = remote_max_message_size;
    sctp_ = sctp::make_usrsctp_association(sc);
    sctp_->connect(now);
    pump(now);
}

void DataChannels::handle_packet(base::Bytes packet, base::Instant now) {
    if (!sctp_) return;
    sctp_->handle_packet(packet, now);
    pump(now);
}

void DataChannels::close_all() {
    for (ChannelKey key : keys()) finish_close(key);
}

// The handles, to act on each while the map may change under the loop (a
// channel that closes leaves it).
std::vector<ChannelKey> DataChannels::keys() const {
    std::vector<ChannelKey> out;
    out.reserve(channels_.size());
    for (const auto& [key, info] : channels_) out.push_back(key);
    return out;
}

void DataChannels::shutdown(base::Instant now) {
    if (sctp_) {
        sctp_->close();
        pump(now);
    }
    close_all();
}

std::optional<base::Instant> DataChannels::poll_timeout() const {
    return sctp_ ? sctp_->poll_timeout() : std::nullopt;
}

void DataChannels::handle_timeout(base::Instant now) {
    if (!sctp_) return;
    sctp_->handle_timeout(now);
    pump(now);
}

void DataChannels::pump(base::Instant now) {
    if (!sctp_) return;
    for (int round = 0; round < 4; ++round) {
        bool any = false;
        while (auto p = sctp_->poll_transmit()) {
            any = true;
            link_.send_sctp_packet(*p, now);
        }
        while (auto ev = sctp_->poll_event()) {
            any = true;
            on_sctp_event(*ev, now);
        }
        if (!any) break;
    }
}

void DataChannels::on_sctp_event(sctp::AssociationEvent& ev, base::Instant now) {
    if (std::get_if<sctp::event::Connected>(&ev)) {
        connected_ = true;
        // Channels created before the association was up announce themselves now.
        for (ChannelKey key : keys())
            if (auto it = channels_.find(key); it != channels_.end() && it->second.state == ChannelState::Connecting)
                open_channel(key, it->second, now);
    } else if (auto* m = std::get_if<sctp::event::MessageReceived>(&ev)) {
        on_sctp_message(m->message, now);
    } else if (auto* r = std::get_if<sctp::event::StreamReset>(&ev)) {
        // RFC 8831 §6.7: the peer reset its outgoing stream: reset ours too; the channel is closed.
        auto it = by_stream_.find(r->stream);
        if (it == by_stream_.end()) return;
        // Closing in the table: we have reset our side already.
        const dcep::Channel* c = table_.find(r->stream);
        if (c && c->state != dcep::ChannelState::Closing) {
            (void)table_.close(r->stream);
            sctp_->reset_stream(r->stream);
        }
        finish_close(it->second);
    } else if (std::get_if<sctp::event::OutgoingStreamReset>(&ev)) {
        // Our reset is done; the channel closes when the peer resets its side too.
    } else if (auto* b = std::get_if<sctp::event::BufferedAmountLow>(&ev)) {
        auto it = by_stream_.find(b->stream);
        // Only an open channel has a buffered amount to speak of (the DCEP
        // OPEN drains too).
        if (it != by_stream_.end() && channels_.at(it->second).state == ChannelState::Open)
            out_.emit(event::ChannelBufferedLow{it->second});
    } else if (std::get_if<sctp::event::Closed>(&ev) || std::get_if<sctp::event::Failed>(&ev)) {
        if (auto* f = std::get_if<sctp::event::Failed>(&ev)) out_.fail("SCTP: " + f->reason);
        close_all();
    }
}

void DataChannels::on_sctp_message(sctp::Message& m, base::Instant now) {
    if (m.ppid == kPpidDcep) return on_dcep(m, now);
    auto it = by_stream_.find(m.stream);
    if (it == by_stream_.end()) return;  // RFC 8831 §6.6: data on an unopened stream: drop
    // RFC 8832 §6: the peer may send before its ACK arrives; the ACK is implied.
    const dcep::Channel* c = table_.on_user_message(m.stream);
    if (!c) return;
    auto& info = channels_.at(it->second);
    if (info.state == ChannelState::Connecting && c->state == dcep::ChannelState::Open) announce_open(it->second, info);
    if (info.state != ChannelState::Open) return;  // closing: no more messages (W3C webrtc-pc §6.2)
    const auto kind = dcep::classify_ppid(m.ppid);
    if (!kind || kind->kind == dcep::PayloadKind::Control) return;  // not a data-channel message
    const bool binary = kind->kind == dcep::PayloadKind::Binary;
    if (kind->empty) m.data.clear();  // RFC 8831 §6.6: the one byte of an empty message is not data
    ++out_.stats.messages_received;
    out_.stats.bytes_received += m.data.size();
    out_.emit(event::ChannelMessage{it->second, binary, std::move(m.data)});
}

void DataChannels::on_dcep(sctp::Message& m, base::Instant now) {
    auto parsed = dcep::parse(m.data);
    if (!parsed) return;
    if (auto* open = std::get_if<dcep::DataChannelOpen>(&*parsed)) {
        auto ack = table_.on_open_received(m.stream, *open);
        if (!ack) {
            // RFC 8832 §6: a refused OPEN (our parity, out of range) gets
            // no ACK, and its stream is reset, which tells the opener. On
            // a stream in use it is ignored: a reset would close the
            // channel already there, which did nothing wrong.
            if (ack.error() != dcep::DcepError::stream_in_use) {
                sctp_->reset_stream(m.stream);
                pump(now);
            }
            return;
        }
        const dcep::Channel& c = *table_.find(m.stream);
        ChannelInfo info;
        info.options.label = c.label;
        info.options.protocol = c.protocol;
        info.options.ordered = c.reliability.ordered;
        info.options.max_retransmits = c.reliability.max_retransmits;
        info.options.max_packet_life_time = c.reliability.max_packet_life_time;
        info.options.id = m.stream;
        info.stream = m.stream;
        info.state = ChannelState::Open;
        const ChannelKey key = next_key_++;
        channels_.emplace(key, std::move(info));
        by_stream_[m.stream] = key;
        (void)sctp_->send(m.stream, kPpidDcep, *ack, sctp::Reliability{});
        ++out_.stats.channels_opened;
        // What the API needs of it travels with the events: the channel may
        // close (and be forgotten here) before they are read.
        out_.emit(event::RemoteChannel{key, channels_.at(key).options});
        out_.emit(event::ChannelOpen{key, m.stream});
        pump(now);
    } else if (std::get_if<dcep::DataChannelAck>(&*parsed)) {
        auto it = by_stream_.find(m.stream);
        if (it == by_stream_.end()) return;
        if (!table_.on_ack_received(m.stream).ok()) return;  // not waiting for one: ignored
        auto& info = channels_.at(it->second);
        if (info.state == ChannelState::Connecting && table_.find(m.stream)->state == dcep::ChannelState::Open)
            announce_open(it->second, info);
    }
}

void DataChannels::announce_open(ChannelKey key, ChannelInfo& info) {
    info.state = ChannelState::Open;
    ++out_.stats.channels_opened;
    out_.emit(event::ChannelOpen{key, info.stream});
}

/// A channel that will never open (no stream for it): closed with an error.
void DataChannels::fail_channel(ChannelKey key, std::string message) {
    channels_.erase(key);
    out_.emit(event::ChannelError{key, std::move(message)});
    out_.emit(event::ChannelClosed{key});
}

/// Once the DTLS role is known, every channel of ours still without a
/// stream gets an id of our parity (RFC 8832 §6; the table picks it).
/// Its OPEN waits for SCTP (open_channel).
void DataChannels::assign_stream_ids() {
    const auto dtls_is_client = table_.dtls_role();
    if (!dtls_is_client) return;
    for (ChannelKey key : keys()) {
        auto it = channels_.find(key);
        if (it == channels_.end() || it->second.stream) continue;
        ChannelInfo& info = it->second;
        auto id = table_.allocate_stream_id(*dtls_is_client);
        if (!id) {
            fail_channel(key, "no free SCTP stream id");
            continue;
        }
        if (auto st = table_.add_local(*id, init_of(info.options)); !st.ok()) {
            fail_channel(key, "cannot open the data channel: " + st.message());
            continue;
        }
        info.stream = *id;
        info.options.id = *id;
        by_stream_[*id] = key;
    }
}

/// SCTP is up: a channel of ours opens, a negotiated one at once (no
/// DCEP, RFC 8831 §6.5), an in-band one with its DATA_CHANNEL_OPEN.
void DataChannels::open_channel(ChannelKey key, ChannelInfo& info, base::Instant now) {
    if (!info.stream || !connected_) return;
    const dcep::Channel* c = table_.find(*info.stream);
    if (!c) return;
    if (c->negotiated) {
        if (info.state == ChannelState::Connecting) announce_open(key, info);
        return;
    }
    auto open = table_.take_open(*info.stream);
    if (!open) {
        if (open.error() != dcep::DcepError::no_open_to_send)  // else: sent already
            out_.emit(event::ChannelError{key, "cannot encode DATA_CHANNEL_OPEN: " + open.status().message()});
        return;
    }
    // DCEP messages are sent reliably and in order (RFC 8832 §6).
    auto st = sctp_->send(*info.stream, kPpidDcep, *open, sctp::Reliability{});
    if (!st.ok()) {
        out_.emit(event::ChannelError{key, "cannot send DATA_CHANNEL_OPEN: " + st.message()});
        return;
    }
    pump(now);
}

void DataChannels::finish_close(ChannelKey key) {
    auto it = channels_.find(key);
    if (it == channels_.end()) return;
    if (const auto stream = it->second.stream) {
        // Both directions are reset (or never carried anything): the id is free.
        by_stream_.erase(*stream);
        (void)table_.release(*stream);
    }
    // Forgotten once closed: a peer that opens and closes channels for
    // hours leaves nothing behind (the API's handle keeps its own state).
    channels_.erase(it);
    ++out_.stats.channels_closed;
    out_.emit(event::ChannelClosed{key});
}

// ------------------------------------------------------------------ the API --

base::Result<ChannelKey> DataChannels::create(const ChannelOptions& options, base::Instant now) {
    const dcep::ChannelInit init = init_of(options);
    if (!dcep::to_wire(init.reliability))
        return error(Errc::invalid_argument, "max_retransmits and max_packet_life_time are exclusive");
    if (options.label.size() > dcep::kMaxLabelSize || options.protocol.size() > dcep::kMaxProtocolSize)
        return error(Errc::invalid_argument, "label and protocol are at most 65535 bytes");
    if (options.negotiated && !options.id) return error(Errc::invalid_argument, "a negotiated channel needs an id");
    if (options.id && *options.id >= table_.max_streams())
        return error(Errc::invalid_argument,
                     "channel id out of range (0-" + std::to_string(table_.max_streams() - 1) + ")");
    // Negotiated out of band: any free id, Open in the table at once (no DCEP).
    if (options.negotiated) {
        if (auto st = table_.reserve(*options.id, init); !st.ok()) {
            if (st.code() == dcep::DcepError::stream_in_use)
                return error(Errc::invalid_argument, "channel id " + std::to_string(*options.id) + " is in use");
            return error(Errc::invalid_argument, st.message());
        }
    }
    ChannelInfo info;
    info.options = options;
    if (options.negotiated) info.stream = options.id;
    const ChannelKey key = next_key_++;
    auto [it, _] = channels_.emplace(key, std::move(info));
    if (it->second.stream) by_stream_[*it->second.stream] = key;
    else assign_stream_ids();  // nothing yet when the DTLS role is not known
    // Found again: with no stream id free the channel failed (and left the map).
    if (auto j = channels_.find(key); connected_ && j != channels_.end()) open_channel(key, j->second, now);
    return key;
}

base::Status DataChannels::send(ChannelKey key, bool binary, base::Bytes data, base::Instant now) {
    auto it = channels_.find(key);
    const dcep::Channel* c = it == channels_.end() || !it->second.stream ? nullptr : table_.find(*it->second.stream);
    if (!c || it->second.state != ChannelState::Open || !sctp_)
        return error(Errc::invalid_state, "the data channel is not open");
    const auto ppid = static_cast<std::uint32_t>(dcep::ppid_for(binary, data.empty()));
    // RFC 8831 §6.6: an empty message is sent as one zero byte with the "empty" PPID.
    static constexpr std::byte zero[1] = {std::byte{0}};
    base::Bytes payload = data.empty() ? base::Bytes(zero, 1) : data;
    auto st = sctp_->send(c->stream_id, ppid, payload, reliability_of(*c));
    if (!st.ok()) return st;
    ++out_.stats.messages_sent;
    out_.stats.bytes_sent += data.size();
    pump(now);
    return {};
}

void DataChannels::close_channel(ChannelKey key, base::Instant now) {
    auto it = channels_.find(key);
    if (it == channels_.end()) return;
    auto& info = it->second;
    if (info.state == ChannelState::Closed || info.state == ChannelState::Closing) return;
    if (!connected_ || !info.stream) {
        finish_close(key);
        return;
    }
    // RFC 8831 §6.7: we reset our outgoing stream; closed when the peer resets its own.
    info.state = ChannelState::Closing;
    (void)table_.close(*info.stream);
    sctp_->reset_stream(*info.stream);
    pump(now);
}

const ChannelInfo* DataChannels::channel(ChannelKey key) const {
    auto it = channels_.find(key);
    return it == channels_.end() ? nullptr : &it->second;
}

std::size_t DataChannels::buffered_amount(ChannelKey key) const {
    auto it = channels_.find(key);
    if (it == channels_.end() || !sctp_ || !it->second.stream) return 0;
    return sctp_->buffered_amount(*it->second.stream);
}

void DataChannels::set_low_threshold(ChannelKey key, std::size_t bytes) {
    auto it = channels_.find(key);
    if (it == channels_.end()) return;
    it->second.low_threshold = bytes;
    if (sctp_ && it->second.stream) sctp_->set_buffered_amount_low_threshold(*it->second.stream, bytes);
}

}  // namespace duplex::proto::rtc
