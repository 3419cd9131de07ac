#include "proto/ws/close_code.hpp"

#include <gtest/gtest.h>

using namespace duplex::proto::ws;

// RFC 6455 §7.4.1/§7.4.2 and the IANA registry: which codes may be on the wire.
TEST(CloseCode, WireValidityTable) {
    for (int c = 0; c < 6000; ++c) {
        const bool expected = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        EXPECT_EQ(is_valid_wire_code(static_cast<std::uint16_t>(c)), expected) << c;
    }
    EXPECT_FALSE(is_valid_wire_code(1004));
    EXPECT_FALSE(is_valid_wire_code(1005));
    EXPECT_FALSE(is_valid_wire_code(1006));
    EXPECT_FALSE(is_valid_wire_code(1015));
}
