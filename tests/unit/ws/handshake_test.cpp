#include "proto/ws/handshake.hpp"

#include "proto/http/head_parser.hpp"

#include <gtest/gtest.h>

using namespace duplex::proto;
using duplex::base::as_bytes;

namespace {
http::Request request(const std::string& head) {
    http::HeadParser p(http::HeadKind::Request);
    p.feed(as_bytes(head));
    EXPECT_EQ(p.state(), http::HeadState::Complete) << head;
    return p.request();
}
std::string good(const std::string& extra = "", const std::string& version = "13",
                 const std::string& key = "dGhlIHNhbXBsZSBub25jZQ==") {
    return "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: " + version +
           "\r\n" + extra + "\r\n";
}
int status_of(const std::string& head) {
    auto r = ws::check_upgrade_request(request(head));
    if (auto* rej = std::get_if<ws::Rejection>(&r)) return rej->status;
    return 101;
}
}  // namespace

TEST(Handshake, Rfc6455AcceptKeyExample) {
    // §1.3: the sample nonce and its accept value.
    EXPECT_EQ(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Handshake, AcceptsAValidRequest) {
    auto r = ws::check_upgrade_request(request(good("Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n")));
    auto* up = std::get_if<ws::UpgradeRequest>(&r);
    ASSERT_TRUE(up);
    EXPECT_EQ(up->key, "dGhlIHNhbXBsZSBub25jZQ==");
    EXPECT_EQ(up->origin, "http://example.com");
    ASSERT_EQ(up->protocols.size(), 2u);
    EXPECT_EQ(up->protocols[1], "superchat");
    const auto res = ws::write_accept_response(up->key, "chat", "");
    EXPECT_NE(res.find("HTTP/1.1 101 Switching Protocols\r\n"), std::string::npos);
    EXPECT_NE(res.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
    EXPECT_NE(res.find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos);
}

TEST(Handshake, RefusesWhatSection421Forbids) {
    EXPECT_EQ(status_of(good("", "8")), 426);   // §4.4: version 13 only
    auto r = ws::check_upgrade_request(request(good("", "8")));
    const auto& rej = std::get<ws::Rejection>(r);
    ASSERT_FALSE(rej.headers.empty());
    EXPECT_EQ(rej.headers[0].first, "Sec-WebSocket-Version");
    EXPECT_EQ(rej.headers[0].second, "13");
    EXPECT_EQ(status_of(good("", "13", "c2hvcnQ=")), 400);            // key not 16 bytes
    EXPECT_EQ(status_of(good("", "13", "not base64!!")), 400);
    EXPECT_EQ(status_of("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);  // no Host
    EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);  // no Connection
    EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 405);
    EXPECT_EQ(status_of(good("Sec-WebSocket-Protocol: a, a\r\n")), 400);  // repeated protocol
    EXPECT_EQ(status_of(good("Sec-WebSocket-Protocol: a b\r\n")), 400);   // not a token
}

TEST(Handshake, HeaderNamesAndTokensAreCaseInsensitive) {
    EXPECT_EQ(status_of("GET / HTTP/1.1\r\nhost: a\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
                        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"),
              101);
}

TEST(Handshake, ParsesExtensionOffers) {
    auto offers = ws::parse_extensions(
        "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"");
    ASSERT_TRUE(offers);
    ASSERT_EQ(offers->size(), 2u);
    EXPECT_EQ((*offers)[0].name, "permessage-deflate");
    EXPECT_EQ((*offers)[0].params[0].first, "client_max_window_bits");
    EXPECT_FALSE((*offers)[0].params[0].second);
    EXPECT_EQ((*offers)[1].params[0].second, "10");
    EXPECT_FALSE(ws::parse_extensions("permessage-deflate; a=\"b c\""));
    EXPECT_FALSE(ws::parse_extensions("; x"));
}

TEST(Handshake, ClientChecksTheServersAnswer) {
    ws::ClientRequest req;
    req.host = "server.example.com";
    req.target = "/chat";
    req.key = "dGhlIHNhbXBsZSBub25jZQ==";
    req.protocols = {"chat"};
    const auto head = ws::write_upgrade_request(req);
    EXPECT_NE(head.find("GET /chat HTTP/1.1\r\n"), std::string::npos);
    EXPECT_NE(head.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
    EXPECT_NE(head.find("Sec-WebSocket-Protocol: chat\r\n"), std::string::npos);

    auto response = [](const std::string& s) {
        http::HeadParser p(http::HeadKind::Response);
        p.feed(as_bytes(s));
        return p.response();
    };
    const std::string ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    auto r = ws::check_upgrade_response(response(ok + "Sec-WebSocket-Protocol: chat\r\n\r\n"), req);
    ASSERT_TRUE(std::holds_alternative<ws::ClientAccept>(r));
    EXPECT_EQ(std::get<ws::ClientAccept>(r).protocol, "chat");

    EXPECT_TRUE(std::holds_alternative<ws::ClientRefusal>(
        ws::check_upgrade_response(response(ok + "Sec-WebSocket-Protocol: other\r\n\r\n"), req)));
    EXPECT_TRUE(std::holds_alternative<ws::ClientRefusal>(
        ws::check_upgrade_response(response(ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), req)));
    EXPECT_TRUE(std::holds_alternative<ws::ClientRefusal>(ws::check_upgrade_response(
        response("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xxx\r\n\r\n"), req)));
    auto refused = ws::check_upgrade_response(response("HTTP/1.1 403 Forbidden\r\n\r\n"), req);
    ASSERT_TRUE(std::holds_alternative<ws::ClientRefusal>(refused));
    EXPECT_EQ(std::get<ws::ClientRefusal>(refused).status, 403);
}
