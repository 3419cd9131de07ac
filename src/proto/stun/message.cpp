// proto/stun/message.cpp: the STUN header and attribute codec (RFC 8489 §5,
// §14), the typed attribute readers and MessageWriter.
#include "proto/stun/message.hpp"

#include "base/utf8.hpp"
#include "proto/stun/layout.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace duplex::proto::stun {

namespace {

class StunCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "stun"; }
    std::string message(int ev) const override {
        switch (static_cast<ParseError>(ev)) {
            case ParseError::too_short: return "STUN message truncated";
            case ParseError::not_stun: return "not a STUN message (leading bits or magic cookie)";
            case ParseError::bad_length: return "STUN message length does not match the datagram";
            case ParseError::bad_attribute: return "malformed STUN attribute";
            case ParseError::after_integrity: return "attribute after MESSAGE-INTEGRITY";
            case ParseError::after_fingerprint: return "attribute after FINGERPRINT";
            case ParseError::too_many_attributes: return "too many STUN attributes";
        }
        return "unknown STUN error";
    }
};

constexpr std::uint16_t kMessageIntegrityLen = 20;
constexpr std::uint16_t kMessageIntegritySha256Len = 32;
constexpr std::size_t kMaxTextBytes = 763;      // REALM, NONCE, SOFTWARE, reason phrase (§14.8, §14.9, §14.10, §14.14)
constexpr std::size_t kMaxUsernameBytes = 513;  // §14.3 says < 509 for senders; RFC 5389 allowed < 513

// Message type (§5): the class bits C1 (bit 8) and C0 (bit 4) sit between
// the method bits M11-M7, M6-M4 and M3-M0.
constexpr std::uint16_t encode_type(Class c, std::uint16_t m) noexcept {
    const auto cls = static_cast<std::uint16_t>(c);
    return static_cast<std::uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((cls & 1) << 4) |
                                      ((cls & 2) << 7));
}
constexpr std::uint16_t decode_method(std::uint16_t t) noexcept {
    return static_cast<std::uint16_t>((t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2));
}
constexpr Class decode_class(std::uint16_t t) noexcept {
    return static_cast<Class>(((t >> 4) & 1) | ((t >> 7) & 2));
}

bool is_known(std::uint16_t type) noexcept {
    switch (static_cast<AttributeType>(type)) {
        case AttributeType::MappedAddress:
        case AttributeType::Username:
        case AttributeType::MessageIntegrity:
        case AttributeType::ErrorCode:
        case AttributeType::UnknownAttributes:
        case AttributeType::ChannelNumber:
        case AttributeType::Lifetime:
        case AttributeType::XorPeerAddress:
        case AttributeType::Data:
        case AttributeType::Realm:
        case AttributeType::Nonce:
        case AttributeType::XorRelayedAddress:
        case AttributeType::RequestedTransport:
        case AttributeType::MessageIntegritySha256:
        case AttributeType::PasswordAlgorithm:
        case AttributeType::Userhash:
        case AttributeType::XorMappedAddress:
        case AttributeType::Priority:
        case AttributeType::UseCandidate:
        case AttributeType::Software:
        case AttributeType::PasswordAlgorithms:
        case AttributeType::AlternateServer:
        case AttributeType::AlternateDomain:
        case AttributeType::Fingerprint:
        case AttributeType::IceControlled:
        case AttributeType::IceControlling: return true;
    }
    return false;
}

constexpr std::size_t padded(std::size_t n) noexcept { return (n + 3) & ~std::size_t{3}; }

// The XOR mask of §14.2: the magic cookie, then the transaction id.
std::array<std::uint8_t, 16> xor_mask(const std::byte* transaction_id) noexcept {
    std::array<std::uint8_t, 16> m{0x21, 0x12, 0xA4, 0x42};
    static_assert(kMagicCookie == 0x2112A442);
    std::memcpy(m.data() + 4, transaction_id, 12);
    return m;
}

// MAPPED-ADDRESS / XOR-*-ADDRESS value (§14.1, §14.2): 0, family, port, address.
// `xor_id` null: MAPPED-ADDRESS (no XOR).
std::optional<base::Endpoint> read_address(base::Bytes v, const TransactionId* xor_id) {
    if (v.size() < 4) return std::nullopt;
    const auto family = std::to_integer<std::uint8_t>(v[1]);
    std::uint16_t port = base::load_be16(v.data() + 2);
    std::array<std::uint8_t, 16> mask{};
    if (xor_id) {
        mask = xor_mask(xor_id->data());
        port = static_cast<std::uint16_t>(port ^ (kMagicCookie >> 16));
    }
    if (family == 0x01 && v.size() == 8) {
        std::array<std::uint8_t, 4> a{};
        for (std::size_t i = 0; i < 4; ++i) a[i] = static_cast<std::uint8_t>(std::to_integer<std::uint8_t>(v[4 + i]) ^ mask[i]);
        return base::Endpoint{base::IpAddress::v4(a), port};
    }
    if (family == 0x02 && v.size() == 20) {
        std::array<std::uint8_t, 16> a{};
        for (std::size_t i = 0; i < 16; ++i) a[i] = static_cast<std::uint8_t>(std::to_integer<std::uint8_t>(v[4 + i]) ^ mask[i]);
        return base::Endpoint{base::IpAddress::v6(a), port};
    }
    return std::nullopt;
}

std::optional<std::string> read_text(const Attribute* a, std::size_t max) {
    if (!a || a->value.size() > max || !base::is_valid_utf8(base::Bytes(a->value))) return std::nullopt;
    return std::string(base::as_string_view(a->value));
}

}  // namespace

const std::error_category& parse_error_category() noexcept {
    static const StunCategory category;
    return category;
}

bool looks_like_stun(base::Bytes datagram) noexcept {
    return datagram.size() >= kHeaderSize && std::to_integer<std::uint8_t>(datagram[0]) < 4 &&
           base::load_be32(datagram.data() + 4) == kMagicCookie;
}

namespace detail {

std::error_code scan(base::Bytes d, Layout& out) noexcept {
    out = Layout{};
    if (d.size() < kHeaderSize) return ParseError::too_short;
    if ((std::to_integer<std::uint8_t>(d[0]) & 0xC0) != 0 || base::load_be32(d.data() + 4) != kMagicCookie)
        return ParseError::not_stun;
    const std::size_t length = base::load_be16(d.data() + 2);
    if (d.size() > kMaxDatagramSize || length % 4 != 0 || length != d.size() - kHeaderSize) return ParseError::bad_length;

    std::size_t seen = 0;
    for (std::size_t off = kHeaderSize; off < d.size();) {
        // The length is a multiple of 4, so at least a TLV header is left.
        const std::uint16_t type = base::load_be16(d.data() + off);
        const std::uint16_t len = base::load_be16(d.data() + off + 2);
        if (len > d.size() - off - 4) return ParseError::too_short;  // padding then fits too (length % 4 == 0)
        if (out.fingerprint >= 0) return ParseError::after_fingerprint;
        if (++seen > kMaxAttributes) return ParseError::too_many_attributes;
        const RawAttribute raw{type, len, static_cast<std::uint32_t>(off)};
        off += 4 + padded(len);

        bool keep = true;
        switch (static_cast<AttributeType>(type)) {
            case AttributeType::Fingerprint:
                if (len != 4) return ParseError::bad_attribute;
                out.fingerprint = static_cast<int>(out.count);
                break;
            case AttributeType::MessageIntegrity:
                if (out.integrity >= 0 || out.integrity_sha256 >= 0) {
                    keep = false;  // a second MI, or MI after MI-SHA256: ignored (§14.5, §14.6)
                    break;
                }
                if (len != kMessageIntegrityLen) return ParseError::bad_attribute;
                out.integrity = static_cast<int>(out.count);
                break;
            case AttributeType::MessageIntegritySha256:
                if (out.integrity_sha256 >= 0) {
                    keep = false;
                    break;
                }
                // §14.6: at least 16 and at most 32 bytes, a multiple of 4.
                if (len < 16 || len > kMessageIntegritySha256Len || len % 4 != 0) return ParseError::bad_attribute;
                out.integrity_sha256 = static_cast<int>(out.count);
                break;
            default:
                keep = out.integrity < 0 && out.integrity_sha256 < 0;  // ignored after integrity (§14.5)
                break;
        }
        if (keep) out.attrs[out.count++] = raw;
    }
    return {};
}

}  // namespace detail

std::optional<Message> Message::parse(base::Bytes datagram, std::error_code* error) {
    detail::Layout layout;
    if (auto ec = detail::scan(datagram, layout)) {
        if (error) *error = ec;
        return std::nullopt;
    }
    const std::uint16_t type = base::load_be16(datagram.data());
    TransactionId id;
    std::memcpy(id.data(), datagram.data() + 8, id.size());
    Message m(decode_class(type), Method::Binding, id);
    m.method_ = decode_method(type);
    m.attrs_.reserve(layout.count);
    for (std::size_t i = 0; i < layout.count; ++i) {
        const auto v = layout.attrs[i].value(datagram);
        m.attrs_.push_back(Attribute{layout.attrs[i].type, std::vector<std::byte>(v.begin(), v.end())});
    }
    if (error) error->clear();
    return m;
}

const Attribute* Message::find(AttributeType t) const noexcept {
    for (const auto& a : attrs_)
        if (a.type == static_cast<std::uint16_t>(t)) return &a;
    return nullptr;
}

std::optional<base::Endpoint> Message::xor_address(AttributeType t) const {
    const Attribute* a = find(t);
    return a ? read_address(a->value, &id_) : std::nullopt;
}

std::optional<base::Endpoint> Message::xor_mapped_address() const { return xor_address(AttributeType::XorMappedAddress); }

std::optional<base::Endpoint> Message::address(AttributeType t) const {
    const Attribute* a = find(t);
    return a ? read_address(a->value, nullptr) : std::nullopt;
}

std::optional<base::Endpoint> Message::mapped_address() const { return address(AttributeType::MappedAddress); }

std::optional<std::string> Message::username() const { return read_text(find(AttributeType::Username), kMaxUsernameBytes); }

std::optional<std::string> Message::string_attr(AttributeType t) const {
    return read_text(find(t), t == AttributeType::Username ? kMaxUsernameBytes : kMaxTextBytes);
}

std::optional<ErrorCode> Message::error_code() const {
    // §14.8: 21 reserved bits, Class (3 bits, 3..6), Number (8 bits, 0..99), reason phrase.
    const Attribute* a = find(AttributeType::ErrorCode);
    if (!a || a->value.size() < 4 || a->value.size() - 4 > kMaxTextBytes) return std::nullopt;
    const unsigned cls = std::to_integer<unsigned>(a->value[2]) & 0x07;
    const unsigned number = std::to_integer<unsigned>(a->value[3]);
    if (cls < 3 || cls > 6 || number > 99) return std::nullopt;
    const base::Bytes reason = base::Bytes(a->value).subspan(4);
    if (!base::is_valid_utf8(reason)) return std::nullopt;
    return ErrorCode{static_cast<std::uint16_t>(cls * 100 + number), std::string(base::as_string_view(reason))};
}

std::optional<std::uint32_t> Message::u32_attr(AttributeType t) const {
    const Attribute* a = find(t);
    if (!a || a->value.size() != 4) return std::nullopt;
    return base::load_be32(a->value.data());
}

std::optional<std::uint32_t> Message::priority() const { return u32_attr(AttributeType::Priority); }

std::optional<std::uint64_t> Message::ice_controlling() const {
    const Attribute* a = find(AttributeType::IceControlling);
    if (!a || a->value.size() != 8) return std::nullopt;
    return base::load_be64(a->value.data());
}

std::optional<std::uint64_t> Message::ice_controlled() const {
    const Attribute* a = find(AttributeType::IceControlled);
    if (!a || a->value.size() != 8) return std::nullopt;
    return base::load_be64(a->value.data());
}

std::vector<std::uint16_t> Message::unknown_required_attributes() const {
    std::vector<std::uint16_t> out;
    for (const auto& a : attrs_)
        if (is_comprehension_required(a.type) && !is_known(a.type) &&
            std::find(out.begin(), out.end(), a.type) == out.end())
            out.push_back(a.type);
    return out;
}

// ---- MessageWriter --------------------------------------------------------

MessageWriter::MessageWriter(Class cls, Method method, const TransactionId& id) {
    buf_.resize(kHeaderSize);
    base::store_be16(buf_.data(), encode_type(cls, static_cast<std::uint16_t>(method)));
    base::store_be16(buf_.data() + 2, 0);
    base::store_be32(buf_.data() + 4, kMagicCookie);
    std::memcpy(buf_.data() + 8, id.data(), id.size());
}

void MessageWriter::set_length(std::size_t body) noexcept {
    base::store_be16(buf_.data() + 2, static_cast<std::uint16_t>(body));
}

void MessageWriter::append(std::uint16_t type, base::Bytes value) {
    const std::size_t body = buf_.size() - kHeaderSize;
    if (value.size() > 0xFFFF || body + 4 + padded(value.size()) > kMaxBody) {
        overflowed_ = true;
        return;
    }
    const std::size_t at = buf_.size();
    buf_.resize(at + 4 + padded(value.size()), std::byte{0});  // zero padding (§14)
    base::store_be16(buf_.data() + at, type);
    base::store_be16(buf_.data() + at + 2, static_cast<std::uint16_t>(value.size()));
    if (!value.empty()) std::memcpy(buf_.data() + at + 4, value.data(), value.size());
    set_length(buf_.size() - kHeaderSize);
}

MessageWriter& MessageWriter::add_xor_address(AttributeType t, const base::Endpoint& e) {
    std::byte v[20];
    const bool v6 = e.ip.is_v6();
    v[0] = std::byte{0};
    v[1] = std::byte{static_cast<std::uint8_t>(v6 ? 0x02 : 0x01)};
    base::store_be16(v + 2, static_cast<std::uint16_t>(e.port ^ (kMagicCookie >> 16)));
    const auto mask = xor_mask(buf_.data() + 8);  // cookie || transaction id (§14.2)
    for (std::size_t i = 0; i < e.ip.size(); ++i) v[4 + i] = std::byte{static_cast<std::uint8_t>(e.ip.data()[i] ^ mask[i])};
    append(static_cast<std::uint16_t>(t), {v, 4 + e.ip.size()});
    return *this;
}

MessageWriter& MessageWriter::add_address(AttributeType t, const base::Endpoint& e) {
    std::byte v[20];
    v[0] = std::byte{0};
    v[1] = std::byte{static_cast<std::uint8_t>(e.ip.is_v6() ? 0x02 : 0x01)};
    base::store_be16(v + 2, e.port);
    std::memcpy(v + 4, e.ip.data(), e.ip.size());
    append(static_cast<std::uint16_t>(t), {v, 4 + e.ip.size()});
    return *this;
}

MessageWriter& MessageWriter::add_string(AttributeType t, std::string_view s) {
    append(static_cast<std::uint16_t>(t), base::as_bytes(s));
    return *this;
}

MessageWriter& MessageWriter::add_error_code(std::uint16_t code, std::string_view reason) {
    // §14.8: the reason is at most 763 bytes; cut at a character boundary.
    if (reason.size() > kMaxTextBytes) {
        std::size_t n = kMaxTextBytes;
        while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
        reason = reason.substr(0, n);
    }
    std::vector<std::byte> v(4 + reason.size());
    v[2] = std::byte{static_cast<std::uint8_t>((code / 100) & 0x07)};
    v[3] = std::byte{static_cast<std::uint8_t>(code % 100)};
    if (!reason.empty()) std::memcpy(v.data() + 4, reason.data(), reason.size());
    append(static_cast<std::uint16_t>(AttributeType::ErrorCode), v);
    return *this;
}

MessageWriter& MessageWriter::add_unknown_attributes(std::span<const std::uint16_t> types) {
    std::vector<std::byte> v(types.size() * 2);
    for (std::size_t i = 0; i < types.size(); ++i) base::store_be16(v.data() + 2 * i, types[i]);
    append(static_cast<std::uint16_t>(AttributeType::UnknownAttributes), v);
    return *this;
}

MessageWriter& MessageWriter::add_u32(AttributeType t, std::uint32_t v) {
    std::byte b[4];
    base::store_be32(b, v);
    append(static_cast<std::uint16_t>(t), b);
    return *this;
}

MessageWriter& MessageWriter::add_u64(AttributeType t, std::uint64_t v) {
    std::byte b[8];
    base::store_be64(b, v);
    append(static_cast<std::uint16_t>(t), b);
    return *this;
}

MessageWriter& MessageWriter::add_flag(AttributeType t) {
    append(static_cast<std::uint16_t>(t), {});
    return *this;
}

MessageWriter& MessageWriter::add_bytes(AttributeType t, base::Bytes v) {
    append(static_cast<std::uint16_t>(t), v);
    return *this;
}

}  // namespace duplex::proto::stun
