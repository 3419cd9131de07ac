// base/time.hpp: the time types that every machine is handed. The core never
// reads a clock (DESIGN.md); the runtime passes `now` in.
#pragma once

#include <chrono>

namespace duplex::base {

using Clock = std::chrono::steady_clock;  // only the runtime calls Clock::now()
using Instant = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

}  // namespace duplex::base
