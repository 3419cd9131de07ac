// libFuzzer target: an ICE agent that has connected to a peer (a real
// handshake between two agents, run in-process first) is fed datagrams built
// from the input, with time moving on between them. The input is a series of
// records:
//   [kind][source][delay ms][len][len bytes]
//   kind % 3 == 0: the bytes as a raw datagram;
//   kind % 3 == 1: the bytes as attribute TLVs of a Binding request, signed
//                  with the agent's password (MESSAGE-INTEGRITY, FINGERPRINT),
//                  so that the checks behind authentication are reached;
//   kind % 3 == 2: the same as a success/error response to the agent's last
//                  request, signed with the peer's password.
// It must never crash, hang, or let its queues grow without bound.
#include "proto/ice/agent.hpp"
#include "proto/stun/message.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace {

using namespace duplex;
using namespace duplex::proto;

base::Endpoint ep(const char* s) { return *base::Endpoint::parse(s); }

const ice::Credentials kA{"fuzzA", "fuzz-password-A-0123456789"};
const ice::Credentials kB{"fuzzB", "fuzz-password-B-0123456789"};

struct Harness {
    base::Instant now = base::Instant{} + std::chrono::seconds(1000);
    ice::Agent a;
    ice::Agent b;
    std::optional<stun::TransactionId> last_request;  // A's most recent request
    std::size_t transmits = 0;

    static ice::AgentConfig config(bool controlling, std::uint64_t tb, ice::Credentials c) {
        ice::AgentConfig cfg;
        cfg.controlling = controlling;
        cfg.tie_breaker = tb;
        cfg.local = std::move(c);
        return cfg;
    }

    Harness() : a(config(true, 2, kA), now), b(config(false, 1, kB), now) {
        a.add_host(ep("10.0.0.1:5000"));
        b.add_host(ep("10.0.0.2:6000"));
        a.set_remote_credentials(kB);
        b.set_remote_credentials(kA);
        // Exchange candidates, then run the two agents against each other.
        while (auto e = a.poll_event()) {
            if (auto* lc = std::get_if<ice::event::LocalCandidate>(&*e)) b.add_remote_candidate(lc->candidate, now);
        }
        while (auto e = b.poll_event()) {
            if (auto* lc = std::get_if<ice::event::LocalCandidate>(&*e)) a.add_remote_candidate(lc->candidate, now);
        }
        for (int i = 0; i < 200 && a.state() != ice::IceState::Connected && a.state() != ice::IceState::Completed; ++i) {
            exchange();
            tick(std::chrono::milliseconds(10));
        }
    }

    // Delivers every pending datagram between A and B (B only talks to A).
    void exchange() {
        for (int round = 0; round < 8; ++round) {
            bool any = false;
            while (auto t = a.poll_transmit()) {
                note(*t);
                any = true;
                if (t->destination == ep("10.0.0.2:6000")) b.handle_stun(t->destination, t->local, t->data, now);
            }
            while (auto t = b.poll_transmit()) {
                any = true;
                if (t->destination == ep("10.0.0.1:5000")) a.handle_stun(t->destination, t->local, t->data, now);
            }
            if (!any) break;
        }
        while (a.poll_event()) {}
        while (b.poll_event()) {}
    }

    void note(const ice::Transmit& t) {
        ++transmits;
        auto m = stun::Message::parse(t.data);
        if (m && m->cls() == stun::Class::Request) last_request = m->transaction_id();
    }

    void tick(base::Duration d) {
        now += d;
        for (ice::Agent* x : {&a, &b}) {
            // Deadlines are never in the past, and handling one moves on.
            if (auto t = x->poll_timeout(); t && *t <= now) x->handle_timeout(now);
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Harness h;
    std::size_t off = 0;
    const base::Endpoint sources[] = {ep("10.0.0.2:6000"), ep("10.0.0.3:7000"), ep("[fd00::9]:9"),
                                      ep("10.0.0.2:6001")};
    while (off + 4 <= size) {
        const std::uint8_t kind = data[off];
        const base::Endpoint from = sources[data[off + 1] % 4];
        const auto delay = std::chrono::milliseconds(data[off + 2] * 20);
        const std::size_t len = std::min<std::size_t>(data[off + 3], size - off - 4);
        const auto* body = reinterpret_cast<const std::byte*>(data + off + 4);
        off += 4 + len;

        std::vector<std::byte> datagram;
        if (kind % 3 == 0) {
            datagram.assign(body, body + len);
        } else {
            const bool request = kind % 3 == 1;
            stun::TransactionId id{};
            if (!request && h.last_request) id = *h.last_request;
            const auto cls = request ? stun::Class::Request
                                     : ((kind & 0x80) != 0 ? stun::Class::ErrorResponse : stun::Class::SuccessResponse);
            stun::MessageWriter w(cls, stun::Method::Binding, id);
            // The body as TLVs: [type hi][type lo][len][value…]
            std::size_t p = 0;
            while (p + 3 <= len) {
                const auto type = static_cast<std::uint16_t>((std::to_integer<unsigned>(body[p]) << 8) |
                                                             std::to_integer<unsigned>(body[p + 1]));
                const std::size_t vlen = std::min<std::size_t>(std::to_integer<std::size_t>(body[p + 2]), len - p - 3);
                // Integrity and fingerprint are added by the writer below.
                if (type != 0x0008 && type != 0x001C && type != 0x8028) {
                    w.add_bytes(static_cast<stun::AttributeType>(type), base::Bytes(body + p + 3, vlen));
                }
                p += 3 + vlen;
            }
            const std::string& pwd = request ? kA.pwd : kB.pwd;
            if ((kind & 0x40) == 0) w.add_message_integrity(base::as_bytes(pwd));
            w.add_fingerprint();
            datagram = std::move(w).take();
        }
        h.a.handle_stun(ep("10.0.0.1:5000"), from, datagram, h.now);
        h.exchange();
        h.tick(delay);
        h.exchange();
    }
    // Let time run on: whatever happened, the agent settles without a busy loop.
    for (int i = 0; i < 50; ++i) {
        auto t = h.a.poll_timeout();
        if (!t) break;
        if (*t < h.now) __builtin_trap();
        h.now = *t;
        h.a.handle_timeout(h.now);
        h.exchange();
    }
    if (h.a.selected_pair() && h.a.state() == ice::IceState::Failed) __builtin_trap();
    return 0;
}
