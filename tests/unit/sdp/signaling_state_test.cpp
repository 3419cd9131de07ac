// The W3C signaling state machine (webrtc-pc §4.3.1; RFC 8829 §5.5-§5.7):
// every (state, side, type) pair, legal and illegal.
#include "proto/sdp/signaling_state.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sdp = duplex::proto::sdp;
using S = sdp::SignalingState;
using T = sdp::SdpType;

namespace {

// Drives a fresh machine into `target` through legal calls only.
sdp::SignalingMachine machine_in(S target) {
    sdp::SignalingMachine m;
    auto step = [&](bool local, T type) {
        auto r = local ? m.set_local(type) : m.set_remote(type);
        EXPECT_TRUE(std::holds_alternative<sdp::SignalingTransition>(r));
    };
    switch (target) {
    case S::stable: break;
    case S::have_local_offer: step(true, T::offer); break;
    case S::have_remote_offer: step(false, T::offer); break;
    case S::have_local_pranswer: step(false, T::offer); step(true, T::pranswer); break;
    case S::have_remote_pranswer: step(true, T::offer); step(false, T::pranswer); break;
    case S::closed: m.close(); break;
    }
    EXPECT_EQ(m.state(), target);
    return m;
}

struct Row {
    S from;
    bool local;
    T type;
    std::optional<S> to;  // nullopt: InvalidStateError
};

// The table, written out from the spec rather than derived from the code:
// set_local: offer in stable/have-local-offer; pranswer and answer in
// have-remote-offer/have-local-pranswer. set_remote mirrors it, and also
// takes an offer in have-local-offer (implicit rollback). Rollback only from
// have-local-offer or have-remote-offer. Nothing in closed.
const std::vector<Row> kTable = {
    // stable
    {S::stable, true, T::offer, S::have_local_offer},
    {S::stable, true, T::pranswer, std::nullopt},
    {S::stable, true, T::answer, std::nullopt},
    {S::stable, true, T::rollback, std::nullopt},
    {S::stable, false, T::offer, S::have_remote_offer},
    {S::stable, false, T::pranswer, std::nullopt},
    {S::stable, false, T::answer, std::nullopt},
    {S::stable, false, T::rollback, std::nullopt},
    // have-local-offer
    {S::have_local_offer, true, T::offer, S::have_local_offer},
    {S::have_local_offer, true, T::pranswer, std::nullopt},
    {S::have_local_offer, true, T::answer, std::nullopt},
    {S::have_local_offer, true, T::rollback, S::stable},
    {S::have_local_offer, false, T::offer, S::have_remote_offer},
    {S::have_local_offer, false, T::pranswer, S::have_remote_pranswer},
    {S::have_local_offer, false, T::answer, S::stable},
    {S::have_local_offer, false, T::rollback, S::stable},
    // have-remote-offer
    {S::have_remote_offer, true, T::offer, std::nullopt},
    {S::have_remote_offer, true, T::pranswer, S::have_local_pranswer},
    {S::have_remote_offer, true, T::answer, S::stable},
    {S::have_remote_offer, true, T::rollback, S::stable},
    {S::have_remote_offer, false, T::offer, S::have_remote_offer},
    {S::have_remote_offer, false, T::pranswer, std::nullopt},
    {S::have_remote_offer, false, T::answer, std::nullopt},
    {S::have_remote_offer, false, T::rollback, S::stable},
    // have-local-pranswer
    {S::have_local_pranswer, true, T::offer, std::nullopt},
    {S::have_local_pranswer, true, T::pranswer, S::have_local_pranswer},
    {S::have_local_pranswer, true, T::answer, S::stable},
    {S::have_local_pranswer, true, T::rollback, std::nullopt},
    {S::have_local_pranswer, false, T::offer, std::nullopt},
    {S::have_local_pranswer, false, T::pranswer, std::nullopt},
    {S::have_local_pranswer, false, T::answer, std::nullopt},
    {S::have_local_pranswer, false, T::rollback, std::nullopt},
    // have-remote-pranswer
    {S::have_remote_pranswer, true, T::offer, std::nullopt},
    {S::have_remote_pranswer, true, T::pranswer, std::nullopt},
    {S::have_remote_pranswer, true, T::answer, std::nullopt},
    {S::have_remote_pranswer, true, T::rollback, std::nullopt},
    {S::have_remote_pranswer, false, T::offer, std::nullopt},
    {S::have_remote_pranswer, false, T::pranswer, S::have_remote_pranswer},
    {S::have_remote_pranswer, false, T::answer, S::stable},
    {S::have_remote_pranswer, false, T::rollback, std::nullopt},
    // closed
    {S::closed, true, T::offer, std::nullopt},
    {S::closed, true, T::pranswer, std::nullopt},
    {S::closed, true, T::answer, std::nullopt},
    {S::closed, true, T::rollback, std::nullopt},
    {S::closed, false, T::offer, std::nullopt},
    {S::closed, false, T::pranswer, std::nullopt},
    {S::closed, false, T::answer, std::nullopt},
    {S::closed, false, T::rollback, std::nullopt},
};

}  // namespace

TEST(SignalingState, TableCoversEveryStateSideAndType) {
    EXPECT_EQ(kTable.size(), 6u * 2u * 4u);
}

TEST(SignalingState, FullTransitionTable) {
    for (const Row& row : kTable) {
        auto m = machine_in(row.from);
        const auto result = row.local ? m.set_local(row.type) : m.set_remote(row.type);
        const std::string what = std::string(row.local ? "set_local(" : "set_remote(") +
                                 std::string(sdp::to_string(row.type)) + ") in " +
                                 std::string(sdp::to_string(row.from));
        if (row.to) {
            ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(result)) << what;
            const auto& t = std::get<sdp::SignalingTransition>(result);
            EXPECT_EQ(t.from, row.from) << what;
            EXPECT_EQ(t.to, *row.to) << what;
            EXPECT_EQ(m.state(), *row.to) << what;
            const bool implicit = !row.local && row.type == T::offer && row.from == S::have_local_offer;
            EXPECT_EQ(t.implicit_rollback, implicit) << what;
        } else {
            ASSERT_TRUE(std::holds_alternative<sdp::SignalingError>(result)) << what;
            const auto& e = std::get<sdp::SignalingError>(result);
            EXPECT_EQ(e.state, row.from) << what;
            EXPECT_EQ(m.state(), row.from) << what << " (a refused call must not move the state)";
            // Names the operation and the state, like the browser.
            const std::string expected = std::string("Failed to set ") + (row.local ? "local " : "remote ") +
                                         std::string(sdp::to_string(row.type)) +
                                         " sdp: Called in wrong state: " + std::string(sdp::to_string(row.from));
            EXPECT_EQ(e.message, expected) << what;
        }
    }
}

TEST(SignalingState, BrowserWording) {
    sdp::SignalingMachine m;
    const auto r = m.set_local(T::answer);
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingError>(r));
    EXPECT_EQ(std::get<sdp::SignalingError>(r).message, "Failed to set local answer sdp: Called in wrong state: stable");
}

TEST(SignalingState, FullNegotiationsBothWays) {
    sdp::SignalingMachine offerer, answerer;
    EXPECT_EQ(offerer.state(), S::stable);
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_local(T::offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_remote(T::offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_local(T::pranswer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_remote(T::pranswer)));
    EXPECT_EQ(answerer.state(), S::have_local_pranswer);
    EXPECT_EQ(offerer.state(), S::have_remote_pranswer);
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_local(T::answer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_remote(T::answer)));
    EXPECT_EQ(offerer.state(), S::stable);
    EXPECT_EQ(answerer.state(), S::stable);
    // Renegotiation the other way round.
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_local(T::offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_remote(T::offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_local(T::answer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_remote(T::answer)));
    EXPECT_EQ(offerer.state(), S::stable);
    EXPECT_EQ(answerer.state(), S::stable);
}

TEST(SignalingState, CloseIsTerminalFromEveryState) {
    for (S s : {S::stable, S::have_local_offer, S::have_remote_offer, S::have_local_pranswer,
                S::have_remote_pranswer, S::closed}) {
        auto m = machine_in(s);
        const auto t = m.close();
        EXPECT_EQ(t.from, s);
        EXPECT_EQ(t.to, S::closed);
        EXPECT_EQ(m.state(), S::closed);
        for (T type : {T::offer, T::pranswer, T::answer, T::rollback}) {
            EXPECT_TRUE(std::holds_alternative<sdp::SignalingError>(m.set_local(type)));
            EXPECT_TRUE(std::holds_alternative<sdp::SignalingError>(m.set_remote(type)));
        }
        EXPECT_EQ(m.state(), S::closed);
    }
}

TEST(SignalingState, Strings) {
    EXPECT_EQ(sdp::to_string(S::stable), "stable");
    EXPECT_EQ(sdp::to_string(S::have_local_offer), "have-local-offer");
    EXPECT_EQ(sdp::to_string(S::have_remote_offer), "have-remote-offer");
    EXPECT_EQ(sdp::to_string(S::have_local_pranswer), "have-local-pranswer");
    EXPECT_EQ(sdp::to_string(S::have_remote_pranswer), "have-remote-pranswer");
    EXPECT_EQ(sdp::to_string(S::closed), "closed");
    EXPECT_EQ(sdp::to_string(T::offer), "offer");
    EXPECT_EQ(sdp::to_string(T::pranswer), "pranswer");
    EXPECT_EQ(sdp::to_string(T::answer), "answer");
    EXPECT_EQ(sdp::to_string(T::rollback), "rollback");
}
