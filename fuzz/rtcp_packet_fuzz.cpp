// libFuzzer target: compound and reduced-size RTCP (RFC 3550 §6, RFC 4585,
// RFC 5104) on arbitrary bytes. Must never crash; the reports and feedback
// that parse are written back and must parse to the same contents.
#include "proto/rtp/rtcp.hpp"

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace duplex::proto::rtp;
    const duplex::base::Bytes in(reinterpret_cast<const std::byte*>(data), size);
    auto r = parse_rtcp(in);
    if (!r) return 0;
    std::vector<std::byte> out;
    std::vector<RtcpPacket> expected;
    for (const auto& packet : *r) {
        if (auto* sr = std::get_if<SenderReport>(&packet)) {
            write_sender_report(*sr, out);
            expected.push_back(*sr);
        } else if (auto* rr = std::get_if<ReceiverReport>(&packet)) {
            write_receiver_report(*rr, out);
            expected.push_back(*rr);
        } else if (auto* pli = std::get_if<Pli>(&packet)) {
            write_pli(pli->sender_ssrc, pli->media_ssrc, out);
            expected.push_back(*pli);
        } else if (auto* fir = std::get_if<Fir>(&packet)) {
            write_fir(fir->sender_ssrc, fir->entries, out);
            expected.push_back(*fir);
        }
    }
    if (out.empty()) return 0;
    auto back = parse_rtcp(out);
    if (!back || back->size() != expected.size()) __builtin_trap();
    for (std::size_t i = 0; i < expected.size(); ++i) {
        if (expected[i].index() != (*back)[i].index()) __builtin_trap();
        if (auto* sr = std::get_if<SenderReport>(&expected[i])) {
            const auto& b = std::get<SenderReport>((*back)[i]);
            if (b.ssrc != sr->ssrc || b.ntp_time != sr->ntp_time || b.blocks.size() != sr->blocks.size()) __builtin_trap();
            for (std::size_t k = 0; k < b.blocks.size(); ++k)
                if (b.blocks[k].cumulative_lost != sr->blocks[k].cumulative_lost ||
                    b.blocks[k].highest_sequence != sr->blocks[k].highest_sequence)
                    __builtin_trap();
        } else if (auto* fir = std::get_if<Fir>(&expected[i])) {
            if (std::get<Fir>((*back)[i]).entries.size() != fir->entries.size()) __builtin_trap();
        }
    }
    // NACKs: whatever was lost is asked for again, each once.
    for (const auto& packet : *r) {
        if (auto* nack = std::get_if<Nack>(&packet); nack && !nack->lost.empty()) {
            std::vector<std::byte> n;
            write_nack(nack->sender_ssrc, nack->media_ssrc, nack->lost, n);
            auto again = parse_rtcp(n);
            if (!again || again->size() != 1) __builtin_trap();
            const auto& lost = std::get<Nack>((*again)[0]).lost;
            for (auto s : nack->lost) {
                bool found = false;
                for (auto t : lost) found = found || t == s;
                if (!found) __builtin_trap();
            }
        }
    }
    return 0;
}
