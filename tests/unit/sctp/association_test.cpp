// Two (or four) usrsctp associations in one process, wired back to back by a
// pump that moves SCTP packets between them, optionally through a lossy,
// reordering link with a seeded RNG. Time is virtual (usrsctp's timer wheel
// is driven by the elapsed milliseconds we pass in), except for the
// max_packet_life_time test: usrsctp measures PR-SCTP lifetimes on the real
// clock, so that one runs in real time.
#include "proto/sctp/error.hpp"
#include "proto/sctp/usrsctp_association.hpp"

#include <gtest/gtest.h>

#include <usrsctp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace duplex;
using namespace duplex::proto::sctp;
using base::Instant;
using std::chrono::milliseconds;

std::set<std::string> thread_ids() {
    std::set<std::string> ids;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ids.insert(e.path().filename());
    return ids;
}

/// True when thread `tid` is sleeping (state S in /proc/.../stat), given a
/// moment to get back to sleep.
// True when the thread is asleep (state S) or has exited (its /proc entry
// is gone: it runs nothing either); false when it stays runnable for 100
// tries, or when its stat line cannot be read as one (the test then fails
// rather than passes on a /proc it does not understand).
bool asleep(const std::string& tid) {
    for (int i = 0; i < 100; ++i) {
        std::ifstream f("/proc/self/task/" + tid + "/stat");
        if (!f) return true;  // exited
        std::string stat;
        std::getline(f, stat);
        const auto paren = stat.rfind(')');
        if (paren == std::string::npos || paren + 2 >= stat.size()) {
            ADD_FAILURE() << "cannot read the state of thread " << tid << " from '" << stat << "'";
            return false;
        }
        if (stat[paren + 2] == 'S') return true;
        std::this_thread::sleep_for(milliseconds(1));  // a thread caught running: look again
    }
    return false;
}

std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
    std::vector<std::byte> v(n);
    std::mt19937 rng(seed);
    for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
    return v;
}

base::Bytes view(const std::vector<std::byte>& v) { return {v.data(), v.size()}; }

struct Node {
    explicit Node(AssociationConfig cfg = {}) : config(cfg), assoc(make_usrsctp_association(cfg)) {}

    AssociationConfig config;
    std::unique_ptr<Association> assoc;
    std::vector<AssociationEvent> events;
    std::vector<Message> messages;
    std::size_t max_packet = 0;
    std::size_t packets_out = 0;

    void collect() {
        while (auto e = assoc->poll_event()) {
            if (auto* m = std::get_if<event::MessageReceived>(&*e)) messages.push_back(m->message);
            events.push_back(std::move(*e));
        }
    }
    template <class E>
    std::size_t count() const {
        return static_cast<std::size_t>(
            std::count_if(events.begin(), events.end(), [](const auto& e) { return std::holds_alternative<E>(e); }));
    }
    template <class E>
    const E* find() const {
        for (const auto& e : events)
            if (const auto* p = std::get_if<E>(&e)) return p;
        return nullptr;
    }
    bool has_stream_reset(std::uint16_t s) const {
        for (const auto& e : events)
            if (const auto* p = std::get_if<event::StreamReset>(&e); p && p->stream == s) return true;
        return false;
    }
    bool has_outgoing_reset(std::uint16_t s) const {
        for (const auto& e : events)
            if (const auto* p = std::get_if<event::OutgoingStreamReset>(&e); p && p->stream == s) return true;
        return false;
    }
};

/// One direction of the wire: drops and reorders with a seeded RNG.
struct Link {
    double loss = 0;
    double reorder = 0;
    std::mt19937 rng{1};
    std::vector<std::vector<std::byte>> held;
    std::size_t dropped = 0;

    bool chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < p; }
};

/// A set of association pairs sharing one clock, pumped together (usrsctp's
/// timers are global: driving one association may produce packets for all).
class World {
public:
    explicit World(bool real_time = false) : real_time_(real_time) {
        now_ = real_time ? base::Clock::now() : Instant{} + std::chrono::hours(1);
    }

    struct Pair {
        Node* a;
        Node* b;
        Link ab, ba;
    };

    Pair& add_pair(Node& a, Node& b, double loss = 0, double reorder = 0, std::uint32_t seed = 1) {
        pairs_.push_back(std::make_unique<Pair>(Pair{&a, &b, {}, {}}));
        Pair& p = *pairs_.back();
        p.ab.loss = p.ba.loss = loss;
        p.ab.reorder = p.ba.reorder = reorder;
        p.ab.rng.seed(seed);
        p.ba.rng.seed(seed + 1000);
        return p;
    }

    Instant now() const { return now_; }

    void connect_all() {
        for (auto& p : pairs_) {
            p->a->assoc->connect(now_);
            p->b->assoc->connect(now_);
        }
        pump();
    }

    /// Moves packets until no association has any to send.
    void pump() {
        for (int guard = 0; guard < 100000; ++guard) {
            bool moved = false;
            for (auto& p : pairs_) {
                moved |= move(*p->a, *p->b, p->ab);
                moved |= move(*p->b, *p->a, p->ba);
            }
            for (auto& p : pairs_) {
                p->a->collect();
                p->b->collect();
            }
            if (!moved) {
                // Release what the reordering held back.
                bool released = false;
                for (auto& p : pairs_) {
                    released |= release(*p->b, p->ab);
                    released |= release(*p->a, p->ba);
                }
                if (!released) return;
            }
        }
        FAIL() << "pump did not settle";
    }

    /// Pumps, then advances the clock to the earliest deadline and fires it.
    void step() {
        pump();
        std::optional<Instant> next;
        for (auto& p : pairs_)
            for (Node* n : {p->a, p->b})
                if (auto t = n->assoc->poll_timeout()) next = next ? std::min(*next, *t) : *t;
        if (!next) next = now_ + milliseconds(10);
        if (real_time_) {
            if (*next > base::Clock::now()) std::this_thread::sleep_until(*next);
            now_ = base::Clock::now();
        } else {
            now_ = std::max(now_, *next);
        }
        for (auto& p : pairs_)
            for (Node* n : {p->a, p->b})
                if (auto t = n->assoc->poll_timeout(); t && *t <= now_) n->assoc->handle_timeout(now_);
        pump();
    }

    bool run_until(const std::function<bool()>& done, base::Duration limit) {
        const Instant end = now_ + limit;
        while (!done()) {
            if (now_ >= end) return false;
            step();
        }
        return true;
    }

private:
    bool move(Node& from, Node& to, Link& link) {
        bool moved = false;
        while (auto pkt = from.assoc->poll_transmit()) {
            moved = true;
            ++from.packets_out;
            from.max_packet = std::max(from.max_packet, pkt->size());
            if (link.chance(link.loss)) {
                ++link.dropped;
                continue;
            }
            if (link.held.empty() && link.chance(link.reorder)) {
                link.held.push_back(std::move(*pkt));
                continue;
            }
            to.assoc->handle_packet(view(*pkt), now_);
            release(to, link);
        }
        return moved;
    }
    bool release(Node& to, Link& link) {
        if (link.held.empty()) return false;
        auto held = std::move(link.held);
        link.held.clear();
        for (auto& h : held) to.assoc->handle_packet(view(h), now_);
        return true;
    }

    bool real_time_;
    Instant now_;
    std::vector<std::unique_ptr<Pair>> pairs_;
};

bool connected(const Node& n) { return n.assoc->state() == State::Connected; }

/// Connects a pair (both sides at once, as WebRTC does) on a fresh world.
void connect_pair(World& w, Node& a, Node& b) {
    w.connect_all();
    ASSERT_TRUE(w.run_until([&] { return connected(a) && connected(b); }, std::chrono::seconds(30)));
}

TEST(UsrsctpAssociation, BothSidesConnectAtOnce) {
    Node a, b;
    World w;
    w.add_pair(a, b);
    EXPECT_EQ(a.assoc->state(), State::New);
    EXPECT_EQ(a.assoc->poll_timeout(), std::nullopt);
    a.assoc->connect(w.now());
    b.assoc->connect(w.now());
    EXPECT_EQ(a.assoc->state(), State::Connecting);
    EXPECT_EQ(b.assoc->state(), State::Connecting);
    EXPECT_NE(a.assoc->poll_timeout(), std::nullopt);
    ASSERT_TRUE(w.run_until([&] { return connected(a) && connected(b); }, std::chrono::seconds(30)));
    EXPECT_EQ(a.count<event::Connected>(), 1u);
    EXPECT_EQ(b.count<event::Connected>(), 1u);
    EXPECT_EQ(a.count<event::Failed>() + b.count<event::Failed>(), 0u);
}

TEST(UsrsctpAssociation, APacketBeforeConnectStartsTheAssociation) {
    Node a, b;
    World w;
    w.add_pair(a, b);
    a.assoc->connect(w.now());  // b's DTLS is "late": its connect() never comes
    ASSERT_TRUE(w.run_until([&] { return connected(a) && connected(b); }, std::chrono::seconds(30)));
    EXPECT_EQ(b.count<event::Connected>(), 1u);
}

TEST(UsrsctpAssociation, MessagesOnSeveralStreamsArriveIntactAndPacketsFitTheMtu) {
    AssociationConfig cfg;
    cfg.remote_max_message_size = 256 * 1024;
    Node a(cfg), b(cfg);
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);

    struct Case {
        std::uint16_t stream;
        std::uint32_t ppid;
        std::size_t size;
    };
    const std::vector<Case> cases = {{0, 51, 1}, {1, 53, 100}, {5, 50, 5000}, {1023, 57, 65536}, {7, 53, 200000}};
    std::uint32_t seed = 10;
    for (const auto& c : cases) ASSERT_TRUE(a.assoc->send(c.stream, c.ppid, view(pattern(c.size, seed++)), {}).ok());
    ASSERT_TRUE(b.assoc->send(2, 51, view(pattern(300, 99)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == cases.size() && a.messages.size() == 1; },
                            std::chrono::seconds(30)));
    // Different streams may be delivered in any order: match by stream.
    seed = 10;
    for (const auto& c : cases) {
        auto it = std::find_if(b.messages.begin(), b.messages.end(), [&](const Message& m) { return m.stream == c.stream; });
        ASSERT_NE(it, b.messages.end()) << "stream " << c.stream;
        EXPECT_EQ(it->ppid, c.ppid);
        EXPECT_EQ(it->data, pattern(c.size, seed++)) << "stream " << c.stream;
    }
    EXPECT_EQ(a.messages[0].stream, 2);
    EXPECT_EQ(a.messages[0].ppid, 51u);
    EXPECT_EQ(a.messages[0].data, pattern(300, 99));
    EXPECT_LE(a.max_packet, cfg.mtu);
    EXPECT_LE(b.max_packet, cfg.mtu);
    EXPECT_GT(a.max_packet, cfg.mtu - 100);  // big messages fill packets up to the MTU
}

/// Sends `total` bytes in `chunk`-sized messages on one stream, respecting
/// buffered_amount, and checks they arrive byte-exact and in order.
void reliable_transfer(World& w, Node& a, Node& b, std::size_t total, std::size_t chunk) {
    const auto data = pattern(total, 42);
    std::size_t sent = 0;
    std::size_t backpressured = 0;
    const std::size_t high_water = 1024 * 1024;
    auto progress = [&] {
        while (sent < total && a.assoc->buffered_amount(3) < high_water) {
            const std::size_t n = std::min(chunk, total - sent);
            auto st = a.assoc->send(3, 53, base::Bytes(data.data() + sent, n), {});
            if (st == Errc::backpressure_limit) {
                ++backpressured;
                break;
            }
            EXPECT_TRUE(st.ok()) << st.message();
            if (!st.ok()) return true;
            sent += n;
        }
        return sent == total && a.assoc->buffered_amount(3) == 0 && [&] {
            std::size_t got = 0;
            for (const auto& m : b.messages) got += m.data.size();
            return got == total;
        }();
    };
    ASSERT_TRUE(w.run_until(progress, std::chrono::minutes(30)));
    std::vector<std::byte> joined;
    joined.reserve(total);
    for (const auto& m : b.messages) {
        EXPECT_EQ(m.stream, 3);
        EXPECT_EQ(m.ppid, 53u);
        joined.insert(joined.end(), m.data.begin(), m.data.end());
    }
    EXPECT_EQ(b.messages.size(), (total + chunk - 1) / chunk);
    EXPECT_TRUE(joined == data) << "the transfer is not byte-exact";
}

TEST(UsrsctpAssociation, TenMiBReliableTransferIsByteExactAndInOrder) {
    AssociationConfig cfg;
    cfg.send_buffer = 2 * 1024 * 1024;
    Node a(cfg), b(cfg);
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    reliable_transfer(w, a, b, 10 * 1024 * 1024, 64 * 1024);
    EXPECT_TRUE(connected(a) && connected(b));
}

TEST(UsrsctpAssociation, ReliableTransferSurvivesLossAndReordering) {
    AssociationConfig cfg;
    Node a(cfg), b(cfg);
    World w;
    auto& link = w.add_pair(a, b, /*loss=*/0.05, /*reorder=*/0.05, /*seed=*/7);
    connect_pair(w, a, b);
    reliable_transfer(w, a, b, 2 * 1024 * 1024, 64 * 1024);
    EXPECT_GT(link.ab.dropped, 0u);  // the loss really happened
    EXPECT_TRUE(connected(a) && connected(b));
}

/// Sends `count` small numbered messages with `rel` over a lossy link; returns
/// the numbers that arrived.
std::vector<std::uint32_t> lossy_partial_reliability(World& w, Node& a, Node& b, const Reliability& rel,
                                                     std::uint32_t count, base::Duration pace) {
    std::vector<std::uint32_t> got;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::vector<std::byte> msg(200, std::byte{0x5a});
        base::store_be32(msg.data(), i);
        EXPECT_TRUE(a.assoc->send(9, 53, view(msg), rel).ok());
        const Instant until = w.now() + pace;
        w.run_until([&] { return w.now() >= until; }, pace + milliseconds(50));
    }
    // A reliable marker after them on another stream: it must get through.
    EXPECT_TRUE(a.assoc->send(10, 51, view(pattern(10, 1)), {}).ok());
    EXPECT_TRUE(w.run_until([&] { return std::any_of(b.messages.begin(), b.messages.end(),
                                                     [](const Message& m) { return m.stream == 10; }); },
                            std::chrono::seconds(60)));
    // Give retransmissions of the surviving messages time to land.
    const Instant settle = w.now() + std::chrono::milliseconds(1500);
    w.run_until([&] { return w.now() >= settle; }, std::chrono::seconds(2));
    for (const auto& m : b.messages)
        if (m.stream == 9) got.push_back(base::load_be32(m.data.data()));
    return got;
}

TEST(UsrsctpAssociation, UnorderedWithoutRetransmitsLosesMessagesButDoesNotStall) {
    // Real time: usrsctp picks the chunks a T3 timeout retransmits or
    // abandons by their age on the wall clock (sctp_timer.c), so loss
    // recovery with partial reliability needs both clocks to agree.
    Node a, b;
    World w(/*real_time=*/true);
    auto& link = w.add_pair(a, b, /*loss=*/0.2, 0, /*seed=*/3);
    connect_pair(w, a, b);
    Reliability rel;
    rel.ordered = false;
    rel.max_retransmits = 0;
    const std::uint32_t n = 200;
    const auto got = lossy_partial_reliability(w, a, b, rel, n, milliseconds(5));
    EXPECT_GT(link.ab.dropped, 0u);
    EXPECT_LT(got.size(), n) << "with 20 % loss and no retransmission some messages must be lost";
    EXPECT_GT(got.size(), n / 2);
    // No stall: messages from the end of the run arrived too.
    EXPECT_TRUE(std::any_of(got.begin(), got.end(), [&](std::uint32_t i) { return i >= n - 20; }));
    std::set<std::uint32_t> unique(got.begin(), got.end());
    EXPECT_EQ(unique.size(), got.size()) << "no duplicates";
    EXPECT_TRUE(connected(a) && connected(b));
}

TEST(UsrsctpAssociation, MaxPacketLifeTimeLosesMessagesButDoesNotStall) {
    // usrsctp checks PR-SCTP lifetimes against its own real-clock reading:
    // this test runs in real time.
    Node a, b;
    World w(/*real_time=*/true);
    auto& link = w.add_pair(a, b, /*loss=*/0.2, 0, /*seed=*/5);
    connect_pair(w, a, b);
    Reliability rel;
    rel.ordered = true;
    rel.max_packet_life_time_ms = 30;
    const std::uint32_t n = 150;
    const auto got = lossy_partial_reliability(w, a, b, rel, n, milliseconds(2));
    EXPECT_GT(link.ab.dropped, 0u);
    EXPECT_LT(got.size(), n) << "messages older than their lifetime must be abandoned";
    EXPECT_GT(got.size(), n / 2);
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end())) << "ordered delivery among what arrived";
    EXPECT_TRUE(std::any_of(got.begin(), got.end(), [&](std::uint32_t i) { return i >= n - 20; }));
    EXPECT_TRUE(connected(a) && connected(b));
}

TEST(UsrsctpAssociation, StreamResetReachesThePeerAndOtherStreamsKeepWorking) {
    Node a, b;
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    ASSERT_TRUE(a.assoc->send(3, 51, view(pattern(2000, 1)), {}).ok());
    a.assoc->reset_stream(3);
    // The stream is closing: no new messages on it.
    EXPECT_EQ(a.assoc->send(3, 51, view(pattern(10, 1)), {}), Errc::invalid_state);
    ASSERT_TRUE(w.run_until([&] { return b.has_stream_reset(3) && a.has_outgoing_reset(3); }, std::chrono::seconds(30)));
    // The message queued before the reset arrived first (RFC 8831 §6.7).
    ASSERT_EQ(b.messages.size(), 1u);
    EXPECT_EQ(b.messages[0].data, pattern(2000, 1));
    EXPECT_FALSE(b.has_stream_reset(4));

    // The other side answers by resetting its outgoing stream 3.
    b.assoc->reset_stream(3);
    ASSERT_TRUE(w.run_until([&] { return a.has_stream_reset(3) && b.has_outgoing_reset(3); }, std::chrono::seconds(30)));

    // Stream 4 was never touched.
    ASSERT_TRUE(a.assoc->send(4, 53, view(pattern(500, 4)), {}).ok());
    ASSERT_TRUE(b.assoc->send(4, 53, view(pattern(600, 5)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == 2 && a.messages.size() == 1; }, std::chrono::seconds(30)));
    EXPECT_EQ(b.messages[1].stream, 4);
    EXPECT_EQ(b.messages[1].data, pattern(500, 4));
    EXPECT_EQ(a.messages[0].data, pattern(600, 5));

    // The reset stream number carries a new channel again.
    ASSERT_TRUE(a.assoc->send(3, 50, view(pattern(30, 6)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == 3; }, std::chrono::seconds(30)));
    EXPECT_EQ(b.messages[2].stream, 3);
    EXPECT_EQ(b.messages[2].ppid, 50u);
    EXPECT_TRUE(connected(a) && connected(b));
}

TEST(UsrsctpAssociation, SendRefusesWhatItCannotCarry) {
    AssociationConfig cfg;
    cfg.remote_max_message_size = 65536;
    cfg.streams = 16;
    Node a(cfg), b(cfg);
    EXPECT_EQ(a.assoc->send(0, 51, view(pattern(10, 1)), {}), Errc::invalid_state);  // not connected
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    EXPECT_EQ(a.assoc->send(0, 53, view(pattern(65537, 1)), {}), Errc::message_too_big);
    EXPECT_EQ(a.assoc->send(16, 53, view(pattern(10, 1)), {}), Errc::invalid_argument);  // no such stream
    EXPECT_EQ(a.assoc->send(0, 53, base::Bytes{}, {}), Errc::invalid_argument);         // empty
    Reliability both;
    both.max_retransmits = 1;
    both.max_packet_life_time_ms = 100;
    EXPECT_EQ(a.assoc->send(0, 53, view(pattern(10, 1)), both), Errc::invalid_argument);
    // Exactly the peer's limit is fine.
    ASSERT_TRUE(a.assoc->send(0, 53, view(pattern(65536, 2)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == 1; }, std::chrono::seconds(30)));
    EXPECT_EQ(b.messages[0].data, pattern(65536, 2));
}

TEST(UsrsctpAssociation, BackpressureAndBufferedAmountLow) {
    AssociationConfig cfg;
    cfg.send_buffer = 256 * 1024;
    cfg.stack_send_buffer = 128 * 1024;
    Node a(cfg), b(cfg);
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    a.assoc->set_buffered_amount_low_threshold(1, 16 * 1024);
    // Without pumping, the stack's buffer fills, then ours, then send refuses.
    std::size_t accepted = 0;
    base::Status st;
    for (int i = 0; i < 1000; ++i) {
        st = a.assoc->send(1, 53, view(pattern(16 * 1024, 3)), {});
        if (!st.ok()) break;
        ++accepted;
    }
    EXPECT_EQ(st, Errc::backpressure_limit);
    EXPECT_GT(a.assoc->buffered_amount(1), 16u * 1024);
    EXPECT_LE(a.assoc->buffered_amount(1), cfg.send_buffer);
    EXPECT_EQ(a.assoc->buffered_amount(2), 0u);
    EXPECT_EQ(a.assoc->buffered_amount_total(), a.assoc->buffered_amount(1));
    a.collect();
    EXPECT_EQ(a.count<event::BufferedAmountLow>(), 0u);
    ASSERT_TRUE(w.run_until([&] { return a.count<event::BufferedAmountLow>() > 0; }, std::chrono::seconds(30)));
    EXPECT_LE(a.assoc->buffered_amount(1), 16u * 1024);
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == accepted; }, std::chrono::seconds(60)));
}

TEST(UsrsctpAssociation, OversizedInboundMessageAbortsTheAssociation) {
    AssociationConfig small;
    small.max_message_size = 16 * 1024;
    AssociationConfig liar;  // ignores the receiver's a=max-message-size
    liar.remote_max_message_size = 256 * 1024;
    Node a(liar), b(small);
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    ASSERT_TRUE(a.assoc->send(0, 53, view(pattern(100 * 1024, 1)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return b.assoc->state() == State::Failed; }, std::chrono::seconds(30)));
    const auto* f = b.find<event::Failed>();
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->error, make_error_code(SctpError::message_too_big));
    EXPECT_TRUE(b.messages.empty());
    // The sender hears the ABORT.
    ASSERT_TRUE(w.run_until([&] { return a.assoc->state() == State::Closed || a.assoc->state() == State::Failed; },
                            std::chrono::seconds(30)));
    EXPECT_EQ(b.assoc->poll_timeout(), std::nullopt);
    // A message at the limit would have been fine (checked on a fresh pair).
    Node c(liar), d(small);
    World w2;
    w2.add_pair(c, d);
    connect_pair(w2, c, d);
    ASSERT_TRUE(c.assoc->send(0, 53, view(pattern(16 * 1024, 2)), {}).ok());
    ASSERT_TRUE(w2.run_until([&] { return d.messages.size() == 1; }, std::chrono::seconds(30)));
    EXPECT_EQ(d.messages[0].data, pattern(16 * 1024, 2));
}

TEST(UsrsctpAssociation, TwoPairsAtOnceStayIndependent) {
    Node a, b, c, d;
    World w;
    w.add_pair(a, b);
    w.add_pair(c, d, 0.0, 0.1, 11);  // reordered, not lossy: usrsctp reads the real clock for RTOs (decision 0009)
    w.connect_all();
    ASSERT_TRUE(w.run_until([&] { return connected(a) && connected(b) && connected(c) && connected(d); },
                            std::chrono::seconds(60)));
    EXPECT_EQ(usrsctp_live_associations(), 4u);
    for (std::uint32_t i = 0; i < 20; ++i) {
        ASSERT_TRUE(a.assoc->send(1, 53, view(pattern(3000, 100 + i)), {}).ok());
        ASSERT_TRUE(c.assoc->send(1, 53, view(pattern(3000, 200 + i)), {}).ok());
        ASSERT_TRUE(d.assoc->send(2, 51, view(pattern(50, 300 + i)), {}).ok());
    }
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == 20 && d.messages.size() == 20 && c.messages.size() == 20; },
                            std::chrono::seconds(120)));
    for (std::uint32_t i = 0; i < 20; ++i) {
        EXPECT_EQ(b.messages[i].data, pattern(3000, 100 + i));
        EXPECT_EQ(d.messages[i].data, pattern(3000, 200 + i));
        EXPECT_EQ(c.messages[i].data, pattern(50, 300 + i));
    }
    EXPECT_TRUE(a.messages.empty());
    // Closing one pair leaves the other working.
    a.assoc->close();
    ASSERT_TRUE(w.run_until([&] { return a.assoc->state() == State::Closed && b.assoc->state() == State::Closed; },
                            std::chrono::seconds(60)));
    ASSERT_TRUE(c.assoc->send(1, 53, view(pattern(10, 7)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return d.messages.size() == 21; }, std::chrono::seconds(60)));
    EXPECT_TRUE(connected(c) && connected(d));
}

TEST(UsrsctpAssociation, GracefulCloseDeliversQueuedDataThenClosesBothSides) {
    Node a, b;
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    for (std::uint32_t i = 0; i < 30; ++i) ASSERT_TRUE(a.assoc->send(0, 53, view(pattern(60000, i)), {}).ok());
    a.assoc->close();
    EXPECT_EQ(a.assoc->state(), State::Closing);
    EXPECT_EQ(a.assoc->send(0, 53, view(pattern(10, 1)), {}), Errc::invalid_state);
    ASSERT_TRUE(w.run_until([&] { return a.assoc->state() == State::Closed && b.assoc->state() == State::Closed; },
                            std::chrono::seconds(60)));
    ASSERT_EQ(b.messages.size(), 30u);
    for (std::uint32_t i = 0; i < 30; ++i) EXPECT_EQ(b.messages[i].data, pattern(60000, i));
    EXPECT_EQ(a.count<event::Closed>(), 1u);
    EXPECT_EQ(b.count<event::Closed>(), 1u);
    EXPECT_EQ(a.assoc->poll_timeout(), std::nullopt);
}

TEST(UsrsctpAssociation, AbortIsHeardByThePeer) {
    Node a, b;
    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    a.assoc->abort();
    EXPECT_EQ(a.assoc->state(), State::Closed);
    ASSERT_TRUE(w.run_until([&] { return b.assoc->state() != State::Connected; }, std::chrono::seconds(30)));
    EXPECT_EQ(b.assoc->state(), State::Closed);
    const auto* c = b.find<event::Closed>();
    ASSERT_NE(c, nullptr);
    EXPECT_NE(c->reason.find("peer"), std::string::npos);
}

TEST(UsrsctpAssociation, UnansweredInitFailsOnVirtualTime) {
    // Nobody answers: INIT is retransmitted on the timers we drive, then the
    // association gives up (RFC 9260 §5.1 Max.Init.Retransmits). In virtual
    // time that takes no real time.
    Node a;
    const Instant t0 = Instant{} + std::chrono::hours(2);
    Instant now = t0;
    a.assoc->connect(now);
    std::size_t inits = 0;
    const auto real_start = base::Clock::now();
    while (a.assoc->state() == State::Connecting && now - t0 < std::chrono::minutes(10)) {
        while (a.assoc->poll_transmit()) ++inits;
        now = std::max(now, *a.assoc->poll_timeout());
        a.assoc->handle_timeout(now);
        a.collect();
    }
    EXPECT_EQ(a.assoc->state(), State::Failed);
    const auto* f = a.find<event::Failed>();
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->error, make_error_code(SctpError::cannot_start));
    EXPECT_GE(inits, 3u);  // retransmitted
    EXPECT_GT(now - t0, std::chrono::seconds(5));                                  // virtual time passed...
    EXPECT_LT(base::Clock::now() - real_start, std::chrono::seconds(20));          // ...real time hardly
}

// Garbage never crashes the machine, in two cases with one outcome each.
// Before the association exists, anything goes in, and a connection made
// afterwards works. Once connected, packets that do not carry the
// association's verification tag are discarded (RFC 9260 §8.5): the
// association stays up and delivers. (The tags are random, drawn by usrsctp:
// garbage names the right one with a chance of 2^-32 per packet.)
TEST(UsrsctpAssociation, GarbageInputNeverCrashes) {
    Node a, b;
    World w;
    w.add_pair(a, b);
    std::mt19937 rng(1234);
    auto feed_garbage = [&](Association& x, int rounds, bool zero_tags) {
        for (int i = 0; i < rounds; ++i) {
            std::vector<std::byte> g(rng() % 1500);
            for (auto& byte : g) byte = static_cast<std::byte>(rng() & 0xff);
            if (g.size() >= 12 && (i % 2) == 0) {
                // A plausible common header (ports 5000) with a valid CRC32c,
                // so chunk parsing itself sees the garbage.
                base::store_be16(g.data(), 5000);
                base::store_be16(g.data() + 2, 5000);
                if (zero_tags && (i % 4) == 0) base::store_be32(g.data() + 4, 0);
                if (!zero_tags && base::load_be32(g.data() + 4) == 0) base::store_be32(g.data() + 4, 1);
                std::memset(g.data() + 8, 0, 4);
                const std::uint32_t crc = usrsctp_crc32c(g.data(), g.size());
                std::memcpy(g.data() + 8, &crc, 4);  // usrsctp_crc32c returns it in wire order
            }
            x.handle_packet(view(g), w.now());
            while (x.poll_transmit()) {}
        }
    };
    feed_garbage(*a.assoc, 300, true);  // before connecting: INITs with tag 0 included
    a.collect();
    connect_pair(w, a, b);
    ASSERT_TRUE(connected(a) && connected(b));
    feed_garbage(*b.assoc, 2000, false);  // connected: never the tag 0 of an INIT
    w.pump();
    ASSERT_TRUE(connected(a) && connected(b)) << "garbage with a wrong tag ended the association";
    ASSERT_TRUE(a.assoc->send(0, 51, view(pattern(100, 1)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return !b.messages.empty(); }, std::chrono::seconds(30)));
    EXPECT_EQ(b.messages.back().data, pattern(100, 1));
}

TEST(UsrsctpAssociation, AssociationsStartNoThread) {
    // usrsctp_init_nothreads() starts no timer and no receive thread, but
    // usrsctp always creates its "iterator" thread at init, asleep until an
    // iterator is queued (docs/decisions/0009). So: at most that one thread
    // appears with the library, none while associations work, and every
    // thread but ours is asleep.
    const auto before = thread_ids();
    const bool was_initialised = usrsctp_initialised();
    Node a, b;
    const auto with_library = thread_ids();
    std::size_t extra = 0;
    for (const auto& t : with_library) extra += before.count(t) ? 0 : 1;
    EXPECT_LE(extra, was_initialised ? 0u : 1u);

    World w;
    w.add_pair(a, b);
    connect_pair(w, a, b);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(a.assoc->send(0, 51, view(pattern(60000, 1)), {}).ok());
    ASSERT_TRUE(w.run_until([&] { return b.messages.size() == 20; }, std::chrono::seconds(30)));
    a.assoc->reset_stream(0);
    ASSERT_TRUE(w.run_until([&] { return b.has_stream_reset(0); }, std::chrono::seconds(30)));
    a.assoc->close();
    ASSERT_TRUE(w.run_until([&] { return b.assoc->state() == State::Closed; }, std::chrono::seconds(30)));

    EXPECT_EQ(thread_ids(), with_library) << "a thread was started while associations ran";
    const std::string self = std::filesystem::read_symlink("/proc/self").string();
    for (const auto& t : thread_ids()) {
        if (t != self) {
            EXPECT_TRUE(asleep(t)) << "thread " << t << " is busy";
        }
    }
}

// Keep last: it tears usrsctp down for the rest of the process.
TEST(UsrsctpAssociation, ReleaseTearsTheLibraryDownOnlyWhenUnused) {
    ASSERT_EQ(usrsctp_live_associations(), 0u);
    {
        Node a;
        EXPECT_TRUE(usrsctp_initialised());
        EXPECT_FALSE(usrsctp_release_library()) << "refused while an association lives";
    }
    const auto with_library = thread_ids();
    ASSERT_TRUE(usrsctp_release_library());
    EXPECT_FALSE(usrsctp_initialised());
    EXPECT_LE(thread_ids().size(), with_library.size());  // the iterator thread was joined
    {
        // A later association initialises usrsctp again and works.
        Node c, d;
        World w;
        w.add_pair(c, d);
        connect_pair(w, c, d);
        EXPECT_TRUE(usrsctp_initialised());
        ASSERT_TRUE(c.assoc->send(1, 51, view(pattern(1000, 9)), {}).ok());
        ASSERT_TRUE(w.run_until([&] { return d.messages.size() == 1; }, std::chrono::seconds(30)));
        EXPECT_EQ(d.messages[0].data, pattern(1000, 9));
    }
    EXPECT_TRUE(usrsctp_release_library());
}

}  // namespace
