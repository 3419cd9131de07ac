// proto/ice/candidate.hpp: an ICE candidate (RFC 8445 §5.1) and its SDP form,
// the "candidate" attribute of RFC 8839 §5.1, with the priority formula
// (RFC 8445 §5.1.2.1) and foundation rule (§5.1.1.3).
//
//   candidate-attribute = "candidate" ":" foundation SP component-id SP
//                         transport SP priority SP connection-address SP port
//                         SP "typ" SP cand-type
//                         [SP "raddr" SP connection-address SP "rport" SP port]
//                         *(SP extension-att-name SP extension-att-value)
//
// A browser that hides its addresses puts an mDNS name ("<uuid>.local",
// draft-ietf-mmusic-mdns-ice-candidates) where the IP address goes; such a
// candidate keeps the name in `hostname` and leaves `address.ip` unspecified.
#pragma once

#include "base/endpoint.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duplex::proto::ice {

enum class Transport : std::uint8_t { Udp, Tcp };

/// How a TURN server is reached (RFC 8656 §3.1): it orders relayed candidates.
enum class RelayProtocol : std::uint8_t { Udp, Tcp, Tls };
std::string_view to_string(RelayProtocol p) noexcept;  // "udp", "tcp", "tls"

/// RFC 8445 §5.1.1: how the candidate was obtained.
enum class CandidateType : std::uint8_t { Host, ServerReflexive, PeerReflexive, Relayed };

/// RFC 8445 §5.1.2.2 recommended type preferences.
constexpr std::uint8_t type_preference(CandidateType t) noexcept {
    switch (t) {
        case CandidateType::Host: return 126;
        case CandidateType::PeerReflexive: return 110;
        case CandidateType::ServerReflexive: return 100;
        case CandidateType::Relayed: return 0;
    }
    return 0;
}

/// RFC 6544 §4.2: a TCP candidate's local preference is
///   (2^13) * direction-pref + other-pref
/// with direction-pref 4 for a passive host candidate (6 active, 2 S-O); the
/// type preference of a TCP host candidate is kept below UDP's (as browsers
/// do: UDP is preferred when both work).
inline constexpr std::uint8_t kTcpHostTypePreference = 90;
constexpr std::uint16_t tcp_local_preference(unsigned direction_pref, unsigned other_pref) noexcept {
    return static_cast<std::uint16_t>((direction_pref << 13) + (other_pref & 0x1FFF));
}

/// RFC 8445 §5.1.2.1:
///   priority = (2^24)*(type preference) + (2^8)*(local preference) + (2^0)*(256 - component ID)
constexpr std::uint32_t candidate_priority(CandidateType type, std::uint16_t local_preference,
                                           std::uint16_t component = 1) noexcept {
    return (std::uint32_t{type_preference(type)} << 24) + (std::uint32_t{local_preference} << 8) +
           (256u - (component > 256 ? 256u : component));
}

/// A passive TCP host candidate's priority (RFC 6544 §4.2).
constexpr std::uint32_t tcp_candidate_priority(std::uint16_t local_preference, std::uint16_t component = 1) noexcept {
    return (std::uint32_t{kTcpHostTypePreference} << 24) + (std::uint32_t{local_preference} << 8) +
           (256u - (component > 256 ? 256u : component));
}

/// RFC 8445 §5.1.1.3: candidates share a foundation when they have the same
/// type, base IP address, STUN/TURN server IP address and transport. The value
/// is a stable hash of those four, written in decimal (ice-chars only).
std::string candidate_foundation(CandidateType type, const base::IpAddress& base,
                                 const std::optional<base::IpAddress>& server, Transport transport);

std::string_view to_string(CandidateType t) noexcept;  // "host", "srflx", "prflx", "relay"

struct Candidate {
    using Type = CandidateType;

    std::string foundation;        // 1*32 ice-char
    std::uint16_t component = 1;   // 1..256
    Transport transport = Transport::Udp;
    std::uint32_t priority = 0;
    base::Endpoint address;        // unspecified IP when `hostname` is set
    std::string hostname;          // an mDNS ".local" name instead of an IP (RFC 8839 §5.1)
    Type type = Type::Host;
    std::optional<base::Endpoint> related;  // raddr/rport
    std::string tcptype;           // "active" | "passive" | "so" (RFC 6544 §4.5)
    std::string ufrag;             // the optional "ufrag" extension (trickle, RFC 8838 §4)

    /// Parses "candidate:…" with or without the "a=" and "candidate:" prefixes.
    /// Unknown extension pairs (generation, network-id, network-cost…) are
    /// skipped. Anything malformed gives nullopt: the caller ignores it.
    static std::optional<Candidate> parse(std::string_view text);

    /// "candidate:842163049 1 udp 1677729535 1.2.3.4 5000 typ srflx raddr 0.0.0.0 rport 0"
    /// (the attribute value, without "a=").
    std::string to_sdp_attribute() const;

    bool is_mdns() const noexcept { return !hostname.empty(); }

    friend bool operator==(const Candidate&, const Candidate&) = default;
};

}  // namespace duplex::proto::ice
