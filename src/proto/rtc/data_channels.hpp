// proto/rtc/data_channels.hpp: a peer's data channels: the SCTP association
// (RFC 8831) under them, DCEP (RFC 8832) for in-band ones, and the handles
// the API gives out (ChannelKey), which exist before a stream id does.
//
// The rules of DCEP per stream (ids by DTLS role, OPEN/ACK, refusals, when to
// send ordered) are dcep::ChannelTable's; this part keeps what the API adds:
// the channel state as the events have told it, and the events themselves.
// It knows DTLS only through the Link it is given: SCTP packets go down
// through it, and DTLS application data comes up through handle_packet().
#pragma once

#include "proto/dcep/channel_table.hpp"
#include "proto/rtc/outputs.hpp"
#include "proto/rtc/peer.hpp"
#include "proto/sctp/association.hpp"

#include <map>
#include <vector>
#include <memory>

namespace duplex::proto::rtc {

class DataChannels {
public:
    /// Where SCTP packets go: DTLS, when it is up (else the packet is lost
    /// and SCTP retransmits).
    class Link {
    public:
        virtual void send_sctp_packet(base::Bytes packet, base::Instant now) = 0;

    protected:
        ~Link() = default;
    };

    DataChannels(PeerOutputs& out, Link& link, std::size_t max_message_size)
        : out_(out), link_(link), max_message_size_(max_message_size) {}

    // --- from the transport ---
    /// The DTLS role is known: channels of ours without a stream get ids of
    /// our parity (RFC 8832 §6).
    void set_dtls_role(bool client);
    /// DTLS is up: the association starts (both sides connect, RFC 8841).
    void start(std::uint16_t remote_port, std::size_t remote_max_message_size, base::Instant now);
    /// DTLS application data: an SCTP packet.
    void handle_packet(base::Bytes packet, base::Instant now);
    /// DTLS ended (closed or failed): every channel closes.
    void close_all();

    // --- the API ---
    base::Result<ChannelKey> create(const ChannelOptions& options, base::Instant now);
    base::Status send(ChannelKey key, bool binary, base::Bytes data, base::Instant now);
    void close_channel(ChannelKey key, base::Instant now);
    const ChannelInfo* channel(ChannelKey key) const;
    std::size_t buffered_amount(ChannelKey key) const;
    void set_low_threshold(ChannelKey key, std::size_t bytes);
    /// Channels not closed yet.
    std::size_t size() const noexcept { return channels_.size(); }
    /// Handles ever given out (closed ones too): once any was, the session
    /// keeps its SDP application section.
    std::size_t ever_created() const noexcept { return next_key_ - 1; }
    /// The peer closes: the association ends (SHUTDOWN), then every channel.
    void shutdown(base::Instant now);

    std::optional<base::Instant> poll_timeout() const;
    void handle_timeout(base::Instant now);

private:
    void pump(base::Instant now);
    void on_sctp_event(sctp::AssociationEvent& ev, base::Instant now);
    void on_sctp_message(sctp::Message& m, base::Instant now);
    void on_dcep(sctp::Message& m, base::Instant now);
    void announce_open(ChannelKey key, ChannelInfo& info);
    void fail_channel(ChannelKey key, std::string message);
    std::vector<ChannelKey> keys() const;
    void assign_stream_ids();
    void open_channel(ChannelKey key, ChannelInfo& info, base::Instant now);
    void finish_close(ChannelKey key);

    PeerOutputs& out_;
    Link& link_;
    std::size_t max_message_size_;
    std::unique_ptr<sctp::Association> sctp_;
    bool connected_ = false;
    // The table holds the DCEP state of every stream in use. `channels_`
    // holds every handle given out until it closes, with the state the
    // events have announced: a channel made before the DTLS role is known
    // has no stream yet, and a negotiated one, Open in the table at once, is
    // announced open only when SCTP is up. `by_stream_` names the handle of
    // each stream the table holds (added and removed with it).
    dcep::ChannelTable table_{dcep::ChannelTable::Options{kMaxChannels}};
    std::map<ChannelKey, ChannelInfo> channels_;
    std::map<std::uint16_t, ChannelKey> by_stream_;
    ChannelKey next_key_ = 1;

public:
    /// SCTP streams offered (RFC 8831 §6.2: 65535 at most).
    static constexpr std::uint16_t kMaxChannels = 1024;
};

}  // namespace duplex::proto::rtc
