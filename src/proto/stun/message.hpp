// proto/stun/message.hpp: the STUN message codec (RFC 8489 §5, §14).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0|     STUN Message Type     |         Message Length        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Magic Cookie                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Transaction ID (96 bits)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Message is a parsed *view* plus owned attribute values: parse() validates the
// header and the attribute TLVs; the integrity and fingerprint checks need the
// raw bytes again and live beside it (verify_integrity, has_valid_fingerprint).
// MessageWriter builds a message and appends MESSAGE-INTEGRITY(-SHA256) and
// FINGERPRINT last, in that order (§14.5, §14.7).
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace duplex::proto::stun {

inline constexpr std::uint32_t kMagicCookie = 0x2112A442;
inline constexpr std::size_t kHeaderSize = 20;
/// Limits of the parser (peer input): at most this many attribute TLVs in a
/// message, and a datagram of at most 64 KiB.
inline constexpr std::size_t kMaxAttributes = 64;
inline constexpr std::size_t kMaxDatagramSize = 65536;
/// FINGERPRINT = CRC-32 of the message before it XOR this ("STUN", §14.7).
inline constexpr std::uint32_t kFingerprintXor = 0x5354554E;

enum class Class : std::uint8_t { Request = 0, Indication = 1, SuccessResponse = 2, ErrorResponse = 3 };

enum class Method : std::uint16_t {
    Binding = 0x001,
    // TURN (RFC 8656 §17)
    Allocate = 0x003,
    Refresh = 0x004,
    Send = 0x006,
    Data = 0x007,
    CreatePermission = 0x008,
    ChannelBind = 0x009,
};

enum class AttributeType : std::uint16_t {
    MappedAddress = 0x0001,
    Username = 0x0006,
    MessageIntegrity = 0x0008,
    ErrorCode = 0x0009,
    UnknownAttributes = 0x000A,
    ChannelNumber = 0x000C,     // TURN
    Lifetime = 0x000D,          // TURN
    XorPeerAddress = 0x0012,    // TURN
    Data = 0x0013,              // TURN
    Realm = 0x0014,
    Nonce = 0x0015,
    XorRelayedAddress = 0x0016, // TURN
    RequestedTransport = 0x0019,// TURN
    MessageIntegritySha256 = 0x001C,
    PasswordAlgorithm = 0x001D,
    Userhash = 0x001E,
    XorMappedAddress = 0x0020,
    Priority = 0x0024,          // ICE (RFC 8445 §16.1)
    UseCandidate = 0x0025,      // ICE
    PasswordAlgorithms = 0x8002,
    Software = 0x8022,
    AlternateServer = 0x8023,
    AlternateDomain = 0x8003,   // RFC 8489 §14.16
    Fingerprint = 0x8028,
    IceControlled = 0x8029,     // ICE
    IceControlling = 0x802A,    // ICE
};

/// Comprehension-required attributes are 0x0000-0x7FFF (§14).
constexpr bool is_comprehension_required(std::uint16_t type) noexcept { return type < 0x8000; }

using TransactionId = std::array<std::byte, 12>;

struct Attribute {
    std::uint16_t type = 0;
    std::vector<std::byte> value;  // the value without padding
};

struct ErrorCode {
    std::uint16_t code = 0;  // 300..699
    std::string reason;
};

/// Errors of the codec (a std::error_code category of its own).
///
/// Attributes after MESSAGE-INTEGRITY: RFC 8489 §14.5 says "with the exception
/// of the MESSAGE-INTEGRITY-SHA256 and FINGERPRINT attributes, which appear
/// after MESSAGE-INTEGRITY, agents MUST ignore all other attributes that follow
/// MESSAGE-INTEGRITY" (and §14.6 the same after MESSAGE-INTEGRITY-SHA256, with
/// FINGERPRINT the only exception). So parse() does what the RFC says: such a
/// message parses, and those attributes are dropped (they are not in
/// attributes(), the typed readers never see them, and they are not counted as
/// unknown comprehension-required ones). They are not covered by the integrity
/// check, so using them would be unsafe anyway. `after_integrity` is therefore
/// never returned by parse(); it stays for callers that want to name the case.
/// Anything after FINGERPRINT, which "MUST be the last attribute" (§14.7), is an
/// error: `after_fingerprint`.
enum class ParseError {
    too_short = 1,       ///< fewer than 20 bytes, or a TLV runs past the end
    not_stun,            ///< top two bits set or wrong magic cookie
    bad_length,          ///< message length not a multiple of 4 or not the datagram's, or over 64 KiB
    bad_attribute,       ///< an attribute value of the wrong size or form (MESSAGE-INTEGRITY(-SHA256), FINGERPRINT)
    after_integrity,     ///< an attribute other than FINGERPRINT after MESSAGE-INTEGRITY (not returned: see above)
    after_fingerprint,   ///< anything after FINGERPRINT
    too_many_attributes, ///< more than kMaxAttributes TLVs
};
const std::error_category& parse_error_category() noexcept;
inline std::error_code make_error_code(ParseError e) noexcept { return {static_cast<int>(e), parse_error_category()}; }

/// Quick test for the demultiplexer (RFC 7983 §7: first byte 0..3) plus the
/// magic cookie: is this datagram possibly STUN?
bool looks_like_stun(base::Bytes datagram) noexcept;

class Message {
public:
    Message() = default;
    Message(Class cls, Method method, const TransactionId& id) : cls_(cls), method_(static_cast<std::uint16_t>(method)), id_(id) {}

    /// Parses a whole datagram. Validates the header, the TLV layout and the
    /// ordering rules of MESSAGE-INTEGRITY/FINGERPRINT; does not check them.
    /// Attributes after MESSAGE-INTEGRITY(-SHA256) other than those allowed
    /// there are dropped (RFC 8489 §14.5, §14.6; see ParseError).
    static std::optional<Message> parse(base::Bytes datagram, std::error_code* error = nullptr);

    Class cls() const noexcept { return cls_; }
    std::uint16_t method() const noexcept { return method_; }
    bool is(Class c, Method m) const noexcept { return cls_ == c && method_ == static_cast<std::uint16_t>(m); }
    const TransactionId& transaction_id() const noexcept { return id_; }
    const std::vector<Attribute>& attributes() const noexcept { return attrs_; }

    const Attribute* find(AttributeType t) const noexcept;
    bool has(AttributeType t) const noexcept { return find(t) != nullptr; }

    // Typed readers: nullopt when absent or malformed.
    std::optional<base::Endpoint> xor_mapped_address() const;   // XOR-MAPPED-ADDRESS
    std::optional<base::Endpoint> xor_address(AttributeType t) const;  // any XOR-*-ADDRESS
    std::optional<base::Endpoint> mapped_address() const;       // MAPPED-ADDRESS
    std::optional<base::Endpoint> address(AttributeType t) const;  // any plain one: ALTERNATE-SERVER…
    std::optional<std::string> username() const;
    std::optional<std::string> string_attr(AttributeType t) const;  // REALM, NONCE, SOFTWARE…
    std::optional<ErrorCode> error_code() const;
    std::optional<std::uint32_t> priority() const;
    std::optional<std::uint64_t> ice_controlling() const;  // the tie-breaker
    std::optional<std::uint64_t> ice_controlled() const;
    std::optional<std::uint32_t> u32_attr(AttributeType t) const;   // LIFETIME…
    /// Comprehension-required attribute types that this codec does not know (§6.3.1).
    std::vector<std::uint16_t> unknown_required_attributes() const;

private:
    Class cls_ = Class::Request;
    std::uint16_t method_ = 0;
    TransactionId id_{};
    std::vector<Attribute> attrs_;
};

/// Builds one message into a byte vector. Attributes are appended in call
/// order; add_message_integrity*() then add_fingerprint() must come last.
class MessageWriter {
public:
    MessageWriter(Class cls, Method method, const TransactionId& id);

    MessageWriter& add_xor_address(AttributeType t, const base::Endpoint& e);
    MessageWriter& add_xor_mapped_address(const base::Endpoint& e) { return add_xor_address(AttributeType::XorMappedAddress, e); }
    /// A plain (not XOR'd) address: MAPPED-ADDRESS, ALTERNATE-SERVER (§14.1, §14.15).
    MessageWriter& add_address(AttributeType t, const base::Endpoint& e);
    MessageWriter& add_mapped_address(const base::Endpoint& e) { return add_address(AttributeType::MappedAddress, e); }
    MessageWriter& add_string(AttributeType t, std::string_view s);  // USERNAME, REALM, NONCE, SOFTWARE
    MessageWriter& add_username(std::string_view s) { return add_string(AttributeType::Username, s); }
    MessageWriter& add_error_code(std::uint16_t code, std::string_view reason);
    MessageWriter& add_unknown_attributes(std::span<const std::uint16_t> types);
    MessageWriter& add_u32(AttributeType t, std::uint32_t v);        // PRIORITY, LIFETIME, REQUESTED-TRANSPORT…
    MessageWriter& add_u64(AttributeType t, std::uint64_t v);        // ICE-CONTROLLING/-CONTROLLED
    MessageWriter& add_flag(AttributeType t);                        // USE-CANDIDATE (empty value)
    MessageWriter& add_bytes(AttributeType t, base::Bytes v);        // DATA, anything raw
    /// HMAC-SHA1 over the message so far with the length covering it (§14.5).
    MessageWriter& add_message_integrity(base::Bytes key);
    /// HMAC-SHA256, 32 bytes (§14.6).
    MessageWriter& add_message_integrity_sha256(base::Bytes key);
    /// CRC-32 of the message so far XOR 0x5354554e (§14.7).
    MessageWriter& add_fingerprint();

    const std::vector<std::byte>& bytes() const noexcept { return buf_; }
    std::vector<std::byte> take() && { return std::move(buf_); }
    /// True when an attribute was left out because the message would have
    /// gone past kMaxDatagramSize (a local misuse; never for normal use).
    bool overflowed() const noexcept { return overflowed_; }

private:
    // What may follow the header: what parse() accepts (a datagram of at
    // most 64 KiB; the 16-bit length field alone would allow 0xFFFC).
    static constexpr std::size_t kMaxBody = kMaxDatagramSize - kHeaderSize;
    void append(std::uint16_t type, base::Bytes value);
    void set_length(std::size_t body) noexcept;

    std::vector<std::byte> buf_;
    bool overflowed_ = false;
};

/// Checks MESSAGE-INTEGRITY (or -SHA256 if present) of `datagram` with `key`
/// (short-term: the password bytes; long-term: long_term_key()). False when
/// absent or wrong. `datagram` must be the bytes that Message::parse accepted.
bool verify_integrity(base::Bytes datagram, base::Bytes key);
/// True when FINGERPRINT is present and correct (§14.7).
bool has_valid_fingerprint(base::Bytes datagram);
/// Long-term credential key: MD5(username ":" realm ":" password) (§9.2.2);
/// the password is used as given (no SASLprep/OpaqueString processing).
std::array<std::byte, 16> long_term_key(std::string_view username, std::string_view realm, std::string_view password);
/// The same with PASSWORD-ALGORITHM SHA-256: SHA-256(username ":" realm ":"
/// password) (RFC 8489 §9.2.2, §18.5.1.2).
std::array<std::byte, 32> long_term_key_sha256(std::string_view username, std::string_view realm,
                                               std::string_view password);
/// CRC-32 (ISO/IEC 3309, as FINGERPRINT uses it).
std::uint32_t crc32(base::Bytes data) noexcept;

}  // namespace duplex::proto::stun

template <>
struct std::is_error_code_enum<duplex::proto::stun::ParseError> : std::true_type {};
