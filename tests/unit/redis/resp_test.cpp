// RESP2 (proto/redis/resp.hpp): replies read whole from any split, commands
// written as arrays of bulk strings, and hostile replies refused by the limits.
#include "proto/redis/resp.hpp"

#include <gtest/gtest.h>

using namespace duplex;
using namespace duplex::proto::redis;

namespace {

std::vector<Value> read_all(Reader& r, std::string_view bytes) {
    r.feed(base::as_bytes(bytes));
    std::vector<Value> out;
    while (auto v = r.next()) out.push_back(std::move(*v));
    return out;
}

TEST(Resp, EveryReplyTypeIsRead) {
    Reader r;
    auto v = read_all(r, "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhe\r\nl\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n");
    ASSERT_EQ(v.size(), 9u);
    EXPECT_EQ(v[0].kind, Value::Kind::Simple);
    EXPECT_EQ(v[0].text, "OK");
    EXPECT_TRUE(v[1].is_error());
    EXPECT_EQ(v[1].text, "ERR wrong");
    EXPECT_EQ(v[2].integer, 42);
    EXPECT_EQ(v[3].integer, -7);
    EXPECT_EQ(v[4].kind, Value::Kind::Bulk);
    EXPECT_EQ(v[4].text, "he\r\nl");  // binary-safe: CRLF inside a bulk string
    EXPECT_EQ(v[5].text, "");
    EXPECT_EQ(v[6].kind, Value::Kind::Nil);
    EXPECT_EQ(v[7].kind, Value::Kind::Nil);
    EXPECT_EQ(v[8].kind, Value::Kind::Array);
    EXPECT_TRUE(v[8].elements.empty());
    EXPECT_TRUE(r.error().empty());
}

TEST(Resp, APubSubMessageSplitAtEveryByteIsReadOnceWhole) {
    const std::string msg = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$6\r\nextra!\r\n";
    Reader r;
    int got = 0;
    for (char c : msg) {
        r.feed(base::as_bytes(std::string_view(&c, 1)));
        while (auto v = r.next()) {
            ++got;
            ASSERT_TRUE(v->is_push("message"));
            ASSERT_EQ(v->elements.size(), 3u);
            EXPECT_EQ(v->elements[1].text, "news");
            EXPECT_EQ(v->elements[2].text, "extra!");
        }
    }
    EXPECT_EQ(got, 1);
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(Resp, NestedArrays) {
    Reader r;
    auto v = read_all(r, "*2\r\n*2\r\n:1\r\n+a\r\n$1\r\nb\r\n");
    ASSERT_EQ(v.size(), 1u);
    ASSERT_EQ(v[0].elements.size(), 2u);
    EXPECT_EQ(v[0].elements[0].elements[1].text, "a");
    EXPECT_EQ(v[0].elements[1].text, "b");
}

TEST(Resp, CommandsAreArraysOfBulkStrings) {
    std::string out;
    append_command(out, {"PUBLISH", "duplex:topic:a b", std::string_view("x\0y", 3)});
    EXPECT_EQ(out, std::string("*3\r\n$7\r\nPUBLISH\r\n$16\r\nduplex:topic:a b\r\n$3\r\nx\0y\r\n", 49));
}

TEST(Resp, GarbageIsAnErrorThatSaysWhat) {
    Reader r;
    auto v = read_all(r, "HTTP/1.1 400 Bad Request\r\n");
    EXPECT_TRUE(v.empty());
    EXPECT_NE(r.error().find("unknown reply type byte 0x48"), std::string::npos) << r.error();
    // Nothing more is read after an error.
    r.feed(base::as_bytes(std::string_view("+OK\r\n")));
    EXPECT_FALSE(r.next());
}

TEST(Resp, BadNumbersAndMissingTerminatorsAreErrors) {
    for (std::string_view bad : {":12x\r\n", "$abc\r\n", "$-2\r\n", "*-5\r\n", "$3\r\nabcXY", ":\r\n"}) {
        Reader r;
        auto v = read_all(r, bad);
        EXPECT_TRUE(v.empty()) << bad;
        EXPECT_FALSE(r.error().empty()) << bad;
    }
}

TEST(Resp, AHugeAnnouncedBulkStringIsRefusedBeforeAnyOfItArrives) {
    ReaderLimits l;
    l.max_bulk = 1024;
    Reader r(l);
    auto v = read_all(r, "$4294967296\r\n");
    EXPECT_TRUE(v.empty());
    EXPECT_NE(r.error().find("over the limit of 1024"), std::string::npos) << r.error();
}

TEST(Resp, AHugeAnnouncedArrayIsRefusedAndNothingIsReservedForIt) {
    ReaderLimits l;
    l.max_elements = 100;
    Reader r(l);
    EXPECT_TRUE(read_all(r, "*101\r\n").empty());
    EXPECT_NE(r.error().find("101 elements"), std::string::npos) << r.error();
    // Within the limit but announced ahead of its elements: read as they come.
    Reader r2(l);
    EXPECT_TRUE(read_all(r2, "*100\r\n:1\r\n").empty());
    EXPECT_TRUE(r2.error().empty());
}

TEST(Resp, DeepNestingIsRefused) {
    std::string nested;
    for (int i = 0; i < 20; ++i) nested += "*1\r\n";
    Reader r;
    EXPECT_TRUE(read_all(r, nested).empty());
    EXPECT_NE(r.error().find("nested deeper"), std::string::npos) << r.error();
}

TEST(Resp, ALineWithoutEndIsBounded) {
    ReaderLimits l;
    l.max_line = 64;
    Reader r(l);
    EXPECT_TRUE(read_all(r, "+" + std::string(100, 'a')).empty());
    EXPECT_NE(r.error().find("longer than 64"), std::string::npos) << r.error();
}

TEST(Resp, AnIncompleteReplyIsHeldOnlyUpToTheReplyLimit) {
    ReaderLimits l;
    l.max_reply = 1000;
    Reader r(l);
    // Many small elements of an array that never ends.
    std::string s = "*100000\r\n";
    for (int i = 0; i < 200; ++i) s += ":1234567\r\n";
    EXPECT_TRUE(read_all(r, s).empty());
    EXPECT_NE(r.error().find("a reply longer than 1000"), std::string::npos) << r.error();
    EXPECT_EQ(r.buffered(), 0u);  // given back
}

TEST(Resp, AReplyInPiecesIsParsedAsItComesNotAgainFromItsStart) {
    // A history of 20 000 entries arriving a few bytes at a time: the reader
    // keeps what it parsed as values and drops those bytes, so what waits
    // unparsed is never more than the piece that did not end yet. (Parsing
    // again from the reply's start on every read held every byte of it, and
    // cost time quadratic in its length.)
    const int n = 20000;
    std::string s = "*" + std::to_string(n) + "\r\n";
    for (int i = 0; i < n; ++i) {
        const std::string e = "entry " + std::to_string(i);
        s += "$" + std::to_string(e.size()) + "\r\n" + e + "\r\n";
    }
    Reader r;
    std::optional<Value> got;
    std::size_t most_buffered = 0;
    for (std::size_t at = 0; at < s.size(); at += 5) {
        r.feed(base::as_bytes(std::string_view(s).substr(at, 5)));
        while (auto v = r.next()) {
            ASSERT_FALSE(got);
            got = std::move(v);
        }
        most_buffered = std::max(most_buffered, r.buffered());
        if (!got) {
            EXPECT_EQ(r.held(), at + std::min<std::size_t>(5, s.size() - at));
        }
    }
    ASSERT_TRUE(got) << r.error();
    ASSERT_EQ(got->elements.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(got->elements[n - 1].text, "entry " + std::to_string(n - 1));
    EXPECT_LE(most_buffered, 32u);
    EXPECT_EQ(r.held(), 0u);
}

TEST(Resp, NestedArraysInPiecesCloseInTheRightPlaces) {
    const std::string s = "*3\r\n*2\r\n:1\r\n*0\r\n*1\r\n*1\r\n+deep\r\n$-1\r\n+after\r\n";
    for (std::size_t step = 1; step <= s.size(); ++step) {
        Reader r;
        std::vector<Value> v;
        for (std::size_t at = 0; at < s.size(); at += step) {
            r.feed(base::as_bytes(std::string_view(s).substr(at, step)));
            while (auto x = r.next()) v.push_back(std::move(*x));
        }
        ASSERT_EQ(v.size(), 2u) << step;
        ASSERT_EQ(v[0].elements.size(), 3u);
        ASSERT_EQ(v[0].elements[0].elements.size(), 2u);
        EXPECT_EQ(v[0].elements[0].elements[1].kind, Value::Kind::Array);
        EXPECT_TRUE(v[0].elements[0].elements[1].elements.empty());
        EXPECT_EQ(v[0].elements[1].elements[0].elements[0].text, "deep");
        EXPECT_EQ(v[0].elements[2].kind, Value::Kind::Nil);
        EXPECT_EQ(v[1].text, "after");
    }
}

TEST(Resp, TooManyValuesInOneReplyAreRefused) {
    ReaderLimits l;
    l.max_values = 9;
    Reader r(l);
    // Ten values: the outer array, two inner ones, seven integers.
    EXPECT_TRUE(read_all(r, "*3\r\n*3\r\n:1\r\n:2\r\n:3\r\n*3\r\n:4\r\n:5\r\n:6\r\n:7\r\n").empty());
    EXPECT_NE(r.error().find("more than 9 values"), std::string::npos) << r.error();
    // The count is per reply: eleven replies of one value each are fine.
    Reader r2(l);
    EXPECT_EQ(read_all(r2, ":1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n:1\r\n").size(), 11u);
}

}  // namespace
