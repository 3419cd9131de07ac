// proto/rtp/nack_generator.cpp: see nack_generator.hpp.
#include "proto/rtp/nack_generator.hpp"

namespace duplex::proto::rtp {

namespace {
constexpr std::uint64_t kStart = std::uint64_t{1} << 32;
}

std::uint64_t NackGenerator::extend(std::uint16_t sequence) const noexcept {
    std::uint64_t candidate = (highest_ & ~std::uint64_t{0xFFFF}) | sequence;
    if (candidate + 0x8000 < highest_) candidate += 0x10000;
    else if (candidate > highest_ + 0x8000) candidate -= 0x10000;
    return candidate;
}

void NackGenerator::on_packet(std::uint16_t sequence, base::Instant now) {
    if (!started_) {
        started_ = true;
        highest_ = kStart + sequence;
        return;
    }
    const std::uint64_t ext = extend(sequence);
    if (ext <= highest_) {
        if (missing_.erase(ext) > 0) ++stats_.recovered;
        return;
    }
    const std::uint64_t gap = ext - highest_ - 1;
    if (gap > config_.max_tracked || missing_.size() + gap > config_.max_tracked) {
        // Too much to ask for one by one: a key frame is cheaper.
        stats_.given_up += missing_.size();
        missing_.clear();
        ++stats_.overflows;
        key_frame_request_ = true;
    } else {
        for (std::uint64_t e = highest_ + 1; e < ext; ++e) missing_.emplace(e, Missing{now, std::nullopt, 0});
    }
    highest_ = ext;
}

std::vector<std::uint16_t> NackGenerator::poll_nacks(base::Instant now) {
    std::vector<std::uint16_t> out;
    for (auto it = missing_.begin(); it != missing_.end();) {
        Missing& m = it->second;
        if (now - m.detected >= config_.max_age || m.retries >= config_.max_retries) {
            ++stats_.given_up;
            it = missing_.erase(it);
            continue;
        }
        if (!m.sent || now - *m.sent >= interval()) {
            out.push_back(static_cast<std::uint16_t>(it->first & 0xFFFF));
            m.sent = now;
            ++m.retries;
            ++stats_.requested;
        }
        ++it;
    }
    return out;
}

std::optional<base::Instant> NackGenerator::poll_timeout() const noexcept {
    std::optional<base::Instant> next;
    for (const auto& [ext, m] : missing_) {
        base::Instant at;
        if (m.retries >= config_.max_retries) at = m.sent.value_or(m.detected);  // to forget it
        else if (!m.sent) at = m.detected;
        else at = *m.sent + interval();
        const base::Instant expiry = m.detected + config_.max_age;
        if (expiry < at) at = expiry;
        if (!next || at < *next) next = at;
    }
    return next;
}

}  // namespace duplex::proto::rtp
