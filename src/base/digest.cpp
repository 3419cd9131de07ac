#include "base/digest.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace duplex::base {

std::array<std::byte, 20> sha1(std::span<const std::byte> in) {
    std::array<std::byte, 20> out{};
    unsigned int len = 0;
    EVP_Digest(in.data(), in.size(), reinterpret_cast<unsigned char*>(out.data()), &len, EVP_sha1(),
               nullptr);
    return out;
}

bool random_bytes(std::span<std::byte> out) noexcept {
    return RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) == 1;
}

}  // namespace duplex::base
