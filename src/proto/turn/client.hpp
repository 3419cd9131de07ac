// proto/turn/client.hpp: a TURN client (RFC 8656) for one allocation on one
// server, sans-IO: it makes the messages and reads the answers; the caller
// moves them over UDP, TCP or TLS (config.stream) and keeps the clock.
//
//   Allocating ──401 (realm, nonce) → again with long-term credentials──┐
//       │                                                                ▼
//       │ an error, a timeout, or a second 401              Allocated (relayed, mapped)
//       ▼                                                     │   Refresh before expiry,
//     Failed ◀── 437, or the lifetime ran out unrefreshed ────┘   permissions every 4 min,
//                                                                 channels every 9 min
//   close(): Refresh with LIFETIME 0 (§7.4), then Closed. A 300 to the
//   Allocate ends the client too, with Redirected (the caller follows it).
//
// Sending to a peer (wrap): the first packet to a new peer address asks for
// a permission (CreatePermission, §9) and is held (a few per peer) until it
// is granted; then packets go as Send indications (§11) while a channel is
// bound (ChannelBind, §12), and as ChannelData after that: 4 bytes of header
// instead of 36 or more. Receiving (handle_datagram, or handle_stream then
// poll_received): Data indications and ChannelData from peers with a
// permission give the peer's address and the data.
//
// Long-term credentials (RFC 8489 §9.2): MD5(user:realm:pass) as the key and
// MESSAGE-INTEGRITY; when the server offers SHA-256 in PASSWORD-ALGORITHMS
// (§9.2.1), SHA-256(user:realm:pass) and MESSAGE-INTEGRITY-SHA256. A stale
// nonce (438) is replaced and the request sent again.
//
// Drive contract (docs/decisions/0001-sans-io-contract.md): after every
// input, drain poll_transmit() (to the server) and poll_event(), then call
// handle_timeout() at poll_timeout(). `now` never goes backwards.
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"
#include "base/time.hpp"
#include "proto/stun/message.hpp"
#include "proto/stun/transaction.hpp"
#include "proto/turn/channel_data.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace duplex::proto::turn {

struct ClientConfig {
    std::string username;
    std::string password;
    /// TCP or TLS to the server: messages are framed (ChannelData padded,
    /// §12.5) and requests are not retransmitted (RFC 8489 §6.2.2).
    bool stream = false;
    /// The allocation's lifetime to ask for (§7.2; the server may shorten it).
    base::Duration lifetime = base::seconds(600);
    /// Requests over UDP (RFC 8489 §6.2.1): sends at 0, 0.5, 1.5, 3.5 … s;
    /// a silent server fails the allocation after 9.5 s.
    stun::RetransmitPolicy udp_policy{base::milliseconds(500), 5, 4};
    /// Over a stream, one send and this long for the answer (RFC 8489 §6.2.2: 39.5 s).
    base::Duration stream_timeout = base::milliseconds(39500);
    /// Peers (addresses) at most, each with a permission and a channel; one
    /// not used for 5 minutes (a permission's lifetime) is forgotten.
    std::size_t max_peers = 64;
    /// Packets held per peer while its permission is asked for.
    std::size_t max_held = 8;
    /// Bytes of a stream left waiting for the rest of a frame (checked when
    /// more come): a frame is at most 4 + 65535 + 3 bytes; more than this
    /// and the stream is broken.
    std::size_t max_stream_buffer = 256 * 1024;
};

enum class ClientState : std::uint8_t { Allocating, Allocated, Failed, Closed, Redirected };

namespace client_event {
/// The allocation exists: the relayed address, and our address as the server
/// saw it (a server-reflexive candidate).
struct Allocated {
    base::Endpoint relayed;
    base::Endpoint mapped;
    base::Duration lifetime;
};
/// The allocation failed or was lost. `code` is the STUN error code (0: no
/// answer, or a broken stream), `reason` says it plainly.
struct Failed {
    std::uint16_t code = 0;
    std::string reason;
};
/// The server sent us elsewhere (300 Try Alternate, RFC 8489 §10): this
/// client is done; the same Allocate, with the same credentials, goes to
/// `server` over the same transport. Over TLS the certificate names
/// `domain` (ALTERNATE-DOMAIN, §14.16), or the first server's name when it
/// is empty. Following it (and refusing loops) is the caller's part.
struct Redirected {
    base::Endpoint server;
    std::string domain;
};
/// The server refused a permission for this peer (403, its policy): what
/// was held for it is dropped, and so is what is sent to it from now on.
struct PeerRefused {
    base::IpAddress peer;
    std::uint16_t code = 0;
};
}  // namespace client_event
using ClientEvent =
    std::variant<client_event::Allocated, client_event::Failed, client_event::PeerRefused, client_event::Redirected>;

/// Data relayed from a peer. `data` is a view into what was handed in (the
/// datagram, or the stream buffer until the next call).
struct Received {
    base::Endpoint peer;
    base::Bytes data;
};

class Client {
public:
    /// The first Allocate request is queued at once.
    Client(ClientConfig config, base::Instant now);

    /// A datagram from the server (UDP). Control messages are consumed;
    /// relayed data is returned.
    std::optional<Received> handle_datagram(base::Bytes datagram, base::Instant now);
    /// Bytes from the server's stream (TCP, TLS); then poll_received().
    void handle_stream(base::Bytes bytes, base::Instant now);
    /// The next relayed data from the stream; control messages on the way
    /// are consumed. The view is good until the next call of either.
    std::optional<Received> poll_received(base::Instant now);

    enum class Wrap : std::uint8_t {
        Ready,    ///< `out` holds the message for the server: send it
        Held,     ///< kept until the peer's permission is granted (it comes out of poll_transmit)
        Dropped,  ///< no allocation, the peer was refused, or too much is held
    };
    /// Wraps `payload` for `peer`: ChannelData when a channel is bound, a Send
    /// indication before. `out` is overwritten (its capacity is reused: with a
    /// channel bound, wrapping allocates nothing).
    Wrap wrap(const base::Endpoint& peer, base::Bytes payload, base::Instant now, std::vector<std::byte>& out);

    std::optional<std::vector<std::byte>> poll_transmit();
    std::optional<ClientEvent> poll_event();
    std::optional<base::Instant> poll_timeout() const;
    void handle_timeout(base::Instant now);
    /// The connection to the server ended (a stream transport): the
    /// allocation goes with it (§3.1: its lifetime is the connection's).
    void connection_lost(const std::string& why);
    /// Releases the allocation (Refresh with LIFETIME 0, §7.4), once.
    void close(base::Instant now);

    ClientState state() const noexcept { return state_; }
    const std::optional<base::Endpoint>& relayed() const noexcept { return relayed_; }
    /// A channel is bound to `peer` (its data goes as ChannelData).
    bool has_channel(const base::Endpoint& peer) const;
    /// The allocation's lifetime as the server granted it.
    base::Duration lifetime() const noexcept { return lifetime_; }

private:
    enum class Kind : std::uint8_t { Allocate, Refresh, Permission, Bind };
    struct Pending {
        Kind kind;
        stun::Transaction tx;
        base::Endpoint peer;      // Permission (ip), Bind
        std::uint16_t channel = 0;
        unsigned stale_retries = 0;
        bool authenticated = false;
    };
    struct Peer {
        base::Endpoint address;
        bool permitted = false;
        bool permission_pending = false;
        bool refused = false;
        base::Instant permission_expires{};
        std::uint16_t channel = 0;      // assigned at the first ChannelBind
        bool bound = false;
        bool bind_pending = false;
        base::Instant channel_expires{};
        std::deque<std::vector<std::byte>> held;  // Send indications, ready once permitted
        base::Instant last_used{};  // data to or from it; unused for 5 min, it is forgotten
        bool used_since_bind = true;        // refresh the channel only if so
        bool used_since_permission = true;  // refresh the permission only if so
    };
    static void mark_used(Peer& p, base::Instant now);
    bool ended() const noexcept {
        return state_ == ClientState::Failed || state_ == ClientState::Closed || state_ == ClientState::Redirected;
    }

    Peer* find_peer(const base::Endpoint& e);
    const Peer* find_peer(const base::Endpoint& e) const;
    Peer* find_peer_by_channel(std::uint16_t channel);
    bool ip_permitted(const base::IpAddress& ip) const;
    bool permission_pending(const base::IpAddress& ip) const;
    void add_auth(stun::MessageWriter& w) const;

    void send_request(Kind kind, const base::Endpoint& peer, std::uint16_t channel, unsigned stale_retries,
                      base::Instant now);
    void on_message(base::Bytes message, base::Instant now);
    void on_response(Pending p, const stun::Message& msg, base::Bytes message, base::Instant now);
    void on_allocate_success(const stun::Message& msg, base::Instant now);
    void on_failure(Pending& p, std::uint16_t code, const std::string& reason, base::Instant now);
    std::optional<Received> on_data(base::Bytes message, const stun::Message* msg);
    void fail(std::uint16_t code, std::string reason);
    void queue(std::vector<std::byte> message);
    std::vector<std::byte> send_indication(const base::Endpoint& peer, base::Bytes payload) const;
    bool take_auth(const stun::Message& msg);
    static stun::TransactionId new_id();

    ClientConfig config_;
    ClientState state_ = ClientState::Allocating;
    base::Instant last_now_;

    // Long-term credentials (RFC 8489 §9.2), known after the first 401.
    std::string realm_;
    std::string nonce_;
    std::vector<std::byte> key_;
    bool sha256_ = false;
    std::vector<std::byte> password_algorithms_;  // the server's PASSWORD-ALGORITHMS, echoed

    std::optional<base::Endpoint> relayed_;
    base::Duration lifetime_{};
    base::Instant refresh_at_{};
    base::Instant expires_at_{};
    unsigned auth_rounds_ = 0;

    std::vector<Pending> pending_;
    std::vector<Peer> peers_;
    std::uint16_t next_channel_ = kMinChannel;
    std::deque<std::vector<std::byte>> transmits_;
    std::deque<ClientEvent> events_;

    std::vector<std::byte> stream_;   // the stream's bytes, from the first not yet dropped
    std::size_t stream_skip_ = 0;     // bytes of stream_ already read (dropped at the next handle_stream)
};

}  // namespace duplex::proto::turn
