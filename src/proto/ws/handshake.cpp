#include "proto/ws/handshake.hpp"

#include "base/base64.hpp"
#include "base/bytes.hpp"
#include "base/digest.hpp"

#include <algorithm>

namespace duplex::proto::ws {

using http::iequals;
using http::split_list;
using http::trim_ows;

namespace {
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // §1.3

Rejection reject(int status, std::string message, http::HeaderList headers = {}) {
    return Rejection{status, std::move(headers), std::move(message)};
}

// quoted-string per RFC 9110 §5.6.4; returns the unquoted value.
std::optional<std::string> unquote(std::string_view v) {
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') return std::nullopt;
    std::string out;
    for (std::size_t i = 1; i + 1 < v.size(); ++i) {
        char c = v[i];
        if (c == '\\') {
            if (i + 2 >= v.size()) return std::nullopt;
            c = v[++i];
        } else if (c == '"') {
            return std::nullopt;
        }
        out += c;
    }
    return out;
}
}  // namespace

std::optional<std::vector<ExtensionOffer>> parse_extensions(std::string_view value) {
    // extension-list = 1#extension; extension = token *( ";" extension-param )
    // extension-param = token [ "=" (token | quoted-string) ]
    std::vector<ExtensionOffer> out;
    for (auto item : split_list(value)) {
        ExtensionOffer ext;
        bool first = true;
        while (true) {
            const auto semi = item.find(';');
            auto part = trim_ows(item.substr(0, semi));
            if (first) {
                if (!http::is_token(part)) return std::nullopt;
                ext.name.assign(part);
                first = false;
            } else {
                const auto eq = part.find('=');
                auto name = trim_ows(part.substr(0, eq));
                if (!http::is_token(name)) return std::nullopt;
                std::optional<std::string> pv;
                if (eq != std::string_view::npos) {
                    auto raw = trim_ows(part.substr(eq + 1));
                    if (!raw.empty() && raw.front() == '"') {
                        pv = unquote(raw);
                        if (!pv || !http::is_token(*pv)) return std::nullopt;  // §9.1
                    } else if (http::is_token(raw)) {
                        pv = std::string(raw);
                    } else {
                        return std::nullopt;
                    }
                }
                ext.params.emplace_back(std::string(name), std::move(pv));
            }
            if (semi == std::string_view::npos) break;
            item.remove_prefix(semi + 1);
        }
        out.push_back(std::move(ext));
    }
    return out;
}

bool wants_websocket(const http::Request& req) {
    return req.headers.has_token("Upgrade", "websocket");
}

std::variant<UpgradeRequest, Rejection> check_upgrade_request(const http::Request& req) {
    // §4.2.1 items 1-6, in order.
    if (req.method != "GET")
        return reject(405, "the opening handshake must be a GET", {{"Allow", "GET"}});
    if (req.version_minor < 1) return reject(400, "the opening handshake needs HTTP/1.1");
    const auto host = req.headers.get("Host");
    if (!host || req.headers.count("Host") != 1 || host->empty()) return reject(400, "missing Host header");
    if (!req.headers.has_token("Upgrade", "websocket"))
        return reject(426, "missing Upgrade: websocket", {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}});
    if (!req.headers.has_token("Connection", "upgrade")) return reject(400, "missing Connection: Upgrade");
    const auto key = req.headers.get("Sec-WebSocket-Key");
    if (!key || req.headers.count("Sec-WebSocket-Key") != 1) return reject(400, "missing or repeated Sec-WebSocket-Key");
    const auto decoded = base::base64_decode(trim_ows(*key));
    if (!decoded || decoded->size() != 16) return reject(400, "Sec-WebSocket-Key is not 16 bytes of base64");
    const auto version = req.headers.get_combined("Sec-WebSocket-Version");
    if (!version || trim_ows(*version) != "13")
        return reject(426, "unsupported Sec-WebSocket-Version (13 is required)", {{"Sec-WebSocket-Version", "13"}});

    UpgradeRequest out;
    out.key.assign(trim_ows(*key));
    out.host.assign(*host);
    if (auto origin = req.headers.get("Origin")) out.origin.emplace(*origin);
    if (auto protocols = req.headers.get_combined("Sec-WebSocket-Protocol")) {
        for (auto p : split_list(*protocols)) {
            // §4.1: each protocol is a token, and no value repeats.
            if (!http::is_token(p)) return reject(400, "malformed Sec-WebSocket-Protocol");
            if (std::find(out.protocols.begin(), out.protocols.end(), p) != out.protocols.end())
                return reject(400, "repeated Sec-WebSocket-Protocol value");
            out.protocols.emplace_back(p);
        }
    }
    if (auto ext = req.headers.get_combined("Sec-WebSocket-Extensions")) {
        auto parsed = parse_extensions(*ext);
        if (!parsed) return reject(400, "malformed Sec-WebSocket-Extensions");
        out.extensions = std::move(*parsed);
    }
    return out;
}

std::string accept_key(std::string_view key) {
    std::string input(key);
    input += kGuid;
    const auto digest = base::sha1(base::as_bytes(input));
    return base::base64_encode(digest);
}

std::string write_accept_response(std::string_view key, std::string_view protocol,
                                  std::string_view extensions, const http::HeaderList& extra) {
    http::HeaderList headers;
    headers.reserve(5 + extra.size());
    headers.emplace_back("Upgrade", "websocket");
    headers.emplace_back("Connection", "Upgrade");
    headers.emplace_back("Sec-WebSocket-Accept", accept_key(key));
    if (!protocol.empty()) headers.emplace_back("Sec-WebSocket-Protocol", std::string(protocol));
    if (!extensions.empty()) headers.emplace_back("Sec-WebSocket-Extensions", std::string(extensions));
    headers.insert(headers.end(), extra.begin(), extra.end());
    return http::write_response_head(101, headers);
}

std::string make_client_key(const std::array<std::byte, 16>& nonce) { return base::base64_encode(nonce); }

std::string write_upgrade_request(const ClientRequest& req) {
    std::string out;
    out.reserve(256);
    out += "GET ";
    out += req.target.empty() ? "/" : req.target;
    out += " HTTP/1.1\r\nHost: ";
    out += req.host;
    out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    out += req.key;
    out += "\r\nSec-WebSocket-Version: 13\r\n";
    if (!req.protocols.empty()) {
        out += "Sec-WebSocket-Protocol: ";
        for (std::size_t i = 0; i < req.protocols.size(); ++i) {
            if (i) out += ", ";
            out += req.protocols[i];
        }
        out += "\r\n";
    }
    if (!req.extensions.empty()) out += "Sec-WebSocket-Extensions: " + req.extensions + "\r\n";
    if (req.origin) out += "Origin: " + *req.origin + "\r\n";
    for (const auto& [name, value] : req.extra) out += name + ": " + value + "\r\n";
    out += "\r\n";
    return out;
}

std::variant<ClientAccept, ClientRefusal> check_upgrade_response(const http::Response& res,
                                                                  const ClientRequest& req) {
    // §4.1, the client's checks of the server's handshake, in order.
    if (res.status != 101)
        return ClientRefusal{res.status, "server answered " + std::to_string(res.status) +
                                             (res.reason.empty() ? "" : " " + res.reason) +
                                             " instead of 101"};
    if (!res.headers.has_token("Upgrade", "websocket")) return ClientRefusal{101, "missing Upgrade: websocket"};
    if (!res.headers.has_token("Connection", "upgrade")) return ClientRefusal{101, "missing Connection: Upgrade"};
    const auto accept = res.headers.get("Sec-WebSocket-Accept");
    if (!accept || trim_ows(*accept) != accept_key(req.key))
        return ClientRefusal{101, "Sec-WebSocket-Accept does not match the key"};
    ClientAccept out;
    if (auto ext = res.headers.get_combined("Sec-WebSocket-Extensions")) {
        // We may only accept extensions that we offered.
        auto agreed = parse_extensions(*ext);
        auto offered = parse_extensions(req.extensions);
        if (!agreed || !offered) return ClientRefusal{101, "malformed Sec-WebSocket-Extensions"};
        for (const auto& a : *agreed) {
            const bool was_offered = std::any_of(offered->begin(), offered->end(),
                                                 [&](const ExtensionOffer& o) { return o.name == a.name; });
            if (!was_offered) return ClientRefusal{101, "server agreed to an extension we did not offer: " + a.name};
        }
        out.extensions = *ext;
    }
    if (auto protocol = res.headers.get_combined("Sec-WebSocket-Protocol")) {
        const auto p = trim_ows(*protocol);
        if (std::find(req.protocols.begin(), req.protocols.end(), p) == req.protocols.end())
            return ClientRefusal{101, "server chose a subprotocol we did not offer"};
        out.protocol.assign(p);
    }
    return out;
}

}  // namespace duplex::proto::ws
