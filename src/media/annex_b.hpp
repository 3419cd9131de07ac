// media/annex_b.hpp: an H.264 elementary stream file (Annex B: NAL units
// after 00 00 01 or 00 00 00 01 start codes, as `duplex-peer --record` and
// most tools write `.h264`), read one access unit at a time. Such a file has
// no timestamps: the reader's user paces the units at a frame rate.
//
// Access unit boundaries (H.264 §7.4.1.2.3): a new unit begins at an access
// unit delimiter, SPS, PPS or SEI that follows a slice of the current unit,
// and at a slice whose first_mb_in_slice is 0 (the first slice of a picture)
// when the current unit has a slice already. A picture cut into several
// slices is one unit.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace duplex::media {

class AnnexBReader {
public:
    /// nullopt (and `error`) when the file cannot be read, is larger than
    /// 256 MiB, or holds no H.264 NAL unit.
    static std::optional<AnnexBReader> open(const std::string& path, std::string& error);
    /// The same from the file's bytes (nullopt and `error` without a NAL unit).
    static std::optional<AnnexBReader> parse(std::vector<std::byte> data, std::string& error);
    /// The next access unit (Annex B, start codes kept), nullopt at the end.
    std::optional<std::vector<std::byte>> next();
    void rewind() noexcept { pos_ = 0; }
    std::size_t units() const noexcept { return bounds_.size(); }

private:
    AnnexBReader() = default;
    std::vector<std::byte> data_;
    std::vector<std::pair<std::size_t, std::size_t>> bounds_;  // [begin, end) of each unit
    std::size_t pos_ = 0;
};

}  // namespace duplex::media
