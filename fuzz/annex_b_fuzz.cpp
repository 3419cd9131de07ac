// libFuzzer target: an H.264 Annex B file (duplex-peer --video FILE.h264)
// of any bytes. Must never crash or hang, and its access units, one after
// the other, are the file from its first start code on: nothing lost,
// nothing made up, none empty.
#include "media/annex_b.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::byte> bytes(size);
    if (size) std::memcpy(bytes.data(), data, size);
    std::string error;
    auto r = duplex::media::AnnexBReader::parse(bytes, error);
    if (!r) return 0;
    std::vector<std::byte> joined;
    while (auto u = r->next()) {
        if (u->empty()) std::abort();
        joined.insert(joined.end(), u->begin(), u->end());
    }
    if (joined.size() > size || std::memcmp(joined.data(), data + (size - joined.size()), joined.size()) != 0) std::abort();
    return 0;
}
