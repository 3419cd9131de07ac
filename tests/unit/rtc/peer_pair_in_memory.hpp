// Two rtc::Peers connected in memory (ICE, DTLS, SCTP, SRTP all real, the
// datagrams handed over directly), for the unit tests of whole peers. DTLS
// keeps real time (decision 0008), so the pair runs on the clock, waiting on
// the peers' own deadlines.
#pragma once

#include "proto/rtc/peer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace duplex::test {

using namespace duplex::proto::rtc;
using namespace std::chrono_literals;

inline base::Instant now() { return base::Clock::now(); }

struct Received {
    TransceiverKey key;
    std::uint32_t ts;
    bool key_frame;
    std::vector<std::byte> data;
};

struct Side {
    std::vector<PeerEvent> events;  // every other event, in order
    std::unique_ptr<Peer> peer;
    base::Endpoint host;
    std::vector<Received> frames;
    std::vector<TransceiverKey> added;     // TrackAdded
    std::vector<TransceiverKey> key_asks;  // KeyFrameRequested
    bool connected = false;
};

struct Pair {
    Side a, b;
    // Return true to drop a datagram on its way from A to B.
    std::function<bool(const Transmit&)> drop_a_to_b;
    // What B gets of A's offer (A keeps its own), and A of B's answer.
    std::function<std::string(std::string)> edit_offer;
    std::function<std::string(std::string)> edit_answer;

    Pair() {
        a.peer = std::move(Peer::create({}, now()).value());
        b.peer = std::move(Peer::create({}, now()).value());
        a.host = *base::Endpoint::parse("127.0.0.1:41001");
        b.host = *base::Endpoint::parse("127.0.0.1:41002");
        for (auto* s : {&a, &b}) {
            s->peer->add_host(s->host, now());
            s->peer->hosts_complete(now());
        }
    }

    /// A offers, B answers (after `before_answer` lets B add its own).
    void negotiate(const std::function<void()>& before_answer = {}) {
        auto offer = a.peer->create_offer().value();
        ASSERT_TRUE(a.peer->set_local_description(SdpKind::Offer, offer, now()).ok());
        ASSERT_TRUE(b.peer->set_remote_description(SdpKind::Offer, edit_offer ? edit_offer(offer) : offer, now()).ok());
        if (before_answer) before_answer();
        auto answer = b.peer->create_answer();
        ASSERT_TRUE(answer.ok()) << answer.error().message();
        ASSERT_TRUE(b.peer->set_local_description(SdpKind::Answer, answer.value(), now()).ok());
        auto st = a.peer->set_remote_description(SdpKind::Answer, edit_answer ? edit_answer(answer.value()) : answer.value(), now());
        ASSERT_TRUE(st.ok()) << st.message();
    }

    void pump() {
        for (int i = 0; i < 256; ++i) {
            bool any = false;
            while (auto t = a.peer->poll_transmit()) {
                any = true;
                if (drop_a_to_b && drop_a_to_b(*t)) continue;
                b.peer->handle_datagram(t->destination, t->local, t->data, now());
            }
            while (auto t = b.peer->poll_transmit()) {
                any = true;
                a.peer->handle_datagram(t->destination, t->local, t->data, now());
            }
            for (auto* s : {&a, &b}) {
                Side& other = s == &a ? b : a;
                while (auto ev = s->peer->poll_event()) {
                    any = true;
                    if (auto* c = std::get_if<event::LocalCandidate>(&*ev); c && !c->candidate.empty())
                        (void)other.peer->add_remote_candidate(c->candidate, now());
                    if (auto* c = std::get_if<event::ConnectionChange>(&*ev))
                        s->connected = c->state == ConnectionState::Connected;
                    if (auto* f = std::get_if<event::TrackFrame>(&*ev))
                        s->frames.push_back(Received{f->key, f->rtp_timestamp, f->key_frame, std::move(f->data)});
                    if (auto* t = std::get_if<event::TrackAdded>(&*ev)) s->added.push_back(t->key);
                    if (auto* k = std::get_if<event::KeyFrameRequested>(&*ev)) s->key_asks.push_back(k->key);
                    if (!std::get_if<event::TrackFrame>(&*ev) && !std::get_if<event::LocalCandidate>(&*ev))
                        s->events.push_back(std::move(*ev));
                }
            }
            if (!any) break;
        }
    }

    /// Runs both peers on the clock until `done` or `limit` passes, waking
    /// at their deadlines (at most 5 ms apart, for the datagrams in flight).
    bool run_until(const std::function<bool()>& done, base::Duration limit) {
        const auto give_up = now() + limit;
        for (;;) {
            pump();
            if (done()) return true;
            if (now() >= give_up) return false;
            auto next = now() + 5ms;
            for (auto* s : {&a, &b})
                if (auto t = s->peer->poll_timeout(); t && *t < next) next = *t;
            std::this_thread::sleep_until(std::min(next, give_up));
            for (auto* s : {&a, &b})
                if (auto t = s->peer->poll_timeout(); t && *t <= now()) s->peer->handle_timeout(now());
        }
    }
};

}  // namespace duplex::test
