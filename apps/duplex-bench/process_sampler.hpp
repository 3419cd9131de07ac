// duplex-bench: samples another process's CPU time and resident memory from
// /proc (for --server-pid).
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace duplex::bench {

struct ProcessSample {
    double cpu_seconds = 0;       // utime + stime
    std::uint64_t rss_bytes = 0;  // VmRSS
    // RssAnon: private anonymous pages (heap, stacks), what connections cost.
    // VmRSS also counts file-backed pages, e.g. libcrypto's code faulted in by
    // the first handshake's SHA-1: a one-off, not memory per connection.
    std::uint64_t anon_bytes = 0;
    bool ok = false;
};

inline ProcessSample sample_process(int pid) {
    ProcessSample s;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return s;
    // Fields after the command name (which may hold spaces, inside parentheses).
    const auto close = line.rfind(')');
    std::istringstream in(line.substr(close + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoul(field);
        if (i == 15) stime = std::stoul(field);
    }
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    s.cpu_seconds = static_cast<double>(utime + stime) / tick;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            s.rss_bytes = std::stoull(line.substr(6)) * 1024;
            s.ok = true;
        } else if (line.rfind("RssAnon:", 0) == 0) {
            s.anon_bytes = std::stoull(line.substr(8)) * 1024;
        }
    }
    return s;
}

}  // namespace duplex::bench
