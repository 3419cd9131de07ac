// api/peer_connection.cpp: PeerImpl, which drives a proto::rtc::Peer on a
// runtime loop (sockets, timers, mDNS lookups, callbacks), and the
// PeerConnection handle over it. The DataChannel handle is data_channel.cpp;
// ICE server URLs and address rules, ice_servers.cpp.
#include "api/ice_servers.hpp"
#include "api/peer_impl.hpp"
#include "runtime/resolver.hpp"
#include "runtime/tcp.hpp"

#include <sys/socket.h>

#include "base/enum_cast.hpp"
#include "base/log.hpp"
#include "proto/ice/candidate.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace duplex {

namespace detail {

namespace {

constexpr std::size_t kMaxPendingBytes = 16u << 20;  // messages held until on_message is set

// usrsctp drives one timer wheel for the whole process (DESIGN.md): a timeout
// handled by one peer can queue packets on another. Every live peer is
// flushed after any peer's timer; they all run on one loop thread.
std::vector<std::weak_ptr<PeerImpl>>& live_peers() {
    static std::vector<std::weak_ptr<PeerImpl>> peers;
    return peers;
}

void flush_others(const PeerImpl* self) {
    auto& peers = live_peers();
    std::erase_if(peers, [](const std::weak_ptr<PeerImpl>& w) { return w.expired(); });
    auto copy = peers;
    for (auto& w : copy)
        if (auto p = w.lock(); p && p.get() != self) p->flush();
}

proto::rtc::SdpKind to_kind(SdpType t) {
    switch (t) {
        case SdpType::Offer: return proto::rtc::SdpKind::Offer;
        case SdpType::Answer: return proto::rtc::SdpKind::Answer;
        case SdpType::Pranswer: return proto::rtc::SdpKind::Pranswer;
        case SdpType::Rollback: return proto::rtc::SdpKind::Rollback;
    }
    return proto::rtc::SdpKind::Offer;
}

SdpType from_kind(proto::rtc::SdpKind k) {
    switch (k) {
        case proto::rtc::SdpKind::Offer: return SdpType::Offer;
        case proto::rtc::SdpKind::Answer: return SdpType::Answer;
        case proto::rtc::SdpKind::Pranswer: return SdpType::Pranswer;
        case proto::rtc::SdpKind::Rollback: return SdpType::Rollback;
    }
    return SdpType::Offer;
}

// The public enums and the rtc machine's list the same states in the same
// order: every enumerator is checked (base/enum_cast.hpp).
#define SAME(A, B, name) DUPLEX_SAME_ENUMERATOR(A, proto::rtc::B, name)
SAME(PeerConnectionState, ConnectionState, New);
SAME(PeerConnectionState, ConnectionState, Connecting);
SAME(PeerConnectionState, ConnectionState, Connected);
SAME(PeerConnectionState, ConnectionState, Disconnected);
SAME(PeerConnectionState, ConnectionState, Failed);
SAME(PeerConnectionState, ConnectionState, Closed);
SAME(IceConnectionState, IceState, New);
SAME(IceConnectionState, IceState, Checking);
SAME(IceConnectionState, IceState, Connected);
SAME(IceConnectionState, IceState, Completed);
SAME(IceConnectionState, IceState, Failed);
SAME(IceConnectionState, IceState, Disconnected);
SAME(IceConnectionState, IceState, Closed);
SAME(IceGatheringState, GatheringState, New);
SAME(IceGatheringState, GatheringState, Gathering);
SAME(IceGatheringState, GatheringState, Complete);
SAME(SignalingState, SignalingState, Stable);
SAME(SignalingState, SignalingState, HaveLocalOffer);
SAME(SignalingState, SignalingState, HaveRemoteOffer);
SAME(SignalingState, SignalingState, HaveLocalPranswer);
SAME(SignalingState, SignalingState, HaveRemotePranswer);
SAME(SignalingState, SignalingState, Closed);
#undef SAME

template <class E, class F>
E convert_enum(F f) {
    return base::same_order_cast<E>(f);
}

}  // namespace

PeerImpl::PeerImpl(EventLoop& loop, Configuration config) : loop_(loop), config_(std::move(config)) {}

PeerImpl::~PeerImpl() {
    if (timer_ != 0) loop_.runtime().cancel_timer(timer_);
    retire_sockets();  // the last handle may go inside a socket's own callback
}

void PeerImpl::retire_sockets() {
    // Called from close() or the destructor, either of which may run inside
    // one of these sockets' receive callbacks (an on_message that closes the
    // peer or drops its last handle; ASan found both): the sockets stop now
    // and are freed after the callback has returned. Pending mDNS lookups
    // end unanswered.
    if (sockets_.empty() && !resolver_ && stream_connections_.empty() && tcp_listeners_.empty()) return;
    for (auto& s : sockets_) s->close();
    for (auto& l : tcp_listeners_) l->close();
    auto listeners = std::make_shared<std::vector<std::unique_ptr<runtime::TcpListener>>>(std::move(tcp_listeners_));
    tcp_listeners_.clear();
    for (auto& [id, c] : stream_connections_) c->close();
    auto doomed = std::make_shared<std::vector<std::unique_ptr<runtime::UdpSocket>>>(std::move(sockets_));
    sockets_.clear();
    auto turn = std::make_shared<std::map<std::uint32_t, std::unique_ptr<StreamConnection>>>(std::move(stream_connections_));
    stream_connections_.clear();
    auto resolver = std::shared_ptr<MdnsResolver>(std::move(resolver_));
    loop_.runtime().defer([doomed, resolver, turn, listeners] {});
}

Status PeerImpl::init() {
    proto::rtc::PeerConfig pc;
    pc.certificate_pem = config_.certificate_pem;
    pc.private_key_pem = config_.private_key_pem;
    pc.max_message_size = config_.max_message_size;
    pc.ice_failed_timeout = config_.ice_failed_timeout;
    pc.ice_pacing = config_.ice_pacing < std::chrono::milliseconds(1) ? std::chrono::milliseconds(1) : config_.ice_pacing;
    // Until on_track has a handler, a remote track with no track of ours to
    // take it is refused (port 0) rather than received and dropped.
    pc.accept_remote_tracks = false;
    pc.max_transceivers = config_.max_tracks;
    // The ICE servers' URLs: a bad one is the error (never dropped in silence).
    auto plan = plan_ice_servers(config_.ice_servers);
    if (!plan) return plan.status();
    pc.stun_servers = plan->stun;
    pc.turn_servers = plan->turn;
    pc.relay_only = config_.ice_transport_policy == IceTransportPolicy::Relay;
    const auto now = base::Clock::now();
    auto peer = proto::rtc::Peer::create(std::move(pc), now);
    if (!peer) return peer.status();
    peer_ = std::move(peer.value());

    std::weak_ptr<PeerImpl> weak = weak_from_this();
    for (const auto& ifa : runtime::interface_addresses()) {
        if (!address_allowed(ifa.ip, config_.allowed_addresses)) continue;
        auto sock = runtime::UdpSocket::bind(
            loop_.runtime(), base::Endpoint{ifa.ip, 0},
            [weak, idx = sockets_.size()](const base::Endpoint& from, base::Bytes data) {
                auto self = weak.lock();
                if (!self || self->closed_ || idx >= self->sockets_.size()) return;
                self->peer_->handle_datagram(self->sockets_[idx]->local(), from, data, base::Clock::now());
                self->flush();
            },
            config_.port_min, config_.port_max);
        if (!sock) {
            DUPLEX_LOG(Warn, "rtc: " << "cannot bind UDP on " << ifa.ip.to_string() << ": " << sock.error().message());
            continue;
        }
        peer_->add_host(sock.value()->local(), now);
        sockets_.push_back(std::move(sock.value()));
    }
    for (const auto& url : plan->unused)
        DUPLEX_LOG(Warn, "rtc: " << url << ": STUN over TLS is not supported: no candidates from it");
    look_up_servers(plan->names);
    if (config_.ice_tcp && config_.ice_transport_policy == IceTransportPolicy::All) listen_ice_tcp(now);
    peer_->hosts_complete(now);
    live_peers().push_back(weak);
    return {};
}

void PeerImpl::look_up_servers(const std::vector<NamedServer>& names) {
    // Servers by name: looked up off the loop (runtime::Resolver); gathering
    // is complete only once each lookup ended. A lookup that ends after
    // set_configuration() replaced its configuration adds nothing.
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    const auto generation = servers_generation_;
    for (const auto& named : names) {
        peer_->begin_server_lookup();
        runtime::Resolver::resolve(
            loop_.runtime(), named.url.host, named.url.port, SOCK_DGRAM,
            [weak, named, generation](std::vector<runtime::Address> found, std::error_code ec) {
                auto self = weak.lock();
                if (!self || self->closed_ || !self->peer_) return;
                std::vector<base::Endpoint> addresses;
                bool v4 = false, v6 = false;
                for (const auto& a : found) {  // the first of each family
                    const auto e = runtime::to_endpoint(a);
                    bool& seen = e.ip.is_v6() ? v6 : v4;
                    if (!seen) addresses.push_back(e);
                    seen = true;
                }
                const auto text = named.url.to_string();
                if (ec || addresses.empty()) {
                    const auto why = text + ": the name did not resolve" + (ec ? ": " + ec.message() : std::string());
                    DUPLEX_LOG(Warn, "rtc: " << why);
                    if (self->on_ice_candidate_error) self->on_ice_candidate_error(IceCandidateError{text, 0, why});
                }
                std::vector<base::Endpoint> stun;
                std::vector<proto::rtc::TurnServer> turn;
                if (generation == self->servers_generation_) {
                    for (const auto& e : addresses) {
                        if (named.url.is_turn())
                            turn.push_back(proto::rtc::TurnServer{e, named.username, named.credential,
                                                                  relay_protocol_of(named.url), text, named.url.host});
                        else
                            stun.push_back(e);
                    }
                }
                self->peer_->end_server_lookup(std::move(stun), std::move(turn), base::Clock::now());
                self->flush();
            });
    }
}

Status PeerImpl::set_configuration(const Configuration& c) {
    if (closed_ || !peer_) return Status(Errc::invalid_state, "the connection is closed");
    // W3C setConfiguration: what fixes the connection's identity and sockets
    // cannot change (InvalidModificationError).
    const auto fixed = [&]() -> const char* {
        if (c.certificate_pem != config_.certificate_pem || c.private_key_pem != config_.private_key_pem)
            return "the certificate";
        if (c.allowed_addresses != config_.allowed_addresses || c.port_min != config_.port_min ||
            c.port_max != config_.port_max || c.ice_tcp != config_.ice_tcp)
            return "the local addresses and ports";
        if (c.max_message_size != config_.max_message_size) return "max_message_size";
        if (c.max_tracks != config_.max_tracks) return "max_tracks";
        return nullptr;
    }();
    if (fixed != nullptr)
        return Status(Errc::invalid_state, std::string("set_configuration cannot change ") + fixed + " of a live connection");
    auto plan = plan_ice_servers(c.ice_servers);
    if (!plan) return plan.status();
    for (const auto& url : plan->unused)
        DUPLEX_LOG(Warn, "rtc: " << url << ": STUN over TLS is not supported: no candidates from it");
    config_.ice_servers = c.ice_servers;
    config_.ice_transport_policy = c.ice_transport_policy;
    config_.turn_tls_ca_file = c.turn_tls_ca_file;
    ++servers_generation_;
    peer_->set_ice_servers(plan->stun, plan->turn, c.ice_transport_policy == IceTransportPolicy::Relay);
    look_up_servers(plan->names);
    flush();
    return {};
}

void PeerImpl::flush() {
    if (flushing_ || !peer_) return;
    flushing_ = true;
    auto keep = shared_from_this();  // a callback may drop the last handle
    for (int guard = 0; guard < 64; ++guard) {
        bool any = false;
        if (send_transmits()) any = true;
        while (auto ev = peer_->poll_event()) {
            any = true;
            dispatch(*ev);
        }
        if (!any) break;
    }
    flushing_ = false;
    snapshot_tracks();
    arm_timer();
}

bool PeerImpl::send_transmits() {
    // Datagrams leave in batches, one sendmmsg per socket; bytes for a TURN
    // server's TCP or TLS connection in order on it.
    std::vector<proto::rtc::Transmit> batch;
    while (auto t = peer_->poll_transmit()) batch.push_back(std::move(*t));
    if (batch.empty()) return false;
    bool streams = false;
    for (auto& s : sockets_) {
        std::vector<runtime::UdpSocket::Outgoing> out;
        for (const auto& t : batch) {
            streams = streams || t.stream != 0;
            if (t.stream == 0 && t.local == s->local()) out.push_back({t.destination, t.data});
        }
        if (!out.empty()) (void)s->send_many(out);
    }
    if (streams || sockets_.empty()) {
        for (const auto& t : batch) {
            if (t.stream == 0) continue;
            auto it = stream_connections_.find(t.stream);
            if (it != stream_connections_.end()) it->second->send(t.data);
        }
    }
    for (auto& t : batch) peer_->recycle(std::move(t.data));
    return true;
}

void PeerImpl::listen_ice_tcp(base::Instant now) {
    // RFC 6544: a passive TCP candidate on each address we have a UDP socket
    // on. Its port must differ from that socket's (the machine knows a path
    // by its local address and port alone).
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    std::vector<base::Endpoint> udp;
    for (const auto& s : sockets_) udp.push_back(s->local());
    for (const auto& u : udp) {
        std::unique_ptr<runtime::TcpListener> listener;
        base::Endpoint at;
        for (int attempt = 0; attempt < 3 && !listener; ++attempt) {
            auto l = runtime::TcpListener::listen(
                loop_.runtime(), runtime::to_address(base::Endpoint{u.ip, 0}), {},
                [weak](int fd, const runtime::Address& peer) {
                    auto self = weak.lock();
                    if (!self || self->closed_ || !self->peer_) {
                        runtime::refuse_connection(fd, {});
                        return;
                    }
                    self->accept_ice_tcp(fd, runtime::to_endpoint(peer));
                });
            if (!l) {
                DUPLEX_LOG(Warn, "rtc: cannot listen on TCP " << u.ip.to_string() << ": " << l.error().message());
                break;
            }
            at = runtime::to_endpoint(l.value()->local_address());
            if (std::find(udp.begin(), udp.end(), at) == udp.end()) listener = std::move(l.value());
        }
        if (!listener) continue;
        peer_->add_tcp_host(at, now);
        tcp_listeners_.push_back(std::move(listener));
    }
}

void PeerImpl::accept_ice_tcp(int fd, const base::Endpoint& remote) {
    // Which listener took it: the connection's local address.
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        runtime::refuse_connection(fd, {});
        return;
    }
    const auto local = runtime::to_endpoint(reinterpret_cast<const sockaddr*>(&ss));
    const std::uint32_t id = next_accepted_id_++;
    auto cb = stream_callbacks(id);
    cb.connected = nullptr;  // accepted: up already
    auto conn = std::make_unique<StreamConnection>(loop_.runtime(), fd, remote, std::move(cb));
    if (!peer_->tcp_accepted(id, local, remote, base::Clock::now())) {
        conn->close();  // too many at once: the peer has others
        loop_.runtime().defer([doomed = std::shared_ptr<StreamConnection>(std::move(conn))] {});
        return;
    }
    stream_connections_[id] = std::move(conn);
    flush();  // an idle connection it evicted (event::CloseStream)
}

void PeerImpl::open_stream_connection(const proto::rtc::event::OpenStream& o) {
    if (closed_ || stream_connections_.count(o.id) != 0) return;
    stream_connections_[o.id] = std::make_unique<StreamConnection>(loop_.runtime(), o.server, o.tls, o.host,
                                                                   config_.turn_tls_ca_file, stream_callbacks(o.id));
}

StreamConnection::Callbacks PeerImpl::stream_callbacks(std::uint32_t id) {
    // What a stream connection (a TURN server's, or an ICE-TCP one) tells
    // the machine, for as long as the PeerConnection lives.
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    StreamConnection::Callbacks cb;
    cb.connected = [weak, id] {
        auto self = weak.lock();
        if (!self || self->closed_ || !self->peer_) return;
        self->peer_->stream_connected(id, base::Clock::now());
        self->flush();
    };
    cb.data = [weak, id](base::Bytes data) {
        auto self = weak.lock();
        if (!self || self->closed_ || !self->peer_) return;
        self->peer_->stream_data(id, data, base::Clock::now());
        self->flush();
    };
    cb.closed = [weak, id](const std::string& why) {
        auto self = weak.lock();
        if (!self || self->closed_ || !self->peer_) return;
        self->peer_->stream_closed(id, why, base::Clock::now());
        // Freed after this callback (it runs inside the connection).
        if (auto it = self->stream_connections_.find(id); it != self->stream_connections_.end()) {
            self->loop_.runtime().defer([doomed = std::shared_ptr<StreamConnection>(std::move(it->second))] {});
            self->stream_connections_.erase(it);
        }
        self->flush();
    };
    return cb;
}

void PeerImpl::flush_soon() {
    if (flush_posted_) return;
    flush_posted_ = true;
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    loop_.post([weak] {
        if (auto self = weak.lock()) {
            self->flush_posted_ = false;
            self->flush();
        }
    });
}

void PeerImpl::arm_timer() {
    if (!peer_ || closed_) return;
    auto when = peer_->poll_timeout();
    if (when == timer_at_) return;
    if (timer_ != 0) loop_.runtime().cancel_timer(timer_);
    timer_ = 0;
    timer_at_ = when;
    if (!when) return;
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    timer_ = loop_.runtime().add_timer(*when, [weak] {
        if (auto self = weak.lock()) self->on_timer();
    });
}

void PeerImpl::on_timer() {
    timer_ = 0;
    timer_at_.reset();
    if (!peer_ || closed_) return;
    peer_->handle_timeout(base::Clock::now());
    flush();
    flush_others(this);
}

std::shared_ptr<ChannelState> PeerImpl::adopt_channel(proto::rtc::ChannelKey key, const proto::rtc::ChannelOptions& options) {
    auto st = std::make_shared<ChannelState>();
    st->peer = weak_from_this();
    st->loop = &loop_;
    st->key = key;
    // The peer forgets a channel once it closes, maybe before this runs: the
    // options come from the caller (ours, or the remote's from its event).
    st->options = options;
    st->stream = options.id;
    if (const auto* info = peer_->channel(key)) {
        st->options = info->options;
        st->stream = info->stream;
    }
    channels_[key] = st;
    live_channels_[key] = st;
    return st;
}

void release_handlers(ChannelState& ch, std::function<void()> on_close) {
    // A closed channel hears nothing more. Its handlers often capture the
    // DataChannel itself (a cycle through ChannelState); they are dropped,
    // after the current callback returns, as one of them may be running.
    struct Bag {
        std::function<void()> open, close, low;
        DataChannel::MessageHandler message;
        std::function<void(const Status&)> error;
    };
    auto bag = std::make_shared<Bag>(Bag{std::move(ch.on_open), std::move(on_close), std::move(ch.on_buffered_low),
                                         std::move(ch.on_message), std::move(ch.on_error)});
    ch.on_open = nullptr;
    ch.on_buffered_low = nullptr;
    ch.on_message = nullptr;
    ch.on_error = nullptr;
    if (ch.loop) ch.loop->runtime().defer([bag] {});
}

void PeerImpl::deliver_message(ChannelState& ch, std::string_view data, bool binary) {
    if (ch.on_message) {
        ch.on_message(data, binary);  // no copy: the view lives while the event does
        return;
    }
    if (ch.pending_bytes + data.size() > kMaxPendingBytes) {
        if (ch.on_error) ch.on_error(Status(Errc::message_too_big, "message dropped: no on_message handler and 16 MiB held"));
        return;
    }
    ch.pending_bytes += data.size();
    ch.pending_messages.emplace_back(std::string(data), binary);
}

void PeerImpl::dispatch(proto::rtc::PeerEvent& ev) {
    using namespace proto::rtc::event;
    auto find = [this](proto::rtc::ChannelKey key) -> std::shared_ptr<ChannelState> {
        auto it = channels_.find(key);
        return it == channels_.end() ? nullptr : it->second.lock();
    };
    if (auto* c = std::get_if<LocalCandidate>(&ev)) {
        if (on_ice_candidate) on_ice_candidate(IceCandidate{c->candidate, c->mid, 0});
    } else if (std::get_if<PathChange>(&ev)) {
        if (on_pair_change) on_pair_change();
    } else if (auto* ob = std::get_if<OutgoingBitrate>(&ev)) {
        if (on_outgoing_bitrate) {
            auto fn = on_outgoing_bitrate;  // the handler may set another while it runs
            fn(ob->bits_per_second);
        }
    } else if (auto* cs = std::get_if<CloseStream>(&ev)) {
        if (auto it = stream_connections_.find(cs->id); it != stream_connections_.end()) {
            it->second->close();
            loop_.runtime().defer([doomed = std::shared_ptr<StreamConnection>(std::move(it->second))] {});
            stream_connections_.erase(it);
        }
    } else if (auto* os = std::get_if<OpenStream>(&ev)) {
        open_stream_connection(*os);
    } else if (auto* ce = std::get_if<CandidateError>(&ev)) {
        DUPLEX_LOG(Warn, "rtc: " << ce->text);
        if (on_ice_candidate_error) on_ice_candidate_error(IceCandidateError{ce->url, ce->code, ce->text});
    } else if (auto* g = std::get_if<GatheringChange>(&ev)) {
        gathering_state_ = convert_enum<IceGatheringState>(g->state);
        if (on_gathering_state) on_gathering_state(gathering_state_);
    } else if (auto* i = std::get_if<IceChange>(&ev)) {
        ice_state_ = convert_enum<IceConnectionState>(i->state);
        if (on_ice_state) on_ice_state(ice_state_);
    } else if (auto* cc = std::get_if<ConnectionChange>(&ev)) {
        conn_state_ = convert_enum<PeerConnectionState>(cc->state);
        if (on_connection_state) on_connection_state(conn_state_);
    } else if (auto* s = std::get_if<SignalingChange>(&ev)) {
        if (on_signaling_state) on_signaling_state(convert_enum<SignalingState>(s->state));
    } else if (std::get_if<NegotiationNeeded>(&ev)) {
        if (on_negotiation_needed) on_negotiation_needed();
    } else if (auto* rc = std::get_if<RemoteChannel>(&ev)) {
        DataChannel dc(adopt_channel(rc->key, rc->options));
        if (on_data_channel_fn) on_data_channel_fn(dc);
        else pending_remote_channels.push_back(dc);
    } else if (auto* o = std::get_if<ChannelOpen>(&ev)) {
        if (auto ch = find(o->key)) {
            ch->state = DataChannelState::Open;
            if (o->stream) ch->stream = o->stream;
            if (ch->on_open) ch->on_open();
            else ch->open_pending = true;
        }
    } else if (auto* m = std::get_if<ChannelMessage>(&ev)) {
        if (auto ch = find(m->key))
            deliver_message(*ch, std::string_view(reinterpret_cast<const char*>(m->data.data()), m->data.size()),
                            m->binary);
    } else if (auto* cl = std::get_if<ChannelClosed>(&ev)) {
        if (auto ch = find(cl->key)) {
            ch->state = DataChannelState::Closed;
            if (ch->on_close) {
                auto cb = std::move(ch->on_close);
                ch->on_close = nullptr;
                cb();
                release_handlers(*ch, std::move(cb));
            } else {
                ch->close_pending = true;
                release_handlers(*ch, nullptr);
            }
        }
        // Forgotten, as in the peer below: only the user's handles keep it.
        live_channels_.erase(cl->key);
        channels_.erase(cl->key);
    } else if (auto* bl = std::get_if<ChannelBufferedLow>(&ev)) {
        if (auto ch = find(bl->key); ch && ch->on_buffered_low) ch->on_buffered_low();
    } else if (auto* er = std::get_if<ChannelError>(&ev)) {
        if (auto ch = find(er->key); ch && ch->on_error) ch->on_error(Status(Errc::invalid_state, er->message));
    } else if (auto* rh = std::get_if<ResolveHostname>(&ev)) {
        resolve_candidate(rh->candidate);
    } else {
        deliver_track_event(ev);
    }
}

void PeerImpl::resolve_candidate(const std::string& candidate) {
    auto c = proto::ice::Candidate::parse(candidate);
    if (closed_ || !c || !c->is_mdns()) return;
    // One resolver per peer connection, opened only when a browser hides its
    // addresses: its socket and cache go with the connection.
    if (!resolver_) resolver_ = std::make_unique<MdnsResolver>(loop_.runtime());
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    std::string name = c->hostname;  // not c->hostname below: the lambda may be built (moving *c) first
    resolver_->resolve(std::move(name), [weak, cand = std::move(*c)](std::optional<base::IpAddress> ip) mutable {
        auto self = weak.lock();
        if (!self || self->closed_ || !self->peer_) return;
        if (!ip) {
            // Not an error: the peer's checks still reach us and ICE learns
            // its address as peer-reflexive (RFC 8445 §7.3.1.3).
            DUPLEX_LOG(Info, "rtc: " << "mDNS name " << cand.hostname
                                     << " not resolved; its candidate is ignored");
            return;
        }
        DUPLEX_LOG(Info, "rtc: " << "mDNS name " << cand.hostname << " is " << ip->to_string());
        cand.address.ip = *ip;
        cand.hostname.clear();
        auto st = self->peer_->add_remote_candidate(cand.to_sdp_attribute(), base::Clock::now());
        if (!st.ok()) DUPLEX_LOG(Info, "rtc: " << "resolved candidate not added: " << st.message());
        self->flush();
    });
}

Result<DataChannel> PeerImpl::create_data_channel(std::string label, const DataChannelInit& init) {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    proto::rtc::ChannelOptions o;
    o.label = std::move(label);
    o.protocol = init.protocol;
    o.ordered = init.ordered;
    o.max_retransmits = init.max_retransmits;
    o.max_packet_life_time = init.max_packet_life_time;
    o.negotiated = init.negotiated;
    o.id = init.id;
    auto key = peer_->create_channel(o, base::Clock::now());
    if (!key) return key.status();
    auto st = adopt_channel(*key, o);
    flush_soon();
    return DataChannel(st);
}

Result<SessionDescription> PeerImpl::create_offer() {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto sdp = peer_->create_offer();
    if (!sdp) return sdp.status();
    return SessionDescription{SdpType::Offer, std::move(*sdp)};
}

Result<SessionDescription> PeerImpl::create_answer() {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto sdp = peer_->create_answer();
    if (!sdp) return sdp.status();
    return SessionDescription{SdpType::Answer, std::move(*sdp)};
}

Status PeerImpl::set_local_description(const SessionDescription& d) {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto st = peer_->set_local_description(to_kind(d.type), d.sdp, base::Clock::now());
    flush_soon();
    return st;
}

Status PeerImpl::set_local_description_implicit() {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    const auto state = peer_->signaling_state();
    const bool answer = state == proto::rtc::SignalingState::HaveRemoteOffer ||
                        state == proto::rtc::SignalingState::HaveLocalPranswer;
    auto d = answer ? create_answer() : create_offer();
    if (!d) return d.status();
    return set_local_description(*d);
}

Status PeerImpl::set_remote_description(const SessionDescription& d) {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto st = peer_->set_remote_description(to_kind(d.type), d.sdp, base::Clock::now());
    flush_soon();
    return st;
}

Status PeerImpl::add_ice_candidate(const IceCandidate& c) {
    if (closed_) return Status(Errc::invalid_state, "the peer connection is closed");
    auto st = peer_->add_remote_candidate(c.candidate, base::Clock::now());
    flush_soon();
    return st;
}

void PeerImpl::restart_ice() {
    if (closed_ || !peer_) return;
    peer_->restart_ice();
    flush_soon();
}

std::optional<SessionDescription> PeerImpl::local_description() const {
    if (!peer_) return std::nullopt;
    auto d = peer_->local_description();
    if (!d) return std::nullopt;
    return SessionDescription{from_kind(d->first), d->second};
}

std::optional<SessionDescription> PeerImpl::remote_description() const {
    if (!peer_) return std::nullopt;
    auto d = peer_->remote_description();
    if (!d) return std::nullopt;
    return SessionDescription{from_kind(d->first), d->second};
}

SignalingState PeerImpl::signaling_state() const noexcept {
    if (closed_ || !peer_) return SignalingState::Closed;
    return convert_enum<SignalingState>(peer_->signaling_state());
}

PeerConnectionStats PeerImpl::stats() const {
    PeerConnectionStats s;
    if (!peer_) return s;
    auto p = peer_->stats();
    s.bytes_sent = p.bytes_sent;
    s.bytes_received = p.bytes_received;
    s.messages_sent = p.messages_sent;
    s.messages_received = p.messages_received;
    s.data_channels_opened = p.channels_opened;
    s.data_channels_closed = p.channels_closed;
    s.local_candidate = p.local_candidate;
    s.remote_candidate = p.remote_candidate;
    s.local_candidate_type = p.local_candidate_type;
    s.remote_candidate_type = p.remote_candidate_type;
    s.relay_protocol = p.relay_protocol;
    s.candidate_protocol = p.candidate_protocol;
    s.dtls_cipher = p.dtls_cipher;
    s.failure_reason = p.failure;
    if (p.rtt) s.round_trip_time = std::chrono::duration_cast<std::chrono::microseconds>(*p.rtt);
    s.available_outgoing_bitrate = p.available_outgoing_bitrate;
    return s;
}

void PeerImpl::close() {
    if (closed_ || !peer_) return;
    auto keep = shared_from_this();
    peer_->close(base::Clock::now());
    // The close_notify leaves now, even when close() is called from inside a
    // callback (flush() is then already running and returns at once).
    (void)send_transmits();
    flush();  // channel close events, state change to closed
    closed_ = true;
    if (timer_ != 0) loop_.runtime().cancel_timer(timer_);
    timer_ = 0;
    retire_sockets();
    for (auto& [key, w] : channels_)
        if (auto ch = w.lock()) ch->state = DataChannelState::Closed;
    live_channels_.clear();
    // A closed connection fires nothing more; handlers that capture the
    // PeerConnection (a cycle) are dropped once the running callback returns.
    auto bag = std::make_shared<std::tuple<decltype(on_ice_candidate), decltype(on_data_channel_fn),
                                           decltype(on_connection_state), decltype(on_ice_state),
                                           decltype(on_gathering_state), decltype(on_signaling_state),
                                           decltype(on_negotiation_needed), decltype(on_outgoing_bitrate)>>(
        std::move(on_ice_candidate), std::move(on_data_channel_fn), std::move(on_connection_state),
        std::move(on_ice_state), std::move(on_gathering_state), std::move(on_signaling_state),
        std::move(on_negotiation_needed), std::move(on_outgoing_bitrate));
    on_ice_candidate = nullptr;
    on_ice_candidate_error = nullptr;
    on_pair_change = nullptr;
    on_outgoing_bitrate = nullptr;
    on_data_channel_fn = nullptr;
    on_connection_state = nullptr;
    on_ice_state = nullptr;
    on_gathering_state = nullptr;
    on_signaling_state = nullptr;
    on_negotiation_needed = nullptr;
    pending_remote_channels.clear();
    // The same for the tracks' handlers (a handler often holds its own track).
    auto track_bag = std::make_shared<std::vector<std::shared_ptr<TrackState>>>();
    for (auto& [key, t] : tracks_) track_bag->push_back(t);
    tracks_.clear();
    auto on_track = std::move(on_track_fn);
    on_track_fn = nullptr;
    loop_.runtime().defer([bag, track_bag, on_track] {
        for (auto& t : *track_bag) {
            t->on_frame = nullptr;
            t->on_key_frame_request = nullptr;
            ++t->handlers_set;
        }
    });
}

SendResult PeerImpl::send(ChannelState& ch, bool binary, std::span<const std::byte> data) {
    if (closed_) return Errc::invalid_state;
    auto st = peer_->send(ch.key, binary, data, base::Clock::now());
    flush();
    return st;
}

std::size_t PeerImpl::buffered_amount(const ChannelState& ch) const {
    return peer_ ? peer_->buffered_amount(ch.key) : 0;
}

void PeerImpl::set_low_threshold(ChannelState& ch, std::size_t bytes) {
    ch.low_threshold = bytes;
    if (peer_) peer_->set_low_threshold(ch.key, bytes);
}

void PeerImpl::close_channel(ChannelState& ch) {
    if (closed_ || !peer_) return;
    peer_->close_channel(ch.key, base::Clock::now());
    flush();
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Public handles.

namespace {

template <class Impl, class Fn>
auto on_loop(const std::shared_ptr<Impl>& impl, EventLoop& loop, Fn fn) {
    using R = decltype(fn(*impl));
    if (loop.in_loop_thread()) return fn(*impl);
    loop.post([impl, fn]() mutable { (void)fn(*impl); });
    // Posted: the outcome is not known yet (a Status is ok, void is void).
    if constexpr (!std::is_void_v<R>) return R{};
}

Status no_impl() { return Status(Errc::invalid_state, "empty PeerConnection handle"); }

}  // namespace

PeerConnection::PeerConnection(EventLoop& loop, Configuration config)
    : impl_(std::make_shared<detail::PeerImpl>(loop, std::move(config))) {
    if (auto st = impl_->init(); !st.ok()) {
        DUPLEX_LOG(Error, "rtc: " << "peer connection: " << st.message());
        impl_->close();
    }
}

Result<PeerConnection> PeerConnection::create(EventLoop& loop, Configuration config) {
    PeerConnection pc;
    pc.impl_ = std::make_shared<detail::PeerImpl>(loop, std::move(config));
    if (auto st = pc.impl_->init(); !st.ok()) {
        pc.impl_->close();
        return st;
    }
    return pc;
}

EventLoop* PeerConnection::loop() const noexcept { return impl_ ? &impl_->loop() : nullptr; }

Result<DataChannel> PeerConnection::create_data_channel(std::string label, DataChannelInit init) {
    if (!impl_) return no_impl();
    if (!impl_->loop().in_loop_thread()) return Status(Errc::invalid_state, "create_data_channel: call it on the loop thread");
    return impl_->create_data_channel(std::move(label), init);
}

Result<MediaTrack> PeerConnection::add_track(MediaKind kind, TrackInit init) {
    if (!impl_) return no_impl();
    if (!impl_->loop().in_loop_thread()) return Status(Errc::invalid_state, "add_track: call it on the loop thread");
    return impl_->add_track(kind, init);
}

void PeerConnection::on_track(std::function<void(MediaTrack)> fn) {
    if (!impl_) return;
    on_loop(impl_, impl_->loop(), [fn = std::move(fn)](detail::PeerImpl& p) mutable { p.set_on_track(std::move(fn)); });
}

Result<SessionDescription> PeerConnection::create_offer() {
    if (!impl_) return no_impl();
    if (!impl_->loop().in_loop_thread()) return Status(Errc::invalid_state, "create_offer: call it on the loop thread");
    return impl_->create_offer();
}

Result<SessionDescription> PeerConnection::create_answer() {
    if (!impl_) return no_impl();
    if (!impl_->loop().in_loop_thread()) return Status(Errc::invalid_state, "create_answer: call it on the loop thread");
    return impl_->create_answer();
}

Status PeerConnection::set_local_description(const SessionDescription& d) {
    if (!impl_) return no_impl();
    return on_loop(impl_, impl_->loop(), [d](detail::PeerImpl& p) { return p.set_local_description(d); });
}

Status PeerConnection::set_local_description() {
    if (!impl_) return no_impl();
    return on_loop(impl_, impl_->loop(), [](detail::PeerImpl& p) { return p.set_local_description_implicit(); });
}

Status PeerConnection::set_remote_description(const SessionDescription& d) {
    if (!impl_) return no_impl();
    return on_loop(impl_, impl_->loop(), [d](detail::PeerImpl& p) { return p.set_remote_description(d); });
}

Status PeerConnection::add_ice_candidate(const IceCandidate& c) {
    if (!impl_) return no_impl();
    return on_loop(impl_, impl_->loop(), [c](detail::PeerImpl& p) { return p.add_ice_candidate(c); });
}

Status PeerConnection::set_configuration(const Configuration& config) {
    if (!impl_) return no_impl();
    return on_loop(impl_, impl_->loop(), [config](detail::PeerImpl& p) { return p.set_configuration(config); });
}

void PeerConnection::restart_ice() {
    if (!impl_) return;
    on_loop(impl_, impl_->loop(), [](detail::PeerImpl& p) { p.restart_ice(); });
}

std::optional<SessionDescription> PeerConnection::local_description() const {
    return impl_ ? impl_->local_description() : std::nullopt;
}
std::optional<SessionDescription> PeerConnection::remote_description() const {
    return impl_ ? impl_->remote_description() : std::nullopt;
}
PeerConnectionState PeerConnection::connection_state() const {
    return impl_ ? impl_->connection_state() : PeerConnectionState::Closed;
}
IceConnectionState PeerConnection::ice_connection_state() const {
    return impl_ ? impl_->ice_connection_state() : IceConnectionState::Closed;
}
IceGatheringState PeerConnection::ice_gathering_state() const {
    return impl_ ? impl_->ice_gathering_state() : IceGatheringState::New;
}
SignalingState PeerConnection::signaling_state() const {
    return impl_ ? impl_->signaling_state() : SignalingState::Closed;
}
PeerConnectionStats PeerConnection::get_stats() const { return impl_ ? impl_->stats() : PeerConnectionStats{}; }

#define DUPLEX_SET_HANDLER(method, member, Type)                                                       \
    void PeerConnection::method(Type fn) {                                                             \
        if (!impl_) return;                                                                            \
        on_loop(impl_, impl_->loop(), [fn = std::move(fn)](detail::PeerImpl& p) mutable { p.member = std::move(fn); }); \
    }
DUPLEX_SET_HANDLER(on_ice_candidate, on_ice_candidate, std::function<void(const IceCandidate&)>)
DUPLEX_SET_HANDLER(on_ice_candidate_error, on_ice_candidate_error, std::function<void(const IceCandidateError&)>)
DUPLEX_SET_HANDLER(on_selected_candidate_pair_change, on_pair_change, std::function<void()>)
DUPLEX_SET_HANDLER(on_outgoing_bitrate, on_outgoing_bitrate, std::function<void(std::uint32_t)>)
DUPLEX_SET_HANDLER(on_connection_state_change, on_connection_state, std::function<void(PeerConnectionState)>)
DUPLEX_SET_HANDLER(on_ice_connection_state_change, on_ice_state, std::function<void(IceConnectionState)>)
DUPLEX_SET_HANDLER(on_ice_gathering_state_change, on_gathering_state, std::function<void(IceGatheringState)>)
DUPLEX_SET_HANDLER(on_signaling_state_change, on_signaling_state, std::function<void(SignalingState)>)
DUPLEX_SET_HANDLER(on_negotiation_needed, on_negotiation_needed, std::function<void()>)
#undef DUPLEX_SET_HANDLER

void PeerConnection::on_data_channel(std::function<void(DataChannel)> fn) {
    if (!impl_) return;
    on_loop(impl_, impl_->loop(), [fn = std::move(fn)](detail::PeerImpl& p) mutable {
        p.on_data_channel_fn = std::move(fn);
        // Channels that opened before the handler was set are not lost.
        while (!p.pending_remote_channels.empty() && p.on_data_channel_fn) {
            auto dc = p.pending_remote_channels.front();
            p.pending_remote_channels.pop_front();
            p.on_data_channel_fn(dc);
        }
    });
}

void PeerConnection::close() {
    if (!impl_) return;
    on_loop(impl_, impl_->loop(), [](detail::PeerImpl& p) { p.close(); });
}

// --- names, as the browser spells them ---

const char* to_string(SdpType t) noexcept {
    switch (t) {
        case SdpType::Offer: return "offer";
        case SdpType::Answer: return "answer";
        case SdpType::Pranswer: return "pranswer";
        case SdpType::Rollback: return "rollback";
    }
    return "?";
}
std::optional<SdpType> sdp_type_from_string(std::string_view s) noexcept {
    if (s == "offer") return SdpType::Offer;
    if (s == "answer") return SdpType::Answer;
    if (s == "pranswer") return SdpType::Pranswer;
    if (s == "rollback") return SdpType::Rollback;
    return std::nullopt;
}
// The public enums list the same states in the same order as the rtc machine's.
const char* to_string(PeerConnectionState s) noexcept {
    return proto::rtc::to_string(base::same_order_cast<proto::rtc::ConnectionState>(s));
}
const char* to_string(IceConnectionState s) noexcept {
    return proto::rtc::to_string(base::same_order_cast<proto::rtc::IceState>(s));
}
const char* to_string(IceGatheringState s) noexcept {
    static const char* names[] = {"new", "gathering", "complete"};
    return names[static_cast<int>(s)];
}
const char* to_string(SignalingState s) noexcept {
    return proto::rtc::to_string(base::same_order_cast<proto::rtc::SignalingState>(s));
}

}  // namespace duplex
