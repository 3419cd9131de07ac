// proto/srtp/session.hpp: SRTP and SRTCP (RFC 3711, RFC 7714 for AEAD) for
// one direction of one DTLS-SRTP association, with libsrtp2 doing the
// cryptography: keyed from the DTLS exporter (RFC 5764 §4.2), replay
// protected (a window of 1024 packets), in place and without allocation
// per packet. No IO, no clock: bytes in, bytes out.
//
//   auto keys = endpoint.srtp_keying_material();           // after DTLS Connected
//   auto pair = srtp::make_sessions(*keys, /*dtls_client=*/true);
//   n = pair->outbound.protect_rtp(buffer, len);            // buffer has kMaxTrailer to spare
//   n = pair->inbound.unprotect_rtp(received);              // the plain packet's length
#pragma once

#include "base/bytes.hpp"
#include "base/result.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

namespace duplex::proto::dtls {
struct SrtpKeyingMaterial;
}

namespace duplex::proto::srtp {

enum class SrtpError {
    unsupported_profile = 1,  // not one we offer (RFC 5764 §4.1.2 / RFC 7714 §14.2 ids 1 and 7)
    bad_key,                  // the key or salt length does not fit the profile
    init_failed,              // libsrtp could not set the session up
    auth_failed,              // the packet's tag does not check (tampered, or not ours)
    replay,                   // a packet seen already, or too old for the window
    too_short,                // not even a header
    no_room,                  // protect: the buffer has not kMaxTrailer to spare
    failed,                   // any other libsrtp error
};
const std::error_category& srtp_category() noexcept;
inline std::error_code make_error_code(SrtpError e) noexcept { return {static_cast<int>(e), srtp_category()}; }

enum class Profile : std::uint16_t {
    Aes128CmHmacSha1_80 = 0x0001,  // RFC 5764 §4.1.2
    AeadAes128Gcm = 0x0007,        // RFC 7714 §14.2
};

enum class Direction : std::uint8_t { Outbound, Inbound };

class Session {
public:
    /// The most protect() adds to a packet (the tag; no MKI).
    static constexpr std::size_t kMaxTrailer = 16 + 4;

    static base::Result<Session> create(Profile profile, Direction direction, base::Bytes key, base::Bytes salt);
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    /// Encrypts and authenticates the RTP packet in buffer[0, len) in place;
    /// returns its new length. The buffer must hold len + kMaxTrailer.
    base::Result<std::size_t> protect_rtp(std::span<std::byte> buffer, std::size_t len);
    /// Checks and decrypts an SRTP packet in place; returns the RTP length.
    /// An inbound session takes any SSRC, and libsrtp keeps state (about
    /// 1 KB) for each one that authenticates: its caller unprotects only the
    /// SSRCs it has been told of, and bounds how many.
    /// A packet that fails gets auth_failed or replay and must be dropped
    /// (its bytes may have been changed).
    base::Result<std::size_t> unprotect_rtp(std::span<std::byte> packet);
    base::Result<std::size_t> protect_rtcp(std::span<std::byte> buffer, std::size_t len);
    base::Result<std::size_t> unprotect_rtcp(std::span<std::byte> packet);
    /// Drops what libsrtp keeps for this SSRC (a stream that ended): its
    /// next packet starts afresh, replay window included.
    void forget_ssrc(std::uint32_t ssrc) noexcept;

    Profile profile() const noexcept { return profile_; }
    Direction direction() const noexcept { return direction_; }

private:
    Session(void* ctx, Profile profile, Direction direction) : ctx_(ctx), profile_(profile), direction_(direction) {}
    void* ctx_;  // srtp_t
    Profile profile_;
    Direction direction_;
};

/// Both directions of one association, keyed from the DTLS exporter: we send
/// with our side's key and salt (the client's when we are the DTLS client)
/// and receive with the other side's (RFC 5764 §4.2).
struct Sessions {
    Session outbound;
    Session inbound;
};
base::Result<Sessions> make_sessions(const dtls::SrtpKeyingMaterial& keys, bool dtls_client);

}  // namespace duplex::proto::srtp

template <>
struct std::is_error_code_enum<duplex::proto::srtp::SrtpError> : std::true_type {};
