#include "proto/srtp/session.hpp"

#include "proto/dtls/endpoint.hpp"

#include <srtp2/srtp.h>

#include <climits>
#include <cstring>
#include <string>
#include <utility>

namespace duplex::proto::srtp {

namespace {

class SrtpCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "srtp"; }
    std::string message(int ev) const override {
        switch (static_cast<SrtpError>(ev)) {
            case SrtpError::unsupported_profile: return "SRTP profile not supported";
            case SrtpError::bad_key: return "SRTP key or salt of the wrong length for the profile";
            case SrtpError::init_failed: return "SRTP session could not be set up";
            case SrtpError::auth_failed: return "SRTP authentication failed";
            case SrtpError::replay: return "SRTP replay (a packet seen already, or too old)";
            case SrtpError::too_short: return "SRTP packet too short";
            case SrtpError::no_room: return "no room in the buffer for the SRTP trailer";
            case SrtpError::failed: return "SRTP error";
        }
        return "unknown SRTP error";
    }
};

// libsrtp keeps process-wide state (its crypto kernel); initialised once,
// on first use (a function-local static: thread-safe by the language).
bool library_ready() {
    static const bool ready = srtp_init() == srtp_err_status_ok;
    return ready;
}

std::error_code error_of(srtp_err_status_t st) {
    switch (st) {
        case srtp_err_status_auth_fail: return make_error_code(SrtpError::auth_failed);
        case srtp_err_status_replay_fail:
        case srtp_err_status_replay_old: return make_error_code(SrtpError::replay);
        case srtp_err_status_bad_param: return make_error_code(SrtpError::too_short);
        default: return make_error_code(SrtpError::failed);
    }
}

// Key and salt lengths per profile (RFC 3711 §8.2; RFC 7714 §12).
std::pair<std::size_t, std::size_t> lengths(Profile p) {
    return p == Profile::AeadAes128Gcm ? std::pair<std::size_t, std::size_t>{16, 12}
                                       : std::pair<std::size_t, std::size_t>{16, 14};
}

}  // namespace

const std::error_category& srtp_category() noexcept {
    static const SrtpCategory category;
    return category;
}

base::Result<Session> Session::create(Profile profile, Direction direction, base::Bytes key, base::Bytes salt) {
    if (profile != Profile::Aes128CmHmacSha1_80 && profile != Profile::AeadAes128Gcm)
        return make_error_code(SrtpError::unsupported_profile);
    const auto [key_len, salt_len] = lengths(profile);
    if (key.size() != key_len || salt.size() != salt_len) return make_error_code(SrtpError::bad_key);
    if (!library_ready()) return make_error_code(SrtpError::init_failed);
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof(policy));
    if (profile == Profile::AeadAes128Gcm) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    }
    // libsrtp takes the master key and salt as one buffer (RFC 3711 §8.2).
    unsigned char master[16 + 14];
    std::memcpy(master, key.data(), key_len);
    std::memcpy(master + key_len, salt.data(), salt_len);
    policy.key = master;
    policy.ssrc.type = direction == Direction::Outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.window_size = 1024;  // RFC 3711 §3.3.2 asks for 64 at least; browsers use 1024
    // No packet is protected twice under one index: with AES-GCM that would
    // reuse a nonce (RFC 7714 §8), and a resend may differ in its header
    // extensions. Lost packets are resent through RTX (RFC 4588), with a
    // sequence number of their own.
    policy.allow_repeat_tx = 0;
    policy.next = nullptr;
    srtp_t ctx = nullptr;
    const auto st = srtp_create(&ctx, &policy);
    std::memset(master, 0, sizeof(master));
    if (st != srtp_err_status_ok) return make_error_code(SrtpError::init_failed);
    return Session(ctx, profile, direction);
}

Session::~Session() {
    if (ctx_) srtp_dealloc(static_cast<srtp_t>(ctx_));
}

Session::Session(Session&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)), profile_(o.profile_), direction_(o.direction_) {}

Session& Session::operator=(Session&& o) noexcept {
    if (this != &o) {
        if (ctx_) srtp_dealloc(static_cast<srtp_t>(ctx_));
        ctx_ = std::exchange(o.ctx_, nullptr);
        profile_ = o.profile_;
        direction_ = o.direction_;
    }
    return *this;
}

namespace {
template <class Fn>
base::Result<std::size_t> run(void* ctx, std::span<std::byte> buffer, std::size_t len, std::size_t min_len, Fn fn) {
    if (!ctx) return make_error_code(SrtpError::failed);
    if (len < min_len) return make_error_code(SrtpError::too_short);
    if (len > static_cast<std::size_t>(INT_MAX) - Session::kMaxTrailer) return make_error_code(SrtpError::failed);
    int n = static_cast<int>(len);
    const auto st = fn(static_cast<srtp_t>(ctx), buffer.data(), &n);
    if (st != srtp_err_status_ok) return error_of(st);
    return static_cast<std::size_t>(n);
}
}  // namespace

base::Result<std::size_t> Session::protect_rtp(std::span<std::byte> buffer, std::size_t len) {
    if (buffer.size() < len + kMaxTrailer) return make_error_code(SrtpError::no_room);
    return run(ctx_, buffer, len, 12, srtp_protect);
}

base::Result<std::size_t> Session::unprotect_rtp(std::span<std::byte> packet) {
    return run(ctx_, packet, packet.size(), 12, srtp_unprotect);
}

base::Result<std::size_t> Session::protect_rtcp(std::span<std::byte> buffer, std::size_t len) {
    // SRTCP adds the E-flag and index (4 bytes) besides the tag.
    if (buffer.size() < len + kMaxTrailer + 4) return make_error_code(SrtpError::no_room);
    return run(ctx_, buffer, len, 8, srtp_protect_rtcp);
}

base::Result<std::size_t> Session::unprotect_rtcp(std::span<std::byte> packet) {
    return run(ctx_, packet, packet.size(), 8, srtp_unprotect_rtcp);
}

void Session::forget_ssrc(std::uint32_t ssrc) noexcept {
    // srtp_remove_stream takes the SSRC as it lies in the packet (network
    // order), read as an unsigned int.
    const unsigned char wire[4] = {static_cast<unsigned char>(ssrc >> 24), static_cast<unsigned char>(ssrc >> 16),
                                   static_cast<unsigned char>(ssrc >> 8), static_cast<unsigned char>(ssrc)};
    unsigned int as_in_packet = 0;
    std::memcpy(&as_in_packet, wire, sizeof as_in_packet);
    if (ctx_) (void)srtp_remove_stream(static_cast<srtp_t>(ctx_), as_in_packet);
}

base::Result<Sessions> make_sessions(const dtls::SrtpKeyingMaterial& keys, bool dtls_client) {
    const auto profile = static_cast<Profile>(keys.profile_id);
    const auto& out_key = dtls_client ? keys.client_key : keys.server_key;
    const auto& out_salt = dtls_client ? keys.client_salt : keys.server_salt;
    const auto& in_key = dtls_client ? keys.server_key : keys.client_key;
    const auto& in_salt = dtls_client ? keys.server_salt : keys.client_salt;
    auto out = Session::create(profile, Direction::Outbound, out_key, out_salt);
    if (!out) return out.status();
    auto in = Session::create(profile, Direction::Inbound, in_key, in_salt);
    if (!in) return in.status();
    return Sessions{std::move(*out), std::move(*in)};
}

}  // namespace duplex::proto::srtp
