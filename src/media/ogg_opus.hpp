// media/ogg_opus.hpp: Opus in Ogg (RFC 7845) with libogg (Debian libogg-dev):
// a recorder of received Opus tracks (OpusHead and OpusTags, then one
// packet a page, granule positions at 48 kHz) and a reader of such files
// for sending (each packet with its duration).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace duplex::media {

class OggOpusWriter {
public:
    /// nullptr and `error` when the file cannot be created.
    static std::unique_ptr<OggOpusWriter> create(const std::string& path, std::string& error);
    ~OggOpusWriter();
    /// One Opus packet (its duration is read from its TOC, RFC 6716 §3.1).
    bool write(const std::byte* data, std::size_t size);
    std::uint32_t packets() const noexcept { return packets_; }

private:
    OggOpusWriter() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint32_t packets_ = 0;
};

struct OpusPacket {
    std::vector<std::byte> data;
    int samples = 0;  // at 48 kHz
};

class OggOpusReader {
public:
    static std::unique_ptr<OggOpusReader> open(const std::string& path, std::string& error);
    ~OggOpusReader();
    /// The next audio packet (the two header packets skipped), or nullopt at the end.
    std::optional<OpusPacket> next();

private:
    OggOpusReader() = default;
    std::optional<OpusPacket> read(bool headers_only);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The samples (48 kHz) an Opus packet carries, from its TOC; 0 if malformed.
int opus_packet_samples(const std::byte* data, std::size_t size);

}  // namespace duplex::media
