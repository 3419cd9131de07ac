// proto/sctp/crc32c.hpp: CRC32c (Castagnoli), the SCTP checksum (RFC 9260
// §6.8, Appendix A). Computed here instead of inside usrsctp: Debian's
// libusrsctp computes it a byte at a time, unoptimised (15 % of the data
// channel profile); this uses the SSE4.2 crc32 instruction when the CPU has
// it, and a slicing-by-8 table otherwise. Pure functions.
#pragma once

#include "base/bytes.hpp"

#include <cstdint>

namespace duplex::proto::sctp {

/// CRC32c of `data` (initial ~0, reflected, final XOR ~0).
std::uint32_t crc32c(base::Bytes data) noexcept;

/// The checksum of an SCTP packet, computed with its checksum field (bytes
/// 8..11) taken as zero (RFC 9260 §6.8). `packet` has at least 12 bytes.
std::uint32_t sctp_checksum(base::Bytes packet) noexcept;

/// Writes sctp_checksum() into bytes 8..11, in the byte order SCTP puts it
/// on the wire (the CRC's least significant byte first, as in RFC 9260
/// Appendix A's reference code).
void set_sctp_checksum(base::MutableBytes packet) noexcept;
bool sctp_checksum_ok(base::Bytes packet) noexcept;

}  // namespace duplex::proto::sctp
