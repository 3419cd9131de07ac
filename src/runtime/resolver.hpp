// runtime/resolver.hpp: host-name lookups (getaddrinfo, which blocks) on a
// thread of their own, with the answer delivered on the loop's thread.
//
// A lookup may outlive the loop that asked for it (getaddrinfo can take
// seconds). Its answer goes through the loop's mailbox (Loop::mailbox()),
// which the loop closes as it is destroyed: an answer that comes later is
// dropped on the lookup's thread, with what the callback captured, and
// nothing of the loop is touched (issue 14: the WebSocket client's lookup
// thread posted to a loop that could be gone).
#pragma once

#include "runtime/address.hpp"
#include "runtime/loop.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace duplex::runtime {

class Resolver {
public:
    /// Called on the loop's thread: the addresses (IPv4 and IPv6, in the
    /// order getaddrinfo gave them), or an error and none.
    using Callback = std::function<void(std::vector<Address> addresses, std::error_code error)>;
    /// The blocking lookup itself; tests pass one that waits for them.
    using Lookup = std::function<std::vector<Address>(const std::string& host, std::uint16_t port, std::error_code& error)>;

    /// Looks `host` up (a numeric address is answered without a thread, on
    /// the next loop turn). `socktype` SOCK_STREAM or SOCK_DGRAM.
    static void resolve(Loop& loop, std::string host, std::uint16_t port, int socktype, Callback done,
                        Lookup lookup = nullptr);

    /// getaddrinfo: the system's lookup.
    static std::vector<Address> system_lookup(const std::string& host, std::uint16_t port, int socktype,
                                              std::error_code& error);
};

/// The error of a name that does not resolve (EAI_NONAME and the like).
const std::error_category& resolve_category() noexcept;

}  // namespace duplex::runtime
