#include "proto/http/head_parser.hpp"

#include <cstring>

namespace duplex::proto::http {

namespace {
// RFC 9110 §5.5: field values are visible characters, SP, HTAB and obs-text.
bool is_field_value(std::string_view v) noexcept {
    for (char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
    }
    return true;
}
bool is_target(std::string_view t) noexcept {
    if (t.empty()) return false;
    for (char c : t) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    return true;
}
// "HTTP/1.1" -> 1, "HTTP/1.0" -> 0; -1 malformed; -2 another major version.
int parse_version(std::string_view v) noexcept {
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return -1;
    const char major = v[5], minor = v[7];
    if (major < '0' || major > '9' || minor < '0' || minor > '9') return -1;
    if (major != '1') return -2;
    return minor - '0';
}
}  // namespace

void HeadParser::reset() {
    state_ = HeadState::NeedMore;
    error_ = {};
    buf_.clear();
    line_start_ = first_line_start_ = lines_ = leading_empty_ = 0;
    request_ = {};
    response_ = {};
}

void HeadParser::fail(HttpError e) {
    state_ = HeadState::Error;
    error_ = make_error_code(e);
}

std::size_t HeadParser::feed(base::Bytes in) {
    if (state_ != HeadState::NeedMore) return in.size();
    const char* data = reinterpret_cast<const char*>(in.data());
    std::size_t i = 0;
    while (i < in.size()) {
        const void* nl = std::memchr(data + i, '\n', in.size() - i);
        const std::size_t take = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - data) - i + 1
                                    : in.size() - i;
        const bool in_first_line = lines_ == 0;
        if (buf_.size() + take > limits_.max_head) {
            fail(in_first_line && kind_ == HeadKind::Request ? HttpError::uri_too_long
                                                             : HttpError::fields_too_large);
            return in.size();
        }
        buf_.append(data + i, take);
        i += take;
        std::size_t line_len = buf_.size() - line_start_;
        if (nl == nullptr) {
            if (line_len > limits_.max_line) {
                fail(in_first_line && kind_ == HeadKind::Request ? HttpError::uri_too_long
                                                                 : HttpError::fields_too_large);
                return in.size();
            }
            break;
        }
        // A whole line, without its CRLF. RFC 9112 §2.2 lets a recipient take
        // a bare LF as a line end; a server does not (decision in
        // docs/limits.md): a request that a proxy in front of us may read
        // differently is refused (400), not guessed at. Responses (our
        // client's) may end lines with a bare LF.
        line_len -= 1;
        if (line_len > 0 && buf_[line_start_ + line_len - 1] == '\r') {
            --line_len;
        } else if (kind_ == HeadKind::Request) {
            fail(HttpError::bad_request);
            return in.size();
        }
        if (line_len > limits_.max_line) {
            fail(in_first_line && kind_ == HeadKind::Request ? HttpError::uri_too_long
                                                             : HttpError::fields_too_large);
            return in.size();
        }
        if (line_len == 0) {
            if (lines_ == 0) {
                // RFC 9112 §2.2: a server SHOULD ignore at least one empty line
                // received before the request line; we ignore a few.
                if (++leading_empty_ > 4) {
                    fail(HttpError::bad_request);
                    return in.size();
                }
                line_start_ = buf_.size();
                first_line_start_ = line_start_;
                continue;
            }
            finish();
            return i;
        }
        if (lines_ > limits_.max_fields) {  // start line + max_fields fields
            fail(HttpError::fields_too_large);
            return in.size();
        }
        ++lines_;
        line_start_ = buf_.size();
    }
    return i;
}

void HeadParser::finish() {
    std::string_view rest(buf_);
    rest.remove_prefix(first_line_start_);
    bool first = true;
    Headers& headers = kind_ == HeadKind::Request ? request_.headers : response_.headers;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        // RFC 9112 §2.2: a bare CR inside a line is invalid.
        if (line.find('\r') != std::string_view::npos) return fail(HttpError::bad_request);
        bool ok;
        if (first) {
            ok = kind_ == HeadKind::Request ? parse_request_line(line) : parse_status_line(line);
            first = false;
        } else {
            ok = parse_field_line(line, headers);
        }
        if (!ok) {
            if (state_ != HeadState::Error)
                fail(kind_ == HeadKind::Request ? HttpError::bad_request : HttpError::bad_status_line);
            return;
        }
    }
    state_ = HeadState::Complete;
}

// RFC 9112 §3: request-line = method SP request-target SP HTTP-version
bool HeadParser::parse_request_line(std::string_view line) {
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return false;
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return false;
    const auto method = line.substr(0, sp1);
    const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const int minor = parse_version(line.substr(sp2 + 1));
    if (!is_token(method) || !is_target(target)) return false;
    if (minor == -2) {
        fail(HttpError::version_not_supported);
        return false;
    }
    if (minor < 0) return false;
    request_.method.assign(method);
    request_.target.assign(target);
    request_.version_minor = minor;
    return true;
}

// RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
bool HeadParser::parse_status_line(std::string_view line) {
    if (line.size() < 12 || line[8] != ' ') return false;
    const int minor = parse_version(line.substr(0, 8));
    if (minor < 0) return false;
    int status = 0;
    for (int k = 9; k < 12; ++k) {
        if (line[static_cast<std::size_t>(k)] < '0' || line[static_cast<std::size_t>(k)] > '9') return false;
        status = status * 10 + (line[static_cast<std::size_t>(k)] - '0');
    }
    if (status < 100) return false;
    std::string_view reason = line.substr(12);
    if (!reason.empty()) {
        if (reason[0] != ' ') return false;
        reason.remove_prefix(1);
    }
    if (!is_field_value(reason)) return false;
    response_.status = status;
    response_.reason.assign(reason);
    response_.version_minor = minor;
    return true;
}

// RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
bool HeadParser::parse_field_line(std::string_view line, Headers& into) {
    // §5.2: obs-fold (a line starting with white space) is rejected with 400.
    if (line[0] == ' ' || line[0] == '\t') return false;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    const auto name = line.substr(0, colon);
    // §5.1: no white space between the field name and the colon; name is a token.
    if (!is_token(name)) return false;
    const auto value = trim_ows(line.substr(colon + 1));
    if (!is_field_value(value)) return false;
    into.add(std::string(name), std::string(value));
    return true;
}

}  // namespace duplex::proto::http
