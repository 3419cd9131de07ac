#include "base/base64.hpp"
#include "base/bytes.hpp"

#include <gtest/gtest.h>

using namespace duplex::base;

// RFC 4648 §10 test vectors.
TEST(Base64, Rfc4648Vectors) {
    const std::pair<const char*, const char*> cases[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : cases) {
        EXPECT_EQ(base64_encode(as_bytes(plain)), encoded);
        auto back = base64_decode(encoded);
        ASSERT_TRUE(back) << encoded;
        EXPECT_EQ(as_string_view(*back), plain);
    }
}

TEST(Base64, RejectsMalformed) {
    for (const char* bad : {"Zg=", "Zg", "Z===", "Zm9v!", "=Zm9", "Zh==", "Zm9=Zm9v", "Zm 9"}) {
        EXPECT_FALSE(base64_decode(bad)) << bad;
    }
}
