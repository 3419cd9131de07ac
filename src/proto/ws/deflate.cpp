#include "proto/ws/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace duplex::proto::ws {

namespace {
constexpr std::string_view kName = "permessage-deflate";

// §7.1.2: window bits are a decimal integer 8-15 with no leading zeros.
std::optional<int> parse_bits(const std::optional<std::string>& v) {
    if (!v || v->empty() || v->size() > 2 || (*v)[0] == '0') return std::nullopt;
    int n = 0;
    for (char c : *v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    if (n < 8 || n > 15) return std::nullopt;
    return n;
}

// The parameters of one offer or response, each at most once (§7.1).
struct Parsed {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::optional<int> server_max_window_bits;
    bool client_max_window_bits_present = false;
    std::optional<int> client_max_window_bits;
};

std::optional<Parsed> parse_params(const ExtensionOffer& e, bool is_offer) {
    Parsed p;
    bool seen[4] = {};
    for (const auto& [name, value] : e.params) {
        if (name == "server_no_context_takeover") {
            if (seen[0] || value) return std::nullopt;
            seen[0] = p.server_no_context_takeover = true;
        } else if (name == "client_no_context_takeover") {
            if (seen[1] || value) return std::nullopt;
            seen[1] = p.client_no_context_takeover = true;
        } else if (name == "server_max_window_bits") {
            if (seen[2]) return std::nullopt;
            seen[2] = true;
            p.server_max_window_bits = parse_bits(value);
            if (!p.server_max_window_bits) return std::nullopt;
        } else if (name == "client_max_window_bits") {
            if (seen[3]) return std::nullopt;
            seen[3] = true;
            p.client_max_window_bits_present = true;
            if (value) {
                p.client_max_window_bits = parse_bits(value);
                if (!p.client_max_window_bits) return std::nullopt;
            } else if (!is_offer) {
                return std::nullopt;  // §7.1.2.2: a response must carry a value
            }
        } else {
            return std::nullopt;  // §7.1: unknown parameter: decline this offer
        }
    }
    return p;
}

int zlib_window(int bits) { return std::max(bits, 9); }  // raw deflate: 8 means 9, see the header
}  // namespace

std::optional<DeflateAgreement> negotiate_deflate(const std::vector<ExtensionOffer>& offers, const DeflateConfig& config) {
    if (!config.enabled) return std::nullopt;
    for (const auto& offer : offers) {
        if (offer.name != kName) continue;
        auto p = parse_params(offer, true);
        if (!p) continue;  // §5: decline an invalid offer, try the next
        DeflateAgreement a;
        std::string& r = a.response;
        r = std::string(kName);
        // Our (the server's) compressor.
        a.params.local_no_context_takeover = p->server_no_context_takeover || config.no_context_takeover;
        if (a.params.local_no_context_takeover) r += "; server_no_context_takeover";
        a.params.local_max_window_bits = std::clamp(config.max_window_bits, 9, 15);
        if (p->server_max_window_bits) {
            // §7.1.2.1: answer with the same or a smaller value.
            a.params.local_max_window_bits = std::min(a.params.local_max_window_bits, *p->server_max_window_bits);
            r += "; server_max_window_bits=" + std::to_string(a.params.local_max_window_bits);
        }
        // The client's compressor.
        a.params.remote_no_context_takeover = p->client_no_context_takeover || config.request_peer_no_context_takeover;
        if (a.params.remote_no_context_takeover) r += "; client_no_context_takeover";
        if (p->client_max_window_bits_present) {
            int bits = std::min(p->client_max_window_bits.value_or(15), std::clamp(config.request_peer_max_window_bits, 8, 15));
            a.params.remote_max_window_bits = bits;
            // §7.1.2.2: only a client that offered the parameter may be sent it.
            if (bits < 15 || p->client_max_window_bits) r += "; client_max_window_bits=" + std::to_string(bits);
        }
        return a;
    }
    return std::nullopt;
}

std::string deflate_offer(const DeflateConfig& config) {
    std::string r(kName);
    if (config.no_context_takeover) r += "; client_no_context_takeover";
    if (config.request_peer_no_context_takeover) r += "; server_no_context_takeover";
    if (config.request_peer_max_window_bits < 15)
        r += "; server_max_window_bits=" + std::to_string(std::clamp(config.request_peer_max_window_bits, 8, 15));
    r += "; client_max_window_bits";
    if (config.max_window_bits < 15) r += "=" + std::to_string(std::clamp(config.max_window_bits, 8, 15));
    return r;
}

std::optional<DeflateParams> accept_deflate_response(const ExtensionOffer& response, const DeflateConfig& config) {
    if (response.name != kName) return std::nullopt;
    auto p = parse_params(response, false);
    if (!p) return std::nullopt;
    DeflateParams d;
    d.remote_no_context_takeover = p->server_no_context_takeover;
    d.remote_max_window_bits = p->server_max_window_bits.value_or(15);
    // §7.1.2.1: the server may not grant a bigger window than we asked for.
    if (config.request_peer_max_window_bits < 15 && d.remote_max_window_bits > config.request_peer_max_window_bits)
        return std::nullopt;
    if (config.request_peer_no_context_takeover && !d.remote_no_context_takeover) {
        // The server may ignore our request; that only costs us memory.
    }
    d.local_no_context_takeover = p->client_no_context_takeover || config.no_context_takeover;
    d.local_max_window_bits = std::min(p->client_max_window_bits.value_or(15), std::clamp(config.max_window_bits, 8, 15));
    return d;
}

// --------------------------------------------------------------- Deflater --

struct Deflater::State {
    z_stream z{};
    bool ready = false;
    int window_bits, mem_level, level;
    ~State() {
        if (ready) deflateEnd(&z);
    }
};

Deflater::Deflater(int window_bits, int mem_level, int level) : s_(std::make_unique<State>()) {
    s_->window_bits = zlib_window(window_bits);
    s_->mem_level = std::clamp(mem_level, 1, 9);
    s_->level = level < 0 ? Z_DEFAULT_COMPRESSION : std::min(level, 9);
}

Deflater::~Deflater() = default;

bool Deflater::compress(base::Bytes message, bool reset, std::vector<std::byte>& out) {
    if (!s_->ready) {
        if (deflateInit2(&s_->z, s_->level, Z_DEFLATED, -s_->window_bits, s_->mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
            return false;
        s_->ready = true;
    }
    z_stream& z = s_->z;
    out.resize(deflateBound(&z, static_cast<uLong>(message.size())) + 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(message.data()));
    z.avail_in = static_cast<uInt>(message.size());
    std::size_t produced = 0;
    while (true) {
        if (produced == out.size()) out.resize(out.size() * 2);
        z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
        z.avail_out = static_cast<uInt>(out.size() - produced);
        const int rc = ::deflate(&z, Z_SYNC_FLUSH);
        produced = out.size() - z.avail_out;
        if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
        if (z.avail_in == 0 && z.avail_out > 0) break;  // all flushed
    }
    // §7.2.1: drop the 00 00 FF FF that the sync flush ends with.
    if (produced >= 4) produced -= 4;
    out.resize(produced);
    if (out.empty()) out.push_back(std::byte{0});  // §7.2.3.6: an empty message is one 0x00 byte
    if (reset) deflateReset(&z);
    return true;
}

// --------------------------------------------------------------- Inflater --

struct Inflater::State {
    z_stream z{};
    bool ready = false;
    int window_bits;
    ~State() {
        if (ready) inflateEnd(&z);
    }
};

Inflater::Inflater(int window_bits) : s_(std::make_unique<State>()) { s_->window_bits = std::clamp(window_bits, 8, 15); }
Inflater::~Inflater() = default;

Inflater::Status Inflater::inflate(base::Bytes in, std::vector<std::byte>& out, std::size_t limit) {
    if (!s_->ready) {
        // A window of 15 decodes any stream that a smaller window produced.
        if (inflateInit2(&s_->z, -15) != Z_OK) return Status::Error;
        s_->ready = true;
    }
    z_stream& z = s_->z;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    std::byte chunk[16384];
    while (true) {
        z.next_out = reinterpret_cast<Bytef*>(chunk);
        z.avail_out = sizeof(chunk);
        const int rc = ::inflate(&z, Z_SYNC_FLUSH);
        const std::size_t got = sizeof(chunk) - z.avail_out;
        if (got > 0) {
            if (out.size() + got > limit) return Status::TooBig;
            out.insert(out.end(), chunk, chunk + got);
        }
        if (rc == Z_STREAM_END) {
            // A final block inside a message: the stream cannot go on (the
            // next message would need a fresh one). Accept and restart.
            inflateReset(&z);
            if (z.avail_in == 0) return Status::Ok;
            continue;
        }
        if (rc == Z_BUF_ERROR) return Status::Ok;  // needs more input
        if (rc != Z_OK) return Status::Error;
        if (z.avail_in == 0 && z.avail_out > 0) return Status::Ok;
    }
}

Inflater::Status Inflater::finish(std::vector<std::byte>& out, std::size_t limit, bool reset) {
    static constexpr std::byte kTail[4] = {std::byte{0x00}, std::byte{0x00}, std::byte{0xff}, std::byte{0xff}};
    const Status st = inflate({kTail, 4}, out, limit);
    if (reset && s_->ready) inflateReset(&s_->z);
    return st;
}

}  // namespace duplex::proto::ws
