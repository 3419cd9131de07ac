// tests/unit/ice/sim_network.hpp: a simulated UDP network on virtual time for
// ICE agents (in the spirit of str0m's netem and pion's vnet): datagram
// delivery with a delay, random extra delay (reordering), loss from a seeded
// RNG, a switch that cuts every link, NAT-like rewriting of source addresses
// (a full-cone mapping internal ↔ external), and STUN servers that answer
// Binding requests. Signalling between the agents is instant when
// `auto_signal` is on: LocalCandidate events go to the other agent's
// add_remote_candidate, GatheringComplete to end_of_remote_candidates.
#pragma once

#include "proto/ice/agent.hpp"
#include "proto/stun/message.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <vector>

namespace duplex::proto::ice::sim {

using namespace std::chrono_literals;

struct SimConfig {
    base::Duration delay = 10ms;
    base::Duration jitter = 0ms;  // extra uniform delay in [0, jitter]: reorders
    double loss = 0.0;
    std::uint64_t seed = 1;
};

/// One datagram that left a node (after NAT), as the wire saw it.
struct Sent {
    base::Instant at;
    int node;                 // sender index (-1 for a STUN server)
    base::Endpoint from;      // source after NAT
    base::Endpoint to;
    std::vector<std::byte> data;
};

class SimNetwork {
public:
    struct Node {
        Agent* agent = nullptr;
        std::vector<base::Endpoint> sockets;
        std::vector<Event> events;
        int peer = -1;  // where auto-signalling goes
    };

    explicit SimNetwork(SimConfig cfg, base::Instant t0 = base::Instant{} + 1000s)
        : cfg_(cfg), now_(t0), rng_(cfg.seed) {}

    base::Instant now() const { return now_; }
    Node& node(int i) { return nodes_[static_cast<std::size_t>(i)]; }

    /// Registers an agent and its sockets (add_host is called for each).
    int add_agent(Agent& a, std::vector<base::Endpoint> sockets) {
        nodes_.push_back(Node{&a, sockets, {}, -1});
        for (const auto& s : sockets) a.add_host(s);
        return static_cast<int>(nodes_.size() - 1);
    }
    void link(int a, int b) {
        node(a).peer = b;
        node(b).peer = a;
    }
    /// Packets from `internal` leave as `external`; packets to `external` go to `internal`.
    void add_nat(base::Endpoint internal, base::Endpoint external) {
        nat_out_[internal] = external;
        nat_in_[external] = internal;
    }
    void add_stun_server(base::Endpoint server) { stun_servers_.push_back(server); }

    bool auto_signal = true;
    bool cut = false;
    /// Drops the datagrams it says yes to (a path that opens late, a firewall).
    std::function<bool(const base::Endpoint& from, const base::Endpoint& to, base::Instant at)> drop_if;
    double& loss() { return cfg_.loss; }
    std::vector<Sent> log;
    /// Transforms candidates on their way through auto-signalling; nullopt drops.
    std::function<std::optional<Candidate>(int from, const Candidate&)> signal_filter;

    /// Delivers a datagram to node `n`'s socket `local` as if from `from`, now.
    void inject(int n, base::Endpoint local, base::Endpoint from, std::vector<std::byte> data) {
        node(n).agent->handle_stun(local, from, data, now_);
        drain();
    }

    /// Moves all pending outputs of every node onto the wire and its events
    /// into `events` (forwarding them when auto-signalling).
    void drain() {
        bool more = true;
        while (more) {
            more = false;
            for (std::size_t i = 0; i < nodes_.size(); ++i) {
                auto& n = nodes_[i];
                while (auto t = n.agent->poll_transmit()) {
                    send(static_cast<int>(i), t->local, t->destination, std::move(t->data));
                }
                while (auto e = n.agent->poll_event()) {
                    more = true;
                    n.events.push_back(*e);
                    if (!auto_signal || n.peer < 0) continue;
                    Agent& peer = *node(n.peer).agent;
                    if (auto* lc = std::get_if<event::LocalCandidate>(&*e)) {
                        std::optional<Candidate> c = lc->candidate;
                        if (signal_filter) c = signal_filter(static_cast<int>(i), lc->candidate);
                        if (c) peer.add_remote_candidate(*c, now_);
                    } else if (std::holds_alternative<event::GatheringComplete>(*e)) {
                        peer.end_of_remote_candidates();
                    }
                }
            }
        }
    }

    /// Advances virtual time to the next delivery or timeout (but not past
    /// `until`) and processes it. False when nothing is scheduled.
    bool step(std::optional<base::Instant> until = std::nullopt) {
        drain();
        std::optional<base::Instant> next;
        for (const auto& f : in_flight_) {
            if (!next || f.at < *next) next = f.at;
        }
        for (auto& n : nodes_) {
            if (auto t = n.agent->poll_timeout(); t && (!next || *t < *next)) next = *t;
        }
        if (until && (!next || *next > *until)) next = std::max(*until, now_);
        if (!next) return false;
        if (*next < now_) {
            ADD_FAILURE() << "a deadline in the past";
            return false;
        }
        if (*next == now_) {
            if (++steps_without_progress_ > 10000) {
                ADD_FAILURE() << "busy loop: no progress of time";
                return false;
            }
        } else {
            steps_without_progress_ = 0;
        }
        now_ = *next;
        // Deliver everything due, in arrival order.
        std::stable_sort(in_flight_.begin(), in_flight_.end(),
                         [](const Flight& a, const Flight& b) { return a.at < b.at; });
        std::vector<Flight> due;
        while (!in_flight_.empty() && in_flight_.front().at <= now_) {
            due.push_back(std::move(in_flight_.front()));
            in_flight_.erase(in_flight_.begin());
        }
        for (auto& f : due) deliver(f);
        for (auto& n : nodes_) {
            if (auto t = n.agent->poll_timeout(); t && *t <= now_) n.agent->handle_timeout(now_);
        }
        drain();
        return true;
    }

    /// Runs until `done()` holds or `limit` of virtual time has passed.
    bool run_until(const std::function<bool()>& done, base::Duration limit) {
        const auto end = now_ + limit;
        drain();
        while (!done()) {
            if (now_ >= end) return false;
            if (!step(end)) return done();
            if (::testing::Test::HasFailure()) return false;
        }
        return true;
    }
    void run_for(base::Duration d) {
        const auto end = now_ + d;
        run_until([&] { return now_ >= end; }, d + 1s);
    }

private:
    struct Flight {
        base::Instant at;
        base::Endpoint from;
        base::Endpoint to;
        std::vector<std::byte> data;
    };

    void send(int sender, base::Endpoint local, base::Endpoint to, std::vector<std::byte> data) {
        base::Endpoint from = local;
        if (auto it = nat_out_.find(local); it != nat_out_.end()) from = it->second;
        log.push_back(Sent{now_, sender, from, to, data});
        if (cut) return;
        if (drop_if && drop_if(from, to, now_)) return;
        if (cfg_.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < cfg_.loss) return;
        auto extra = base::Duration::zero();
        if (cfg_.jitter > base::Duration::zero()) {
            extra = base::Duration(std::uniform_int_distribution<base::Duration::rep>(0, cfg_.jitter.count())(rng_));
        }
        in_flight_.push_back(Flight{now_ + cfg_.delay + extra, from, to, std::move(data)});
    }

    void deliver(const Flight& f) {
        base::Endpoint to = f.to;
        if (auto it = nat_in_.find(to); it != nat_in_.end()) to = it->second;
        for (const auto& s : stun_servers_) {
            if (s == to) return answer_stun(s, f);
        }
        for (auto& n : nodes_) {
            if (std::find(n.sockets.begin(), n.sockets.end(), to) != n.sockets.end()) {
                n.agent->handle_stun(to, f.from, f.data, now_);
                return;
            }
        }
        // No such address: the datagram is lost (an unreachable private address).
    }

    void answer_stun(const base::Endpoint& server, const Flight& f) {
        auto m = stun::Message::parse(f.data);
        if (!m || !m->is(stun::Class::Request, stun::Method::Binding)) return;
        stun::MessageWriter w(stun::Class::SuccessResponse, stun::Method::Binding, m->transaction_id());
        w.add_xor_mapped_address(f.from);
        w.add_fingerprint();
        log.push_back(Sent{now_, -1, server, f.from, w.bytes()});
        if (cut) return;
        in_flight_.push_back(Flight{now_ + cfg_.delay, server, f.from, std::move(w).take()});
    }

    SimConfig cfg_;
    base::Instant now_;
    std::mt19937_64 rng_;
    std::vector<Node> nodes_;
    std::vector<Flight> in_flight_;
    std::map<base::Endpoint, base::Endpoint> nat_out_, nat_in_;
    std::vector<base::Endpoint> stun_servers_;
    int steps_without_progress_ = 0;
};

}  // namespace duplex::proto::ice::sim
