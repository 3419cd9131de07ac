// RTCP (RFC 3550 §6, RFC 4585, RFC 5104, RFC 5506) against byte-literal
// compounds: each packet type read, written back byte for byte, and every
// malformed shape refused with its error.
#include "proto/rtp/rtcp.hpp"

#include "support/byte_literals.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace duplex;
using duplex::test::bytes;
using namespace duplex::proto::rtp;

namespace {


// A compound as a browser sends it: an SR with one report block, then SDES
// with the CNAME "ab".
const std::vector<std::byte> kSrSdes = bytes({
    0x81, 200, 0x00, 0x0C,                           // SR, 1 block, 13 words
    0x00, 0x00, 0x00, 0x01,                          // sender SSRC 1
    0xE8, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,  // NTP 0xE8000000.80000000
    0x00, 0x00, 0x10, 0x00,                          // RTP time 4096
    0x00, 0x00, 0x00, 0x0A,                          // 10 packets
    0x00, 0x00, 0x03, 0xE8,                          // 1000 octets
    0x00, 0x00, 0x00, 0x02,                          // block: SSRC 2
    0x40, 0xFF, 0xFF, 0xFE,                          // 25% lost, cumulative -2
    0x00, 0x01, 0x00, 0x05,                          // highest seq 65541 (one cycle)
    0x00, 0x00, 0x00, 0x20,                          // jitter 32
    0x12, 0x34, 0x56, 0x78,                          // LSR
    0x00, 0x01, 0x00, 0x00,                          // DLSR 1 s
    0x81, 202, 0x00, 0x03,                           // SDES, 1 chunk, 4 words
    0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 'a', 'b',    // SSRC 1, CNAME "ab"
    0x00, 0x00, 0x00, 0x00,                          // the null item, to the word
});

TEST(Rtcp, ReadsASenderReportAndSdes) {
    auto r = parse_rtcp(kSrSdes);
    ASSERT_TRUE(r) << r.status().message();
    ASSERT_EQ(r->size(), 2u);
    const auto& sr = std::get<SenderReport>((*r)[0]);
    EXPECT_EQ(sr.ssrc, 1u);
    EXPECT_EQ(sr.ntp_time, 0xE800000080000000ull);
    EXPECT_EQ(sr.rtp_time, 4096u);
    EXPECT_EQ(sr.packet_count, 10u);
    EXPECT_EQ(sr.octet_count, 1000u);
    ASSERT_EQ(sr.blocks.size(), 1u);
    EXPECT_EQ(sr.blocks[0].ssrc, 2u);
    EXPECT_EQ(sr.blocks[0].fraction_lost, 0x40);
    EXPECT_EQ(sr.blocks[0].cumulative_lost, -2);
    EXPECT_EQ(sr.blocks[0].highest_sequence, 65541u);
    EXPECT_EQ(sr.blocks[0].jitter, 32u);
    EXPECT_EQ(sr.blocks[0].last_sr, 0x12345678u);
    EXPECT_EQ(sr.blocks[0].delay_since_last_sr, 65536u);
    EXPECT_EQ(ntp_middle(sr.ntp_time), 0x00008000u);
    const auto& sdes = std::get<Sdes>((*r)[1]);
    ASSERT_EQ(sdes.chunks.size(), 1u);
    EXPECT_EQ(sdes.chunks[0].cname, "ab");
}

TEST(Rtcp, WritesWhatItReads) {
    auto r = parse_rtcp(kSrSdes);
    ASSERT_TRUE(r);
    std::vector<std::byte> out;
    write_sender_report(std::get<SenderReport>((*r)[0]), out);
    write_sdes_cname(1, "ab", out);
    EXPECT_EQ(out, kSrSdes);
}

TEST(Rtcp, FeedbackMessagesRoundTrip) {
    std::vector<std::byte> out;
    // Lost 100, 101, 103 and 120 (over the 16 a BLP covers), 65535 and 0 (the wrap).
    const std::uint16_t lost[] = {103, 100, 101, 120, 101};
    write_nack(0x11, 0x22, lost, out);
    const std::uint16_t wrap[] = {65535, 0};
    write_nack(0x11, 0x23, wrap, out);
    write_pli(0x11, 0x22, out);
    const Fir::Entry fir[] = {{0x22, 7}};
    write_fir(0x11, fir, out);
    ReceiverReport rr{0x11, {ReportBlock{0x22, 5, 3, 1000, 9, 0, 0}}};
    write_receiver_report(rr, out);
    const std::uint32_t gone[] = {0x11};
    write_bye(gone, "done", out);
    auto r = parse_rtcp(out);
    ASSERT_TRUE(r) << r.status().message();
    ASSERT_EQ(r->size(), 6u);
    const auto& nack = std::get<Nack>((*r)[0]);
    EXPECT_EQ(nack.media_ssrc, 0x22u);
    EXPECT_EQ(nack.lost, (std::vector<std::uint16_t>{100, 101, 103, 120}));
    EXPECT_EQ(std::get<Nack>((*r)[1]).lost, (std::vector<std::uint16_t>{65535, 0}));
    EXPECT_EQ(std::get<Pli>((*r)[2]).media_ssrc, 0x22u);
    const auto& f = std::get<Fir>((*r)[3]);
    ASSERT_EQ(f.entries.size(), 1u);
    EXPECT_EQ(f.entries[0].ssrc, 0x22u);
    EXPECT_EQ(f.entries[0].sequence, 7);
    const auto& rr2 = std::get<ReceiverReport>((*r)[4]);
    ASSERT_EQ(rr2.blocks.size(), 1u);
    EXPECT_EQ(rr2.blocks[0].cumulative_lost, 3);
    EXPECT_EQ(std::get<Bye>((*r)[5]).reason, "done");
    // The NACK's wire form: PID 100 with BLP bits 0 (101) and 2 (103), then PID 120.
    const std::vector<std::byte> nack_wire(out.begin(), out.begin() + 20);
    EXPECT_EQ(nack_wire, bytes({0x81, 205, 0, 4, 0, 0, 0, 0x11, 0, 0, 0, 0x22, 0, 100, 0x00, 0x05, 0, 120, 0, 0}));
}

// RFC 5506: a reduced-size compound (a PLI alone) is read; an unknown type
// is kept whole; padding only in the last packet.
TEST(Rtcp, ReducedSizeUnknownTypesAndPadding) {
    std::vector<std::byte> pli;
    write_pli(1, 2, pli);
    auto r = parse_rtcp(pli);
    ASSERT_TRUE(r);
    EXPECT_TRUE(std::holds_alternative<Pli>((*r)[0]));
    const auto app = bytes({0x80, 204, 0, 2, 0, 0, 0, 1, 'n', 'a', 'm', 'e'});
    r = parse_rtcp(app);
    ASSERT_TRUE(r);
    const auto& other = std::get<OtherRtcp>((*r)[0]);
    EXPECT_EQ(other.type, 204);
    EXPECT_EQ(other.packet.size(), 12u);
    // A padded last packet (4 bytes of padding) is read without them.
    const auto padded = bytes({0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4});
    r = parse_rtcp(padded);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(std::get<ReceiverReport>((*r)[0]).ssrc, 9u);
}

TEST(Rtcp, MalformedCompoundsAreRefusedWithTheirError) {
    auto err = [](std::vector<std::byte> d) { return parse_rtcp(d).error(); };
    EXPECT_EQ(err(bytes({0x80, 201})), make_error_code(RtcpError::too_short));
    EXPECT_EQ(err(bytes({0x40, 201, 0, 1, 0, 0, 0, 1})), make_error_code(RtcpError::bad_version));
    EXPECT_EQ(err(bytes({0x80, 201, 0, 9, 0, 0, 0, 1})), make_error_code(RtcpError::bad_length));
    // An RR announcing a block it does not hold.
    EXPECT_EQ(err(bytes({0x81, 201, 0, 1, 0, 0, 0, 1})), make_error_code(RtcpError::bad_body));
    // Padding in a packet that is not the last.
    auto two = bytes({0xA0, 201, 0, 1, 0, 0, 0, 4, 0x80, 201, 0, 1, 0, 0, 0, 1});
    EXPECT_EQ(err(two), make_error_code(RtcpError::bad_padding));
    // A padding count of zero.
    EXPECT_EQ(err(bytes({0xA0, 201, 0, 1, 0, 0, 0, 0})), make_error_code(RtcpError::bad_padding));
    // An SDES chunk with an item running past the packet.
    EXPECT_EQ(err(bytes({0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 'a', 'b', 0, 0, 0, 0})), make_error_code(RtcpError::bad_body));
}

}  // namespace
