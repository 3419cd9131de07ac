#include "proto/http/message.hpp"

namespace duplex::proto::http {

namespace {
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split_list(std::string_view value) {
    std::vector<std::string_view> out;
    while (!value.empty()) {
        const auto comma = value.find(',');
        auto item = trim_ows(value.substr(0, comma));
        if (!item.empty()) out.push_back(item);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return out;
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        const bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
        if (alnum) continue;
        switch (c) {
            case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
            case '-': case '.': case '^': case '_': case '`': case '|': case '~':
                continue;
            default:
                return false;
        }
    }
    return true;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
    for (const auto& f : fields_)
        if (iequals(f.name, name)) return std::string_view(f.value);
    return std::nullopt;
}

std::optional<std::string> Headers::get_combined(std::string_view name) const {
    std::optional<std::string> out;
    for (const auto& f : fields_) {
        if (!iequals(f.name, name)) continue;
        if (!out) out.emplace(f.value);
        else { *out += ", "; *out += f.value; }
    }
    return out;
}

std::size_t Headers::count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& f : fields_) n += iequals(f.name, name) ? 1 : 0;
    return n;
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
    for (const auto& f : fields_) {
        if (!iequals(f.name, name)) continue;
        for (auto item : split_list(f.value))
            if (iequals(item, token)) return true;
    }
    return false;
}

std::string_view Request::path() const {
    std::string_view t = target;
    // RFC 9112 §3.2.2: a server must accept the absolute-form too.
    for (std::string_view scheme : {"http://", "https://", "ws://", "wss://"}) {
        if (t.size() > scheme.size() && iequals(t.substr(0, scheme.size()), scheme)) {
            t.remove_prefix(scheme.size());
            const auto slash = t.find_first_of("/?");
            t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
            if (!t.empty() && t.front() == '?') return "/";
            break;
        }
    }
    return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
    std::string_view t = target;
    const auto q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

}  // namespace duplex::proto::http
