// proto/sdp/session_description.cpp: see the header for the grammar and the
// rules on tolerance, strictness and limits.
#include "proto/sdp/session_description.hpp"

#include "proto/sdp/decimal.hpp"

#include <charconv>
#include <initializer_list>
#include <system_error>
#include <utility>

namespace duplex::proto::sdp {

// ---------------------------------------------------------------- attributes

bool AttributeList::has_attribute(std::string_view name) const noexcept {
    for (const auto& a : attributes)
        if (a.name == name) return true;
    return false;
}

std::optional<std::string_view> AttributeList::attribute(std::string_view name) const noexcept {
    for (const auto& a : attributes)
        if (a.name == name) return a.value ? std::string_view(*a.value) : std::string_view();
    return std::nullopt;
}

std::vector<std::string_view> AttributeList::attributes_named(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& a : attributes)
        if (a.name == name) out.push_back(a.value ? std::string_view(*a.value) : std::string_view());
    return out;
}

void AttributeList::add_attribute(std::string name, std::optional<std::string> value) {
    attributes.push_back(Attribute{std::move(name), std::move(value)});
}

const Media* SessionDescription::find_media(std::string_view mid) const noexcept {
    for (const auto& m : media)
        if (m.mid() == mid) return &m;
    return nullptr;
}

std::string ParseError::to_string() const {
    if (line == 0) return "SDP: " + message;
    return "SDP line " + std::to_string(line) + ": " + message;
}

// -------------------------------------------------------------------- parser

namespace {

// token-char (RFC 8866 §9): %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 /
// %x41-5A / %x5E-7E.
bool is_token_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x27) || u == 0x2A || u == 0x2B || u == 0x2D ||
           u == 0x2E || (u >= 0x30 && u <= 0x39) || (u >= 0x41 && u <= 0x5A) ||
           (u >= 0x5E && u <= 0x7E);
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

// Visible characters, no spaces (non-ws-string, RFC 8866 §9).
bool is_non_ws_string(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7F) return false;
    }
    return true;
}

// Splits on single spaces; an empty piece (two spaces, or a leading or
// trailing one) makes the whole split fail.
std::optional<std::vector<std::string_view>> split_spaces(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t sp = s.find(' ', start);
        const std::string_view piece = s.substr(start, sp == std::string_view::npos ? sp : sp - start);
        if (piece.empty()) return std::nullopt;
        out.push_back(piece);
        if (sp == std::string_view::npos) break;
        start = sp + 1;
    }
    return out;
}

struct Line {
    std::size_t number;
    char type;
    std::string_view value;
};

class Parser {
public:
    Parser(std::string_view text, const ParseLimits& limits) : text_(text), limits_(limits) {}

    ParseResult run() {
        if (text_.size() > limits_.max_bytes)
            return ParseError{0, "description is " + std::to_string(text_.size()) +
                                     " bytes, more than the limit of " +
                                     std::to_string(limits_.max_bytes)};
        if (!split_lines()) return std::move(error_);
        if (lines_.empty()) return ParseError{0, "empty description"};
        if (!parse_all()) return std::move(error_);
        return std::move(sd_);
    }

private:
    bool fail(std::size_t line, std::string message) {
        error_ = ParseError{line, std::move(message)};
        return false;
    }

    // RFC 8866 §5: "<type>=<value>" lines ended by CRLF; we also accept LF
    // alone. Trailing empty lines are ignored; an empty line anywhere else is
    // a structural error.
    bool split_lines() {
        std::size_t pos = 0;
        std::size_t number = 0;
        std::size_t empty_run_start = 0;  // first empty line of the current run, 0 = none
        while (pos < text_.size()) {
            std::size_t end = text_.find('\n', pos);
            const bool terminated = end != std::string_view::npos;
            if (!terminated) end = text_.size();
            std::string_view raw = text_.substr(pos, end - pos);
            pos = terminated ? end + 1 : end;
            ++number;
            if (number > limits_.max_lines)
                return fail(number, "more than " + std::to_string(limits_.max_lines) + " lines");
            if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
            if (raw.empty()) {
                if (empty_run_start == 0) empty_run_start = number;
                continue;
            }
            if (empty_run_start != 0) return fail(empty_run_start, "empty line inside the description");
            for (char c : raw) {
                const auto u = static_cast<unsigned char>(c);
                if ((u < 0x20 && c != '\t') || u == 0x7F)
                    return fail(number, "control character in line");
            }
            if (raw.size() < 2 || raw[1] != '=')
                return fail(number, "not a <type>=<value> line");
            if (raw[0] < 'a' || raw[0] > 'z') return fail(number, "line type must be a lower-case letter");
            lines_.push_back(Line{number, raw[0], raw.substr(2)});
        }
        return true;
    }

    bool parse_all() {
        std::size_t i = 0;
        // v=0, o=, s= come first and in this order (RFC 8866 §5).
        const Line& v = lines_[0];
        if (v.type != 'v') return fail(v.number, "first line must be v=0");
        if (v.value != "0") return fail(v.number, "unsupported protocol version v=" + std::string(v.value));
        ++i;
        if (i >= lines_.size() || lines_[i].type != 'o') return fail(line_no(i), "second line must be o=");
        if (!parse_origin(lines_[i])) return false;
        ++i;
        if (i >= lines_.size() || lines_[i].type != 's') return fail(line_no(i), "third line must be s=");
        sd_.session_name = std::string(lines_[i].value);
        ++i;

        // Session level, up to the first m= line.
        sd_.timings.clear();
        for (; i < lines_.size() && lines_[i].type != 'm'; ++i)
            if (!parse_session_line(lines_[i])) return false;
        if (sd_.timings.empty()) return fail(line_no(i), "missing t= line");

        // Media sections.
        for (; i < lines_.size(); ++i) {
            const Line& l = lines_[i];
            if (l.type == 'm') {
                if (sd_.media.size() >= limits_.max_media)
                    return fail(l.number, "more than " + std::to_string(limits_.max_media) + " media sections");
                if (!parse_media_line(l)) return false;
                continue;
            }
            if (!parse_media_level_line(l, sd_.media.back())) return false;
        }
        return true;
    }

    std::size_t line_no(std::size_t index) const {
        return index < lines_.size() ? lines_[index].number : lines_.back().number + 1;
    }

    bool parse_origin(const Line& l) {
        const auto parts = split_spaces(l.value);
        if (!parts || parts->size() != 6)
            return fail(l.number, "o= needs 6 fields separated by single spaces");
        const auto& p = *parts;
        const auto id = parse_decimal<std::uint64_t>(p[1]);
        if (!id) return fail(l.number, "o= session id is not a decimal number below 2^64");
        const auto version = parse_decimal<std::uint64_t>(p[2]);
        if (!version) return fail(l.number, "o= session version is not a decimal number below 2^64");
        if (!is_non_ws_string(p[0]) || !is_token(p[3]) || !is_token(p[4]) || !is_non_ws_string(p[5]))
            return fail(l.number, "bad o= line");
        sd_.origin = Origin{std::string(p[0]), *id, *version, std::string(p[3]), std::string(p[4]),
                            std::string(p[5])};
        return true;
    }

    std::optional<Connection> parse_connection(const Line& l) {
        const auto parts = split_spaces(l.value);
        if (!parts || parts->size() != 3 || !is_token((*parts)[0]) || !is_token((*parts)[1]) ||
            !is_non_ws_string((*parts)[2])) {
            fail(l.number, "c= needs <nettype> <addrtype> <address>");
            return std::nullopt;
        }
        return Connection{std::string((*parts)[0]), std::string((*parts)[1]), std::string((*parts)[2])};
    }

    // a=<attribute-name>[:<attribute-value>] (RFC 8866 §5.13, §9).
    bool parse_attribute(const Line& l, AttributeList& into) {
        const std::size_t colon = l.value.find(':');
        const std::string_view name = l.value.substr(0, colon);
        if (!is_token(name)) return fail(l.number, "bad attribute name in a= line");
        if (colon == std::string_view::npos)
            into.attributes.push_back(Attribute{std::string(name), std::nullopt});
        else
            into.attributes.push_back(Attribute{std::string(name), std::string(l.value.substr(colon + 1))});
        return true;
    }

    bool parse_session_line(const Line& l) {
        switch (l.type) {
        case 'v': return fail(l.number, "more than one v= line");
        case 'o': return fail(l.number, "more than one o= line");
        case 's': return fail(l.number, "more than one s= line");
        case 'i': case 'u': case 'e': case 'p':
            if (l.type == 'i' || l.type == 'u') {
                for (const auto& f : sd_.descriptive)
                    if (f.type == l.type)
                        return fail(l.number, std::string("more than one ") + l.type + "= line");
            }
            sd_.descriptive.push_back(Field{l.type, std::string(l.value)});
            return true;
        case 'c': {
            if (sd_.connection) return fail(l.number, "more than one session-level c= line");
            auto c = parse_connection(l);
            if (!c) return false;
            sd_.connection = std::move(*c);
            return true;
        }
        case 'b': sd_.bandwidths.emplace_back(l.value); return true;
        case 't': {
            const auto parts = split_spaces(l.value);
            if (!parts || parts->size() != 2) return fail(l.number, "t= needs <start> <stop>");
            const auto start = parse_decimal<std::uint64_t>((*parts)[0]);
            const auto stop = parse_decimal<std::uint64_t>((*parts)[1]);
            if (!start || !stop) return fail(l.number, "t= times must be decimal numbers below 2^64");
            sd_.timings.push_back(Timing{*start, *stop, {}});
            return true;
        }
        case 'r':
            if (sd_.timings.empty()) return fail(l.number, "r= line without a t= line before it");
            sd_.timings.back().repeats.emplace_back(l.value);
            return true;
        case 'z': case 'k': sd_.time_extras.push_back(Field{l.type, std::string(l.value)}); return true;
        case 'a': return parse_attribute(l, sd_);
        default: return fail(l.number, std::string("unknown line type ") + l.type + "=");
        }
    }

    // m=<media> <port>[/<number of ports>] <proto> 1*(SP <fmt>) (RFC 8866 §5.14).
    bool parse_media_line(const Line& l) {
        const auto parts = split_spaces(l.value);
        if (!parts || parts->size() < 4)
            return fail(l.number, "m= needs <media> <port> <proto> <fmt>... separated by single spaces");
        const auto& p = *parts;
        Media m;
        if (!is_token(p[0])) return fail(l.number, "bad media type in m= line");
        m.kind = std::string(p[0]);
        std::string_view port = p[1];
        const std::size_t slash = port.find('/');
        if (slash != std::string_view::npos) {
            const auto count = parse_decimal<std::uint16_t>(port.substr(slash + 1));
            if (!count || *count == 0) return fail(l.number, "bad number of ports in m= line");
            m.port_count = *count;
            port = port.substr(0, slash);
        }
        const auto port_value = parse_decimal<std::uint16_t>(port);
        if (!port_value) return fail(l.number, "m= port is not a number from 0 to 65535");
        m.port = *port_value;
        // proto = token *("/" token)
        for (std::size_t start = 0;;) {
            const std::size_t slash_at = p[2].find('/', start);
            if (!is_token(p[2].substr(start, slash_at == std::string_view::npos ? slash_at : slash_at - start)))
                return fail(l.number, "bad transport protocol in m= line");
            if (slash_at == std::string_view::npos) break;
            start = slash_at + 1;
        }
        m.protocol = std::string(p[2]);
        for (std::size_t k = 3; k < p.size(); ++k) {
            if (!is_token(p[k])) return fail(l.number, "bad format in m= line");
            m.formats.emplace_back(p[k]);
        }
        sd_.media.push_back(std::move(m));
        return true;
    }

    bool parse_media_level_line(const Line& l, Media& m) {
        switch (l.type) {
        case 'i':
            if (m.title) return fail(l.number, "more than one i= line in a media section");
            m.title = std::string(l.value);
            return true;
        case 'c': {
            // RFC 8866 allows several c= lines for layered multicast; WebRTC
            // never sends them, so we refuse rather than silently drop one.
            if (m.connection) return fail(l.number, "more than one c= line in a media section");
            auto c = parse_connection(l);
            if (!c) return false;
            m.connection = std::move(*c);
            return true;
        }
        case 'b': m.bandwidths.emplace_back(l.value); return true;
        case 'k':
            if (m.key) return fail(l.number, "more than one k= line in a media section");
            m.key = std::string(l.value);
            return true;
        case 'a': return parse_attribute(l, m);
        case 'v': case 'o': case 's': case 'u': case 'e': case 'p': case 't': case 'r': case 'z':
            return fail(l.number, std::string(1, l.type) + "= line inside a media section");
        default: return fail(l.number, std::string("unknown line type ") + l.type + "=");
        }
    }

    std::string_view text_;
    ParseLimits limits_;
    std::vector<Line> lines_;
    SessionDescription sd_;
    ParseError error_;
};

// ---------------------------------------------------------------- writer

class Writer {
public:
    void line(char type, std::string_view value) {
        out_.push_back(type);
        out_.push_back('=');
        append(value);
        out_ += "\r\n";
    }
    void line(char type, std::initializer_list<std::string_view> pieces) {
        out_.push_back(type);
        out_.push_back('=');
        bool first = true;
        for (auto p : pieces) {
            if (!first) out_.push_back(' ');
            first = false;
            append(p);
        }
        out_ += "\r\n";
    }
    void attribute(const Attribute& a) {
        out_ += "a=";
        append(a.name);
        if (a.value) {
            out_.push_back(':');
            append(*a.value);
        }
        out_ += "\r\n";
    }
    void connection(const Connection& c) { line('c', {c.net_type, c.addr_type, c.address}); }
    std::string take() { return std::move(out_); }

private:
    // Drops CR, LF and NUL so that no value can split or end a line.
    void append(std::string_view s) {
        for (char c : s)
            if (c != '\r' && c != '\n' && c != '\0') out_.push_back(c);
    }
    std::string out_;
};

}  // namespace

ParseResult parse(std::string_view text, const ParseLimits& limits) {
    return Parser(text, limits).run();
}

std::string write(const SessionDescription& sd) {
    Writer w;
    w.line('v', "0");
    const auto& o = sd.origin;
    w.line('o', {o.username, std::to_string(o.session_id), std::to_string(o.session_version), o.net_type,
                 o.addr_type, o.address});
    w.line('s', sd.session_name);
    for (char type : {'i', 'u', 'e', 'p'})
        for (const auto& f : sd.descriptive)
            if (f.type == type) w.line(type, f.value);
    if (sd.connection) w.connection(*sd.connection);
    for (const auto& b : sd.bandwidths) w.line('b', b);
    if (sd.timings.empty()) w.line('t', "0 0");
    for (const auto& t : sd.timings) {
        w.line('t', {std::to_string(t.start), std::to_string(t.stop)});
        for (const auto& r : t.repeats) w.line('r', r);
    }
    for (char type : {'z', 'k'})
        for (const auto& f : sd.time_extras)
            if (f.type == type) w.line(type, f.value);
    for (const auto& a : sd.attributes) w.attribute(a);
    for (const auto& m : sd.media) {
        std::string port = std::to_string(m.port);
        if (m.port_count) port += "/" + std::to_string(*m.port_count);
        std::string value = m.kind + " " + port + " " + m.protocol;
        for (const auto& f : m.formats) value += " " + f;
        w.line('m', value);
        if (m.title) w.line('i', *m.title);
        if (m.connection) w.connection(*m.connection);
        for (const auto& b : m.bandwidths) w.line('b', b);
        if (m.key) w.line('k', *m.key);
        for (const auto& a : m.attributes) w.attribute(a);
    }
    return w.take();
}

}  // namespace duplex::proto::sdp
