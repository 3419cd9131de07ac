// proto/sdp/jsep.cpp: see jsep.hpp.
#include "proto/sdp/jsep.hpp"

#include "proto/sdp/decimal.hpp"

#include <algorithm>
#include <charconv>
#include <system_error>
#include <utility>

namespace duplex::proto::sdp {

namespace {

constexpr std::string_view kDataChannelFormat = "webrtc-datachannel";  // RFC 8841 §4.1
constexpr std::string_view kLegacyProtocol = "DTLS/SCTP";              // pre-RFC 8841 drafts
constexpr std::uint32_t kDefaultRemoteMaxMessageSize = 65536;          // RFC 8841 §6.1
constexpr std::uint16_t kDefaultSctpPort = 5000;                       // RFC 8841 §5.2
constexpr std::uint16_t kLegacySctpStreams = 65535;                    // what browsers wrote in a=sctpmap

char to_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char to_upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_legacy(const Media& m) noexcept { return m.protocol == kLegacyProtocol; }

// Media level first, then session level (RFC 8839 §5.4, RFC 8122 §5: these
// attributes may appear at either level).
std::optional<std::string_view> lookup(const SessionDescription& sd, const Media& m,
                                       std::string_view name) noexcept {
    if (auto v = m.attribute(name)) return v;
    return sd.attribute(name);
}

// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4).
bool valid_ice_string(std::string_view s, std::size_t min, std::size_t max) noexcept {
    if (s.size() < min || s.size() > max) return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '+' || c == '/';
        if (!ok) return false;
    }
    return true;
}

std::size_t digest_size(std::string_view algorithm) noexcept {
    if (algorithm == "sha-256") return 32;
    if (algorithm == "sha-384") return 48;
    if (algorithm == "sha-512") return 64;
    return 0;
}

// fingerprint = 2UHEX *(":" 2UHEX) (RFC 8122 §5). We accept lower-case hex
// too and normalize to upper case.
std::optional<std::string> normalize_fingerprint(std::string_view value, std::size_t bytes) {
    if (value.size() != bytes * 3 - 1) return std::nullopt;
    std::string out(value);
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (i % 3 == 2) {
            if (out[i] != ':') return std::nullopt;
        } else {
            if (!is_hex(out[i])) return std::nullopt;
            out[i] = to_upper(out[i]);
        }
    }
    return out;
}

bool has_token(std::string_view list, std::string_view token) noexcept {
    std::size_t pos = 0;
    while (pos <= list.size()) {
        std::size_t sp = list.find(' ', pos);
        if (sp == std::string_view::npos) sp = list.size();
        if (list.substr(pos, sp - pos) == token) return true;
        pos = sp + 1;
    }
    return false;
}

void add_candidate(Media& m, std::string_view candidate) {
    if (candidate.substr(0, 2) == "a=") candidate.remove_prefix(2);
    constexpr std::string_view prefix = "candidate:";
    if (candidate.substr(0, prefix.size()) == prefix) candidate.remove_prefix(prefix.size());
    m.add_attribute("candidate", std::string(candidate));
}

// ICE and DTLS attributes, in the order Chromium writes them. Every section
// we offer or accept carries them (bundled ones share the same values).
void add_ice_dtls(Media& m, const TransportParams& local, Setup setup) {
    for (const auto& c : local.candidates) add_candidate(m, c);
    if (local.end_of_candidates) m.add_attribute("end-of-candidates");
    m.add_attribute("ice-ufrag", local.ice_ufrag);
    m.add_attribute("ice-pwd", local.ice_pwd);
    if (local.trickle) m.add_attribute("ice-options", "trickle");
    m.add_attribute("fingerprint", local.fingerprint_algorithm + " " + local.fingerprint);
    m.add_attribute("setup", std::string(to_string(setup)));
}

// The data channels' section: transport, mid, SCTP.
void add_transport(Media& m, const TransportParams& local, Setup setup, std::string_view mid) {
    add_ice_dtls(m, local, setup);
    m.add_attribute("mid", std::string(mid));
    if (is_legacy(m)) {
        // draft-ietf-mmusic-sctp-sdp-05 §4: a=sctpmap:<port> webrtc-datachannel <streams>.
        m.add_attribute("sctpmap", std::to_string(local.sctp_port) + " " + std::string(kDataChannelFormat) +
                                       " " + std::to_string(kLegacySctpStreams));
    } else {
        m.add_attribute("sctp-port", std::to_string(local.sctp_port));
    }
    m.add_attribute("max-message-size", std::to_string(local.max_message_size));
}

// An audio/video section of ours: RFC 8829 §5.2.1 placeholders, transport,
// then the RTP attributes (mid first among them).
Media rtp_media(const RtpSection& rtp, std::string_view protocol, const TransportParams& local, Setup setup) {
    Media m;
    m.kind = rtp.kind;
    m.port = 9;
    m.protocol = std::string(protocol);
    m.connection = Connection{"IN", "IP4", "0.0.0.0"};
    add_ice_dtls(m, local, setup);
    write_rtp_section(rtp, m);
    return m;
}

bool usable_rtp_section(const Media& m) noexcept {
    return is_rtp_section(m) && (!m.rejected() || m.has_attribute("bundle-only"));
}

std::vector<std::string_view> bundle_mids(const SessionDescription& sd) {
    std::vector<std::string_view> mids;
    for (auto group : sd.attributes_named("group")) {
        if (group.substr(0, 7) != "BUNDLE ") continue;
        std::string_view rest = group.substr(7);
        while (!rest.empty()) {
            const std::size_t sp = rest.find(' ');
            if (sp != 0) mids.push_back(rest.substr(0, sp));
            if (sp == std::string_view::npos) break;
            rest.remove_prefix(sp + 1);
        }
    }
    return mids;
}

SessionDescription session_skeleton(std::uint64_t session_id, std::uint64_t session_version) {
    SessionDescription sd;
    // RFC 8829 §5.2.1: username "-", a fresh numeric id, a non-meaningful address.
    sd.origin = Origin{"-", session_id, session_version, "IN", "IP4", "127.0.0.1"};
    sd.session_name = "-";
    sd.timings = {Timing{0, 0, {}}};
    return sd;
}

}  // namespace

std::string_view to_string(Setup s) noexcept {
    switch (s) {
    case Setup::ActPass: return "actpass";
    case Setup::Active: return "active";
    case Setup::Passive: return "passive";
    }
    return "actpass";
}

std::optional<Setup> parse_setup(std::string_view s) noexcept {
    if (s == "actpass") return Setup::ActPass;
    if (s == "active") return Setup::Active;
    if (s == "passive") return Setup::Passive;
    return std::nullopt;
}

bool is_data_channel_section(const Media& m) noexcept {
    if (m.kind != "application") return false;
    if (m.rejected() && !m.has_attribute("bundle-only")) return false;
    if (m.protocol == "UDP/DTLS/SCTP" || m.protocol == "TCP/DTLS/SCTP") {
        for (const auto& f : m.formats)
            if (f == kDataChannelFormat) return true;
        return false;
    }
    if (is_legacy(m)) {
        // Legacy: "m=application <port> DTLS/SCTP <sctp port>" with
        // "a=sctpmap:<sctp port> webrtc-datachannel <streams>".
        for (auto map : m.attributes_named("sctpmap")) {
            const std::size_t sp = map.find(' ');
            if (sp != std::string_view::npos && map.substr(sp + 1).substr(0, kDataChannelFormat.size()) ==
                                                    kDataChannelFormat)
                return true;
        }
        return false;
    }
    return false;
}

SessionDescription create_offer(const TransportParams& local, std::uint64_t session_id,
                                std::uint64_t session_version, std::string mid) {
    SessionDescription sd = session_skeleton(session_id, session_version);
    sd.add_attribute("group", "BUNDLE " + mid);              // RFC 8843 §7.2
    sd.add_attribute("msid-semantic", " WMS");               // as browsers write it; harmless
    if (local.ice_lite) sd.add_attribute("ice-lite");        // RFC 8839 §5.3: session level only

    Media m;
    m.kind = "application";
    m.port = 9;                                              // RFC 8829 §5.2.1
    m.protocol = "UDP/DTLS/SCTP";                            // RFC 8841 §4.1
    m.formats = {std::string(kDataChannelFormat)};
    m.connection = Connection{"IN", "IP4", "0.0.0.0"};
    add_transport(m, local, local.setup, mid);
    sd.media.push_back(std::move(m));
    return sd;
}

SessionDescription create_offer(const TransportParams& local, std::uint64_t session_id,
                                std::uint64_t session_version, const std::vector<OfferSection>& sections) {
    SessionDescription sd = session_skeleton(session_id, session_version);
    std::string group;
    for (const auto& section : sections)
        if (!section.rejected) group += (group.empty() ? "BUNDLE " : " ") + section.mid;
    if (!group.empty()) sd.add_attribute("group", group);  // RFC 8843 §7.2
    sd.add_attribute("msid-semantic", " WMS");
    if (local.ice_lite) sd.add_attribute("ice-lite");
    for (const auto& section : sections) {
        if (section.rejected) {
            Media m;
            m.kind = section.kind;
            m.port = 0;
            m.protocol = section.protocol;
            m.formats = section.formats;
            if (m.formats.empty()) m.formats = {"0"};  // RFC 8866 §5.14: at least one
            m.connection = Connection{"IN", "IP4", "0.0.0.0"};
            m.add_attribute("mid", section.mid);
            sd.media.push_back(std::move(m));
            continue;
        }
        if (!section.rtp) {
            Media m;
            m.kind = "application";
            m.port = 9;
            m.protocol = "UDP/DTLS/SCTP";
            m.formats = {std::string(kDataChannelFormat)};
            m.connection = Connection{"IN", "IP4", "0.0.0.0"};
            add_transport(m, local, local.setup, section.mid);
            sd.media.push_back(std::move(m));
            continue;
        }
        RtpSection rtp = *section.rtp;
        rtp.mid = section.mid;
        rtp.rtcp_mux = true;           // RFC 8829 §5.2.1: offered, and required of the answer
        rtp.rtcp_reduced_size = true;  // RFC 8829 §5.2.1
        sd.media.push_back(rtp_media(rtp, "UDP/TLS/RTP/SAVPF", local, local.setup));
    }
    return sd;
}

std::variant<SessionDescription, JsepError> create_answer(const SessionDescription& offer,
                                                          const TransportParams& local,
                                                          std::uint64_t session_id,
                                                          std::uint64_t session_version,
                                                          const MediaAnswerPolicy& media) {
    // What we accept: the first usable data-channel section, and the
    // audio/video sections the policy takes (rtcp-mux is required: we have
    // one transport, RFC 8829 §5.3.1).
    std::optional<std::size_t> data_index;
    std::vector<std::optional<RtpSection>> answers(offer.media.size());
    const auto grouped = bundle_mids(offer);
    bool taken_one = false;
    for (std::size_t i = 0; i < offer.media.size(); ++i)
        if (is_data_channel_section(offer.media[i])) {
            data_index = i;
            taken_one = true;
            break;
        }
    for (std::size_t i = 0; i < offer.media.size(); ++i) {
        const Media& om = offer.media[i];
        if (i == data_index) continue;
        if (!media || !usable_rtp_section(om) || !om.has_attribute("rtcp-mux")) continue;
        // One transport: in the group, or (no group) the only section taken.
        const auto om_mid = om.mid();
        if (grouped.empty() ? taken_one
                            : !om_mid || std::find(grouped.begin(), grouped.end(), *om_mid) == grouped.end())
            continue;
        auto read = read_rtp_section(om);
        auto* offered = std::get_if<RtpSection>(&read);
        if (offered == nullptr) continue;  // a section we cannot read is rejected, not the whole offer
        auto answer = media(*offered);
        if (!answer || answer->codecs.empty()) continue;
        answer->kind = offered->kind;
        answer->mid = offered->mid;
        answer->rtcp_mux = true;
        answer->rtcp_reduced_size = offered->rtcp_reduced_size;
        answers[i] = std::move(answer);
        taken_one = true;
    }
    bool any_media = false;
    for (const auto& a : answers) any_media = any_media || a.has_value();
    if (!data_index && !any_media)
        return JsepError{media ? "nothing to accept: no data channel m-line and no audio/video section we take"
                               : "no data channel m-line"};

    // Validates the offer's transport the same way the caller will when it
    // applies it (with the same sections accepted).
    auto remote = extract_remote(offer, [&](std::size_t i, const Media&) { return i == data_index || answers[i]; });
    if (auto* e = std::get_if<JsepError>(&remote)) return std::move(*e);
    const RemoteParams& r = std::get<RemoteParams>(remote);

    // RFC 8842 §5: actpass lets us choose (active, as browsers do, unless the
    // caller asked for passive); otherwise we take the opposite role.
    Setup setup = Setup::Active;
    switch (r.setup) {
    case Setup::ActPass: setup = local.setup == Setup::Passive ? Setup::Passive : Setup::Active; break;
    case Setup::Active: setup = Setup::Passive; break;
    case Setup::Passive: setup = Setup::Active; break;
    }

    SessionDescription sd = session_skeleton(session_id, session_version);
    // RFC 8843 §7.3: the answer's BUNDLE group holds the accepted sections of
    // the offer's group, in its order; rejected ones leave it, and the first
    // accepted one is the tag (§7.3.4).
    std::string group;
    for (auto mid : bundle_mids(offer)) {
        for (std::size_t i = 0; i < offer.media.size(); ++i) {
            if (offer.media[i].mid() != mid || !(i == data_index || answers[i])) continue;
            group += (group.empty() ? "BUNDLE " : " ") + std::string(mid);
            break;
        }
    }
    if (!group.empty()) sd.add_attribute("group", group);
    sd.add_attribute("msid-semantic", " WMS");
    if (local.ice_lite) sd.add_attribute("ice-lite");

    for (std::size_t i = 0; i < offer.media.size(); ++i) {
        const Media& om = offer.media[i];
        if (answers[i]) {
            sd.media.push_back(rtp_media(*answers[i], om.protocol, local, setup));
            continue;
        }
        Media m;
        m.kind = om.kind;
        m.protocol = om.protocol;
        m.connection = Connection{"IN", "IP4", "0.0.0.0"};
        if (i == data_index) {
            m.port = 9;
            if (is_legacy(om))
                m.formats = {std::to_string(local.sctp_port)};
            else
                m.formats = {std::string(kDataChannelFormat)};
            add_transport(m, local, setup, r.mid);
        } else {
            // RFC 8829 §5.3.1 / RFC 3264 §6: a rejected section keeps the
            // offer's media, proto and formats, with port 0; RFC 8843 §7.3.3:
            // and no transport attributes, only the mid.
            m.port = 0;
            m.formats = om.formats;
            if (auto mid = om.mid()) m.add_attribute("mid", std::string(*mid));
        }
        sd.media.push_back(std::move(m));
    }
    return sd;
}

std::variant<RemoteParams, JsepError> extract_remote(const SessionDescription& sd, const SectionFilter& accepted) {
    std::optional<std::size_t> index;  // the data channels'
    for (std::size_t i = 0; i < sd.media.size() && !index; ++i)
        if (is_data_channel_section(sd.media[i]) && (!accepted || accepted(i, sd.media[i]))) index = i;
    auto counts = [&](std::size_t i) {
        if (accepted) return accepted(i, sd.media[i]);
        return i == index || usable_rtp_section(sd.media[i]);
    };
    // The transport: the first counted section of the BUNDLE group, or
    // without one the first counted section.
    std::optional<std::size_t> transport;
    for (auto mid : bundle_mids(sd)) {
        for (std::size_t i = 0; i < sd.media.size() && !transport; ++i)
            if (sd.media[i].mid() == mid && counts(i)) transport = i;
        if (transport) break;
    }
    for (std::size_t i = 0; i < sd.media.size() && !transport; ++i)
        if (counts(i)) transport = i;
    if (!transport) return JsepError{"no data channel m-line"};

    RemoteParams r;
    r.transport_index = *transport;
    if (auto mid = sd.media[*transport].mid()) r.transport_mid = std::string(*mid);
    r.has_data_channel = index.has_value();
    if (index) {
        r.media_index = *index;
        r.legacy_sctpmap = is_legacy(sd.media[*index]);
        if (auto mid = sd.media[*index].mid()) r.mid = std::string(*mid);
    }
    const Media& m = sd.media[*transport];

    // ICE (RFC 8839 §5.4).
    const auto ufrag = lookup(sd, m, "ice-ufrag");
    const auto pwd = lookup(sd, m, "ice-pwd");
    if (!ufrag) return JsepError{"missing a=ice-ufrag"};
    if (!pwd) return JsepError{"missing a=ice-pwd"};
    if (!valid_ice_string(*ufrag, 4, 256)) return JsepError{"a=ice-ufrag must be 4 to 256 ice-chars"};
    if (!valid_ice_string(*pwd, 22, 256)) return JsepError{"a=ice-pwd must be 22 to 256 ice-chars"};
    r.ice_ufrag = std::string(*ufrag);
    r.ice_pwd = std::string(*pwd);
    r.ice_lite = sd.has_attribute("ice-lite");
    for (const auto* level : {static_cast<const AttributeList*>(&m), static_cast<const AttributeList*>(&sd)})
        for (auto options : level->attributes_named("ice-options"))
            if (has_token(options, "trickle")) r.trickle = true;

    // DTLS fingerprint (RFC 8122 §5): the first one with a hash we accept.
    auto fingerprints = m.attributes_named("fingerprint");
    if (fingerprints.empty()) fingerprints = sd.attributes_named("fingerprint");
    if (fingerprints.empty()) return JsepError{"missing a=fingerprint"};
    std::string refused;
    for (auto fp : fingerprints) {
        const std::size_t sp = fp.find(' ');
        if (sp == std::string_view::npos) return JsepError{"malformed a=fingerprint (no hash function)"};
        std::string algorithm;
        for (char c : fp.substr(0, sp)) algorithm.push_back(to_lower(c));
        const std::size_t bytes = digest_size(algorithm);
        if (bytes == 0) {
            if (!refused.empty()) refused += ", ";
            refused += algorithm;
            continue;
        }
        auto value = normalize_fingerprint(fp.substr(sp + 1), bytes);
        if (!value) return JsepError{"malformed a=fingerprint value for " + algorithm};
        r.fingerprint_algorithm = std::move(algorithm);
        r.fingerprint = std::move(*value);
        break;
    }
    if (r.fingerprint.empty())
        return JsepError{"unsupported a=fingerprint hash function " + refused +
                         " (accepted: sha-256, sha-384, sha-512)"};

    // DTLS role (RFC 8842 §5); absent -> active, the RFC 4145 §4 default.
    if (auto setup = lookup(sd, m, "setup")) {
        auto parsed = parse_setup(*setup);
        if (!parsed) return JsepError{"unsupported a=setup:" + std::string(*setup)};
        r.setup = *parsed;
    } else {
        r.setup = Setup::Active;
    }

    for (auto c : m.attributes_named("candidate")) r.candidates.push_back("candidate:" + std::string(c));
    r.end_of_candidates = m.has_attribute("end-of-candidates") || sd.has_attribute("end-of-candidates");

    if (!index) return r;
    const Media& dm = sd.media[*index];

    // SCTP port (RFC 8841 §5).
    r.sctp_port = kDefaultSctpPort;
    if (r.legacy_sctpmap) {
        for (auto map : dm.attributes_named("sctpmap")) {
            const auto port = parse_decimal<std::uint16_t>(map.substr(0, map.find(' ')));
            if (!port || *port == 0) return JsepError{"bad a=sctpmap port"};
            r.sctp_port = *port;
            break;
        }
    } else if (auto port = dm.attribute("sctp-port")) {
        const auto value = parse_decimal<std::uint16_t>(*port);
        if (!value || *value == 0) return JsepError{"a=sctp-port must be a number from 1 to 65535"};
        r.sctp_port = *value;
    }

    // max-message-size (RFC 8841 §6): absent -> 64 KiB; 0 -> any size.
    r.max_message_size = kDefaultRemoteMaxMessageSize;
    if (auto size = dm.attribute("max-message-size")) {
        bool digits = !size->empty();
        for (char c : *size) digits = digits && c >= '0' && c <= '9';
        if (!digits) return JsepError{"a=max-message-size must be a decimal number"};
        const auto value = parse_decimal<std::uint64_t>(*size);  // nullopt only if above 2^64-1
        if (!value || *value == 0 || *value > kNoMessageSizeLimit)
            r.max_message_size = kNoMessageSizeLimit;
        else
            r.max_message_size = static_cast<std::uint32_t>(*value);
    }
    return r;
}

}  // namespace duplex::proto::sdp
