// proto/ice/candidate.cpp: the SDP "candidate" attribute (RFC 8839 §5.1),
// priorities (RFC 8445 §5.1.2.1) and foundations (§5.1.1.3).
#include "proto/ice/candidate.hpp"

#include <array>
#include <cctype>
#include <cstddef>
#include <vector>

namespace duplex::proto::ice {
namespace {

// 32-bit FNV-1a: stable across runs and platforms, unlike std::hash.
std::uint32_t fnv1a(std::string_view s, std::uint32_t h = 2166136261u) noexcept {
    for (char c : s) {
        h ^= static_cast<std::uint8_t>(c);
        h *= 16777619u;
    }
    return h;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) noexcept {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// RFC 8839 §5.1: ice-char = ALPHA / DIGIT / "+" / "/"
bool is_ice_char(char c) noexcept {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
}

/// 1..max_digits decimal digits, value ≤ max.
std::optional<std::uint64_t> parse_decimal(std::string_view s, std::size_t max_digits, std::uint64_t max) {
    if (s.empty() || s.size() > max_digits) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > max) return std::nullopt;
    return v;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
    auto v = parse_decimal(s, 5, 65535);
    if (!v) return std::nullopt;
    return static_cast<std::uint16_t>(*v);
}

/// An mDNS name as browsers use it: DNS label characters, ending in ".local".
bool is_mdns_name(std::string_view s) noexcept {
    if (s.size() < 7 || s.size() > 253) return false;
    if (!iequals(s.substr(s.size() - 6), ".local")) return false;
    for (char c : s) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '.') return false;
    }
    return s.front() != '.';
}

std::optional<CandidateType> parse_type(std::string_view s) noexcept {
    if (s == "host") return CandidateType::Host;
    if (s == "srflx") return CandidateType::ServerReflexive;
    if (s == "prflx") return CandidateType::PeerReflexive;
    if (s == "relay") return CandidateType::Relayed;
    return std::nullopt;
}

// Extension values are byte-strings (RFC 8839 §5.1); we keep a bounded copy
// of the few we use.
constexpr std::size_t kMaxExtensionValue = 256;

}  // namespace

std::string_view to_string(CandidateType t) noexcept {
    switch (t) {
        case CandidateType::Host: return "host";
        case CandidateType::ServerReflexive: return "srflx";
        case CandidateType::PeerReflexive: return "prflx";
        case CandidateType::Relayed: return "relay";
    }
    return "host";
}

std::string_view to_string(RelayProtocol p) noexcept {
    switch (p) {
        case RelayProtocol::Udp: return "udp";
        case RelayProtocol::Tcp: return "tcp";
        case RelayProtocol::Tls: return "tls";
    }
    return "udp";
}

std::string candidate_foundation(CandidateType type, const base::IpAddress& base,
                                 const std::optional<base::IpAddress>& server, Transport transport) {
    std::uint32_t h = fnv1a(to_string(type));
    h = fnv1a("|", h);
    h = fnv1a(base.to_string(), h);
    h = fnv1a("|", h);
    if (server) h = fnv1a(server->to_string(), h);
    h = fnv1a(transport == Transport::Udp ? "|udp" : "|tcp", h);
    return std::to_string(h);
}

std::optional<Candidate> Candidate::parse(std::string_view text) {
    // Strip the optional "a=" and "candidate:" prefixes and the line ending.
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ')) {
        text.remove_suffix(1);
    }
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    if (starts_with_icase(text, "a=")) text.remove_prefix(2);
    if (starts_with_icase(text, "candidate:")) text.remove_prefix(10);
    if (text.size() > 1024) return std::nullopt;  // no legitimate candidate line is this long

    std::vector<std::string_view> tok;
    while (!text.empty()) {
        const auto sp = text.find(' ');
        const auto word = text.substr(0, sp);
        if (!word.empty()) tok.push_back(word);
        if (sp == std::string_view::npos) break;
        text.remove_prefix(sp + 1);
        if (tok.size() > 64) return std::nullopt;
    }
    // foundation component transport priority address port "typ" type
    if (tok.size() < 8) return std::nullopt;

    Candidate c;
    // foundation = 1*32ice-char
    if (tok[0].empty() || tok[0].size() > 32) return std::nullopt;
    for (char ch : tok[0]) {
        if (!is_ice_char(ch)) return std::nullopt;
    }
    c.foundation = std::string(tok[0]);

    // component-id = 1*3DIGIT, 1..256 (RFC 8445 §5.1.1.1)
    auto comp = parse_decimal(tok[1], 3, 256);
    if (!comp || *comp == 0) return std::nullopt;
    c.component = static_cast<std::uint16_t>(*comp);

    // transport = "UDP" / transport-extension; TCP per RFC 6544. Case-insensitive.
    if (iequals(tok[2], "udp")) {
        c.transport = Transport::Udp;
    } else if (iequals(tok[2], "tcp")) {
        c.transport = Transport::Tcp;
    } else {
        return std::nullopt;
    }

    // priority = 1*10DIGIT; it must fit the 32 bits of the PRIORITY attribute.
    auto prio = parse_decimal(tok[3], 10, 0xFFFFFFFFu);
    if (!prio) return std::nullopt;
    c.priority = static_cast<std::uint32_t>(*prio);

    // connection-address: an IP address, or an mDNS name from a browser that
    // hides its addresses.
    if (auto ip = base::IpAddress::parse(tok[4])) {
        c.address.ip = *ip;
    } else if (is_mdns_name(tok[4])) {
        c.hostname = std::string(tok[4]);
    } else {
        return std::nullopt;
    }
    auto port = parse_port(tok[5]);
    if (!port) return std::nullopt;
    c.address.port = *port;

    if (tok[6] != "typ") return std::nullopt;
    auto type = parse_type(tok[7]);
    if (!type) return std::nullopt;
    c.type = *type;

    // The rest are name/value pairs: raddr, rport and extensions.
    if ((tok.size() - 8) % 2 != 0) return std::nullopt;
    std::optional<base::IpAddress> raddr;
    std::optional<std::uint16_t> rport;
    for (std::size_t i = 8; i + 1 < tok.size(); i += 2) {
        const auto name = tok[i];
        const auto value = tok[i + 1];
        if (name == "raddr") {
            // A hidden related address may be an mDNS name or 0.0.0.0; both
            // are legal and simply give no usable related address.
            raddr = base::IpAddress::parse(value);
            if (!raddr && !is_mdns_name(value)) return std::nullopt;
        } else if (name == "rport") {
            rport = parse_port(value);
            if (!rport) return std::nullopt;
        } else if (name == "tcptype") {
            if (value != "active" && value != "passive" && value != "so") return std::nullopt;
            c.tcptype = std::string(value);
        } else if (name == "ufrag") {
            if (value.size() > kMaxExtensionValue) return std::nullopt;
            c.ufrag = std::string(value);
        }
        // Unknown extensions (generation, network-id, network-cost…): skipped.
    }
    if (raddr) c.related = base::Endpoint{*raddr, rport.value_or(0)};
    return c;
}

std::string Candidate::to_sdp_attribute() const {
    std::string s = "candidate:";
    s += foundation;
    s += ' ';
    s += std::to_string(component);
    s += transport == Transport::Udp ? " udp " : " tcp ";
    s += std::to_string(priority);
    s += ' ';
    s += hostname.empty() ? address.ip.to_string() : hostname;
    s += ' ';
    s += std::to_string(address.port);
    s += " typ ";
    s += to_string(type);
    if (related) {
        s += " raddr ";
        s += related->ip.to_string();
        s += " rport ";
        s += std::to_string(related->port);
    }
    if (!tcptype.empty()) {
        s += " tcptype ";
        s += tcptype;
    }
    if (!ufrag.empty()) {
        s += " ufrag ";
        s += ufrag;
    }
    return s;
}

}  // namespace duplex::proto::ice
