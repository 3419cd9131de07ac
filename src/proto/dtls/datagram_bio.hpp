// proto/dtls/datagram_bio.hpp: an OpenSSL BIO that carries whole datagrams
// between OpenSSL's DTLS engine and our sans-IO endpoint.
//
// Why not a memory BIO: OpenSSL 3.0's BIO_s_mem is a byte stream, so two
// records written one after the other come out as one blob and two queued
// datagrams are read as one; DTLS needs datagram boundaries both ways
// (RFC 6347 §4.1.1: a record never spans datagrams, and a receiver parses
// each datagram on its own). BIO_s_dgram_mem arrived only in OpenSSL 3.2.
//
// Semantics:
//   - each BIO_write by OpenSSL is one outgoing datagram (OpenSSL's DTLS code
//     sizes its writes to the MTU we answer; the handshake goes through a
//     buffering BIO that it flushes once per datagram);
//   - each BIO_read returns exactly one queued incoming datagram, truncated
//     to the caller's buffer like recv() on a UDP socket, or "retry" when
//     none is queued;
//   - both queues hold at most `max_queued` datagrams; beyond that a new
//     datagram is dropped, as a full socket buffer drops it. DTLS recovers
//     by retransmission.
#pragma once

#include "base/bytes.hpp"

#include <cstddef>
#include <optional>
#include <vector>

#include <openssl/bio.h>

namespace duplex::proto::dtls {

class DatagramBio {
public:
    /// `mtu`: the largest datagram payload (UDP payload, no IP/UDP header),
    /// the answer to BIO_CTRL_DGRAM_QUERY_MTU.
    DatagramBio(std::size_t mtu, std::size_t max_queued = 64);
    ~DatagramBio();
    DatagramBio(const DatagramBio&) = delete;
    DatagramBio& operator=(const DatagramBio&) = delete;

    /// The BIO to hand to SSL_set_bio (which takes over one reference; we
    /// keep our own, so destruction order does not matter). nullptr when
    /// OpenSSL could not allocate it.
    BIO* bio() const noexcept { return bio_; }

    /// Queues a received datagram for OpenSSL. False when dropped (queue full).
    bool push_inbound(base::Bytes datagram);
    /// Takes the next datagram that OpenSSL wrote.
    std::optional<std::vector<std::byte>> pop_outbound();

    std::size_t inbound_queued() const noexcept;
    std::size_t outbound_queued() const noexcept;
    /// Datagrams dropped because a queue was full (for stats and tests).
    std::size_t dropped() const noexcept;

    struct State;  // what the BIO callbacks see (datagram_bio.cpp)

private:
    BIO* bio_ = nullptr;
    State* state_ = nullptr;  // owned by bio_
};

}  // namespace duplex::proto::dtls
