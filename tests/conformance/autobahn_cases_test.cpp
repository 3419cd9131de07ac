// The Autobahn|Testsuite case families 1-7 and 10, ported as table-driven tests
// of our own: each case sends what the fuzzing client sends to an echo server
// and checks what the server writes back and how the connection ends. The
// server side is the sans-IO machine plus an echo, so every case runs in
// microseconds, deterministically, and also at every chop size the suite uses.
// (The real suite is run by hand against duplex-server; see docs/testing.md.)
#include "proto/ws/connection.hpp"

#include "support/ws_harness.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace duplex;
using namespace duplex::test;

namespace {

enum class End { Open, Clean, Fail };

struct Out {
    std::uint8_t opcode;
    std::string payload;  // for Close: only the code is compared
    std::uint16_t code = 0;
};

struct Case {
    std::string id;
    std::vector<std::vector<std::byte>> frames;  // what the client sends, in order
    std::vector<Out> expect_out;                 // what the server must write, in order
    End end;
    std::uint16_t code = 0;                      // Close code the server sends (Clean: the echo; Fail: the error)
};

std::vector<std::byte> c(std::uint8_t b0, std::string_view payload) { return frame(b0, payload, true); }
Out text(std::string p) { return {0x1, std::move(p)}; }
Out binary(std::string p) { return {0x2, std::move(p)}; }
Out pong(std::string p) { return {0xA, std::move(p)}; }
Out close_out(std::uint16_t code) { return {0x8, {}, code}; }

/// An echo server driven by the harness: every message goes back as it came.
struct EchoServer {
    Harness h{Role::Server};
    std::vector<WireFrame> written;

    void feed(const std::vector<std::byte>& bytes, std::size_t chop) {
        std::vector<std::byte> copy = bytes;
        base::MutableBytes rest(copy);
        while (!rest.empty()) {
            auto piece = rest.first(chop ? std::min(chop, rest.size()) : rest.size());
            rest = rest.subspan(piece.size());
            while (!piece.empty()) {
                const std::size_t n = h.conn.handle_bytes(piece, h.now);
                piece = piece.subspan(n);
                while (auto ev = h.conn.poll_event()) {
                    if (auto* m = std::get_if<proto::ws::MessageEvent>(&*ev)) (void)h.conn.send(m->data, m->binary);
                    if (auto* cl = std::get_if<proto::ws::ClosedEvent>(&*ev)) closed = *cl, closed_seen = true;
                }
                ASSERT_FALSE(n == 0 && !piece.empty() && h.conn.state() != proto::ws::State::Closed) << "stalled";
            }
        }
        auto frames = h.take_frames();
        written.insert(written.end(), frames.begin(), frames.end());
    }
    proto::ws::ClosedEvent closed{};
    bool closed_seen = false;
};

void run_case(const Case& k, std::size_t chop) {
    SCOPED_TRACE("case " + k.id + " chop " + std::to_string(chop));
    EchoServer s;
    std::vector<std::byte> all;
    for (const auto& f : k.frames) all.insert(all.end(), f.begin(), f.end());
    s.feed(all, chop);
    std::vector<Out> expected = k.expect_out;
    if (k.end != End::Open) expected.push_back(close_out(k.code));
    ASSERT_EQ(s.written.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(s.written[i].opcode, expected[i].opcode) << "frame " << i;
        EXPECT_FALSE(s.written[i].masked);
        EXPECT_TRUE(s.written[i].fin);
        if (expected[i].opcode == 0x8) {
            EXPECT_EQ(s.written[i].close_code(), expected[i].code);
            if (expected[i].code == 0) {
                EXPECT_TRUE(s.written[i].payload.empty());
            }
        } else {
            EXPECT_EQ(s.written[i].payload, expected[i].payload) << "frame " << i;
        }
    }
    switch (k.end) {
        case End::Open:
            EXPECT_EQ(s.h.conn.state(), proto::ws::State::Open);
            break;
        case End::Clean:
            ASSERT_TRUE(s.closed_seen);
            EXPECT_TRUE(s.closed.clean);
            EXPECT_TRUE(s.h.conn.should_close_transport());
            break;
        case End::Fail:
            ASSERT_TRUE(s.closed_seen);
            EXPECT_FALSE(s.closed.clean);
            EXPECT_EQ(s.closed.code, k.code);
            EXPECT_TRUE(s.h.conn.should_close_transport());
            break;
    }
}

std::vector<std::byte> close_frame(std::uint16_t code, std::string_view reason = {}) {
    return c(0x88, close_payload(code, reason));
}

std::vector<Case> framing_cases() {  // section 1
    std::vector<Case> out;
    int i = 1;
    for (std::size_t len : {0u, 125u, 126u, 127u, 128u, 65535u, 65536u, 65536u}) {
        const std::string p(len, '*');
        out.push_back({"1.1." + std::to_string(i), {c(0x81, p), close_frame(1000)}, {text(p)}, End::Clean, 1000});
        const std::string b(len, '\xfe');
        out.push_back({"1.2." + std::to_string(i), {c(0x82, b), close_frame(1000)}, {binary(b)}, End::Clean, 1000});
        ++i;
    }
    return out;
}

std::vector<Case> ping_cases() {  // section 2
    std::vector<Case> out;
    out.push_back({"2.1", {c(0x89, "")}, {pong("")}, End::Open});
    out.push_back({"2.2", {c(0x89, "Hello, world!")}, {pong("Hello, world!")}, End::Open});
    out.push_back({"2.3", {c(0x89, std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8))},
                   {pong(std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8))}, End::Open});
    out.push_back({"2.4", {c(0x89, std::string(125, '\xfe'))}, {pong(std::string(125, '\xfe'))}, End::Open});
    out.push_back({"2.5", {c(0x89, std::string(126, '\xfe'))}, {}, End::Fail, 1002});
    out.push_back({"2.7", {c(0x8A, "")}, {}, End::Open});
    out.push_back({"2.8", {c(0x8A, "unsolicited pong payload")}, {}, End::Open});
    out.push_back({"2.9", {c(0x8A, "unsolicited pong payload"), c(0x89, "ping payload")}, {pong("ping payload")}, End::Open});
    Case ten{"2.10", {}, {}, End::Open};
    for (int k = 0; k < 10; ++k) {
        ten.frames.push_back(c(0x89, "payload-" + std::to_string(k)));
        ten.expect_out.push_back(pong("payload-" + std::to_string(k)));
    }
    out.push_back(ten);
    return out;
}

std::vector<Case> reserved_bit_cases() {  // section 3
    return {
        {"3.1", {c(0xC1, "Hello, world!")}, {}, End::Fail, 1002},
        {"3.2", {c(0x81, "Hello, world!"), c(0xA1, "Hello, world!"), c(0x89, "")}, {text("Hello, world!")}, End::Fail, 1002},
        {"3.3", {c(0x81, "Hello, world!"), c(0xB1, "Hello, world!"), c(0x89, "")}, {text("Hello, world!")}, End::Fail, 1002},
        {"3.4", {c(0x81, "Hello, world!"), c(0xC1, "Hello, world!"), c(0x89, "")}, {text("Hello, world!")}, End::Fail, 1002},
        {"3.5", {c(0xD2, "\x00\xff\xfe")}, {}, End::Fail, 1002},
        {"3.6", {c(0xE9, "")}, {}, End::Fail, 1002},
        {"3.7", {c(0xF8, "")}, {}, End::Fail, 1002},
    };
}

std::vector<Case> opcode_cases() {  // section 4
    std::vector<Case> out;
    int i = 1;
    for (int op : {3, 4, 5, 6, 7}) {
        out.push_back({"4.1." + std::to_string(i++), {c(0x81, "Hello"), c(static_cast<std::uint8_t>(0x80 | op), "x"), c(0x89, "")},
                       {text("Hello")}, End::Fail, 1002});
    }
    i = 1;
    for (int op : {11, 12, 13, 14, 15}) {
        out.push_back({"4.2." + std::to_string(i++), {c(0x81, "Hello"), c(static_cast<std::uint8_t>(0x80 | op), "x"), c(0x89, "")},
                       {text("Hello")}, End::Fail, 1002});
    }
    return out;
}

std::vector<Case> fragmentation_cases() {  // section 5
    return {
        {"5.1", {c(0x09, "frag1"), c(0x80, "frag2")}, {}, End::Fail, 1002},
        {"5.2", {c(0x0A, "frag1"), c(0x80, "frag2")}, {}, End::Fail, 1002},
        {"5.3", {c(0x01, "frag1"), c(0x80, "frag2")}, {text("frag1frag2")}, End::Open},
        {"5.6", {c(0x01, "frag1"), c(0x89, "ping"), c(0x80, "frag2")}, {pong("ping"), text("frag1frag2")}, End::Open},
        {"5.9", {c(0x80, "non-continuation payload"), c(0x81, "Hello, world!")}, {}, End::Fail, 1002},
        {"5.12", {c(0x00, "non-continuation payload"), c(0x81, "Hello, world!")}, {}, End::Fail, 1002},
        {"5.15", {c(0x01, "fragment1"), c(0x80, "fragment2"), c(0x00, "fragment3"), c(0x81, "fragment4")},
         {text("fragment1fragment2")}, End::Fail, 1002},
        {"5.16", {c(0x00, "fragment1"), c(0x01, "fragment2"), c(0x80, "fragment3")}, {}, End::Fail, 1002},
        {"5.17", {c(0x80, "fragment1"), c(0x01, "fragment2"), c(0x80, "fragment3")}, {}, End::Fail, 1002},
        {"5.18", {c(0x01, "fragment1"), c(0x81, "fragment2")}, {}, End::Fail, 1002},
        {"5.19", {c(0x01, "fragment1"), c(0x00, "fragment2"), c(0x89, "pongme 1!"), c(0x00, "fragment3"),
                  c(0x00, "fragment4"), c(0x89, "pongme 2!"), c(0x80, "fragment5")},
         {pong("pongme 1!"), pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")}, End::Open},
    };
}

// Section 6: the UTF-8 decoder stress cases (Markus Kuhn's sequences), each as
// one text message; valid ones are echoed, invalid ones fail with 1007.
std::vector<Case> utf8_cases() {
    const std::vector<std::string> valid = {
        "", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
        std::string("\x00", 1), "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80", "\x7f", "\xdf\xbf", "\xef\xbf\xbf",
        "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf",
        "\xf0\x9f\xbf\xbe", "\xf4\x8f\xbf\xbe",
    };
    const std::vector<std::string> invalid = {
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
        "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xf4\x90\x80\x80", "\x80", "\xbf", "\x80\xbf",
        "\xc0\x20", "\xe0\x80\x20", "\xf0\x80\x80\x20", "\xc0", "\xe0\x80", "\xf0\x80\x80", "\xdf", "\xef\xbf",
        "\xf7\xbf\xbf", "\xfe", "\xff", "\xfe\xfe\xff\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
        "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xc0\x80", "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xad\xbf",
        "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80",
        "\xed\xaf\xbf\xed\xbf\xbf", "\xce\xba\xe1\xbd",
    };
    std::vector<Case> out;
    int i = 1;
    for (const auto& v : valid) {
        out.push_back({"6.valid." + std::to_string(i), {c(0x81, v)}, {text(v)}, End::Open});
        // The same text in fragments of one byte each (Autobahn's 6.x.2 variants).
        Case frag{"6.valid.frag." + std::to_string(i++), {}, {text(v)}, End::Open};
        if (v.empty()) continue;
        for (std::size_t k = 0; k < v.size(); ++k)
            frag.frames.push_back(c(static_cast<std::uint8_t>((k == 0 ? 0x01 : 0x00) | (k + 1 == v.size() ? 0x80 : 0)),
                                    v.substr(k, 1)));
        out.push_back(frag);
    }
    i = 1;
    for (const auto& v : invalid) {
        out.push_back({"6.invalid." + std::to_string(i), {c(0x81, v)}, {}, End::Fail, 1007});
        Case frag{"6.invalid.frag." + std::to_string(i++), {}, {}, End::Fail, 1007};
        for (std::size_t k = 0; k < v.size(); ++k)
            frag.frames.push_back(c(static_cast<std::uint8_t>((k == 0 ? 0x01 : 0x00) | (k + 1 == v.size() ? 0x80 : 0)),
                                    v.substr(k, 1)));
        out.push_back(frag);
    }
    return out;
}

std::vector<Case> close_cases() {  // section 7
    std::vector<Case> out = {
        {"7.1.1", {c(0x81, "Hello World!"), close_frame(1000)}, {text("Hello World!")}, End::Clean, 1000},
        {"7.1.2", {close_frame(1000), close_frame(1000)}, {}, End::Clean, 1000},
        {"7.1.3", {close_frame(1000), c(0x89, "")}, {}, End::Clean, 1000},
        {"7.1.4", {close_frame(1000), c(0x81, "text")}, {}, End::Clean, 1000},
        {"7.1.5", {c(0x01, "fragment1"), close_frame(1000), c(0x80, "fragment2")}, {}, End::Clean, 1000},
        {"7.1.6", {c(0x81, std::string(256 * 1024, 'B')), c(0x89, ""), close_frame(1000)},
         {text(std::string(256 * 1024, 'B')), pong("")}, End::Clean, 1000},
        {"7.3.2", {c(0x88, "\x03")}, {}, End::Fail, 1002},
        {"7.3.3", {close_frame(1000)}, {}, End::Clean, 1000},
        {"7.3.4", {close_frame(1000, "Hello World!")}, {}, End::Clean, 1000},
        {"7.3.5", {close_frame(1000, std::string(123, '*'))}, {}, End::Clean, 1000},
        {"7.3.6", {close_frame(1000, std::string(124, '*'))}, {}, End::Fail, 1002},
        {"7.5.1", {close_frame(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")},
         {}, End::Fail, 1007},
    };
    // 7.3.1: an empty Close is answered by an empty Close (code 0 here: none).
    out.push_back({"7.3.1", {c(0x88, "")}, {}, End::Clean, 0});
    int i = 1;
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999})
        out.push_back({"7.7." + std::to_string(i++), {close_frame(static_cast<std::uint16_t>(code))}, {}, End::Clean, static_cast<std::uint16_t>(code)});
    i = 1;
    for (int code : {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999})
        out.push_back({"7.9." + std::to_string(i++), {close_frame(static_cast<std::uint16_t>(code))}, {}, End::Fail, 1002});
    out.push_back({"7.13.1", {close_frame(5000)}, {}, End::Fail, 1002});
    out.push_back({"7.13.2", {close_frame(65535)}, {}, End::Fail, 1002});
    return out;
}

std::vector<Case> misc_cases() {  // section 10: auto-fragmentation of a large message
    const std::string p(65536, '*');
    return {{"10.1.1", {c(0x81, p)}, {text(p)}, End::Open}};
}

class AutobahnCase : public ::testing::TestWithParam<Case> {};

TEST_P(AutobahnCase, WholeAndChopped) {
    const Case& k = GetParam();
    // Whole, then in the chop sizes the suite uses (1 byte, 997, 1300).
    for (std::size_t chop : {std::size_t{0}, std::size_t{1}, std::size_t{997}, std::size_t{1300}}) {
        if (chop == 1 && k.frames.size() == 1 && k.frames[0].size() > 70000) continue;  // covered by 997
        run_case(k, chop);
    }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    std::string s = "c" + info.param.id;
    for (auto& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(S1Framing, AutobahnCase, ::testing::ValuesIn(framing_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S2Pings, AutobahnCase, ::testing::ValuesIn(ping_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S3ReservedBits, AutobahnCase, ::testing::ValuesIn(reserved_bit_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S4Opcodes, AutobahnCase, ::testing::ValuesIn(opcode_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S5Fragmentation, AutobahnCase, ::testing::ValuesIn(fragmentation_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S6Utf8, AutobahnCase, ::testing::ValuesIn(utf8_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S7Close, AutobahnCase, ::testing::ValuesIn(close_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(S10Misc, AutobahnCase, ::testing::ValuesIn(misc_cases()), case_name);

}  // namespace
