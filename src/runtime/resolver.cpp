// runtime/resolver.cpp
#include "runtime/resolver.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <thread>

namespace duplex::runtime {

namespace {
class ResolveCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "resolve"; }
    std::string message(int ev) const override { return gai_strerror(ev); }
};
}  // namespace

const std::error_category& resolve_category() noexcept {
    static const ResolveCategory category;
    return category;
}

std::vector<Address> Resolver::system_lookup(const std::string& host, std::uint16_t port, int socktype,
                                             std::error_code& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    std::vector<Address> out;
    if (rc != 0) {
        error = rc == EAI_SYSTEM ? std::error_code(errno, std::system_category()) : std::error_code(rc, resolve_category());
        return out;
    }
    for (addrinfo* a = res; a != nullptr; a = a->ai_next)
        if (a->ai_family == AF_INET || a->ai_family == AF_INET6) out.emplace_back(a->ai_addr, a->ai_addrlen);
    ::freeaddrinfo(res);
    if (out.empty()) error = std::error_code(EAI_NONAME, resolve_category());
    return out;
}

void Resolver::resolve(Loop& loop, std::string host, std::uint16_t port, int socktype, Callback done, Lookup lookup) {
    if (auto numeric = Address::parse(host, port)) {
        loop.defer([done = std::move(done), a = *numeric] { done({a}, {}); });
        return;
    }
    if (!lookup) {
        lookup = [socktype](const std::string& h, std::uint16_t p, std::error_code& ec) {
            return system_lookup(h, p, socktype, ec);
        };
    }
    // The thread holds the mailbox, never the loop. Detached: a lookup that
    // hangs must not hold up whoever destroys the loop.
    std::thread([mailbox = loop.mailbox(), host = std::move(host), port, done = std::move(done),
                 lookup = std::move(lookup)]() mutable {
        std::error_code ec;
        auto addresses = lookup(host, port, ec);
        std::function<void()> deliver = [done = std::move(done), addresses = std::move(addresses), ec]() mutable {
            done(std::move(addresses), ec);
        };
        // Loop gone: `deliver` (and what the callback captured) ends here.
        (void)mailbox->deliver(deliver);
    }).detach();
}

}  // namespace duplex::runtime
