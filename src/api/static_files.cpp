#include "api/static_files.hpp"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace duplex::detail {

namespace {
constexpr std::size_t kMaxFileSize = 64u << 20;

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 3986 §2.1 percent-decoding; false on a malformed escape or a NUL.
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        const char c = static_cast<char>(hi * 16 + lo);
        if (c == '\0') return false;
        out += c;
        i += 2;
    }
    return true;
}

std::string real_path(const std::string& p) {
    char buf[PATH_MAX];
    if (::realpath(p.c_str(), buf) == nullptr) return {};
    return buf;
}
}  // namespace

std::string_view content_type_for(std::string_view path) noexcept {
    struct Entry {
        std::string_view ext, type;
    };
    static constexpr Entry kTypes[] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"}, {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
        {".ico", "image/x-icon"},              {".webp", "image/webp"},
        {".wasm", "application/wasm"},         {".webm", "video/webm"},
        {".mp4", "video/mp4"},                 {".woff2", "font/woff2"},
    };
    for (const auto& e : kTypes)
        if (ends_with(path, e.ext)) return e.type;
    return "application/octet-stream";
}

namespace {
// A ".." segment anywhere; with `hidden` false, any segment starting with
// '.' (a dotfile: .git/, .env, .htpasswd are not meant to be served).
bool has_refused_segment(std::string_view path, bool hidden) {
    while (!path.empty()) {
        const auto slash = path.find('/');
        const auto seg = path.substr(0, slash);
        if (seg == ".." || (!hidden && !seg.empty() && seg.front() == '.')) return true;
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return false;
}
}  // namespace

bool serve_static(const std::string& root, std::string_view path, HttpResponse& res, bool hidden_files) {
    if (root.empty() || path.empty() || path.front() != '/') return false;
    std::string decoded;
    if (!percent_decode(path, decoded)) return false;
    // Refuse ".." (and hidden files) outright, then check the resolved path
    // too (a symlink inside the root could point out of it, or at a dotfile).
    if (has_refused_segment(decoded, hidden_files)) return false;
    const std::string root_real = real_path(root);
    if (root_real.empty()) return false;
    std::string full = root_real + decoded;
    struct stat st {};
    if (::stat(full.c_str(), &st) != 0) return false;
    if (S_ISDIR(st.st_mode)) {
        if (!ends_with(full, "/")) full += '/';
        full += "index.html";
        if (::stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    } else if (!S_ISREG(st.st_mode)) {
        return false;
    }
    const std::string resolved = real_path(full);
    if (resolved.empty() || resolved.compare(0, root_real.size(), root_real) != 0 ||
        (resolved.size() > root_real.size() && resolved[root_real.size()] != '/'))
        return false;
    if (has_refused_segment(std::string_view(resolved).substr(root_real.size()), hidden_files)) return false;
    if (static_cast<std::size_t>(st.st_size) > kMaxFileSize) return false;
    std::ifstream f(resolved, std::ios::binary);
    if (!f) return false;
    std::ostringstream body;
    body << f.rdbuf();
    res.status = 200;
    res.body = body.str();
    res.set_header("Content-Type", std::string(content_type_for(resolved)));
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    return true;
}

}  // namespace duplex::detail
