// proto/rtc/peer.cpp: the composition. The parts and who feeds whom:
//
//   datagram ──demux (RFC 7983)──► ICE agent (STUN)      ► transmits
//                               └► DTLS endpoint ─app data─► SCTP association
//   SCTP packet ─► DTLS record ─► datagram on ICE's data pair (selected, or valid before that)
//   SCTP message ─► DCEP (PPID 50) or a channel's message (PPID 51/53/56/57)
#include "proto/rtc/peer.hpp"

#include "base/digest.hpp"
#include "proto/dcep/message.hpp"
#include "proto/dtls/certificate.hpp"
#include "proto/dtls/endpoint.hpp"
#include "proto/ice/agent.hpp"
#include "proto/ice/candidate.hpp"
#include "proto/sctp/association.hpp"
#include "proto/sctp/usrsctp_association.hpp"
#include "proto/sdp/jsep.hpp"
#include "proto/sdp/session_description.hpp"
#include "proto/sdp/signaling_state.hpp"

#include <algorithm>
#include <deque>
#include <map>

namespace duplex::proto::rtc {

namespace {

// The SCTP payload protocol identifiers (RFC 8831 §8, RFC 8832 §8.1) are dcep::Ppid.
constexpr auto kPpidDcep = static_cast<std::uint32_t>(dcep::Ppid::Dcep);

constexpr std::size_t kMaxQueuedDtls = 32;     // DTLS datagrams held until ICE has a path
constexpr std::size_t kMaxChannels = 1024;     // SCTP streams (RFC 8831 §6.2: 65535 max; we offer 1024)

std::string random_ice_string(std::size_t n) {
    // RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/".
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::vector<std::byte> r(n);
    (void)base::random_bytes(r);
    std::string s(n, 'A');
    for (std::size_t i = 0; i < n; ++i) s[i] = alphabet[std::to_integer<unsigned>(r[i]) % 64];
    return s;
}

std::uint64_t random_u64() {
    std::array<std::byte, 8> r{};
    (void)base::random_bytes(r);
    return base::load_be64(r.data());
}

base::Status error(Errc e, std::string detail) { return base::Status(make_error_code(e), std::move(detail)); }

sdp::SdpType to_sdp_type(SdpKind k) {
    switch (k) {
        case SdpKind::Offer: return sdp::SdpType::offer;
        case SdpKind::Answer: return sdp::SdpType::answer;
        case SdpKind::Pranswer: return sdp::SdpType::pranswer;
        case SdpKind::Rollback: return sdp::SdpType::rollback;
    }
    return sdp::SdpType::offer;
}

base::Status status_of(const sdp::SignalingResult& r) {
    if (auto* e = std::get_if<sdp::SignalingError>(&r)) return error(Errc::invalid_state, e->message);
    return {};
}

SignalingState convert(sdp::SignalingState s) { return static_cast<SignalingState>(static_cast<int>(s)); }

// RFC 8832 §5.1: the channel type byte from the channel's options.
dcep::ChannelType channel_type_of(const ChannelOptions& o) {
    const std::uint8_t unordered = o.ordered ? 0x00 : 0x80;
    const std::uint8_t kind = o.max_retransmits ? 0x01 : o.max_packet_life_time ? 0x02 : 0x00;
    return static_cast<dcep::ChannelType>(unordered | kind);
}

}  // namespace

struct Channel {
    ChannelInfo info;
    bool remote_opened = false;   // opened by the peer (DCEP) vs by us
    bool ack_pending = false;     // we sent OPEN, waiting for ACK
    bool closing_sent = false;
};

class Peer::Impl {
public:
    PeerConfig config;
    dtls::Certificate certificate;
    std::string ufrag = random_ice_string(8), pwd = random_ice_string(24);
    std::uint64_t tie_breaker = random_u64();
    std::uint64_t session_id = random_u64() >> 2;  // RFC 8866 §5.2: a numeric id; keep it < 2^63
    std::uint64_t session_version = 1;

    sdp::SignalingMachine signaling;
    std::optional<std::pair<SdpKind, std::string>> local_desc, remote_desc;
    std::optional<std::pair<SdpKind, std::string>> rollback_local;  // what a local rollback restores
    std::optional<sdp::RemoteParams> remote;
    std::string mid = "0";
    bool offerer = false;   // we made the first offer (ICE controlling, RFC 8445 §6.1.1)

    std::vector<base::Endpoint> hosts;
    bool hosts_done = false;
    std::unique_ptr<ice::Agent> agent;
    std::vector<std::string> local_candidates;  // gathered, as SDP attribute values
    bool gathering_complete = false;
    bool local_set = false;  // candidates are announced only after set_local_description

    std::unique_ptr<dtls::Endpoint> dtls;
    std::deque<std::vector<std::byte>> dtls_waiting;  // out, before ICE has a valid pair
    // In, before we have a DTLS endpoint or the sender is a checked remote:
    // the peer may find a valid pair first and send its ClientHello before
    // its check (or our answer) reaches us. {local socket, from, datagram}.
    struct EarlyDtls {
        base::Endpoint local, from;
        std::vector<std::byte> data;
    };
    std::deque<EarlyDtls> dtls_early;
    std::unique_ptr<sctp::Association> sctp;

    std::map<ChannelKey, Channel> channels;
    std::map<std::uint16_t, ChannelKey> by_stream;
    ChannelKey next_key = 1;

    std::deque<Transmit> transmits;
    std::deque<PeerEvent> events;

    IceState ice_state = IceState::New;
    ConnectionState conn_state = ConnectionState::New;
    GatheringState gathering = GatheringState::New;
    PeerStats stats;
    bool closed = false;
    bool dtls_connected = false, sctp_connected = false;
    std::string failure;

    // --- helpers ---
    void emit(PeerEvent e) { events.push_back(std::move(e)); }

    void set_connection_state(ConnectionState s) {
        if (s == conn_state) return;
        conn_state = s;
        emit(event::ConnectionChange{s});
    }

    // W3C webrtc-pc §4.3.3 (RTCPeerConnectionState), reduced to our parts.
    void update_connection_state() {
        if (closed) return set_connection_state(ConnectionState::Closed);
        if (ice_state == IceState::Failed || (dtls && dtls->state() == dtls::State::Failed))
            return set_connection_state(ConnectionState::Failed);
        if (ice_state == IceState::Disconnected) return set_connection_state(ConnectionState::Disconnected);
        if ((ice_state == IceState::Connected || ice_state == IceState::Completed) && dtls_connected)
            return set_connection_state(ConnectionState::Connected);
        if (ice_state == IceState::New && !dtls) return set_connection_state(ConnectionState::New);
        set_connection_state(ConnectionState::Connecting);
    }

    sdp::TransportParams local_params(sdp::Setup setup) const {
        sdp::TransportParams p;
        p.ice_ufrag = ufrag;
        p.ice_pwd = pwd;
        p.fingerprint_algorithm = "sha-256";
        p.fingerprint = certificate.fingerprint("sha-256");
        p.setup = setup;
        p.candidates = local_candidates;
        p.end_of_candidates = gathering_complete;
        p.max_message_size = static_cast<std::uint32_t>(config.max_message_size);
        return p;
    }

    void ensure_agent(bool controlling, base::Instant now) {
        if (agent) return;
        ice::AgentConfig ac;
        ac.controlling = controlling;
        ac.tie_breaker = tie_breaker;
        ac.local = ice::Credentials{ufrag, pwd};
        ac.failed_timeout = config.ice_failed_timeout;
        ac.ta = config.ice_pacing;
        agent = std::make_unique<ice::Agent>(ac, now);
        for (const auto& h : hosts) agent->add_host(h);
        for (const auto& s : config.stun_servers) agent->add_stun_server(s);
        if (gathering == GatheringState::New) {
            gathering = GatheringState::Gathering;
            emit(event::GatheringChange{gathering});
        }
    }

    void pump_agent(base::Instant now) {
        if (!agent) return;
        while (auto t = agent->poll_transmit())
            transmits.push_back(Transmit{t->local, t->destination, std::move(t->data)});
        while (auto ev = agent->poll_event()) {
            if (auto* c = std::get_if<ice::event::LocalCandidate>(&*ev)) {
                auto text = c->candidate.to_sdp_attribute();
                local_candidates.push_back(text);
                if (local_set) emit(event::LocalCandidate{text, mid});
            } else if (std::get_if<ice::event::GatheringComplete>(&*ev)) {
                gathering_complete = true;
                if (local_set) announce_gathering_complete();
            } else if (auto* s = std::get_if<ice::event::StateChange>(&*ev)) {
                ice_state = static_cast<IceState>(static_cast<int>(s->state));
                emit(event::IceChange{ice_state});
                if (ice_state == IceState::Connected || ice_state == IceState::Completed) on_ice_connected(now);
                update_connection_state();
            } else if (std::get_if<ice::event::DataPairChange>(&*ev)) {
                flush_dtls_waiting();
                start_dtls_client(now);
            }
        }
        // A check may have proven an early sender's path.
        feed_early_dtls(now);
    }

    void announce_gathering_complete() {
        if (gathering == GatheringState::Complete) return;
        gathering = GatheringState::Complete;
        emit(event::LocalCandidate{std::string(), mid});
        emit(event::GatheringChange{gathering});
    }

    // --- DTLS ---
    void send_datagram(std::vector<std::byte> d) {
        auto pair = agent ? agent->data_pair() : std::nullopt;
        if (!pair) {
            if (dtls_waiting.size() < kMaxQueuedDtls) dtls_waiting.push_back(std::move(d));
            return;
        }
        transmits.push_back(Transmit{pair->first, pair->second, std::move(d)});
    }

    void feed_early_dtls(base::Instant now) {
        if (!agent || !dtls || dtls_early.empty()) return;
        bool fed = false;
        for (auto it = dtls_early.begin(); it != dtls_early.end();) {
            if (agent->accepts_data(it->local, it->from)) {
                auto data = std::move(it->data);
                it = dtls_early.erase(it);
                dtls->handle_datagram(data, now);
                fed = true;
            } else {
                ++it;
            }
        }
        if (fed) pump_dtls(now);
    }

    void flush_dtls_waiting() {
        auto pair = agent ? agent->data_pair() : std::nullopt;
        if (!pair) return;
        while (!dtls_waiting.empty()) {
            transmits.push_back(Transmit{pair->first, pair->second, std::move(dtls_waiting.front())});
            dtls_waiting.pop_front();
        }
    }

    void on_ice_connected(base::Instant now) {
        flush_dtls_waiting();
        start_dtls_client(now);
    }

    /// The DTLS client speaks first, once ICE has a path to speak on.
    void start_dtls_client(base::Instant now) {
        if (!dtls || dtls->state() != dtls::State::New || dtls->role() != dtls::Role::Client) return;
        if (!agent || !agent->data_pair()) return;
        dtls->start(now);
        pump_dtls(now);
    }

    /// Both descriptions are known: the DTLS role follows from a=setup
    /// (RFC 8842 §5): the answerer picks active (client) or passive (server).
    void ensure_dtls(base::Instant now) {
        if (dtls || !remote || !local_desc) return;
        dtls::Role role;
        if (offerer) role = remote->setup == sdp::Setup::passive ? dtls::Role::Client : dtls::Role::Server;
        else role = remote->setup == sdp::Setup::active ? dtls::Role::Server : dtls::Role::Client;
        dtls::EndpointConfig dc;
        dc.role = role;
        dc.certificate = certificate;
        dc.remote_fingerprint_algorithm = remote->fingerprint_algorithm;
        dc.remote_fingerprint = remote->fingerprint;
        // use_srtp is negotiated even without media: browsers always offer it,
        // and some stacks (werift) fail a handshake that leaves it out.
        dc.srtp = true;
        dtls = std::make_unique<dtls::Endpoint>(std::move(dc));
        assign_stream_ids();
        feed_early_dtls(now);
        start_dtls_client(now);
        update_connection_state();
    }

    void pump_dtls(base::Instant now) {
        if (!dtls) return;
        while (auto d = dtls->poll_datagram()) send_datagram(std::move(*d));
        while (auto ev = dtls->poll_event()) {
            if (auto* c = std::get_if<dtls::Connected>(&*ev)) {
                dtls_connected = true;
                stats.dtls_cipher = c->cipher;
                start_sctp(now);
                update_connection_state();
            } else if (auto* d = std::get_if<dtls::Data>(&*ev)) {
                if (sctp) sctp->handle_packet(d->data, now);
            } else if (std::get_if<dtls::Closed>(&*ev)) {
                close_all_channels();
            } else if (auto* f = std::get_if<dtls::Failed>(&*ev)) {
                failure = f->reason;
                close_all_channels();
                update_connection_state();
            }
        }
        pump_sctp(now);
    }

    // --- SCTP ---
    void start_sctp(base::Instant now) {
        if (sctp) return;
        sctp::AssociationConfig sc;
        sc.local_port = 5000;
        sc.remote_port = remote ? remote->sctp_port : 5000;
        sc.max_message_size = config.max_message_size;
        sc.remote_max_message_size = remote ? remote->max_message_size : 65536;
        sctp = sctp::make_usrsctp_association(sc);
        sctp->connect(now);
        pump_sctp(now);
    }

    void pump_sctp(base::Instant now) {
        if (!sctp) return;
        for (int round = 0; round < 4; ++round) {
            bool any = false;
            while (auto p = sctp->poll_packet()) {
                any = true;
                if (dtls && dtls_connected) (void)dtls->send(*p, now);
            }
            if (dtls) while (auto d = dtls->poll_datagram()) send_datagram(std::move(*d));
            while (auto ev = sctp->poll_event()) {
                any = true;
                on_sctp_event(*ev, now);
            }
            if (!any) break;
        }
    }

    void on_sctp_event(sctp::AssociationEvent& ev, base::Instant now) {
        if (std::get_if<sctp::event::Connected>(&ev)) {
            sctp_connected = true;
            // Channels created before the association was up announce themselves now.
            for (auto& [key, ch] : channels)
                if (!ch.remote_opened && ch.info.state == ChannelState::Connecting) open_channel(key, ch, now);
        } else if (auto* m = std::get_if<sctp::event::MessageReceived>(&ev)) {
            on_sctp_message(m->message, now);
        } else if (auto* r = std::get_if<sctp::event::StreamReset>(&ev)) {
            // RFC 8831 §6.7: the peer reset its outgoing stream: reset ours too; the channel is closed.
            auto it = by_stream.find(r->stream);
            if (it == by_stream.end()) return;
            auto& ch = channels[it->second];
            if (!ch.closing_sent) {
                ch.closing_sent = true;
                sctp->reset_stream(r->stream);
            }
            finish_close(it->second);
        } else if (auto* o = std::get_if<sctp::event::OutgoingStreamReset>(&ev)) {
            auto it = by_stream.find(o->stream);
            if (it != by_stream.end() && channels[it->second].info.state == ChannelState::Closing) {
                // Our reset is done; the channel closes when the peer resets its side too.
            }
        } else if (auto* b = std::get_if<sctp::event::BufferedAmountLow>(&ev)) {
            auto it = by_stream.find(b->stream);
            // Only an open channel has a buffered amount to speak of (the DCEP
            // OPEN drains too).
            if (it != by_stream.end() && channels[it->second].info.state == ChannelState::Open)
                emit(event::ChannelBufferedLow{it->second});
        } else if (std::get_if<sctp::event::Closed>(&ev) || std::get_if<sctp::event::Failed>(&ev)) {
            if (auto* f = std::get_if<sctp::event::Failed>(&ev)) failure = f->reason;
            close_all_channels();
        }
    }

    void on_sctp_message(sctp::Message& m, base::Instant now) {
        if (m.ppid == kPpidDcep) return on_dcep(m, now);
        auto it = by_stream.find(m.stream);
        if (it == by_stream.end()) return;  // RFC 8831 §6.6: data on an unopened stream: drop
        auto& ch = channels[it->second];
        if (ch.info.state != ChannelState::Open) {
            // RFC 8832 §6: the opener may send before the ACK arrives; the ACK is implied.
            if (ch.ack_pending && ch.info.state == ChannelState::Connecting) {
                ch.ack_pending = false;
                ch.info.state = ChannelState::Open;
                ++stats.channels_opened;
                emit(event::ChannelOpen{it->second});
            } else {
                return;
            }
        }
        const auto kind = dcep::classify_ppid(m.ppid);
        if (!kind || kind->kind == dcep::PayloadKind::Control) return;  // not a data-channel message
        const bool binary = kind->kind == dcep::PayloadKind::Binary;
        if (kind->empty) m.data.clear();  // RFC 8831 §6.6: the one byte of an empty message is not data
        ++stats.messages_received;
        stats.bytes_received += m.data.size();
        emit(event::ChannelMessage{it->second, binary, std::move(m.data)});
    }

    void on_dcep(sctp::Message& m, base::Instant now) {
        auto parsed = dcep::parse(m.data);
        if (!parsed) return;
        if (auto* open = std::get_if<dcep::DataChannelOpen>(&*parsed)) {
            if (by_stream.count(m.stream) != 0) return;  // a stream in use: ignore (RFC 8832 §6)
            Channel ch;
            ch.remote_opened = true;
            ch.info.options.label = open->label;
            ch.info.options.protocol = open->protocol;
            ch.info.options.ordered = dcep::is_ordered(open->channel_type);
            const auto kind = static_cast<std::uint8_t>(open->channel_type) & 0x7f;
            if (kind == 0x01) ch.info.options.max_retransmits = static_cast<std::uint16_t>(std::min<std::uint32_t>(open->reliability_parameter, 65535));
            if (kind == 0x02) ch.info.options.max_packet_life_time = open->reliability_parameter;
            ch.info.stream = m.stream;
            ch.info.options.id = m.stream;
            ch.info.state = ChannelState::Open;
            const ChannelKey key = next_key++;
            channels.emplace(key, std::move(ch));
            by_stream[m.stream] = key;
            auto ack = dcep::encode_ack();
            (void)sctp->send(m.stream, kPpidDcep, ack, sctp::Reliability{});
            ++stats.channels_opened;
            emit(event::RemoteChannel{key});
            emit(event::ChannelOpen{key});
            pump_sctp(now);
        } else if (std::get_if<dcep::DataChannelAck>(&*parsed)) {
            auto it = by_stream.find(m.stream);
            if (it == by_stream.end()) return;
            auto& ch = channels[it->second];
            if (ch.ack_pending) {
                ch.ack_pending = false;
                ch.info.state = ChannelState::Open;
                ++stats.channels_opened;
                emit(event::ChannelOpen{it->second});
            }
        }
    }

    sctp::Reliability reliability_of(const ChannelOptions& o) const {
        sctp::Reliability r;
        r.ordered = o.ordered;
        r.max_retransmits = o.max_retransmits;
        r.max_packet_life_time_ms = o.max_packet_life_time;
        return r;
    }

    /// RFC 8832 §6: the DTLS client uses even stream ids, the server odd ones.
    std::optional<std::uint16_t> allocate_stream() const {
        if (!dtls) return std::nullopt;
        const std::uint16_t first = dtls->role() == dtls::Role::Client ? 0 : 1;
        for (std::uint32_t id = first; id < kMaxChannels; id += 2)
            if (by_stream.count(static_cast<std::uint16_t>(id)) == 0) return static_cast<std::uint16_t>(id);
        return std::nullopt;
    }

    void assign_stream_ids() {
        for (auto& [key, ch] : channels) {
            if (ch.info.stream) continue;
            auto id = allocate_stream();
            if (!id) {
                ch.info.state = ChannelState::Closed;
                emit(event::ChannelError{key, "no free SCTP stream id"});
                emit(event::ChannelClosed{key});
                continue;
            }
            ch.info.stream = *id;
            ch.info.options.id = *id;
            by_stream[*id] = key;
        }
    }

    void open_channel(ChannelKey key, Channel& ch, base::Instant now) {
        if (!ch.info.stream || !sctp_connected) return;
        if (ch.info.options.negotiated) {
            ch.info.state = ChannelState::Open;
            ++stats.channels_opened;
            emit(event::ChannelOpen{key});
            return;
        }
        if (ch.ack_pending) return;
        dcep::DataChannelOpen open;
        open.channel_type = channel_type_of(ch.info.options);
        open.reliability_parameter = ch.info.options.max_retransmits ? *ch.info.options.max_retransmits
                                     : ch.info.options.max_packet_life_time ? *ch.info.options.max_packet_life_time
                                                                            : 0;
        open.label = ch.info.options.label;
        open.protocol = ch.info.options.protocol;
        auto bytes = dcep::encode(open);
        if (!bytes) {
            emit(event::ChannelError{key, "cannot encode DATA_CHANNEL_OPEN: " + bytes.status().message()});
            return;
        }
        // DCEP messages are sent reliably and in order (RFC 8832 §6).
        auto st = sctp->send(*ch.info.stream, kPpidDcep, *bytes, sctp::Reliability{});
        if (!st.ok()) {
            emit(event::ChannelError{key, "cannot send DATA_CHANNEL_OPEN: " + st.message()});
            return;
        }
        ch.ack_pending = true;
        pump_sctp(now);
    }

    void finish_close(ChannelKey key) {
        auto it = channels.find(key);
        if (it == channels.end() || it->second.info.state == ChannelState::Closed) return;
        it->second.info.state = ChannelState::Closed;
        if (it->second.info.stream) by_stream.erase(*it->second.info.stream);
        ++stats.channels_closed;
        emit(event::ChannelClosed{key});
    }

    void close_all_channels() {
        for (auto& [key, ch] : channels)
            if (ch.info.state != ChannelState::Closed) finish_close(key);
    }

    void pump_all(base::Instant now) {
        pump_agent(now);
        pump_dtls(now);
        pump_agent(now);
    }

    /// Undoes our pending offer (W3C webrtc-pc §4.4.1.5 rollback; also the
    /// implicit rollback of a colliding remote offer in perfect negotiation).
    /// In the first negotiation nothing was established yet: the ICE agent
    /// started as the controlling side is dropped, and the one made for the
    /// remote offer will be controlled (RFC 8445 §6.1.1: the offerer controls).
    void rollback_local_offer() {
        local_desc = rollback_local;
        rollback_local.reset();
        if (!remote_desc && !dtls) {
            agent.reset();
            local_candidates.clear();
            gathering_complete = false;
            local_set = false;
            offerer = false;
            if (gathering != GatheringState::New) {
                gathering = GatheringState::New;
                emit(event::GatheringChange{gathering});
            }
        }
    }

    void new_local_credentials() {
        ufrag = random_ice_string(8);
        pwd = random_ice_string(24);
        local_candidates.clear();
        gathering_complete = false;
    }

    /// Our description carries new ICE credentials (an ICE restart we offer,
    /// or our answer to the peer's restart): the agent starts a new
    /// generation and signals its candidates again (RFC 8838 §4.1).
    void apply_local_credentials(const sdp::SessionDescription& d, base::Instant now) {
        auto mine = sdp::extract_remote(d);  // the same fields, read from our side
        auto* p = std::get_if<sdp::RemoteParams>(&mine);
        if (!p || !agent) return;
        if (p->ice_ufrag == agent->local_credentials().ufrag && p->ice_pwd == agent->local_credentials().pwd) return;
        local_candidates.clear();
        gathering_complete = false;
        if (gathering != GatheringState::Gathering) {
            gathering = GatheringState::Gathering;
            emit(event::GatheringChange{gathering});
        }
        agent->restart(ice::Credentials{p->ice_ufrag, p->ice_pwd}, now);
    }

    /// A remote candidate to ICE. One named by an mDNS hostname is still
    /// given to the agent, which skips it but then knows not to declare
    /// failure on an exhausted checklist (RFC 8445 §7.3.1.3: the peer's
    /// checks may still teach us its address); the runtime hears of it to
    /// resolve the name (draft-ietf-mmusic-mdns-ice-candidates §3.2.2). The
    /// lookup is IO, so it is not done here.
    void add_remote(const ice::Candidate& c, base::Instant now) {
        if (c.is_mdns() && c.component == 1 && c.transport == ice::Transport::Udp)
            emit(event::ResolveHostname{c.to_sdp_attribute()});
        agent->add_remote_candidate(c, now);
    }

    // --- descriptions ---
    base::Status apply_remote(const sdp::SessionDescription& d, SdpKind kind, base::Instant now) {
        auto r = sdp::extract_remote(d);
        if (auto* e = std::get_if<sdp::JsepError>(&r)) return error(Errc::invalid_argument, e->message);
        auto& rp = std::get<sdp::RemoteParams>(r);
        const bool restart = remote && (remote->ice_ufrag != rp.ice_ufrag || remote->ice_pwd != rp.ice_pwd);
        if (remote && remote->fingerprint != rp.fingerprint && dtls)
            return error(Errc::invalid_argument, "the remote DTLS fingerprint changed during the session");
        remote = rp;
        if (kind == SdpKind::Offer) mid = rp.mid.empty() ? "0" : rp.mid;
        ensure_agent(offerer, now);
        // RFC 8445 §9 / RFC 8839 §4.4.1.1.1: an offer with new credentials
        // restarts ICE; the answer then carries new credentials of ours too
        // (the agent restarts when that answer is set as local description).
        if (restart && kind == SdpKind::Offer) new_local_credentials();
        agent->set_remote_credentials(ice::Credentials{rp.ice_ufrag, rp.ice_pwd});
        for (const auto& c : rp.candidates)
            if (auto cand = ice::Candidate::parse(c)) add_remote(*cand, now);
        if (rp.end_of_candidates) agent->end_of_remote_candidates();
        return {};
    }
};

// ---------------------------------------------------------------------------

Peer::Peer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Peer::~Peer() = default;

base::Result<std::unique_ptr<Peer>> Peer::create(PeerConfig config, base::Instant now) {
    (void)now;
    auto cert = config.certificate_pem.empty()
                    ? dtls::Certificate::generate()
                    : dtls::Certificate::from_pem(config.certificate_pem, config.private_key_pem);
    if (!cert) return cert.status();
    auto impl = std::make_unique<Impl>();
    impl->config = std::move(config);
    impl->certificate = std::move(*cert);
    return std::unique_ptr<Peer>(new Peer(std::move(impl)));
}

base::Result<std::string> Peer::create_offer() {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    if (s.signaling.state() == sdp::SignalingState::have_remote_offer)
        return error(Errc::invalid_state, "create_offer: called in state have-remote-offer");
    // RFC 8842 §5.2: an offer says actpass; once the roles are fixed a new
    // offer keeps them.
    sdp::Setup setup = sdp::Setup::actpass;
    if (s.dtls) setup = s.dtls->role() == dtls::Role::Client ? sdp::Setup::active : sdp::Setup::passive;
    auto d = sdp::create_offer(s.local_params(setup), s.session_id, s.session_version, s.mid);
    return sdp::write(d);
}

base::Result<std::string> Peer::create_answer() {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    if (!s.remote_desc || s.remote_desc->first != SdpKind::Offer ||
        (s.signaling.state() != sdp::SignalingState::have_remote_offer &&
         s.signaling.state() != sdp::SignalingState::have_local_pranswer))
        return error(Errc::invalid_state, "create_answer: there is no remote offer to answer");
    auto parsed = sdp::parse(s.remote_desc->second);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed)) return error(Errc::invalid_argument, e->to_string());
    // RFC 8842 §5.2: the answerer picks; active (DTLS client) as browsers do,
    // unless the roles were fixed by an earlier exchange.
    sdp::Setup setup = sdp::Setup::active;
    if (s.dtls) setup = s.dtls->role() == dtls::Role::Client ? sdp::Setup::active : sdp::Setup::passive;
    auto answer = sdp::create_answer(std::get<sdp::SessionDescription>(parsed), s.local_params(setup), s.session_id,
                                     s.session_version);
    if (auto* e = std::get_if<sdp::JsepError>(&answer)) return error(Errc::invalid_argument, e->message);
    return sdp::write(std::get<sdp::SessionDescription>(answer));
}

base::Status Peer::set_local_description(SdpKind kind, std::string_view text, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    auto probe = s.signaling;
    if (auto st = status_of(probe.set_local(to_sdp_type(kind))); !st.ok()) return st;
    if (kind == SdpKind::Rollback) {
        s.signaling = probe;
        s.rollback_local_offer();
        s.emit(event::SignalingChange{convert(s.signaling.state())});
        return {};
    }
    auto parsed = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed)) return error(Errc::invalid_argument, e->to_string());
    if (kind == SdpKind::Offer && !s.remote_desc) s.offerer = true;
    if (kind == SdpKind::Offer) s.rollback_local = s.local_desc;
    s.signaling = probe;
    s.local_desc = std::make_pair(kind, std::string(text));
    ++s.session_version;
    s.local_set = true;
    const bool had_agent = s.agent != nullptr;
    s.ensure_agent(s.offerer, now);
    if (had_agent) s.apply_local_credentials(std::get<sdp::SessionDescription>(parsed), now);
    // Candidates gathered before the description was set are announced now.
    for (const auto& c : s.local_candidates) s.emit(event::LocalCandidate{c, s.mid});
    if (s.gathering_complete) s.announce_gathering_complete();
    s.emit(event::SignalingChange{convert(s.signaling.state())});
    if (kind == SdpKind::Answer) s.ensure_dtls(now);
    s.pump_all(now);
    return {};
}

base::Status Peer::set_remote_description(SdpKind kind, std::string_view text, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    if (kind == SdpKind::Rollback) {
        if (auto st = status_of(s.signaling.set_remote(to_sdp_type(kind))); !st.ok()) return st;
        s.remote_desc.reset();
        s.emit(event::SignalingChange{convert(s.signaling.state())});
        return {};
    }
    auto parsed = sdp::parse(text);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed))
        return error(Errc::invalid_argument, "invalid remote SDP: " + e->to_string());
    // Check the state first, then the content: a refused description changes nothing.
    auto probe = s.signaling;
    if (auto st = status_of(probe.set_remote(to_sdp_type(kind))); !st.ok()) return st;
    // A remote offer while ours is pending: our offer is rolled back first
    // (the implicit rollback of perfect negotiation, W3C webrtc-pc §4.4.1.6).
    if (kind == SdpKind::Offer && s.signaling.state() == sdp::SignalingState::have_local_offer)
        s.rollback_local_offer();
    if (kind == SdpKind::Offer && !s.local_desc) s.offerer = false;
    auto st = s.apply_remote(std::get<sdp::SessionDescription>(parsed), kind, now);
    if (!st.ok()) return st;
    s.signaling = probe;
    s.remote_desc = std::make_pair(kind, std::string(text));
    s.emit(event::SignalingChange{convert(s.signaling.state())});
    if (kind == SdpKind::Answer) s.ensure_dtls(now);
    s.pump_all(now);
    return {};
}

base::Status Peer::add_remote_candidate(std::string_view candidate, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    if (!s.remote_desc) return error(Errc::invalid_state, "add_ice_candidate: no remote description yet");
    if (candidate.empty()) {
        s.agent->end_of_remote_candidates();
        s.pump_all(now);
        return {};
    }
    auto c = ice::Candidate::parse(candidate);
    if (!c) return error(Errc::invalid_argument, "add_ice_candidate: cannot parse \"" + std::string(candidate) + "\"");
    s.add_remote(*c, now);
    s.pump_all(now);
    return {};
}

void Peer::restart_ice() {
    auto& s = *impl_;
    if (s.closed || !s.local_desc) return;
    // The next offer carries new credentials (W3C webrtc-pc §4.4.1.6 restartIce).
    s.new_local_credentials();
    s.emit(event::NegotiationNeeded{});
}

SignalingState Peer::signaling_state() const noexcept {
    if (impl_->closed) return SignalingState::Closed;
    return convert(impl_->signaling.state());
}
std::optional<std::pair<SdpKind, std::string>> Peer::local_description() const { return impl_->local_desc; }
std::optional<std::pair<SdpKind, std::string>> Peer::remote_description() const { return impl_->remote_desc; }

void Peer::add_host(const base::Endpoint& local, base::Instant now) {
    impl_->hosts.push_back(local);
    if (impl_->agent) {
        impl_->agent->add_host(local);
        impl_->pump_agent(now);
    }
}

void Peer::hosts_complete(base::Instant now) {
    impl_->hosts_done = true;
    impl_->pump_agent(now);
}

void Peer::handle_datagram(const base::Endpoint& local, const base::Endpoint& from, base::Bytes datagram,
                           base::Instant now) {
    auto& s = *impl_;
    if (s.closed || datagram.empty()) return;
    const auto first = std::to_integer<unsigned>(datagram[0]);
    // RFC 7983 §7 (updating RFC 5764 §5.1.2).
    if (first <= 3) {
        if (s.agent) {
            s.agent->handle_stun(local, from, datagram, now);
            s.pump_agent(now);
        }
    } else if (first >= 20 && first <= 63) {
        // DTLS is ours only over a path an ICE check has proven (RFC 8445
        // §12.2): the data pair, a valid pair, or one the peer checked.
        if (!s.dtls || !s.agent || !s.agent->accepts_data(local, from)) {
            // Kept (a few) until the answer made our DTLS endpoint or the
            // sender's check arrives: the peer may get there first.
            if (s.dtls_early.size() >= kMaxQueuedDtls) s.dtls_early.pop_front();  // newest win: DTLS retransmits
            s.dtls_early.push_back(
                    Impl::EarlyDtls{local, from, std::vector<std::byte>(datagram.begin(), datagram.end())});
            return;
        }
        s.dtls->handle_datagram(datagram, now);
        s.pump_dtls(now);
    }
    // 64..79 TURN channel data, 128..191 RTP/RTCP: not yet; dropped.
}

std::optional<Transmit> Peer::poll_transmit() {
    auto& q = impl_->transmits;
    if (q.empty()) return std::nullopt;
    Transmit t = std::move(q.front());
    q.pop_front();
    return t;
}

base::Result<ChannelKey> Peer::create_channel(const ChannelOptions& options, base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    if (options.max_retransmits && options.max_packet_life_time)
        return error(Errc::invalid_argument, "max_retransmits and max_packet_life_time are exclusive");
    if (options.label.size() > 65535 || options.protocol.size() > 65535)
        return error(Errc::invalid_argument, "label and protocol are at most 65535 bytes");
    if (options.negotiated && !options.id) return error(Errc::invalid_argument, "a negotiated channel needs an id");
    if (options.id && *options.id >= kMaxChannels)
        return error(Errc::invalid_argument, "channel id out of range (0-1023)");
    if (options.negotiated && s.by_stream.count(*options.id) != 0)
        return error(Errc::invalid_argument, "channel id " + std::to_string(*options.id) + " is in use");
    Channel ch;
    ch.info.options = options;
    if (options.negotiated) ch.info.stream = options.id;
    const ChannelKey key = s.next_key++;
    auto [it, _] = s.channels.emplace(key, std::move(ch));
    if (it->second.info.stream) s.by_stream[*it->second.info.stream] = key;
    else if (s.dtls) s.assign_stream_ids();
    // The first channel makes an SDP application section necessary.
    if (s.channels.size() == 1 && !s.local_desc) s.emit(event::NegotiationNeeded{});
    if (s.sctp_connected) s.open_channel(key, it->second, now);
    return key;
}

base::Status Peer::send(ChannelKey key, bool binary, base::Bytes data, base::Instant now) {
    auto& s = *impl_;
    auto it = s.channels.find(key);
    if (it == s.channels.end() || it->second.info.state != ChannelState::Open || !s.sctp)
        return error(Errc::invalid_state, "the data channel is not open");
    auto& ch = it->second;
    const auto ppid = static_cast<std::uint32_t>(dcep::ppid_for(binary, data.empty()));
    // RFC 8831 §6.6: an empty message is sent as one zero byte with the "empty" PPID.
    static constexpr std::byte zero[1] = {std::byte{0}};
    base::Bytes payload = data.empty() ? base::Bytes(zero, 1) : data;
    auto st = s.sctp->send(*ch.info.stream, ppid, payload, s.reliability_of(ch.info.options));
    if (!st.ok()) return st;
    ++s.stats.messages_sent;
    s.stats.bytes_sent += data.size();
    s.pump_sctp(now);
    return {};
}

void Peer::close_channel(ChannelKey key, base::Instant now) {
    auto& s = *impl_;
    auto it = s.channels.find(key);
    if (it == s.channels.end()) return;
    auto& ch = it->second;
    if (ch.info.state == ChannelState::Closed || ch.info.state == ChannelState::Closing) return;
    if (!s.sctp_connected || !ch.info.stream) {
        s.finish_close(key);
        return;
    }
    ch.info.state = ChannelState::Closing;
    ch.closing_sent = true;
    s.sctp->reset_stream(*ch.info.stream);
    s.pump_sctp(now);
}

const ChannelInfo* Peer::channel(ChannelKey key) const {
    auto it = impl_->channels.find(key);
    return it == impl_->channels.end() ? nullptr : &it->second.info;
}

std::size_t Peer::buffered_amount(ChannelKey key) const {
    auto it = impl_->channels.find(key);
    if (it == impl_->channels.end() || !impl_->sctp || !it->second.info.stream) return 0;
    return impl_->sctp->buffered_amount(*it->second.info.stream);
}

void Peer::set_low_threshold(ChannelKey key, std::size_t bytes) {
    auto it = impl_->channels.find(key);
    if (it == impl_->channels.end()) return;
    it->second.info.low_threshold = bytes;
    if (impl_->sctp && it->second.info.stream)
        impl_->sctp->set_buffered_amount_low_threshold(*it->second.info.stream, bytes);
}

std::optional<base::Instant> Peer::poll_timeout() const {
    auto& s = *impl_;
    if (s.closed) return std::nullopt;
    std::optional<base::Instant> t;
    auto fold = [&t](std::optional<base::Instant> x) {
        if (x && (!t || *x < *t)) t = x;
    };
    if (s.agent) fold(s.agent->poll_timeout());
    if (s.dtls) fold(s.dtls->poll_timeout());
    if (s.sctp) fold(s.sctp->poll_timeout());
    return t;
}

void Peer::handle_timeout(base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return;
    if (s.agent) {
        s.agent->handle_timeout(now);
        s.pump_agent(now);
    }
    if (s.dtls) {
        s.dtls->handle_timeout(now);
        s.pump_dtls(now);
    }
    if (s.sctp) {
        s.sctp->handle_timeout(now);
        s.pump_sctp(now);
    }
}

std::optional<PeerEvent> Peer::poll_event() {
    auto& q = impl_->events;
    if (q.empty()) return std::nullopt;
    PeerEvent e = std::move(q.front());
    q.pop_front();
    return e;
}

void Peer::close(base::Instant now) {
    auto& s = *impl_;
    if (s.closed) return;
    if (s.sctp) {
        s.sctp->close();
        s.pump_sctp(now);
    }
    if (s.dtls) {
        s.dtls->close(now);
        while (auto d = s.dtls->poll_datagram()) s.send_datagram(std::move(*d));
    }
    s.close_all_channels();
    if (s.agent) s.agent->close();
    s.closed = true;
    s.ice_state = IceState::Closed;
    s.emit(event::IceChange{IceState::Closed});
    (void)s.signaling.close();
    s.emit(event::SignalingChange{SignalingState::Closed});
    s.update_connection_state();
}

IceState Peer::ice_state() const noexcept { return impl_->ice_state; }
ConnectionState Peer::connection_state() const noexcept { return impl_->conn_state; }
GatheringState Peer::gathering_state() const noexcept { return impl_->gathering; }
std::string Peer::local_fingerprint() const { return impl_->certificate.fingerprint("sha-256"); }

PeerStats Peer::stats() const {
    PeerStats st = impl_->stats;
    if (impl_->agent) {
        if (auto pair = impl_->agent->data_pair()) {
            st.local_candidate = pair->first.to_string();
            st.remote_candidate = pair->second.to_string();
        }
        st.rtt = impl_->agent->round_trip_time();
    }
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
