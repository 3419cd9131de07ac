// proto/rtc/peer.cpp: the composition. The parts and who feeds whom
// (peer_impl.hpp): the transport (ICE, DTLS, the demultiplexer of RFC 7983)
// carries the data channels' SCTP packets as DTLS application data; the
// negotiation (negotiation.cpp) tells the transport what the descriptions
// say. This file wires them together and answers for the whole: the
// network in and out, time, the channels' API, the connection state, the end.
#include "proto/rtc/peer_impl.hpp"

#include "base/digest.hpp"
#include "proto/dtls/certificate.hpp"

namespace duplex::proto::rtc {

base::Status rtc_error(Errc e, std::string detail) { return base::Status(make_error_code(e), std::move(detail)); }

// W3C webrtc-pc §4.3.3 (RTCPeerConnectionState), reduced to our parts.
void Peer::Impl::update_connection_state() {
    auto set = [this](ConnectionState s) {
        if (s == conn_state) return;
        conn_state = s;
        out.emit(event::ConnectionChange{s});
    };
    const IceState ice = ice_state();
    if (closed) return set(ConnectionState::Closed);
    if (ice == IceState::Failed || transport.dtls_failed()) return set(ConnectionState::Failed);
    if (ice == IceState::Disconnected) return set(ConnectionState::Disconnected);
    if ((ice == IceState::Connected || ice == IceState::Completed) && transport.dtls_connected())
        return set(ConnectionState::Connected);
    if (ice == IceState::New && !transport.has_dtls()) return set(ConnectionState::New);
    set(ConnectionState::Connecting);
}

void Peer::Impl::on_dtls_connected(base::Instant now) {
    // DTLS is up: SRTP is keyed from it (RFC 5764 §4.2), and the association
    // starts (RFC 8841), to the port and with the message size the remote
    // description gave, if the session has data channels.
    if (auto keys = transport.srtp_keys(); keys && keys->profile_id != 0)
        media.start_srtp(*keys, transport.dtls_role() == dtls::Role::Client);
    if (!remote || remote->has_data_channel)
        channels.start(remote ? remote->sctp_port : 5000, remote ? remote->max_message_size : 65536, now);
}

// ---------------------------------------------------------------------------

Peer::Peer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Peer::~Peer() = default;

base::Result<std::unique_ptr<Peer>> Peer::create(PeerConfig config, base::Instant now) {
    (void)now;
    auto cert = config.certificate_pem.empty()
                    ? dtls::Certificate::generate()
                    : dtls::Certificate::from_pem(config.certificate_pem, config.private_key_pem);
    if (!cert) return cert.status();
    auto impl = std::make_unique<Impl>(std::move(config), std::move(*cert));
    std::array<std::byte, 8> r{};
    (void)base::random_bytes(r);
    impl->session_id = base::load_be64(r.data()) >> 2;  // RFC 8866 §5.2: a numeric id; keep it < 2^63
    return std::unique_ptr<Peer>(new Peer(std::move(impl)));
}

void Peer::add_host(const base::Endpoint& local, base::Instant now) { impl_->transport.add_host(local, now); }

void Peer::hosts_complete(base::Instant now) { impl_->transport.hosts_complete(now); }
void Peer::set_ice_servers(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, bool relay_only) {
    impl_->transport.set_servers(std::move(stun), std::move(turn), relay_only);
}
void Peer::begin_server_lookup() { impl_->transport.begin_server_lookup(); }
void Peer::end_server_lookup(std::vector<base::Endpoint> stun, std::vector<TurnServer> turn, base::Instant now) {
    impl_->transport.end_server_lookup(std::move(stun), std::move(turn), now);
}

void Peer::handle_datagram(const base::Endpoint& local, const base::Endpoint& from, base::Bytes datagram,
                           base::Instant now) {
    if (impl_->closed) return;
    impl_->transport.handle_datagram(local, from, datagram, now);
}

void Peer::add_tcp_host(const base::Endpoint& local, base::Instant now) {
    if (!impl_->closed) impl_->transport.add_tcp_host(local, now);
}
bool Peer::tcp_accepted(std::uint32_t id, const base::Endpoint& local, const base::Endpoint& remote, base::Instant now) {
    return !impl_->closed && impl_->transport.tcp_accepted(id, local, remote, now);
}

void Peer::stream_connected(std::uint32_t id, base::Instant now) {
    if (!impl_->closed) impl_->transport.stream_connected(id, now);
}
void Peer::stream_data(std::uint32_t id, base::Bytes data, base::Instant now) {
    if (!impl_->closed) impl_->transport.stream_data(id, data, now);
}
void Peer::stream_closed(std::uint32_t id, const std::string& why, base::Instant now) {
    if (!impl_->closed) impl_->transport.stream_closed(id, why, now);
}

std::optional<Transmit> Peer::poll_transmit() {
    auto& q = impl_->out.transmits;
    if (q.empty()) return std::nullopt;
    Transmit t = std::move(q.front());
    q.pop_front();
    return t;
}

void Peer::recycle(std::vector<std::byte>&& buffer) { impl_->out.recycle(std::move(buffer)); }

base::Result<ChannelKey> Peer::create_channel(const ChannelOptions& options, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    auto key = s.channels.create(options, now);
    // The first channel makes an SDP application section necessary.
    if (key && s.channels.ever_created() == 1 && !s.local_desc) s.out.emit(event::NegotiationNeeded{});
    return key;
}

base::Status Peer::send(ChannelKey key, bool binary, base::Bytes data, base::Instant now) {
    return impl_->channels.send(key, binary, data, now);
}

void Peer::close_channel(ChannelKey key, base::Instant now) { impl_->channels.close_channel(key, now); }

const ChannelInfo* Peer::channel(ChannelKey key) const { return impl_->channels.channel(key); }

std::size_t Peer::buffered_amount(ChannelKey key) const { return impl_->channels.buffered_amount(key); }

void Peer::set_low_threshold(ChannelKey key, std::size_t bytes) { impl_->channels.set_low_threshold(key, bytes); }

base::Result<TransceiverKey> Peer::add_transceiver(const TransceiverOptions& options, base::Instant now) {
    (void)now;
    auto& s = *impl_;
    if (s.closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (!options.send && !options.receive)
        return rtc_error(Errc::invalid_argument, "a transceiver that neither sends nor receives");
    const auto key = s.media.add(options, "");  // its mid comes with the next offer or answer
    if (key == 0)
        return rtc_error(Errc::invalid_state, "too many transceivers (max_transceivers " +
                                                 std::to_string(s.config.max_transceivers) + ")");
    s.out.emit(event::NegotiationNeeded{});
    return key;
}

base::Status Peer::send_frame(TransceiverKey key, base::Bytes frame, std::uint32_t rtp_timestamp, base::Instant now,
                              std::optional<std::uint8_t> audio_level) {
    if (impl_->closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    return impl_->media.send_frame(key, frame, rtp_timestamp, now, audio_level);
}

base::Status Peer::request_key_frame(TransceiverKey key, base::Instant now) {
    if (impl_->closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    return impl_->media.request_key_frame(key, now);
}

const TransceiverInfo* Peer::transceiver(TransceiverKey key) const { return impl_->media.info(key); }
base::Status Peer::stop_transceiver(TransceiverKey key, base::Instant now) {
    (void)now;
    if (impl_->closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (!impl_->media.stop_local(key)) return rtc_error(Errc::invalid_argument, "no such transceiver");
    impl_->out.emit(event::NegotiationNeeded{});
    return {};
}

base::Status Peer::set_transceiver_direction(TransceiverKey key, bool send, bool receive, base::Instant now) {
    (void)now;
    if (impl_->closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    if (!impl_->media.set_direction(key, send, receive))
        return rtc_error(Errc::invalid_state, "no such transceiver, or it is stopped");
    impl_->out.emit(event::NegotiationNeeded{});
    return {};
}

base::Status Peer::set_codec_preferences(TransceiverKey key, std::vector<MediaCodec> codecs) {
    if (impl_->closed) return rtc_error(Errc::invalid_state, "the peer connection is closed");
    return impl_->media.set_codec_preferences(key, std::move(codecs));
}

void Peer::set_accept_remote_tracks(bool accept) noexcept { impl_->media.set_accept_remote_tracks(accept); }
std::vector<TransceiverKey> Peer::transceivers() const { return impl_->media.keys(); }

std::optional<base::Instant> Peer::poll_timeout() const {
    auto& s = *impl_;
    if (s.closed) return std::nullopt;
    auto t = s.transport.poll_timeout();
    if (auto c = s.channels.poll_timeout(); c && (!t || *c < *t)) t = c;
    if (auto m = s.media.poll_timeout(); m && (!t || *m < *t)) t = m;
    return t;
}

void Peer::handle_timeout(base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return;
    s.transport.handle_timeout(now);
    s.channels.handle_timeout(now);
    s.media.set_path_rtt(s.transport.path_rtt());
    s.media.handle_timeout(now);
}

std::optional<PeerEvent> Peer::poll_event() {
    auto& q = impl_->out.events;
    if (q.empty()) return std::nullopt;
    PeerEvent e = std::move(q.front());
    q.pop_front();
    return e;
}

void Peer::close(base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return;
    s.channels.shutdown(now);
    s.media.close();  // BYE, while SRTP still goes
    s.transport.close(now);
    s.closed = true;
    (void)s.signaling.close();
    s.out.emit(event::SignalingChange{SignalingState::Closed});
    s.update_connection_state();
}

IceState Peer::ice_state() const noexcept { return impl_->ice_state(); }
ConnectionState Peer::connection_state() const noexcept { return impl_->conn_state; }
GatheringState Peer::gathering_state() const noexcept { return impl_->transport.gathering_state(); }
std::string Peer::local_fingerprint() const { return impl_->transport.certificate().fingerprint("sha-256"); }

PeerStats Peer::stats() const {
    PeerStats st = impl_->out.stats;
    st.failure = impl_->out.failure;
    impl_->transport.fill_stats(st);
    impl_->media.fill_stats(st);
    return st;
}

const char* to_string(SignalingState s) noexcept {
    static const char* names[] = {"stable", "have-local-offer", "have-remote-offer", "have-local-pranswer",
                                  "have-remote-pranswer", "closed"};
    return names[static_cast<int>(s)];
}
const char* to_string(IceState s) noexcept {
    static const char* names[] = {"new", "checking", "connected", "completed", "failed", "disconnected", "closed"};
    return names[static_cast<int>(s)];
}
const char* to_string(ConnectionState s) noexcept {
    static const char* names[] = {"new", "connecting", "connected", "disconnected", "failed", "closed"};
    return names[static_cast<int>(s)];
}

}  // namespace duplex::proto::rtc
