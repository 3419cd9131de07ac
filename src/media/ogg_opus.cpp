// media/ogg_opus.cpp: see ogg_opus.hpp.
#include "media/ogg_opus.hpp"

#include <ogg/ogg.h>
#include <opus/opus.h>

#include <cstring>
#include <deque>

namespace duplex::media {

namespace {

constexpr int kPreSkip = 312;  // what libopus's encoder delay is at 48 kHz (RFC 7845 §4.2)

void put16(unsigned char* p, unsigned v) {
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
}
void put32(unsigned char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

}  // namespace

int opus_packet_samples(const std::byte* data, std::size_t size) {
    if (size == 0) return 0;
    const int n = opus_packet_get_nb_samples(reinterpret_cast<const unsigned char*>(data), static_cast<opus_int32>(size), 48000);
    return n > 0 ? n : 0;
}

struct OggOpusWriter::Impl {
    std::FILE* file = nullptr;
    ogg_stream_state stream{};
    std::int64_t granule = 0;
    std::int64_t packetno = 0;

    bool flush(bool all) {
        ogg_page page;
        while (all ? ogg_stream_flush(&stream, &page) : ogg_stream_pageout(&stream, &page)) {
            if (std::fwrite(page.header, 1, static_cast<std::size_t>(page.header_len), file) != static_cast<std::size_t>(page.header_len) ||
                std::fwrite(page.body, 1, static_cast<std::size_t>(page.body_len), file) != static_cast<std::size_t>(page.body_len))
                return false;
        }
        return true;
    }
    bool packet(unsigned char* data, long size, bool bos, bool eos) {
        ogg_packet p{};
        p.packet = data;
        p.bytes = size;
        p.b_o_s = bos ? 1 : 0;
        p.e_o_s = eos ? 1 : 0;
        p.granulepos = granule;
        p.packetno = packetno++;
        return ogg_stream_packetin(&stream, &p) == 0;
    }
    ~Impl() {
        if (file) {
            // An empty last packet is not valid Opus: end the stream by
            // flushing what is there (players take the last page as the end).
            (void)flush(true);
            std::fclose(file);
        }
        ogg_stream_clear(&stream);
    }
};

std::unique_ptr<OggOpusWriter> OggOpusWriter::create(const std::string& path, std::string& error) {
    std::unique_ptr<OggOpusWriter> w(new OggOpusWriter);
    w->impl_ = std::make_unique<Impl>();
    auto& s = *w->impl_;
    ogg_stream_init(&s.stream, 0x64757078);  // "dupx": any serial number will do for one stream
    s.file = std::fopen(path.c_str(), "wb");
    if (s.file == nullptr) {
        error = "cannot create " + path + ": " + std::strerror(errno);
        return nullptr;
    }
    // RFC 7845 §5.1: the identification header.
    unsigned char head[19];
    std::memcpy(head, "OpusHead", 8);
    head[8] = 1;                        // version
    head[9] = 2;                        // channels
    put16(head + 10, kPreSkip);
    put32(head + 12, 48000);            // the input rate (informative)
    put16(head + 16, 0);                // output gain
    head[18] = 0;                       // mapping family 0: mono or stereo
    // RFC 7845 §5.2: the comment header.
    const char vendor[] = "duplex";
    unsigned char tags[8 + 4 + sizeof vendor - 1 + 4];
    std::memcpy(tags, "OpusTags", 8);
    put32(tags + 8, sizeof vendor - 1);
    std::memcpy(tags + 12, vendor, sizeof vendor - 1);
    put32(tags + 12 + sizeof vendor - 1, 0);
    if (!s.packet(head, sizeof head, true, false) || !s.flush(true) || !s.packet(tags, sizeof tags, false, false) ||
        !s.flush(true)) {
        error = "cannot write " + path;
        return nullptr;
    }
    return w;
}

OggOpusWriter::~OggOpusWriter() = default;

bool OggOpusWriter::write(const std::byte* data, std::size_t size) {
    const int samples = opus_packet_samples(data, size);
    if (samples == 0) return true;  // not a packet a player could use
    auto& s = *impl_;
    s.granule += samples;
    std::vector<unsigned char> copy(reinterpret_cast<const unsigned char*>(data), reinterpret_cast<const unsigned char*>(data) + size);
    if (!s.packet(copy.data(), static_cast<long>(size), false, false) || !s.flush(false)) return false;
    ++packets_;
    return true;
}

struct OggOpusReader::Impl {
    std::FILE* file = nullptr;
    ogg_sync_state sync{};
    ogg_stream_state stream{};
    bool stream_open = false;
    int headers = 0;
    ~Impl() {
        if (file) std::fclose(file);
        if (stream_open) ogg_stream_clear(&stream);
        ogg_sync_clear(&sync);
    }
};

std::unique_ptr<OggOpusReader> OggOpusReader::open(const std::string& path, std::string& error) {
    std::unique_ptr<OggOpusReader> r(new OggOpusReader);
    r->impl_ = std::make_unique<Impl>();
    ogg_sync_init(&r->impl_->sync);
    r->impl_->file = std::fopen(path.c_str(), "rb");
    if (r->impl_->file == nullptr) {
        error = "cannot open " + path + ": " + std::strerror(errno);
        return nullptr;
    }
    // OpusHead and OpusTags first (RFC 7845 §3): each ends its page, so
    // reading stops before the first audio packet.
    (void)r->read(true);
    if (r->impl_->headers < 2) {
        error = path + " is not an Ogg Opus file";
        return nullptr;
    }
    return r;
}

OggOpusReader::~OggOpusReader() = default;

std::optional<OpusPacket> OggOpusReader::next() { return read(false); }

std::optional<OpusPacket> OggOpusReader::read(bool headers_only) {
    auto& s = *impl_;
    for (;;) {
        if (headers_only && s.headers == 2) return std::nullopt;
        ogg_packet p;
        if (s.stream_open && ogg_stream_packetout(&s.stream, &p) == 1) {
            if (s.headers < 2) {
                const bool head = p.bytes >= 8 && std::memcmp(p.packet, s.headers == 0 ? "OpusHead" : "OpusTags", 8) == 0;
                if (!head) return std::nullopt;
                ++s.headers;
                continue;
            }
            OpusPacket out;
            out.data.assign(reinterpret_cast<const std::byte*>(p.packet), reinterpret_cast<const std::byte*>(p.packet) + p.bytes);
            out.samples = opus_packet_samples(out.data.data(), out.data.size());
            return out;
        }
        ogg_page page;
        if (ogg_sync_pageout(&s.sync, &page) == 1) {
            if (!s.stream_open) {
                ogg_stream_init(&s.stream, ogg_page_serialno(&page));
                s.stream_open = true;
            }
            (void)ogg_stream_pagein(&s.stream, &page);
            continue;
        }
        char* buf = ogg_sync_buffer(&s.sync, 4096);
        const std::size_t n = std::fread(buf, 1, 4096, s.file);
        if (n == 0) return std::nullopt;
        ogg_sync_wrote(&s.sync, static_cast<long>(n));
    }
}

}  // namespace duplex::media
