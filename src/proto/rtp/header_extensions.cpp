#include "proto/rtp/header_extensions.hpp"

#include <chrono>

namespace duplex::proto::rtp {

bool ExtensionIds::bind(std::string_view u, std::uint8_t id) noexcept {
    std::uint8_t* slot = u == uri::kMid                ? &mid
                         : u == uri::kRtpStreamId      ? &rtp_stream_id
                         : u == uri::kAbsSendTime      ? &abs_send_time
                         : u == uri::kTransportWideCc  ? &transport_wide_cc
                         : u == uri::kAudioLevel       ? &audio_level
                                                       : nullptr;
    if (!slot || id == 0) return false;
    *slot = id;
    return true;
}

std::array<std::byte, 3> abs_send_time(base::Instant t) noexcept {
    // 6.18 fixed point, kept to 24 bits: whole seconds modulo 64, then the
    // fraction in 2^-18 s.
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
    const auto whole = static_cast<std::uint32_t>((us / 1000000u) & 63);
    const auto frac = static_cast<std::uint32_t>(((us % 1000000u) << 18) / 1000000u);
    const std::uint32_t v = (whole << 18) | frac;
    return {std::byte(v >> 16), std::byte((v >> 8) & 0xff), std::byte(v & 0xff)};
}

std::optional<std::uint32_t> read_abs_send_time(base::Bytes d) noexcept {
    if (d.size() != 3) return std::nullopt;
    return (std::to_integer<std::uint32_t>(d[0]) << 16) | (std::to_integer<std::uint32_t>(d[1]) << 8) |
           std::to_integer<std::uint32_t>(d[2]);
}

std::array<std::byte, 2> transport_wide_sequence(std::uint16_t seq) noexcept {
    return {std::byte(seq >> 8), std::byte(seq & 0xff)};
}

std::optional<std::uint16_t> read_transport_wide_sequence(base::Bytes d) noexcept {
    if (d.size() != 2) return std::nullopt;
    return base::load_be16(d.data());
}

std::byte audio_level(AudioLevel a) noexcept {
    return std::byte((a.voice ? 0x80 : 0) | (a.level > 127 ? 127 : a.level));
}

std::optional<AudioLevel> read_audio_level(base::Bytes d) noexcept {
    // RFC 6464 §3: one byte; a sender may pad the element (two-byte form).
    if (d.empty()) return std::nullopt;
    const auto b = std::to_integer<std::uint8_t>(d[0]);
    return AudioLevel{(b & 0x80) != 0, static_cast<std::uint8_t>(b & 0x7f)};
}

std::optional<std::string> read_mid(base::Bytes d) {
    if (d.empty() || d.size() > 255) return std::nullopt;
    return std::string(base::as_string_view(d));
}

}  // namespace duplex::proto::rtp
