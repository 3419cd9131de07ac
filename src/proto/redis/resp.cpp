// proto/redis/resp.cpp: RESP2 replies in, commands out. See the header.
#include "proto/redis/resp.hpp"

#include <charconv>

namespace duplex::proto::redis {

void Reader::feed(base::Bytes data) {
    if (!error_.empty()) return;
    // What was parsed goes before the buffer grows (amortised: only once
    // it is at least half of what is kept).
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

Reader::Step Reader::fail(std::string why) {
    error_ = std::move(why);
    buf_.clear();
    pos_ = 0;
    open_.clear();
    reply_bytes_ = 0;
    return Step::Bad;
}

// A header line: up to CRLF, at most max_line bytes.
Reader::Step Reader::line(std::size_t& at, std::string_view& out) {
    const std::size_t end = buf_.find("\r\n", at);
    if (end == std::string::npos) {
        if (buf_.size() - at > limits_.max_line) return fail("a reply line longer than " + std::to_string(limits_.max_line) + " bytes");
        return Step::More;
    }
    if (end - at > limits_.max_line) return fail("a reply line longer than " + std::to_string(limits_.max_line) + " bytes");
    out = std::string_view(buf_).substr(at, end - at);
    at = end + 2;
    return Step::Done;
}

namespace {
bool to_int(std::string_view s, std::int64_t& v) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

Reader::Step Reader::parse_one(std::size_t& at, Value& out, std::size_t& open) {
    open = 0;
    if (at >= buf_.size()) return Step::More;
    const char type = buf_[at];
    std::size_t p = at + 1;
    std::string_view head;
    if (Step s = line(p, head); s != Step::Done) return s;
    switch (type) {
        case '+':
        case '-':
            out.kind = type == '+' ? Value::Kind::Simple : Value::Kind::Error;
            out.text.assign(head);
            break;
        case ':':
            out.kind = Value::Kind::Integer;
            if (!to_int(head, out.integer)) return fail("a bad integer reply");
            break;
        case '$': {
            std::int64_t n = 0;
            if (!to_int(head, n) || n < -1) return fail("a bad bulk string length");
            if (n == -1) {
                out.kind = Value::Kind::Nil;
                break;
            }
            if (static_cast<std::uint64_t>(n) > limits_.max_bulk)
                return fail("a bulk string of " + std::to_string(n) + " bytes, over the limit of " +
                            std::to_string(limits_.max_bulk));
            const auto len = static_cast<std::size_t>(n);
            // Waits for the whole string: only its header is read again.
            if (buf_.size() - p < len + 2) return Step::More;
            if (buf_[p + len] != '\r' || buf_[p + len + 1] != '\n') return fail("a bulk string without its CRLF");
            out.kind = Value::Kind::Bulk;
            out.text.assign(buf_, p, len);
            p += len + 2;
            break;
        }
        case '*': {
            std::int64_t n = 0;
            if (!to_int(head, n) || n < -1) return fail("a bad array length");
            if (n == -1) {
                out.kind = Value::Kind::Nil;
                break;
            }
            if (static_cast<std::uint64_t>(n) > limits_.max_elements)
                return fail("an array of " + std::to_string(n) + " elements, over the limit of " +
                            std::to_string(limits_.max_elements));
            if (open_.size() + 1 > limits_.max_depth)
                return fail("arrays nested deeper than " + std::to_string(limits_.max_depth));
            out.kind = Value::Kind::Array;
            out.elements.clear();
            if (n > 0) {
                open = static_cast<std::size_t>(n);
                // Each element takes at least 3 bytes ("+\r\n"): an announced
                // count is reserved only once the bytes for it could be here.
                if (open <= (buf_.size() - p) / 3) out.elements.reserve(open);
            }
            break;
        }
        default:
            return fail(std::string("an unknown reply type byte 0x") + "0123456789abcdef"[(type >> 4) & 0xf] +
                        "0123456789abcdef"[type & 0xf]);
    }
    at = p;
    return Step::Done;
}

std::optional<Value> Reader::next() {
    if (!error_.empty()) return std::nullopt;
    for (;;) {
        if (open_.empty()) values_ = 0;
        if (values_ + 1 > limits_.max_values) {
            fail("a reply of more than " + std::to_string(limits_.max_values) + " values");
            return std::nullopt;
        }
        std::size_t at = pos_;
        Value v;
        std::size_t open = 0;
        const Step s = parse_one(at, v, open);
        if (s == Step::Bad) return std::nullopt;
        if (s == Step::More) {
            // An incomplete reply is held until its end arrives: up to a limit.
            if (held() > limits_.max_reply) fail("a reply longer than " + std::to_string(limits_.max_reply) + " bytes");
            return std::nullopt;
        }
        ++values_;
        reply_bytes_ += at - pos_;
        pos_ = at;
        if (pos_ == buf_.size()) {
            buf_.clear();
            pos_ = 0;
        }
        if (open > 0) {
            open_.push_back({std::move(v), open});
            continue;
        }
        // A whole value: into the array it belongs to, closing those it completes.
        while (!open_.empty()) {
            Open& o = open_.back();
            o.array.elements.push_back(std::move(v));
            if (--o.missing > 0) break;
            v = std::move(o.array);
            open_.pop_back();
        }
        if (open_.empty()) {
            reply_bytes_ = 0;
            return v;
        }
    }
}

namespace {
void append_bulk(std::string& out, std::string_view a) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out.append(a);
    out += "\r\n";
}
}  // namespace

void append_command(std::string& out, std::initializer_list<std::string_view> args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (auto a : args) append_bulk(out, a);
}

void append_command(std::string& out, const std::vector<std::string_view>& args) {
    out += '*';
    out += std::to_string(args.size());
    out += "\r\n";
    for (auto a : args) append_bulk(out, a);
}

}  // namespace duplex::proto::redis
