// media/ivf.hpp: the IVF container (libvpx's, what ffmpeg/ffprobe and VLC
// read): a 32-byte file header ("DKIF", the codec's fourcc, the size, a time
// base), then each frame as its size (32-bit LE), its timestamp (64-bit LE)
// and its bytes. A recorder of received VP8 tracks, and a source read back
// for sending, paced by its timestamps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace duplex::media {

/// The size a VP8 key frame says (RFC 6386 §9.1); nullopt for a delta frame.
std::optional<std::pair<int, int>> vp8_key_frame_size(const std::byte* data, std::size_t size);

class IvfWriter {
public:
    /// Time base 1/90000 (the RTP clock of video). Opened lazily: the file
    /// exists once the first key frame (which gives the size) came.
    explicit IvfWriter(std::string path) : path_(std::move(path)) {}
    ~IvfWriter();
    IvfWriter(const IvfWriter&) = delete;
    IvfWriter& operator=(const IvfWriter&) = delete;
    /// A received frame at its RTP timestamp; frames before the first key
    /// frame are skipped (a decoder could not start with them). False on a
    /// write error.
    bool write(const std::byte* data, std::size_t size, std::uint32_t rtp_timestamp);
    std::uint32_t frames() const noexcept { return frames_; }
    const std::string& error() const noexcept { return error_; }

private:
    std::string path_;
    std::FILE* file_ = nullptr;
    std::uint32_t frames_ = 0;
    std::uint32_t first_ts_ = 0;
    std::uint64_t last_pts_ = 0;
    std::string error_;
};

struct IvfFrame {
    std::uint64_t pts = 0;          // in the file's time base
    std::vector<std::byte> data;
};

class IvfReader {
public:
    /// nullopt (and `error`) when the file is not an IVF file of VP8.
    static std::optional<IvfReader> open(const std::string& path, std::string& error);
    IvfReader(IvfReader&& o) noexcept
        : width(o.width), height(o.height), rate(o.rate), scale(o.scale), file_(std::exchange(o.file_, nullptr)) {}
    ~IvfReader();
    /// The next frame, or nullopt at the end (or a truncated frame).
    std::optional<IvfFrame> next();
    void rewind();

    int width = 0, height = 0;
    std::uint32_t rate = 0, scale = 0;  // the time base is scale/rate seconds

private:
    IvfReader() = default;
    std::FILE* file_ = nullptr;
};

}  // namespace duplex::media
