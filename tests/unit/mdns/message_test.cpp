// mDNS messages (RFC 6762 over the RFC 1035 §4 format): the query we send,
// and the addresses we accept from hand-built responses, compressed or not,
// with the malformed ones (truncated, looping pointers) refused as a whole.
#include "proto/mdns/message.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

using namespace duplex;
using namespace duplex::proto::mdns;

namespace {

/// A response written byte by byte, as a responder would send it.
class Builder {
public:
    Builder& u8(unsigned v) {
        b_.push_back(std::byte(v & 0xff));
        return *this;
    }
    Builder& u16(unsigned v) { return u8(v >> 8).u8(v); }
    Builder& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
    /// Header: id, flags, and the four counts (RFC 1035 §4.1.1).
    Builder& header(unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
        return u16(0).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    }
    /// Labels, uncompressed, ended by the zero byte unless `pointer_to` is set.
    Builder& name(std::initializer_list<std::string_view> labels, int pointer_to = -1) {
        for (auto l : labels) {
            u8(static_cast<unsigned>(l.size()));
            for (char c : l) u8(static_cast<unsigned char>(c));
        }
        if (pointer_to >= 0) return u16(0xC000u | static_cast<unsigned>(pointer_to));
        return u8(0);
    }
    Builder& pointer(unsigned offset) { return u16(0xC000u | offset); }
    Builder& a_tail(std::initializer_list<unsigned> ip, unsigned klass = 0x8001, std::uint32_t ttl = 120) {
        u16(kTypeA).u16(klass).u32(ttl).u16(static_cast<unsigned>(ip.size()));
        for (auto x : ip) u8(x);
        return *this;
    }
    Builder& aaaa_tail(std::initializer_list<unsigned> ip, unsigned klass = 0x8001) {
        u16(kTypeAaaa).u16(klass).u32(120).u16(static_cast<unsigned>(ip.size()));
        for (auto x : ip) u8(x);
        return *this;
    }
    std::size_t size() const { return b_.size(); }
    const std::vector<std::byte>& bytes() const { return b_; }

private:
    std::vector<std::byte> b_;
};

constexpr unsigned kResponse = 0x8400;  // QR=1, AA=1 (RFC 6762 §18.2, §18.4)

std::vector<std::string> parsed(const Builder& b, std::string_view name) {
    std::vector<std::string> out;
    for (const auto& ip : parse_answers(b.bytes(), name)) out.push_back(ip.to_string());
    return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST(MdnsQuery, AsksAAndAaaaWithTheQuBit) {
    auto q = make_query("Duplex-Test.local", 0x1234);
    Builder want;
    want.u16(0x1234).u16(0).u16(2).u16(0).u16(0).u16(0);
    want.name({"Duplex-Test", "local"}).u16(kTypeA).u16(0x8001);
    want.pointer(12).u16(kTypeAaaa).u16(0x8001);
    EXPECT_EQ(q, want.bytes());
    // A trailing dot names the same (fully qualified) name.
    EXPECT_EQ(make_query("Duplex-Test.local.", 0x1234), q);
}

TEST(MdnsQuery, RefusesInvalidNames) {
    EXPECT_TRUE(make_query("").empty());
    EXPECT_TRUE(make_query(".").empty());
    EXPECT_TRUE(make_query("a..local").empty());
    EXPECT_TRUE(make_query(std::string(64, 'x') + ".local").empty());
    EXPECT_FALSE(make_query(std::string(63, 'x') + ".local").empty());
    std::string long_name;
    for (int i = 0; i < 50; ++i) long_name += "abcd.";
    long_name += "local";  // 50 * 5 + 7 = 257 bytes in wire form: over 255
    EXPECT_TRUE(make_query(long_name).empty());
}

TEST(MdnsQuery, IsNotAnAnswerToItself) {
    // A querier hears its own multicast query (IP_MULTICAST_LOOP): QR=0, no answers.
    auto q = make_query("host.local");
    EXPECT_TRUE(parse_answers(q, "host.local").empty());
}

TEST(MdnsAnswers, UncompressedARecord) {
    Builder b;
    b.header(kResponse, 0, 1, 0, 0).name({"duplex-test-host", "local"}).a_tail({127, 0, 0, 1});
    EXPECT_EQ(parsed(b, "duplex-test-host.local"), Strings{"127.0.0.1"});
    EXPECT_EQ(parsed(b, "duplex-test-host.local."), Strings{"127.0.0.1"});
    // RFC 1035 §2.3.3: case does not matter.
    EXPECT_EQ(parsed(b, "DUPLEX-Test-Host.LOCAL"), Strings{"127.0.0.1"});
}

TEST(MdnsAnswers, CompressedNamesAndAaaaInTheAdditionalSection) {
    // A legacy-unicast-style response (RFC 6762 §6.7): the question repeated,
    // then the answer pointing at it, and an AAAA record in the additional
    // section whose name is "h" + a pointer to the question's ".local".
    Builder b;
    b.header(kResponse, 1, 1, 0, 1);
    const unsigned question = static_cast<unsigned>(b.size());  // 12
    b.name({"h", "local"}).u16(kTypeA).u16(1);
    b.pointer(question).a_tail({192, 168, 1, 20});
    b.name({"h"}, static_cast<int>(question + 2)).aaaa_tail({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
    EXPECT_EQ(parsed(b, "h.local"), (Strings{"192.168.1.20", "fd00::7"}));
}

TEST(MdnsAnswers, OtherNamesTypesAndClassesAreIgnored) {
    Builder b;
    b.header(kResponse, 0, 4, 0, 0);
    b.name({"other", "local"}).a_tail({10, 0, 0, 1});
    b.name({"host", "local"}).a_tail({10, 0, 0, 2}, 3);  // class CH, not IN
    // A PTR record (type 12) for the same name: not an address.
    b.name({"host", "local"}).u16(12).u16(1).u32(120).u16(2).pointer(12);
    b.name({"host", "local"}).a_tail({10, 0, 0, 3}, 1);  // IN without the cache-flush bit
    EXPECT_EQ(parsed(b, "host.local"), Strings{"10.0.0.3"});
    EXPECT_EQ(parsed(b, "other.local"), Strings{"10.0.0.1"});
    EXPECT_TRUE(parsed(b, "host.local.example").empty());
    EXPECT_TRUE(parsed(b, "local").empty());
}

TEST(MdnsAnswers, AuthorityRecordsGoodbyesAndDuplicatesAreNotAnswers) {
    Builder b;
    b.header(kResponse, 0, 3, 1, 0);
    b.name({"host", "local"}).a_tail({10, 0, 0, 1});
    b.name({"host", "local"}).a_tail({10, 0, 0, 1});      // a duplicate: reported once
    b.name({"host", "local"}).a_tail({10, 0, 0, 9}, 0x8001, 0);  // TTL 0: a goodbye (RFC 6762 §10.1)
    b.name({"host", "local"}).a_tail({10, 0, 0, 2});      // authority: a prober's proposal (§8.2)
    EXPECT_EQ(parsed(b, "host.local"), Strings{"10.0.0.1"});
}

TEST(MdnsAnswers, QueriesAndErrorsAreNotResponses) {
    Builder query, opcode, rcode;
    query.header(0x0000, 0, 1, 0, 0).name({"host", "local"}).a_tail({10, 0, 0, 1});
    opcode.header(0x8000 | (1u << 11), 0, 1, 0, 0).name({"host", "local"}).a_tail({10, 0, 0, 1});
    rcode.header(0x8003, 0, 1, 0, 0).name({"host", "local"}).a_tail({10, 0, 0, 1});
    EXPECT_TRUE(parsed(query, "host.local").empty());   // RFC 6762 §18.2
    EXPECT_TRUE(parsed(opcode, "host.local").empty());  // §18.3
    EXPECT_TRUE(parsed(rcode, "host.local").empty());   // §18.11
}

TEST(MdnsAnswers, TruncatedAnywhereIsMalformed) {
    Builder b;
    b.header(kResponse, 1, 1, 0, 0).name({"host", "local"}).u16(kTypeA).u16(1);
    b.pointer(12).a_tail({10, 0, 0, 1});
    ASSERT_EQ(parsed(b, "host.local"), Strings{"10.0.0.1"});
    const auto& all = b.bytes();
    for (std::size_t n = 0; n < all.size(); ++n)
        EXPECT_TRUE(parse_answers(base::Bytes(all.data(), n), "host.local").empty()) << "prefix of " << n << " bytes";
}

TEST(MdnsAnswers, BadRecordLengthsAndLabelTypesAreMalformed) {
    Builder short_a, long_rdlength, extended_label;
    short_a.header(kResponse, 0, 1, 0, 0).name({"host", "local"}).a_tail({10, 0, 0});
    EXPECT_TRUE(parsed(short_a, "host.local").empty());
    // RDLENGTH says 200 bytes; the message ends after 4.
    long_rdlength.header(kResponse, 0, 1, 0, 0).name({"host", "local"}).u16(kTypeA).u16(1).u32(120).u16(200);
    long_rdlength.u8(10).u8(0).u8(0).u8(1);
    EXPECT_TRUE(parsed(long_rdlength, "host.local").empty());
    // A 0x40 label prefix (RFC 6891 §5 extended label): not a plain label.
    extended_label.header(kResponse, 0, 1, 0, 0).u8(0x41).u8('x').name({"local"}).a_tail({10, 0, 0, 1});
    EXPECT_TRUE(parsed(extended_label, "x.local").empty());
}

TEST(MdnsAnswers, PointerLoopsAreRejected) {
    // A name that is a pointer to itself.
    Builder self;
    self.header(kResponse, 0, 1, 0, 0).pointer(12).a_tail({10, 0, 0, 1});
    EXPECT_TRUE(parsed(self, "host.local").empty());
    // Two names pointing at each other, behind a label each.
    Builder pair;
    pair.header(kResponse, 0, 2, 0, 0);
    pair.name({"a"}, 30).a_tail({10, 0, 0, 1});  // "a" then -> offset 30
    ASSERT_EQ(pair.size(), 30u);
    pair.name({"b"}, 12).a_tail({10, 0, 0, 2});  // "b" then -> offset 12
    EXPECT_TRUE(parsed(pair, "a.b.local").empty());
    // A pointer past the end of the message.
    Builder beyond;
    beyond.header(kResponse, 0, 1, 0, 0).pointer(0x3fff).a_tail({10, 0, 0, 1});
    EXPECT_TRUE(parsed(beyond, "host.local").empty());
}

TEST(MdnsAnswers, ALongChainOfPointersIsCutOff) {
    // Each name is one label and a pointer to the previous name: a legal
    // message whose last name needs 20 pointers, more than we follow.
    Builder b;
    b.header(kResponse, 0, 21, 0, 0);
    std::vector<unsigned> at;
    at.push_back(static_cast<unsigned>(b.size()));
    b.name({"local"}).a_tail({10, 0, 0, 1});
    for (int i = 0; i < 20; ++i) {
        at.push_back(static_cast<unsigned>(b.size()));
        b.name({"x"}, static_cast<int>(at[at.size() - 2])).a_tail({10, 0, 0, 2});
    }
    EXPECT_TRUE(parsed(b, "local").empty());
}
