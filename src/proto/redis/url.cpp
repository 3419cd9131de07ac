// proto/redis/url.cpp: redis://, rediss:// and unix:// URLs. See the header.
#include "proto/redis/url.hpp"

#include <charconv>

namespace duplex::proto::redis {

namespace {

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unescape(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int a = hex(in[i + 1]), b = hex(in[i + 2]);
        if (a < 0 || b < 0) return false;
        out += static_cast<char>(a * 16 + b);
        i += 2;
    }
    return true;
}

template <class T>
bool number(std::string_view s, T& v, T max) {
    if (s.empty() || s.size() > 10) return false;
    unsigned long long n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || n > max) return false;
    v = static_cast<T>(n);
    return true;
}

bool credentials(std::string_view userinfo, ServerUrl& out, std::string& error) {
    const auto colon = userinfo.find(':');
    const std::string_view user = colon == std::string_view::npos ? std::string_view() : userinfo.substr(0, colon);
    // "redis://secret@host" (no colon) is a password alone, as redis-cli reads it.
    const std::string_view pass = colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1);
    if (!unescape(user, out.user) || !unescape(pass, out.password)) {
        error = "a bad percent-escape in the user or password";
        return false;
    }
    return true;
}

}  // namespace

bool parse_server_url(std::string_view text, ServerUrl& out, std::string& error) {
    out = ServerUrl{};
    for (char c : text) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            error = "a control character or space in the URL";
            return false;
        }
    }
    std::string_view rest;
    if (text.starts_with("redis://")) {
        rest = text.substr(8);
    } else if (text.starts_with("rediss://")) {
        out.tls = true;
        rest = text.substr(9);
    } else if (text.starts_with("unix://")) {
        rest = text.substr(7);
        const auto q = rest.find('?');
        const std::string_view path = rest.substr(0, q);
        if (path.empty() || path[0] != '/') {
            error = "unix:// needs an absolute path (unix:///run/redis.sock)";
            return false;
        }
        out.unix_path.assign(path);
        if (q == std::string_view::npos) return true;
        std::string_view query = rest.substr(q + 1);
        while (!query.empty()) {
            const auto amp = query.find('&');
            const std::string_view kv = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
            const auto eq = kv.find('=');
            const std::string_view k = kv.substr(0, eq), v = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
            if (k == "db") {
                if (!number(v, out.db, 1000000u)) {
                    error = "a bad db number";
                    return false;
                }
            } else if (k == "password" || k == "user") {
                if (!unescape(v, k == "user" ? out.user : out.password)) {
                    error = "a bad percent-escape in the " + std::string(k);
                    return false;
                }
            } else {
                error = "unknown unix:// parameter '" + std::string(k) + "'";
                return false;
            }
        }
        return true;
    } else {
        error = "a Redis URL starts with redis://, rediss:// or unix://";
        return false;
    }
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    const std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    const auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
        if (!credentials(authority.substr(0, at), out, error)) return false;
        authority = authority.substr(at + 1);
    }
    std::string_view port;
    if (!authority.empty() && authority[0] == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "an IPv6 address without its closing bracket";
            return false;
        }
        out.host.assign(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') {
                error = "bytes after the IPv6 address";
                return false;
            }
            port = after.substr(1);
            if (port.empty()) {
                error = "an empty port";
                return false;
            }
        }
    } else {
        const auto colon = authority.rfind(':');
        out.host.assign(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) {
                error = "an empty port";
                return false;
            }
        }
    }
    if (out.host.empty()) {
        error = "no host in the URL";
        return false;
    }
    if (!port.empty() && (!number(port, out.port, std::uint16_t{65535}) || out.port == 0)) {
        error = "a bad port '" + std::string(port) + "'";
        return false;
    }
    if (!path.empty() && !number(path, out.db, 1000000u)) {
        error = "a bad db number '" + std::string(path) + "'";
        return false;
    }
    return true;
}

std::string ServerUrl::redacted() const {
    std::string s = unix_path.empty() ? (tls ? "rediss://" : "redis://") : "unix://";
    if (unix_path.empty() && (!user.empty() || !password.empty())) s += user + (password.empty() ? "@" : ":***@");
    if (!unix_path.empty()) return s + unix_path + (db ? "?db=" + std::to_string(db) : "");
    s += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    s += ":" + std::to_string(port);
    if (db) s += "/" + std::to_string(db);
    return s;
}

}  // namespace duplex::proto::redis
