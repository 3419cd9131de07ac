// duplex-bench rtc: data channels between two PeerConnections (rtc.cpp).
#pragma once

namespace duplex::bench {

/// `duplex-bench rtc ...`; argv[0] is "rtc". Returns the exit code.
int run_rtc(int argc, char** argv);

}  // namespace duplex::bench
