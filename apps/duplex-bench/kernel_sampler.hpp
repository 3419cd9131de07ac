// duplex-bench: the kernel's memory for sockets, system-wide, so that memory
// per connection can be reported apart from the server's own (issue 4).
//
// Per TCP connection the kernel holds, on each end, a socket (the TCP or
// TCPv6 slab object, its inode), an open file and its dentry, and an epoll
// item; /proc/slabinfo gives their sizes. Queued data is counted apart
// (/proc/net/sockstat "TCP: mem", in pages). On loopback both ends are on
// this machine, so the growth divided by the connections counts two sockets.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace duplex::bench {

struct KernelSample {
    std::uint64_t socket_objects = 0;  // bytes of the slab objects above
    std::uint64_t tcp_buffers = 0;     // bytes of queued TCP data (sockstat mem)
    bool ok = false;
};

inline KernelSample sample_kernel() {
    KernelSample k;
    std::ifstream slab("/proc/slabinfo");
    std::string line;
    while (std::getline(slab, line)) {
        std::istringstream in(line);
        std::string name;
        std::uint64_t active = 0, total = 0, size = 0;
        if (!(in >> name >> active >> total >> size)) continue;
        if (name == "TCP" || name == "TCPv6" || name == "sock_inode_cache" || name == "filp" || name == "dentry" ||
            name == "eventpoll_epi" || name == "eventpoll_pwq") {
            k.socket_objects += active * size;
            k.ok = true;
        }
    }
    std::ifstream sockstat("/proc/net/sockstat");
    while (std::getline(sockstat, line)) {
        if (line.rfind("TCP:", 0) != 0) continue;
        const auto at = line.find(" mem ");
        if (at != std::string::npos) k.tcp_buffers = std::stoull(line.substr(at + 5)) * 4096;
    }
    return k;
}

}  // namespace duplex::bench
