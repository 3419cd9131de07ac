// The floor: a raw epoll TCP echo server with no framing at all, written the
// way duplex's runtime is (level-triggered epoll, one read into a shared
// buffer, write straight back, queue what the kernel did not take). Every
// WebSocket figure is compared with it.
//   epoll_echo PORT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: epoll_echo PORT\n");
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
        std::perror("epoll_echo: bind/listen");
        return 2;
    }
    socklen_t len = sizeof(a);
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("listening on http://127.0.0.1:%u\n", ntohs(a.sin_port));
    std::fflush(stdout);
    const int ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    static char buf[512 * 1024];
    std::unordered_map<int, std::string> pending;
    epoll_event events[256];
    for (;;) {
        const int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == lfd) {
                for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    epoll_event cev{};
                    cev.events = EPOLLIN;
                    cev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            auto& out = pending[fd];
            if (events[i].events & EPOLLOUT && !out.empty()) {
                const ssize_t w = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
                if (w > 0) out.erase(0, static_cast<size_t>(w));
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                const ssize_t r = recv(fd, buf, sizeof(buf), 0);
                if (r <= 0) {
                    close(fd);
                    pending.erase(fd);
                    continue;
                }
                if (out.empty()) {
                    const ssize_t w = send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL);
                    if (w < r) out.append(buf + (w > 0 ? w : 0), static_cast<size_t>(r - (w > 0 ? w : 0)));
                } else {
                    out.append(buf, static_cast<size_t>(r));
                }
            }
            epoll_event mod{};
            mod.events = EPOLLIN | (out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
            mod.data.fd = fd;
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &mod);
        }
    }
}
