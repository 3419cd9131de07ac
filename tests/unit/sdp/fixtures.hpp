// tests/unit/sdp/fixtures.hpp: reads the SDP texts of tests/fixtures/sdp/
// (captured from real peers; see the README there).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace duplex::test::sdp_fixtures {

inline std::filesystem::path directory() {
#ifdef DUPLEX_SDP_FIXTURE_DIR
    return DUPLEX_SDP_FIXTURE_DIR;
#else
    // This header lives in tests/unit/sdp/; the fixtures in tests/fixtures/sdp/.
    return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "fixtures" / "sdp";
#endif
}

inline std::string read(const std::string& name) {
    std::ifstream in(directory() / name, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open SDP fixture " + (directory() / name).string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

inline const std::vector<std::string>& all() {
    static const std::vector<std::string> names = {
        "chromium_dc_offer.sdp", "chromium_av_dc_offer.sdp", "chromium_dc_answer.sdp",
        "aiortc_dc_offer.sdp",   "aiortc_dc_answer.sdp",     "firefox_av_dc_offer.sdp",
        "aiortc_av_offer.sdp",   "aiortc_av_answer.sdp",
    };
    return names;
}

inline const std::vector<std::string>& offers() {
    static const std::vector<std::string> names = {
        "chromium_dc_offer.sdp", "chromium_av_dc_offer.sdp", "aiortc_dc_offer.sdp", "firefox_av_dc_offer.sdp",
        "aiortc_av_offer.sdp",
    };
    return names;
}

}  // namespace duplex::test::sdp_fixtures
