// api/ice_servers.cpp: ICE server URLs and the host-candidate address rules.
#include "api/ice_servers.hpp"

#include "runtime/udp.hpp"

#include <charconv>

namespace duplex {
namespace detail {

proto::ice::RelayProtocol relay_protocol_of(const proto::ice::ServerUrl& url) {
    if (url.scheme == proto::ice::ServerUrl::Scheme::Turns) return proto::ice::RelayProtocol::Tls;
    return url.transport == proto::ice::ServerUrl::Transport::Tcp ? proto::ice::RelayProtocol::Tcp
                                                                  : proto::ice::RelayProtocol::Udp;
}

Result<IceServerPlan> plan_ice_servers(const std::vector<IceServer>& servers) {
    IceServerPlan plan;
    for (const auto& server : servers)
        for (const auto& text : server.urls) {
            auto url = proto::ice::parse_server_url(text);
            if (!url) return url.status();
            // W3C setConfiguration: a TURN URL needs a username and a
            // credential (InvalidAccessError).
            if (url->is_turn() && (server.username.empty() || server.credential.empty()))
                return Status(Errc::invalid_argument, text + ": a TURN server needs a username and a credential");
            if (url->scheme == proto::ice::ServerUrl::Scheme::Stuns) {
                plan.unused.push_back(url->to_string());
            } else if (url->host_is_name) {
                plan.names.push_back(NamedServer{*url, server.username, server.credential});
            } else {
                const base::Endpoint at{*base::IpAddress::parse(url->host), url->port};
                if (url->is_turn()) {
                    plan.turn.push_back(proto::rtc::TurnServer{at, server.username, server.credential,
                                                               relay_protocol_of(*url), url->to_string(), url->host});
                } else {
                    plan.stun.push_back(at);
                }
            }
        }
    return plan;
}

bool address_allowed(const base::IpAddress& ip, const std::vector<std::string>& allowed) {
    if (allowed.empty()) return !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified();
    for (const auto& rule : allowed) {
        std::string_view r = rule;
        unsigned bits = ip.is_v6() ? 128 : 32;
        if (auto slash = r.find('/'); slash != std::string_view::npos) {
            auto b = r.substr(slash + 1);
            if (std::from_chars(b.data(), b.data() + b.size(), bits).ec != std::errc{}) continue;
            r = r.substr(0, slash);
        }
        auto net = base::IpAddress::parse(r);
        if (!net || net->is_v6() != ip.is_v6() || bits > net->size() * 8) continue;
        bool match = true;
        for (unsigned i = 0; i < bits && match; ++i) {
            const unsigned byte = i / 8, bit = 7 - i % 8;
            match = ((net->data()[byte] >> bit) & 1) == ((ip.data()[byte] >> bit) & 1);
        }
        if (match) return true;
    }
    return false;
}

}  // namespace detail

std::vector<std::string> host_candidate_addresses(const Configuration& config) {
    std::vector<std::string> out;
    for (const auto& ifa : runtime::interface_addresses())
        if (detail::address_allowed(ifa.ip, config.allowed_addresses)) out.push_back(ifa.ip.to_string());
    return out;
}

}  // namespace duplex
