// Redis server URLs (proto/redis/url.hpp).
#include "proto/redis/url.hpp"

#include <gtest/gtest.h>

using namespace duplex::proto::redis;

namespace {

ServerUrl parse(std::string_view s) {
    ServerUrl u;
    std::string why;
    EXPECT_TRUE(parse_server_url(s, u, why)) << s << ": " << why;
    return u;
}

std::string refusal(std::string_view s) {
    ServerUrl u;
    std::string why;
    EXPECT_FALSE(parse_server_url(s, u, why)) << s;
    return why;
}

TEST(RedisUrl, HostPortDbAndDefaults) {
    auto u = parse("redis://127.0.0.1");
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.port, 6379);
    EXPECT_EQ(u.db, 0u);
    EXPECT_FALSE(u.tls);
    u = parse("redis://cache.internal:6380/3");
    EXPECT_EQ(u.host, "cache.internal");
    EXPECT_EQ(u.port, 6380);
    EXPECT_EQ(u.db, 3u);
    u = parse("rediss://[::1]:6390");
    EXPECT_TRUE(u.tls);
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 6390);
}

TEST(RedisUrl, CredentialsWithEscapes) {
    auto u = parse("redis://app:p%40ss%3Aword@10.0.0.5:7000");
    EXPECT_EQ(u.user, "app");
    EXPECT_EQ(u.password, "p@ss:word");
    u = parse("redis://:secret@h");
    EXPECT_EQ(u.user, "");
    EXPECT_EQ(u.password, "secret");
    u = parse("redis://secret@h");  // a password alone, as redis-cli reads it
    EXPECT_EQ(u.password, "secret");
    EXPECT_EQ(u.redacted(), "redis://:***@h:6379");
}

TEST(RedisUrl, UnixSockets) {
    auto u = parse("unix:///run/redis/redis.sock?db=2&password=x");
    EXPECT_EQ(u.unix_path, "/run/redis/redis.sock");
    EXPECT_EQ(u.db, 2u);
    EXPECT_EQ(u.password, "x");
    EXPECT_TRUE(u.host.empty());
}

TEST(RedisUrl, BadOnesSayWhy) {
    EXPECT_NE(refusal("http://h").find("redis://"), std::string::npos);
    EXPECT_NE(refusal("redis://").find("no host"), std::string::npos);
    EXPECT_NE(refusal("redis://h:0").find("bad port"), std::string::npos);
    EXPECT_NE(refusal("redis://h:70000").find("bad port"), std::string::npos);
    EXPECT_NE(refusal("redis://h:").find("empty port"), std::string::npos);
    EXPECT_NE(refusal("redis://h/x").find("bad db"), std::string::npos);
    EXPECT_NE(refusal("redis://[::1").find("bracket"), std::string::npos);
    EXPECT_NE(refusal("redis://u:%zz@h").find("percent"), std::string::npos);
    EXPECT_NE(refusal("redis://u:%4@h").find("percent"), std::string::npos);
    EXPECT_NE(refusal("redis://h h").find("space"), std::string::npos);
    EXPECT_NE(refusal("unix://relative.sock").find("absolute"), std::string::npos);
    EXPECT_NE(refusal("unix:///s?color=red").find("unknown"), std::string::npos);
}

}  // namespace
