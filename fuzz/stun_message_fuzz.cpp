// libFuzzer target: the STUN codec on arbitrary datagrams. Parses, runs every
// typed reader, checks integrity (with a key taken from the input) and the
// fingerprint, and re-encodes what parsed: that must parse again to the same
// attributes. Must never crash, hang or read out of bounds.
#include "proto/stun/message.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::stun;
    namespace base = duplex::base;
    if (size == 0) return 0;
    // The first byte says how long the key is; the rest is the datagram.
    const std::size_t key_len = std::min<std::size_t>(data[0] % 32, size - 1);
    const base::Bytes all(reinterpret_cast<const std::byte*>(data + 1), size - 1);
    const base::Bytes key = all.first(key_len);
    const base::Bytes datagram = all;

    (void)looks_like_stun(datagram);
    (void)verify_integrity(datagram, key);
    (void)has_valid_fingerprint(datagram);
    (void)crc32(datagram);

    std::error_code ec;
    auto m = Message::parse(datagram, &ec);
    if (!m) {
        if (!ec) __builtin_trap();  // a failure always says why
        return 0;
    }
    (void)m->xor_mapped_address();
    (void)m->mapped_address();
    for (auto t : {AttributeType::XorPeerAddress, AttributeType::XorRelayedAddress}) (void)m->xor_address(t);
    (void)m->address(AttributeType::AlternateServer);
    (void)m->username();
    for (auto t : {AttributeType::Realm, AttributeType::Nonce, AttributeType::Software, AttributeType::Username})
        (void)m->string_attr(t);
    (void)m->error_code();
    (void)m->priority();
    (void)m->ice_controlling();
    (void)m->ice_controlled();
    (void)m->u32_attr(AttributeType::Lifetime);
    (void)m->unknown_required_attributes();

    // Re-encode: the same class, method, id and attributes, which must parse
    // back identically (dropped attributes stay dropped: they are not there).
    MessageWriter w(m->cls(), static_cast<Method>(m->method()), m->transaction_id());
    for (const auto& a : m->attributes()) w.add_bytes(static_cast<AttributeType>(a.type), a.value);
    if (w.overflowed()) __builtin_trap();
    auto again = Message::parse(w.bytes());
    if (!again || again->cls() != m->cls() || again->method() != m->method() ||
        again->transaction_id() != m->transaction_id() || again->attributes().size() != m->attributes().size())
        __builtin_trap();
    for (std::size_t i = 0; i < m->attributes().size(); ++i)
        if (again->attributes()[i].type != m->attributes()[i].type ||
            again->attributes()[i].value != m->attributes()[i].value)
            __builtin_trap();
    return 0;
}
