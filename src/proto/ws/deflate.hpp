// proto/ws/deflate.hpp: the permessage-deflate extension (RFC 7692):
// negotiating its parameters in both roles (§5, §7.1) and compressing or
// decompressing one message at a time with zlib's raw deflate (§7.2).
//
// zlib's deflate cannot use an 8-bit window: asked for 8 it uses 9. That is
// still safe for a peer that inflates with 256 bytes of history, because
// zlib never emits a match farther back than its window minus 262 bytes
// (250 here) — see docs/decisions/0004-permessage-deflate.md.
#pragma once

#include "base/bytes.hpp"
#include "proto/ws/handshake.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::proto::ws {

/// What this endpoint is willing to do (options of a server or client).
struct DeflateConfig {
    bool enabled = false;
    /// Messages shorter than this are sent uncompressed (RSV1 clear).
    std::size_t threshold = 64;
    /// zlib compression level 0-9 (-1: zlib's default, 6) and memory level 1-9.
    int level = -1;
    int mem_level = 8;
    /// The largest window our compressor uses (9-15).
    int max_window_bits = 15;
    /// Server: ask the client to bound its window to this (8-15), when the
    /// client offered client_max_window_bits. 15: no request.
    int request_peer_max_window_bits = 15;
    /// Reset our compressor after every message (saves memory; lets a server
    /// share one compressed copy of a published message among subscribers).
    bool no_context_takeover = false;
    /// Ask the peer to reset its compressor after every message.
    bool request_peer_no_context_takeover = false;
};

/// The agreed parameters, from this endpoint's point of view.
struct DeflateParams {
    bool local_no_context_takeover = false;   // we reset our compressor per message
    bool remote_no_context_takeover = false;  // the peer resets its compressor per message
    int local_max_window_bits = 15;           // our compressor's window (as agreed: 8-15)
    int remote_max_window_bits = 15;          // the peer's compressor's window
};

/// Server side (§7.1): the first acceptable permessage-deflate offer, as the
/// agreed parameters and the Sec-WebSocket-Extensions response value.
/// nullopt when none is acceptable (then no extension is used).
struct DeflateAgreement {
    DeflateParams params;
    std::string response;
};
std::optional<DeflateAgreement> negotiate_deflate(const std::vector<ExtensionOffer>& offers, const DeflateConfig& config);

/// Client side: the offer to send, and the check of the server's response
/// (nullopt: the response is not acceptable; the client must fail, §5).
std::string deflate_offer(const DeflateConfig& config);
std::optional<DeflateParams> accept_deflate_response(const ExtensionOffer& response, const DeflateConfig& config);

/// One direction's zlib deflate stream. Allocated on first use, so idle
/// connections pay nothing for it.
class Deflater {
public:
    Deflater(int window_bits, int mem_level, int level);
    ~Deflater();
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    /// Compresses one whole message into `out` (replacing its contents),
    /// without the final 00 00 FF FF (§7.2.1). `reset` forgets the history
    /// afterwards (no context takeover). False on a zlib failure.
    bool compress(base::Bytes message, bool reset, std::vector<std::byte>& out);

private:
    struct State;
    std::unique_ptr<State> s_;
};

class Inflater {
public:
    enum class Status { Ok, TooBig, Error };
    explicit Inflater(int window_bits = 15);
    ~Inflater();
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    /// Inflates the next piece of a compressed message, appending to `out`
    /// without letting `out` grow past `limit` bytes (a decompression bomb
    /// stops here with TooBig, §8: the message is too big).
    Status inflate(base::Bytes in, std::vector<std::byte>& out, std::size_t limit);
    /// Ends a message: inflates the implied 00 00 FF FF tail (§7.2.2) and
    /// resets the history when the peer does not take context over.
    Status finish(std::vector<std::byte>& out, std::size_t limit, bool reset);

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace duplex::proto::ws
