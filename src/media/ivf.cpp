// media/ivf.cpp: see ivf.hpp.
#include "media/ivf.hpp"

#include <cstring>
#include <utility>

namespace duplex::media {

namespace {

void put16(std::byte* p, unsigned v) {
    p[0] = std::byte(v & 0xFF);
    p[1] = std::byte(v >> 8 & 0xFF);
}
void put32(std::byte* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i) & 0xFF);
}
void put64(std::byte* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = std::byte(v >> (8 * i) & 0xFF);
}
std::uint32_t get32(const std::byte* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | std::to_integer<std::uint32_t>(p[i]);
    return v;
}
std::uint64_t get64(const std::byte* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | std::to_integer<std::uint64_t>(p[i]);
    return v;
}
unsigned get16(const std::byte* p) { return std::to_integer<unsigned>(p[0]) | std::to_integer<unsigned>(p[1]) << 8; }

}  // namespace

std::optional<std::pair<int, int>> vp8_key_frame_size(const std::byte* d, std::size_t size) {
    // RFC 6386 §9.1: a 3-byte frame tag (bit 0 of the first byte 0 = key
    // frame), the start code 9d 01 2a, then 14-bit width and height.
    if (size < 10 || (std::to_integer<unsigned>(d[0]) & 1) != 0) return std::nullopt;
    if (d[3] != std::byte{0x9d} || d[4] != std::byte{0x01} || d[5] != std::byte{0x2a}) return std::nullopt;
    return std::make_pair(static_cast<int>(get16(d + 6) & 0x3FFF), static_cast<int>(get16(d + 8) & 0x3FFF));
}

IvfWriter::~IvfWriter() {
    if (file_ == nullptr) return;
    // The frame count in the header, now that it is known.
    std::byte count[4];
    put32(count, frames_);
    if (std::fseek(file_, 24, SEEK_SET) == 0) (void)std::fwrite(count, 1, 4, file_);
    std::fclose(file_);
}

bool IvfWriter::write(const std::byte* data, std::size_t size, std::uint32_t rtp_timestamp) {
    if (file_ == nullptr) {
        const auto dims = vp8_key_frame_size(data, size);
        if (!dims) return true;  // waiting for a key frame
        file_ = std::fopen(path_.c_str(), "wb");
        if (file_ == nullptr) {
            error_ = "cannot create " + path_ + ": " + std::strerror(errno);
            return false;
        }
        std::byte h[32] = {};
        std::memcpy(h, "DKIF", 4);
        put16(h + 4, 0);    // version
        put16(h + 6, 32);   // header size
        std::memcpy(h + 8, "VP80", 4);
        put16(h + 12, static_cast<unsigned>(dims->first));
        put16(h + 14, static_cast<unsigned>(dims->second));
        put32(h + 16, 90000);  // rate: the time base is 1/90000 s
        put32(h + 20, 1);      // scale
        put32(h + 24, 0);      // frames: written at the end
        first_ts_ = rtp_timestamp;
        if (std::fwrite(h, 1, 32, file_) != 32) {
            error_ = "cannot write " + path_;
            return false;
        }
    }
    // RTP timestamps wrap at 2^32; the difference from the first does not
    // within 13 hours. A timestamp that goes back (a reordered sender) is
    // written one tick after the last, as players want them increasing.
    std::uint64_t pts = static_cast<std::uint32_t>(rtp_timestamp - first_ts_);
    if (frames_ > 0 && pts <= last_pts_) pts = last_pts_ + 1;
    last_pts_ = pts;
    std::byte fh[12];
    put32(fh, static_cast<std::uint32_t>(size));
    put64(fh + 4, pts);
    if (std::fwrite(fh, 1, 12, file_) != 12 || std::fwrite(data, 1, size, file_) != size) {
        error_ = "cannot write " + path_;
        return false;
    }
    ++frames_;
    return true;
}

std::optional<IvfReader> IvfReader::open(const std::string& path, std::string& error) {
    IvfReader r;
    r.file_ = std::fopen(path.c_str(), "rb");
    if (r.file_ == nullptr) {
        error = "cannot open " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::byte h[32];
    if (std::fread(h, 1, 32, r.file_) != 32 || std::memcmp(h, "DKIF", 4) != 0) {
        error = path + " is not an IVF file";
        return std::nullopt;
    }
    if (std::memcmp(h + 8, "VP80", 4) != 0) {
        error = path + " holds another codec than VP8 (its fourcc is not VP80)";
        return std::nullopt;
    }
    const unsigned header = get16(h + 6);
    r.width = static_cast<int>(get16(h + 12));
    r.height = static_cast<int>(get16(h + 14));
    r.rate = get32(h + 16);
    r.scale = get32(h + 20);
    if (r.rate == 0 || r.scale == 0 || header < 32) {
        error = path + ": a bad IVF header";
        return std::nullopt;
    }
    if (std::fseek(r.file_, static_cast<long>(header), SEEK_SET) != 0) {
        error = path + ": a bad IVF header";
        return std::nullopt;
    }
    return r;
}

IvfReader::~IvfReader() {
    if (file_) std::fclose(file_);
}

std::optional<IvfFrame> IvfReader::next() {
    std::byte fh[12];
    if (std::fread(fh, 1, 12, file_) != 12) return std::nullopt;
    const std::uint32_t size = get32(fh);
    if (size > 16u << 20) return std::nullopt;  // not a frame: a damaged file
    IvfFrame f;
    f.pts = get64(fh + 4);
    f.data.resize(size);
    if (std::fread(f.data.data(), 1, size, file_) != size) return std::nullopt;
    return f;
}

void IvfReader::rewind() { (void)std::fseek(file_, 32, SEEK_SET); }

}  // namespace duplex::media
