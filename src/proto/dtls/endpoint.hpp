// proto/dtls/endpoint.hpp: one DTLS 1.2 association (RFC 6347) as WebRTC uses
// it (RFC 8827 §6.5, RFC 8842): self-signed certificates on both sides, trust
// from the SDP fingerprint (RFC 8122), DTLS-SRTP keys (RFC 5764), and the DTLS
// client/server role from a=setup (RFC 8842 §5: active → client, passive →
// server). OpenSSL does the protocol; this class drives it sans-IO through a
// DatagramBio.
//
// The drive contract (docs/decisions/0001-sans-io-contract.md):
//   start(now)                   once; the client queues its ClientHello;
//   handle_datagram(d, now)      for every received DTLS datagram (the caller
//                                demultiplexes by first byte 20..63, RFC 7983);
//   handle_timeout(now)          when poll_timeout() has passed;
//   send(data, now) / close(now) local commands; misuse returns a Status;
//   after any of these: drain poll_event() and poll_transmit() until empty,
//   send each datagram (each ≤ mtu, see send() for the one exception), and
//   re-arm the timer for poll_timeout().
//
// Timing is REAL time (docs/decisions/0008-dtls-openssl-clock.md): OpenSSL's
// DTLS retransmission timer reads the system clock itself. poll_timeout()
// converts OpenSSL's remaining time into an Instant relative to the last
// `now` we were given, and handle_timeout() lets OpenSSL decide against its
// own clock whether the timer has really expired. Passing a made-up `now`
// therefore does not fire a retransmission early; tests of retransmission
// must wait in real time (initial_retransmission_timeout shortens that).
//
//   New ──start──▶ Connecting ──handshake done + fingerprint ok──▶ Connected
//                      │                                              │
//                      ├─ alert / bad fingerprint / error ──▶ Failed  ├─ peer close_notify ─▶ Closed
//                      └─ close() ─────────────────────────▶ Closed ◀─┴─ close()
// Failed and Closed are terminal: later inputs are ignored (datagrams already
// queued, such as our alert or close_notify, can still be polled).
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"
#include "base/time.hpp"
#include "proto/dtls/certificate.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace duplex::proto::dtls {

enum class Role { Client, Server };
enum class State { New, Connecting, Connected, Closed, Failed };

const char* to_string(State s) noexcept;
std::ostream& operator<<(std::ostream& os, State s);

struct EndpointConfig {
    Role role = Role::Client;
    Certificate certificate;
    /// The peer's a=fingerprint (RFC 8122 §5). May be empty at construction
    /// (the answer has not arrived yet); then set_remote_fingerprint() must be
    /// called, and a handshake that finishes first waits for it (Connecting).
    std::string remote_fingerprint_algorithm = "sha-256";
    std::string remote_fingerprint;
    /// Largest datagram we emit (UDP payload). 1200 is what browsers use.
    std::size_t mtu = 1200;
    /// Offer (client) / accept (server) use_srtp (RFC 5764 §4.1.2) with
    /// SRTP_AES128_CM_SHA1_80 and SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2).
    bool srtp = true;
    /// Received application data not yet taken with poll_event(); records
    /// beyond it are dropped (DTLS is unreliable; SCTP above retransmits).
    std::size_t max_pending_app = std::size_t{1} << 20;
    /// First handshake retransmission timeout; doubles per loss up to 60 s
    /// (RFC 6347 §4.2.4.1 recommends 1 s).
    std::chrono::milliseconds initial_retransmission_timeout{1000};
};

struct SrtpKeyingMaterial {
    std::uint16_t profile_id = 0;  // RFC 5764 §4.1.2 / RFC 7714 §14.2 (1 or 7)
    std::string profile_name;      // OpenSSL's name, e.g. "SRTP_AES128_CM_SHA1_80"
    std::vector<std::byte> client_key, client_salt, server_key, server_salt;
};

struct Connected {
    std::string protocol_version;  // "DTLSv1.2"
    std::string cipher;            // OpenSSL's name, e.g. "ECDHE-ECDSA-AES128-GCM-SHA256"
    std::string srtp_profile;      // empty when no SRTP profile was negotiated
};
struct Data {
    std::vector<std::byte> data;   // one application-data record
};
struct Closed {};                  // the peer sent close_notify
struct Failed {
    std::string reason;
};
using Event = std::variant<Connected, Data, Closed, Failed>;

/// Largest application-data record (RFC 6347 §4.1.1 via RFC 5246 §6.2.1: 2^14).
inline constexpr std::size_t kMaxRecordPayload = 16384;

class Endpoint {
public:
    /// Never fails: an OpenSSL setup error makes the endpoint Failed with the
    /// reason as its first event.
    explicit Endpoint(EndpointConfig config);
    ~Endpoint();
    Endpoint(Endpoint&&) noexcept;
    Endpoint& operator=(Endpoint&&) noexcept;

    void set_remote_fingerprint(std::string algorithm, std::string value);

    void start(base::Instant now);
    void handle_datagram(base::Bytes datagram, base::Instant now);
    std::optional<std::vector<std::byte>> poll_transmit();
    std::optional<Event> poll_event();

    /// Sends one application-data record. invalid_state unless Connected;
    /// invalid_argument when empty; message_too_big over kMaxRecordPayload.
    /// OpenSSL does not split application data to the MTU, so a payload over
    /// max_datagram_payload() goes out as one datagram larger than the MTU
    /// (IP fragments it); callers that care (SCTP) size their packets to
    /// max_datagram_payload().
    base::Status send(base::Bytes app_data, base::Instant now);

    std::optional<base::Instant> poll_timeout() const;
    void handle_timeout(base::Instant now);

    /// Sends close_notify (RFC 5246 §7.2.1) and becomes Closed.
    void close(base::Instant now);

    State state() const noexcept;
    Role role() const noexcept;
    /// After Connected: the negotiated SRTP profile's keys (RFC 5764 §4.2).
    std::optional<SrtpKeyingMaterial> srtp_keying_material() const;
    /// The fingerprint of the certificate the peer actually presented (in the
    /// expected algorithm), once the handshake has seen it.
    std::optional<std::string> remote_certificate_fingerprint() const;
    /// The largest send() that still fits one MTU-sized datagram with the
    /// negotiated cipher; 0 before Connected.
    std::size_t max_datagram_payload() const;
    /// Datagrams dropped because the inbound or outbound queue was full.
    std::size_t dropped_datagrams() const noexcept;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace duplex::proto::dtls
