// libFuzzer target: the rtc peer's datagram demultiplexer (RFC 7983) and
// everything behind it. Two rtc::Peers are connected in memory (ICE, DTLS,
// SCTP, a data channel, a video transceiver); then each input is
// cut into datagrams that reach peer A from B's address, the selected pair,
// so that the DTLS, SCTP and SRTP paths are reached too, not only STUN. Should A's connection die of the garbage
// (a DTLS alert is the right answer to a bad record), the pair is rebuilt.
// It must never crash, hang, leak, or grow its queues without bound.
#include "proto/rtc/peer.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace {

using namespace duplex;
using namespace duplex::proto;

base::Instant now() { return base::Clock::now(); }  // DTLS and usrsctp keep real time (decisions 0008, 0009)

struct Pair {
    std::unique_ptr<rtc::Peer> a, b;
    base::Endpoint a_host = *base::Endpoint::parse("127.0.0.1:40001");
    base::Endpoint b_host = *base::Endpoint::parse("127.0.0.1:40002");
    base::Endpoint a_tcp = *base::Endpoint::parse("127.0.0.1:40003");   // ICE-TCP passive (RFC 6544)
    base::Endpoint b_tcp = *base::Endpoint::parse("127.0.0.1:40004");
    static constexpr std::uint32_t kStream = 0x8000'0000u;
    bool open = false;

    Pair() {
        a = std::move(rtc::Peer::create({}, now()).value());
        b = std::move(rtc::Peer::create({}, now()).value());
        a->add_host(a_host, now());
        a->add_tcp_host(a_tcp, now());
        a->hosts_complete(now());
        b->add_host(b_host, now());
        b->hosts_complete(now());
        rtc::ChannelOptions o;
        o.label = "fuzz";
        (void)a->create_channel(o, now());
        // And a video transceiver, so that SRTP and SRTCP (128..191) reach the media part.
        rtc::TransceiverOptions video;
        (void)a->add_transceiver(video, now());
        auto offer = a->create_offer().value();
        (void)a->set_local_description(rtc::SdpKind::Offer, offer, now());
        (void)b->set_remote_description(rtc::SdpKind::Offer, offer, now());
        auto answer = b->create_answer().value();
        (void)b->set_local_description(rtc::SdpKind::Answer, answer, now());
        (void)a->set_remote_description(rtc::SdpKind::Answer, answer, now());
        // ICE paces its checks (Ta) in real time here: up to 5 s to connect.
        const auto give_up = now() + std::chrono::seconds(5);
        // A connection to A's ICE-TCP listener: the fuzzer's bytes also come as
        // a stream, through the RFC 4571 deframer.
        (void)a->tcp_accepted(kStream, a_tcp, b_tcp, now());
        while (!open && now() < give_up) {
            pump();
            for (auto* p : {a.get(), b.get()})
                if (auto t = p->poll_timeout(); t && *t <= now()) p->handle_timeout(now());
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    /// Moves datagrams both ways and drains events; true when the channel opened.
    void pump() {
        for (int i = 0; i < 64; ++i) {
            bool any = false;
            while (auto t = a->poll_transmit()) {
                any = true;
                if (t->stream == 0) b->handle_datagram(t->destination, t->local, t->data, now());
            }
            while (auto t = b->poll_transmit()) {
                any = true;
                a->handle_datagram(t->destination, t->local, t->data, now());
            }
            for (auto* p : {a.get(), b.get()})
                while (auto ev = p->poll_event()) {
                    any = true;
                    if (std::get_if<rtc::event::ChannelOpen>(&*ev)) open = true;
                    // Trickled candidates go across, as signaling would carry them.
                    if (auto* c = std::get_if<rtc::event::LocalCandidate>(&*ev); c && !c->candidate.empty())
                        (void)(p == a.get() ? b : a)->add_remote_candidate(c->candidate, now());
                }
            if (!any) break;
        }
    }
};

std::unique_ptr<Pair> g_pair;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (!g_pair || g_pair->a->connection_state() == rtc::ConnectionState::Failed ||
        g_pair->a->connection_state() == rtc::ConnectionState::Closed)
    {
        g_pair.reset();
        g_pair = std::make_unique<Pair>();
        // The harness is only worth something on a connected pair.
        if (!g_pair->open) __builtin_trap();
    }
    auto& p = *g_pair;
    // Records: [len hi][len lo][bytes]; the first byte of each picks the
    // protocol by RFC 7983's ranges as the fuzzer likes. A record whose
    // length is odd goes on the ICE-TCP connection instead, as stream bytes.
    std::size_t at = 0;
    while (at + 2 <= size) {
        std::size_t len = (std::size_t{data[at]} << 8 | data[at + 1]) % 1500;
        at += 2;
        if (len > size - at) len = size - at;
        std::vector<std::byte> d(len);
        for (std::size_t i = 0; i < len; ++i) d[i] = static_cast<std::byte>(data[at + i]);
        at += len;
        if (len % 2 == 1) p.a->stream_data(Pair::kStream, d, now());
        else p.a->handle_datagram(p.a_host, p.b_host, d, now());
        p.pump();
    }
    return 0;
}
