// duplex-bench media: RTP packets per second on one core through duplex's
// media path, beside libsrtp2's own protect and unprotect loops in the same
// run (the floor: no RTP stack can go faster than its encryption).
//
//   duplex-bench media [--packets 200000] [--rounds 3] [--json]
//
//   send   floor: copy a 1200-byte RTP packet, srtp_protect it.
//          duplex: Media::send_frame on a negotiated VP8 track, frames of ten
//          ~1.1 KB packets: VP8 packetizer, RTP header with mid,
//          abs-send-time and transport-wide sequence, the RTX history, SRTP,
//          the datagram handed on.
//   recv   floor: copy an SRTP packet, srtp_unprotect it.
//          duplex: Media::handle_packet with what the sender made: SRTP,
//          SSRC routing, RTP parse, the jitter buffer and NACK generator,
//          VP8 depacketizer, whole frames out as events.
// Both sides of one Media pair run in this process with fixed keys (no
// DTLS), one round after another, alternating duplex and floor. Reported:
// packets/s of each, the ratio duplex/floor (the median of the rounds), and
// heap allocations per packet on each duplex path (counted by this binary's
// operator new).
#include "media.hpp"

#include "allocation_counter.hpp"

#include "proto/dtls/endpoint.hpp"
#include "proto/rtc/media.hpp"
#include "proto/rtc/outputs.hpp"
#include "proto/rtp/packet.hpp"
#include "proto/srtp/session.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace duplex::bench {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
namespace rtc = proto::rtc;

constexpr std::size_t kPacket = 1200;
constexpr std::size_t kFramePackets = 10;

proto::dtls::SrtpKeyingMaterial fixed_keys() {
    proto::dtls::SrtpKeyingMaterial k;
    k.profile_id = 1;  // SRTP_AES128_CM_SHA1_80, what Chromium picks
    k.profile_name = "SRTP_AES128_CM_SHA1_80";
    for (std::size_t i = 0; i < 16; ++i) k.client_key.push_back(std::byte(i + 1)), k.server_key.push_back(std::byte(i + 101));
    for (std::size_t i = 0; i < 14; ++i) k.client_salt.push_back(std::byte(i + 51)), k.server_salt.push_back(std::byte(i + 151));
    return k;
}

// What the runtime would do with a datagram: send it, and give the buffer
// back (rtc::Peer::recycle).
struct Sink final : rtc::Media::Link {
    rtc::PeerOutputs* out = nullptr;
    std::vector<std::vector<std::byte>>* keep = nullptr;  // when recording
    std::uint64_t packets = 0;
    void send_media(std::vector<std::byte> d) override {
        ++packets;
        if (keep) keep->push_back(std::move(d));
        else out->recycle(std::move(d));
    }
};

// A negotiated pair: `a` sends VP8, `b` receives it.
struct MediaPair {
    rtc::PeerOutputs out_a, out_b;
    Sink sink_a, sink_b;
    rtc::Media a{out_a, sink_a, true, 4}, b{out_b, sink_b, true, 4};
    rtc::TransceiverKey tx = 0;

    bool setup() {
        sink_a.out = &out_a;
        sink_b.out = &out_b;
        rtc::TransceiverOptions o;
        o.receive = false;
        tx = a.add(o, "0");
        auto offer = a.offer_section("0");
        if (!offer) return false;
        auto answer = b.answer_section(*offer);
        if (!answer) return false;
        answer->mid = "0";
        answer->kind = "video";
        answer->rtcp_mux = true;
        a.apply(*offer, *answer, *answer);
        b.apply(*answer, *offer, *answer);
        const auto keys = fixed_keys();
        a.start_srtp(keys, true);
        b.start_srtp(keys, false);
        return a.srtp_ready() && b.srtp_ready();
    }
};

struct Rate {
    double packets_per_second = 0;
    double allocations_per_packet = 0;
};

Rate floor_send(std::size_t packets) {
    auto s = proto::srtp::make_sessions(fixed_keys(), true);
    std::vector<std::byte> tmpl(kPacket, std::byte{0x5a});
    proto::rtp::Header h;
    h.payload_type = 96;
    h.ssrc = 1234;
    std::vector<std::byte> buf(kPacket + proto::srtp::Session::kMaxTrailer);
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < packets; ++i) {
        h.sequence = static_cast<std::uint16_t>(i);
        h.timestamp = static_cast<std::uint32_t>(i / kFramePackets * 3000);
        const auto n = proto::rtp::write(h, base::Bytes(tmpl.data(), kPacket - 12), buf);
        auto r = s.value().outbound.protect_rtp(buf, n);
        if (!r.ok()) std::abort();
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    return {static_cast<double>(packets) / secs, 0};
}

Rate duplex_send(std::size_t packets, std::vector<std::vector<std::byte>>* record) {
    MediaPair p;
    if (!p.setup()) std::abort();
    p.sink_a.keep = record;
    // A frame that makes kFramePackets full packets.
    std::vector<std::byte> frame(kFramePackets * 1100, std::byte{0x11});
    frame[0] = std::byte{0x00};  // a key frame (VP8 P bit 0)
    const auto now = base::Clock::now();
    // Warm up (the history's buffers, the first packets) before counting.
    for (int i = 0; i < 64; ++i) (void)p.a.send_frame(p.tx, frame, static_cast<std::uint32_t>(i) * 3000, now);
    if (record) record->clear();
    const auto sent0 = p.sink_a.packets;
    const auto allocs0 = allocations();
    const auto t0 = Clock::now();
    std::uint32_t ts = 64 * 3000;
    while (p.sink_a.packets - sent0 < packets) {
        if (!p.a.send_frame(p.tx, frame, ts, now).ok()) std::abort();
        ts += 3000;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto sent = p.sink_a.packets - sent0;
    return {static_cast<double>(sent) / secs, static_cast<double>(allocations() - allocs0) / static_cast<double>(sent)};
}

Rate floor_recv(const std::vector<std::vector<std::byte>>& packets) {
    auto s = proto::srtp::make_sessions(fixed_keys(), false);
    std::vector<std::byte> buf(kPacket + 64);
    const auto t0 = Clock::now();
    for (const auto& d : packets) {
        std::copy(d.begin(), d.end(), buf.begin());
        auto r = s.value().inbound.unprotect_rtp(std::span<std::byte>(buf.data(), d.size()));
        if (!r.ok()) std::abort();
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    return {static_cast<double>(packets.size()) / secs, 0};
}

Rate duplex_recv(const std::vector<std::vector<std::byte>>& packets, std::uint64_t& frames) {
    MediaPair p;
    if (!p.setup()) std::abort();
    // The receiver learns the sender's SSRC from the offer; the packets are
    // the ones the same keys and SSRC made (duplex_send with a record). One
    // time base for all of them: the jitter buffer releases each frame
    // when its last packet is in (its playout time is past).
    auto now = base::Clock::now();
    std::size_t i = 0;
    const auto allocs0 = allocations();
    std::uint64_t frame_allocs = 0;
    const auto t0 = Clock::now();
    for (const auto& d : packets) {
        p.b.handle_packet(base::Bytes(d.data(), d.size()), now);
        if (++i % kFramePackets == 0) now += std::chrono::milliseconds(33);  // the frame's media time passes
        while (!p.out_b.events.empty()) {
            if (std::holds_alternative<rtc::event::TrackFrame>(p.out_b.events.front())) ++frames, ++frame_allocs;
            p.out_b.events.pop_front();
        }
        p.out_b.transmits.clear();
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    // A frame event carries its bytes (one allocation per frame, not per packet).
    const double per_packet = (static_cast<double>(allocations() - allocs0) - static_cast<double>(frame_allocs)) /
                              static_cast<double>(packets.size());
    return {static_cast<double>(packets.size()) / secs, per_packet};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int run_media(int argc, char** argv) {
    CLI::App app{"duplex-bench media: RTP packets per second through duplex's media path beside libsrtp2's floor",
                 "duplex-bench media"};
    std::size_t packets = 200000;
    int rounds = 3;
    bool json_out = false;
    app.add_option("--packets", packets, "packets per measurement")->check(CLI::Range(std::size_t{1000}, std::size_t{5000000}))->capture_default_str();
    app.add_option("--rounds", rounds, "rounds (the median is reported)")->check(CLI::Range(1, 20))->capture_default_str();
    app.add_flag("--json", json_out, "print the result as JSON");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    std::vector<double> send_floor, send_duplex, recv_floor, recv_duplex, send_allocs, recv_allocs;
    std::uint64_t frames = 0;
    for (int r = 0; r < rounds; ++r) {
        std::vector<std::vector<std::byte>> recorded;
        recorded.reserve(packets + 64);
        const auto ds = duplex_send(packets, &recorded);  // also makes the packets the receive path reads
        const auto ds2 = duplex_send(packets, nullptr);    // timed without the recording's cost
        const auto fs = floor_send(packets);
        std::uint64_t got = 0;
        const auto dr = duplex_recv(recorded, got);
        const auto fr = floor_recv(recorded);
        (void)ds;
        send_duplex.push_back(ds2.packets_per_second);
        send_floor.push_back(fs.packets_per_second);
        send_allocs.push_back(ds2.allocations_per_packet);
        recv_duplex.push_back(dr.packets_per_second);
        recv_floor.push_back(fr.packets_per_second);
        recv_allocs.push_back(dr.allocations_per_packet);
        frames = got;
        if (!json_out)
            std::printf("round %d: send %.0f pkt/s (floor %.0f, %.2fx), recv %.0f pkt/s (floor %.0f, %.2fx), %llu frames out\n",
                        r + 1, ds2.packets_per_second, fs.packets_per_second, ds2.packets_per_second / fs.packets_per_second,
                        dr.packets_per_second, fr.packets_per_second, dr.packets_per_second / fr.packets_per_second,
                        static_cast<unsigned long long>(got));
    }
    std::vector<double> send_ratio, recv_ratio;
    for (int r = 0; r < rounds; ++r) {
        send_ratio.push_back(send_duplex[static_cast<std::size_t>(r)] / send_floor[static_cast<std::size_t>(r)]);
        recv_ratio.push_back(recv_duplex[static_cast<std::size_t>(r)] / recv_floor[static_cast<std::size_t>(r)]);
    }
    const json result = {{"mode", "media"},
                         {"packet_bytes", kPacket},
                         {"packets", packets},
                         {"rounds", rounds},
                         {"send_pps", median(send_duplex)},
                         {"send_floor_pps", median(send_floor)},
                         {"send_ratio", median(send_ratio)},
                         {"send_allocations_per_packet", median(send_allocs)},
                         {"recv_pps", median(recv_duplex)},
                         {"recv_floor_pps", median(recv_floor)},
                         {"recv_ratio", median(recv_ratio)},
                         {"recv_allocations_per_packet", median(recv_allocs)},
                         {"frames_out", frames}};
    if (json_out) {
        std::cout << result.dump() << "\n";
    } else {
        std::printf("median: send %.2fx the floor (%.2f allocations per packet), recv %.2fx the floor (%.2f allocations "
                    "per packet, besides one per frame)\n",
                    median(send_ratio), median(send_allocs), median(recv_ratio), median(recv_allocs));
    }
    // Every packet sent in a round must have come out as frames on the other side.
    const auto expected_frames = packets / kFramePackets;
    if (frames + 2 < expected_frames) {
        std::fprintf(stderr, "duplex-bench media: %llu frames out of %zu expected\n",
                     static_cast<unsigned long long>(frames), expected_frames);
        return 1;
    }
    return 0;
}

}  // namespace duplex::bench
