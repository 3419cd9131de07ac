// api/peer_impl.hpp: binds a proto::rtc::Peer to a runtime loop: UDP sockets
// for its host candidates, one loop timer for its earliest deadline, and the
// user's callbacks. Loop thread only; the public handles post to it.
#pragma once

#include <duplex/data_channel.hpp>
#include <duplex/peer_connection.hpp>

#include "api/ice_servers.hpp"
#include "api/stream_connection.hpp"
#include "proto/rtc/peer.hpp"
#include "runtime/loop.hpp"
#include "api/mdns_resolver.hpp"
#include "runtime/tcp.hpp"
#include "runtime/udp.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace duplex::detail {

class PeerImpl;

/// What a DataChannel handle points at. Survives its PeerImpl (the handle
/// then reports Closed).
struct ChannelState {
    std::weak_ptr<PeerImpl> peer;
    EventLoop* loop = nullptr;
    proto::rtc::ChannelKey key = 0;
    proto::rtc::ChannelOptions options;
    std::optional<std::uint16_t> stream;
    DataChannelState state = DataChannelState::Connecting;
    std::size_t low_threshold = 0;

    std::function<void()> on_open, on_close, on_buffered_low;
    DataChannel::MessageHandler on_message;
    std::function<void(const Status&)> on_error;

    // Events that came before their handler was set (STYLE: not lost).
    bool open_pending = false;
    bool close_pending = false;
    std::deque<std::pair<std::string, bool>> pending_messages;
    std::size_t pending_bytes = 0;
};

/// Drops a closed channel's handlers (after the running callback returns).
void release_handlers(ChannelState& ch, std::function<void()> on_close);

/// What a MediaTrack handle points at.
struct TrackState {
    std::weak_ptr<PeerImpl> peer;
    EventLoop* loop = nullptr;
    proto::rtc::TransceiverKey key = 0;
    MediaKind kind = MediaKind::Video;
    TrackDirection direction = TrackDirection::SendRecv;
    std::function<void(const EncodedFrame&)> on_frame;
    std::function<void()> on_key_frame_request;
    std::uint64_t handlers_set = 0;  // counts every change of the two above
    // What the getters read from other threads: copied on the loop thread
    // after each flush (the live state is the loop's alone).
    mutable std::mutex mu;
    std::optional<proto::rtc::TransceiverInfo> snapshot;
};

class PeerImpl : public std::enable_shared_from_this<PeerImpl> {
public:
    PeerImpl(EventLoop& loop, Configuration config);
    ~PeerImpl();
    Status init();  // sockets and the rtc machine; called once after construction

    EventLoop& loop() noexcept { return loop_; }

    Result<DataChannel> create_data_channel(std::string label, const DataChannelInit& init);
    Result<MediaTrack> add_track(MediaKind kind, const TrackInit& init);
    void set_on_track(std::function<void(MediaTrack)> fn);
    /// The transceiver behind a track (loop thread; nullptr when the peer is gone).
    const proto::rtc::TransceiverInfo* transceiver(const TrackState& t) const;
    /// Copies each track's transceiver for the getters of other threads.
    void snapshot_tracks();
    Status send_frame(TrackState& t, std::span<const std::byte> frame, std::uint32_t rtp_timestamp,
                      std::optional<std::uint8_t> audio_level);
    Status request_key_frame(TrackState& t);
    Status set_direction(TrackState& t, TrackDirection d);
    Status stop(TrackState& t);
    Status set_codec_preferences(TrackState& t, std::vector<Codec> codecs);
    Result<SessionDescription> create_offer();
    Result<SessionDescription> create_answer();
    Status set_local_description(const SessionDescription& d);
    Status set_local_description_implicit();
    Status set_remote_description(const SessionDescription& d);
    Status add_ice_candidate(const IceCandidate& c);
    void restart_ice();
    std::optional<SessionDescription> local_description() const;
    std::optional<SessionDescription> remote_description() const;
    PeerConnectionState connection_state() const noexcept { return conn_state_; }
    IceConnectionState ice_connection_state() const noexcept { return ice_state_; }
    IceGatheringState ice_gathering_state() const noexcept { return gathering_state_; }
    SignalingState signaling_state() const noexcept;
    PeerConnectionStats stats() const;
    void close();

    // For ChannelState handles.
    SendResult send(ChannelState& ch, bool binary, std::span<const std::byte> data);
    std::size_t buffered_amount(const ChannelState& ch) const;
    void set_low_threshold(ChannelState& ch, std::size_t bytes);
    void close_channel(ChannelState& ch);

    std::function<void(const IceCandidate&)> on_ice_candidate;
    std::function<void(const IceCandidateError&)> on_ice_candidate_error;
    std::function<void()> on_pair_change;
    std::function<void(std::uint32_t)> on_outgoing_bitrate;
    std::function<void(DataChannel)> on_data_channel_fn;
    std::function<void(PeerConnectionState)> on_connection_state;
    std::function<void(IceConnectionState)> on_ice_state;
    std::function<void(IceGatheringState)> on_gathering_state;
    std::function<void(SignalingState)> on_signaling_state;
    std::function<void()> on_negotiation_needed;
    std::deque<DataChannel> pending_remote_channels;  // arrived before on_data_channel was set
    std::function<void(MediaTrack)> on_track_fn;

    /// Pulls everything the machine has for us: datagrams out, events to the
    /// user, and the next deadline. Every input ends with it.
    void flush();
    /// flush() from the loop, after the current call returns: events of a
    /// signaling call (candidates above all) must not reach the application
    /// before the call's own result, or they would be signalled before the
    /// description they belong to (browsers queue them as tasks likewise).
    void flush_soon();

private:
    bool send_transmits();
    void retire_sockets();
    void dispatch(proto::rtc::PeerEvent& ev);
    void arm_timer();
    void on_timer();
    std::shared_ptr<ChannelState> adopt_channel(proto::rtc::ChannelKey key, const proto::rtc::ChannelOptions& options);
    void deliver_message(ChannelState& ch, std::string_view data, bool binary);
    /// TrackAdded, TrackFrame, KeyFrameRequested (media_track.cpp).
    void deliver_track_event(proto::rtc::PeerEvent& ev);
    /// event::ResolveHostname: looks the candidate's mDNS name up and, when
    /// an address comes back, adds the candidate again with it.
    void resolve_candidate(const std::string& candidate);

    EventLoop& loop_;
    Configuration config_;
    std::unique_ptr<proto::rtc::Peer> peer_;
    std::vector<std::unique_ptr<runtime::UdpSocket>> sockets_;
    std::unique_ptr<MdnsResolver> resolver_;  // made on the first ".local" candidate
    /// TURN servers over TCP or TLS (proto::rtc::event::OpenStream), by id.
    std::map<std::uint32_t, std::unique_ptr<StreamConnection>> stream_connections_;
    void open_stream_connection(const proto::rtc::event::OpenStream& o);
    StreamConnection::Callbacks stream_callbacks(std::uint32_t id);
    /// ICE-TCP (RFC 6544): passive listeners beside the UDP sockets, and the
    /// connections peers make to them (ids from 0x8000'0000: apart from the
    /// machine's own stream ids).
    std::vector<std::unique_ptr<runtime::TcpListener>> tcp_listeners_;
    std::uint32_t next_accepted_id_ = 0x8000'0000u;
    void listen_ice_tcp(base::Instant now);
    void look_up_servers(const std::vector<NamedServer>& names);
    std::uint64_t servers_generation_ = 0;  // set_configuration() counts up: older lookups add nothing
public:
    Status set_configuration(const Configuration& c);
private:
    void accept_ice_tcp(int fd, const base::Endpoint& remote);
    std::map<proto::rtc::ChannelKey, std::weak_ptr<ChannelState>> channels_;
    std::map<proto::rtc::ChannelKey, std::shared_ptr<ChannelState>> live_channels_;  // held while open
    std::map<proto::rtc::TransceiverKey, std::shared_ptr<TrackState>> tracks_;
    runtime::Loop::TimerId timer_ = 0;
    std::optional<base::Instant> timer_at_;
    bool flushing_ = false;
    bool flush_posted_ = false;
    bool closed_ = false;
    PeerConnectionState conn_state_ = PeerConnectionState::New;
    IceConnectionState ice_state_ = IceConnectionState::New;
    IceGatheringState gathering_state_ = IceGatheringState::New;
};

/// Whether `ip` passes Configuration::allowed_addresses (exact addresses or
/// CIDR prefixes); an empty list allows every non-loopback, non-link-local one.
// address_allowed(): api/ice_servers.hpp

}  // namespace duplex::detail
