// proto/sdp/rtp_section.cpp: see rtp_section.hpp.
#include "proto/sdp/rtp_section.hpp"

#include "proto/sdp/decimal.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>
#include <utility>

namespace duplex::proto::sdp {

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// "<first> <rest>": the first space-separated token and what follows it.
std::pair<std::string_view, std::string_view> split_first(std::string_view s) noexcept {
    const std::size_t sp = s.find(' ');
    if (sp == std::string_view::npos) return {s, {}};
    return {s.substr(0, sp), trim(s.substr(sp + 1))};
}

// RFC 5761 §4: with the marker bit set, these payload types make the
// second byte 192..223, the range of RTCP packet types.
bool collides_with_rtcp(std::uint8_t pt) noexcept { return pt >= 64 && pt <= 95; }

// RFC 3551 §6, Tables 4 and 5: the static payload types a browser may list
// without an a=rtpmap.
struct StaticType {
    std::uint8_t pt;
    std::string_view name;
    std::uint32_t rate;
};
constexpr StaticType kStaticTypes[] = {
    {0, "PCMU", 8000}, {3, "GSM", 8000},    {4, "G723", 8000},  {8, "PCMA", 8000},  {9, "G722", 8000},
    {13, "CN", 8000},  {18, "G729", 8000},  {26, "JPEG", 90000}, {31, "H261", 90000}, {34, "H263", 90000},
};

const StaticType* static_type(std::uint8_t pt) noexcept {
    for (const auto& t : kStaticTypes)
        if (t.pt == pt) return &t;
    return nullptr;
}

// a=rtpmap:<pt> <name>/<clock rate>[/<channels>] (RFC 8866 §6.6).
bool parse_rtpmap(std::string_view value, std::uint8_t& pt, RtpCodec& codec) {
    const auto [pt_text, encoding] = split_first(value);
    const auto parsed_pt = parse_decimal<unsigned>(pt_text);
    if (!parsed_pt || *parsed_pt > 127) return false;
    const std::size_t slash = encoding.find('/');
    if (slash == 0 || slash == std::string_view::npos) return false;
    const std::string_view name = encoding.substr(0, slash);
    std::string_view rest = encoding.substr(slash + 1);
    const std::size_t slash2 = rest.find('/');
    const auto rate = parse_decimal<std::uint32_t>(rest.substr(0, slash2));
    if (!rate || *rate == 0) return false;
    std::uint8_t channels = 0;
    if (slash2 != std::string_view::npos) {
        const auto ch = parse_decimal<unsigned>(rest.substr(slash2 + 1));
        if (!ch || *ch == 0 || *ch > 255) return false;
        channels = static_cast<std::uint8_t>(*ch);
    }
    pt = static_cast<std::uint8_t>(*parsed_pt);
    codec.name = std::string(name);
    codec.clock_rate = *rate;
    codec.channels = channels;
    return true;
}

RtpCodec* find_codec(std::vector<RtpCodec>& codecs, std::uint8_t pt) noexcept {
    for (auto& c : codecs)
        if (c.payload_type == pt) return &c;
    return nullptr;
}

}  // namespace

// ------------------------------------------------------------------ direction

std::string_view to_string(Direction d) noexcept {
    switch (d) {
    case Direction::SendRecv: return "sendrecv";
    case Direction::SendOnly: return "sendonly";
    case Direction::RecvOnly: return "recvonly";
    case Direction::Inactive: return "inactive";
    }
    return "sendrecv";
}

std::optional<Direction> parse_direction(std::string_view s) noexcept {
    if (s == "sendrecv") return Direction::SendRecv;
    if (s == "sendonly") return Direction::SendOnly;
    if (s == "recvonly") return Direction::RecvOnly;
    if (s == "inactive") return Direction::Inactive;
    return std::nullopt;
}

Direction reverse(Direction d) noexcept {
    switch (d) {
    case Direction::SendOnly: return Direction::RecvOnly;
    case Direction::RecvOnly: return Direction::SendOnly;
    default: return d;
    }
}

bool sends(Direction d) noexcept { return d == Direction::SendRecv || d == Direction::SendOnly; }
bool receives(Direction d) noexcept { return d == Direction::SendRecv || d == Direction::RecvOnly; }

Direction make_direction(bool send, bool receive) noexcept {
    if (send && receive) return Direction::SendRecv;
    if (send) return Direction::SendOnly;
    if (receive) return Direction::RecvOnly;
    return Direction::Inactive;
}

// ---------------------------------------------------------------------- codec

std::optional<std::string_view> RtpCodec::parameter(std::string_view key) const noexcept {
    std::string_view rest = format_parameters;
    while (!rest.empty()) {
        const std::size_t semi = rest.find(';');
        const std::string_view pair = trim(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
        const std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos) continue;
        if (iequals(trim(pair.substr(0, eq)), key)) return trim(pair.substr(eq + 1));
    }
    return std::nullopt;
}

std::optional<std::uint8_t> RtpCodec::associated_payload_type() const noexcept {
    if (!is("rtx")) return std::nullopt;
    const auto apt = parameter("apt");
    if (!apt) return std::nullopt;
    const auto v = parse_decimal<unsigned>(*apt);
    if (!v || *v > 127) return std::nullopt;
    return static_cast<std::uint8_t>(*v);
}

bool RtpCodec::is(std::string_view codec_name) const noexcept { return iequals(name, codec_name); }

bool RtpCodec::has_feedback(std::string_view type, std::string_view param) const noexcept {
    return std::any_of(feedback.begin(), feedback.end(),
                       [&](const RtcpFeedback& f) { return f.type == type && f.parameter == param; });
}

// -------------------------------------------------------------------- section

const RtpCodec* RtpSection::codec(std::uint8_t payload_type) const noexcept {
    for (const auto& c : codecs)
        if (c.payload_type == payload_type) return &c;
    return nullptr;
}

std::uint8_t RtpSection::extension_id(std::string_view uri) const noexcept {
    for (const auto& e : extensions)
        if (e.uri == uri) return e.id;
    return 0;
}

std::optional<std::uint32_t> RtpSection::primary_ssrc() const noexcept {
    for (const auto& g : ssrc_groups)
        if (g.semantics == "FID" && g.ssrcs.size() == 2) return g.ssrcs[0];
    if (!ssrcs.empty()) return ssrcs.front().ssrc;
    return std::nullopt;
}

std::optional<std::uint32_t> RtpSection::rtx_ssrc() const noexcept {
    for (const auto& g : ssrc_groups)
        if (g.semantics == "FID" && g.ssrcs.size() == 2) return g.ssrcs[1];
    return std::nullopt;
}

bool is_rtp_section(const Media& m) noexcept {
    if (m.kind != "audio" && m.kind != "video") return false;
    // RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF, over UDP/TLS or TCP/TLS
    // (RFC 5764 §8, RFC 7850): every one of them has "RTP/" in it.
    return m.protocol.find("RTP/") != std::string::npos;
}

std::variant<RtpSection, RtpSectionError> read_rtp_section(const Media& m, const RtpSectionLimits& limits) {
    if (!is_rtp_section(m)) return RtpSectionError{"not an RTP audio or video section: m=" + m.kind + " " + m.protocol};
    RtpSection s;
    s.kind = m.kind;
    if (auto mid = m.mid()) s.mid = std::string(*mid);

    // The m= line's payload types, in order of preference (RFC 3264 §5.1).
    for (const auto& f : m.formats) {
        const auto pt = parse_decimal<unsigned>(f);
        if (!pt || *pt > 127) return RtpSectionError{"m=" + m.kind + " format " + f + " is not a payload type (0-127)"};
        if (collides_with_rtcp(static_cast<std::uint8_t>(*pt))) continue;
        if (find_codec(s.codecs, static_cast<std::uint8_t>(*pt))) continue;  // listed twice: once is enough
        if (s.codecs.size() >= limits.max_codecs)
            return RtpSectionError{"more than " + std::to_string(limits.max_codecs) + " payload types"};
        RtpCodec c;
        c.payload_type = static_cast<std::uint8_t>(*pt);
        s.codecs.push_back(std::move(c));
    }

    std::vector<bool> mapped(128, false);
    std::vector<bool> has_fmtp(128, false);
    std::vector<RtcpFeedback> wildcard_feedback;
    for (const auto& a : m.attributes) {
        const std::string_view value = a.value ? std::string_view(*a.value) : std::string_view{};
        if (a.name == "rtpmap") {
            std::uint8_t pt = 0;
            RtpCodec parsed;
            if (!parse_rtpmap(value, pt, parsed)) return RtpSectionError{"bad a=rtpmap:" + std::string(value)};
            RtpCodec* c = find_codec(s.codecs, pt);
            if (c == nullptr) continue;  // not in the m= line: ignored
            if (mapped[pt]) return RtpSectionError{"two a=rtpmap lines for payload type " + std::to_string(pt)};
            mapped[pt] = true;
            c->name = std::move(parsed.name);
            c->clock_rate = parsed.clock_rate;
            c->channels = parsed.channels;
        } else if (a.name == "fmtp") {
            const auto [pt_text, params] = split_first(value);
            const auto pt = parse_decimal<unsigned>(pt_text);
            if (!pt || *pt > 127) continue;
            RtpCodec* c = find_codec(s.codecs, static_cast<std::uint8_t>(*pt));
            if (c == nullptr || has_fmtp[*pt]) continue;  // the first one counts
            has_fmtp[*pt] = true;
            c->format_parameters = std::string(params);
        } else if (a.name == "rtcp-fb") {
            const auto [pt_text, rest] = split_first(value);
            const auto [type, param] = split_first(rest);
            if (type.empty()) return RtpSectionError{"bad a=rtcp-fb:" + std::string(value)};
            RtcpFeedback fb{std::string(type), std::string(param)};
            if (pt_text == "*") {  // RFC 4585 §4.2: every payload type
                if (wildcard_feedback.size() < limits.max_feedback_per_codec) wildcard_feedback.push_back(std::move(fb));
                continue;
            }
            const auto pt = parse_decimal<unsigned>(pt_text);
            if (!pt || *pt > 127) continue;
            RtpCodec* c = find_codec(s.codecs, static_cast<std::uint8_t>(*pt));
            if (c == nullptr) continue;
            if (c->feedback.size() >= limits.max_feedback_per_codec)
                return RtpSectionError{"more than " + std::to_string(limits.max_feedback_per_codec) +
                                       " a=rtcp-fb lines for payload type " + std::to_string(*pt)};
            if (!c->has_feedback(fb.type, fb.parameter)) c->feedback.push_back(std::move(fb));
        } else if (a.name == "extmap") {
            // a=extmap:<value>["/"<direction>] <URI> <extensionattributes>
            const auto [id_text, rest] = split_first(value);
            const auto [uri, attrs] = split_first(rest);
            const std::size_t slash = id_text.find('/');
            const auto id = parse_decimal<unsigned>(id_text.substr(0, slash));
            if (!id || *id == 0 || *id > 255 || uri.empty())
                return RtpSectionError{"bad a=extmap:" + std::string(value) + " (ids are 1-255, RFC 8285 §5)"};
            HeaderExtension e;
            e.id = static_cast<std::uint8_t>(*id);
            if (slash != std::string_view::npos) {
                e.direction = parse_direction(id_text.substr(slash + 1));
                if (!e.direction) return RtpSectionError{"bad direction in a=extmap:" + std::string(value)};
            }
            for (const auto& other : s.extensions)
                if (other.id == e.id)
                    return RtpSectionError{"a=extmap id " + std::to_string(e.id) + " used twice (RFC 8285 §5)"};
            if (s.extensions.size() >= limits.max_extensions)
                return RtpSectionError{"more than " + std::to_string(limits.max_extensions) + " a=extmap lines"};
            e.uri = std::string(uri);
            e.attributes = std::string(attrs);
            s.extensions.push_back(std::move(e));
        } else if (auto d = parse_direction(a.name); d && !a.value) {
            s.direction = *d;  // the last one wins; a description has one
        } else if (a.name == "rtcp-mux") {
            s.rtcp_mux = true;
        } else if (a.name == "rtcp-rsize") {
            s.rtcp_reduced_size = true;
        } else if (a.name == "msid") {
            // RFC 8830 §2: msid-id [ SP msid-appdata ]
            const auto [stream, track] = split_first(value);
            if (stream.empty()) return RtpSectionError{"bad a=msid:" + std::string(value)};
            if (!s.msid_stream) {
                s.msid_stream = std::string(stream);
                if (!track.empty()) s.msid_track = std::string(track);
            }
        } else if (a.name == "ssrc-group") {
            const auto [semantics, list] = split_first(value);
            SsrcGroup g;
            g.semantics = std::string(semantics);
            std::string_view rest = list;
            while (!rest.empty()) {
                const auto [one, more] = split_first(rest);
                const auto ssrc = parse_decimal<std::uint32_t>(one);
                if (!ssrc) return RtpSectionError{"bad SSRC in a=ssrc-group:" + std::string(value)};
                if (g.ssrcs.size() >= limits.max_ssrcs)
                    return RtpSectionError{"more than " + std::to_string(limits.max_ssrcs) + " SSRCs in a group"};
                g.ssrcs.push_back(*ssrc);
                rest = more;
            }
            if (semantics.empty() || g.ssrcs.empty()) return RtpSectionError{"bad a=ssrc-group:" + std::string(value)};
            if (s.ssrc_groups.size() >= limits.max_ssrcs)
                return RtpSectionError{"more than " + std::to_string(limits.max_ssrcs) + " a=ssrc-group lines"};
            s.ssrc_groups.push_back(std::move(g));
        } else if (a.name == "ssrc") {
            // a=ssrc:<ssrc-id> <attribute>[:<value>]
            const auto [id_text, attr] = split_first(value);
            const auto ssrc = parse_decimal<std::uint32_t>(id_text);
            if (!ssrc) return RtpSectionError{"bad a=ssrc:" + std::string(value)};
            auto it = std::find_if(s.ssrcs.begin(), s.ssrcs.end(), [&](const SsrcInfo& i) { return i.ssrc == *ssrc; });
            if (it == s.ssrcs.end()) {
                if (s.ssrcs.size() >= limits.max_ssrcs)
                    return RtpSectionError{"more than " + std::to_string(limits.max_ssrcs) + " SSRCs"};
                s.ssrcs.push_back(SsrcInfo{*ssrc, {}, {}});
                it = s.ssrcs.end() - 1;
            }
            const std::size_t colon = attr.find(':');
            const std::string_view name = attr.substr(0, colon);
            const std::string_view attr_value = colon == std::string_view::npos ? std::string_view{} : attr.substr(colon + 1);
            if (name == "cname") it->cname = std::string(attr_value);
            else if (name == "msid") it->msid = std::string(attr_value);
        }
    }

    // Payload types without an rtpmap: kept if RFC 3551 defines them, else
    // dropped (we cannot know what they carry).
    std::erase_if(s.codecs, [&](RtpCodec& c) {
        if (mapped[c.payload_type]) return false;
        const StaticType* t = static_type(c.payload_type);
        if (t == nullptr) return true;
        c.name = std::string(t->name);
        c.clock_rate = t->rate;
        return false;
    });
    for (auto& c : s.codecs)
        for (const auto& fb : wildcard_feedback)
            if (!c.has_feedback(fb.type, fb.parameter) && c.feedback.size() < limits.max_feedback_per_codec)
                c.feedback.push_back(fb);
    return s;
}

void write_rtp_section(const RtpSection& s, Media& m) {
    m.kind = s.kind;
    m.formats.clear();
    for (const auto& c : s.codecs) m.formats.push_back(std::to_string(c.payload_type));
    if (!s.mid.empty()) m.add_attribute("mid", s.mid);
    for (const auto& e : s.extensions) {
        std::string v = std::to_string(e.id);
        if (e.direction) v += "/" + std::string(to_string(*e.direction));
        v += " " + e.uri;
        if (!e.attributes.empty()) v += " " + e.attributes;
        m.add_attribute("extmap", std::move(v));
    }
    m.add_attribute(std::string(to_string(s.direction)));
    if (s.msid_stream) m.add_attribute("msid", *s.msid_stream + (s.msid_track ? " " + *s.msid_track : std::string()));
    if (s.rtcp_mux) m.add_attribute("rtcp-mux");
    if (s.rtcp_reduced_size) m.add_attribute("rtcp-rsize");
    for (const auto& c : s.codecs) {
        const std::string pt = std::to_string(c.payload_type);
        std::string map = pt + " " + c.name + "/" + std::to_string(c.clock_rate);
        if (c.channels) map += "/" + std::to_string(c.channels);
        m.add_attribute("rtpmap", std::move(map));
        for (const auto& fb : c.feedback)
            m.add_attribute("rtcp-fb", pt + " " + fb.type + (fb.parameter.empty() ? "" : " " + fb.parameter));
        if (!c.format_parameters.empty()) m.add_attribute("fmtp", pt + " " + c.format_parameters);
    }
    for (const auto& g : s.ssrc_groups) {
        std::string v = g.semantics;
        for (auto ssrc : g.ssrcs) v += " " + std::to_string(ssrc);
        m.add_attribute("ssrc-group", std::move(v));
    }
    for (const auto& i : s.ssrcs) {
        // cname always: it is what declares the source (RFC 5576 §6.1 makes it mandatory).
        m.add_attribute("ssrc", std::to_string(i.ssrc) + " cname:" + i.cname);
        if (!i.msid.empty()) m.add_attribute("ssrc", std::to_string(i.ssrc) + " msid:" + i.msid);
    }
}

}  // namespace duplex::proto::sdp
