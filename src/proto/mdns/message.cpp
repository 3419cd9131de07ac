// proto/mdns/message.cpp: the query encoder and the response parser of
// message.hpp. Every read checks its bounds first; any inconsistency makes
// the whole message count as malformed (an empty answer), as a resolver
// must not half-trust a packet that anyone on the link may have sent.
#include "proto/mdns/message.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace duplex::proto::mdns {

namespace {

constexpr std::size_t kHeaderSize = 12;     // RFC 1035 §4.1.1
constexpr std::size_t kMaxLabel = 63;       // RFC 1035 §2.3.4
constexpr std::size_t kMaxName = 255;       // RFC 1035 §2.3.4, in wire form with the length bytes
constexpr std::size_t kRecordFixed = 10;    // TYPE, CLASS, TTL, RDLENGTH after a record's NAME (§4.1.3)
// Compression pointers followed within one name. A legitimate name needs
// few (one per suffix it shares); the limit ends pointer loops (a pointer to
// itself, or two pointing at each other) that would otherwise never finish.
constexpr int kMaxPointers = 16;

using Wire = std::vector<std::byte>;  // a name in uncompressed wire form, ending in the zero byte

unsigned u8(std::byte b) noexcept { return std::to_integer<unsigned>(b); }

void put16(Wire& out, std::uint16_t v) {
    out.push_back(std::byte(v >> 8));
    out.push_back(std::byte(v & 0xff));
}

/// "x.local" or "x.local." as labels (RFC 1035 §3.1); false if it is not a
/// valid name. The root name alone is refused: nobody resolves it.
bool encode_name(std::string_view name, Wire& out) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) return false;
    const std::size_t start = out.size();
    for (;;) {
        const auto dot = name.find('.');
        const auto label = name.substr(0, dot);
        if (label.empty() || label.size() > kMaxLabel) return false;
        out.push_back(std::byte(label.size()));
        for (char c : label) out.push_back(std::byte(static_cast<unsigned char>(c)));
        if (dot == std::string_view::npos) break;
        name.remove_prefix(dot + 1);
    }
    out.push_back(std::byte{0});
    return out.size() - start <= kMaxName;
}

/// Reads the (possibly compressed, RFC 1035 §4.1.4) name at `pos` into `out`
/// in uncompressed wire form. Returns the offset just past the name as it
/// sits at `pos` (past the first pointer, if any), or nullopt if the name
/// runs out of the message, is too long, uses a label type other than a
/// plain label (01 and 10 prefixes: RFC 6891 §5 extended labels, not used by
/// mDNS), or follows more than kMaxPointers pointers.
std::optional<std::size_t> read_name(base::Bytes msg, std::size_t pos, Wire& out) {
    out.clear();
    std::optional<std::size_t> end;
    int pointers = 0;
    for (;;) {
        if (pos >= msg.size()) return std::nullopt;
        const unsigned len = u8(msg[pos]);
        if ((len & 0xC0) == 0xC0) {
            if (pos + 1 >= msg.size() || ++pointers > kMaxPointers) return std::nullopt;
            if (!end) end = pos + 2;
            pos = ((len & 0x3Fu) << 8) | u8(msg[pos + 1]);
            continue;
        }
        if ((len & 0xC0) != 0) return std::nullopt;
        if (out.size() + 1 + len > kMaxName) return std::nullopt;
        if (len == 0) {
            out.push_back(std::byte{0});
            return end ? *end : pos + 1;
        }
        if (pos + 1 + len > msg.size()) return std::nullopt;
        out.insert(out.end(), msg.begin() + static_cast<std::ptrdiff_t>(pos),
                   msg.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
        pos += 1 + len;
    }
}

/// RFC 1035 §2.3.3 (and RFC 6762 §16): names compare without regard to
/// ASCII case. Length bytes (at most 63) are below 'A' and pass unchanged.
bool same_name(const Wire& a, const Wire& b) noexcept {
    auto lower = [](std::byte x) {
        const unsigned c = u8(x);
        return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
    };
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [&](std::byte x, std::byte y) { return lower(x) == lower(y); });
}

}  // namespace

std::vector<std::byte> make_query(std::string_view name, std::uint16_t id) {
    Wire q;
    q.reserve(kHeaderSize + name.size() + 2 + 4 + 2 + 4);
    // RFC 6762 §18: flags all zero in a query (QR=0, OPCODE=0, no AA/TC/RD);
    // §18.1: the ID is normally zero, but a querier may set one and a
    // responder answering a legacy unicast query echoes it (§6.7).
    put16(q, id);
    put16(q, 0);
    put16(q, 2);  // QDCOUNT: A and AAAA
    put16(q, 0);
    put16(q, 0);
    put16(q, 0);
    if (!encode_name(name, q)) return {};
    put16(q, kTypeA);
    put16(q, kClassIn | kUnicastResponseBit);
    // The second question names the first one by a pointer to offset 12 (RFC 1035 §4.1.4).
    put16(q, static_cast<std::uint16_t>(0xC000 | kHeaderSize));
    put16(q, kTypeAaaa);
    put16(q, kClassIn | kUnicastResponseBit);
    return q;
}

std::vector<base::IpAddress> parse_answers(base::Bytes msg, std::string_view name) {
    Wire want;
    if (!encode_name(name, want)) return {};
    if (msg.size() < kHeaderSize) return {};
    const std::uint16_t flags = base::load_be16(msg.data() + 2);
    // RFC 6762 §18.2: a response has QR set; §18.3: messages with a non-zero
    // OPCODE are ignored; §18.11: so are those with a non-zero RCODE.
    if ((flags & 0x8000) == 0 || ((flags >> 11) & 0xF) != 0 || (flags & 0xF) != 0) return {};
    const std::size_t qdcount = base::load_be16(msg.data() + 4);
    const std::size_t ancount = base::load_be16(msg.data() + 6);
    const std::size_t nscount = base::load_be16(msg.data() + 8);
    const std::size_t arcount = base::load_be16(msg.data() + 10);

    std::size_t pos = kHeaderSize;
    Wire owner;
    // Questions (RFC 1035 §4.1.2): a response to a legacy unicast query
    // repeats them (RFC 6762 §6.7); skipped.
    for (std::size_t i = 0; i < qdcount; ++i) {
        auto next = read_name(msg, pos, owner);
        if (!next || *next + 4 > msg.size()) return {};
        pos = *next + 4;
    }
    std::vector<base::IpAddress> out;
    // Answer, authority and additional records in turn (RFC 1035 §4.1.3).
    // The authority section holds a prober's proposed records (RFC 6762
    // §8.2), not answers: walked over, never used.
    const std::size_t records = ancount + nscount + arcount;
    for (std::size_t i = 0; i < records; ++i) {
        auto next = read_name(msg, pos, owner);
        if (!next || *next + kRecordFixed > msg.size()) return {};
        const std::byte* r = msg.data() + *next;
        const std::uint16_t type = base::load_be16(r);
        const std::uint16_t klass = base::load_be16(r + 2) & static_cast<std::uint16_t>(~kCacheFlushBit);
        const std::uint32_t ttl = base::load_be32(r + 4);
        const std::size_t rdlength = base::load_be16(r + 8);
        const std::size_t rdata = *next + kRecordFixed;
        if (rdata + rdlength > msg.size()) return {};
        pos = rdata + rdlength;

        const bool authority = i >= ancount && i < ancount + nscount;
        if (authority || klass != kClassIn || (type != kTypeA && type != kTypeAaaa)) continue;
        // RFC 1035 §3.4.1 and RFC 3596 §2.2: the address is the whole RDATA.
        if ((type == kTypeA && rdlength != 4) || (type == kTypeAaaa && rdlength != 16)) return {};
        // RFC 6762 §10.1: a TTL of zero is a goodbye: the record is withdrawn.
        if (ttl == 0 || !same_name(owner, want)) continue;
        base::IpAddress ip;
        if (type == kTypeA) {
            std::array<std::uint8_t, 4> b{};
            for (std::size_t k = 0; k < 4; ++k) b[k] = static_cast<std::uint8_t>(u8(msg[rdata + k]));
            ip = base::IpAddress::v4(b);
        } else {
            std::array<std::uint8_t, 16> b{};
            for (std::size_t k = 0; k < 16; ++k) b[k] = static_cast<std::uint8_t>(u8(msg[rdata + k]));
            ip = base::IpAddress::v6(b);
        }
        if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
    }
    return out;
}

}  // namespace duplex::proto::mdns
