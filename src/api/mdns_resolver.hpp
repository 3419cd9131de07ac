// api/mdns_resolver.hpp: a one-shot Multicast DNS querier (RFC 6762 §5.1)
// on a Loop, for the ".local" names that browsers put in ICE candidates
// instead of their addresses (draft-ietf-mmusic-mdns-ice-candidates §3.2).
// It drives the proto/mdns codec over a runtime::UdpSocket: name resolution
// lives here, above the runtime, which only moves the datagrams.
//
// One IPv4 UDP socket, bound to an ephemeral port (a one-shot querier need
// not use 5353, §5.1), sends the query of proto/mdns to 224.0.0.251:5353 with
// the QU bit, once more after a second; a responder answers that port by
// unicast (§5.4, §6.7). A lookup ends with the first address found for the
// name, or with nullopt at its timeout. Found names are kept for the life of
// the resolver.
#pragma once

#include "base/endpoint.hpp"
#include "base/time.hpp"
#include "runtime/loop.hpp"
#include "runtime/udp.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::detail {

using runtime::Loop;

/// Thread safety: loop thread only. `done` is always called later on the
/// loop (never from inside resolve(), nor from inside the socket's receive
/// callback), exactly once, unless the resolver is destroyed first: then it
/// is never called. A `done` may destroy the resolver.
class MdnsResolver final {
public:
    using Done = std::function<void(std::optional<base::IpAddress>)>;

    struct Limits {
        std::size_t max_lookups = 32;          // names being looked up at once; more fail at once
        std::size_t max_waiters = 32;          // resolve() calls waiting on one name
        std::size_t max_cached = 256;          // names remembered
        base::Duration retry_after = base::seconds(1);
    };

    explicit MdnsResolver(Loop& loop) : MdnsResolver(loop, Limits{}) {}
    MdnsResolver(Loop& loop, Limits limits);
    ~MdnsResolver();
    MdnsResolver(const MdnsResolver&) = delete;
    MdnsResolver& operator=(const MdnsResolver&) = delete;

    /// Looks up `name` (a ".local" name, any case, trailing dot optional).
    /// An IPv4 address is preferred when a responder gives both families.
    /// Names outside ".local", invalid names, a full table or a socket that
    /// cannot be opened give nullopt (soon, not after the timeout).
    void resolve(std::string name, Done done, base::Duration timeout = base::seconds(2));

    /// Names being looked up now (for tests and limits).
    std::size_t lookups() const noexcept { return lookups_.size(); }

private:
    struct Waiter {
        std::uint64_t id;
        Done done;
        Loop::TimerId deadline;
    };
    struct Lookup {
        std::vector<Waiter> waiters;
        Loop::TimerId retry = 0;
    };

    void on_datagram(const base::Endpoint& from, base::Bytes message);
    bool open_socket();
    void send_query(const std::string& name);
    void on_answer(const std::string& name, const base::IpAddress& ip);
    void expire(const std::string& name, std::uint64_t waiter);
    /// Calls `done` with `result` from a timer due at once: on the next
    /// iteration of the loop, not from inside resolve().
    void answer_soon(Done done, std::optional<base::IpAddress> result);
    /// Calls each `done`, stopping if one of them destroyed the resolver;
    /// false then (the caller must not touch any member).
    bool call(std::vector<std::pair<Done, std::optional<base::IpAddress>>> calls);

    Loop& loop_;
    Limits limits_;
    std::unique_ptr<runtime::UdpSocket> socket_;
    std::map<std::string, Lookup> lookups_;         // by lower-case name without the trailing dot
    std::map<std::string, base::IpAddress> cache_;
    struct Soon {
        Done done;
        std::optional<base::IpAddress> result;
        Loop::TimerId timer = 0;
    };
    std::map<std::uint64_t, Soon> soon_;               // answers due on the next loop iteration
    std::uint64_t next_waiter_ = 1;
    bool* destroyed_ = nullptr;  // set while callbacks run, so that one of them may destroy us
};

}  // namespace duplex::detail
