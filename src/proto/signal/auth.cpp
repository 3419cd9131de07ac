#include "proto/signal/auth.hpp"

#include "base/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

namespace duplex::proto::signal {

namespace {
std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         out.data(), &len);
    return base::base64_encode({reinterpret_cast<const std::byte*>(out.data()), len});
}

std::string to_base64url(std::string b64) {
    for (auto& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    return b64;
}
}  // namespace

std::string make_token(std::string_view secret, std::string_view room, std::int64_t expiry) {
    const std::string body = "v1." + std::string(room) + "." + std::to_string(expiry);
    return body + "." + to_base64url(hmac(EVP_sha256(), secret, body));
}

bool check_token(std::string_view secret, std::string_view token, std::string_view room, std::int64_t unix_now) {
    const auto mac_dot = token.rfind('.');
    if (mac_dot == std::string_view::npos) return false;
    const auto body = token.substr(0, mac_dot);
    const auto exp_dot = body.rfind('.');
    if (exp_dot == std::string_view::npos || body.substr(0, 3) != "v1.") return false;
    if (body.substr(3, exp_dot - 3) != room) return false;
    const auto exp_text = body.substr(exp_dot + 1);
    if (exp_text.empty() || exp_text.size() > 18) return false;
    std::int64_t expiry = 0;
    for (char c : exp_text) {
        if (c < '0' || c > '9') return false;
        expiry = expiry * 10 + (c - '0');
    }
    if (expiry < unix_now) return false;
    const std::string want = to_base64url(hmac(EVP_sha256(), secret, body));
    const auto got = token.substr(mac_dot + 1);
    // Constant time: the comparison must not tell how much of a forged MAC was right.
    return got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

TurnCredentials turn_credentials(std::string_view secret, std::string_view peer_id, std::int64_t expiry) {
    TurnCredentials c;
    c.username = std::to_string(expiry) + ":" + std::string(peer_id);
    c.password = hmac(EVP_sha1(), secret, c.username);
    return c;
}

}  // namespace duplex::proto::signal
