// The signaling schema (proto/signal/message.hpp), from both sides: every
// message a server or a peer receives is read in one place, and a field of
// the wrong type is a ParseError, never an exception (issue 14: duplex-peer
// aborted on each of the server messages below).
#include "proto/signal/message.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace duplex::proto::signal;

namespace {

template <class T, class V>
const T& as(const V& v) {
    EXPECT_TRUE(std::holds_alternative<T>(v));
    return std::get<T>(v);
}

std::string server_error(std::string_view text) {
    auto r = parse_server_message(text);
    if (auto* e = std::get_if<ParseError>(&r)) return e->message;
    return "";
}
std::string client_error(std::string_view text) {
    auto r = parse_client_message(text);
    if (auto* e = std::get_if<ParseError>(&r)) return e->message;
    return "";
}

TEST(SignalMessage, FieldsOfTheWrongTypeFromAServerAreErrorsNotCrashes) {
    EXPECT_EQ(server_error(R"({"type":"offer","from":5,"sdp":"x"})"), "\"from\" must be a string");
    EXPECT_EQ(server_error(R"({"type":"offer","from":"f","sdp":[]})"), "\"sdp\" must be a string");
    EXPECT_EQ(server_error(R"({"type":"peer-left","id":7})"), "\"id\" must be a string");
    EXPECT_EQ(server_error(R"({"type":"peer-joined","id":{}})"), "\"id\" must be a string");
    EXPECT_EQ(server_error(R"({"type":"joined","room":"r","id":"a","peers":[1]})"), "\"peers\" must hold peer ids");
    EXPECT_EQ(server_error(R"({"type":"joined","room":"r","id":"a","peers":"a"})"),
              "\"peers\" must be an array of at most 1024");
    EXPECT_EQ(server_error(R"({"type":"joined","room":"r","id":"a","iceServers":[{"urls":7}]})"),
              "iceServers: \"urls\" must be an array of at most 16");
    EXPECT_EQ(server_error(R"({"type":"joined","room":"r","id":"a","iceServers":[{"urls":["stun:x"],"username":1}]})"),
              "iceServers: \"username\" must be a string");
    EXPECT_EQ(server_error(R"({"type":"candidate","from":"a","candidate":"c","sdpMLineIndex":"0"})"),
              "\"sdpMLineIndex\" must be a small integer");
    EXPECT_EQ(server_error(R"({"type":"candidate","from":"a","candidate":"c","sdpMLineIndex":-1})"),
              "\"sdpMLineIndex\" must be a small integer");
    EXPECT_EQ(server_error(R"({"type":"error","code":false})"), "\"code\" must be a string");
    EXPECT_EQ(server_error(R"({"type":"offer","from":"../../etc","sdp":"x"})"),
              "\"from\" must be 1-64 characters of A-Za-z0-9_.-");
    EXPECT_EQ(server_error(R"({"type":"offer","sdp":"x"})"), "missing \"from\"");
    EXPECT_EQ(server_error(R"({"type":"party"})"), "unknown \"type\"");
    EXPECT_EQ(server_error(R"({"type":7})"), "missing \"type\"");
    EXPECT_EQ(server_error(R"([1,2])"), "not a JSON object");
    EXPECT_EQ(server_error("{\"type\":\"offer\""), "not a JSON object");
    EXPECT_EQ(server_error(""), "not a JSON object");
}

TEST(SignalMessage, ServerMessagesReadAsTheirTypes) {
    auto joined = as<Joined>(as<ServerMessage>(parse_server_message(
        R"({"type":"joined","room":"r","id":"me","peers":["a","b"],"iceServers":[{"urls":"stun:127.0.0.1:3478"},)"
        R"({"urls":["turn:127.0.0.1:3478?transport=udp","turn:127.0.0.1:3478?transport=tcp"],"username":"u","credential":"p"}],"extra":1})")));
    EXPECT_EQ(joined.room, "r");
    EXPECT_EQ(joined.id, "me");
    EXPECT_EQ(joined.peers, (std::vector<std::string>{"a", "b"}));
    ASSERT_EQ(joined.ice_servers.size(), 2u);
    EXPECT_EQ(joined.ice_servers[0].urls, std::vector<std::string>{"stun:127.0.0.1:3478"});
    EXPECT_EQ(joined.ice_servers[1].urls.size(), 2u);
    EXPECT_EQ(joined.ice_servers[1].credential, "p");
    auto offer = as<Description>(as<ServerMessage>(parse_server_message(R"({"type":"offer","from":"a","sdp":"v=0"})")));
    EXPECT_EQ(offer.kind, SdpKind::Offer);
    EXPECT_EQ(offer.peer, "a");
    auto cand = as<Candidate>(as<ServerMessage>(
        parse_server_message(R"({"type":"candidate","from":"a","candidate":"","sdpMid":null,"sdpMLineIndex":0})")));
    EXPECT_EQ(cand.candidate, "");  // the end of candidates
    EXPECT_FALSE(cand.sdp_mid);
    EXPECT_EQ(cand.sdp_mline_index, 0);
    auto left = as<PeerLeft>(as<ServerMessage>(parse_server_message(R"({"type":"peer-left","id":"a"})")));
    EXPECT_EQ(left.id, "a");
    auto err = as<Error>(as<ServerMessage>(parse_server_message(R"({"type":"error","code":"room-full"})")));
    EXPECT_EQ(err.code, "room-full");
}

TEST(SignalMessage, ClientMessagesAreCheckedAsTheServerReadsThem) {
    EXPECT_EQ(client_error(R"({"type":"join"})"), "missing \"room\"");
    EXPECT_EQ(client_error(R"({"type":"join","room":"a b"})"), "\"room\" must be 1-64 characters of A-Za-z0-9_.-");
    EXPECT_EQ(client_error(R"({"type":"join","room":"r","id":""})"), "\"id\" must be 1-64 characters of A-Za-z0-9_.-");
    EXPECT_EQ(client_error(R"({"type":"join","room":"r","token":1})"), "\"token\" must be a string");
    EXPECT_EQ(client_error(R"({"type":"answer","to":"a"})"), "missing \"sdp\"");
    EXPECT_EQ(client_error(R"({"type":"candidate","to":"a"})"), "missing \"candidate\"");
    EXPECT_EQ(client_error(R"({"type":"candidate","to":"a","candidate":"c","sdpMid":3})"), "\"sdpMid\" must be a string");
    const std::string huge_sdp = R"({"type":"offer","to":"a","sdp":")" + std::string(70000, 'x') + "\"}";
    EXPECT_EQ(client_error(huge_sdp), "\"sdp\" is too long");
    auto join = as<Join>(as<ClientMessage>(parse_client_message(R"({"type":"join","room":"r","id":"me","token":"t"})")));
    EXPECT_EQ(join.room, "r");
    EXPECT_EQ(join.id, "me");
    EXPECT_EQ(join.token, "t");
    EXPECT_TRUE(std::holds_alternative<Leave>(as<ClientMessage>(parse_client_message(R"({"type":"leave"})"))));
}

TEST(SignalMessage, WhatIsWrittenReadsBackTheSame) {
    const std::vector<ClientMessage> client = {
        Join{"room-1", "", ""}, Join{"r", "me", "v1.r.1.mac"}, Description{SdpKind::Answer, "peer", "v=0\r\n"},
        Candidate{"peer", "candidate:1 1 udp 1 127.0.0.1 9 typ host", std::string("0"), 0}, Candidate{"peer", "", {}, {}},
        Leave{}};
    for (const auto& m : client) {
        const auto text = write_client_message(m);
        auto back = parse_client_message(text);
        ASSERT_TRUE(std::holds_alternative<ClientMessage>(back)) << text;
        EXPECT_EQ(write_client_message(std::get<ClientMessage>(back)), text);
    }
    const std::vector<ServerMessage> server = {
        Joined{"r", "me", {"a", "b"}, {IceServer{{"stun:127.0.0.1:3478"}, "", ""}, IceServer{{"turn:h:3478"}, "u", "p"}}},
        PeerJoined{"a"}, PeerLeft{"b"}, Description{SdpKind::Offer, "a", "v=0"}, Candidate{"a", "c", std::nullopt, 1},
        Error{"bad-message", "not a JSON object"}};
    for (const auto& m : server) {
        const auto text = write_server_message(m);
        auto back = parse_server_message(text);
        ASSERT_TRUE(std::holds_alternative<ServerMessage>(back)) << text;
        EXPECT_EQ(write_server_message(std::get<ServerMessage>(back)), text);
    }
    // Relayed descriptions and candidates say "from"; sent ones say "to".
    EXPECT_NE(write_server_message(PeerJoined{"a"}).find("\"id\":\"a\""), std::string::npos);
    EXPECT_NE(write_server_message(Description{SdpKind::Offer, "a", "v"}).find("\"from\":\"a\""), std::string::npos);
    EXPECT_NE(write_client_message(Description{SdpKind::Offer, "a", "v"}).find("\"to\":\"a\""), std::string::npos);
}

}  // namespace
