// proto/ice/agent_limits.hpp: what the agent's files (agent.cpp,
// gathering.cpp) share and nothing else sees: the bounds on what the agent
// holds, and two small helpers. Private to proto/ice.
#pragma once

#include "base/bytes.hpp"
#include "base/endpoint.hpp"

#include <cstddef>
#include <string>

namespace duplex::proto::ice::detail {

inline constexpr std::size_t kMaxHosts = 16;          // host sockets
inline constexpr std::size_t kMaxRelays = 16;         // TURN allocations
inline constexpr std::size_t kMaxStunServers = 8;
inline constexpr std::size_t kMaxLocalCandidates = 64;
inline constexpr std::size_t kMaxTransmits = 256;
inline constexpr std::size_t kMaxEvents = 1024;
inline constexpr std::size_t kMaxConsentInFlight = 4;

inline bool same_family(const base::Endpoint& a, const base::Endpoint& b) noexcept {
    return a.ip.is_v6() == b.ip.is_v6();
}

inline base::Bytes bytes_of(const std::string& s) noexcept { return base::as_bytes(s); }

}  // namespace duplex::proto::ice::detail
