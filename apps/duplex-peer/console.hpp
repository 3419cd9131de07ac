// duplex-peer/console.hpp: what duplex-peer tells its user, on stderr (stdout
// carries only what was received: a --send reply, a file's summary line).
//
//   -q      errors only
//   (none)  one line per event a user follows: joined, peers coming and
//           going, connection states, transfers
//   -v      also the detail: ICE states, channels, ignored messages
#pragma once

#include <iostream>
#include <string>

namespace duplex_peer {

enum class Verbosity { Quiet, Normal, Verbose };

class Console {
public:
    explicit Console(Verbosity v = Verbosity::Normal) : v_(v) {}
    void set(Verbosity v) noexcept { v_ = v; }
    /// An event the user follows (default on).
    void say(const std::string& line) const {
        if (v_ != Verbosity::Quiet) std::cerr << "duplex-peer: " << line << std::endl;
    }
    /// Detail (-v).
    void detail(const std::string& line) const {
        if (v_ == Verbosity::Verbose) std::cerr << "duplex-peer: " << line << std::endl;
    }
    /// What went wrong (always).
    void error(const std::string& line) const { std::cerr << "duplex-peer: " << line << std::endl; }

private:
    Verbosity v_;
};

}  // namespace duplex_peer
