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
    case S::Stable: break;
    case S::HaveLocalOffer: step(true, T::Offer); break;
    case S::HaveRemoteOffer: step(false, T::Offer); break;
    case S::HaveLocalPranswer: step(false, T::Offer); step(true, T::Pranswer); break;
    case S::HaveRemotePranswer: step(true, T::Offer); step(false, T::Pranswer); break;
    case S::Closed: m.close(); break;
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
    {S::Stable, true, T::Offer, S::HaveLocalOffer},
    {S::Stable, true, T::Pranswer, std::nullopt},
    {S::Stable, true, T::Answer, std::nullopt},
    {S::Stable, true, T::Rollback, std::nullopt},
    {S::Stable, false, T::Offer, S::HaveRemoteOffer},
    {S::Stable, false, T::Pranswer, std::nullopt},
    {S::Stable, false, T::Answer, std::nullopt},
    {S::Stable, false, T::Rollback, std::nullopt},
    // have-local-offer
    {S::HaveLocalOffer, true, T::Offer, S::HaveLocalOffer},
    {S::HaveLocalOffer, true, T::Pranswer, std::nullopt},
    {S::HaveLocalOffer, true, T::Answer, std::nullopt},
    {S::HaveLocalOffer, true, T::Rollback, S::Stable},
    {S::HaveLocalOffer, false, T::Offer, S::HaveRemoteOffer},
    {S::HaveLocalOffer, false, T::Pranswer, S::HaveRemotePranswer},
    {S::HaveLocalOffer, false, T::Answer, S::Stable},
    {S::HaveLocalOffer, false, T::Rollback, S::Stable},
    // have-remote-offer
    {S::HaveRemoteOffer, true, T::Offer, std::nullopt},
    {S::HaveRemoteOffer, true, T::Pranswer, S::HaveLocalPranswer},
    {S::HaveRemoteOffer, true, T::Answer, S::Stable},
    {S::HaveRemoteOffer, true, T::Rollback, S::Stable},
    {S::HaveRemoteOffer, false, T::Offer, S::HaveRemoteOffer},
    {S::HaveRemoteOffer, false, T::Pranswer, std::nullopt},
    {S::HaveRemoteOffer, false, T::Answer, std::nullopt},
    {S::HaveRemoteOffer, false, T::Rollback, S::Stable},
    // have-local-pranswer
    {S::HaveLocalPranswer, true, T::Offer, std::nullopt},
    {S::HaveLocalPranswer, true, T::Pranswer, S::HaveLocalPranswer},
    {S::HaveLocalPranswer, true, T::Answer, S::Stable},
    {S::HaveLocalPranswer, true, T::Rollback, std::nullopt},
    {S::HaveLocalPranswer, false, T::Offer, std::nullopt},
    {S::HaveLocalPranswer, false, T::Pranswer, std::nullopt},
    {S::HaveLocalPranswer, false, T::Answer, std::nullopt},
    {S::HaveLocalPranswer, false, T::Rollback, std::nullopt},
    // have-remote-pranswer
    {S::HaveRemotePranswer, true, T::Offer, std::nullopt},
    {S::HaveRemotePranswer, true, T::Pranswer, std::nullopt},
    {S::HaveRemotePranswer, true, T::Answer, std::nullopt},
    {S::HaveRemotePranswer, true, T::Rollback, std::nullopt},
    {S::HaveRemotePranswer, false, T::Offer, std::nullopt},
    {S::HaveRemotePranswer, false, T::Pranswer, S::HaveRemotePranswer},
    {S::HaveRemotePranswer, false, T::Answer, S::Stable},
    {S::HaveRemotePranswer, false, T::Rollback, std::nullopt},
    // closed
    {S::Closed, true, T::Offer, std::nullopt},
    {S::Closed, true, T::Pranswer, std::nullopt},
    {S::Closed, true, T::Answer, std::nullopt},
    {S::Closed, true, T::Rollback, std::nullopt},
    {S::Closed, false, T::Offer, std::nullopt},
    {S::Closed, false, T::Pranswer, std::nullopt},
    {S::Closed, false, T::Answer, std::nullopt},
    {S::Closed, false, T::Rollback, std::nullopt},
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
            const bool implicit = !row.local && row.type == T::Offer && row.from == S::HaveLocalOffer;
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
    const auto r = m.set_local(T::Answer);
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingError>(r));
    EXPECT_EQ(std::get<sdp::SignalingError>(r).message, "Failed to set local answer sdp: Called in wrong state: stable");
}

TEST(SignalingState, FullNegotiationsBothWays) {
    sdp::SignalingMachine offerer, answerer;
    EXPECT_EQ(offerer.state(), S::Stable);
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_local(T::Offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_remote(T::Offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_local(T::Pranswer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_remote(T::Pranswer)));
    EXPECT_EQ(answerer.state(), S::HaveLocalPranswer);
    EXPECT_EQ(offerer.state(), S::HaveRemotePranswer);
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_local(T::Answer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_remote(T::Answer)));
    EXPECT_EQ(offerer.state(), S::Stable);
    EXPECT_EQ(answerer.state(), S::Stable);
    // Renegotiation the other way round.
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_local(T::Offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_remote(T::Offer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(offerer.set_local(T::Answer)));
    ASSERT_TRUE(std::holds_alternative<sdp::SignalingTransition>(answerer.set_remote(T::Answer)));
    EXPECT_EQ(offerer.state(), S::Stable);
    EXPECT_EQ(answerer.state(), S::Stable);
}

TEST(SignalingState, CloseIsTerminalFromEveryState) {
    for (S s : {S::Stable, S::HaveLocalOffer, S::HaveRemoteOffer, S::HaveLocalPranswer,
                S::HaveRemotePranswer, S::Closed}) {
        auto m = machine_in(s);
        const auto t = m.close();
        EXPECT_EQ(t.from, s);
        EXPECT_EQ(t.to, S::Closed);
        EXPECT_EQ(m.state(), S::Closed);
        for (T type : {T::Offer, T::Pranswer, T::Answer, T::Rollback}) {
            EXPECT_TRUE(std::holds_alternative<sdp::SignalingError>(m.set_local(type)));
            EXPECT_TRUE(std::holds_alternative<sdp::SignalingError>(m.set_remote(type)));
        }
        EXPECT_EQ(m.state(), S::Closed);
    }
}

TEST(SignalingState, Strings) {
    EXPECT_EQ(sdp::to_string(S::Stable), "stable");
    EXPECT_EQ(sdp::to_string(S::HaveLocalOffer), "have-local-offer");
    EXPECT_EQ(sdp::to_string(S::HaveRemoteOffer), "have-remote-offer");
    EXPECT_EQ(sdp::to_string(S::HaveLocalPranswer), "have-local-pranswer");
    EXPECT_EQ(sdp::to_string(S::HaveRemotePranswer), "have-remote-pranswer");
    EXPECT_EQ(sdp::to_string(S::Closed), "closed");
    EXPECT_EQ(sdp::to_string(T::Offer), "offer");
    EXPECT_EQ(sdp::to_string(T::Pranswer), "pranswer");
    EXPECT_EQ(sdp::to_string(T::Answer), "answer");
    EXPECT_EQ(sdp::to_string(T::Rollback), "rollback");
}
