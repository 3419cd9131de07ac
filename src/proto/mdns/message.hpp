// proto/mdns/message.hpp: the little of the DNS message format (RFC 1035 §4)
// that a one-shot mDNS querier needs (RFC 6762 §5.1): a query for the A and
// AAAA records of one ".local" name, and the addresses that a response gives
// for that name. Browsers hide their host addresses behind such names in ICE
// candidates (draft-ietf-mmusic-mdns-ice-candidates); the runtime's resolver
// (api/mdns_resolver.hpp) sends and receives, this file only encodes and
// parses. No IO, no clock.
//
// A DNS message (RFC 1035 §4.1.1), all integers big-endian:
//
//    0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                      ID                       |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |          QDCOUNT / ANCOUNT / NSCOUNT / ARCOUNT |  (four 16-bit counts)
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   | questions: QNAME, QTYPE(16), QCLASS(16)        |  QCLASS top bit: QU (RFC 6762 §5.4)
//   | answers, authority, additional records:        |
//   |   NAME, TYPE(16), CLASS(16), TTL(32),          |  CLASS top bit: cache-flush (§10.2)
//   |   RDLENGTH(16), RDATA                          |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//
// A NAME is a sequence of labels, each a length byte (1..63) and that many
// bytes, ended by a zero byte, or by a 2-byte pointer (top two bits 11) to an
// earlier name in the message (compression, RFC 1035 §4.1.4).
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace duplex::proto::mdns {

/// RFC 1035 §3.2.2, RFC 3596 §2.1: the record types asked for.
constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAaaa = 28;
constexpr std::uint16_t kClassIn = 1;
/// RFC 6762 §5.4: the top bit of QCLASS asks for a unicast response ("QU").
constexpr std::uint16_t kUnicastResponseBit = 0x8000;
/// RFC 6762 §10.2: the top bit of a record's CLASS is the cache-flush bit.
constexpr std::uint16_t kCacheFlushBit = 0x8000;

/// RFC 6762 §5: the IPv4 multicast group and port of mDNS.
constexpr std::uint8_t kGroupV4[4] = {224, 0, 0, 251};
constexpr std::uint16_t kPort = 5353;

/// A query with two questions, A and AAAA for `name` ("x.local" or
/// "x.local."), each with the QU bit set (RFC 6762 §5.4) so that a responder
/// may answer our ephemeral port directly. Empty when `name` is not a valid
/// DNS name (a label empty or over 63 bytes, the name over 255 bytes).
std::vector<std::byte> make_query(std::string_view name, std::uint16_t id = 0);

/// The addresses of the A and AAAA records for `name` (compared without
/// regard to ASCII case, RFC 1035 §2.3.3; a trailing dot optional) in the
/// answer and additional sections of a response. Empty when the message is
/// not a response, is malformed anywhere (every read is bounds-checked,
/// compression pointers are followed at most a fixed number of times), or
/// has no such record. Duplicates are reported once.
std::vector<base::IpAddress> parse_answers(base::Bytes message, std::string_view name);

}  // namespace duplex::proto::mdns
