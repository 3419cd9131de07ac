// proto/rtc/peer.cpp: the composition. The parts and who feeds whom:
//
//   datagram ──demux (RFC 7983)──► ICE agent (STUN)      ► transmits
//                               └► DTLS endpoint ─app data─► SCTP association
//   SCTP packet ─► DTLS record ─► datagram on ICE's data pair (selected, or valid before that)
//   SCTP message ─► DCEP (PPID 50) or a channel's message (PPID 51/53/56/57)
//
// The rules of DCEP per stream (ids by DTLS role, OPEN/ACK, refusals, when to
// send ordered) are dcep::ChannelTable's; this file keeps what the API adds:
// handles (ChannelKey) that exist before a stream id does, the channel state
// as the events have told it, and the events themselves.
#include "proto/rtc/peer.hpp"

#include "base/enum_cast.hpp"

#include "base/digest.hpp"
#include "proto/dcep/channel_table.hpp"
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
constexpr std::uint16_t kMaxChannels = 1024;   // SCTP streams (RFC 8831 §6.2: 65535 max; we offer 1024)

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
        case SdpKind::Offer: return sdp::SdpType::Offer;
        case SdpKind::Answer: return sdp::SdpType::Answer;
        case SdpKind::Pranswer: return sdp::SdpType::Pranswer;
        case SdpKind::Rollback: return sdp::SdpType::Rollback;
    }
    return sdp::SdpType::Offer;
}

base::Status status_of(const sdp::SignalingResult& r) {
    if (auto* e = std::get_if<sdp::SignalingError>(&r)) return error(Errc::invalid_state, e->message);
    return {};
}

#define SAME(name) DUPLEX_SAME_ENUMERATOR(SignalingState, sdp::SignalingState, name)
SAME(Stable);
SAME(HaveLocalOffer);
SAME(HaveRemoteOffer);
SAME(HaveLocalPranswer);
SAME(HaveRemotePranswer);
SAME(Closed);
#undef SAME
#define SAME(name) DUPLEX_SAME_ENUMERATOR(IceState, ice::IceState, name)
SAME(New);
SAME(Checking);
SAME(Connected);
SAME(Completed);
SAME(Failed);
SAME(Disconnected);
SAME(Closed);
#undef SAME

SignalingState convert(sdp::SignalingState s) { return base::same_order_cast<SignalingState>(s); }

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

    // Data channels. The table holds the DCEP state of every stream in use.
    // `channels` holds every handle given out (closed ones too), with the
    // state the events have announced: a channel made before the DTLS role
    // is known has no stream yet, and a negotiated one, Open in the table at
    // once, is announced open only when SCTP is up. `by_stream` names the
    // handle of each stream the table holds (added and removed with it).
    dcep::ChannelTable dcep_channels{dcep::ChannelTable::Options{kMaxChannels}};
    std::map<ChannelKey, ChannelInfo> channels;
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
                ice_state = base::same_order_cast<IceState>(s->state);
                if (ice_state == IceState::Failed && failure.empty())
                    failure = "ICE: no candidate pair worked (no path to the peer, or consent lost)";
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
        if (offerer) role = remote->setup == sdp::Setup::Passive ? dtls::Role::Client : dtls::Role::Server;
        else role = remote->setup == sdp::Setup::Active ? dtls::Role::Server : dtls::Role::Client;
        dtls::EndpointConfig dc;
        dc.role = role;
        dc.certificate = certificate;
        dc.remote_fingerprint_algorithm = remote->fingerprint_algorithm;
        dc.remote_fingerprint = remote->fingerprint;
        // use_srtp is negotiated even without media: browsers always offer it,
        // and some stacks (werift) fail a handshake that leaves it out.
        dc.srtp = true;
        dtls = std::make_unique<dtls::Endpoint>(std::move(dc));
        dcep_channels.set_dtls_role(role == dtls::Role::Client);
        assign_stream_ids();
        feed_early_dtls(now);
        start_dtls_client(now);
        update_connection_state();
    }

    void pump_dtls(base::Instant now) {
        if (!dtls) return;
        while (auto d = dtls->poll_transmit()) send_datagram(std::move(*d));
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
                if (failure.empty()) failure = "DTLS: " + f->reason;
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
            while (auto p = sctp->poll_transmit()) {
                any = true;
                if (dtls && dtls_connected) (void)dtls->send(*p, now);
            }
            if (dtls) while (auto d = dtls->poll_transmit()) send_datagram(std::move(*d));
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
            for (auto& [key, info] : channels)
                if (info.state == ChannelState::Connecting) open_channel(key, info, now);
        } else if (auto* m = std::get_if<sctp::event::MessageReceived>(&ev)) {
            on_sctp_message(m->message, now);
        } else if (auto* r = std::get_if<sctp::event::StreamReset>(&ev)) {
            // RFC 8831 §6.7: the peer reset its outgoing stream: reset ours too; the channel is closed.
            auto it = by_stream.find(r->stream);
            if (it == by_stream.end()) return;
            // Closing in the table: we have reset our side already.
            const dcep::Channel* c = dcep_channels.find(r->stream);
            if (c && c->state != dcep::ChannelState::Closing) {
                (void)dcep_channels.close(r->stream);
                sctp->reset_stream(r->stream);
            }
            finish_close(it->second);
        } else if (std::get_if<sctp::event::OutgoingStreamReset>(&ev)) {
            // Our reset is done; the channel closes when the peer resets its side too.
        } else if (auto* b = std::get_if<sctp::event::BufferedAmountLow>(&ev)) {
            auto it = by_stream.find(b->stream);
            // Only an open channel has a buffered amount to speak of (the DCEP
            // OPEN drains too).
            if (it != by_stream.end() && channels.at(it->second).state == ChannelState::Open)
                emit(event::ChannelBufferedLow{it->second});
        } else if (std::get_if<sctp::event::Closed>(&ev) || std::get_if<sctp::event::Failed>(&ev)) {
            if (auto* f = std::get_if<sctp::event::Failed>(&ev); f && failure.empty()) failure = "SCTP: " + f->reason;
            close_all_channels();
        }
    }

    void on_sctp_message(sctp::Message& m, base::Instant now) {
        if (m.ppid == kPpidDcep) return on_dcep(m, now);
        auto it = by_stream.find(m.stream);
        if (it == by_stream.end()) return;  // RFC 8831 §6.6: data on an unopened stream: drop
        // RFC 8832 §6: the peer may send before its ACK arrives; the ACK is implied.
        const dcep::Channel* c = dcep_channels.on_user_message(m.stream);
        if (!c) return;
        auto& info = channels.at(it->second);
        if (info.state == ChannelState::Connecting && c->state == dcep::ChannelState::Open)
            announce_open(it->second, info);
        if (info.state != ChannelState::Open) return;  // closing: no more messages (W3C webrtc-pc §6.2)
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
            auto ack = dcep_channels.on_open_received(m.stream, *open);
            if (!ack) {
                // RFC 8832 §6: a refused OPEN (our parity, out of range) gets
                // no ACK, and its stream is reset, which tells the opener. On
                // a stream in use it is ignored: a reset would close the
                // channel already there, which did nothing wrong.
                if (ack.error() != dcep::DcepError::stream_in_use) {
                    sctp->reset_stream(m.stream);
                    pump_sctp(now);
                }
                return;
            }
            const dcep::Channel& c = *dcep_channels.find(m.stream);
            ChannelInfo info;
            info.options.label = c.label;
            info.options.protocol = c.protocol;
            info.options.ordered = c.reliability.ordered;
            info.options.max_retransmits = c.reliability.max_retransmits;
            info.options.max_packet_life_time = c.reliability.max_packet_life_time;
            info.options.id = m.stream;
            info.stream = m.stream;
            info.state = ChannelState::Open;
            const ChannelKey key = next_key++;
            channels.emplace(key, std::move(info));
            by_stream[m.stream] = key;
            (void)sctp->send(m.stream, kPpidDcep, *ack, sctp::Reliability{});
            ++stats.channels_opened;
            emit(event::RemoteChannel{key});
            emit(event::ChannelOpen{key});
            pump_sctp(now);
        } else if (std::get_if<dcep::DataChannelAck>(&*parsed)) {
            auto it = by_stream.find(m.stream);
            if (it == by_stream.end()) return;
            if (!dcep_channels.on_ack_received(m.stream).ok()) return;  // not waiting for one: ignored
            auto& info = channels.at(it->second);
            if (info.state == ChannelState::Connecting &&
                dcep_channels.find(m.stream)->state == dcep::ChannelState::Open)
                announce_open(it->second, info);
        }
    }

    void announce_open(ChannelKey key, ChannelInfo& info) {
        info.state = ChannelState::Open;
        ++stats.channels_opened;
        emit(event::ChannelOpen{key});
    }

    /// A channel that will never open (no stream for it): closed with an error.
    void fail_channel(ChannelKey key, ChannelInfo& info, std::string message) {
        info.state = ChannelState::Closed;
        emit(event::ChannelError{key, std::move(message)});
        emit(event::ChannelClosed{key});
    }

    /// Once the DTLS role is known, every channel of ours still without a
    /// stream gets an id of our parity (RFC 8832 §6; the table picks it).
    /// Its OPEN waits for SCTP (open_channel).
    void assign_stream_ids() {
        const auto dtls_is_client = dcep_channels.dtls_role();
        if (!dtls_is_client) return;
        for (auto& [key, info] : channels) {
            if (info.stream || info.state == ChannelState::Closed) continue;
            auto id = dcep_channels.allocate_stream_id(*dtls_is_client);
            if (!id) {
                fail_channel(key, info, "no free SCTP stream id");
                continue;
            }
            if (auto st = dcep_channels.add_local(*id, init_of(info.options)); !st.ok()) {
                fail_channel(key, info, "cannot open the data channel: " + st.message());
                continue;
            }
            info.stream = *id;
            info.options.id = *id;
            by_stream[*id] = key;
        }
    }

    /// SCTP is up: a channel of ours opens, a negotiated one at once (no
    /// DCEP, RFC 8831 §6.5), an in-band one with its DATA_CHANNEL_OPEN.
    void open_channel(ChannelKey key, ChannelInfo& info, base::Instant now) {
        if (!info.stream || !sctp_connected) return;
        const dcep::Channel* c = dcep_channels.find(*info.stream);
        if (!c) return;
        if (c->negotiated) {
            if (info.state == ChannelState::Connecting) announce_open(key, info);
            return;
        }
        auto open = dcep_channels.take_open(*info.stream);
        if (!open) {
            if (open.error() != dcep::DcepError::no_open_to_send)  // else: sent already
                emit(event::ChannelError{key, "cannot encode DATA_CHANNEL_OPEN: " + open.status().message()});
            return;
        }
        // DCEP messages are sent reliably and in order (RFC 8832 §6).
        auto st = sctp->send(*info.stream, kPpidDcep, *open, sctp::Reliability{});
        if (!st.ok()) {
            emit(event::ChannelError{key, "cannot send DATA_CHANNEL_OPEN: " + st.message()});
            return;
        }
        pump_sctp(now);
    }

    void finish_close(ChannelKey key) {
        auto it = channels.find(key);
        if (it == channels.end() || it->second.state == ChannelState::Closed) return;
        it->second.state = ChannelState::Closed;
        if (const auto stream = it->second.stream) {
            // Both directions are reset (or never carried anything): the id is free.
            by_stream.erase(*stream);
            (void)dcep_channels.release(*stream);
        }
        ++stats.channels_closed;
        emit(event::ChannelClosed{key});
    }

    void close_all_channels() {
        for (auto& [key, info] : channels)
            if (info.state != ChannelState::Closed) finish_close(key);
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
    if (s.signaling.state() == sdp::SignalingState::HaveRemoteOffer)
        return error(Errc::invalid_state, "create_offer: called in state have-remote-offer");
    // RFC 8842 §5.2: an offer says actpass; once the roles are fixed a new
    // offer keeps them.
    sdp::Setup setup = sdp::Setup::ActPass;
    if (s.dtls) setup = s.dtls->role() == dtls::Role::Client ? sdp::Setup::Active : sdp::Setup::Passive;
    auto d = sdp::create_offer(s.local_params(setup), s.session_id, s.session_version, s.mid);
    return sdp::write(d);
}

base::Result<std::string> Peer::create_answer() {
    auto& s = *impl_;
    if (s.closed) return error(Errc::invalid_state, "the peer connection is closed");
    if (!s.remote_desc || s.remote_desc->first != SdpKind::Offer ||
        (s.signaling.state() != sdp::SignalingState::HaveRemoteOffer &&
         s.signaling.state() != sdp::SignalingState::HaveLocalPranswer))
        return error(Errc::invalid_state, "create_answer: there is no remote offer to answer");
    auto parsed = sdp::parse(s.remote_desc->second);
    if (auto* e = std::get_if<sdp::ParseError>(&parsed)) return error(Errc::invalid_argument, e->to_string());
    // RFC 8842 §5.2: the answerer picks; active (DTLS client) as browsers do,
    // unless the roles were fixed by an earlier exchange.
    sdp::Setup setup = sdp::Setup::Active;
    if (s.dtls) setup = s.dtls->role() == dtls::Role::Client ? sdp::Setup::Active : sdp::Setup::Passive;
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
    if (kind == SdpKind::Offer && s.signaling.state() == sdp::SignalingState::HaveLocalOffer)
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
    const dcep::ChannelInit init = init_of(options);
    if (!dcep::to_wire(init.reliability))
        return error(Errc::invalid_argument, "max_retransmits and max_packet_life_time are exclusive");
    if (options.label.size() > dcep::kMaxLabelSize || options.protocol.size() > dcep::kMaxProtocolSize)
        return error(Errc::invalid_argument, "label and protocol are at most 65535 bytes");
    if (options.negotiated && !options.id) return error(Errc::invalid_argument, "a negotiated channel needs an id");
    if (options.id && *options.id >= s.dcep_channels.max_streams())
        return error(Errc::invalid_argument,
                     "channel id out of range (0-" + std::to_string(s.dcep_channels.max_streams() - 1) + ")");
    // Negotiated out of band: any free id, Open in the table at once (no DCEP).
    if (options.negotiated) {
        if (auto st = s.dcep_channels.reserve(*options.id, init); !st.ok()) {
            if (st.code() == dcep::DcepError::stream_in_use)
                return error(Errc::invalid_argument, "channel id " + std::to_string(*options.id) + " is in use");
            return error(Errc::invalid_argument, st.message());
        }
    }
    ChannelInfo info;
    info.options = options;
    if (options.negotiated) info.stream = options.id;
    const ChannelKey key = s.next_key++;
    auto [it, _] = s.channels.emplace(key, std::move(info));
    if (it->second.stream) s.by_stream[*it->second.stream] = key;
    else s.assign_stream_ids();  // nothing yet when the DTLS role is not known
    // The first channel makes an SDP application section necessary.
    if (s.channels.size() == 1 && !s.local_desc) s.emit(event::NegotiationNeeded{});
    if (s.sctp_connected) s.open_channel(key, it->second, now);
    return key;
}

base::Status Peer::send(ChannelKey key, bool binary, base::Bytes data, base::Instant now) {
    auto& s = *impl_;
    auto it = s.channels.find(key);
    const dcep::Channel* c = it == s.channels.end() || !it->second.stream
                                 ? nullptr
                                 : s.dcep_channels.find(*it->second.stream);
    if (!c || it->second.state != ChannelState::Open || !s.sctp)
        return error(Errc::invalid_state, "the data channel is not open");
    const auto ppid = static_cast<std::uint32_t>(dcep::ppid_for(binary, data.empty()));
    // RFC 8831 §6.6: an empty message is sent as one zero byte with the "empty" PPID.
    static constexpr std::byte zero[1] = {std::byte{0}};
    base::Bytes payload = data.empty() ? base::Bytes(zero, 1) : data;
    auto st = s.sctp->send(c->stream_id, ppid, payload, reliability_of(*c));
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
    auto& info = it->second;
    if (info.state == ChannelState::Closed || info.state == ChannelState::Closing) return;
    if (!s.sctp_connected || !info.stream) {
        s.finish_close(key);
        return;
    }
    // RFC 8831 §6.7: we reset our outgoing stream; closed when the peer resets its own.
    info.state = ChannelState::Closing;
    (void)s.dcep_channels.close(*info.stream);
    s.sctp->reset_stream(*info.stream);
    s.pump_sctp(now);
}

const ChannelInfo* Peer::channel(ChannelKey key) const {
    auto it = impl_->channels.find(key);
    return it == impl_->channels.end() ? nullptr : &it->second;
}

std::size_t Peer::buffered_amount(ChannelKey key) const {
    auto it = impl_->channels.find(key);
    if (it == impl_->channels.end() || !impl_->sctp || !it->second.stream) return 0;
    return impl_->sctp->buffered_amount(*it->second.stream);
}

void Peer::set_low_threshold(ChannelKey key, std::size_t bytes) {
    auto it = impl_->channels.find(key);
    if (it == impl_->channels.end()) return;
    it->second.low_threshold = bytes;
    if (impl_->sctp && it->second.stream)
        impl_->sctp->set_buffered_amount_low_threshold(*it->second.stream, bytes);
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
        while (auto d = s.dtls->poll_transmit()) s.send_datagram(std::move(*d));
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
    st.failure = impl_->failure;
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
