// wss:// end to end: our TLS server and client, certificate checks (CA file,
// host name, IP literal, the system store refusing a self-signed one, the
// insecure option), and clear errors for unusable certificates.
#include <duplex/websocket.hpp>
#include <duplex/websocket_server.hpp>

#include "support/raw_client.hpp"
#include "support/server_fixture.hpp"
#include "support/test_cert.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include <filesystem>
#include <map>

using namespace duplex;
using namespace duplex::test;
using namespace std::chrono_literals;

namespace {

class Tls : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "duplex_tls_" + std::to_string(::getpid());
        std::filesystem::create_directories(dir_);
        cert_ = make_test_cert(dir_);
        other_ = make_test_cert(dir_, "other");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    struct Run {
        int close_code = -1;
        std::string echoed;
        std::error_code error;
        std::string error_message;
    };
    Run run_client(EventLoop& loop, const std::string& url, ClientOptions o) {
        Run r;
        auto ws = WebSocket::connect(loop, url, o);
        const std::string big(300000, 'z');
        ws.on_open([&] {
            (void)ws.send("over tls");
            (void)ws.send(big);
        });
        ws.on_message([&](std::string_view m, bool) {
            r.echoed += m.size() > 100 ? std::string(m.substr(0, 3)) + std::to_string(m.size()) : std::string(m);
            if (m.size() == big.size()) (void)ws.close(1000);
        });
        ws.on_error([&](std::error_code ec, std::string_view m) {
            r.error = ec;
            r.error_message = m;
        });
        ws.on_close([&](std::uint16_t c, std::string_view) {
            r.close_code = c;
            loop.stop();
        });
        loop.set_timeout(5s, [&] { loop.stop(); });
        loop.run();
        return r;
    }
    std::string dir_;
    TestCert cert_, other_;
};

TEST_F(Tls, EchoOverWssWithCertificateChecks) {
    EventLoop loop;
    ServerOptions so;
    so.port = 0;
    so.tls = {cert_.cert_file, cert_.key_file};
    WebSocketServer server(loop, so);
    server.on_connection([](WebSocket& ws, const HttpRequest&) {
        ws.on_message([ws](std::string_view m, bool b) mutable { (void)ws.send(m, b); });
    });
    ASSERT_TRUE(server.listen().ok());
    const auto port = std::to_string(server.port());
    ClientOptions trusting;
    trusting.tls.ca_file = cert_.cert_file;
    for (const std::string host : {"127.0.0.1", "localhost"}) {
        auto r = run_client(loop, "wss://" + host + ":" + port + "/", trusting);
        EXPECT_EQ(r.echoed, "over tlszzz300000") << host << " " << r.error_message;
        EXPECT_EQ(r.close_code, 1000) << host;
    }
    // A CA that did not sign it, and the system store: refused.
    ClientOptions wrong_ca;
    wrong_ca.tls.ca_file = other_.cert_file;
    for (const ClientOptions& o : {wrong_ca, ClientOptions{}}) {
        auto r = run_client(loop, "wss://127.0.0.1:" + port + "/", o);
        EXPECT_EQ(r.close_code, 1006);
        EXPECT_EQ(r.error, make_error_code(Errc::tls_failed)) << r.error_message;
        EXPECT_TRUE(r.echoed.empty());
    }
    // The insecure option (tests only) skips the checks.
    ClientOptions insecure;
    insecure.tls.insecure = true;
    auto r = run_client(loop, "wss://127.0.0.1:" + port + "/", insecure);
    EXPECT_EQ(r.close_code, 1000) << r.error_message;
    // Plain ws:// to a TLS port does not get a WebSocket.
    auto plain = run_client(loop, "ws://127.0.0.1:" + port + "/", {});
    EXPECT_EQ(plain.close_code, 1006);
    EXPECT_TRUE(plain.echoed.empty());
}

TEST_F(Tls, UnusableCertificatesAreClearErrors) {
    EventLoop loop;
    std::map<std::string, std::string> cases = {
        {"missing", "cannot load certificate " + dir_ + "/nope.pem"},
        {"mismatch", "does not match"},
    };
    ServerOptions a;
    a.port = 0;
    a.tls = {dir_ + "/nope.pem", cert_.key_file};
    WebSocketServer missing(loop, a);
    auto st = missing.listen();
    EXPECT_EQ(st, Errc::tls_failed);
    EXPECT_NE(st.message().find(cases["missing"]), std::string::npos) << st.message();
    // In a user's words, not OpenSSL's error stack.
    EXPECT_NE(st.message().find("nope.pem: No such file or directory"), std::string::npos) << st.message();
    EXPECT_EQ(st.message().find("error:"), std::string::npos) << st.message();
    {
        const std::string junk = dir_ + "/junk.pem";
        std::ofstream(junk) << "not a certificate\n";
        ServerOptions j;
        j.port = 0;
        j.tls = {junk, cert_.key_file};
        WebSocketServer bad(loop, j);
        st = bad.listen();
        EXPECT_NE(st.message().find("junk.pem: not a usable PEM certificate"), std::string::npos) << st.message();
        EXPECT_EQ(st.message().find("error:"), std::string::npos) << st.message();
    }
    ServerOptions b;
    b.port = 0;
    b.tls = {cert_.cert_file, other_.key_file};
    WebSocketServer mismatch(loop, b);
    st = mismatch.listen();
    EXPECT_EQ(st, Errc::tls_failed);
    EXPECT_NE(st.message().find(cases["mismatch"]), std::string::npos) << st.message();
}

TEST_F(Tls, GarbageInsteadOfAClientHelloOnlyEndsThatConnection) {
    LoopThread t;
    auto server = t.call([&] {
        ServerOptions so;
        so.port = 0;
        so.tls = {cert_.cert_file, cert_.key_file};
        auto s = std::make_unique<WebSocketServer>(t.loop, so);
        s->on_connection([](WebSocket& ws, const HttpRequest&) {
            ws.on_message([ws](std::string_view m, bool b) mutable { (void)ws.send(m, b); });
        });
        EXPECT_TRUE(s->listen().ok());
        return s;
    });
    const auto port = t.call([&] { return server->port(); });
    RawClient c(port);
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // plain HTTP on a TLS port
    EXPECT_TRUE(c.wait_eof(3000ms));
    // The server still serves TLS clients.
    EventLoop loop;
    ClientOptions o;
    o.tls.ca_file = cert_.cert_file;
    auto r = run_client(loop, "wss://localhost:" + std::to_string(port) + "/", o);
    EXPECT_EQ(r.close_code, 1000) << r.error_message;
    t.call([&] { server.reset(); return 0; });
}

}  // namespace
