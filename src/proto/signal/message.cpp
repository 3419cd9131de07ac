#include "proto/signal/message.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace duplex::proto::signal {

using nlohmann::json;

bool is_valid_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
    });
}

std::string_view to_string(SdpKind k) noexcept { return k == SdpKind::Offer ? "offer" : "answer"; }

namespace {

// A reader of one JSON object that checks every field's type before it
// touches it (nlohmann's accessors throw on a wrong type: never called
// unchecked here). The first failure is kept; later calls do nothing.
class Fields {
public:
    explicit Fields(const json& j) : j_(j) {}
    bool ok() const noexcept { return error_.empty(); }
    ParseError error() const { return {error_}; }
    void fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
    }

    /// A string field of at most `max` bytes; absent: `required` decides.
    std::string text(const char* key, bool required, std::size_t max) {
        if (!ok()) return {};
        auto it = j_.find(key);
        if (it == j_.end() || (!required && it->is_null())) {
            if (required) fail(std::string("missing \"") + key + "\"");
            return {};
        }
        if (!it->is_string()) {
            fail(std::string("\"") + key + "\" must be a string");
            return {};
        }
        const auto& s = it->get_ref<const std::string&>();
        if (s.size() > max) {
            fail(std::string("\"") + key + "\" is too long");
            return {};
        }
        return s;
    }
    /// A room name or peer id (1-64 characters of A-Za-z0-9_.-).
    std::string name(const char* key, bool required) {
        std::string s = text(key, required, 64);
        if (ok() && (required || j_.contains(key)) && !is_valid_name(s))
            fail(std::string("\"") + key + "\" must be 1-64 characters of A-Za-z0-9_.-");
        return s;
    }
    std::optional<std::string> optional_text(const char* key, std::size_t max) {
        if (!ok()) return std::nullopt;
        auto it = j_.find(key);
        if (it == j_.end() || it->is_null()) return std::nullopt;
        return text(key, true, max);
    }
    std::optional<std::uint16_t> optional_index(const char* key) {
        if (!ok()) return std::nullopt;
        auto it = j_.find(key);
        if (it == j_.end() || it->is_null()) return std::nullopt;
        // An m-line index: a small non-negative integer.
        if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 1024) {
            fail(std::string("\"") + key + "\" must be a small integer");
            return std::nullopt;
        }
        return static_cast<std::uint16_t>(it->get<std::int64_t>());
    }
    /// An array of at most `max` elements, each checked by `each`.
    template <class Each>
    void array(const char* key, bool required, std::size_t max, Each each) {
        if (!ok()) return;
        auto it = j_.find(key);
        if (it == j_.end()) {
            if (required) fail(std::string("missing \"") + key + "\"");
            return;
        }
        if (!it->is_array() || it->size() > max) {
            fail(std::string("\"") + key + "\" must be an array of at most " + std::to_string(max));
            return;
        }
        for (const auto& e : *it) {
            each(e);
            if (!ok()) return;
        }
    }

private:
    const json& j_;
    std::string error_;
};

/// The object and its "type", or why not.
std::variant<json, ParseError> object_with_type(std::string_view text, std::string& type) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);  // no exceptions: discarded on error
    if (j.is_discarded() || !j.is_object()) return ParseError{"not a JSON object"};
    auto it = j.find("type");
    if (it == j.end() || !it->is_string()) return ParseError{"missing \"type\""};
    type = it->get<std::string>();
    return j;
}

Description description(Fields& f, SdpKind kind, const char* peer_key, const SchemaLimits& l) {
    Description d;
    d.kind = kind;
    d.peer = f.name(peer_key, true);
    d.sdp = f.text("sdp", true, l.max_sdp);
    return d;
}

Candidate candidate(Fields& f, const char* peer_key, const SchemaLimits& l) {
    Candidate c;
    c.peer = f.name(peer_key, true);
    c.candidate = f.text("candidate", true, l.max_candidate);
    c.sdp_mid = f.optional_text("sdpMid", 64);
    c.sdp_mline_index = f.optional_index("sdpMLineIndex");
    return c;
}

}  // namespace

std::variant<ClientMessage, ParseError> parse_client_message(std::string_view text, const SchemaLimits& limits) {
    std::string type;
    auto parsed = object_with_type(text, type);
    if (auto* e = std::get_if<ParseError>(&parsed)) return *e;
    const json& j = std::get<json>(parsed);
    Fields f(j);
    ClientMessage m;
    if (type == "join") {
        Join join;
        join.room = f.name("room", true);
        join.id = f.name("id", false);
        join.token = f.text("token", false, limits.max_field);
        m = std::move(join);
    } else if (type == "offer" || type == "answer") {
        m = description(f, type == "offer" ? SdpKind::Offer : SdpKind::Answer, "to", limits);
    } else if (type == "candidate") {
        m = candidate(f, "to", limits);
    } else if (type == "leave") {
        m = Leave{};
    } else {
        return ParseError{"unknown \"type\""};
    }
    if (!f.ok()) return f.error();
    return m;
}

std::variant<ServerMessage, ParseError> parse_server_message(std::string_view text, const SchemaLimits& limits) {
    std::string type;
    auto parsed = object_with_type(text, type);
    if (auto* e = std::get_if<ParseError>(&parsed)) return *e;
    const json& j = std::get<json>(parsed);
    Fields f(j);
    ServerMessage m;
    if (type == "joined") {
        Joined joined;
        joined.room = f.name("room", true);
        joined.id = f.name("id", true);
        f.array("peers", false, limits.max_peers, [&](const json& e) {
            if (!e.is_string() || !is_valid_name(e.get_ref<const std::string&>()))
                return f.fail("\"peers\" must hold peer ids");
            joined.peers.push_back(e.get<std::string>());
        });
        f.array("iceServers", false, limits.max_ice_servers, [&](const json& e) {
            if (!e.is_object()) return f.fail("\"iceServers\" must hold objects");
            Fields server(e);
            IceServer s;
            // "urls": one URL or several (RTCIceServer).
            auto urls = e.find("urls");
            if (urls != e.end() && urls->is_string()) {
                s.urls.push_back(server.text("urls", true, limits.max_field));
            } else {
                server.array("urls", true, limits.max_urls, [&](const json& u) {
                    if (!u.is_string() || u.get_ref<const std::string&>().size() > limits.max_field)
                        return server.fail("\"urls\" must hold strings");
                    s.urls.push_back(u.get<std::string>());
                });
            }
            s.username = server.text("username", false, limits.max_field);
            s.credential = server.text("credential", false, limits.max_field);
            if (!server.ok()) return f.fail("iceServers: " + server.error().message);
            joined.ice_servers.push_back(std::move(s));
        });
        m = std::move(joined);
    } else if (type == "peer-joined") {
        m = PeerJoined{f.name("id", true)};
    } else if (type == "peer-left") {
        m = PeerLeft{f.name("id", true)};
    } else if (type == "offer" || type == "answer") {
        m = description(f, type == "offer" ? SdpKind::Offer : SdpKind::Answer, "from", limits);
    } else if (type == "candidate") {
        m = candidate(f, "from", limits);
    } else if (type == "error") {
        Error e;
        e.code = f.text("code", true, 64);
        e.message = f.text("message", false, limits.max_field);
        m = std::move(e);
    } else {
        return ParseError{"unknown \"type\""};
    }
    if (!f.ok()) return f.error();
    return m;
}

namespace {

json description_json(const Description& d, const char* peer_key) {
    return json{{"type", to_string(d.kind)}, {peer_key, d.peer}, {"sdp", d.sdp}};
}

json candidate_json(const Candidate& c, const char* peer_key) {
    json j{{"type", "candidate"}, {peer_key, c.peer}, {"candidate", c.candidate}};
    if (c.sdp_mid) j["sdpMid"] = *c.sdp_mid;
    if (c.sdp_mline_index) j["sdpMLineIndex"] = *c.sdp_mline_index;
    return j;
}

// Every string written is UTF-8 (the parsers above only ever hold what
// nlohmann accepted); a replacement, never an exception, should one not be.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string write_client_message(const ClientMessage& m) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, Join>) {
                json j{{"type", "join"}, {"room", v.room}};
                if (!v.id.empty()) j["id"] = v.id;
                if (!v.token.empty()) j["token"] = v.token;
                return dump(j);
            } else if constexpr (std::is_same_v<T, Description>) {
                return dump(description_json(v, "to"));
            } else if constexpr (std::is_same_v<T, Candidate>) {
                return dump(candidate_json(v, "to"));
            } else {
                return dump(json{{"type", "leave"}});
            }
        },
        m);
}

std::string write_server_message(const ServerMessage& m) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, Joined>) {
                json servers = json::array();
                for (const auto& s : v.ice_servers) {
                    json e{{"urls", s.urls}};
                    if (!s.username.empty()) e["username"] = s.username;
                    if (!s.credential.empty()) e["credential"] = s.credential;
                    servers.push_back(std::move(e));
                }
                return dump(json{{"type", "joined"}, {"room", v.room}, {"id", v.id}, {"peers", v.peers},
                                 {"iceServers", std::move(servers)}});
            } else if constexpr (std::is_same_v<T, PeerJoined>) {
                return dump(json{{"type", "peer-joined"}, {"id", v.id}});
            } else if constexpr (std::is_same_v<T, PeerLeft>) {
                return dump(json{{"type", "peer-left"}, {"id", v.id}});
            } else if constexpr (std::is_same_v<T, Description>) {
                return dump(description_json(v, "from"));
            } else if constexpr (std::is_same_v<T, Candidate>) {
                return dump(candidate_json(v, "from"));
            } else {
                return dump(json{{"type", "error"}, {"code", v.code}, {"message", v.message}});
            }
        },
        m);
}

}  // namespace duplex::proto::signal
