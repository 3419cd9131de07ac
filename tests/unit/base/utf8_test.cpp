#include "base/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace duplex::base;

namespace {
std::span<const std::byte> b(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }
}  // namespace

TEST(Utf8, AcceptsValid) {
    for (const std::string& s : {std::string(""), std::string("hello"), std::string("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
                                std::string("\xf4\x8f\xbf\xbf"), std::string("\xed\x9f\xbf"), std::string("\xee\x80\x80"),
                                std::string(1000, 'a') + "\xc2\x80"}) {
        EXPECT_TRUE(is_valid_utf8(b(s))) << s;
    }
}

TEST(Utf8, RejectsInvalid) {
    for (const std::string& s : {std::string("\x80"), std::string("\xc0\xaf"), std::string("\xc1\xbf"),
                                std::string("\xe0\x80\xaf"), std::string("\xed\xa0\x80"),  // surrogate
                                std::string("\xf4\x90\x80\x80"),                           // > U+10FFFF
                                std::string("\xf5\x80\x80\x80"), std::string("\xff"),
                                std::string("\xce\xba\xe1\xbd"), std::string("abc\xcf")}) {
        EXPECT_FALSE(is_valid_utf8(b(s))) << s.size();
    }
}

TEST(Utf8, IncrementalAcrossEverySplit) {
    const std::string s = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80 ok";
    for (std::size_t cut = 0; cut <= s.size(); ++cut) {
        Utf8Validator v;
        EXPECT_TRUE(v.feed(b(s.substr(0, cut))));
        EXPECT_TRUE(v.feed(b(s.substr(cut))));
        EXPECT_TRUE(v.complete()) << cut;
    }
}

TEST(Utf8, FailsFastInsideASequence) {
    // Autobahn 6.4.x: the invalid byte is known at once, before the message ends.
    Utf8Validator v;
    EXPECT_TRUE(v.feed(b("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")));
    EXPECT_FALSE(v.feed(b("\xf4\x90")));  // F4 90: above U+10FFFF, certain after 2 bytes
    EXPECT_TRUE(v.failed());
    EXPECT_FALSE(v.feed(b("a")));  // sticky
    Utf8Validator w;
    EXPECT_TRUE(w.feed(b("\xe0")));
    EXPECT_FALSE(w.complete());
    EXPECT_FALSE(w.feed(b("\x80")));  // overlong E0 80
}

TEST(Utf8, WholeBufferCheckAgreesWithTheByteValidatorAtEveryPositionAndLength) {
    // is_valid_utf8 tests eight ASCII bytes at a time and the tail as one
    // overlapping word: put a valid and an invalid sequence at every position
    // of every length up to 40 and compare with the byte-wise validator.
    const std::string inserts[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xc3", "\xed\xa0\x80",
                                   "\xff"};
    for (std::size_t len = 0; len <= 40; ++len) {
        for (const auto& ins : inserts) {
            for (std::size_t at = 0; at <= len; ++at) {
                std::string s(len, 'a');
                s.insert(at, ins);
                Utf8Validator v;
                const bool expected = v.feed(b(s)) && v.complete();
                EXPECT_EQ(is_valid_utf8(b(s)), expected) << "len " << len << " at " << at;
            }
        }
        EXPECT_TRUE(is_valid_utf8(b(std::string(len, 'z'))));
    }
}
