// mdns_resolve_check: detail::MdnsResolver and PeerConnection against a real
// mDNS responder (python3-zeroconf, started by mdns_resolve_test.sh in a
// loopback-only network namespace, answering NAME with 127.0.0.1).
//
//   mdns_resolve_check NAME UNANSWERED_NAME
//
// 1. The resolver: NAME resolves to 127.0.0.1; again, in another case and
//    with a trailing dot, from the cache at once; UNANSWERED_NAME gives
//    nullopt at its timeout (no hang, no early answer); a name outside
//    .local fails at once; lookups over the limit fail at once.
// 2. Two PeerConnections in this process. a's trickled host candidates reach
//    b with the address replaced by NAME, and b's candidates never reach a:
//    only b can start the checks, and only if it resolved NAME. The pair
//    must connect, a data channel must carry a message, and b's selected
//    remote candidate must be 127.0.0.1 at a's host port.
//    The same again with the name in b's answer SDP instead (a resolves).
// 3. The trickled case with UNANSWERED_NAME: nothing to check, so no
//    connection, but no ICE failure either (the mDNS candidate is ignored,
//    not fatal).
// Prints one "ok ..." line per check; exit 0 when all pass, 1 otherwise.
#include <duplex/data_channel.hpp>
#include <duplex/event_loop.hpp>
#include <duplex/peer_connection.hpp>

#include "api/mdns_resolver.hpp"

#include <chrono>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

using namespace duplex;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::cout << (ok ? "ok " : "FAILED ") << what << std::endl;
    if (!ok) ++failures;
}

bool run_until(EventLoop& loop, const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() > end) return false;
        loop.run_once(5);
    }
    return true;
}

long long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

struct Lookup {
    bool done = false;
    std::optional<base::IpAddress> ip;
    long long ms = 0;
};

/// Starts a lookup whose result lands in the returned slot.
void start(detail::MdnsResolver& r, const std::string& name, Lookup& slot, base::Duration timeout = 2s) {
    const auto t0 = Clock::now();
    r.resolve(name, [&slot, t0](std::optional<base::IpAddress> ip) {
        slot.done = true;
        slot.ip = ip;
        slot.ms = ms_since(t0);
    }, timeout);
}

std::string show(const Lookup& l) {
    return (l.ip ? l.ip->to_string() : std::string("nullopt")) + " after " + std::to_string(l.ms) + " ms";
}

void resolver_checks(EventLoop& loop, const std::string& name, const std::string& unanswered) {
    detail::MdnsResolver r(loop.runtime());

    Lookup a;
    start(r, name, a);
    run_until(loop, [&] { return a.done; }, 5s);
    check(a.done && a.ip && a.ip->to_string() == "127.0.0.1", "resolver: " + name + " -> " + show(a));

    // Cached: another case and the trailing dot name the same host (RFC 1035 §2.3.3).
    std::string upper = name;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    Lookup cached;
    start(r, upper + ".", cached);
    check(!cached.done, "resolver: the answer is never given from inside resolve()");
    run_until(loop, [&] { return cached.done; }, 5s);
    check(cached.done && cached.ip && cached.ip->to_string() == "127.0.0.1" && cached.ms < 100,
          "resolver: " + upper + ". from the cache -> " + show(cached));

    Lookup none;
    start(r, unanswered, none, 1500ms);
    run_until(loop, [&] { return none.done; }, 5s);
    check(none.done && !none.ip && none.ms >= 1400 && none.ms < 2500,
          "resolver: " + unanswered + " (nobody answers, timeout 1500 ms) -> " + show(none));
    check(r.lookups() == 0, "resolver: no lookup left over");

    Lookup outside;
    start(r, "example.com", outside);
    run_until(loop, [&] { return outside.done; }, 5s);
    check(outside.done && !outside.ip && outside.ms < 100, "resolver: example.com (not .local) -> " + show(outside));

    // The table of running lookups is bounded: the 33rd distinct name fails at once.
    std::vector<Lookup> many(33);
    for (std::size_t i = 0; i < many.size(); ++i)
        start(r, "nobody-" + std::to_string(i) + ".local", many[i], 500ms);
    run_until(loop, [&] { return many.back().done; }, 2s);
    check(many.back().done && !many.back().ip && many.back().ms < 100 && r.lookups() == 32,
          "resolver: lookup 33 of 33 -> " + show(many.back()) + " while 32 run");
    run_until(loop, [&] {
        for (auto& l : many)
            if (!l.done) return false;
        return true;
    }, 3s);
    check(r.lookups() == 0 && !many.front().ip && many.front().ms >= 450,
          "resolver: the 32 others time out -> " + show(many.front()));

    // Destroying the resolver with a lookup running: its callback never comes.
    bool called = false;
    {
        detail::MdnsResolver gone(loop.runtime());
        gone.resolve(unanswered, [&](std::optional<base::IpAddress>) { called = true; }, 300ms);
        loop.run_once(10);
    }
    run_until(loop, [] { return false; }, 500ms);
    check(!called, "resolver: destroyed with a lookup running, no callback");
}

/// "candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host" -> the same with
/// `name` in place of the address.
std::string hide_address(const std::string& candidate, const std::string& name) {
    const std::string ip = " 127.0.0.1 ";
    auto at = candidate.find(ip);
    if (at == std::string::npos) return candidate;
    return candidate.substr(0, at) + " " + name + " " + candidate.substr(at + ip.size());
}

std::string port_of(const std::string& candidate) {
    // foundation component transport priority address PORT typ ...
    std::vector<std::string> tok;
    std::string cur;
    for (char c : candidate + " ") {
        if (c == ' ' || c == '\r' || c == '\n') {
            if (!cur.empty()) tok.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    return tok.size() > 5 ? tok[5] : std::string();
}

/// The SDP with each "a=candidate:" line's address replaced by `name`, or
/// with the line dropped when `name` is empty. `port` gets the port of the
/// first candidate line.
std::string edit_candidates(const std::string& sdp, const std::string& name, std::string* port = nullptr) {
    std::string out;
    std::size_t pos = 0;
    while (pos < sdp.size()) {
        auto eol = sdp.find('\n', pos);
        if (eol == std::string::npos) eol = sdp.size() - 1;
        std::string line = sdp.substr(pos, eol - pos + 1);
        pos = eol + 1;
        if (line.rfind("a=candidate:", 0) == 0) {
            if (port && port->empty()) *port = port_of(line);
            std::cout << "  " << (name.empty() ? "dropped from SDP: " : "hidden in SDP: ") << line;
            if (name.empty()) continue;
            line = hide_address(line, name);
        }
        out += line;
    }
    return out;
}

/// Two peers on loopback where one side's host candidates reach the other
/// with the address replaced by `name`, and nothing else is exchanged:
///   trickled  a's trickled candidates, hidden, go to b; b resolves;
///   in SDP    b's candidates in its answer, hidden, go to a; a resolves.
/// Only the resolving side can start checks, and only after resolving.
void peer_checks(EventLoop& loop, const std::string& name, bool answered, bool in_sdp) {
    Configuration cfg;
    cfg.allowed_addresses = {"127.0.0.1"};
    PeerConnection a(loop, cfg), b(loop, cfg);
    const std::string label = std::string(in_sdp ? "answer SDP" : "trickled") + " candidate, " +
                              (answered ? "" : "unanswered ") + name;

    std::vector<IceCandidate> to_b;
    std::string hidden_port;
    a.on_ice_candidate([&](const IceCandidate& c) {
        // End of candidates is not sent: b keeps waiting for more.
        if (in_sdp || c.candidate.empty()) return;
        if (hidden_port.empty()) hidden_port = port_of(c.candidate);
        IceCandidate hidden = c;
        hidden.candidate = hide_address(c.candidate, name);
        std::cout << "  a -> b: " << hidden.candidate << std::endl;
        to_b.push_back(hidden);
    });
    b.on_ice_candidate([](const IceCandidate&) {});  // never sent
    std::string received;
    std::vector<DataChannel> at_b;
    b.on_data_channel([&](DataChannel dc) {
        dc.on_message([&](std::string_view m, bool) { received = std::string(m); });
        at_b.push_back(dc);
    });

    auto dc = a.create_data_channel("mdns");
    if (!dc.ok()) return check(false, label + ": create_data_channel: " + dc.status().message());
    bool open = false;
    dc->on_open([&] { open = true; });

    auto offer = a.create_offer();
    if (!offer.ok()) return check(false, label + ": create_offer: " + offer.status().message());
    const SessionDescription offer_to_b{SdpType::Offer, edit_candidates(offer->sdp, in_sdp ? "" : name)};
    bool ok = a.set_local_description(*offer).ok() && b.set_remote_description(offer_to_b).ok();
    // b has gathered its host candidate by now (on the offer): the answer carries it.
    auto answer = b.create_answer();
    ok = ok && answer.ok() && b.set_local_description(*answer).ok();
    if (!ok) return check(false, label + ": negotiation failed");
    const SessionDescription answer_to_a{SdpType::Answer,
                                         edit_candidates(answer->sdp, in_sdp ? name : "", in_sdp ? &hidden_port : nullptr)};
    if (!a.set_remote_description(answer_to_a).ok()) return check(false, label + ": a.set_remote_description failed");
    if (!in_sdp) {
        // a's candidates come from the loop after set_local_description.
        run_until(loop, [&] { return !to_b.empty(); }, 2s);
        for (auto& c : to_b)
            if (!b.add_ice_candidate(c).ok()) check(false, label + ": add_ice_candidate " + c.candidate);
    }
    PeerConnection& resolver = in_sdp ? a : b;

    if (answered) {
        const auto t0 = Clock::now();
        const bool connected = run_until(loop, [&] {
            return a.connection_state() == PeerConnectionState::Connected &&
                   b.connection_state() == PeerConnectionState::Connected && open;
        }, 15s);
        check(connected, label + ": connected and channel open after " + std::to_string(ms_since(t0)) + " ms (a: " +
                             to_string(a.connection_state()) + ", b: " + to_string(b.connection_state()) + ")");
        if (!connected) return;
        (void)dc->send("hello over a resolved candidate");
        run_until(loop, [&] { return !received.empty(); }, 5s);
        check(received == "hello over a resolved candidate", label + ": message received: \"" + received + "\"");
        const auto stats = resolver.get_stats();
        check(!hidden_port.empty() && stats.remote_candidate == "127.0.0.1:" + hidden_port,
              label + ": the resolving side's selected remote candidate is " + stats.remote_candidate +
                  " (the hidden host port " + hidden_port + ")");
    } else {
        run_until(loop, [] { return false; }, 3500ms);  // past the resolver's 2 s timeout
        const bool failed = a.ice_connection_state() == IceConnectionState::Failed ||
                            b.ice_connection_state() == IceConnectionState::Failed ||
                            a.connection_state() == PeerConnectionState::Failed ||
                            b.connection_state() == PeerConnectionState::Failed;
        check(!failed && resolver.connection_state() != PeerConnectionState::Connected,
              label + ": after 3.5 s, not connected and not failed (a: ice " + to_string(a.ice_connection_state()) +
                  ", b: ice " + to_string(b.ice_connection_state()) + ")");
    }
    a.close();
    b.close();
    run_until(loop, [] { return false; }, 100ms);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " NAME UNANSWERED_NAME\n";
        return 2;
    }
    const std::string name = argv[1], unanswered = argv[2];
    EventLoop loop;
    resolver_checks(loop, name, unanswered);
    peer_checks(loop, name, true, false);
    peer_checks(loop, name, true, true);
    peer_checks(loop, unanswered, false, false);
    std::cout << (failures == 0 ? "PASS" : "FAIL") << " mdns_resolve_check (" << failures << " failed)" << std::endl;
    return failures == 0 ? 0 : 1;
}
