// proto/rtc/outputs.hpp: what the parts of one peer (transport.hpp,
// data_channels.hpp, the negotiation in peer.cpp) hand out, gathered in one
// place: datagrams to send, events for the application, the statistics and
// the first reason the connection failed. Internal to proto/rtc.
#pragma once

#include "proto/rtc/peer.hpp"

#include <cstddef>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace duplex::proto::rtc {

struct PeerOutputs {
    std::deque<Transmit> transmits;
    std::deque<PeerEvent> events;
    PeerStats stats;
    std::string failure;  // the first reason given, naming the layer

    void emit(PeerEvent e) { events.push_back(std::move(e)); }

    // Datagram buffers: the runtime gives sent ones back (Peer::recycle),
    // so that sending media allocates nothing per packet. Bounded.
    static constexpr std::size_t kSpareBuffers = 256;
    static constexpr std::size_t kBufferCapacity = 1500;
    std::vector<std::vector<std::byte>> spare;
    std::vector<std::byte> buffer(std::size_t size) {
        if (spare.empty() || size > kBufferCapacity) {
            std::vector<std::byte> b;
            b.reserve(size > kBufferCapacity ? size : kBufferCapacity);
            b.resize(size);
            return b;
        }
        std::vector<std::byte> b = std::move(spare.back());
        spare.pop_back();
        b.resize(size);
        return b;
    }
    void recycle(std::vector<std::byte>&& b) {
        if (spare.size() >= kSpareBuffers || b.capacity() < kBufferCapacity || b.capacity() > 4 * kBufferCapacity) return;
        b.clear();
        spare.push_back(std::move(b));
    }
    void fail(std::string why) {
        if (failure.empty()) failure = std::move(why);
    }
};

}  // namespace duplex::proto::rtc
