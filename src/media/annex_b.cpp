// media/annex_b.cpp: see annex_b.hpp.
#include "media/annex_b.hpp"

#include <cstdio>
#include <memory>

namespace duplex::media {

namespace {

constexpr std::size_t kMaxFile = 256u << 20;

// Where the start code at or after `from` begins (its first zero), and where
// its NAL unit begins; {size, size} when there is none.
std::pair<std::size_t, std::size_t> find_start(const std::vector<std::byte>& d, std::size_t from) {
    for (std::size_t i = from; i + 3 <= d.size(); ++i) {
        if (d[i] == std::byte{0} && d[i + 1] == std::byte{0} && d[i + 2] == std::byte{1}) {
            const std::size_t begin = (i > from && d[i - 1] == std::byte{0}) ? i - 1 : i;  // a 4-byte start code
            return {begin, i + 3};
        }
    }
    return {d.size(), d.size()};
}

}  // namespace

std::optional<AnnexBReader> AnnexBReader::open(const std::string& path, std::string& error) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) {
        error = "cannot open " + path;
        return std::nullopt;
    }
    std::vector<std::byte> data;
    std::byte buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;) {
        if (data.size() + n > kMaxFile) {
            error = path + " is larger than 256 MiB";
            return std::nullopt;
        }
        data.insert(data.end(), buf, buf + n);
    }
    auto r = parse(std::move(data), error);
    if (!r) error = path + " " + error;
    return r;
}

std::optional<AnnexBReader> AnnexBReader::parse(std::vector<std::byte> data, std::string& error) {
    AnnexBReader r;
    r.data_ = std::move(data);
    // Each NAL unit: [start code begin, payload begin, end).
    std::size_t unit_begin = 0;
    bool unit_has_slice = false, have_unit = false;
    auto [sc, nal] = find_start(r.data_, 0);
    while (nal < r.data_.size()) {
        const auto [next_sc, next_nal] = find_start(r.data_, nal);
        const unsigned type = std::to_integer<unsigned>(r.data_[nal]) & 0x1f;
        const bool slice = type == 1 || type == 5;
        // first_mb_in_slice is ue(v), 0 coded as a single 1 bit: the first
        // bit after the NAL header.
        const bool first_slice = slice && nal + 1 < next_sc && (std::to_integer<unsigned>(r.data_[nal + 1]) & 0x80);
        const bool starts_unit = (first_slice && unit_has_slice) ||
                                 ((type == 6 || type == 7 || type == 8 || type == 9) && unit_has_slice);
        if (!have_unit) {
            unit_begin = sc;
            have_unit = true;
        } else if (starts_unit) {
            r.bounds_.emplace_back(unit_begin, sc);
            unit_begin = sc;
            unit_has_slice = false;
        }
        unit_has_slice = unit_has_slice || slice;
        sc = next_sc;
        nal = next_nal;
    }
    if (have_unit) r.bounds_.emplace_back(unit_begin, r.data_.size());
    if (r.bounds_.empty()) {
        error = "holds no H.264 NAL unit (Annex B start codes)";
        return std::nullopt;
    }
    return r;
}

std::optional<std::vector<std::byte>> AnnexBReader::next() {
    if (pos_ >= bounds_.size()) return std::nullopt;
    const auto [b, e] = bounds_[pos_++];
    return std::vector<std::byte>(data_.begin() + static_cast<std::ptrdiff_t>(b), data_.begin() + static_cast<std::ptrdiff_t>(e));
}

}  // namespace duplex::media
