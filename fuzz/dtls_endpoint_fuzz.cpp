// libFuzzer target: a DTLS endpoint fed arbitrary datagrams with the
// runtime's drive loop (handle_datagram, drain poll_event/poll_transmit,
// handle_timeout). Must never crash, hang or leak.
//
// Input: byte 0 picks the role (bit 0: server when clear, client when set);
// then datagrams, each a 2-byte big-endian length (mod 2048) and its bytes.
// The seed corpus (fuzz/corpus/dtls_endpoint_fuzz) holds a real ClientHello
// framed this way, so the server reaches its handshake code.
#include "proto/dtls/endpoint.hpp"

#include <cstddef>
#include <cstdint>

namespace {

const duplex::proto::dtls::Certificate& certificate() {
    static const duplex::proto::dtls::Certificate cert = *duplex::proto::dtls::Certificate::generate();
    return cert;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::dtls;
    if (size < 1) return 0;
    EndpointConfig config;
    config.role = (data[0] & 1) ? Role::Client : Role::Server;
    config.certificate = certificate();
    config.remote_fingerprint = certificate().fingerprint();
    config.max_pending_app = 4096;
    Endpoint ep(config);
    const duplex::base::Instant t0{};
    ep.start(t0);
    auto drain = [&] {
        while (ep.poll_transmit()) {
        }
        while (auto e = ep.poll_event()) {
            if (std::holds_alternative<Data>(*e)) (void)ep.send(std::get<Data>(*e).data, t0);
        }
    };
    drain();
    std::size_t off = 1;
    while (off + 2 <= size) {
        const std::size_t len = ((std::size_t{data[off]} << 8) | data[off + 1]) % 2048;
        off += 2;
        const std::size_t n = len < size - off ? len : size - off;
        ep.handle_datagram({reinterpret_cast<const std::byte*>(data + off), n}, t0);
        off += n;
        drain();
        if (ep.poll_timeout()) ep.handle_timeout(t0);
        drain();
    }
    ep.close(t0);
    drain();
    return 0;
}
