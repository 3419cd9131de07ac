// The TLS handshake budget: a burst of new TLS clients is served at most
// kHandshakesPerIteration handshake steps per loop iteration; the rest wait
// for the next iteration (so open connections are not starved). Deterministic:
// every ClientHello is in its socket before the loop runs once.
#include "runtime/loop.hpp"
#include "runtime/tcp.hpp"
#include "runtime/tls.hpp"

#include "support/test_cert.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

using namespace duplex;

namespace {

struct Quiet final : runtime::Stream::Handler {
    void on_read(base::MutableBytes) override {}
    void on_writable() override {}
    void on_eof() override {}
    void on_error(std::error_code) override {}
};

TEST(TlsBudget, ABurstOfHandshakesIsSpreadOverIterations) {
    const std::string dir = ::testing::TempDir() + "duplex_tls_budget_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    const auto cert = test::make_test_cert(dir);
    std::string why;
    auto server_ctx = runtime::TlsContext::server(cert.cert_file, cert.key_file, why);
    ASSERT_TRUE(server_ctx) << why;
    SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());

    runtime::Loop loop;
    Quiet quiet;
    constexpr int kClients = runtime::TlsStream::kHandshakesPerIteration + 8;
    std::vector<std::unique_ptr<runtime::TlsStream>> servers;
    std::vector<int> client_fds;
    std::vector<SSL*> clients;
    for (int i = 0; i < kClients; ++i) {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        auto tcp = std::make_unique<runtime::TcpSocket>(loop, sv[0], &quiet);
        servers.push_back(std::make_unique<runtime::TlsStream>(std::move(tcp), server_ctx.value(), &quiet));
        // A client ClientHello, written into the socket before the loop runs.
        SSL* c = SSL_new(client_ctx);
        BIO* rbio = BIO_new(BIO_s_mem());
        BIO* wbio = BIO_new(BIO_s_mem());
        SSL_set_bio(c, rbio, wbio);
        SSL_set_connect_state(c);
        SSL_do_handshake(c);
        char* data = nullptr;
        const long n = BIO_get_mem_data(wbio, &data);
        ASSERT_GT(n, 0);
        ASSERT_EQ(::send(sv[1], data, static_cast<std::size_t>(n), 0), n);
        clients.push_back(c);
        client_fds.push_back(sv[1]);
    }
    auto answered = [&] {
        int count = 0;
        for (int fd : client_fds) {
            pollfd p{fd, POLLIN, 0};
            count += ::poll(&p, 1, 0) == 1 ? 1 : 0;
        }
        return count;
    };
    loop.run_once(0);
    EXPECT_EQ(answered(), runtime::TlsStream::kHandshakesPerIteration);  // the budget, not all of them
    loop.run_once(0);
    EXPECT_EQ(answered(), kClients);  // the rest on the next iteration
    for (SSL* c : clients) SSL_free(c);
    for (int fd : client_fds) ::close(fd);
    servers.clear();
    SSL_CTX_free(client_ctx);
    std::filesystem::remove_all(dir);
}

}  // namespace
