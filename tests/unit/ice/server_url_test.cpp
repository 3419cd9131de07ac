// ICE server URLs (RFC 7064 §3.1, RFC 7065 §3.1): what each form gives, and
// the reason each bad one is refused.
#include "proto/ice/server_url.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using duplex::proto::ice::parse_server_url;
using duplex::proto::ice::ServerUrl;

TEST(ServerUrl, EveryFormWithItsDefaults) {
    struct Case {
        const char* url;
        ServerUrl::Scheme scheme;
        const char* host;
        bool name;
        std::uint16_t port;
        ServerUrl::Transport transport;
        const char* canonical;
    };
    using S = ServerUrl::Scheme;
    using T = ServerUrl::Transport;
    const std::vector<Case> cases = {
        {"stun:stun.example.org", S::Stun, "stun.example.org", true, 3478, T::Udp, "stun:stun.example.org:3478"},
        {"stun:192.0.2.1:19302", S::Stun, "192.0.2.1", false, 19302, T::Udp, "stun:192.0.2.1:19302"},
        {"stun:[2001:db8::1]", S::Stun, "2001:db8::1", false, 3478, T::Udp, "stun:[2001:db8::1]:3478"},
        {"STUN:[::1]:5000", S::Stun, "::1", false, 5000, T::Udp, "stun:[::1]:5000"},
        {"stuns:stun.example.org", S::Stuns, "stun.example.org", true, 5349, T::Udp, "stuns:stun.example.org:5349"},
        {"turn:turn.example.org", S::Turn, "turn.example.org", true, 3478, T::Udp, "turn:turn.example.org:3478?transport=udp"},
        {"turn:192.0.2.7:3479?transport=tcp", S::Turn, "192.0.2.7", false, 3479, T::Tcp, "turn:192.0.2.7:3479?transport=tcp"},
        {"turns:turn.example.org", S::Turns, "turn.example.org", true, 5349, T::Tcp, "turns:turn.example.org:5349?transport=tcp"},
        {"turns:turn.example.org:443?transport=tcp", S::Turns, "turn.example.org", true, 443, T::Tcp, "turns:turn.example.org:443?transport=tcp"},
        {"turn:localhost?transport=udp", S::Turn, "localhost", true, 3478, T::Udp, "turn:localhost:3478?transport=udp"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.url);
        auto r = parse_server_url(c.url);
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r->scheme, c.scheme);
        EXPECT_EQ(r->host, c.host);
        EXPECT_EQ(r->host_is_name, c.name);
        EXPECT_EQ(r->port, c.port);
        EXPECT_EQ(r->transport, c.transport);
        EXPECT_EQ(r->to_string(), c.canonical);
        // The canonical form reads back the same.
        auto again = parse_server_url(r->to_string());
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(again->to_string(), c.canonical);
    }
}

TEST(ServerUrl, BadOnesSayWhy) {
    const std::vector<std::pair<const char*, const char*>> cases = {
        {"stun.example.org", "no scheme"},
        {"http://stun.example.org", "the scheme is not"},
        {"stun://stun.example.org", "no '//'"},
        {"stun:", "no host"},
        {"stun::3478", "no host"},
        {"stun:host:0", "port is not a number from 1 to 65535"},
        {"stun:host:65536", "port is not a number"},
        {"stun:host:12ab", "port is not a number"},
        {"stun:host:", "port is not a number"},
        {"stun:2001:db8::1", "must be in brackets"},
        {"stun:[2001:db8::1", "without its ']'"},
        {"stun:[192.0.2.1]", "not an IPv6 address in the brackets"},
        {"stun:[::1]x", "not :port"},
        {"stun:host name", "neither an address nor a name"},
        {"stun:host?transport=udp", "takes no query"},
        {"turn:host?transport=sctp", "the only query is"},
        {"turn:host?foo=bar", "the only query is"},
        {"turns:host?transport=udp", "over TLS"},
    };
    for (const auto& [url, why] : cases) {
        SCOPED_TRACE(url);
        auto r = parse_server_url(url);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
        EXPECT_NE(r.status().message().find(url), std::string::npos) << "the message names the URL";
    }
}
