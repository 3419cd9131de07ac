// proto/rtc/outputs.hpp: what the parts of one peer (transport.hpp,
// data_channels.hpp, the negotiation in peer.cpp) hand out, gathered in one
// place: datagrams to send, events for the application, the statistics and
// the first reason the connection failed. Internal to proto/rtc.
#pragma once

#include "proto/rtc/peer.hpp"

#include <deque>
#include <string>
#include <utility>

namespace duplex::proto::rtc {

struct PeerOutputs {
    std::deque<Transmit> transmits;
    std::deque<PeerEvent> events;
    PeerStats stats;
    std::string failure;  // the first reason given, naming the layer

    void emit(PeerEvent e) { events.push_back(std::move(e)); }
    void fail(std::string why) {
        if (failure.empty()) failure = std::move(why);
    }
};

}  // namespace duplex::proto::rtc
