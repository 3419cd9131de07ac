// duplex-bench media: RTP packets per second through the media path beside
// libsrtp2's floor (media.cpp).
#pragma once

namespace duplex::bench {

/// `duplex-bench media ...`; argv[0] is "media". Returns the exit code.
int run_media(int argc, char** argv);

}  // namespace duplex::bench
