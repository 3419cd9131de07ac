// libFuzzer target: the SDP parser (RFC 8866), then, on whatever parses, the
// writer (its output must parse again to the same text), extract_remote and
// create_answer (whose output must parse too). Must never crash, hang, or
// read out of bounds.
#include "proto/sdp/jsep.hpp"
#include "proto/sdp/session_description.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace sdp = duplex::proto::sdp;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = sdp::parse(text);
    auto* sd = std::get_if<sdp::SessionDescription>(&parsed);
    if (sd == nullptr) {
        (void)std::get<sdp::ParseError>(parsed).to_string();
        return 0;
    }

    // write(parse(x)) is a fixed point: parsing it again gives the same text.
    const std::string written = sdp::write(*sd);
    auto again = sdp::parse(written);
    auto* sd2 = std::get_if<sdp::SessionDescription>(&again);
    if (sd2 == nullptr || sdp::write(*sd2) != written) __builtin_trap();

    (void)sdp::extract_remote(*sd);

    sdp::TransportParams local;
    local.ice_ufrag = "fuzz";
    local.ice_pwd = "abcdefghijklmnopqrstuv";
    local.fingerprint =
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    local.candidates = {"candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"};
    auto answer = sdp::create_answer(*sd, local);
    if (auto* a = std::get_if<sdp::SessionDescription>(&answer)) {
        if (a->media.size() != sd->media.size()) __builtin_trap();
        auto reparsed = sdp::parse(sdp::write(*a));
        if (!std::holds_alternative<sdp::SessionDescription>(reparsed)) __builtin_trap();
        if (std::holds_alternative<sdp::JsepError>(sdp::extract_remote(std::get<sdp::SessionDescription>(reparsed))))
            __builtin_trap();
    }
    return 0;
}
