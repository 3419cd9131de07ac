// api/mdns_resolver.cpp: the timers and the bookkeeping of lookups around
// the proto/mdns codec, over a runtime::UdpSocket.
#include "api/mdns_resolver.hpp"

#include "base/log.hpp"
#include "proto/mdns/message.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace duplex::detail {

namespace {

// RFC 6762 §17: a Multicast DNS packet is at most 9000 bytes with its IP and
// UDP headers (larger ones are not expected on a link, and are dropped).
constexpr std::size_t kMaxMessage = 9000;

/// The lookup key: lower case (names compare without regard to case,
/// RFC 1035 §2.3.3), without the trailing dot of a fully qualified name.
std::string normalize(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (auto& c : name)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return name;
}

/// RFC 6762 §3: names ending in ".local." are the ones resolved by mDNS; any
/// other name is not ours to send to the link.
bool is_local_name(const std::string& key) {
    constexpr std::string_view suffix = ".local";
    return key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::optional<base::IpAddress> pick(const std::vector<base::IpAddress>& ips) {
    // Our host candidates are IPv4 first (runtime::interface_addresses), and
    // an IPv4 pair is the likelier one to work: prefer the A record.
    for (const auto& ip : ips)
        if (ip.is_v4()) return ip;
    if (!ips.empty()) return ips.front();
    return std::nullopt;
}

}  // namespace

MdnsResolver::MdnsResolver(Loop& loop, Limits limits) : loop_(loop), limits_(limits) {}

MdnsResolver::~MdnsResolver() {
    if (destroyed_) *destroyed_ = true;
    for (auto& [name, lookup] : lookups_) {
        if (lookup.retry != 0) loop_.cancel_timer(lookup.retry);
        for (auto& w : lookup.waiters) loop_.cancel_timer(w.deadline);
    }
    for (auto& [key, s] : soon_) loop_.cancel_timer(s.timer);
    if (socket_) socket_->close();
}

void MdnsResolver::resolve(std::string name, Done done, base::Duration timeout) {
    std::string key = normalize(std::move(name));
    if (!is_local_name(key) || proto::mdns::make_query(key).empty()) {
        DUPLEX_LOG(Debug, "mdns: not a .local name: \"" << key << "\"");
        return answer_soon(std::move(done), std::nullopt);
    }
    if (auto c = cache_.find(key); c != cache_.end()) return answer_soon(std::move(done), c->second);

    auto it = lookups_.find(key);
    if (it == lookups_.end()) {
        if (lookups_.size() >= limits_.max_lookups) {
            DUPLEX_LOG(Info, "mdns: " << limits_.max_lookups << " lookups already running; not resolving " << key);
            return answer_soon(std::move(done), std::nullopt);
        }
        if (!open_socket()) return answer_soon(std::move(done), std::nullopt);
        it = lookups_.emplace(key, Lookup{}).first;
        send_query(key);
        // One more query after a second, in case the first was lost (a
        // one-shot querier may retransmit, RFC 6762 §5.1; multicast on a
        // busy link loses packets).
        it->second.retry = loop_.add_timer(base::Clock::now() + limits_.retry_after, [this, key] {
            auto l = lookups_.find(key);
            if (l == lookups_.end()) return;
            l->second.retry = 0;
            send_query(key);
        });
    } else if (it->second.waiters.size() >= limits_.max_waiters) {
        return answer_soon(std::move(done), std::nullopt);
    }
    const std::uint64_t id = next_waiter_++;
    const auto deadline = loop_.add_timer(base::Clock::now() + timeout, [this, key, id] { expire(key, id); });
    it->second.waiters.push_back(Waiter{id, std::move(done), deadline});
}

bool MdnsResolver::open_socket() {
    if (socket_) return true;
    // RFC 6762 §5.1: a one-shot querier may send from any port but 5353; the
    // responder then answers that port by unicast (§6.7), so we need not
    // share 5353 with a responder that may run on this host.
    auto s = runtime::UdpSocket::bind(loop_, base::Endpoint{base::IpAddress::v4({0, 0, 0, 0}), 0},
                                      [this](const base::Endpoint& from, base::Bytes data) { on_datagram(from, data); });
    if (!s) {
        DUPLEX_LOG(Warn, "mdns: cannot open a UDP socket: " << s.error().message());
        return false;
    }
    // RFC 6762 §11: mDNS packets go out with IP TTL 255, which receivers may
    // check to know that the packet did not cross a router. A responder on
    // this very host (another program, a test) must hear the query too: the
    // kernel loops our multicast back to local sockets.
    s.value()->set_multicast(255, true);
    socket_ = std::move(s.value());
    return true;
}

void MdnsResolver::send_query(const std::string& name) {
    if (!socket_) return;
    const auto query = proto::mdns::make_query(name);
    base::IpAddress group = base::IpAddress::v4({proto::mdns::kGroupV4[0], proto::mdns::kGroupV4[1],
                                                 proto::mdns::kGroupV4[2], proto::mdns::kGroupV4[3]});
    // No route to the group (a host without multicast) is not an error of
    // ours: the lookup just finds nothing by its deadline.
    if (!socket_->send_to(base::Endpoint{group, proto::mdns::kPort}, query))
        DUPLEX_LOG(Info, "mdns: query for " << name << " not sent");
}

void MdnsResolver::on_datagram(const base::Endpoint& from, base::Bytes message) {
    // RFC 6762 §17: at most 9000 bytes; §6: responses come from port 5353.
    if (message.size() > kMaxMessage || from.ip.is_v6() || from.port != proto::mdns::kPort) return;
    // RFC 6762 §5.1 / §6: only answers to names we asked for are taken (one
    // response may answer several of our lookups). The callers hear of it
    // on the next loop iteration: one of them may destroy this resolver,
    // and with it the socket whose receive callback this is.
    for (auto it = lookups_.begin(); it != lookups_.end();) {
        auto ip = pick(proto::mdns::parse_answers(message, it->first));
        if (!ip) {
            ++it;
            continue;
        }
        DUPLEX_LOG(Debug, "mdns: " << it->first << " is " << ip->to_string());
        if (cache_.size() >= limits_.max_cached) cache_.erase(cache_.begin());
        cache_[it->first] = *ip;
        if (it->second.retry != 0) loop_.cancel_timer(it->second.retry);
        for (auto& w : it->second.waiters) {
            loop_.cancel_timer(w.deadline);
            answer_soon(std::move(w.done), *ip);
        }
        it = lookups_.erase(it);
    }
}

void MdnsResolver::expire(const std::string& name, std::uint64_t waiter) {
    auto it = lookups_.find(name);
    if (it == lookups_.end()) return;
    auto& waiters = it->second.waiters;
    auto w = std::find_if(waiters.begin(), waiters.end(), [waiter](const Waiter& x) { return x.id == waiter; });
    if (w == waiters.end()) return;
    Done done = std::move(w->done);
    waiters.erase(w);
    if (waiters.empty()) {
        if (it->second.retry != 0) loop_.cancel_timer(it->second.retry);
        lookups_.erase(it);
    }
    DUPLEX_LOG(Debug, "mdns: no answer for " << name);
    std::vector<std::pair<Done, std::optional<base::IpAddress>>> calls;
    calls.emplace_back(std::move(done), std::nullopt);
    (void)call(std::move(calls));
}

void MdnsResolver::answer_soon(Done done, std::optional<base::IpAddress> result) {
    const std::uint64_t key = next_waiter_++;
    // A timer due now rather than Loop::post: it can be cancelled when the
    // resolver goes first, and it runs on this loop's next iteration.
    const auto timer = loop_.add_timer(base::Clock::now(), [this, key] {
        auto it = soon_.find(key);
        if (it == soon_.end()) return;
        std::vector<std::pair<Done, std::optional<base::IpAddress>>> calls;
        calls.emplace_back(std::move(it->second.done), it->second.result);
        soon_.erase(it);
        (void)call(std::move(calls));
    });
    soon_.emplace(key, Soon{std::move(done), result, timer});
}

bool MdnsResolver::call(std::vector<std::pair<Done, std::optional<base::IpAddress>>> calls) {
    bool destroyed = false;
    bool* outer = destroyed_;
    destroyed_ = &destroyed;
    for (auto& [done, result] : calls) {
        if (done) done(result);
        if (destroyed) {
            if (outer) *outer = true;
            return false;
        }
    }
    destroyed_ = outer;
    return true;
}

}  // namespace duplex::detail
