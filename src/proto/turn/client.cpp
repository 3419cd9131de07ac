// proto/turn/client.cpp: the TURN client (RFC 8656). See client.hpp.
#include "proto/turn/client.hpp"

#include "base/digest.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace duplex::proto::turn {
namespace {

constexpr std::size_t kMaxTransmits = 256;
constexpr std::size_t kMaxEvents = 64;
constexpr unsigned kMaxStaleRetries = 3;   // 438 answers to one request, in a row
constexpr unsigned kMaxAuthRounds = 2;     // 401s to Allocate: the first one is expected
// §9: a permission lasts 300 s; §12: a channel 600 s. Both are refreshed a
// minute before they end, as is an allocation (unless it is short).
constexpr auto kPermissionLifetime = base::seconds(300);
constexpr auto kChannelLifetime = base::seconds(600);
constexpr auto kRefreshMargin = base::seconds(60);
// A Refresh that went unanswered is tried again this soon (while the
// allocation lasts).
constexpr auto kRefreshRetry = base::seconds(5);
// REQUESTED-TRANSPORT: protocol 17 (UDP) in the first byte (§18.7).
constexpr std::uint32_t kRequestedUdp = 17u << 24;
constexpr std::uint16_t kPasswordAlgorithmSha256 = 0x0002;  // RFC 8489 §18.5

std::string describe(std::uint16_t code, const std::string& reason) {
    std::string why = std::to_string(code);
    if (!reason.empty()) why += " " + reason;
    switch (code) {
        case 401: why += " (wrong username or password)"; break;
        case 403: why += " (the server's policy forbids it)"; break;
        case 437: why += " (the server lost the allocation)"; break;
        case 440: why += " (address family not supported)"; break;
        case 441: why += " (wrong credentials for this allocation)"; break;
        case 442: why += " (the server does not relay this transport)"; break;
        case 486: why += " (allocation quota reached)"; break;
        case 508: why += " (the server is out of relay ports)"; break;
        default: break;
    }
    return why;
}

/// Does PASSWORD-ALGORITHMS (a list of {algorithm, length, parameters})
/// name SHA-256 (RFC 8489 §14.11)?
bool offers_sha256(const stun::Attribute& a) {
    std::size_t at = 0;
    while (at + 4 <= a.value.size()) {
        const auto alg = base::load_be16(a.value.data() + at);
        const std::size_t len = base::load_be16(a.value.data() + at + 2);
        if (alg == kPasswordAlgorithmSha256) return true;
        at += 4 + len + (4 - len % 4) % 4;
    }
    return false;
}

}  // namespace

Client::Client(ClientConfig config, base::Instant now) : config_(std::move(config)), last_now_(now) {
    // §7.1: the first Allocate goes without credentials; the 401 answer
    // names the realm and the nonce to use.
    send_request(Kind::Allocate, {}, 0, 0, now);
}

// ------------------------------------------------------------------ peers --

Client::Peer* Client::find_peer(const base::Endpoint& e) {
    for (auto& p : peers_)
        if (p.address == e) return &p;
    return nullptr;
}

const Client::Peer* Client::find_peer(const base::Endpoint& e) const {
    for (const auto& p : peers_)
        if (p.address == e) return &p;
    return nullptr;
}

Client::Peer* Client::find_peer_by_channel(std::uint16_t channel) {
    for (auto& p : peers_)
        if (p.channel == channel && p.channel != 0) return &p;
    return nullptr;
}

bool Client::ip_permitted(const base::IpAddress& ip) const {
    // §9: permissions are per IP address; the port is not looked at.
    return std::any_of(peers_.begin(), peers_.end(),
                       [&](const Peer& p) { return p.address.ip == ip && p.permitted; });
}

bool Client::permission_pending(const base::IpAddress& ip) const {
    return std::any_of(peers_.begin(), peers_.end(),
                       [&](const Peer& p) { return p.address.ip == ip && p.permission_pending; });
}

void Client::mark_used(Peer& p, base::Instant now) {
    p.last_used = now;
    p.used_since_bind = true;
    p.used_since_permission = true;
}

bool Client::has_channel(const base::Endpoint& peer) const {
    const Peer* p = find_peer(peer);
    return p != nullptr && p->bound;
}

// ---------------------------------------------------------------- sending --

stun::TransactionId Client::new_id() {
    stun::TransactionId id{};
    (void)base::random_bytes(id);
    return id;
}

void Client::add_auth(stun::MessageWriter& w) const {
    // RFC 8489 §9.2.3 / §9.2.4: USERNAME, REALM, NONCE, the algorithm when
    // one was chosen, then MESSAGE-INTEGRITY(-SHA256) with the long-term key.
    w.add_username(config_.username);
    w.add_string(stun::AttributeType::Realm, realm_);
    w.add_string(stun::AttributeType::Nonce, nonce_);
    if (sha256_) {
        w.add_bytes(stun::AttributeType::PasswordAlgorithms, password_algorithms_);
        std::byte alg[4];
        base::store_be16(alg, kPasswordAlgorithmSha256);
        base::store_be16(alg + 2, 0);
        w.add_bytes(stun::AttributeType::PasswordAlgorithm, alg);
        w.add_message_integrity_sha256(key_);
    } else {
        w.add_message_integrity(key_);
    }
    w.add_fingerprint();
}

void Client::send_request(Kind kind, const base::Endpoint& peer, std::uint16_t channel, unsigned stale_retries,
                          base::Instant now) {
    const auto id = new_id();
    const stun::Method method = kind == Kind::Allocate     ? stun::Method::Allocate
                                : kind == Kind::Refresh    ? stun::Method::Refresh
                                : kind == Kind::Permission ? stun::Method::CreatePermission
                                                           : stun::Method::ChannelBind;
    stun::MessageWriter w(stun::Class::Request, method, id);
    switch (kind) {
        case Kind::Allocate:
            w.add_u32(stun::AttributeType::RequestedTransport, kRequestedUdp);
            w.add_u32(stun::AttributeType::Lifetime,
                      static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(config_.lifetime).count()));
            break;
        case Kind::Refresh:
            // §7.4: LIFETIME 0 deletes the allocation (close()).
            w.add_u32(stun::AttributeType::Lifetime, state_ == ClientState::Closed
                                                         ? 0u
                                                         : static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(config_.lifetime).count()));
            break;
        case Kind::Permission: w.add_xor_address(stun::AttributeType::XorPeerAddress, peer); break;
        case Kind::Bind:
            w.add_u32(stun::AttributeType::ChannelNumber, std::uint32_t{channel} << 16);  // §18.1: number, RFFU
            w.add_xor_address(stun::AttributeType::XorPeerAddress, peer);
            break;
    }
    const bool authenticated = !realm_.empty();
    if (authenticated) add_auth(w);
    auto data = std::move(w).take();
    const auto policy = config_.stream ? stun::RetransmitPolicy{config_.stream_timeout, 1, 1} : config_.udp_policy;
    if (state_ != ClientState::Closed) {
        pending_.push_back(Pending{kind, stun::Transaction(id, data, now, policy), peer, channel, stale_retries,
                                   authenticated});
    }
    queue(std::move(data));
}

std::vector<std::byte> Client::send_indication(const base::Endpoint& peer, base::Bytes payload) const {
    // §11.1: a Send indication, XOR-PEER-ADDRESS and DATA; indications are
    // not authenticated.
    stun::MessageWriter w(stun::Class::Indication, stun::Method::Send, new_id());
    w.add_xor_address(stun::AttributeType::XorPeerAddress, peer);
    w.add_bytes(stun::AttributeType::Data, payload);
    return std::move(w).take();
}

void Client::queue(std::vector<std::byte> message) {
    if (transmits_.size() >= kMaxTransmits) return;  // not drained: requests retransmit (UDP)
    transmits_.push_back(std::move(message));
}

Client::Wrap Client::wrap(const base::Endpoint& peer, base::Bytes payload, base::Instant now,
                          std::vector<std::byte>& out) {
    last_now_ = std::max(last_now_, now);
    if (state_ != ClientState::Allocated || payload.size() > 65535) return Wrap::Dropped;
    Peer* p = find_peer(peer);
    if (p == nullptr) {
        if (peers_.size() >= config_.max_peers) return Wrap::Dropped;
        peers_.emplace_back();
        p = &peers_.back();
        p->address = peer;
        p->last_used = now;
        p->permitted = ip_permitted(peer.ip);
        if (p->permitted) {
            // Another port of a permitted address: same permission (§9).
            for (const auto& q : peers_)
                if (q.address.ip == peer.ip && q.permitted) p->permission_expires = q.permission_expires;
        }
    }
    if (p->refused) return Wrap::Dropped;
    mark_used(*p, now);
    if (p->bound) {
        // §12.4 ChannelData: the hot path; `out` keeps its capacity.
        const auto len = static_cast<std::uint16_t>(payload.size());
        const std::size_t pad = config_.stream ? stream_padding(len) : 0;
        out.resize(kChannelHeaderSize + len + pad);
        write_channel_header(out.data(), p->channel, len);
        if (len != 0) std::memcpy(out.data() + kChannelHeaderSize, payload.data(), len);
        if (pad != 0) std::memset(out.data() + kChannelHeaderSize + len, 0, pad);
        return Wrap::Ready;
    }
    if (p->permitted) {
        // §12: bind a channel for this peer; Send indications until it is bound.
        if (!p->bind_pending && next_channel_ <= kMaxChannel) {
            if (p->channel == 0) p->channel = next_channel_++;
            p->bind_pending = true;
            send_request(Kind::Bind, p->address, p->channel, 0, now);
        }
        out = send_indication(peer, payload);
        return Wrap::Ready;
    }
    if (!permission_pending(peer.ip)) {
        p->permission_pending = true;
        send_request(Kind::Permission, peer, 0, 0, now);
    }
    if (p->held.size() >= config_.max_held) return Wrap::Dropped;
    p->held.push_back(send_indication(peer, payload));
    return Wrap::Held;
}

// -------------------------------------------------------------- receiving --

std::optional<Received> Client::handle_datagram(base::Bytes datagram, base::Instant now) {
    last_now_ = std::max(last_now_, now);
    if (state_ == ClientState::Closed || datagram.empty()) return std::nullopt;
    const auto first = std::to_integer<unsigned>(datagram[0]);
    if (first >= 0x40 && first <= 0x4F) return on_data(datagram, nullptr);
    if (first > 3) return std::nullopt;
    auto msg = stun::Message::parse(datagram);
    if (!msg) return std::nullopt;
    if (msg->cls() == stun::Class::Indication) return on_data(datagram, &*msg);
    on_message(datagram, now);
    return std::nullopt;
}

void Client::handle_stream(base::Bytes bytes, base::Instant now) {
    last_now_ = std::max(last_now_, now);
    if (ended()) return;
    // What poll_received() left is one unfinished frame (at most 4 + 65535 +
    // 3 bytes); more means a caller that does not poll, or a frame no server
    // sends. A single read may bring many whole frames: that is fine.
    if (stream_.size() - stream_skip_ > config_.max_stream_buffer) {
        fail(0, "the server's stream holds an unfinished frame larger than any TURN message");
        return;
    }
    // The consumed prefix goes once per read, not once per frame (frames
    // erased one by one from the front would cost the square of a read).
    stream_.erase(stream_.begin(), stream_.begin() + static_cast<std::ptrdiff_t>(stream_skip_));
    stream_skip_ = 0;
    stream_.insert(stream_.end(), bytes.begin(), bytes.end());
}

std::optional<Received> Client::poll_received(base::Instant now) {
    last_now_ = std::max(last_now_, now);
    // Frames are read in place from stream_skip_ on; the view handed out
    // stays good until the next call of this or of handle_stream().
    while (!ended()) {
        const base::Bytes rest = base::Bytes(stream_.data(), stream_.size()).subspan(stream_skip_);
        const auto size = stream_frame_size(rest);
        if (!size || rest.size() < *size) return std::nullopt;  // the rest of the frame is yet to come
        if (*size == 0) {
            fail(0, "the server's stream is not TURN (a frame starts with neither STUN nor ChannelData)");
            return std::nullopt;
        }
        const base::Bytes frame = rest.first(*size);
        stream_skip_ += *size;
        const auto first = std::to_integer<unsigned>(frame[0]);
        std::optional<Received> r;
        if (first >= 0x40) {
            r = on_data(frame, nullptr);
        } else if (auto msg = stun::Message::parse(frame)) {
            if (msg->cls() == stun::Class::Indication) r = on_data(frame, &*msg);
            else on_message(frame, now);
        }
        if (r) return r;
    }
    return std::nullopt;
}

std::optional<Received> Client::on_data(base::Bytes message, const stun::Message* msg) {
    if (state_ != ClientState::Allocated) return std::nullopt;
    if (msg == nullptr) {
        // §12.6: ChannelData on a channel we bound (or are binding: the
        // server may use it as soon as it answered).
        const auto cd = parse_channel_data(message);
        if (!cd) return std::nullopt;
        Peer* p = find_peer_by_channel(cd->channel);
        if (p == nullptr) return std::nullopt;
        mark_used(*p, last_now_);
        return Received{p->address, cd->data};
    }
    // §11.4: a Data indication, from a peer we gave a permission to.
    if (!msg->is(stun::Class::Indication, stun::Method::Data)) return std::nullopt;
    const auto peer = msg->xor_address(stun::AttributeType::XorPeerAddress);
    if (!peer || !msg->has(stun::AttributeType::Data) || !ip_permitted(peer->ip)) return std::nullopt;
    if (Peer* p = find_peer(*peer)) mark_used(*p, last_now_);
    // The parsed message holds a copy; the view must point into `message`:
    // walk its attributes (the parser has checked their layout).
    std::size_t at = stun::kHeaderSize;
    while (at + 4 <= message.size()) {
        const auto type = base::load_be16(message.data() + at);
        const std::size_t len = base::load_be16(message.data() + at + 2);
        if (at + 4 + len > message.size()) break;
        if (type == static_cast<std::uint16_t>(stun::AttributeType::Data)) return Received{*peer, message.subspan(at + 4, len)};
        at += 4 + len + (4 - len % 4) % 4;
    }
    return std::nullopt;
}

void Client::on_message(base::Bytes message, base::Instant now) {
    auto msg = stun::Message::parse(message);
    if (!msg || (msg->cls() != stun::Class::SuccessResponse && msg->cls() != stun::Class::ErrorResponse)) return;
    const auto it = std::find_if(pending_.begin(), pending_.end(),
                                 [&](const Pending& p) { return p.tx.id() == msg->transaction_id(); });
    if (it == pending_.end()) return;  // unknown, or already answered
    // RFC 8489 §9.2.5: a success answer to an authenticated request must
    // carry a valid MESSAGE-INTEGRITY; one that fails the check is discarded
    // and the transaction goes on.
    const bool has_mi = msg->has(stun::AttributeType::MessageIntegrity) ||
                        msg->has(stun::AttributeType::MessageIntegritySha256);
    // An error response without one is taken too (servers leave it out of
    // several): it can only end the transaction, and a forger would need the
    // 96-bit transaction id, i.e. be on the path, where dropping works as well.
    if (it->authenticated) {
        if (has_mi && !stun::verify_integrity(message, key_)) return;
        if (!has_mi && msg->cls() == stun::Class::SuccessResponse) return;
        // RFC 8489 §10: a redirection of an authenticated request must be
        // authenticated too, or anyone who saw the request could send us
        // (and our traffic) anywhere.
        if (!has_mi && msg->error_code() && msg->error_code()->code == 300) return;
    }
    Pending p = std::move(*it);
    pending_.erase(it);
    on_response(std::move(p), *msg, message, now);
}

bool Client::take_auth(const stun::Message& msg) {
    const auto realm = msg.string_attr(stun::AttributeType::Realm);
    const auto nonce = msg.string_attr(stun::AttributeType::Nonce);
    if (!nonce) return false;
    if (realm) realm_ = *realm;
    if (realm_.empty()) return false;
    nonce_ = *nonce;
    const stun::Attribute* algs = msg.find(stun::AttributeType::PasswordAlgorithms);
    sha256_ = algs != nullptr && offers_sha256(*algs);
    if (sha256_) {
        password_algorithms_ = algs->value;
        const auto k = stun::long_term_key_sha256(config_.username, realm_, config_.password);
        key_.assign(k.begin(), k.end());
    } else {
        password_algorithms_.clear();
        const auto k = stun::long_term_key(config_.username, realm_, config_.password);
        key_.assign(k.begin(), k.end());
    }
    return true;
}

void Client::on_response(Pending p, const stun::Message& msg, base::Bytes message, base::Instant now) {
    (void)message;
    if (msg.cls() == stun::Class::SuccessResponse) {
        // A nonce may come with any answer; the newest one is used.
        if (const auto nonce = msg.string_attr(stun::AttributeType::Nonce)) nonce_ = *nonce;
        switch (p.kind) {
            case Kind::Allocate: on_allocate_success(msg, now); return;
            case Kind::Refresh: {
                if (state_ != ClientState::Allocated) return;
                const auto secs = msg.u32_attr(stun::AttributeType::Lifetime).value_or(
                    static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(lifetime_).count()));
                lifetime_ = base::seconds(secs);
                expires_at_ = now + lifetime_;
                refresh_at_ = now + std::max(lifetime_ / 2, lifetime_ - kRefreshMargin);
                return;
            }
            case Kind::Permission: {
                for (auto& q : peers_) {
                    if (q.address.ip != p.peer.ip) continue;
                    q.permitted = true;
                    q.permission_pending = false;
                    q.permission_expires = now + kPermissionLifetime;
                    // What waited for it goes now, as Send indications.
                    while (!q.held.empty()) {
                        queue(std::move(q.held.front()));
                        q.held.pop_front();
                    }
                    if (!q.bound && !q.bind_pending && next_channel_ <= kMaxChannel) {
                        if (q.channel == 0) q.channel = next_channel_++;
                        q.bind_pending = true;
                        send_request(Kind::Bind, q.address, q.channel, 0, now);
                    }
                }
                return;
            }
            case Kind::Bind: {
                if (Peer* q = find_peer(p.peer)) {
                    q->bound = true;
                    q->bind_pending = false;
                    q->channel_expires = now + kChannelLifetime;
                    // §12: a channel binding also refreshes the permission.
                    for (auto& r : peers_) {
                        if (r.address.ip == p.peer.ip && r.permitted) r.permission_expires = now + kPermissionLifetime;
                    }
                }
                return;
            }
        }
        return;
    }
    const auto ec = msg.error_code();
    const std::uint16_t code = ec ? ec->code : 0;
    const std::string reason = ec ? ec->reason : std::string();
    if (code == 401 && p.kind == Kind::Allocate && state_ == ClientState::Allocating) {
        // §7.1 / RFC 8489 §9.2.5: the first 401 tells the realm and nonce. A
        // second one means the credentials are wrong.
        if (++auth_rounds_ < kMaxAuthRounds && !p.authenticated && take_auth(msg)) {
            send_request(Kind::Allocate, {}, 0, 0, now);
            return;
        }
    }
    if (code == 300 && p.kind == Kind::Allocate && state_ == ClientState::Allocating) {
        // RFC 8489 §10, RFC 8656 §7.2: Try Alternate. coturn answers the
        // first (unauthenticated) Allocate so, before any 401.
        const auto alternate = msg.address(stun::AttributeType::AlternateServer);
        if (!alternate) {
            fail(code, "the server redirects (300 Try Alternate) without naming where (no ALTERNATE-SERVER)");
            return;
        }
        state_ = ClientState::Redirected;
        pending_.clear();
        if (events_.size() < kMaxEvents)
            events_.push_back(client_event::Redirected{
                *alternate, msg.string_attr(stun::AttributeType::AlternateDomain).value_or(std::string())});
        return;
    }
    if (code == 438 && p.stale_retries < kMaxStaleRetries) {
        // RFC 8489 §9.2.5: Stale Nonce: the new nonce, and the request again.
        if (take_auth(msg)) {
            send_request(p.kind, p.peer, p.channel, p.stale_retries + 1, now);
            return;
        }
    }
    on_failure(p, code, reason, now);
}

void Client::on_allocate_success(const stun::Message& msg, base::Instant now) {
    if (state_ != ClientState::Allocating) return;
    const auto relayed = msg.xor_address(stun::AttributeType::XorRelayedAddress);
    const auto mapped = msg.xor_mapped_address();
    if (!relayed) {
        fail(0, "the server's Allocate answer has no XOR-RELAYED-ADDRESS");
        return;
    }
    const auto secs = msg.u32_attr(stun::AttributeType::Lifetime).value_or(600);
    relayed_ = *relayed;
    lifetime_ = base::seconds(secs);
    expires_at_ = now + lifetime_;
    // A minute before it ends; halfway through a short one.
    refresh_at_ = now + std::max(lifetime_ / 2, lifetime_ - kRefreshMargin);
    state_ = ClientState::Allocated;
    if (events_.size() < kMaxEvents)
        events_.push_back(client_event::Allocated{*relayed, mapped.value_or(base::Endpoint{}), lifetime_});
}

void Client::on_failure(Pending& p, std::uint16_t code, const std::string& reason, base::Instant now) {
    switch (p.kind) {
        case Kind::Allocate:
            if (code == 0) fail(0, "the server did not answer the Allocate request");
            else fail(code, "Allocate refused: " + describe(code, reason));
            return;
        case Kind::Refresh:
            if (state_ != ClientState::Allocated) return;
            if (code == 437) {
                fail(code, "the allocation is gone: " + describe(code, reason));
                return;
            }
            // Unanswered or refused otherwise: again soon, while it lasts.
            refresh_at_ = std::min(now + kRefreshRetry, expires_at_);
            return;
        case Kind::Permission: {
            for (auto& q : peers_) {
                if (q.address.ip != p.peer.ip) continue;
                q.permission_pending = false;
                // A refresh that went unanswered is tried again (while the
                // permission lasts: it lapses at its end).
                if (code == 0 && q.permitted) q.used_since_permission = true;
                if (code != 0 || !q.permitted) {
                    // Refused (or never granted and now unanswered): what
                    // waits for it is dropped. A timeout of a refresh keeps
                    // the permission until it ends, and tries again.
                    q.held.clear();
                    // §9.1: 403 is the server's policy for this address: no
                    // more tries. Other errors (508: out of capacity…) may
                    // pass: the next packet asks again.
                    if (code == 403) {
                        q.refused = true;
                        q.permitted = false;
                    }
                }
            }
            if (code == 403 && events_.size() < kMaxEvents) events_.push_back(client_event::PeerRefused{p.peer.ip, code});
            return;
        }
        case Kind::Bind:
            // Data goes on as Send indications; a later send tries again.
            if (Peer* q = find_peer(p.peer)) {
                q->bind_pending = false;
                if (code != 0) q->bound = false;
            }
            return;
    }
}

void Client::fail(std::uint16_t code, std::string reason) {
    if (ended()) return;
    state_ = ClientState::Failed;
    pending_.clear();
    for (auto& p : peers_) p.held.clear();
    if (events_.size() < kMaxEvents) events_.push_back(client_event::Failed{code, "TURN: " + reason});
}

// ------------------------------------------------------------------- time --

std::optional<base::Instant> Client::poll_timeout() const {
    if (ended()) return std::nullopt;
    std::optional<base::Instant> t;
    const auto consider = [&t](base::Instant x) {
        if (!t || x < *t) t = x;
    };
    for (const auto& p : pending_)
        if (const auto d = p.tx.deadline()) consider(*d);
    if (state_ == ClientState::Allocated) {
        consider(refresh_at_);
        consider(expires_at_);
        for (const auto& p : peers_) {
            // Permissions are per IP (§9): one refresh at a time for all the
            // peers of an address (others would otherwise be due, and not
            // sent, at once: a busy loop).
            if (p.permitted && p.used_since_permission && !permission_pending(p.address.ip))
                consider(p.permission_expires - kRefreshMargin);
            if (p.bound && p.used_since_bind && !p.bind_pending) consider(p.channel_expires - kRefreshMargin);
            if (p.permitted) consider(p.permission_expires);  // they lapse then, refreshed or not
            if (p.bound) consider(p.channel_expires);
            consider(p.last_used + kPermissionLifetime);       // then it is forgotten
            if (p.bound && !p.bind_pending) consider(p.channel_expires - kRefreshMargin);
        }
    }
    if (t) return std::max(*t, last_now_);
    return t;
}

void Client::handle_timeout(base::Instant now) {
    last_now_ = std::max(last_now_, now);
    now = last_now_;
    if (ended()) return;
    // Retransmissions (RFC 8489 §6.2.1) and timeouts.
    std::vector<Pending> failed;
    for (std::size_t i = 0; i < pending_.size();) {
        auto& p = pending_[i];
        const auto deadline = p.tx.deadline();
        if (deadline && *deadline <= now && p.tx.on_timeout(now) == stun::Transaction::Step::Retransmit)
            queue(p.tx.request());
        if (p.tx.failed()) {
            failed.push_back(std::move(p));
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
    for (auto& p : failed) on_failure(p, 0, {}, now);
    if (state_ != ClientState::Allocated) return;
    if (now >= expires_at_) {
        fail(0, "the allocation expired: the server answered no Refresh");
        return;
    }
    const auto refreshing = std::any_of(pending_.begin(), pending_.end(),
                                        [](const Pending& p) { return p.kind == Kind::Refresh; });
    if (now >= refresh_at_ && !refreshing) {
        refresh_at_ = expires_at_;  // the answer sets the next one
        send_request(Kind::Refresh, {}, 0, 0, now);
    }
    // A peer not used (either way) for a permission's lifetime is forgotten:
    // its permission and channel lapse at the server; the slot is free again.
    // (An answer still due for it finds no peer and is dropped.)
    peers_.erase(std::remove_if(peers_.begin(), peers_.end(),
                                [&](const Peer& p) { return now >= p.last_used + kPermissionLifetime; }),
                 peers_.end());
    // Its requests still under way stop being sent (a permission only when no
    // peer of its address is left).
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const Pending& q) {
                                      if (q.kind == Kind::Bind) return find_peer(q.peer) == nullptr;
                                      if (q.kind != Kind::Permission) return false;
                                      return std::none_of(peers_.begin(), peers_.end(), [&](const Peer& r) {
                                          return r.address.ip == q.peer.ip;
                                      });
                                  }),
                   pending_.end());
    for (auto& p : peers_) {
        // Lapsed, refreshed or not: asked for again on use.
        if (p.permitted && now >= p.permission_expires) p.permitted = false;
        if (p.bound && now >= p.channel_expires) p.bound = false;
    }
    for (auto& p : peers_) {
        // Refreshed only when used since the last grant: an idle peer lapses.
        if (p.bound && !p.bind_pending && p.used_since_bind && now >= p.channel_expires - kRefreshMargin) {
            // §12.2: binding the same channel again refreshes it (and the permission).
            p.bind_pending = true;
            p.used_since_bind = false;
            send_request(Kind::Bind, p.address, p.channel, 0, now);
        }
        if (p.permitted && p.used_since_permission && now >= p.permission_expires - kRefreshMargin &&
            !permission_pending(p.address.ip)) {
            // §9.1: CreatePermission again, before the 300 s are up; one for
            // every peer of the address (permissions are per IP).
            for (auto& q : peers_)
                if (q.address.ip == p.address.ip) q.used_since_permission = false;
            p.permission_pending = true;
            send_request(Kind::Permission, p.address, 0, 0, now);
        }
    }
}

void Client::connection_lost(const std::string& why) { fail(0, "the connection to the server ended: " + why); }

void Client::close(base::Instant now) {
    if (state_ == ClientState::Closed) return;
    const bool release = state_ == ClientState::Allocated;
    state_ = ClientState::Closed;
    pending_.clear();
    peers_.clear();
    if (release) send_request(Kind::Refresh, {}, 0, 0, now);  // LIFETIME 0, once, no answer awaited
}

std::optional<std::vector<std::byte>> Client::poll_transmit() {
    if (transmits_.empty()) return std::nullopt;
    auto t = std::move(transmits_.front());
    transmits_.pop_front();
    return t;
}

std::optional<ClientEvent> Client::poll_event() {
    if (events_.empty()) return std::nullopt;
    auto e = std::move(events_.front());
    events_.pop_front();
    return e;
}

}  // namespace duplex::proto::turn
